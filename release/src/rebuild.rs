//! Independent rebuilds: the release artefacts built a second time and compared by sha256.
//!
//! `check --rebuild` (`against_first_build`): after `check` built the wheel, the host's binary
//! and the tarball, the sources are copied into another directory (`target/rebuild/src`, every
//! file's mtime set to 2001-09-09) and built again by a child `ktx-release --repo <copy>` under
//! another umask, time zone and locale; the wheel, the binary (where its toolchain is the
//! reproducible one: cargo-zigbuild, for Linux) and the tarball must have the same digests.
//!
//! `rebuild --against TARBALL` (`against_published`): the artefacts of this checkout built again
//! and compared with a published tarball (the scheduled workflow: the latest tag against what
//! the npm registry serves). Linux binaries are rebuilt (cargo-zigbuild cross-builds every Linux
//! target); macOS and Windows binaries are taken from the published tarball, not rebuilt, and
//! the report says so.

use crate::binary::{self, Toolchain};
use crate::layout::ReleaseLayout;
use crate::native::NativeBinary;
use crate::npm_layout::Layout;
use crate::pipeline::Pipeline;
use crate::wheel::sha256_hex;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// What the second build varies.
#[derive(Debug, Clone)]
pub struct Variation {
    pub umask: u32,
    pub tz: String,
    pub locale: String,
    /// Every copied source file's modification time.
    pub mtime: SystemTime,
}

impl Variation {
    /// A umask, time zone and locale other than this process's.
    pub fn other_than_this_process() -> Variation {
        let umask = current_umask();
        let tz = std::env::var("TZ").unwrap_or_default();
        let locale = std::env::var("LC_ALL")
            .or_else(|_| std::env::var("LANG"))
            .unwrap_or_default();
        Variation {
            umask: if umask == 0o077 { 0o002 } else { 0o077 },
            tz: if tz == "Pacific/Chatham" {
                "America/St_Johns"
            } else {
                "Pacific/Chatham"
            }
            .into(),
            // Turkish: where "I".to_lowercase() is not "i", the classic sort-and-case trap.
            locale: if locale.starts_with("tr_TR") {
                "de_DE.UTF-8"
            } else {
                "tr_TR.UTF-8"
            }
            .into(),
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "umask {:03o} (this process: {:03o}), TZ={}, LC_ALL={}{}, every source file's mtime 2001-09-09",
            self.umask,
            current_umask(),
            self.tz,
            self.locale,
            if locale_installed(&self.locale) {
                ""
            } else {
                " (not installed here: the C library falls back to C, Node's ICU and Python take it as given)"
            }
        )
    }
}

/// Whether `locale -a` lists `name` (`tr_TR.UTF-8` is listed as `tr_TR.utf8`).
fn locale_installed(name: &str) -> bool {
    let norm = |s: &str| s.to_lowercase().replace(['-', '_', '.'], "");
    Command::new("locale")
        .arg("-a")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| norm(l) == norm(name))
        })
        .unwrap_or(false)
}

fn current_umask() -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: umask only swaps the process's file mode mask; it is put back at once.
        let old = unsafe { libc::umask(0o022) };
        unsafe { libc::umask(old) };
        old as u32
    }
    #[cfg(not(unix))]
    0o022
}

/// How two builds of one artefact compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Identical {
        sha256: String,
    },
    Differs {
        first: String,
        second: String,
        /// What differs inside (entries of a tarball or wheel), when known.
        detail: Vec<String>,
    },
    /// Not compared, and why.
    NotCompared(String),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub verdict: Verdict,
    /// How it was built or where it came from.
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub heading: String,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn differs(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Differs { .. }))
            .collect()
    }

    pub fn table(&self) -> String {
        let w = self.rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
        let mut s = format!("{}\n", self.heading);
        for r in &self.rows {
            let (word, rest) = match &r.verdict {
                Verdict::Identical { sha256 } => ("identical", format!("sha256 {sha256}")),
                Verdict::Differs {
                    first,
                    second,
                    detail,
                } => (
                    "DIFFERS",
                    format!(
                        "sha256 {first} (first) vs {second} (second){}",
                        detail
                            .iter()
                            .map(|d| format!("\n      {d}"))
                            .collect::<String>()
                    ),
                ),
                Verdict::NotCompared(why) => ("not compared", why.clone()),
            };
            s.push_str(&format!("  {:<w$}  {word:<12}  {rest}", r.what));
            if !r.note.is_empty() {
                s.push_str(&format!("  [{}]", r.note));
            }
            s.push('\n');
        }
        s
    }

    /// Ok when nothing differs; else the error naming what differs, with a hint.
    pub fn result(&self) -> Result<()> {
        let bad: Vec<String> = self.differs().iter().map(|r| r.what.clone()).collect();
        if bad.is_empty() {
            return Ok(());
        }
        bail!(
            "the rebuild differs: {} (details above); hint: a build input leaked into the bytes (a path, a time, the umask, the locale, an unpinned tool): compare the entries listed, fix the build, run it again",
            bad.join(", ")
        )
    }
}

