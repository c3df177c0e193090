//! `ktx-release pack`: the npm package staged from npm/, the wheel, the native binaries (each
//! checked against its platform directory, recorded in `native/targets.json`) and the runtime
//! manifest, packed by the real `npm pack`, then verified (see `verify`). The tarball appears in
//! dist/ only once verified; a failure leaves nothing there. A glibc build above the glibc floor
//! is packed with a warning (test packages of a plain `cargo build` binary); `verify` refuses it.
//! In the platforms layout (`npm_layout`) the staged package is split into the main package and
//! one package per binary before packing, and all of them appear in dist/ once all verify.

use crate::native::{self, NativeBinary};
use crate::npm_layout;
use crate::payload::{Payload, ProjectSpec};
use crate::set_mode;
use crate::uvpin;
use crate::verify;
use crate::wheel::{self, BuiltWheel};
use crate::workspace::Workspace;
use anyhow::{bail, Context, Result};
use ktx_bootstrap::package::{BundledManifest, FileDigest, MANIFEST_PATH};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct StageOptions<'a> {
    pub repo: &'a Path,
    pub wheel: &'a BuiltWheel,
    pub binaries: &'a [NativeBinary],
    /// Where the uv pins are cached between runs.
    pub pin_cache: &'a Path,
    pub require_github_pins: bool,
    /// Pack as this version instead of the workspace's (`pack --version`: the upgrade cell's
    /// previous release; its binary must be built with KTX_BUILD_VERSION set to it).
    pub version: Option<&'a str>,
}

/// Lay the package out in `dir` (created fresh): what `npm pack` will pack.
pub fn stage(opts: &StageOptions, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let npm = opts.repo.join("npm");
    std::fs::create_dir_all(dir.join("dist"))?;
    std::fs::create_dir_all(dir.join("python"))?;
    copy(&npm.join("README.md"), &dir.join("README.md"), 0o644)?;
    let version = match opts.version {
        Some(v) => v.to_string(),
        None => Workspace::load(opts.repo)?.version,
    };
    let package_json = npm.join("package.json");
    let mut pkg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&package_json)
            .with_context(|| format!("cannot read {}", package_json.display()))?,
    )
    .with_context(|| format!("{} is not JSON", package_json.display()))?;
    pkg["version"] = serde_json::Value::String(version.clone());
    write(
        &dir.join("package.json"),
        &(serde_json::to_string_pretty(&pkg)? + "\n"),
    )?;
    copy(&npm.join("src/bin.js"), &dir.join("dist/bin.js"), 0o755)?;
    copy_tree(&npm.join("assets"), &dir.join("assets"))?;
    if opts.binaries.is_empty() {
        bail!("no native binary to pack; build one with `ktx-release binary` or pass --binary DIR=PATH");
    }
    let mut record = native::Record::new();
    for b in opts.binaries {
        let name = if b.npm_dir.starts_with("win32") {
            "ktx.exe"
        } else {
            "ktx"
        };
        let bytes = std::fs::read(&b.path)
            .with_context(|| format!("cannot read the native binary {}", b.path.display()))?;
        let file = b.path.display().to_string();
        let inspected = native::inspect(&file, &b.npm_dir, &bytes)?;
        if let Some(above) = inspected.above_floor(&file) {
            // Packed anyway (a test package of a plain `cargo build`); `verify` refuses it.
            eprintln!("warning: {above}
warning: this package is for tests only: `ktx-release verify` (and `check`, and the release workflow) refuse it");
        }
        record.insert(b.npm_dir.clone(), inspected.entry());
        copy(
            &b.path,
            &dir.join("native").join(&b.npm_dir).join(name),
            0o755,
        )?;
    }
    write(
        &dir.join(native::RECORD_PATH),
        &(serde_json::to_string_pretty(&record)? + "\n"),
    )?;
    let wheel_name = opts
        .wheel
        .path
        .file_name()
        .context("wheel path has no file name")?;
    copy(
        &opts.wheel.path,
        &dir.join("python").join(wheel_name),
        0o644,
    )?;
    let manifest = BundledManifest {
        version,
        wheel: FileDigest {
            file: wheel_name.to_string_lossy().to_string(),
            sha256: opts.wheel.sha256.clone(),
        },
        requires_python: opts.wheel.requires_python.clone(),
        packages: opts.wheel.packages.clone(),
        uv: uvpin::resolve(opts.pin_cache, opts.require_github_pins)?,
    };
    // `payload`: what the runtime host runs, as the wheel's ktx_host/payload.json says (verify
    // holds them equal).
    let mut manifest = serde_json::to_value(&manifest)?;
    manifest["payload"] = serde_json::to_value(&opts.wheel.payload)?;
    write(
        &dir.join(MANIFEST_PATH),
        &(serde_json::to_string_pretty(&manifest)? + "\n"),
    )?;
    Ok(())
}

