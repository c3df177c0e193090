//! Installing the runtime: verify the bundled wheel, find uv, take the version's install lock,
//! build the venv in `.staging`, install the wheel, smoke-run `ktx-daemon --version`, rename the
//! venv live, and write manifest.json last (the commit point). A run killed at any moment leaves
//! the old state or no manifest; the next run cleans up and installs again.

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::lock;
use crate::manifest::{self, PythonInfo, RuntimeManifest, State, UvInfo, CORE, LOCAL_EMBEDDINGS};
use crate::package::{FileDigest, Package};
use crate::paths::{venv_bin, Layout};
use crate::progress::Progress;
use crate::uv::{self, Uv};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The runtime for this CLI if it is installed, current and has `feature`; no process is run.
pub fn ready(layout: &Layout, pkg: &Package, feature: &str) -> Option<RuntimeManifest> {
    match manifest::read(layout) {
        State::Present(m)
            if manifest::mismatch(&m, &layout.version, &pkg.manifest.wheel.sha256).is_none()
                && m.has(feature)
                && Path::new(&m.daemon).is_file() =>
        {
            Some(*m)
        }
        _ => None,
    }
}

/// Make sure `feature` is installed for a command that needs it: reuse, repair or install
/// (asking first when nothing was ever installed here).
pub fn ensure(ctx: &Ctx, pkg: &Package, feature: &str) -> Result<RuntimeManifest> {
    if let Some(m) = ready(&ctx.layout, pkg, feature) {
        return Ok(m);
    }
    let state = manifest::read(&ctx.layout);
    let consented_before = match &state {
        State::Present(m) => feature == CORE || m.has(feature),
        _ => ctx.layout.venv().exists() || ctx.layout.staging().exists(),
    };
    if !consented_before {
        ctx.consent.ask(
            feature,
            &explain(ctx, feature),
            &ctx.install_command(feature),
        )?;
    } else if let State::Present(m) = &state {
        if let Some(why) = manifest::mismatch(m, &ctx.layout.version, &pkg.manifest.wheel.sha256) {
            eprintln!(
                "ktx: the runtime at {} is out of date ({why}); reinstalling",
                ctx.layout.version_dir().display()
            );
        }
    }
    install(ctx, pkg, &[feature.to_string()], false)
}

fn explain(ctx: &Ctx, feature: &str) -> String {
    if feature == LOCAL_EMBEDDINGS {
        format!(
            "This command needs ktx's local-embeddings feature: sentence-transformers and torch \
             (about 2 GB of Python packages on Linux, less on macOS) and the all-MiniLM-L6-v2 model \
             (about 90 MB), downloaded with uv into {}.",
            ctx.layout.version_dir().display()
        )
    } else {
        format!(
            "This command needs ktx's Python runtime. ktx will download Python dependencies \
             (sqlglot, pydantic, pyyaml, fastapi, uvicorn; about 30 MB) with uv and install them \
             into {}.",
            ctx.layout.version_dir().display()
        )
    }
}

/// Install (or repair) the runtime with `features`; `force` rebuilds a working one.
pub fn install(
    ctx: &Ctx,
    pkg: &Package,
    features: &[String],
    force: bool,
) -> Result<RuntimeManifest> {
    let layout = &ctx.layout;
    pkg.verify_wheel()?;
    let uv = find_uv(ctx, pkg)?;
    let dir = layout.version_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io("cannot create the runtime directory", &dir, e))?;
    let _lock = lock::exclusive(&layout.install_lock(), || {
        eprintln!(
            "ktx: another ktx is installing the runtime in {}; waiting for it",
            dir.display()
        )
    })?;
    // Another process may have finished the work while this one waited.
    let current = match manifest::read(layout) {
        State::Present(m)
            if manifest::mismatch(&m, &layout.version, &pkg.manifest.wheel.sha256).is_none()
                && Path::new(&m.daemon).is_file() =>
        {
            Some(*m)
        }
        _ => None,
    };
    if let Some(m) = &current {
        if !force && features.iter().all(|f| m.has(f)) {
            return Ok(m.clone());
        }
    }
    let log_path = new_log(layout)?;
    let mut log = File::create(&log_path)
        .map_err(|e| Error::io("cannot create the install log", &log_path, e))?;
    let progress = Progress::new();
    let result = (|| {
        let mut m = match current {
            Some(m) if !force => m,
            _ => install_core(ctx, pkg, &uv, &mut log, &log_path, &progress)?,
        };
        for f in features.iter().filter(|f| f.as_str() != CORE) {
            if !m.has(f) {
                install_extra(ctx, pkg, &uv, f, &mut m, &mut log, &log_path, &progress)?;
            }
        }
        Ok(m)
    })();
    match &result {
        Ok(m) => progress.finish(&format!(
            "runtime ready: {} ({})",
            layout.version_dir().display(),
            m.features.join(", ")
        )),
        Err(_) => progress.abandon(),
    }
    result
}

