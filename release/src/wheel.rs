//! `ktx-release wheel`: the reproducible `py3-none-any` wheel of the payload (one or more
//! projects merged by `payload`), written in Rust.
//!
//! Follows the PyPA binary distribution format: the import packages (every file in each package
//! directory, package data included, less hatchling's default exclusions; the runtime host's
//! generated `ktx_host/payload.json`), then
//! `<name>-<version>.dist-info/` with METADATA (core metadata 2.3, or 2.4 with PEP 639 license
//! fields), WHEEL, entry_points.txt, `licenses/` and RECORD (urlsafe-base64 sha256 digests and
//! sizes). Entries are sorted, every timestamp is SOURCE_DATE_EPOCH (or 1980-01-01), modes are
//! fixed: two builds of one tree are byte-identical. The file is written under a temporary name
//! and renamed, so a failed build leaves nothing.
//!
//! # Why our own writer, not a generated project built by `uv build`
//!
//! KTX's release script copies its two projects' packages into a generated hatchling project and
//! runs `uv build`. We keep this writer, and keep that route one command away
//! (`ktx-release payload-project DIR` writes the same generated project):
//!
//! - The merge is ours either way. A standard backend only sees the generated project, so what it
//!   would honour beyond this writer (build hooks, `dynamic` fields) cannot cross the merge: a
//!   hook is written against its own project's tree, and a dynamic version contradicts the one
//!   workspace version. Both routes must refuse them; this one names field and project.
//! - What does cross, hatchling's file selection and METADATA, is matched and tested rather
//!   than assumed: the release tests `uv build` python/, the generated merged project, and a
//!   project using every honoured field, and require the same files, the same METADATA fields
//!   and the same entry_points.txt (only Metadata-Version differs: hatchling 1.33 writes 2.5).
//! - Reproducibility: these bytes depend on Cargo.lock and SOURCE_DATE_EPOCH only. hatchling's
//!   are stable on one machine (measured: same sha256 twice, and under Python 3.11 and 3.13) but
//!   change with the hatchling version resolved at build time (1.27.0 vs 1.33.0: another sha256,
//!   Generator and Metadata-Version differ), so that route would need a pinned build constraint
//!   and the package index at release time.
//! - Cost (measured on the 2-CPU machine, median of 10, warm uv cache): 56 ms (python/) and 60 ms
//!   (python/ + fixtures/payloads/heavy) here, against 716 ms and 751 ms for `uv build` (with
//!   generation); 45,618 vs 45,639 bytes and 46,892 vs 46,913 bytes. Not the reason, but free.
//!
//! What would change this: a payload project that needs a build hook, dynamic metadata or
//! another backend. Then build that project alone with its own backend and merge its built wheel
//! (files and METADATA) here; a generated merged project could not honour the hook either.

use crate::payload::Payload;
use crate::pyproject::License;
use crate::set_mode;
use anyhow::{bail, Context, Result};
use base64::Engine;
use ktx_bootstrap::manifest::civil_from_days;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a wheel build produced.
#[derive(Debug, Clone)]
pub struct BuiltWheel {
    pub path: PathBuf,
    pub sha256: String,
    pub files: usize,
    /// The wheel's Requires-Python.
    pub requires_python: Option<String>,
    /// Its top-level import packages, sorted.
    pub packages: Vec<String>,
    /// What the runtime host runs (as `ktx_host/payload.json` says).
    pub payload: crate::payload::Entry,
}

/// hatchling's default exclusions: these directories, these files, and `*.py[cdo]`.
const EXCLUDED_DIRS: [&str; 11] = [
    "__pycache__",
    ".venv",
    ".git",
    ".hg",
    ".hatch",
    ".tox",
    ".nox",
    ".ruff_cache",
    ".pytest_cache",
    ".mypy_cache",
    ".pixi",
];
const EXCLUDED_FILES: [&str; 2] = [".DS_Store", ".git"];

fn excluded_file(name: &str) -> bool {
    EXCLUDED_FILES.contains(&name) || [".pyc", ".pyo", ".pyd"].iter().any(|x| name.ends_with(x))
}