/// The files of the sources a build needs: git's tracked and untracked-but-not-ignored files,
/// else every file outside `target/`, `dist/`, `.git/` and `node_modules/`.
fn source_files(repo: &Path) -> Result<Vec<PathBuf>> {
    let git = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repo)
        .output();
    if let Ok(out) = git.as_ref() {
        if out.status.success() {
            return Ok(out
                .stdout
                .split(|b| *b == 0)
                .filter(|n| !n.is_empty())
                .map(|n| PathBuf::from(String::from_utf8_lossy(n).to_string()))
                .filter(|p| repo.join(p).is_file())
                .collect());
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(repo.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name();
            let p = rel.join(&name);
            if rel.as_os_str().is_empty()
                && ["target", "dist", ".git"].contains(&name.to_string_lossy().as_ref())
                || name == "node_modules"
            {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(p);
            } else if entry.file_type()?.is_file() {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Copy the sources of `repo` into `dest` (made fresh), every file's mtime set to `mtime`.
pub fn copy_sources(repo: &Path, dest: &Path, mtime: SystemTime) -> Result<usize> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .with_context(|| format!("cannot clear {}", dest.display()))?;
    }
    let files = source_files(repo)?;
    for rel in &files {
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(repo.join(rel), &to)
            .with_context(|| format!("cannot copy {} into {}", rel.display(), dest.display()))?;
        std::fs::File::options()
            .write(true)
            .open(&to)?
            .set_modified(mtime)
            .with_context(|| format!("cannot set the mtime of {}", to.display()))?;
    }
    // A work tree of its own, as a fresh checkout is: git's ignore rules (which the wheel writer
    // consults) are then the copy's, not those of a repository it happens to sit in.
    if repo.join(".git").exists() {
        let st = Command::new("git")
            .args(["init", "-q"])
            .current_dir(dest)
            .status()
            .context("cannot run git init")?;
        if !st.success() {
            bail!(
                "`git init` in {} failed; hint: check that git works here",
                dest.display()
            );
        }
    }
    Ok(files.len())
}

/// A copy of this ktx-release in `dir`, for the children: cargo may replace the file it runs
/// from meanwhile (another build in the same target directory), the running image stays.
fn frozen_self(dir: &Path) -> Result<PathBuf> {
    let src = if cfg!(target_os = "linux") {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().context("cannot find this ktx-release")?
    };
    std::fs::create_dir_all(dir)?;
    let dest = dir.join(format!("ktx-release{}", std::env::consts::EXE_SUFFIX));
    let _ = std::fs::remove_file(&dest);
    std::fs::copy(&src, &dest)
        .with_context(|| format!("cannot copy this ktx-release to {}", dest.display()))?;
    crate::set_mode(&dest, 0o755)?;
    Ok(dest)
}

/// Run `exe` (this ktx-release) on `copy` (`--repo copy --out copy/dist ARGS`) under the
/// variation; returns its stdout.
fn child(exe: &Path, copy: &Path, v: &Variation, args: &[String]) -> Result<String> {
    let mut cmd = Command::new(exe);
    cmd.arg("--repo")
        .arg(copy)
        .arg("--out")
        .arg(copy.join("dist"))
        .args(args)
        .current_dir(copy)
        .env("TZ", &v.tz)
        .env("LC_ALL", &v.locale)
        .env("LANG", &v.locale)
        .stderr(std::process::Stdio::inherit());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let mask = v.umask as libc::mode_t;
        // SAFETY: umask is async-signal-safe; it only sets the child's file mode mask.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(mask);
                Ok(())
            });
        }
    }
    eprintln!(
        "    $ ktx-release --repo {} {}",
        copy.display(),
        args.join(" ")
    );
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "the rebuild `ktx-release {}` in {} failed ({}); hint: see its output above",
            args.join(" "),
            copy.display(),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Per-entry facts of an archive, for saying what differs.
type Entries = BTreeMap<String, String>;