fn find_uv(ctx: &Ctx, pkg: &Package) -> Result<Uv> {
    let pin = &pkg.manifest.uv.version;
    if let Some(uv) = uv::locate(&ctx.layout, pin) {
        return Ok(uv);
    }
    crate::uv_download::obtain(ctx, pkg)
}

fn new_log(layout: &Layout) -> Result<PathBuf> {
    let logs = layout.logs();
    std::fs::create_dir_all(&logs)
        .map_err(|e| Error::io("cannot create the log directory", &logs, e))?;
    let stamp = manifest::now_rfc3339().replace([':', '-'], "");
    Ok(logs.join(format!("install-{stamp}-{}.log", std::process::id())))
}

/// Run one command with its output in the log; on failure, the error names the log.
fn run_logged(
    ctx: &Ctx,
    mut cmd: Command,
    log: &mut File,
    log_path: &Path,
    what: &str,
    progress: &Progress,
) -> Result<()> {
    let shown = format!("{cmd:?}");
    if ctx.verbose {
        progress.println(&format!("ktx: $ {shown}"));
    }
    let _ = writeln!(log, "$ {shown}");
    let _ = log.flush();
    let out = log
        .try_clone()
        .map_err(|e| Error::io("cannot write the install log", log_path, e))?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io("cannot write the install log", log_path, e))?;
    die_with_parent(&mut cmd);
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .status()
        .map_err(|e| Error::InstallFailed {
            reason: format!("{what}: cannot run {shown}: {e}"),
            log: log_path.to_path_buf(),
        })?;
    let _ = writeln!(log, "# exit: {status}\n");
    if !status.success() {
        let tail = tail_of(log_path, 6);
        return Err(Error::InstallFailed {
            reason: format!("{what} failed ({status})\n{tail}"),
            log: log_path.to_path_buf(),
        });
    }
    Ok(())
}

