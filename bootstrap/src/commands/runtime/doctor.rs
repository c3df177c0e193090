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

/// What every check looks at, observed once: the package, the uv that would be used, the
/// runtime's state as its files say it.
struct Scene<'a> {
    layout: &'a Layout,
    pkg: Result<Package>,
    uv: Option<uv::Uv>,
    runtime: RuntimeState,
}

impl<'a> Scene<'a> {
    fn observe(layout: &'a Layout) -> Scene<'a> {
        let pkg = Package::locate();
        let pin = pkg
            .as_ref()
            .map(|p| p.manifest.uv.version.clone())
            .unwrap_or_default();
        let uv = uv::locate(layout, &pin);
        let runtime = RuntimeState::read(
            layout,
            pkg.as_ref().ok().map(|p| p.manifest.wheel.sha256.as_str()),
        );
        Scene {
            layout,
            pkg,
            uv,
            runtime,
        }
    }

    fn pkg(&self) -> Option<&Package> {
        self.pkg.as_ref().ok()
    }

    /// The installed runtime's manifest, for the checks that look inside the venv.
    fn installed(&self) -> Option<&manifest::RuntimeManifest> {
        self.runtime.manifest()
    }
}

/// The checks, in the order doctor prints them: each looks at the scene and says what it
/// found, or nothing when it does not apply.
const CHECKS: &[fn(&Scene) -> Option<Check>] = &[
    package,
    uv_found,
    runtime_dir,
    manifest_state,
    interpreter,
    python_version,
    runtime_check,
    imports,
    index,
    leftovers,
    daemon_state,
    disk_space,
];

pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let scene = Scene::observe(&ctx.layout);
    CHECKS.iter().filter_map(|check| check(&scene)).collect()
}

fn package(s: &Scene) -> Option<Check> {
    Some(match &s.pkg {
        Ok(p) => match p.verify_wheel() {
            Ok(()) => ok(
                CheckId::Package,
                format!("{} (wheel digest verified)", p.root.display()),
            ),
            Err(e) => fail(
                CheckId::Package,
                e.to_string(),
                "reinstall @kaelio/ktx (npm cache clean --force)",
            ),
        },
        Err(e) => fail(
            CheckId::Package,
            e.to_string(),
            e.hint().unwrap_or_default(),
        ),
    })
}

fn uv_found(s: &Scene) -> Option<Check> {
    Some(match &s.uv {
        Some(u) => match uv::version(&u.path) {
            Ok(v) => ok(
                CheckId::Uv,
                format!("uv {v} at {} ({})", u.path.display(), u.source.describe()),
            ),
            Err(e) => fail(
                CheckId::Uv,
                e.to_string(),
                "point KTX_UV at a working uv, or run `ktx bootstrap`",
            ),
        },
        None => warn(
            CheckId::Uv,
            "no uv found (KTX_UV, PATH, downloaded)",
            "run `ktx bootstrap` to download the pinned uv",
        ),
    })
}

fn runtime_dir(s: &Scene) -> Option<Check> {
    let root = &s.layout.root;
    let writable =
        std::fs::create_dir_all(root).and_then(|_| tempfile::tempfile_in(root).map(|_| ()));
    Some(match writable {
        Ok(()) => ok(CheckId::RuntimeDir, format!("{} is writable", root.display())),
        Err(e) => warn(
            CheckId::RuntimeDir,
            format!(
                "{} is not writable ({e}): an installed runtime still answers, but nothing can be installed or repaired",
                root.display()
            ),
            "fix its permissions or use --runtime-dir / KTX_RUNTIME_ROOT",
        ),
    })
}

fn manifest_state(s: &Scene) -> Option<Check> {
    Some(match &s.runtime {
        RuntimeState::NotInstalled => warn(
            CheckId::Manifest,
            "the runtime is not installed",
            "run `ktx runtime install` (or any Python-backed command)",
        ),
        RuntimeState::Broken {
            manifest: None,
            why,
        } => fail(CheckId::Manifest, why.clone(), REBUILD),
        RuntimeState::Outdated { why, .. } => fail(
            CheckId::Manifest,
            why.clone(),
            "run `ktx runtime doctor --fix` to reinstall for this version",
        ),
        RuntimeState::Installed(m)
        | RuntimeState::Broken {
            manifest: Some(m), ..
        } => ok(
            CheckId::Manifest,
            format!("installed {} ({})", m.installed_at, m.feature_list()),
        ),
    })
}