fn tar_entries(bytes: &[u8]) -> Result<Entries> {
    let mut out = Entries::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let h = entry.header().clone();
        let name = entry.path()?.to_string_lossy().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        // A field that is not a number (NULs, as some writers leave uid and gid) shows as "?".
        let field = |v: std::io::Result<u64>| v.map_or("?".to_string(), |n| n.to_string());
        out.insert(
            name,
            format!(
                "mode {} mtime {} uid {} gid {} size {} sha256 {}",
                h.mode().map_or("?".to_string(), |m| format!("{m:o}")),
                field(h.mtime()),
                field(h.uid()),
                field(h.gid()),
                data.len(),
                &sha256_hex(&data)[..16]
            ),
        );
    }
    Ok(out)
}

fn zip_entries(bytes: &[u8]) -> Result<Entries> {
    let mut out = Entries::new();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        out.insert(
            format!("{i:03} {}", f.name()),
            format!(
                "mode {:o} time {:?} size {} sha256 {}",
                f.unix_mode().unwrap_or(0),
                f.last_modified(),
                data.len(),
                &sha256_hex(&data)[..16]
            ),
        );
    }
    Ok(out)
}

/// The entries that differ between two archives (at most 12 lines).
fn entry_diff(a: &[u8], b: &[u8], read: fn(&[u8]) -> Result<Entries>) -> Vec<String> {
    let (Ok(x), Ok(y)) = (read(a), read(b)) else {
        return vec!["(the archives could not be read entry by entry)".into()];
    };
    let mut lines = Vec::new();
    for name in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
        match (x.get(name), y.get(name)) {
            (Some(p), Some(q)) if p == q => {}
            (Some(p), Some(q)) => lines.push(format!("{name}: {p} | {q}")),
            (Some(_), None) => lines.push(format!("{name}: only in the first")),
            (None, Some(_)) => lines.push(format!("{name}: only in the second")),
            (None, None) => {}
        }
    }
    if lines.is_empty() {
        lines.push("every entry is the same: the compressed stream differs".into());
    }
    lines.truncate(12);
    lines
}

#[derive(Clone, Copy)]
enum Kind {
    Tarball,
    Wheel,
    Binary,
}

fn compare(what: &str, first: &[u8], second: &[u8], kind: Kind, note: String) -> Row {
    let (a, b) = (sha256_hex(first), sha256_hex(second));
    let verdict = if a == b {
        Verdict::Identical { sha256: a }
    } else {
        let detail = match kind {
            Kind::Tarball => entry_diff(first, second, tar_entries),
            Kind::Wheel => entry_diff(first, second, zip_entries),
            Kind::Binary => vec![],
        };
        Verdict::Differs {
            first: a,
            second: b,
            detail,
        }
    };
    Row {
        what: what.to_string(),
        verdict,
        note,
    }
}

/// How a target's binary is built, for the report.
fn build_note(t: &ktx_bootstrap::targets::Target) -> String {
    match binary::toolchain(t) {
        Toolchain::Zig => format!("cargo-zigbuild --target {}", binary::zig_target(t)),
        Toolchain::Cargo => format!("cargo build, {}", t.triple),
    }
}

/// Why a target's binary is not compared.
fn not_reproducible(t: &ktx_bootstrap::targets::Target) -> String {
    format!(
        "{} is built by cargo with the platform's own linker on its own runner; this command does not claim those bytes reproducible (the release attests where they were built)",
        t.triple
    )
}

/// What the first build made.
pub struct FirstBuild<'a> {
    pub wheel: &'a Path,
    pub binary: &'a crate::native::NativeBinary,
    pub tarball: &'a Path,
}

