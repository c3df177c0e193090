//! The two npm layouts `ktx-release pack` writes.
//!
//! - `single`: one tarball, every binary under `native/<dir>/ktx` (what `npx ./kaelio-ktx-<v>.tgz`
//!   runs by path when no registry has the platform packages: local builds, the tests, the
//!   emulated smoke cells).
//! - `platforms` (the release, as esbuild, Biome and turbo ship): the main `@kaelio/ktx` tarball
//!   without binaries (launcher, wheel, runtime manifest, demo, `native/targets.json`) naming
//!   every platform package in `optionalDependencies` at exactly its version, and one tarball
//!   per binary, `@kaelio/ktx-<dir>`, holding `ktx` (or `ktx.exe`) at its root with `os`, `cpu`
//!   and, on Linux, `libc`: npm fetches only the one this system can run, so a first `npx`
//!   downloads the main package and one binary however many platforms ship.
//!
//! `libc` is set on both Linux builds (`glibc` on the gnu one, `musl` on the musl one), so a
//! glibc system does not fetch the musl build too (which would double the download). The
//! launcher's fallback from an old glibc to the musl build therefore needs the single layout;
//! a release never takes it: its gnu builds need at most the glibc floor (2.17, held by
//! `verify`), which is the oldest glibc any Node the package supports runs on. A package manager
//! that ignores `libc` (npm before 10; an npm install from a package-lock.json written before
//! npm/cli#9025, which did not record it) installs both Linux builds: larger, still correct.

use crate::native;
use crate::set_mode;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Which layout to pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// One tarball holding every binary (by-path runs, local checks).
    Single,
    /// The main package plus one package per platform (the release).
    Platforms,
}

/// The scope and prefix of the platform packages (`@kaelio/ktx-linux-x64`), as the launcher
/// (npm/src/bin.js, `platformPackage`) names them.
pub const PLATFORM_PREFIX: &str = "@kaelio/ktx-";

/// The main package's name.
pub const MAIN_PACKAGE: &str = "@kaelio/ktx";

pub fn platform_package(dir: &str) -> String {
    format!("{PLATFORM_PREFIX}{dir}")
}

/// The file `npm pack` writes for `name` at `version` (`@a/b` -> `a-b-<version>.tgz`).
pub fn tarball_name(name: &str, version: &str) -> String {
    format!(
        "{}-{version}.tgz",
        name.trim_start_matches('@').replace('/', "-")
    )
}

/// The binary's file name in the platform directory `dir`.
pub fn exe_name(dir: &str) -> &'static str {
    if dir.starts_with("win32") {
        "ktx.exe"
    } else {
        "ktx"
    }
}

/// What npm matches against the installing system: `os`, `cpu` and, on Linux, `libc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub os: String,
    pub cpu: String,
    pub libc: Option<String>,
}

/// The selector of the platform directory `dir` (`linux-x64-musl` -> linux, x64, musl).
pub fn selector(dir: &str) -> Result<Selector> {
    let mut parts = dir.split('-');
    let (Some(os), Some(cpu)) = (parts.next(), parts.next()) else {
        bail!("platform directory {dir:?} is not <os>-<cpu>[-musl]");
    };
    let libc = match (os, parts.next()) {
        ("linux", None) => Some("glibc".to_string()),
        ("linux", Some("musl")) => Some("musl".to_string()),
        (_, None) => None,
        (_, Some(other)) => bail!("platform directory {dir:?}: unknown variant {other:?}"),
    };
    Ok(Selector {
        os: os.to_string(),
        cpu: cpu.to_string(),
        libc,
    })
}

/// The package.json of the platform package for `dir`, from the main package's.
pub fn platform_manifest(main: &serde_json::Value, dir: &str) -> Result<serde_json::Value> {
    let sel = selector(dir)?;
    let target = native::target_of(dir, dir)?;
    let exe = exe_name(dir);
    let mut pkg = serde_json::json!({
        "name": platform_package(dir),
        "version": main["version"],
        "description": format!("The {dir} ({}) binary of @kaelio/ktx; install @kaelio/ktx, which depends on it", target.triple),
        "license": main["license"],
        "repository": main["repository"],
        "os": [sel.os],
        "cpu": [sel.cpu],
        "preferUnplugged": true,
        "files": [exe],
        "publishConfig": {"access": "public"},
    });
    if let Some(libc) = sel.libc {
        pkg["libc"] = serde_json::json!([libc]);
    }
    Ok(pkg)
}

/// A staged platform package.
pub struct PlatformStage {
    pub dir: String,
    pub path: PathBuf,
}