/// Files of the import packages: (archive path, bytes), sorted by archive path. Every regular
/// file under a package directory is package data (a JSON schema, a template), as in hatchling.
/// The host's `payload.json` is generated (a file of that name in its sources is replaced).
fn package_files(payload: &Payload) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for pkg in &payload.packages {
        refuse_vcs_ignored(pkg)?;
        collect(&pkg.dir, &pkg.name, pkg, &mut out)?;
    }
    if let Some((path, text)) = payload.payload_json() {
        out.retain(|(name, _)| *name != path);
        out.push((path, text.into_bytes()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn collect(
    dir: &Path,
    prefix: &str,
    pkg: &crate::payload::Package,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            bail!(
                "{}: {} is a symbolic link; the wheel writer does not follow links (make it a file or a directory)",
                pkg.project.display(),
                path.display()
            );
        } else if kind.is_dir() {
            if EXCLUDED_DIRS.contains(&name.as_str()) {
                continue;
            }
            collect(&path, &format!("{prefix}/{name}"), pkg, out)?;
        } else if kind.is_file() {
            if excluded_file(&name) {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.push((format!("{prefix}/{name}"), bytes));
        }
    }
    Ok(())
}

/// hatchling leaves files that git ignores out of a wheel; rather than follow .gitignore rules,
/// the writer refuses a package directory holding such a file (other than what it excludes
/// anyway), so its wheel never differs from hatchling's. Outside a git work tree this is a no-op.
fn refuse_vcs_ignored(pkg: &crate::payload::Package) -> Result<()> {
    let sh = xshell::Shell::new()?;
    let dir = &pkg.dir;
    let Ok(listing) = xshell::cmd!(
        sh,
        "git -C {dir} ls-files -z --others --ignored --exclude-standard -- ."
    )
    .quiet()
    .ignore_stderr()
    .read() else {
        return Ok(());
    };
    for rel in listing.split('\0').filter(|s| !s.is_empty()) {
        let path = Path::new(rel);
        let skipped = path
            .components()
            .any(|c| EXCLUDED_DIRS.contains(&c.as_os_str().to_string_lossy().as_ref()))
            || path
                .file_name()
                .is_some_and(|n| excluded_file(&n.to_string_lossy()));
        if !skipped {
            bail!(
                "{}: {} is ignored by git, and hatchling leaves VCS-ignored files out of the wheel; delete it or stop ignoring it",
                pkg.project.display(),
                dir.join(rel).display()
            );
        }
    }
    Ok(())
}

/// `License:` as hatchling writes it: continuation lines indented by 8 spaces.
fn license_field(text: &str) -> String {
    let mut out = String::from("License: ");
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("        ");
        }
        out.push_str(line);
        out.push('\n');
    }
    if text.is_empty() {
        out.push('\n');
    }
    out
}

/// Core metadata (METADATA) of the payload, field by field as hatchling writes it. Version 2.3,
/// or 2.4 (PEP 639) when a license expression or license files are present.
pub fn metadata(p: &Payload) -> String {
    let pep639 = matches!(p.license, Some(License::Expression(_))) || !p.license_files.is_empty();
    let mut m = String::new();
    m.push_str(if pep639 {
        "Metadata-Version: 2.4\n"
    } else {
        "Metadata-Version: 2.3\n"
    });
    m.push_str(&format!("Name: {}\n", crate::payload::DIST_NAME));
    m.push_str(&format!("Version: {}\n", p.version));
    if let Some(d) = &p.summary {
        m.push_str(&format!("Summary: {d}\n"));
    }
    for (label, url) in &p.urls {
        m.push_str(&format!("Project-URL: {label}, {url}\n"));
    }
    match &p.license {
        Some(License::Text(text)) => m.push_str(&license_field(text)),
        Some(License::Expression(e)) => m.push_str(&format!("License-Expression: {e}\n")),
        None => {}
    }
    for (name, _) in &p.license_files {
        m.push_str(&format!("License-File: {name}\n"));
    }
    if let Some(rp) = &p.requires_python {
        m.push_str(&format!("Requires-Python: {rp}\n"));
    }
    for dep in &p.dependencies {
        m.push_str(&format!("Requires-Dist: {dep}\n"));
    }
    for (extra, deps) in &p.extras {
        m.push_str(&format!("Provides-Extra: {extra}\n"));
        for dep in deps {
            m.push_str(&format!(
                "Requires-Dist: {}\n",
                with_extra_marker(dep, extra)
            ));
        }
    }
    if let Some(readme) = &p.readme {
        m.push_str(&format!(
            "Description-Content-Type: {}\n\n{}",
            readme.content_type, readme.body
        ));
        if !readme.body.ends_with('\n') {
            m.push('\n');
        }
    }
    m
}