/// `check --rebuild`: build again in another directory under `Variation`, compare.
pub fn against_first_build(
    layout: &ReleaseLayout,
    first: &FirstBuild,
    projects: &[PathBuf],
) -> Result<Report> {
    let repo = &layout.repo;
    let v = Variation::other_than_this_process();
    let copy = layout.rebuild_dir().join("src");
    let exe = frozen_self(&layout.rebuild_dir().join("bin"))?;
    let n = copy_sources(repo, &copy, v.mtime)?;
    eprintln!("    copied {n} source files into {}", copy.display());
    let host = binary::host_target()?;
    let comparable = binary::toolchain(host) == Toolchain::Zig;
    let mut pack_args: Vec<String> = vec!["pack".into()];
    for p in projects {
        pack_args.push("--project".into());
        pack_args.push(p.display().to_string());
    }
    if comparable {
        child(&exe, &copy, &v, &["binary".to_string()])?;
    } else {
        // The tarball is compared with the first build's binary in it.
        pack_args.push("--binary".into());
        pack_args.push(format!(
            "{}={}",
            first.binary.npm_dir,
            first.binary.path.display()
        ));
    }
    let packed = child(&exe, &copy, &v, &pack_args)?;
    let second_tgz = PathBuf::from(
        packed
            .lines()
            .last()
            .context("the rebuild's pack named no tarball")?
            .trim(),
    );
    let wheel_name = first.wheel.file_name().context("the wheel has no name")?;
    let second_wheel = copy.join("dist").join(wheel_name);
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let mut rows = vec![compare(
        &format!("wheel {}", wheel_name.to_string_lossy()),
        &read(first.wheel)?,
        &read(&second_wheel)?,
        Kind::Wheel,
        "ktx-release wheel".into(),
    )];
    let native_what = format!("native/{}/ktx{}", host.npm_dir, host.exe_suffix);
    if comparable {
        let second_bin = binary::host_binary(&copy).context("the rebuild made no binary")?;
        rows.push(compare(
            &native_what,
            &read(&first.binary.path)?,
            &read(&second_bin.path)?,
            Kind::Binary,
            build_note(host),
        ));
    } else {
        rows.push(Row {
            what: native_what,
            verdict: Verdict::NotCompared(not_reproducible(host)),
            note: build_note(host),
        });
    }
    rows.push(compare(
        &format!(
            "tarball {}",
            first
                .tarball
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        ),
        &read(first.tarball)?,
        &read(&second_tgz)?,
        Kind::Tarball,
        "ktx-release pack (npm pack)".into(),
    ));
    Ok(Report {
        heading: format!(
            "rebuild in {}: {} (first build: {})",
            copy.display(),
            v.describe(),
            repo.display()
        ),
        rows,
    })
}

/// The `rustc version ...` line of an ELF binary's `.comment` section (what built it).
pub fn rustc_of(elf: &[u8]) -> Option<String> {
    use object::read::elf::{FileHeader, SectionHeader};
    let header = object::elf::FileHeader64::<object::Endianness>::parse(elf).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, elf).ok()?;
    let (_, comment) = sections.section_by_name(endian, b".comment")?;
    let data = comment.data(endian, elf).ok()?;
    data.split(|b| *b == 0)
        .map(String::from_utf8_lossy)
        .find_map(|s| {
            s.strip_prefix("rustc version ")
                .map(|v| v.trim().to_string())
        })
}

/// `rustc -V` of the toolchain cargo uses here (`1.95.0 (59807616e 2026-04-14)`).
fn local_rustc(repo: &Path) -> Result<String> {
    let out = Command::new("rustc")
        .arg("-V")
        .current_dir(repo)
        .output()
        .context("cannot run rustc -V")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("rustc ")
        .to_string())
}

/// The rustc that built the published tarball's Linux binaries (from their `.comment`).
pub fn published_rustc(published: &Path) -> Result<String> {
    let files = crate::verify::read_tarball(published)?;
    files
        .iter()
        .filter(|(n, _)| n.starts_with("package/native/linux-"))
        .find_map(|(_, e)| rustc_of(&e.bytes))
        .with_context(|| {
            format!(
                "{} has no Linux binary that names its rustc; hint: only Linux binaries (cargo-zigbuild) are rebuilt",
                published.display()
            )
        })
}