/// Run `npm pack` on `stage_dir`, verify the result and move it into `out_dir`.
pub fn npm_pack(stage_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".pack-")
        .tempdir_in(out_dir)?;
    let produced = run_npm_pack(stage_dir, tmp.path())?;
    let name = produced
        .file_name()
        .context("npm pack wrote no file name")?
        .to_owned();
    // The glibc floor is reported here (see `stage`) and enforced by `verify`; the versions
    // must agree with the one staged (`verify` holds them to Cargo's).
    let staged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stage_dir.join("package.json"))?)?;
    let version = staged["version"].as_str().unwrap_or_default();
    verify::verify_tarball_as(&produced, verify::Floor::Report, version)?;
    let final_path = out_dir.join(&name);
    std::fs::rename(&produced, &final_path)?;
    Ok(final_path)
}

/// `npm pack` of `stage_dir` into `dest`; returns the tarball npm names.
fn run_npm_pack(stage_dir: &Path, dest: &Path) -> Result<PathBuf> {
    let output = Command::new(npm_command())
        .arg("pack")
        .arg("--pack-destination")
        .arg(dest)
        .arg(stage_dir)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .output()
        .context("cannot run `npm pack`; install Node.js and npm")?;
    if !output.status.success() {
        bail!(
            "`npm pack {}` failed:\n{}",
            stage_dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let name = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find(|l| l.trim().ends_with(".tgz"))
        .map(|l| l.trim().to_string())
        .context("`npm pack` did not name the tarball it wrote")?;
    Ok(dest.join(name))
}

/// What `npm_pack_platforms` wrote: the main tarball and the platform tarballs beside it, in the
/// order they are published (platform packages first).
#[derive(Debug, Clone)]
pub struct Packed {
    pub main: PathBuf,
    pub platforms: Vec<PathBuf>,
}

impl Packed {
    /// Every tarball in publishing order: the platform packages, then the main one (so that the
    /// main package never names a version the registry does not have yet).
    pub fn publish_order(&self) -> Vec<PathBuf> {
        let mut all = self.platforms.clone();
        all.push(self.main.clone());
        all
    }
}

/// Split the single-layout package staged at `stage_dir` into the platforms layout (see
/// `npm_layout`), `npm pack` each package, verify them together and move them into `out_dir`.
pub fn npm_pack_platforms(stage_dir: &Path, out_dir: &Path) -> Result<Packed> {
    pack_platforms(stage_dir, out_dir, true)
}

fn pack_platforms(stage_dir: &Path, out_dir: &Path, check: bool) -> Result<Packed> {
    std::fs::create_dir_all(out_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".pack-")
        .tempdir_in(out_dir)?;
    let stages = npm_layout::split(stage_dir, &tmp.path().join("platforms"))?;
    let packed_dir = tmp.path().join("packed");
    std::fs::create_dir_all(&packed_dir)?;
    let mut platforms = Vec::new();
    for s in &stages {
        platforms.push(run_npm_pack(&s.path, &packed_dir)?);
    }
    let main = run_npm_pack(stage_dir, &packed_dir)?;
    if check {
        let staged: serde_json::Value =
            serde_json::from_slice(&std::fs::read(stage_dir.join("package.json"))?)?;
        let version = staged["version"].as_str().unwrap_or_default();
        verify::verify_tarball_as(&main, verify::Floor::Report, version)?;
    }
    let mut moved = Vec::new();
    for p in platforms.iter().chain(std::iter::once(&main)) {
        let to = out_dir.join(p.file_name().context("npm pack wrote no file name")?);
        std::fs::rename(p, &to)
            .with_context(|| format!("cannot move {} to {}", p.display(), to.display()))?;
        moved.push(to);
    }
    let main = moved.pop().expect("the main tarball was moved last");
    Ok(Packed {
        main,
        platforms: moved,
    })
}

/// The release set of `tarball` in publishing order, unverified (the smoke's `tarball` check
/// judges it; a broken package must still reach the checks that name its defect): a
/// single-layout tarball is split into the platforms layout under `work` (what npm users get
/// from the registry); a platforms-layout main tarball comes with the platform tarballs its
/// `optionalDependencies` name, from beside it.
pub fn release_set(tarball: &Path, work: &Path) -> Result<Packed> {
    let unpacked = tempfile::Builder::new().prefix(".unpack-").tempdir_in({
        std::fs::create_dir_all(work)?;
        work
    })?;
    let root = npm_layout::unpack(tarball, unpacked.path())?;
    let pkg: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("package.json"))?)
        .with_context(|| format!("{}: package/package.json is not JSON", tarball.display()))?;
    if !npm_layout::is_platforms_main(&pkg) {
        let has_binary = std::fs::read_dir(root.join("native"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| d.path().is_dir());
        if !has_binary {
            // Nothing to split: published as it is, for the checks to name what is missing.
            return Ok(Packed {
                main: tarball.to_path_buf(),
                platforms: Vec::new(),
            });
        }
        return pack_platforms(&root, work, false);
    }
    let version = pkg["version"].as_str().unwrap_or_default();
    let beside = tarball.parent().unwrap_or(Path::new("."));
    let mut platforms = Vec::new();
    for name in pkg["optionalDependencies"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
    {
        let file = beside.join(npm_layout::tarball_name(name, version));
        if !file.is_file() {
            bail!(
                "{} names {name} in optionalDependencies, but {} is missing beside it; hint: keep every tarball `ktx-release pack --layout platforms` wrote together",
                tarball.display(),
                file.display()
            );
        }
        platforms.push(file);
    }
    Ok(Packed {
        main: tarball.to_path_buf(),
        platforms,
    })
}

pub fn npm_command() -> &'static str {
    if cfg!(windows) {
        "npm.cmd"
    } else {
        "npm"
    }
}

/// The payload project of the default shape.
pub const DEFAULT_PROJECT: &str = "python";

/// The runtime host's project, merged into every wheel whatever the `--project`s.
pub const HOST_PROJECT: &str = "python/host";

/// Merge the payload projects (relative paths are taken from the repository) at the workspace
/// version and build their one wheel into `out_dir`.
pub fn build_payload_wheel(
    repo: &Path,
    projects: &[PathBuf],
    out_dir: &Path,
) -> Result<BuiltWheel> {
    wheel::build(&load_payload(repo, projects)?, out_dir)
}

/// As `build_payload_wheel`, at `version` instead of the workspace's.
pub fn build_payload_wheel_as(
    repo: &Path,
    projects: &[PathBuf],
    out_dir: &Path,
    version: &str,
) -> Result<BuiltWheel> {
    // Checked against the workspace's version as always, then relabelled.
    let mut payload = load_payload(repo, projects)?;
    payload.version = version.to_string();
    wheel::build(&payload, out_dir)
}

/// The merged payload of `projects` (each `DIR` or `DIR#pkg,pkg`, see `ProjectSpec`) and the
/// runtime host at the workspace version.
pub fn load_payload(repo: &Path, projects: &[PathBuf]) -> Result<Payload> {
    let specs = projects
        .iter()
        .map(|p| {
            let mut spec = ProjectSpec::parse(p)?;
            spec.dir = repo.join(&spec.dir);
            Ok(spec)
        })
        .collect::<Result<Vec<_>>>()?;
    Payload::load(
        &specs,
        &repo.join(HOST_PROJECT),
        &Workspace::load(repo)?.version,
    )
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    set_mode(to, mode)
}

/// Write a generated file at 0644 whatever the umask (`npm pack` keeps the mode it finds, and
/// the tarball must not depend on who packed it).
fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, 0o644)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            copy(&entry.path(), &target, 0o644)?;
        }
    }
    Ok(())
}
