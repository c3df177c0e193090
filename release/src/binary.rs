//! `ktx-release binary`: the `ktx` binary for the host or a target. Linux targets are built by
//! cargo-zigbuild (`zig`): the gnu ones against the glibc floor (`<triple>.<floor>`, see
//! `glibc::FLOOR`), so they run on every glibc from the floor up, whatever the build machine's
//! glibc; macOS and Windows by cargo on their own runners. Every build remaps the repository
//! and cargo's home out of the binary (`--remap-path-prefix`), so the bytes do not depend on
//! where the sources were checked out (`check --rebuild` compares two builds).

use anyhow::{bail, Context, Result};
use ktx_bootstrap::targets::{self, Target};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The C library a target's binary links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    /// glibc, dynamically: the binary needs the glibc floor or newer.
    Glibc,
    /// musl, statically: it needs no C library on the system.
    Musl,
    /// macOS and Windows: the system's own.
    System,
}

pub fn libc(t: &Target) -> Libc {
    if t.triple.ends_with("-linux-gnu") {
        Libc::Glibc
    } else if t.triple.ends_with("-linux-musl") {
        Libc::Musl
    } else {
        Libc::System
    }
}

/// How a target's binary is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// cargo-zigbuild (Linux targets, from any Linux or macOS host that has their Rust std).
    Zig,
    /// cargo with the platform's own linker (macOS, Windows: on their own runners).
    Cargo,
}

pub fn toolchain(t: &Target) -> Toolchain {
    match libc(t) {
        Libc::Glibc | Libc::Musl => Toolchain::Zig,
        Libc::System => Toolchain::Cargo,
    }
}

/// The target triple cargo-zigbuild is given: the gnu ones carry the glibc floor
/// (`x86_64-unknown-linux-gnu.2.17`).
pub fn zig_target(t: &Target) -> String {
    match libc(t) {
        Libc::Glibc => format!("{}.{}", t.triple, crate::glibc::FLOOR),
        _ => t.triple.to_string(),
    }
}

/// The host's target, or the error that says this machine cannot build the package's binary.
pub fn host_target() -> Result<&'static Target> {
    targets::host().with_context(|| {
        format!(
            "this machine ({} {}) is not a platform the package carries; hint: build on one of {}",
            std::env::consts::OS,
            std::env::consts::ARCH,
            supported()
        )
    })
}

fn supported() -> String {
    targets::TARGETS
        .iter()
        .map(|t| t.triple)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target named by `triple`, or the error listing the supported ones.
pub fn target(triple: &str) -> Result<&'static Target> {
    targets::by_triple(triple).with_context(|| {
        format!(
            "{triple} is not a target the package supports; hint: use one of {}",
            supported()
        )
    })
}

/// Where the build of `t` puts `ktx`: Zig builds always name their target
/// (`target/<triple>/release`), Cargo builds of the host do not (`target/release`).
pub fn output_path(repo: &Path, t: &Target, explicit_target: bool) -> PathBuf {
    let mut path = repo.join("target");
    if explicit_target || toolchain(t) == Toolchain::Zig {
        path.push(t.triple);
    }
    path.push("release");
    path.push(format!("ktx{}", t.exe_suffix));
    path
}

/// `--remap-path-prefix` of the repository and of cargo's home, added to the RUSTFLAGS the
/// caller set (as CARGO_ENCODED_RUSTFLAGS, so paths with spaces survive).
fn encoded_rustflags(repo: &Path) -> String {
    let mut flags: Vec<String> = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(f) if !f.is_empty() => f.split('\x1f').map(str::to_string).collect(),
        _ => std::env::var("RUSTFLAGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    };
    let repo = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
    flags.push(format!("--remap-path-prefix={}=/ktx", repo.display()));
    if let Some(home) = cargo_home() {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\x1f")
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|p| p.canonicalize().unwrap_or(p))
}

/// Build `ktx` and return where it is and which `native/<dir>` of the package it belongs in.
pub fn build(repo: &Path, target_triple: Option<&str>) -> Result<crate::pack::NativeBinary> {
    let t = match target_triple {
        Some(triple) => target(triple)?,
        None => host_target()?,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let common = [
        "--release",
        "--locked",
        "-p",
        "ktx-bootstrap",
        "--bin",
        "ktx",
    ];
    let mut cmd = match toolchain(t) {
        Toolchain::Zig => {
            let zig = crate::zig::ensure(repo)?;
            let mut cmd = Command::new(zig.cargo_zigbuild());
            cmd.arg("zigbuild")
                .args(common)
                .args(["--target", &zig_target(t)])
                .env("PATH", zig.path_env())
                .env("CARGO", &cargo);
            cmd
        }
        Toolchain::Cargo => {
            let mut cmd = Command::new(&cargo);
            cmd.arg("build").args(common);
            if target_triple.is_some() {
                cmd.args(["--target", t.triple]);
            }
            cmd
        }
    };
    cmd.current_dir(repo)
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", encoded_rustflags(repo));
    let status = cmd
        .status()
        .with_context(|| format!("cannot run the build of ktx for {}", t.triple))?;
    if !status.success() {
        bail!(
            "the release build of ktx for {} failed ({status}); hint: see the compiler output above{}",
            t.triple,
            match toolchain(t) {
                Toolchain::Zig => format!(
                    "; its Rust standard library must be installed (`rustup target add {}`)",
                    t.triple
                ),
                Toolchain::Cargo => String::new(),
            }
        );
    }
    let path = output_path(repo, t, target_triple.is_some());
    if !path.is_file() {
        bail!(
            "the build of ktx for {} reported success but {} is missing; hint: run it again with `cargo clean -p ktx-bootstrap`",
            t.triple,
            path.display()
        );
    }
    Ok(crate::pack::NativeBinary {
        npm_dir: t.npm_dir.to_string(),
        path,
    })
}

/// The host's release binary if it was built already (where `build(repo, None)` puts it).
pub fn host_binary(repo: &Path) -> Option<crate::pack::NativeBinary> {
    let t = targets::host()?;
    let path = output_path(repo, t, false);
    path.is_file().then(|| crate::pack::NativeBinary {
        npm_dir: t.npm_dir.to_string(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_targets_build_with_zig_and_gnu_ones_at_the_glibc_floor() {
        for t in targets::TARGETS {
            let z = zig_target(t);
            match libc(t) {
                Libc::Glibc => {
                    assert_eq!(toolchain(t), Toolchain::Zig);
                    assert_eq!(z, format!("{}.{}", t.triple, crate::glibc::FLOOR));
                }
                Libc::Musl => {
                    assert_eq!(toolchain(t), Toolchain::Zig);
                    assert_eq!(z, t.triple);
                }
                Libc::System => assert_eq!(toolchain(t), Toolchain::Cargo),
            }
        }
    }
}
