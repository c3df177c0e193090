//! `ktx-release binary`: the `ktx` binary for the host or a target. Linux targets are built by
//! cargo-zigbuild (`zig`): the gnu ones against the glibc floor (`<triple>.<floor>`, see
//! `glibc::FLOOR`, verified from the built ELF), so they run on every glibc from the floor up,
//! whatever the build machine's glibc; macOS and Windows (msvc) by cargo on their own runners.
//! `x86_64-pc-windows-gnu` is the Windows stand-in a Linux machine builds (cargo-zigbuild, zig
//! as the MinGW linker) and runs under Wine; the package's win32-x64 binary stays the msvc
//! build. macOS targets off macOS are type-checked only (`check_only`): linking needs Apple's
//! SDK. A missing Rust standard library is installed with `rustup target add`. Every build
//! remaps the repository and cargo's home out of the binary (`--remap-path-prefix`), so the
//! bytes do not depend on where the sources were checked out (`check --rebuild` compares two
//! builds).

use crate::native::{libc, Libc, NativeBinary};
use anyhow::{bail, Context, Result};
use ktx_bootstrap::targets::{self, Target};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Windows build a Linux machine can make and Wine can run (MinGW, linked by zig): the
/// stand-in for the release runner's msvc build, packed as `win32-x64` for the Wine cell.
pub const WINDOWS_GNU: Target = Target {
    triple: "x86_64-pc-windows-gnu",
    npm_dir: "win32-x64",
    wheel_tag: "win_amd64",
    github_archive: "uv-x86_64-pc-windows-msvc.zip",
    exe_suffix: ".exe",
};

/// Every target this module builds: the package's, and the Windows stand-in.
pub fn buildable() -> impl Iterator<Item = &'static Target> {
    targets::TARGETS.iter().chain(std::iter::once(&WINDOWS_GNU))
}

/// How a target's binary is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// cargo-zigbuild (Linux targets and the windows-gnu stand-in, from any Linux or macOS host
    /// that has their Rust std).
    Zig,
    /// cargo with the platform's own linker (macOS, Windows msvc: on their own runners).
    Cargo,
}

pub fn toolchain(t: &Target) -> Toolchain {
    match libc(t) {
        Libc::Glibc | Libc::Musl => Toolchain::Zig,
        Libc::System if t.triple == WINDOWS_GNU.triple => Toolchain::Zig,
        Libc::System => Toolchain::Cargo,
    }
}

/// Whether this host can link `t`'s binary: macOS binaries need Apple's SDK (a macOS host);
/// the msvc build needs Microsoft's linker and libraries (a Windows host).
pub fn links_here(t: &Target) -> Result<(), String> {
    let host = std::env::consts::OS;
    if t.triple.contains("-apple-") && host != "macos" {
        return Err(format!(
            "linking {} needs Apple's SDK (a macOS host with Xcode's command line tools), which this {host} machine does not have; hint: `ktx-release binary --target {}` here type-checks it (cargo-zigbuild check); build it on the release workflow's macOS runner",
            t.triple, t.triple
        ));
    }
    if t.triple.ends_with("-windows-msvc") && host != "windows" {
        return Err(format!(
            "linking {} needs Microsoft's linker and Windows SDK, which this {host} machine does not have; hint: build {} here (the stand-in Wine runs), and the msvc build on the release workflow's Windows runner",
            t.triple, WINDOWS_GNU.triple
        ));
    }
    Ok(())
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

/// The target named by `triple` (one the package carries, or the windows-gnu stand-in), or the
/// error listing the supported ones.
pub fn target(triple: &str) -> Result<&'static Target> {
    buildable().find(|t| t.triple == triple).with_context(|| {
        format!(
            "{triple} is not a target the package supports; hint: use one of {} (or {}, the Windows build Wine runs)",
            supported(),
            WINDOWS_GNU.triple
        )
    })
}

/// Cargo's target directory: CARGO_TARGET_DIR (relative to the repository) when set, so a
/// cross build can have its own and not wait on another build's lock; else `target/`.
pub fn target_dir(repo: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => repo.join(d),
        _ => repo.join("target"),
    }
}