fn interpreter(s: &Scene) -> Option<Check> {
    let m = s.installed()?;
    if let Some(why) = manifest::unusable(m) {
        return Some(fail(CheckId::Interpreter, why, REBUILD));
    }
    Some(
        match run_quiet(&mut crate::isolation::python(
            Path::new(&m.python.executable),
            &s.layout.version_dir(),
            ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        )) {
            Ok(v) => ok(
                CheckId::Interpreter,
                format!(
                    "{} runs Python {v} ({} interpreter {})",
                    m.python.executable, m.python.source, m.python.base
                ),
            ),
            Err(e) => fail(
                CheckId::Interpreter,
                format!("{} does not run: {e}", m.python.executable),
                REBUILD,
            ),
        },
    )
}

fn python_version(s: &Scene) -> Option<Check> {
    let m = s.installed()?;
    let spec = s.pkg()?.manifest.requires_python.clone()?;
    Some(match crate::python::satisfies(&m.python.version, &spec) {
        Some(false) => fail(
            CheckId::Python,
            format!(
                "the venv's Python {} does not satisfy the wheel's Requires-Python {spec}",
                m.python.version
            ),
            REBUILD,
        ),
        _ => ok(
            CheckId::Python,
            format!("Python {} satisfies {spec}", m.python.version),
        ),
    })
}

/// The install's own check, run again (`ktx_host check`).
fn runtime_check(s: &Scene) -> Option<Check> {
    let m = s.installed()?;
    let python = Path::new(&m.python.executable);
    Some(
        match install::runtime_check(python, &s.layout.version_dir()).output() {
            Ok(o) => {
                match install::check_report(&String::from_utf8_lossy(&o.stdout), &s.layout.version)
                {
                    Ok(line) => ok(CheckId::KtxDaemon, line),
                    Err(why) => fail(CheckId::KtxDaemon, why, REBUILD),
                }
            }
            Err(e) => fail(
                CheckId::KtxDaemon,
                format!(
                    "{} -m ktx_host check does not run: {e}",
                    m.python.executable
                ),
                REBUILD,
            ),
        },
    )
}

/// Every module of the wheel imports (deeper than the install's check).
fn imports(s: &Scene) -> Option<Check> {
    let m = s.installed()?;
    let p = s.pkg()?;
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
    let python = Path::new(&m.python.executable);
    Some(
        match run_quiet(&mut install::probe_command(
            python,
            &s.layout.version_dir(),
            &code,
        )) {
            Ok(_) => ok(CheckId::Imports, what),
            Err(e) => fail(CheckId::Imports, e, REBUILD),
        },
    )
}

fn index(s: &Scene) -> Option<Check> {
    Some(index_check(
        s.layout,
        s.pkg()?,
        s.uv.as_ref()?,
        s.installed(),
    ))
}

fn leftovers(s: &Scene) -> Option<Check> {
    let leftovers = s.layout.leftovers();
    if leftovers.is_empty() {
        return Some(ok(CheckId::Leftovers, "none from interrupted installs"));
    }
    let size: u64 = leftovers.iter().map(|p| disk::tree_size(p)).sum();
    Some(warn(
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
    ))
}

fn daemon_state(s: &Scene) -> Option<Check> {
    Some(match crate::daemon::doctor_check(s.layout, s.installed()) {
        None => ok(CheckId::DaemonState, "no stale daemon state"),
        Some(Problem::Stale { detail, fix }) => warn(CheckId::DaemonState, detail, fix),
        Some(Problem::Unfit { detail, fix }) => fail(CheckId::DaemonState, detail, fix),
    })
}

fn disk_space(s: &Scene) -> Option<Check> {
    let root = &s.layout.root;
    Some(match disk::free_bytes(root)? {
        b if b < 1 << 30 => warn(
            CheckId::Disk,
            format!("{} MB free under {}", disk::mb(b), root.display()),
            "free some space: an install or a repair needs room for a second venv",
        ),
        b => ok(CheckId::Disk, format!("{} MB free", disk::mb(b))),
    })
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
