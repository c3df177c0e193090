//! The zig toolchain that links the Linux binaries: ziglang (zig as C compiler and linker, with
//! glibc's symbol lists for every version, so `<triple>.2.17` links against glibc 2.17) and
//! cargo-zigbuild, both from the configured Python package index, pinned by version and sha256
//! in `release/toolchain/zig-requirements.txt`. Installed on first use into a venv under
//! `target/ktx-release/` (named by the requirements' digest, made under a lock, marked ready
//! last), so a fresh clone needs only Python 3 and the index.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned requirements (versions and hashes): the one place to bump them.
pub const REQUIREMENTS: &str = include_str!("../toolchain/zig-requirements.txt");

/// An installed toolchain.
pub struct Zig {
    /// The venv's scripts directory: `cargo-zigbuild`, and the `python3` that has `ziglang`
    /// (cargo-zigbuild finds zig as `python3 -m ziglang` when no `zig` is on PATH).
    pub bin: PathBuf,
}

impl Zig {
    /// `cargo-zigbuild` of this toolchain.
    pub fn cargo_zigbuild(&self) -> PathBuf {
        self.bin.join("cargo-zigbuild")
    }

    /// PATH with this toolchain first.
    pub fn path_env(&self) -> std::ffi::OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(std::iter::once(self.bin.clone()).chain(std::env::split_paths(&rest)))
            .unwrap_or(rest)
    }

    /// `zig version`, for reports.
    pub fn version(&self) -> Result<String> {
        let out = Command::new(self.bin.join("python3"))
            .args(["-m", "ziglang", "version"])
            .output()
            .context("cannot run `python3 -m ziglang version` of the zig toolchain")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// `ziglang==0.15.2` and `cargo-zigbuild==0.24.1` as pinned.
pub fn pins() -> Vec<String> {
    REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("=="))
        .map(|l| l.trim_end_matches('\\').trim().to_string())
        .collect()
}

fn venv_dir(repo: &Path) -> PathBuf {
    let digest = crate::wheel::sha256_hex(REQUIREMENTS.as_bytes());
    repo.join("target/ktx-release")
        .join(format!("zig-{}", &digest[..12]))
}

/// The toolchain, installed first if needed.
pub fn ensure(repo: &Path) -> Result<Zig> {
    let dir = venv_dir(repo);
    let zig = Zig {
        bin: dir.join("bin"),
    };
    let ready = dir.join("ready");
    if ready.is_file() {
        return Ok(zig);
    }
    std::fs::create_dir_all(repo.join("target/ktx-release"))?;
    let lock_path = repo.join("target/ktx-release/zig.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if ready.is_file() {
        return Ok(zig);
    }
    eprintln!(
        "  installing the zig toolchain ({}) from the package index into {}",
        pins().join(", "),
        dir.display()
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear the unfinished {}", dir.display()))?;
    }
    let python = std::env::var_os("KTX_RELEASE_PYTHON").unwrap_or_else(|| "python3".into());
    let st = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .with_context(|| {
            format!(
                "cannot run {} -m venv; hint: install Python 3 with its venv module (or set KTX_RELEASE_PYTHON)",
                python.to_string_lossy()
            )
        })?;
    if !st.success() {
        bail!(
            "`{} -m venv {}` failed ({st}); hint: install Python 3's venv module (Debian: python3-venv)",
            python.to_string_lossy(),
            dir.display()
        );
    }
    let req = dir.join("requirements.txt");
    std::fs::write(&req, REQUIREMENTS)?;
    let out = Command::new(zig.bin.join("python3"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "--no-deps",
            "-r",
        ])
        .arg(&req)
        .output()
        .context("cannot run pip of the zig toolchain's venv")?;
    if !out.status.success() {
        bail!(
            "pip could not install the zig toolchain ({}):\n{}\nhint: the index must serve these wheels with the sha256 digests of release/toolchain/zig-requirements.txt (PIP_INDEX_URL names another index)",
            pins().join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::write(&ready, pins().join("\n") + "\n")?;
    drop(lock);
    Ok(zig)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_requirements_pin_exact_versions_with_hashes() {
        let pins = super::pins();
        assert_eq!(pins.len(), 2, "{pins:?}");
        assert!(pins.iter().any(|p| p.starts_with("ziglang==")));
        assert!(pins.iter().any(|p| p.starts_with("cargo-zigbuild==")));
        assert!(super::REQUIREMENTS.matches("--hash=sha256:").count() >= 2);
    }
}
