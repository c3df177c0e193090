//! `ktx-release wheel`: a reproducible `py3-none-any` wheel of python/, built in Rust.
//!
//! Follows the PyPA binary distribution format: the import packages, then
//! `<name>-<version>.dist-info/` with METADATA (core metadata 2.3), WHEEL, entry_points.txt
//! and RECORD (urlsafe-base64 sha256 digests and sizes). Entries are sorted, every timestamp is
//! SOURCE_DATE_EPOCH (or 1980-01-01), modes are fixed: two builds of one tree are byte-identical.
//! The file is written under a temporary name and renamed, so a failed build leaves nothing.

use crate::pyproject::PyProject;
use crate::set_mode;
use anyhow::{Context, Result};
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
}

/// Files of the import packages: (archive path, bytes), sorted by archive path.
fn package_files(py: &PyProject) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for pkg in &py.packages {
        let dir = py.root.join(pkg);
        let top = Path::new(pkg)
            .file_name()
            .with_context(|| format!("package path {pkg} has no name"))?
            .to_string_lossy()
            .to_string();
        if !dir.join("__init__.py").is_file() {
            anyhow::bail!(
                "{} has no __init__.py; fix [tool.hatch.build.targets.wheel] packages in pyproject.toml",
                dir.display()
            );
        }
        collect(&dir, &top, &mut out)?;
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if name == "__pycache__" || name.starts_with('.') {
                continue;
            }
            collect(&path, &format!("{prefix}/{name}"), out)?;
        } else if kind.is_file() {
            if name.ends_with(".pyc") || name.ends_with(".pyo") || name.starts_with('.') {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.push((format!("{prefix}/{name}"), bytes));
        }
    }
    Ok(())
}

/// Core metadata (METADATA) from the pyproject's `[project]` table.
pub fn metadata(py: &PyProject) -> Result<String> {
    let p = &py.project;
    let mut m = String::new();
    m.push_str("Metadata-Version: 2.3\n");
    m.push_str(&format!("Name: {}\n", p.name));
    m.push_str(&format!("Version: {}\n", p.version));
    if let Some(d) = &p.description {
        m.push_str(&format!("Summary: {d}\n"));
    }
    if let Some(toml::Value::Table(t)) = &p.license {
        if let Some(toml::Value::String(text)) = t.get("text") {
            m.push_str(&format!("License: {text}\n"));
        }
    }
    if let Some(rp) = &p.requires_python {
        m.push_str(&format!("Requires-Python: {rp}\n"));
    }
    for dep in sorted_requirements(&p.dependencies) {
        m.push_str(&format!("Requires-Dist: {dep}\n"));
    }
    for (extra, deps) in &p.optional_dependencies {
        m.push_str(&format!("Provides-Extra: {extra}\n"));
        for dep in sorted_requirements(deps) {
            m.push_str(&format!(
                "Requires-Dist: {}\n",
                with_extra_marker(&dep, extra)
            ));
        }
    }
    if let Some(readme) = &p.readme {
        let path = py.root.join(readme);
        let body = std::fs::read_to_string(&path)
            .with_context(|| format!("the readme {} named in pyproject.toml", path.display()))?;
        let kind = if readme.ends_with(".md") {
            "text/markdown"
        } else if readme.ends_with(".rst") {
            "text/x-rst"
        } else {
            "text/plain"
        };
        m.push_str(&format!("Description-Content-Type: {kind}\n\n{body}"));
        if !body.ends_with('\n') {
            m.push('\n');
        }
    }
    Ok(m)
}

/// Requirements as build backends write them: sorted by name, each one's specifiers sorted
/// (`pydantic>=2,<3` -> `pydantic<3,>=2`), so METADATA matches hatchling's and uv's.
fn sorted_requirements(deps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = deps.iter().map(|d| normalize_requirement(d)).collect();
    out.sort_by_key(|d| d.to_ascii_lowercase());
    out
}

fn normalize_requirement(dep: &str) -> String {
    let (req, marker) = match dep.split_once(';') {
        Some((r, m)) => (r.trim(), Some(m.trim())),
        None => (dep.trim(), None),
    };
    // The name (with extras) ends at the first comparison operator outside the brackets.
    let mut depth = 0;
    let name_end = req
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            depth == 0 && "<>=!~ (@".contains(c)
        })
        .map_or(req.len(), |(i, _)| i);
    let (name, spec) = req.split_at(name_end);
    let mut specs: Vec<String> = spec
        .split(',')
        .map(|s| s.split_whitespace().collect::<String>())
        .filter(|s| !s.is_empty())
        .collect();
    specs.sort();
    let mut out = format!("{}{}", name.trim(), specs.join(","));
    if let Some(m) = marker {
        out.push_str(&format!("; {m}"));
    }
    out
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

fn entry_points(py: &PyProject) -> Option<String> {
    if py.project.scripts.is_empty() {
        return None;
    }
    let mut s = String::from("[console_scripts]\n");
    for (name, target) in &py.project.scripts {
        s.push_str(&format!("{name} = {target}\n"));
    }
    Some(s)
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
pub fn build(py: &PyProject, out_dir: &Path) -> Result<BuiltWheel> {
    let dist_info = format!("{}-{}.dist-info", py.wheel_name(), py.project.version);
    let mut files = package_files(py)?;
    files.push((format!("{dist_info}/METADATA"), metadata(py)?.into_bytes()));
    files.push((format!("{dist_info}/WHEEL"), wheel_file().into_bytes()));
    if let Some(ep) = entry_points(py) {
        files.push((format!("{dist_info}/entry_points.txt"), ep.into_bytes()));
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
    let final_path = out_dir.join(py.wheel_file_name());
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
    fn requirements_are_sorted_like_build_backends_write_them() {
        let deps = vec![
            "sqlglot>=25".to_string(),
            "pydantic>=2,<3".to_string(),
            "FastAPI[all] >= 0.110".to_string(),
        ];
        assert_eq!(
            sorted_requirements(&deps),
            vec!["FastAPI[all]>=0.110", "pydantic<3,>=2", "sqlglot>=25"]
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
