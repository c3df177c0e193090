//! `ktx runtime doctor [--json] [--fix]`: every check of the runtime, each with its level and
//! what repairs it; `--fix` runs the repairs, then checks again. Exit 1 when a check fails.

use super::RuntimeState;
use crate::commands::print_json;
use crate::context::Ctx;
use crate::daemon::Problem;
use crate::disk;
use crate::error::Result;
use crate::feature::Feature;
use crate::install;
use crate::manifest::{self, State};
use crate::package::Package;
use crate::paths::Layout;
use crate::uv;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works now, but something is worth doing.
    Warn,
    /// Broken: the runtime cannot serve (exit 1).
    Fail,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// What doctor looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckId {
    Package,
    Uv,
    RuntimeDir,
    Manifest,
    Interpreter,
    Python,
    KtxDaemon,
    Imports,
    Index,
    Leftovers,
    DaemonState,
    Disk,
}

/// What `--fix` does about a finding that is not ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Nothing ktx can do (the fix text says what you can).
    None,
    /// Build the runtime again, beside the live one.
    Rebuild,
    /// Remove what interrupted installs left.
    CollectLeftovers,
    /// Remove the state file of a daemon that is gone.
    RemoveDaemonState,
}

impl CheckId {
    pub fn name(self) -> &'static str {
        match self {
            CheckId::Package => "package",
            CheckId::Uv => "uv",
            CheckId::RuntimeDir => "runtime dir",
            CheckId::Manifest => "manifest",
            CheckId::Interpreter => "interpreter",
            CheckId::Python => "python",
            CheckId::KtxDaemon => "ktx-daemon",
            CheckId::Imports => "imports",
            CheckId::Index => "index",
            CheckId::Leftovers => "leftovers",
            CheckId::DaemonState => "daemon state",
            CheckId::Disk => "disk",
        }
    }

    /// The repair of a failing (or, for leftovers and daemon state, warning) finding.
    pub fn repair(self) -> Repair {
        match self {
            CheckId::Manifest
            | CheckId::Interpreter
            | CheckId::Python
            | CheckId::KtxDaemon
            | CheckId::Imports => Repair::Rebuild,
            CheckId::Leftovers => Repair::CollectLeftovers,
            CheckId::DaemonState => Repair::RemoveDaemonState,
            CheckId::Package
            | CheckId::Uv
            | CheckId::RuntimeDir
            | CheckId::Index
            | CheckId::Disk => Repair::None,
        }
    }
}

/// One finding.
pub struct Check {
    pub id: CheckId,
    pub level: Level,
    pub detail: String,
    pub fix: Option<String>,
}

fn ok(id: CheckId, detail: impl Into<String>) -> Check {
    Check {
        id,
        level: Level::Ok,
        detail: detail.into(),
        fix: None,
    }
}
fn warn(id: CheckId, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        id,
        level: Level::Warn,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}
fn fail(id: CheckId, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        id,
        level: Level::Fail,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

const REBUILD: &str = "run `ktx runtime doctor --fix` to rebuild it (the runtime in place keeps working until the new one is verified)";

fn run_quiet(cmd: &mut Command) -> std::result::Result<String, String> {
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .trim()
            .to_string()),
        Err(e) => Err(e.to_string()),
    }
}

pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let layout = &ctx.layout;
    let mut out = Vec::new();
    let pkg = match Package::locate() {
        Ok(p) => {
            match p.verify_wheel() {
                Ok(()) => out.push(ok(
                    CheckId::Package,
                    format!("{} (wheel digest verified)", p.root.display()),
                )),
                Err(e) => out.push(fail(
                    CheckId::Package,
                    e.to_string(),
                    "reinstall @kaelio/ktx (npm cache clean --force)",
                )),
            }
            Some(p)
        }
        Err(e) => {
            out.push(fail(
                CheckId::Package,
                e.to_string(),
                e.hint().unwrap_or_default(),
            ));
            None
        }
    };
    let pin = pkg
        .as_ref()
        .map(|p| p.manifest.uv.version.clone())
        .unwrap_or_default();
    let found_uv = uv::locate(layout, &pin);
    match &found_uv {
        Some(u) => match uv::version(&u.path) {
            Ok(v) => out.push(ok(
                CheckId::Uv,
                format!("uv {v} at {} ({})", u.path.display(), u.source.describe()),
            )),
            Err(e) => out.push(fail(
                CheckId::Uv,
                e.to_string(),
                "point KTX_UV at a working uv, or run `ktx bootstrap`",
            )),
        },
        None => out.push(warn(
            CheckId::Uv,
            "no uv found (KTX_UV, PATH, downloaded)",
            "run `ktx bootstrap` to download the pinned uv",
        )),
    }
    let writable = std::fs::create_dir_all(&layout.root)
        .and_then(|_| tempfile::tempfile_in(&layout.root).map(|_| ()));
    match writable {
        Ok(()) => out.push(ok(
            CheckId::RuntimeDir,
            format!("{} is writable", layout.root.display()),
        )),
        Err(e) => out.push(warn(
            CheckId::RuntimeDir,
            format!(
                "{} is not writable ({e}): an installed runtime still answers, but nothing can be installed or repaired",
                layout.root.display()
            ),
            "fix its permissions or use --runtime-dir / KTX_RUNTIME_ROOT",
        )),
    }
    let runtime = RuntimeState::read(layout, pkg.as_ref());
    match &runtime {
        RuntimeState::NotInstalled => out.push(warn(
            CheckId::Manifest,
            "the runtime is not installed",
            "run `ktx runtime install` (or any Python-backed command)",
        )),
        RuntimeState::Broken {
            manifest: None,
            why,
        } => out.push(fail(CheckId::Manifest, why.clone(), REBUILD)),
        RuntimeState::Outdated { why, .. } => out.push(fail(
            CheckId::Manifest,
            why.clone(),
            "run `ktx runtime doctor --fix` to reinstall for this version",
        )),
        RuntimeState::Installed(m)
        | RuntimeState::Broken {
            manifest: Some(m), ..
        } => out.push(ok(
            CheckId::Manifest,
            format!("installed {} ({})", m.installed_at, m.feature_list()),
        )),
    }
    if let Some(m) = runtime.manifest() {
        match manifest::unusable(m) {
            Some(why) => out.push(fail(CheckId::Interpreter, why, REBUILD)),
            None => match run_quiet(&mut crate::isolation::python(
                Path::new(&m.python.executable),
                &layout.version_dir(),
                ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            )) {
                Ok(v) => out.push(ok(
                    CheckId::Interpreter,
                    format!(
                        "{} runs Python {v} ({} interpreter {})",
                        m.python.executable, m.python.source, m.python.base
                    ),
                )),
                Err(e) => out.push(fail(
                    CheckId::Interpreter,
                    format!("{} does not run: {e}", m.python.executable),
                    REBUILD,
                )),
            },
        }
        if let Some(spec) = pkg
            .as_ref()
            .and_then(|p| p.manifest.requires_python.clone())
        {
            match crate::python::satisfies(&m.python.version, &spec) {
                Some(false) => out.push(fail(
                    CheckId::Python,
                    format!(
                        "the venv's Python {} does not satisfy the wheel's Requires-Python {spec}",
                        m.python.version
                    ),
                    REBUILD,
                )),
                _ => out.push(ok(
                    CheckId::Python,
                    format!("Python {} satisfies {spec}", m.python.version),
                )),
            }
        }
        let python = Path::new(&m.python.executable);
        let check = install::runtime_check(python, &layout.version_dir()).output();
        match check {
            Ok(o) => {
                match install::check_report(&String::from_utf8_lossy(&o.stdout), &layout.version) {
                    Ok(line) => out.push(ok(CheckId::KtxDaemon, line)),
                    Err(why) => out.push(fail(CheckId::KtxDaemon, why, REBUILD)),
                }
            }
            Err(e) => out.push(fail(
                CheckId::KtxDaemon,
                format!(
                    "{} -m ktx_host check does not run: {e}",
                    m.python.executable
                ),
                REBUILD,
            )),
        }
        if let Some(p) = &pkg {
            let code = install::import_probe(p, &m.features, install::Probe::Every);
            let what = format!(
                "every module of {} imports ({})",
                if p.manifest.packages.is_empty() {
                    "the wheel".to_string()
                } else {
                    p.manifest.packages.join(", ")
                },
                m.feature_list()
            );
            match run_quiet(&mut install::probe_command(
                python,
                &layout.version_dir(),
                &code,
            )) {
                Ok(_) => out.push(ok(CheckId::Imports, what)),
                Err(e) => out.push(fail(CheckId::Imports, e, REBUILD)),
            }
        }
    }
    if let (Some(p), Some(u)) = (&pkg, &found_uv) {
        out.push(index_check(layout, p, u, runtime.manifest()));
    }
    let leftovers = layout.leftovers();
    if leftovers.is_empty() {
        out.push(ok(CheckId::Leftovers, "none from interrupted installs"));
    } else {
        let size: u64 = leftovers.iter().map(|p| disk::tree_size(p)).sum();
        out.push(warn(
            CheckId::Leftovers,
            format!(
                "{} left by interrupted installs ({}): {}",
                leftovers.len(),
                disk::human(size),
                leftovers
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "run `ktx runtime doctor --fix` (or any install) to remove them",
        ));
    }
    out.push(
        match crate::daemon::doctor_check(layout, runtime.manifest()) {
            None => ok(CheckId::DaemonState, "no stale daemon state"),
            Some(Problem::Stale { detail, fix }) => warn(CheckId::DaemonState, detail, fix),
            Some(Problem::Unfit { detail, fix }) => fail(CheckId::DaemonState, detail, fix),
        },
    );
    match disk::free_bytes(&layout.root) {
        Some(b) if b < 1 << 30 => out.push(warn(
            CheckId::Disk,
            format!("{} MB free under {}", disk::mb(b), layout.root.display()),
            "free some space: an install or a repair needs room for a second venv",
        )),
        Some(b) => out.push(ok(CheckId::Disk, format!("{} MB free", disk::mb(b)))),
        None => {}
    }
    out
}

