//! Container cells: images built from Debian's packages (no registry pull is possible here):
//! `debootstrap --variant=minbase`, apt-get of the recipe's packages in a chroot, the pinned uv
//! when the recipe asks for it, then `docker import`, tagged by the recipe's digest so a second
//! run reuses the image. Containers run through testcontainers on the host network (the
//! registry and daemons stay on loopback) with the host's CA bundle mounted.

use super::matrix::{ImageRecipe, RootKind};
use super::sandbox::{Sandbox, StepOutput};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testcontainers::core::{ExecCommand, Mount};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

/// Bump when the way images are built changes, so cached images are rebuilt.
const RECIPE_VERSION: &str = "2";

/// Bump when the way musl-only roots are made changes (hashed only into their tags).
const MUSL_ONLY_VERSION: &str = "1";

/// Why container cells cannot run here, or None when a Docker engine answers.
pub fn engine_unavailable() -> Option<String> {
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "no Docker engine answers ({}); start one with scripts/docker-engine",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
        )),
        Err(e) => Some(format!(
            "the docker CLI is not installed ({e}); run scripts/docker-engine"
        )),
    }
}

pub fn image_tag(recipe: &ImageRecipe) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{RECIPE_VERSION}|{}|{}|{}|{}|{}",
        recipe.suite,
        recipe.packages.join(","),
        recipe.remove.join(","),
        recipe.uv,
        crate::uvpin::UV_VERSION
    ));
    if let Some(node) = &recipe.node {
        h.update(format!("|node {} npm {}", node.version, node.npm));
    }
    // Only recipes that use them hash these, so the tags of the others stay as they were.
    if let Some(arch) = &recipe.arch {
        h.update(format!("|arch {arch}"));
    }
    if recipe.root == RootKind::MuslOnly {
        h.update(format!("|root musl-only {MUSL_ONLY_VERSION}"));
    }
    if recipe.uv_windows {
        h.update("|uv windows");
    }
    let digest = ktx_bootstrap::package::hex(&h.finalize());
    format!(
        "ktx-smoke-{}{}{}{}{}{}:{}",
        match recipe.root {
            RootKind::Debian => recipe.suite.clone(),
            RootKind::MuslOnly => format!("musl-only-{}", recipe.suite),
        },
        recipe
            .arch
            .as_deref()
            .map(|a| format!("-{a}"))
            .unwrap_or_default(),
        if recipe.uv_windows { "-uvwin" } else { "" },
        if recipe.uv { "-uv" } else { "" },
        match &recipe.node {
            Some(n) => format!("-node{}", n.version.split('.').next().unwrap_or("")),
            None => String::new(),
        },
        if recipe.remove.is_empty() {
            ""
        } else {
            "-stripped"
        },
        &digest[..12]
    )
}

