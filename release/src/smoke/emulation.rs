//! Cells of platforms this machine runs only through another program: a foreign architecture
//! (an arm64 Debian root under QEMU user-mode emulation, through `binfmt_misc`), Windows (Wine,
//! installed in the cell's trixie image), and a root with no glibc at all (musl-only). Each says
//! why it cannot run here (`unavailable`): such a cell is skipped with that reason, never passed.
//! `scripts/emulation` sets up QEMU on a Debian host.

use super::matrix::{Cell, ImageRecipe};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// The Debian architecture of this host (`amd64`, `arm64`).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The `binfmt_misc` entry that runs `arch`'s ELF binaries, and the QEMU name of the machine.
fn qemu_name(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("aarch64"),
        "amd64" => Some("x86_64"),
        "armhf" => Some("arm"),
        "riscv64" => Some("riscv64"),
        _ => None,
    }
}

/// Why binaries of the Debian architecture `arch` cannot run here (None: native, or QEMU is
/// registered with `binfmt_misc`, with the F flag containers need), read from `binfmt_dir`
/// (`/proc/sys/fs/binfmt_misc`).
pub fn arch_unavailable(arch: &str, binfmt_dir: &Path) -> Option<String> {
    if arch == host_arch() {
        return None;
    }
    let Some(qemu) = qemu_name(arch) else {
        return Some(format!(
            "no QEMU user-mode emulator is known for the Debian architecture {arch}"
        ));
    };
    let entry = binfmt_dir.join(format!("qemu-{qemu}"));
    let hint = "hint: run scripts/emulation (installs qemu-user-static, mounts binfmt_misc, enables the entry)";
    let text = match std::fs::read_to_string(&entry) {
        Ok(t) => t,
        Err(_) if !binfmt_dir.join("status").exists() => {
            return Some(format!(
                "{arch} binaries need QEMU user-mode emulation, but binfmt_misc is not mounted at {}; {hint}",
                binfmt_dir.display()
            ))
        }
        Err(_) => {
            return Some(format!(
                "{arch} binaries need QEMU user-mode emulation, and {} is not registered (qemu-user-static is not installed, or its entry is disabled); {hint}",
                entry.display()
            ))
        }
    };
    if text.lines().next().map(str::trim) != Some("enabled") {
        return Some(format!(
            "{} is registered but disabled; {hint}",
            entry.display()
        ));
    }
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap_or("")
        .trim();
    if !flags.contains('F') {
        return Some(format!(
            "{} lacks the F flag (flags: {flags:?}): inside a container the kernel could not find its interpreter; hint: use Debian's qemu-user-static, whose entries have it",
            entry.display()
        ));
    }
    None
}