/// Whether uv reaches the package index (the next install needs it): a resolution of the
/// wheel's first dependency with that entry of uv's cache refreshed.
fn index_check(
    layout: &Layout,
    pkg: &Package,
    u: &uv::Uv,
    m: Option<&manifest::RuntimeManifest>,
) -> Check {
    let dep = pkg
        .dependency_names()
        .into_iter()
        .next()
        .unwrap_or_else(|| "pip".into());
    let mut cmd = uv::command(&u.path, layout);
    cmd.args([
        "pip",
        "compile",
        "-",
        "--no-header",
        "--quiet",
        "--refresh-package",
        &dep,
    ])
    .env("UV_HTTP_RETRIES", "0")
    .env("UV_HTTP_TIMEOUT", "15")
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    match m {
        Some(m) => cmd.arg("--python").arg(&m.python.executable),
        // No interpreter to ask: resolve for the lowest Python the wheel accepts.
        None => cmd.arg("--python-version").arg(
            pkg.manifest
                .requires_python
                .as_deref()
                .and_then(|s| s.trim().strip_prefix(">="))
                .map(|v| v.split(',').next().unwrap_or(v).trim().to_string())
                .unwrap_or_else(|| "3.12".into()),
        ),
    };
    if let Err(e) = uv::trust_for_downloads(&mut cmd, layout) {
        return warn(
            CheckId::Index,
            e.to_string(),
            "check the runtime directory's permissions",
        );
    }
    let result = cmd.spawn().and_then(|mut child| {
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = writeln!(stdin, "{dep}");
        }
        child.wait_with_output()
    });
    match result {
        Ok(o) if o.status.success() => ok(
            CheckId::Index,
            format!("uv resolves {dep} from the package index"),
        ),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let why = err
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            warn(
                CheckId::Index,
                format!("uv cannot resolve {dep}: {why}"),
                "check the network, the proxy (HTTPS_PROXY) and its CA (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS); installs need the index",
            )
        }
        Err(e) => warn(
            CheckId::Index,
            format!("cannot run uv: {e}"),
            "run `ktx bootstrap`",
        ),
    }
}

fn print_checks(checks: &[Check], as_json: bool) {
    if as_json {
        print_json(&Value::Array(
            checks
                .iter()
                .map(|c| json!({"check": c.id.name(), "status": c.level.name(), "detail": c.detail, "fix": c.fix}))
                .collect(),
        ));
        return;
    }
    for c in checks {
        outln!("[{:<4}] {:<13} {}", c.level.name(), c.id.name(), c.detail);
        if let (Some(fix), true) = (&c.fix, c.level != Level::Ok) {
            outln!("       {:<13} fix: {fix}", "");
        }
    }
}

pub fn run(ctx: &Ctx, as_json: bool, fix: bool) -> Result<i32> {
    let mut found = checks(ctx);
    if fix && found.iter().any(|c| c.level != Level::Ok) {
        repair(ctx, &found)?;
        found = checks(ctx);
    }
    print_checks(&found, as_json);
    let failed = found.iter().filter(|c| c.level == Level::Fail).count();
    if !as_json {
        if failed == 0 {
            outln!(
                "no problems found{}",
                if found.iter().any(|c| c.level == Level::Warn) {
                    " (see the warnings above)"
                } else {
                    ""
                }
            );
        } else {
            outln!(
                "{failed} problem(s) found{}",
                if fix {
                    ""
                } else {
                    "; `ktx runtime doctor --fix` repairs what it can"
                }
            );
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

fn repair(ctx: &Ctx, found: &[Check]) -> Result<()> {
    let layout = &ctx.layout;
    let wants = |r: Repair, at_least: Level| {
        found.iter().any(|c| {
            c.id.repair() == r
                && match at_least {
                    Level::Fail => c.level == Level::Fail,
                    _ => c.level != Level::Ok,
                }
        })
    };
    if wants(Repair::RemoveDaemonState, Level::Warn) {
        let m = match manifest::read(layout) {
            State::Present(m) => Some(*m),
            _ => None,
        };
        crate::daemon::repair(layout, m.as_ref())?;
        errln!("ktx: repaired the daemon state");
    }
    if wants(Repair::Rebuild, Level::Fail) {
        let pkg = Package::locate()?;
        let features = match manifest::read(layout) {
            State::Present(m) => m.features,
            _ => vec![Feature::Core],
        };
        errln!(
            "ktx: rebuilding the runtime in {}",
            layout.version_dir().display()
        );
        // An install collects leftovers first.
        install::install(ctx, &pkg, &features, true)?;
    } else if wants(Repair::CollectLeftovers, Level::Warn) {
        let n = install::collect_leftovers(layout)?;
        errln!("ktx: removed {n} leftover(s) of interrupted installs");
    }
    Ok(())
}