/// `dep; marker` with `extra == 'name'` and'ed in, as build backends write it.
fn with_extra_marker(dep: &str, extra: &str) -> String {
    match dep.split_once(';') {
        Some((req, marker)) => {
            format!("{}; ({}) and extra == '{extra}'", req.trim(), marker.trim())
        }
        None => format!("{}; extra == '{extra}'", dep.trim()),
    }
}

/// entry_points.txt as hatchling writes it: console scripts, GUI scripts, then each group,
/// sections separated by a blank line.
fn entry_points(p: &Payload) -> Option<String> {
    let mut s = String::new();
    let mut section = |header: &str, map: &std::collections::BTreeMap<String, String>| {
        if map.is_empty() {
            return;
        }
        s.push_str(&format!("\n[{header}]\n"));
        for (name, target) in map {
            s.push_str(&format!("{name} = {target}\n"));
        }
    };
    section("console_scripts", &p.scripts);
    section("gui_scripts", &p.gui_scripts);
    for (group, eps) in &p.entry_points {
        section(group, eps);
    }
    let s = s.trim_start().to_string();
    (!s.is_empty()).then_some(s)
}

fn wheel_file() -> String {
    format!(
        "Wheel-Version: 1.0\nGenerator: ktx-release {}\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// urlsafe base64 without padding, as RECORD and PEP 376 want.
pub fn record_digest(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ktx_bootstrap::package::hex(&Sha256::digest(bytes))
}

/// The zip timestamp: SOURCE_DATE_EPOCH when set (clamped to 1980, zip's epoch), else 1980-01-01.
fn timestamp() -> Result<zip::DateTime> {
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))?,
        Err(_) => 315_532_800, // 1980-01-01T00:00:00Z
    };
    let epoch = epoch.max(315_532_800);
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    zip::DateTime::from_date_and_time(
        y as u16,
        m as u8,
        d as u8,
        (secs / 3600) as u8,
        ((secs % 3600) / 60) as u8,
        (secs % 60) as u8,
    )
    .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={epoch} is outside the zip date range"))
}

/// Build the wheel of `py` into `out_dir`, replacing an older file of the same name atomically.
pub fn build(payload: &Payload, out_dir: &Path) -> Result<BuiltWheel> {
    let dist_info = format!("{}-{}.dist-info", payload.wheel_name(), payload.version);
    let mut files = package_files(payload)?;
    files.push((
        format!("{dist_info}/METADATA"),
        metadata(payload).into_bytes(),
    ));
    files.push((format!("{dist_info}/WHEEL"), wheel_file().into_bytes()));
    if let Some(ep) = entry_points(payload) {
        files.push((format!("{dist_info}/entry_points.txt"), ep.into_bytes()));
    }
    for (name, path) in &payload.license_files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push((format!("{dist_info}/licenses/{name}"), bytes));
    }
    let mut record = String::new();
    for (name, bytes) in &files {
        record.push_str(&format!(
            "{name},sha256={},{}\n",
            record_digest(bytes),
            bytes.len()
        ));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));

    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let final_path = out_dir.join(payload.wheel_file_name());
    let tmp = tempfile::Builder::new()
        .prefix(".wheel-")
        .suffix(".partial")
        .tempfile_in(out_dir)
        .with_context(|| format!("cannot write in {}", out_dir.display()))?;
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(timestamp()?)
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(tmp.reopen()?);
    for (name, bytes) in &files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    let bytes = std::fs::read(tmp.path())?;
    let sha256 = sha256_hex(&bytes);
    tmp.persist(&final_path)
        .with_context(|| format!("cannot move the wheel to {}", final_path.display()))?;
    set_mode(&final_path, 0o644)?;
    Ok(BuiltWheel {
        path: final_path,
        sha256,
        files: files.len(),
        requires_python: payload.requires_python.clone(),
        packages: payload.package_names(),
        payload: payload.entry.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_epochs() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(3652), (1980, 1, 1));
        assert_eq!(civil_from_days(20_597), (2026, 5, 24));
    }

    #[test]
    fn extra_markers_combine_with_existing_markers() {
        assert_eq!(
            with_extra_marker("torch>=2", "gpu"),
            "torch>=2; extra == 'gpu'"
        );
        assert_eq!(
            with_extra_marker("x; python_version < '3.10'", "e"),
            "x; (python_version < '3.10') and extra == 'e'"
        );
    }

    #[test]
    fn record_digests_are_urlsafe_without_padding() {
        assert_eq!(
            record_digest(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }
}