/// Where the build of `t` puts `ktx`: Zig builds always name their target
/// (`target/<triple>/release`), Cargo builds of the host do not (`target/release`).
pub fn output_path(repo: &Path, t: &Target, explicit_target: bool) -> PathBuf {
    let mut path = target_dir(repo);
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

/// Whether `triple`'s Rust standard library is installed (`<sysroot>/lib/rustlib/<triple>/lib`
/// of `rustc --print sysroot`), or None when rustc cannot say.
fn std_installed(rustc: &std::ffi::OsStr, triple: &str) -> Option<bool> {
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !sysroot.is_empty()).then(|| {
        Path::new(&sysroot)
            .join("lib/rustlib")
            .join(triple)
            .join("lib")
            .is_dir()
    })
}

/// Install `triple`'s Rust standard library with rustup when it is missing.
pub fn ensure_rust_target(triple: &str) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_rust_target_with(triple, &rustc, std::ffi::OsStr::new("rustup"))
}

fn ensure_rust_target_with(
    triple: &str,
    rustc: &std::ffi::OsStr,
    rustup: &std::ffi::OsStr,
) -> Result<()> {
    if std_installed(rustc, triple) != Some(false) {
        return Ok(());
    }
    eprintln!("  installing the Rust standard library for {triple} (rustup target add {triple})");
    match Command::new(rustup).args(["target", "add", triple]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => bail!(
            "`rustup target add {triple}` failed: {}; hint: run it yourself (it needs the network to static.rust-lang.org or RUSTUP_DIST_SERVER)",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
        ),
        Err(e) => bail!(
            "the Rust standard library for {triple} is not installed and rustup cannot run ({e}); hint: install it the way this Rust was installed, or install rustup and run `rustup target add {triple}`"
        ),
    }
}

