//! `ktx-release binary`: `cargo build --release` of the `ktx` binary, for the host or a target.

use anyhow::{bail, Context, Result};
use ktx_bootstrap::targets;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Build `ktx` and return where it is and which `native/<dir>` of the package it belongs in.
pub fn build(repo: &Path, target: Option<&str>) -> Result<crate::pack::NativeBinary> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(repo).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "ktx-bootstrap",
        "--bin",
        "ktx",
    ]);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("`cargo build --release` of ktx failed (see the compiler output above)");
    }
    let triple = match target {
        Some(t) => t.to_string(),
        None => targets::host()
            .context("this host is not a platform the package supports")?
            .triple
            .to_string(),
    };
    let t = targets::by_triple(&triple).with_context(|| {
        format!(
            "{triple} is not a target the package supports; supported: {}",
            targets::TARGETS
                .iter()
                .map(|t| t.triple)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let mut path: PathBuf = repo.join("target");
    if target.is_some() {
        path.push(&triple);
    }
    path.push("release");
    path.push(format!("ktx{}", t.exe_suffix));
    Ok(crate::pack::NativeBinary {
        npm_dir: t.npm_dir.to_string(),
        path,
    })
}

/// The host's release binary if it was built already.
pub fn host_binary(repo: &Path) -> Option<crate::pack::NativeBinary> {
    let t = targets::host()?;
    let path = repo
        .join("target/release")
        .join(format!("ktx{}", t.exe_suffix));
    path.is_file().then(|| crate::pack::NativeBinary {
        npm_dir: t.npm_dir.to_string(),
        path,
    })
}