/// The `native/<dir>` binaries a packed tarball carries (`package/native/<dir>/ktx[.exe]`).
pub fn packed_binaries(tarball: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(tarball)
        .with_context(|| format!("cannot open {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut dirs = Vec::new();
    for entry in archive
        .entries()
        .with_context(|| format!("cannot read {}", tarball.display()))?
    {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().to_string();
        if let Some((dir, name)) = path
            .strip_prefix("package/native/")
            .and_then(|rest| rest.split_once('/'))
        {
            if name == "ktx" || name == "ktx.exe" {
                dirs.push(dir.to_string());
            }
        }
    }
    Ok(dirs)
}

/// Why `cell` cannot run here with `tarball`, or None: its architecture cannot be emulated, or
/// the tarball lacks a binary the cell runs.
pub fn unavailable(cell: &Cell, tarball: &Path) -> Option<String> {
    if let Some(arch) = cell.image.as_ref().and_then(|r| r.arch.as_deref()) {
        if let Some(why) = arch_unavailable(arch, Path::new("/proc/sys/fs/binfmt_misc")) {
            return Some(why);
        }
    }
    if cell.needs_binaries.is_empty() {
        return None;
    }
    let packed = match packed_binaries(tarball) {
        Ok(p) => p,
        Err(e) => return Some(format!("{e:#}")),
    };
    let missing: Vec<&String> = cell
        .needs_binaries
        .iter()
        .filter(|d| !packed.contains(d))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "{} carries no {} binary (it has: {}); hint: scripts/cross-smoke builds them and packs them with `ktx-release pack --binary <dir>=<path>`",
        tarball.display(),
        missing
            .iter()
            .map(|d| format!("native/{d}"))
            .collect::<Vec<_>>()
            .join(", "),
        if packed.is_empty() {
            "none".to_string()
        } else {
            packed.join(", ")
        }
    ))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A root with no glibc: the files of the recipe's Debian packages (`apt-get download` with
/// this host's sources, then `dpkg-deb -x`: e.g. `musl`, whose loader is
/// /lib/ld-musl-<arch>.so.1, and `busybox-static`, a shell and tools linked statically), busybox's
/// applets linked into /bin, and the directories a home needs. Nothing in it was linked against
/// glibc dynamically, so only static or musl binaries run there.
pub fn make_musl_only_root(recipe: &ImageRecipe, rootfs: &Path) -> Result<()> {
    let debs = tempfile::tempdir()?;
    run(
        Command::new("apt-get")
            .arg("download")
            .args(&recipe.packages)
            .current_dir(debs.path()),
        &format!(
            "`apt-get download {}` (with this host's apt sources; hint: `apt-get update` first)",
            recipe.packages.join(" ")
        ),
    )?;
    std::fs::create_dir_all(rootfs)?;
    for deb in std::fs::read_dir(debs.path())?.flatten() {
        run(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb.path())
                .arg(rootfs),
            &format!("dpkg-deb -x {}", deb.path().display()),
        )?;
    }
    for dir in [
        "tmp",
        "root",
        "etc/ssl/certs",
        "smoke",
        "proc",
        "sys",
        "dev",
        "usr/local/bin",
    ] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    if rootfs.join("bin/busybox").is_file() {
        run(
            Command::new("chroot")
                .arg(rootfs)
                .args(["/bin/busybox", "--install", "-s", "/bin"]),
            "busybox --install in the musl-only root",
        )?;
    }
    let glibc: Vec<String> = ["lib", "lib64", "usr/lib"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(rootfs.join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("ld-linux") || n.starts_with("libc.so.6"))
        .collect();
    if !glibc.is_empty() {
        bail!(
            "the musl-only root got glibc files ({}) from the packages {}; hint: list only musl and static packages in the recipe",
            glibc.join(", "),
            recipe.packages.join(" ")
        );
    }
    Ok(())
}

/// Put uv's own Windows build at /opt/uv-windows/uv.exe of the root: the wheel of the pinned
/// version tagged win_amd64 on the package index (`pip download --platform win_amd64`).
pub fn install_uv_windows(rootfs: &Path) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (wheel, mut zip) = super::container::uv_wheel(Some("win_amd64"), tmp.path())?;
    let dest = rootfs.join("opt/uv-windows");
    std::fs::create_dir_all(&dest)?;
    let mut found = 0;
    for exe in ["uv.exe", "uvx.exe"] {
        let Some(name) = zip
            .file_names()
            .find(|n| n.contains(".data/scripts/") && n.ends_with(&format!("/{exe}")))
            .map(str::to_string)
        else {
            continue;
        };
        let mut out = std::fs::File::create(dest.join(exe))?;
        std::io::copy(&mut zip.by_name(&name)?, &mut out)?;
        found += 1;
    }
    if found == 0 {
        bail!("{} has no uv.exe", wheel.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds (or finds cached) the images of the cells named in KTX_SMOKE_PREBUILD
    /// (comma-separated), under target/smoke: `cargo test -p ktx-release --lib prebuild --
    /// --ignored`, to warm the image cache before a run.
    #[test]
    #[ignore]
    fn prebuild_images_of_named_cells() {
        let names = std::env::var("KTX_SMOKE_PREBUILD").unwrap_or_default();
        let root = crate::repo_root();
        let (cells, _) = super::super::matrix::load(&root.join("matrix")).unwrap();
        let out = root.join("target/smoke");
        std::fs::create_dir_all(&out).unwrap();
        for cell in cells.iter().filter(|c| names.split(',').any(|n| n == c.id)) {
            let tag = super::super::container::ensure_image(cell.image.as_ref().unwrap(), &out)
                .unwrap_or_else(|e| panic!("{}: {e:#}", cell.id));
            eprintln!("{}: {tag}", cell.id);
        }
    }

    #[test]
    fn a_foreign_architecture_without_binfmt_is_unavailable_saying_how_to_fix_it() {
        let empty = tempfile::tempdir().unwrap();
        let foreign = if host_arch() == "arm64" {
            "amd64"
        } else {
            "arm64"
        };
        let why = arch_unavailable(foreign, empty.path()).unwrap();
        assert!(why.contains("binfmt_misc is not mounted"), "{why}");
        assert!(why.contains("scripts/emulation"), "{why}");
        std::fs::write(empty.path().join("status"), "enabled\n").unwrap();
        let why = arch_unavailable(foreign, empty.path()).unwrap();
        assert!(why.contains("not registered"), "{why}");
        let qemu = qemu_name(foreign).unwrap();
        let entry = empty.path().join(format!("qemu-{qemu}"));
        std::fs::write(&entry, "disabled\ninterpreter /x\nflags: PF\n").unwrap();
        assert!(arch_unavailable(foreign, empty.path())
            .unwrap()
            .contains("disabled"));
        std::fs::write(&entry, "enabled\ninterpreter /x\nflags: P\n").unwrap();
        assert!(arch_unavailable(foreign, empty.path())
            .unwrap()
            .contains("F flag"));
        std::fs::write(&entry, "enabled\ninterpreter /x\nflags: PF\n").unwrap();
        assert_eq!(arch_unavailable(foreign, empty.path()), None);
        assert_eq!(arch_unavailable(host_arch(), empty.path()), None);
    }

    #[test]
    fn a_cell_whose_binary_the_tarball_lacks_is_unavailable_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("p.tgz");
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::fast(),
        ));
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, "package/native/linux-x64/ktx", &b"elf"[..])
            .unwrap();
        b.into_inner().unwrap().finish().unwrap();
        assert_eq!(
            packed_binaries(&tgz).unwrap(),
            vec!["linux-x64".to_string()]
        );
        let cell: Cell = toml::from_str(
            "id = \"w\"\nbackend = \"container\"\nneeds_binaries = [\"win32-x64\"]\nchecks = []",
        )
        .unwrap();
        let why = unavailable(&cell, &tgz).unwrap();
        assert!(
            why.contains("native/win32-x64") && why.contains("it has: linux-x64"),
            "{why}"
        );
    }
}