/// The last `n` lines of a file, indented, for an error message.
pub fn tail_of(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Take a leftover directory out of the way: rename it to `.trash-*` (atomic, even if an
/// orphaned uv of a killed ktx still writes into it), then delete it as far as possible.
fn remove_dir(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    let trash = parent.join(format!(
        ".trash-{}-{}",
        std::process::id(),
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    std::fs::rename(path, &trash).map_err(|e| Error::io("cannot remove", path, e))?;
    let _ = std::fs::remove_dir_all(&trash);
    Ok(())
}

/// Delete what earlier `remove_dir` calls could not (best effort).
fn empty_trash(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".trash-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Children of the install die with this ktx (Linux): a killed install leaves no uv behind
/// still writing into the staging directory.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

fn install_core(
    ctx: &Ctx,
    pkg: &Package,
    uv: &Uv,
    log: &mut File,
    log_path: &Path,
    progress: &Progress,
) -> Result<RuntimeManifest> {
    let layout = &ctx.layout;
    // The commit point goes first: from here until the new manifest is written, the runtime
    // reads as not installed.
    match std::fs::remove_file(layout.manifest()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("cannot remove", layout.manifest(), e))
        }
        _ => {}
    }
    remove_dir(&layout.staging())?;
    remove_dir(&layout.retired())?;
    empty_trash(&layout.version_dir());
    let uv_version = uv::version(&uv.path)?;
    let staging = layout.staging();
    progress.step("creating the Python virtual environment");
    let mut venv = uv::command(&uv.path, layout);
    venv.args(["venv", "--relocatable", "--color", "never"])
        .arg(&staging);
    run_logged(
        ctx,
        venv,
        log,
        log_path,
        "creating the virtual environment",
        progress,
    )?;
    let staging_python = venv_bin(&staging, "python");
    progress.step(&format!(
        "installing kaelio-ktx {} and its dependencies",
        layout.version
    ));
    let pip = pip_install(uv, layout, &staging_python, pkg.wheel_path().as_os_str());
    run_logged(ctx, pip, log, log_path, "installing the wheel", progress)?;
    progress.step("checking the runtime");
    let daemon = venv_bin(&staging, "ktx-daemon");
    let mut check = Command::new(&daemon);
    check.arg("--version");
    run_logged(
        ctx,
        check,
        log,
        log_path,
        "running ktx-daemon --version",
        progress,
    )?;
    let reported = Command::new(&daemon)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if reported != format!("ktx-daemon {}", layout.version) {
        return Err(Error::InstallFailed {
            reason: format!(
                "the installed ktx-daemon reports {reported:?}, expected ktx-daemon {}",
                layout.version
            ),
            log: log_path.to_path_buf(),
        });
    }
    // Go live: the old venv (if any) steps aside, the new one takes its name.
    let live = layout.venv();
    if live.exists() {
        std::fs::rename(&live, layout.retired())
            .map_err(|e| Error::io("cannot retire the old venv", &live, e))?;
    }
    std::fs::rename(&staging, &live)
        .map_err(|e| Error::io("cannot move the new venv into place", &live, e))?;
    remove_dir(&layout.retired())?;
    let python_version = venv_python_version(&live).unwrap_or_default();
    let m = RuntimeManifest {
        cli_version: layout.version.clone(),
        wheel: FileDigest {
            file: pkg.manifest.wheel.file.clone(),
            sha256: pkg.manifest.wheel.sha256.clone(),
        },
        python: PythonInfo {
            executable: layout.venv_python().display().to_string(),
            version: python_version,
        },
        daemon: layout.venv_daemon().display().to_string(),
        features: vec![CORE.to_string()],
        uv: UvInfo {
            path: uv.path.display().to_string(),
            version: uv_version,
            source: uv.source.describe().to_string(),
        },
        installed_at: manifest::now_rfc3339(),
    };
    manifest::write(layout, &m)?;
    Ok(m)
}

#[allow(clippy::too_many_arguments)]
fn install_extra(
    ctx: &Ctx,
    pkg: &Package,
    uv: &Uv,
    feature: &str,
    m: &mut RuntimeManifest,
    log: &mut File,
    log_path: &Path,
    progress: &Progress,
) -> Result<()> {
    let layout = &ctx.layout;
    progress.step(&format!(
        "installing the {feature} feature (large download)"
    ));
    let spec = format!("{}[{feature}]", pkg.wheel_path().display());
    let pip = pip_install(uv, layout, &layout.venv_python(), spec.as_ref());
    run_logged(
        ctx,
        pip,
        log,
        log_path,
        &format!("installing {feature}"),
        progress,
    )?;
    progress.step(&format!("checking that {feature} imports"));
    let mut check = Command::new(layout.venv_python());
    check.args(["-c", "import sentence_transformers, torch"]);
    run_logged(
        ctx,
        check,
        log,
        log_path,
        &format!("importing {feature}"),
        progress,
    )?;
    m.features.push(feature.to_string());
    manifest::write(layout, m)
}

/// `uv pip install SPEC` into the venv of `python`. Bytecode is compiled at install time, so
/// later runs start fast even where PYTHONDONTWRITEBYTECODE is set or the venv is read-only.
fn pip_install(uv: &Uv, layout: &Layout, python: &Path, spec: &std::ffi::OsStr) -> Command {
    let mut pip = uv::command(&uv.path, layout);
    pip.args([
        "pip",
        "install",
        "--compile-bytecode",
        "--color",
        "never",
        "--python",
    ])
    .arg(python)
    .arg(spec);
    pip
}

/// `version_info` (uv) or `version` (venv module) from pyvenv.cfg.
pub fn venv_python_version(venv: &Path) -> Option<String> {
    pyvenv_value(venv, "version_info").or_else(|| pyvenv_value(venv, "version"))
}

/// A key of `<venv>/pyvenv.cfg`.
pub fn pyvenv_value(venv: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}