/// Turn the single-layout package staged at `main` into the platforms layout: each
/// `native/<dir>/ktx[.exe]` moves to its own package staged under `platforms_root/<dir>`, and
/// the main package.json names them all in `optionalDependencies` at its version.
/// `native/targets.json` stays in the main package (the launcher reads it there).
pub fn split(main: &Path, platforms_root: &Path) -> Result<Vec<PlatformStage>> {
    let pkg_path = main.join("package.json");
    let mut pkg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&pkg_path).with_context(|| format!("cannot read {}", pkg_path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", pkg_path.display()))?;
    let version = pkg["version"]
        .as_str()
        .with_context(|| format!("{} has no version", pkg_path.display()))?
        .to_string();
    let native_dir = main.join("native");
    let mut dirs: Vec<String> = std::fs::read_dir(&native_dir)
        .with_context(|| format!("cannot list {}", native_dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "{}: no native/<platform>/ktx to split into platform packages; hint: pass --binary DIR=PATH",
            main.display()
        );
    }
    let readme = "# {name}\n\nThe {dir} build of `ktx`, the native binary of \
                  [@kaelio/ktx](https://www.npmjs.com/package/@kaelio/ktx). Install \
                  `@kaelio/ktx`, not this package: npm picks the platform package this \
                  system runs.\n";
    let mut stages = Vec::new();
    let mut optional = serde_json::Map::new();
    for dir in dirs {
        let exe = exe_name(&dir);
        let from = native_dir.join(&dir).join(exe);
        if !from.is_file() {
            bail!(
                "{}: native/{dir}/ holds no {exe}; hint: repack with `ktx-release pack`",
                main.display()
            );
        }
        let stage = platforms_root.join(&dir);
        if stage.exists() {
            std::fs::remove_dir_all(&stage)
                .with_context(|| format!("cannot clear {}", stage.display()))?;
        }
        std::fs::create_dir_all(&stage)
            .with_context(|| format!("cannot create {}", stage.display()))?;
        let manifest = platform_manifest(&pkg, &dir)?;
        write(
            &stage.join("package.json"),
            &(serde_json::to_string_pretty(&manifest)? + "\n"),
        )?;
        write(
            &stage.join("README.md"),
            &readme
                .replace("{name}", &platform_package(&dir))
                .replace("{dir}", &dir),
        )?;
        let to = stage.join(exe);
        std::fs::rename(&from, &to)
            .or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
        set_mode(&to, 0o755)?;
        std::fs::remove_dir_all(native_dir.join(&dir))
            .with_context(|| format!("cannot remove {}", native_dir.join(&dir).display()))?;
        optional.insert(
            platform_package(&dir),
            serde_json::Value::String(version.clone()),
        );
        stages.push(PlatformStage { dir, path: stage });
    }
    pkg["optionalDependencies"] = serde_json::Value::Object(optional);
    write(&pkg_path, &(serde_json::to_string_pretty(&pkg)? + "\n"))?;
    Ok(stages)
}

/// Unpack an npm tarball's `package/` into `dir/package` (modes kept); returns that directory.
pub fn unpack(tarball: &Path, dir: &Path) -> Result<PathBuf> {
    let file = std::fs::File::open(tarball)
        .with_context(|| format!("cannot open {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(true);
    archive
        .unpack(dir)
        .with_context(|| format!("cannot unpack {} into {}", tarball.display(), dir.display()))?;
    let root = dir.join("package");
    if !root.join("package.json").is_file() {
        bail!("{} has no package/package.json", tarball.display());
    }
    Ok(root)
}

/// Whether the tarball is a platforms-layout main package (names platform packages).
pub fn is_platforms_main(pkg: &serde_json::Value) -> bool {
    pkg["optionalDependencies"]
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with(PLATFORM_PREFIX)))
}

/// One row of the download table.
pub struct DownloadRow {
    pub layout: String,
    /// The tarballs a first `npx` on the platform fetches, with their sizes.
    pub tarballs: Vec<(String, u64)>,
}

impl DownloadRow {
    pub fn bytes(&self) -> u64 {
        self.tarballs.iter().map(|(_, b)| b).sum()
    }
}

/// The markdown table of bytes a first `npx @kaelio/ktx` fetches on `platform`, each row against
/// the first (the one-binary package).
pub fn download_table(platform: &str, rows: &[DownloadRow]) -> String {
    let base = rows.first().map_or(1, |r| r.bytes().max(1)) as f64;
    let mut out = format!(
        "Bytes a first `npx @kaelio/ktx` fetches on {platform} (tarballs as npm fetches them; \
         the registry's metadata documents are not counted)\n\n\
         | layout | tarballs fetched | bytes | vs one binary |\n|---|---|---:|---:|\n"
    );
    for r in rows {
        let names: Vec<String> = r
            .tarballs
            .iter()
            .map(|(n, b)| format!("{n} ({b})"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {:.2}x |\n",
            r.layout,
            names.join(" + "),
            r.bytes(),
            r.bytes() as f64 / base
        ));
    }
    out
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_builds_name_their_libc_and_others_none() {
        assert_eq!(
            selector("linux-x64").unwrap().libc.as_deref(),
            Some("glibc")
        );
        assert_eq!(
            selector("linux-arm64-musl").unwrap(),
            Selector {
                os: "linux".into(),
                cpu: "arm64".into(),
                libc: Some("musl".into())
            }
        );
        assert_eq!(selector("win32-x64").unwrap().libc, None);
        assert_eq!(selector("darwin-arm64").unwrap().cpu, "arm64");
        assert!(selector("linux").is_err());
        assert!(selector("linux-x64-uclibc").is_err());
    }

    #[test]
    fn tarball_names_are_what_npm_pack_writes() {
        assert_eq!(
            tarball_name("@kaelio/ktx-linux-x64", "0.1.0"),
            "kaelio-ktx-linux-x64-0.1.0.tgz"
        );
        assert_eq!(tarball_name("@kaelio/ktx", "1.2.3"), "kaelio-ktx-1.2.3.tgz");
    }
}
