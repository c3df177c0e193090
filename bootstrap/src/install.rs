//! Installing the runtime, as one transaction no interruption can break:
//!
//! 1. verify the bundled wheel, find uv, take the version's install lock;
//! 2. collect what earlier, killed attempts left (their staging venvs, trash): while this
//!    process holds the install lock, no other attempt owns any of it;
//! 3. check the free space against what the venv will take ("disk full" before, not during);
//! 4. build in this attempt's own `.staging-<id>`: choose the interpreter (`python`), create
//!    the venv, install the wheel, run the payload-agnostic check (`-m ktx_host check`: every
//!    package imports, the payload's one-shot entry answers `--help`, METADATA's version is
//!    this CLI's);
//! 5. stop this version's daemon, wait for running commands (the use lock), then swap: the
//!    live venv steps aside, the new one takes its name, `manifest.json` is written last.
//!
//! A working runtime is never taken down before its replacement is verified: a failed or
//! interrupted rebuild (`--force`, a repair) leaves it answering. SIGINT/SIGTERM stop the
//! attempt and its children (`process`) and end with exit 130; a SIGKILL leaves only leftovers
//! that the next install collects. Orphans of a killed attempt write into a staging directory
//! no later attempt uses.

use crate::context::Ctx;
use crate::disk;
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::lock;
use crate::manifest::{self, PythonInfo, RuntimeManifest, State, UvInfo};
use crate::package::{FileDigest, Package};
use crate::paths::{venv_bin, Layout};
use crate::process;
use crate::progress::Progress;
use crate::python::{self, Interpreter};
use crate::uv::{self, Uv};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The least free space an install starts with when there is no venv to measure (the core of
/// our payload takes about 60 MB; KTX's real one about 250 MB).
pub const MIN_FREE_BYTES: u64 = 64 << 20;

/// The runtime for this CLI if it is installed, current, runnable and has `feature`; no process
/// is run.
pub fn ready(layout: &Layout, pkg: &Package, feature: Feature) -> Option<RuntimeManifest> {
    usable(layout, pkg).filter(|m| m.has(feature))
}

/// The runtime if it can serve this CLI as it is (`RuntimeState::read`, the one rule).
fn usable(layout: &Layout, pkg: &Package) -> Option<RuntimeManifest> {
    manifest::RuntimeState::read(layout, Some(&pkg.manifest.wheel.sha256)).usable()
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
        _ => ctx.layout.venv().exists() || !ctx.layout.leftovers().is_empty(),
    };
    if !consented_before {
        ctx.consent.ask(
            feature.name(),
            &explain(ctx, pkg, feature),
            &ctx.install_command(feature),
        )?;
    } else if let State::Present(m) = &state {
        let why = manifest::mismatch(m, &ctx.layout.version, &pkg.manifest.wheel.sha256)
            .map(|w| format!("is out of date ({w})"))
            .or_else(|| manifest::unusable(m).map(|w| format!("cannot run ({w})")));
        if let Some(why) = why {
            errln!(
                "ktx: the runtime at {} {why}; rebuilding it",
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

/// Install (or repair) the runtime with `features`; `force` rebuilds a working one (beside it).
pub fn install(
    ctx: &Ctx,
    pkg: &Package,
    features: &[Feature],
    force: bool,
) -> Result<RuntimeManifest> {
    let layout = &ctx.layout;
    pkg.verify_wheel()?;
    let uv = find_uv(ctx, pkg)?;
    disk::create_dir(&layout.root, 0o755)?;
    disk::create_dir(&layout.version_dir(), 0o755)?;
    let _lock = lock::exclusive(&layout.install_lock(), || {
        errln!(
            "ktx: another ktx is installing the runtime in {}; waiting for it",
            layout.version_dir().display()
        )
    })?;
    process::guarded(|| transaction(ctx, pkg, &uv, features, force))
}

/// The install under the lock, with interrupts caught.
fn transaction(
    ctx: &Ctx,
    pkg: &Package,
    uv: &Uv,
    features: &[Feature],
    force: bool,
) -> Result<RuntimeManifest> {
    let layout = &ctx.layout;
    for left in layout.leftovers() {
        disk::discard(&left)?;
    }
    // Another process may have finished the work while this one waited.
    let current = usable(layout, pkg);
    if let Some(m) = &current {
        if !force && features.iter().all(|&f| m.has(f)) {
            return Ok(m.clone());
        }
    }
    let rebuild = force || current.is_none();
    let log_path = new_log(layout)?;
    if rebuild {
        check_space(layout, &log_path)?;
    }
    let log = File::create(&log_path)
        .map_err(|e| Error::io("cannot create the install log", &log_path, e))?;
    let mut attempt = Attempt {
        ctx,
        pkg,
        uv,
        id: attempt_id(),
        log,
        log_path,
        progress: Progress::new(),
    };
    let result = (|| {
        let mut m = match current {
            Some(m) if !rebuild => m,
            _ => attempt.core()?,
        };
        for &f in features.iter().filter(|&&f| f != Feature::Core) {
            if !m.has(f) {
                attempt.extra(f, &mut m)?;
            }
        }
        Ok(m)
    })();
    let _ = disk::discard(&layout.staging(&attempt.id));
    match &result {
        Ok(m) => attempt.progress.finish(&format!(
            "runtime ready: {} ({}) on Python {} ({} {})",
            layout.version_dir().display(),
            m.feature_list(),
            m.python.version,
            m.python.source,
            m.python.base
        )),
        Err(_) => attempt.progress.abandon(),
    }
    result
}

/// Remove what interrupted installs left in this version's directory, under the install lock
/// (so that no attempt still owns any of it); the number removed.
pub fn collect_leftovers(layout: &Layout) -> Result<usize> {
    let _lock = lock::exclusive(&layout.install_lock(), || {
        errln!("ktx: waiting for the install in progress to finish")
    })?;
    let found = layout.leftovers();
    for left in &found {
        disk::discard(left)?;
    }
    Ok(found.len())
}

/// A name no other attempt has: this process and the time.
fn attempt_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Free space for another venv, checked before anything is built: the live venv's size when
/// there is one (a rebuild needs as much again), else `MIN_FREE_BYTES`.
fn check_space(layout: &Layout, log_path: &Path) -> Result<()> {
    let live = layout.venv();
    let needed = if live.is_dir() {
        disk::tree_size(&live).max(MIN_FREE_BYTES)
    } else {
        MIN_FREE_BYTES
    };
    match disk::free_bytes(&layout.version_dir()) {
        Some(free) if free < needed => Err(disk_full(layout, Some(free), needed, log_path)),
        _ => Ok(()),
    }
}

fn disk_full(layout: &Layout, free: Option<u64>, needed: u64, log_path: &Path) -> Error {
    let free = free.or_else(|| disk::free_bytes(&layout.version_dir()));
    Error::InstallFailed {
        reason: format!(
            "disk full: {} MB free under {}, about {} MB needed{}",
            free.map_or("?".into(), |f| disk::mb(f).to_string()),
            layout.root.display(),
            disk::mb(needed),
            if layout.venv().is_dir() {
                "; the runtime in place was not changed"
            } else {
                ""
            }
        ),
        log: log_path.to_path_buf(),
    }
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
    disk::create_dir(&logs, 0o700)?;
    let stamp = manifest::now_rfc3339().replace([':', '-'], "");
    Ok(logs.join(format!("install-{stamp}-{}.log", std::process::id())))
}

/// One install attempt: what every step needs, and the steps.
struct Attempt<'a> {
    ctx: &'a Ctx,
    pkg: &'a Package,
    uv: &'a Uv,
    /// Names this attempt's staging venv.
    id: String,
    log: File,
    log_path: PathBuf,
    progress: Progress,
}

impl Attempt<'_> {
    /// The error for an interrupted attempt: the runtime in place was not changed.
    fn interrupted(&self) -> Error {
        Error::Interrupted {
            state: format!(
                "the runtime in {} was not changed",
                self.ctx.layout.version_dir().display()
            ),
        }
    }

    /// Run one command under supervision, its output into the log (and its stdout returned);
    /// a failure names the log, a full disk says so.
    fn run(&mut self, mut cmd: Command, what: &str) -> Result<String> {
        if process::interrupted().is_some() {
            return Err(self.interrupted());
        }
        let shown = format!("{cmd:?}");
        if self.ctx.verbose {
            self.progress.println(&format!("ktx: $ {shown}"));
        }
        let _ = writeln!(self.log, "$ {shown}");
        let _ = self.log.flush();
        let err = self
            .log
            .try_clone()
            .map_err(|e| Error::io("cannot write the install log", &self.log_path, e))?;
        process::supervise(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| Error::InstallFailed {
                reason: format!("{what}: cannot run {shown}: {e}"),
                log: self.log_path.clone(),
            })?;
        // Read stdout on a thread so that a chatty child never blocks on a full pipe.
        let mut stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = std::io::Read::read_to_end(s, &mut buf);
            }
            buf
        });
        let waited = process::wait(&mut child);
        let out = reader.join().unwrap_or_default();
        let _ = self.log.write_all(&out);
        let status = match waited {
            Ok(Ok(status)) => status,
            Ok(Err(_signal)) => {
                let _ = writeln!(self.log, "# interrupted\n");
                return Err(self.interrupted());
            }
            Err(e) => {
                return Err(Error::InstallFailed {
                    reason: format!("{what}: {shown} did not finish: {e}"),
                    log: self.log_path.clone(),
                })
            }
        };
        let _ = writeln!(self.log, "# exit: {status}\n");
        let _ = self.log.flush();
        if !status.success() {
            let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            if text.contains("No space left on device") || text.contains("os error 28") {
                let needed = disk::tree_size(&self.ctx.layout.venv()).max(MIN_FREE_BYTES);
                return Err(disk_full(&self.ctx.layout, None, needed, &self.log_path));
            }
            return Err(Error::InstallFailed {
                reason: format!(
                    "{what} failed ({status})\n{}",
                    crate::output::tail_of(&self.log_path, 6)
                ),
                log: self.log_path.clone(),
            });
        }
        Ok(String::from_utf8_lossy(&out).to_string())
    }

    /// The interpreter for the venv: a suitable one on the machine, else a managed one.
    fn choose_python(&mut self) -> Result<Interpreter> {
        let layout = &self.ctx.layout;
        let spec = self.pkg.manifest.requires_python.clone();
        let wanted = python::request(spec.as_deref());
        self.progress
            .step(&format!("looking for a Python {wanted}"));
        let found = python::find(self.uv, layout, spec.as_deref());
        if process::interrupted().is_some() {
            return Err(self.interrupted());
        }
        let why = match found {
            Ok(found) => {
                let _ = writeln!(
                    self.log,
                    "# python {wanted}: {} ({})\n",
                    found.path.display(),
                    found.origin.name()
                );
                return Ok(found);
            }
            Err(why) => why,
        };
        let _ = writeln!(
            self.log,
            "# python {wanted}: none on this machine ({why})\n"
        );
        if python::downloads_forbidden() {
            return Err(Error::InstallFailed {
                reason: format!(
                    "the runtime needs Python {wanted}, this machine has none ({why}), and UV_PYTHON_DOWNLOADS forbids downloading one"
                ),
                log: self.log_path.clone(),
            });
        }
        self.progress.step(&format!(
            "downloading a managed Python {wanted} into {} (uv verifies its checksum)",
            python::install_dir(layout).display()
        ));
        let cmd = python::install_command(self.uv, layout, spec.as_deref())?;
        self.run(cmd, "downloading a managed Python")?;
        python::find(self.uv, layout, spec.as_deref()).map_err(|why| Error::InstallFailed {
            reason: format!("uv installed a Python {wanted} but cannot find it: {why}"),
            log: self.log_path.clone(),
        })
    }

    /// Build the core runtime beside the live one, verify it, then swap it in.
    fn core(&mut self) -> Result<RuntimeManifest> {
        let layout = self.ctx.layout.clone();
        let uv_version = uv::version(&self.uv.path)?;
        let interpreter = self.choose_python()?;
        let staging = layout.staging(&self.id);
        self.progress
            .step("creating the Python virtual environment");
        let mut venv = uv::command(&self.uv.path, &layout);
        venv.args(["venv", "--relocatable", "--color", "never", "--python"])
            .arg(&interpreter.path)
            .arg(&staging);
        self.run(venv, "creating the virtual environment")?;
        let staging_python = venv_bin(&staging, "python");
        self.progress.step(&format!(
            "installing kaelio-ktx {} and its dependencies",
            layout.version
        ));
        let pip = pip_install(
            self.uv,
            &layout,
            &staging_python,
            self.pkg.wheel_path().as_os_str(),
        )?;
        self.run(pip, "installing the wheel")?;
        self.progress
            .step("checking that the runtime imports and runs");
        self.check_entry(&staging_python)?;
        disk::restrict_writes(&staging);
        if process::interrupted().is_some() {
            return Err(self.interrupted());
        }
        let python_version = manifest::venv_python_version(&staging).unwrap_or_default();
        self.swap(&staging)?;
        let m = RuntimeManifest {
            cli_version: layout.version.clone(),
            wheel: FileDigest {
                file: self.pkg.manifest.wheel.file.clone(),
                sha256: self.pkg.manifest.wheel.sha256.clone(),
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
                path: self.uv.path.display().to_string(),
                version: uv_version,
                source: self.uv.source.describe().to_string(),
            },
            installed_at: manifest::now_rfc3339(),
        };
        manifest::write(&layout, &m)?;
        Ok(m)
    }

    /// Put the verified `staging` venv live: stop this version's daemon (it runs the old
    /// venv's code), wait until no command uses the runtime, then two renames; the caller
    /// writes the manifest right after. A crash between the renames reads as "broken, venv
    /// missing" and the next run rebuilds; it never reads as installed over a half venv.
    fn swap(&mut self, staging: &Path) -> Result<()> {
        let layout = self.ctx.layout.clone();
        if let Err(e) = crate::daemon::stop(&layout) {
            let _ = writeln!(self.log, "# could not stop the daemon: {e}");
        }
        let _in_use = lock::exclusive(&layout.use_lock(), || {
            errln!("ktx: waiting for the commands using the runtime to finish")
        })?;
        let live = layout.venv();
        let retired = layout.retired(&self.id);
        let had_live = live.exists();
        if had_live {
            std::fs::rename(&live, &retired)
                .map_err(|e| Error::io("cannot retire the old venv", &live, e))?;
        }
        if let Err(e) = std::fs::rename(staging, &live) {
            if had_live {
                let _ = std::fs::rename(&retired, &live);
            }
            return Err(Error::io("cannot move the new venv into place", &live, e));
        }
        if had_live {
            disk::discard(&retired)?;
        }
        Ok(())
    }

    /// The install check, the same for every payload: `python -I -m ktx_host check` imports
    /// every top-level package of the wheel and runs the payload's one-shot entry with
    /// `--help` (exit 0); the version it reports is the wheel's METADATA's, which must be this
    /// CLI's. What it ran and printed goes into the install log.
    fn check_entry(&mut self, python: &Path) -> Result<()> {
        let layout = self.ctx.layout.clone();
        let printed = self.run_check(runtime_check(python, &layout.version_dir()))?;
        let line = check_report(&printed, &layout.version).map_err(|why| Error::InstallFailed {
            reason: format!("the runtime check failed: {why}"),
            log: self.log_path.clone(),
        })?;
        let _ = writeln!(self.log, "# runtime check: {line}\n");
        Ok(())
    }

    /// Run the runtime check: like `run`, but its JSON report is read even when it failed.
    fn run_check(&mut self, cmd: Command) -> Result<String> {
        match self.run(cmd, "checking the runtime (imports, the one-shot entry)") {
            Ok(out) => Ok(out),
            Err(Error::InstallFailed { reason, log }) => {
                let logged = std::fs::read_to_string(&log).unwrap_or_default();
                let why = logged
                    .lines()
                    .rev()
                    .find_map(|l| {
                        serde_json::from_str::<serde_json::Value>(l.trim())
                            .ok()
                            .and_then(|v| v["error"].as_str().map(str::to_string))
                    })
                    .unwrap_or(reason);
                Err(Error::InstallFailed {
                    reason: format!("the runtime check failed: {why}"),
                    log,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Add a feature's extra to the live venv; the manifest records it only once it imports.
    fn extra(&mut self, feature: Feature, m: &mut RuntimeManifest) -> Result<()> {
        let layout = self.ctx.layout.clone();
        self.progress.step(&format!(
            "installing the {feature} feature (large download)"
        ));
        let extra = feature.extra().unwrap_or(feature.name());
        let spec = format!("{}[{extra}]", self.pkg.wheel_path().display());
        let pip = pip_install(self.uv, &layout, &layout.venv_python(), spec.as_ref())?;
        self.run(pip, &format!("installing {feature}"))?;
        self.progress
            .step(&format!("checking that {feature} imports"));
        let check = probe_command(
            &layout.venv_python(),
            &layout.version_dir(),
            &import_probe(self.pkg, &[feature], Probe::Entry),
        );
        self.run(check, &format!("importing {feature}"))?;
        disk::restrict_writes(&layout.venv());
        m.features.push(feature);
        manifest::write(&layout, m)
    }
}

/// The install check, the same for every payload: `python -I -m ktx_host check` run from
/// `dir`; it prints one JSON report (`check_report` reads it).
pub fn runtime_check(python: &Path, dir: &Path) -> Command {
    crate::isolation::python(python, dir, ["-m", "ktx_host", "check"])
}

/// What the runtime check's report says: `Ok(one line)` when every package imported, the
/// payload's one-shot entry answered `--help` and the installed version is `version`;
/// `Err(why)` otherwise. Doctor and install read it the same way.
pub fn check_report(printed: &str, version: &str) -> std::result::Result<String, String> {
    let report: serde_json::Value = printed
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or_default();
    if let Some(why) = report["error"].as_str() {
        return Err(why.to_string());
    }
    let found = report["version"].as_str().unwrap_or_default();
    if found != version {
        return Err(format!(
            "the installed kaelio-ktx is version {found:?}, expected {version} (the check printed {:?})",
            printed.trim().chars().take(200).collect::<String>()
        ));
    }
    let packages = report["packages"]
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let entry = report["oneshot"]["argv"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Ok(format!(
        "kaelio-ktx {found}: {packages} import; `{entry}` answers"
    ))
}

/// How deep an import check goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// When a feature is added: the wheel's top-level packages and each feature's imports.
    /// Cheap: what the ops import beyond that they compile on first use. (The payload's entry
    /// is checked by the host: `ktx_host check`.)
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
        "import importlib, pkgutil\n\
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
    code
}

/// Run the import probe with the venv's python, isolated, from `dir` (its children write
/// bytecode into the venv).
pub fn probe_command(python: &Path, dir: &Path, code: &str) -> Command {
    crate::isolation::python(python, dir, ["-c", code])
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