/// `rebuild --against`: build this checkout's artefacts and compare them with `published`.
pub fn against_published(
    layout: &ReleaseLayout,
    published: &Path,
    projects: &[PathBuf],
) -> Result<Report> {
    let repo = &layout.repo;
    let bytes = std::fs::read(published)
        .with_context(|| format!("cannot read the published tarball {}", published.display()))?;
    let files = crate::verify::read_tarball(published)?;
    let manifest: ktx_bootstrap::package::BundledManifest = serde_json::from_slice(
        files
            .get(&format!(
                "package/{}",
                ktx_bootstrap::package::MANIFEST_PATH
            ))
            .context("the published tarball has no runtime manifest")?
            .bytes
            .as_slice(),
    )?;
    let require_github = manifest
        .uv
        .targets
        .values()
        .all(|s| s.contains_key("github"));
    let work = layout.rebuild_dir().join("published");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let mut rows = Vec::new();
    let mut binaries = Vec::new();
    let rustc_here = local_rustc(repo)?;
    for (name, entry) in &files {
        let Some((dir, file)) = crate::native::binary_entry(name) else {
            continue;
        };
        let data = &entry.bytes;
        let t = crate::native::target_of(name, dir)?;
        let what = format!("native/{dir}/{file}");
        if binary::toolchain(t) == Toolchain::Zig {
            if let Some(theirs) = rustc_of(data) {
                if theirs != rustc_here {
                    bail!(
                        "{name} was built by rustc {theirs}, this rebuild would use rustc {rustc_here}; hint: install that toolchain (`rustup toolchain install {}`) and run the rebuild with it (`cargo +{} run -p ktx-release -- rebuild --against ...`)",
                        theirs.split_whitespace().next().unwrap_or(&theirs),
                        theirs.split_whitespace().next().unwrap_or(&theirs)
                    );
                }
            }
            let built = binary::build(repo, Some(t.triple))?;
            rows.push(compare(
                &what,
                data,
                &std::fs::read(&built.path)?,
                Kind::Binary,
                build_note(t),
            ));
            binaries.push(built);
        } else {
            let path = work.join("native").join(dir).join(file);
            std::fs::create_dir_all(path.parent().unwrap_or(&work))?;
            std::fs::write(&path, data)?;
            rows.push(Row {
                what,
                verdict: Verdict::NotCompared(format!(
                    "{}; the published binary is packed into the rebuilt tarball as it is",
                    not_reproducible(t)
                )),
                note: "taken from the published tarball".into(),
            });
            binaries.push(NativeBinary {
                npm_dir: dir.to_string(),
                path,
            });
        }
    }
    let pipeline = Pipeline {
        pin_cache: work.join("uv-pins.json"),
        require_github_pins: require_github,
        ..Pipeline::new(layout, projects)
    };
    let wheel = pipeline.wheel(&layout.out)?;
    let wheel_name = format!(
        "package/python/{}",
        wheel.path.file_name().unwrap_or_default().to_string_lossy()
    );
    let theirs = files.get(&wheel_name).with_context(|| {
        format!(
            "the published tarball has no {wheel_name}; hint: check out the tag the tarball was released from"
        )
    })?;
    rows.insert(
        0,
        compare(
            &format!(
                "wheel {}",
                wheel.path.file_name().unwrap_or_default().to_string_lossy()
            ),
            &theirs.bytes,
            &std::fs::read(&wheel.path)?,
            Kind::Wheel,
            "ktx-release wheel".into(),
        ),
    );
    let tgz = pipeline
        .pack_at(
            &wheel,
            &binaries,
            &work.join("package"),
            &work.join("dist"),
            Layout::Single,
        )?
        .main;
    rows.push(compare(
        &format!(
            "tarball {}",
            published.file_name().unwrap_or_default().to_string_lossy()
        ),
        &bytes,
        &std::fs::read(&tgz)?,
        Kind::Tarball,
        "ktx-release pack (npm pack)".into(),
    ));
    Ok(Report {
        heading: format!(
            "rebuild of {} against {} (rustc {rustc_here})",
            repo.display(),
            published.display()
        ),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variation_differs_from_this_process() {
        let v = Variation::other_than_this_process();
        assert_ne!(v.umask, current_umask());
        assert_ne!(Some(v.tz.as_str()), std::env::var("TZ").ok().as_deref());
    }

    #[test]
    fn a_differing_tarball_names_the_entry_that_differs() {
        let tgz = |mode: u32| {
            let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            ));
            for (name, m) in [("package/a", 0o644), ("package/b", mode)] {
                let mut h = tar::Header::new_gnu();
                h.set_size(1);
                h.set_mode(m);
                h.set_cksum();
                b.append_data(&mut h, name, &b"x"[..]).unwrap();
            }
            b.into_inner().unwrap().finish().unwrap()
        };
        let row = compare("t", &tgz(0o644), &tgz(0o600), Kind::Tarball, String::new());
        match row.verdict {
            Verdict::Differs { detail, .. } => {
                assert_eq!(detail.len(), 1, "{detail:?}");
                assert!(detail[0].starts_with("package/b: mode 644"), "{detail:?}");
            }
            other => panic!("{other:?}"),
        }
        let same = compare("t", &tgz(0o644), &tgz(0o644), Kind::Tarball, String::new());
        assert!(matches!(same.verdict, Verdict::Identical { .. }));
    }

    #[test]
    fn the_rustc_of_a_binary_is_read_from_its_comment_section() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let v = rustc_of(&exe).expect("the test binary names its rustc");
        assert!(v.chars().next().unwrap().is_ascii_digit(), "{v}");
    }
}