fn image_exists(tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", tag])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn sh(script: &str) -> Result<()> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .with_context(|| format!("cannot run: {script}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        bail!(
            "`{script}` failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Build (or reuse) the image of `recipe`; returns its tag.
pub fn ensure_image(recipe: &ImageRecipe, work: &Path) -> Result<String> {
    let tag = image_tag(recipe);
    if image_exists(&tag) {
        eprintln!("  image {tag}: cached");
        return Ok(tag);
    }
    let start = Instant::now();
    eprintln!(
        "  image {tag}: building from Debian {} (debootstrap minbase + apt)",
        recipe.suite
    );
    let mirror = std::env::var("KTX_SMOKE_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let rootfs = work.join(format!("rootfs-{}", tag.replace([':', '/'], "-")));
    let _ = std::fs::remove_dir_all(&rootfs);
    let r = rootfs.display();
    if recipe.root == RootKind::MuslOnly {
        super::emulation::make_musl_only_root(recipe, &rootfs)?;
        import(&rootfs, &tag, None)?;
        let _ = std::fs::remove_dir_all(&rootfs);
        eprintln!(
            "  image {tag}: built in {:.0}s",
            start.elapsed().as_secs_f64()
        );
        return Ok(tag);
    }
    sh(&format!(
        "debootstrap --variant=minbase {} {} {r} {mirror}",
        recipe
            .arch
            .as_deref()
            .map(|a| format!("--arch={a}"))
            .unwrap_or_default(),
        recipe.suite
    ))?;
    sh(&format!("cp /etc/resolv.conf {r}/etc/resolv.conf"))?;
    sh(&format!(
        "chroot {r} sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {} && apt-get clean && rm -rf /var/lib/apt/lists/*'",
        recipe.packages.join(" ")
    ))?;
    if !recipe.remove.is_empty() {
        // Purged without their dependents (npm keeps working without the python3 node-gyp
        // wants), and without their maintainer scripts (python3's own prerm needs the Python
        // being removed): the image then has no such program at all.
        for p in &recipe.remove {
            sh(&format!(
                "rm -f {r}/var/lib/dpkg/info/{p}.prerm {r}/var/lib/dpkg/info/{p}.postrm {r}/var/lib/dpkg/info/{p}:*.prerm {r}/var/lib/dpkg/info/{p}:*.postrm"
            ))?;
        }
        sh(&format!(
            "chroot {r} dpkg --purge --force-depends {}",
            recipe.remove.join(" ")
        ))?;
    }
    if recipe.uv {
        install_uv(&rootfs)?;
    }
    if let Some(node) = &recipe.node {
        install_node(&rootfs, node)?;
    }
    if recipe.uv_windows {
        super::emulation::install_uv_windows(&rootfs)?;
    }
    sh(&format!("rm -f {r}/etc/resolv.conf"))?;
    import(&rootfs, &tag, recipe.arch.as_deref())?;
    let _ = std::fs::remove_dir_all(&rootfs);
    eprintln!(
        "  image {tag}: built in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    Ok(tag)
}

/// `docker import` of a root as `tag` (of a foreign Debian architecture: that platform).
fn import(rootfs: &Path, tag: &str, arch: Option<&str>) -> Result<()> {
    let platform = arch
        .map(|a| format!("--platform linux/{a} "))
        .unwrap_or_default();
    sh(&format!(
        "tar -C {} -c . | docker import {platform}- {tag} >/dev/null",
        rootfs.display()
    ))
}

/// The pinned uv's wheel from the package index (`pip download`, for `platform` when given,
/// e.g. win_amd64), opened: the images take uv's own executables from it.
pub(super) fn uv_wheel(
    platform: Option<&str>,
    into: &Path,
) -> Result<(std::path::PathBuf, zip::ZipArchive<std::fs::File>)> {
    let version = crate::uvpin::UV_VERSION;
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary",
        ":all:",
    ]);
    if let Some(p) = platform {
        pip.args(["--platform", p]);
    }
    let st = pip
        .arg("-d")
        .arg(into)
        .arg(format!("uv=={version}"))
        .status()?;
    if !st.success() {
        bail!(
            "pip download uv=={version}{} failed; hint: the package index must serve uv's wheel{}",
            platform
                .map(|p| format!(" --platform {p}"))
                .unwrap_or_default(),
            platform.map(|p| format!(" for {p}")).unwrap_or_default()
        );
    }
    let wheel = std::fs::read_dir(into)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| {
            format!(
                "pip downloaded no uv wheel{}",
                platform.map(|p| format!(" for {p}")).unwrap_or_default()
            )
        })?;
    let zip = zip::ZipArchive::new(std::fs::File::open(&wheel)?)?;
    Ok((wheel, zip))
}

/// Put the pinned uv at /usr/local/bin/uv of the rootfs (from its wheel on the index).
fn install_uv(rootfs: &Path) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (_, mut zip) = uv_wheel(None, tmp.path())?;
    let name = zip
        .file_names()
        .find(|n| n.contains(".data/scripts/") && n.ends_with("/uv"))
        .map(str::to_string)
        .context("no uv in the wheel")?;
    let dest = rootfs.join("usr/local/bin/uv");
    std::fs::create_dir_all(dest.parent().unwrap())?;
    let mut out = std::fs::File::create(&dest)?;
    std::io::copy(&mut zip.by_name(&name)?, &mut out)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `npm pack` of `spec` from the registry into `dir` (npm checks the registry's integrity
/// digest); returns the tarball.
fn npm_pack_from_registry(spec: &str, dir: &Path) -> Result<PathBuf> {
    let out = Command::new(crate::pack::npm_command())
        .args(["pack", "--silent", "--pack-destination"])
        .arg(dir)
        .arg(spec)
        .env("npm_config_update_notifier", "false")
        .output()
        .with_context(|| format!("cannot run `npm pack {spec}`"))?;
    let name = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    if !out.status.success() || name.is_empty() {
        bail!(
            "`npm pack {spec}` failed:\n{}\nhint: the npm registry must be reachable (npm's registry and proxy settings apply)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(dir.join(name))
}

/// Put Node.js (nodejs.org's build, from the registry's `node-linux-<arch>` package) at
/// /usr/local/bin/node and npm at /usr/local/lib/node_modules/npm, with the npm and npx links.
fn install_node(rootfs: &Path, node: &super::matrix::NodeRecipe) -> Result<()> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => bail!("no Node.js package for {other} on the npm registry; hint: run container cells on x86_64 or aarch64"),
    };
    let tmp = tempfile::tempdir()?;
    let node_tgz =
        npm_pack_from_registry(&format!("node-linux-{arch}@{}", node.version), tmp.path())?;
    let npm_tgz = npm_pack_from_registry(&format!("npm@{}", node.npm), tmp.path())?;
    let local = rootfs.join("usr/local");
    let npm_dir = local.join("lib/node_modules/npm");
    std::fs::create_dir_all(local.join("bin"))?;
    std::fs::create_dir_all(&npm_dir)?;
    let unpack = |tgz: &Path, keep: &dyn Fn(&Path) -> Option<PathBuf>| -> Result<usize> {
        let mut n = 0;
        let mut archive =
            tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(tgz)?));
        for entry in archive.entries()? {
            let mut entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path()?.to_path_buf();
            let Some(dest) = name.strip_prefix("package").ok().and_then(keep) else {
                continue;
            };
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            entry.unpack(&dest)?;
            n += 1;
        }
        Ok(n)
    };
    let bin = local.join("bin/node");
    unpack(&node_tgz, &|p: &Path| {
        (p == Path::new("bin/node")).then(|| bin.clone())
    })?;
    if !bin.is_file() {
        bail!("{} has no package/bin/node", node_tgz.display());
    }
    unpack(&npm_tgz, &|p: &Path| Some(npm_dir.join(p)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
        for (link, script) in [("npm", "npm-cli.js"), ("npx", "npx-cli.js")] {
            let target = format!("../lib/node_modules/npm/bin/{script}");
            let _ = std::fs::remove_file(local.join("bin").join(link));
            std::os::unix::fs::symlink(&target, local.join("bin").join(link))?;
            std::fs::set_permissions(
                npm_dir.join("bin").join(script),
                std::fs::Permissions::from_mode(0o755),
            )?;
        }
    }
    Ok(())
}

pub struct ContainerSandbox {
    container: Container<GenericImage>,
    tag: String,
    work: PathBuf,
}

impl ContainerSandbox {
    /// `ca_env`: set SSL_CERT_FILE and NODE_EXTRA_CA_CERTS (the bundle is mounted as the
    /// system store either way); `env`: more variables for the cell.
    pub fn start(
        tag: &str,
        work: &Path,
        tarball: &Path,
        registry: &str,
        ca_env: bool,
        env: &[(String, String)],
    ) -> Result<ContainerSandbox> {
        let _ = std::fs::remove_dir_all(work);
        std::fs::create_dir_all(work)?;
        std::fs::copy(
            tarball,
            work.join(tarball.file_name().context("tarball has no name")?),
        )?;
        let (name, version) = tag.split_once(':').context("image tag without a version")?;
        let ca = std::env::var("SSL_CERT_FILE")
            .unwrap_or_else(|_| "/etc/ssl/certs/ca-certificates.crt".into());
        let mut image = GenericImage::new(name, version)
            .with_cmd(["sleep", "infinity"])
            .with_network("host")
            .with_mount(Mount::bind_mount(work.display().to_string(), "/smoke"))
            .with_env_var("HOME", "/root")
            .with_env_var("npm_config_registry", registry)
            .with_env_var("npm_config_update_notifier", "false")
            .with_env_var("npm_config_fund", "false")
            .with_env_var("npm_config_audit", "false")
            .with_env_var("LANG", "C.UTF-8");
        if Path::new(&ca).is_file() {
            image = image.with_mount(Mount::bind_mount(ca, "/etc/ssl/certs/ca-certificates.crt"));
            if ca_env {
                image = image
                    .with_env_var("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
                    .with_env_var("NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/ca-certificates.crt");
            }
        }
        for (k, v) in env {
            image = image.with_env_var(k, v);
        }
        for k in [
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "NO_PROXY",
            "UV_DEFAULT_INDEX",
            "UV_INDEX_URL",
            "PIP_INDEX_URL",
        ] {
            if let Ok(v) = std::env::var(k) {
                image = image.with_env_var(k, v);
            }
        }
        let container = image
            .start()
            .with_context(|| format!("cannot start a container of {tag}"))?;
        Ok(ContainerSandbox {
            container,
            tag: tag.to_string(),
            work: work.to_path_buf(),
        })
    }
}

impl Sandbox for ContainerSandbox {
    fn run(&mut self, script: &str, timeout: Duration) -> Result<StepOutput> {
        let start = Instant::now();
        let wrapped = format!(
            "cd /smoke && timeout -s KILL {} sh -c {}",
            timeout.as_secs().max(1),
            shell_quote(script)
        );
        let mut res = self
            .container
            .exec(ExecCommand::new(["sh", "-c", &wrapped]))?;
        let stdout = String::from_utf8_lossy(&res.stdout_to_vec()?).to_string();
        let stderr = String::from_utf8_lossy(&res.stderr_to_vec()?).to_string();
        let mut code = None;
        for _ in 0..100 {
            if let Some(c) = res.exit_code()? {
                code = Some(c as i32);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(StepOutput {
            code,
            timed_out: code == Some(137) && start.elapsed() >= timeout,
            stdout,
            stderr,
            took: start.elapsed(),
        })
    }

    fn describe(&self) -> String {
        format!(
            "container of {} (work dir {} mounted at /smoke)",
            self.tag,
            self.work.display()
        )
    }
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
