//! Installing the runtime: verify the bundled wheel, find uv, take the version's install lock,
//! choose the interpreter (`python`: the wheel's Requires-Python, a managed one if the machine
//! has none), build the venv in `.staging`, install the wheel, check that `ktx-daemon --version`
//! runs and the wheel's packages import, rename the venv live, and write manifest.json last
//! (the commit point). A run killed at any moment leaves the old state or no manifest; the next
//! run cleans up and installs again.

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::lock;
use crate::manifest::{self, PythonInfo, RuntimeManifest, State, UvInfo};
use crate::package::{FileDigest, Package};
use crate::paths::{venv_bin, Layout};
use crate::progress::Progress;
use crate::python::{self, Interpreter};
use crate::uv::{self, Uv};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The runtime for this CLI if it is installed, current and has `feature`; no process is run.
pub fn ready(layout: &Layout, pkg: &Package, feature: Feature) -> Option<RuntimeManifest> {
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
pub fn ensure(ctx: &Ctx, pkg: &Package, feature: Feature) -> Result<RuntimeManifest> {
    if let Some(m) = ready(&ctx.layout, pkg, feature) {
        return Ok(m);
    }
    let state = manifest::read(&ctx.layout);
    let consented_before = match &state {
        State::Present(m) => feature == Feature::Core || m.has(feature),
        _ => ctx.layout.venv().exists() || ctx.layout.staging().exists(),
    };
    if !consented_before {
        ctx.consent.ask(
            feature.name(),
            &explain(ctx, pkg, feature),
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
    install(ctx, pkg, &[feature], false)
}

/// About what a managed CPython download weighs (python-build-standalone, install_only).
const MANAGED_PYTHON_MB: u32 = 30;

/// What installing `feature` downloads, one line each, for the question before it.
pub fn downloads(ctx: &Ctx, pkg: &Package, feature: Feature) -> Vec<String> {
    let layout = &ctx.layout;
    if feature != Feature::Core {
        return vec![feature.downloads().to_string()];
    }
    let mut lines = Vec::new();
    let spec = python::request(pkg.manifest.requires_python.as_deref());
    let managed = format!(
        "a managed CPython {spec} (about {MANAGED_PYTHON_MB} MB, checksum-verified by uv) into {}",
        python::install_dir(layout).display()
    );
    match uv::locate(layout, &pkg.manifest.uv.version) {
        None => {
            let size = crate::targets::host()
                .and_then(|h| pkg.manifest.uv.targets.get(h.triple))
                .and_then(|p| p.get("index").or_else(|| p.get("github")))
                .and_then(|a| a.size)
                .map(|b| format!("about {} MB, ", b.div_ceil(1 << 20)))
                .unwrap_or_default();
            let from = crate::uv_download::Source::from_env()
                .map(|s| s.describe())
                .unwrap_or_default();
            lines.push(format!(
                "uv {} ({size}sha256-verified) from {from}",
                pkg.manifest.uv.version
            ));
            lines.push(format!(
                "{managed}, only if this machine has no Python {spec}"
            ));
        }
        Some(found) => {
            if python::find(&found, layout, Some(&spec)).is_err() {
                lines.push(format!("{managed}: this machine has no Python {spec}"));
            }
        }
    }
    let deps = pkg.dependency_names();
    let index = ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "the Python package index (pypi.org)".into());
    lines.push(if deps.is_empty() {
        format!("the Python dependencies of kaelio-ktx from {index}")
    } else {
        format!("{} and their dependencies, from {index}", deps.join(", "))
    });
    lines
}

fn explain(ctx: &Ctx, pkg: &Package, feature: Feature) -> String {
    let what = if feature == Feature::Core {
        "ktx's Python runtime".to_string()
    } else {
        format!("ktx's {feature} feature")
    };
    let mut text = format!(
        "This command needs {what}, installed into {}. ktx will download Python dependencies with uv:",
        ctx.layout.version_dir().display()
    );
    for line in downloads(ctx, pkg, feature) {
        text.push_str("\n  - ");
        text.push_str(&line);
    }
    text
}

/// Install (or repair) the runtime with `features`; `force` rebuilds a working one.
pub fn install(
    ctx: &Ctx,
    pkg: &Package,
    features: &[Feature],
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
        if !force && features.iter().all(|&f| m.has(f)) {
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
        for &f in features.iter().filter(|&&f| f != Feature::Core) {
            if !m.has(f) {
                install_extra(ctx, pkg, &uv, f, &mut m, &mut log, &log_path, &progress)?;
            }
        }
        Ok(m)
    })();
    match &result {
        Ok(m) => progress.finish(&format!(
            "runtime ready: {} ({}) on Python {} ({} {})",
            layout.version_dir().display(),
            m.feature_list(),
            m.python.version,
            m.python.source,
            m.python.base
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

/// As `run_logged`, and its standard output (also written to the log).
fn run_logged_output(
    ctx: &Ctx,
    mut cmd: Command,
    log: &mut File,
    log_path: &Path,
    what: &str,
    progress: &Progress,
) -> Result<String> {
    let shown = format!("{cmd:?}");
    if ctx.verbose {
        progress.println(&format!("ktx: $ {shown}"));
    }
    let _ = writeln!(log, "$ {shown}");
    die_with_parent(&mut cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::InstallFailed {
            reason: format!("{what}: cannot run {shown}: {e}"),
            log: log_path.to_path_buf(),
        })?;
    let _ = log.write_all(&out.stdout);
    let _ = log.write_all(&out.stderr);
    let _ = writeln!(log, "# exit: {}\n", out.status);
    let _ = log.flush();
    if !out.status.success() {
        let tail = tail_of(log_path, 6);
        return Err(Error::InstallFailed {
            reason: format!("{what} failed ({})\n{tail}", out.status),
            log: log_path.to_path_buf(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
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
    let interpreter = choose_python(ctx, pkg, uv, log, log_path, progress)?;
    let staging = layout.staging();
    progress.step("creating the Python virtual environment");
    let mut venv = uv::command(&uv.path, layout);
    venv.args(["venv", "--relocatable", "--color", "never", "--python"])
        .arg(&interpreter.path)
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
    let pip = pip_install(uv, layout, &staging_python, pkg.wheel_path().as_os_str())?;
    run_logged(ctx, pip, log, log_path, "installing the wheel", progress)?;
    progress.step("checking that the runtime imports and runs");
    let probe = probe_command(
        &staging_python,
        &import_probe(pkg, &[Feature::Core], Probe::Entry),
    );
    let reported = run_logged_output(
        ctx,
        probe,
        log,
        log_path,
        "checking the runtime (imports, ktx-daemon --version)",
        progress,
    )?;
    let reported = reported.trim();
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
            base: interpreter.path.display().to_string(),
            source: interpreter.origin.name().to_string(),
        },
        daemon: layout.venv_daemon().display().to_string(),
        features: vec![Feature::Core],
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
    feature: Feature,
    m: &mut RuntimeManifest,
    log: &mut File,
    log_path: &Path,
    progress: &Progress,
) -> Result<()> {
    let layout = &ctx.layout;
    progress.step(&format!(
        "installing the {feature} feature (large download)"
    ));
    let extra = feature.extra().unwrap_or(feature.name());
    let spec = format!("{}[{extra}]", pkg.wheel_path().display());
    let pip = pip_install(uv, layout, &layout.venv_python(), spec.as_ref())?;
    run_logged(
        ctx,
        pip,
        log,
        log_path,
        &format!("installing {feature}"),
        progress,
    )?;
    progress.step(&format!("checking that {feature} imports"));
    let check = probe_command(
        &layout.venv_python(),
        &import_probe(pkg, &[feature], Probe::Entry),
    );
    run_logged(
        ctx,
        check,
        log,
        log_path,
        &format!("importing {feature}"),
        progress,
    )?;
    m.features.push(feature);
    manifest::write(layout, m)
}

/// How deep an import check goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// At install, before the commit: the wheel's top-level packages, each feature's imports,
    /// then `ktx_daemon --version` run as ktx runs it (`-m ktx_daemon`). Cheap: what the ops
    /// import beyond that they compile on first use.
    Entry,
    /// For `runtime doctor`: every module of the wheel's packages, then each feature's imports.
    /// A module may lack an optional dependency from outside the wheel (ModuleNotFoundError
    /// naming another package): that is not a failure.
    Every,
}

/// The Python of an import check (`Probe`) of the wheel's packages and `features`. A missing
/// dependency, a truncated file or a broken interpreter fails it; run without
/// PYTHONDONTWRITEBYTECODE, it leaves the bytecode of what it imported in the venv.
pub fn import_probe(pkg: &Package, features: &[Feature], depth: Probe) -> String {
    let tops: Vec<&str> = pkg
        .manifest
        .packages
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let mut code = format!(
        "import importlib, pkgutil, runpy, sys\n\
         tops = {}\n\
         for top in tops:\n\
         \x20   m = importlib.import_module(top)\n",
        serde_json::to_string(&tops).unwrap_or_else(|_| "[]".into())
    );
    if depth == Probe::Every {
        code.push_str(
            "    for info in pkgutil.walk_packages(getattr(m, '__path__', []), top + '.'):\n\
             \x20       if info.name.endswith('.__main__'):\n\
             \x20           continue\n\
             \x20       try:\n\
             \x20           importlib.import_module(info.name)\n\
             \x20       except ModuleNotFoundError as e:\n\
             \x20           if (e.name or '').split('.')[0] in tops:\n\
             \x20               raise\n",
        );
    }
    for f in features {
        if !f.probe().is_empty() {
            code.push_str(f.probe());
            code.push('\n');
        }
    }
    if depth == Probe::Entry {
        code.push_str(
            "sys.argv = ['ktx-daemon', '--version']\n\
             runpy.run_module('ktx_daemon', run_name='__main__', alter_sys=True)\n",
        );
    }
    code
}

/// Run the import probe with the venv's python (its children write bytecode into the venv).
pub fn probe_command(python: &Path, code: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-c", code]).env_remove("PYTHONDONTWRITEBYTECODE");
    cmd
}

/// The interpreter for the venv: a suitable one on the machine, else a managed one.
fn choose_python(
    ctx: &Ctx,
    pkg: &Package,
    uv: &Uv,
    log: &mut File,
    log_path: &Path,
    progress: &Progress,
) -> Result<Interpreter> {
    let layout = &ctx.layout;
    let spec = pkg.manifest.requires_python.as_deref();
    let wanted = python::request(spec);
    progress.step(&format!("looking for a Python {wanted}"));
    let why = match python::find(uv, layout, spec) {
        Ok(found) => {
            let _ = writeln!(
                log,
                "# python {wanted}: {} ({})\n",
                found.path.display(),
                found.origin.name()
            );
            return Ok(found);
        }
        Err(why) => why,
    };
    let _ = writeln!(log, "# python {wanted}: none on this machine ({why})\n");
    if python::downloads_forbidden() {
        return Err(Error::InstallFailed {
            reason: format!(
                "the runtime needs Python {wanted}, this machine has none ({why}), and UV_PYTHON_DOWNLOADS forbids downloading one"
            ),
            log: log_path.to_path_buf(),
        });
    }
    progress.step(&format!(
        "downloading a managed Python {wanted} into {} (uv verifies its checksum)",
        python::install_dir(layout).display()
    ));
    let cmd = python::install_command(uv, layout, spec)?;
    run_logged(
        ctx,
        cmd,
        log,
        log_path,
        "downloading a managed Python",
        progress,
    )?;
    python::find(uv, layout, spec).map_err(|why| Error::InstallFailed {
        reason: format!("uv installed a Python {wanted} but cannot find it: {why}"),
        log: log_path.to_path_buf(),
    })
}

/// `uv pip install SPEC` into the venv of `python`. No bytecode is compiled here (seconds for
/// a heavy payload): the import probe compiles what the ops import, and ktx's Python children
/// may write the rest on first use.
fn pip_install(uv: &Uv, layout: &Layout, python: &Path, spec: &std::ffi::OsStr) -> Result<Command> {
    let mut pip = uv::command(&uv.path, layout);
    uv::trust_for_downloads(&mut pip, layout)?;
    pip.args(["pip", "install", "--color", "never", "--python"])
        .arg(python)
        .arg(spec);
    Ok(pip)
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