/// The glibc a freshly built gnu binary needs, checked against the floor from its ELF
/// (`native::inspect`); an error names the symbols above it.
fn verify_glibc_floor(t: &Target, path: &Path) -> Result<Option<crate::glibc::GlibcVersion>> {
    if libc(t) != Libc::Glibc {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    let inspected = crate::native::inspect(&file, t.npm_dir, &bytes)?;
    if let Some(e) = inspected.above_floor(&file) {
        return Err(e.into());
    }
    Ok(inspected.glibc_needed())
}

/// Build `ktx` and return where it is and which `native/<dir>` of the package it belongs in.
pub fn build(repo: &Path, target_triple: Option<&str>) -> Result<NativeBinary> {
    let t = match target_triple {
        Some(triple) => target(triple)?,
        None => host_target()?,
    };
    if let Err(why) = links_here(t) {
        if t.triple.contains("-apple-") {
            // What this machine can do: the type-check, then the plain statement of the rest.
            bail!("{}", check_only(repo, t.triple)?);
        }
        bail!("{why}");
    }
    if target_triple.is_some() {
        ensure_rust_target(t.triple)?;
    }
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
    if let Some(needs) = verify_glibc_floor(t, &path)? {
        eprintln!(
            "  {}: needs glibc {needs} (floor {}), read from its ELF",
            t.triple,
            crate::glibc::FLOOR
        );
    }
    Ok(NativeBinary {
        npm_dir: t.npm_dir.to_string(),
        path,
    })
}

/// Type-check `ktx` for `triple` without linking (`cargo check`, zig as the C compiler of the
/// build scripts through cargo-zigbuild): what this machine can do for a target it cannot link,
/// the macOS ones. Returns the sentence for the user, saying what was not done.
pub fn check_only(repo: &Path, triple: &str) -> Result<String> {
    let t = target(triple)?;
    ensure_rust_target(t.triple)?;
    let zig = crate::zig::ensure(repo)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(zig.cargo_zigbuild())
        .args([
            "check",
            "--release",
            "--locked",
            "-p",
            "ktx-bootstrap",
            "--bin",
            "ktx",
            "--target",
            t.triple,
        ])
        .env("PATH", zig.path_env())
        .env("CARGO", &cargo)
        .current_dir(repo)
        .status()
        .with_context(|| format!("cannot run `cargo-zigbuild check` for {}", t.triple))?;
    if !status.success() {
        bail!(
            "the type-check of ktx for {} failed ({status}); hint: see the compiler output above",
            t.triple
        );
    }
    Ok(match links_here(t) {
        Ok(()) => format!(
            "ktx type-checks for {} (not linked: `ktx-release binary --target {}` builds it)",
            t.triple, t.triple
        ),
        Err(why) => format!("ktx type-checks for {}; not linked: {why}", t.triple),
    })
}

/// The host's release binary if it was built already (where `build(repo, None)` puts it).
pub fn host_binary(repo: &Path) -> Option<NativeBinary> {
    let t = targets::host()?;
    let path = output_path(repo, t, false);
    path.is_file().then(|| NativeBinary {
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

    #[test]
    fn the_windows_stand_in_builds_with_zig_into_the_win32_directory() {
        let t = target("x86_64-pc-windows-gnu").unwrap();
        assert_eq!(toolchain(t), Toolchain::Zig);
        assert_eq!(t.npm_dir, "win32-x64");
        assert_eq!(zig_target(t), "x86_64-pc-windows-gnu");
        assert!(output_path(Path::new("/r"), t, true)
            .ends_with("x86_64-pc-windows-gnu/release/ktx.exe"));
    }

    #[test]
    fn macos_targets_off_macos_say_that_linking_needs_apples_sdk() {
        for triple in ["aarch64-apple-darwin", "x86_64-apple-darwin"] {
            let t = target(triple).unwrap();
            match links_here(t) {
                Ok(()) => assert_eq!(std::env::consts::OS, "macos"),
                Err(why) => {
                    assert!(why.contains("Apple's SDK"), "{why}");
                    assert!(why.contains("type-checks"), "{why}");
                }
            }
        }
    }

    /// A rustc whose sysroot is `sysroot` (a script), for the rustup paths.
    #[cfg(unix)]
    fn fake_rustc(dir: &Path, sysroot: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let rustc = dir.join("rustc");
        std::fs::write(&rustc, format!("#!/bin/sh\necho {}\n", sysroot.display())).unwrap();
        std::fs::set_permissions(&rustc, std::fs::Permissions::from_mode(0o755)).unwrap();
        rustc
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_std_without_rustup_is_one_line_naming_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let sysroot = dir.path().join("sysroot");
        std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-musl/lib")).unwrap();
        let rustc = fake_rustc(dir.path(), &sysroot);
        let none = dir.path().join("no-rustup");
        // Installed: rustup is never asked.
        ensure_rust_target_with(
            "x86_64-unknown-linux-musl",
            rustc.as_os_str(),
            none.as_os_str(),
        )
        .unwrap();
        let e = ensure_rust_target_with(
            "aarch64-unknown-linux-musl",
            rustc.as_os_str(),
            none.as_os_str(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains("rustup cannot run")
                && e.contains("rustup target add aarch64-unknown-linux-musl"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_rustup_target_add_says_its_last_error_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let rustc = fake_rustc(dir.path(), &dir.path().join("sysroot"));
        let rustup = dir.path().join("rustup");
        std::fs::write(&rustup, "#!/bin/sh\necho 'info: syncing' >&2\necho 'error: could not download file from static.rust-lang.org' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&rustup, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_rust_target_with(
            "aarch64-unknown-linux-gnu",
            rustc.as_os_str(),
            rustup.as_os_str(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains(
                "`rustup target add aarch64-unknown-linux-gnu` failed: error: could not download"
            ),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_triple_names_the_supported_ones_and_the_windows_stand_in() {
        let e = target("riscv64gc-unknown-linux-gnu")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("aarch64-unknown-linux-musl") && e.contains("x86_64-pc-windows-gnu"),
            "{e}"
        );
    }
}
