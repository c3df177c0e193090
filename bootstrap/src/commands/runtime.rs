//! `ktx runtime install|status|doctor|prune`.

use super::print_json;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::install;
use crate::lock;
use crate::manifest::{self, State};
use crate::package::Package;
use crate::paths::Layout;
use crate::uv;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn install_cmd(ctx: &Ctx, features: &[Feature], force: bool) -> Result<()> {
    let pkg = Package::locate()?;
    let mut features = features.to_vec();
    if features.is_empty() {
        features.push(Feature::Core);
    }
    // An explicit install is consent; on a terminal, local-embeddings still gets its own
    // question, because of its size. (Without a terminal the command itself is the consent:
    // it is the command ktx prints with exit 4.)
    for &f in features.iter().filter(|&&f| f != Feature::Core) {
        let have = matches!(manifest::read(&ctx.layout), State::Present(m) if m.has(f));
        if !have && ctx.consent.interactive() {
            ctx.consent.ask(
                f.name(),
                &format!("The {f} feature downloads {}.", f.downloads()),
                &ctx.install_command(f),
            )?;
        }
    }
    let m = install::install(ctx, &pkg, &features, force)?;
    println!(
        "runtime {} installed at {} ({})",
        m.cli_version,
        ctx.layout.version_dir().display(),
        m.feature_list()
    );
    Ok(())
}

/// The runtime's state as `status` reports it, from files only.
pub fn state(
    layout: &Layout,
    pkg: Option<&Package>,
) -> (String, Option<String>, Option<manifest::RuntimeManifest>) {
    match manifest::read(layout) {
        State::Missing => ("not-installed".into(), None, None),
        State::Corrupt(why) => ("broken".into(), Some(why), None),
        State::Present(m) => {
            if let Some(why) =
                pkg.and_then(|p| manifest::mismatch(&m, &layout.version, &p.manifest.wheel.sha256))
            {
                return ("outdated".into(), Some(why), Some(*m));
            }
            if !Path::new(&m.python.executable).exists() || !Path::new(&m.daemon).is_file() {
                return (
                    "broken".into(),
                    Some(format!(
                        "the venv at {} is missing or incomplete",
                        layout.venv().display()
                    )),
                    Some(*m),
                );
            }
            ("installed".into(), None, Some(*m))
        }
    }
}

pub fn status(ctx: &Ctx, as_json: bool) -> Result<()> {
    let layout = &ctx.layout;
    let pkg = Package::locate().ok();
    let (state, reason, m) = state(layout, pkg.as_ref());
    let pin = pkg
        .as_ref()
        .map(|p| p.manifest.uv.version.clone())
        .unwrap_or_default();
    let found_uv = uv::locate(layout, &pin);
    let mut daemon = crate::daemon_state::describe(layout);
    if let (Value::Object(d), crate::daemon_state::Read::Present(s)) =
        (&mut daemon, crate::daemon_state::read(layout))
    {
        // A running daemon says which embedding model it loaded, if any (one local request).
        if let Ok((200, body)) = crate::daemon::request(
            s.port,
            &s.token,
            "GET",
            "/health",
            None,
            std::time::Duration::from_millis(500),
        ) {
            let h: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            d.insert("embeddingModel".into(), h["embeddingModel"].clone());
        }
    }
    if as_json {
        print_json(&json!({
            "cliVersion": layout.version,
            "state": state,
            "installed": state == "installed",
            "reason": reason,
            "root": layout.root,
            "rootSource": layout.root_source.describe(),
            "versionDir": layout.version_dir(),
            "features": m.as_ref().map(|m| m.features.clone()).unwrap_or_default(),
            "python": m.as_ref().map(|m| json!(m.python)),
            "daemonExecutable": m.as_ref().map(|m| m.daemon.clone()),
            "installedAt": m.as_ref().map(|m| m.installed_at.clone()),
            "uv": {
                "path": found_uv.as_ref().map(|u| u.path.clone()),
                "source": found_uv.as_ref().map(|u| u.source.describe()),
                "pinnedVersion": pin,
                "installedWith": m.as_ref().map(|m| json!(m.uv)),
            },
            "package": pkg.as_ref().map(|p| p.root.clone()),
            "daemon": daemon,
        }));
        return Ok(());
    }
    println!("ktx {}", layout.version);
    let line = match (&state[..], &reason) {
        ("installed", _) => format!(
            "installed ({})",
            m.as_ref().map(|m| m.feature_list()).unwrap_or_default()
        ),
        ("not-installed", _) => {
            "not installed (the first Python-backed command installs it; or `ktx runtime install`)"
                .into()
        }
        (s, Some(r)) => format!("{s}: {r} (`ktx runtime doctor --fix` repairs it)"),
        (s, None) => s.to_string(),
    };
    println!("runtime:   {line}");
    println!(
        "root:      {} ({})",
        layout.root.display(),
        layout.root_source.describe()
    );
    println!("directory: {}", layout.version_dir().display());
    if let Some(m) = &m {
        let base = if m.python.base.is_empty() {
            String::new()
        } else {
            format!(", from {} {}", m.python.source, m.python.base)
        };
        println!(
            "python:    {} ({}{base})",
            m.python.version, m.python.executable
        );
        println!(
            "installed: {} with uv {} ({})",
            m.installed_at, m.uv.version, m.uv.source
        );
    }
    match &found_uv {
        Some(u) => println!("uv:        {} ({})", u.path.display(), u.source.describe()),
        None => println!("uv:        not found (`ktx bootstrap` downloads uv {pin})"),
    }
    match daemon {
        Value::Null => println!("daemon:    not running"),
        d => {
            println!("daemon:    {}", d["summary"].as_str().unwrap_or_default());
            if let Some(model) = d["embeddingModel"].as_str() {
                println!("embedding model: {model}");
            }
        }
    }
    Ok(())
}

/// One doctor check.
struct Check {
    name: &'static str,
    status: &'static str, // ok | warn | fail
    detail: String,
    fix: Option<String>,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: "ok",
        detail: detail.into(),
        fix: None,
    }
}
fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        status: "warn",
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}
fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        status: "fail",
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

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

fn checks(ctx: &Ctx) -> Vec<Check> {
    let layout = &ctx.layout;
    let mut out = Vec::new();
    let pkg = match Package::locate() {
        Ok(p) => {
            match p.verify_wheel() {
                Ok(()) => out.push(ok(
                    "package",
                    format!("{} (wheel digest verified)", p.root.display()),
                )),
                Err(e) => out.push(fail(
                    "package",
                    e.to_string(),
                    "reinstall @kaelio/ktx (npm cache clean --force)",
                )),
            }
            Some(p)
        }
        Err(e) => {
            out.push(fail("package", e.to_string(), e.hint().unwrap_or_default()));
            None
        }
    };
    let pin = pkg
        .as_ref()
        .map(|p| p.manifest.uv.version.clone())
        .unwrap_or_default();
    match uv::locate(layout, &pin) {
        Some(u) => match uv::version(&u.path) {
            Ok(v) => out.push(ok(
                "uv",
                format!("uv {v} at {} ({})", u.path.display(), u.source.describe()),
            )),
            Err(e) => out.push(fail(
                "uv",
                e.to_string(),
                "point KTX_UV at a working uv, or run `ktx bootstrap`",
            )),
        },
        None => out.push(warn(
            "uv",
            "no uv found (KTX_UV, PATH, downloaded)",
            "run `ktx bootstrap` to download the pinned uv",
        )),
    }
    let writable = std::fs::create_dir_all(&layout.root)
        .and_then(|_| tempfile::tempfile_in(&layout.root).map(|_| ()));
    match writable {
        Ok(()) => out.push(ok(
            "runtime dir",
            format!("{} is writable", layout.root.display()),
        )),
        Err(e) => out.push(fail(
            "runtime dir",
            format!("{}: {e}", layout.root.display()),
            "fix its permissions or use --runtime-dir / KTX_RUNTIME_ROOT",
        )),
    }
    let m = match manifest::read(layout) {
        State::Missing => {
            out.push(warn(
                "manifest",
                "the runtime is not installed",
                "run `ktx runtime install` (or any Python-backed command)",
            ));
            None
        }
        State::Corrupt(why) => {
            out.push(fail(
                "manifest",
                why,
                "run `ktx runtime doctor --fix` to reinstall",
            ));
            None
        }
        State::Present(m) => {
            match pkg
                .as_ref()
                .and_then(|p| manifest::mismatch(&m, &layout.version, &p.manifest.wheel.sha256))
            {
                Some(why) => out.push(fail(
                    "manifest",
                    why,
                    "run `ktx runtime doctor --fix` to reinstall for this version",
                )),
                None => out.push(ok(
                    "manifest",
                    format!("installed {} ({})", m.installed_at, m.feature_list()),
                )),
            }
            Some(*m)
        }
    };
    if let Some(m) = &m {
        let venv = layout.venv();
        match install::pyvenv_value(&venv, "home") {
            Some(home) if Path::new(&home).is_dir() => out.push(ok("base python", format!("{home} exists"))),
            Some(home) => out.push(fail("base python", format!("the venv's base interpreter directory {home} is gone (Python upgraded or removed?)"), "run `ktx runtime doctor --fix` to rebuild the venv")),
            None => out.push(fail("base python", format!("{} has no pyvenv.cfg", venv.display()), "run `ktx runtime doctor --fix`")),
        }
        match run_quiet(
            Command::new(&m.python.executable)
                .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]),
        ) {
            Ok(v) => out.push(ok("venv python", format!("Python {v} runs"))),
            Err(e) => out.push(fail(
                "venv python",
                format!("{} does not run: {e}", m.python.executable),
                "run `ktx runtime doctor --fix`",
            )),
        }
        match run_quiet(
            crate::oneshot::ktx_daemon(Path::new(&m.python.executable)).arg("--version"),
        ) {
            Ok(v) if v == format!("ktx-daemon {}", layout.version) => out.push(ok("ktx-daemon", v)),
            Ok(v) => out.push(fail(
                "ktx-daemon",
                format!("reports {v:?}, expected ktx-daemon {}", layout.version),
                "run `ktx runtime doctor --fix`",
            )),
            Err(e) => out.push(fail(
                "ktx-daemon",
                format!("{} -m ktx_daemon does not run: {e}", m.python.executable),
                "run `ktx runtime doctor --fix`",
            )),
        }
        if let Some(spec) = pkg
            .as_ref()
            .and_then(|p| p.manifest.requires_python.clone())
        {
            match crate::python::satisfies(&m.python.version, &spec) {
                Some(false) => out.push(fail(
                    "python",
                    format!(
                        "the venv's Python {} does not satisfy the wheel's Requires-Python {spec}",
                        m.python.version
                    ),
                    "run `ktx runtime doctor --fix` to rebuild it on a suitable Python",
                )),
                _ => out.push(ok(
                    "python",
                    format!(
                        "Python {} satisfies {spec} ({} {})",
                        m.python.version, m.python.source, m.python.base
                    ),
                )),
            }
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
                Path::new(&m.python.executable),
                &code,
            )) {
                Ok(_) => out.push(ok("imports", what)),
                Err(e) => out.push(fail("imports", e, "run `ktx runtime doctor --fix`")),
            }
        }
    }
    if let (Some(p), Some(u)) = (&pkg, uv::locate(layout, &pin)) {
        out.push(index_check(layout, p, &u, m.as_ref()));
    }
    for leftover in [layout.staging(), layout.retired()] {
        if leftover.exists() {
            out.push(warn(
                "leftovers",
                format!("{} remains from an interrupted install", leftover.display()),
                "run `ktx runtime doctor --fix`",
            ));
        }
    }
    out.push(crate::daemon_state::doctor_check(layout).map_or_else(
        || ok("daemon state", "no stale daemon state"),
        |(detail, fix)| warn("daemon state", detail, fix),
    ));
    match free_bytes(&layout.root) {
        Some(b) if b < 1 << 30 => out.push(warn(
            "disk",
            format!("{} MiB free under {}", b >> 20, layout.root.display()),
            "free some space: the runtime needs a few hundred MB",
        )),
        Some(b) => out.push(ok("disk", format!("{} MiB free", b >> 20))),
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
    .current_dir(std::env::temp_dir())
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
            "index",
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
        Ok(o) if o.status.success() => {
            ok("index", format!("uv resolves {dep} from the package index"))
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let why = err
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            warn(
                "index",
                format!("uv cannot resolve {dep}: {why}"),
                "check the network, the proxy (HTTPS_PROXY) and its CA (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS); installs need the index",
            )
        }
        Err(e) => warn(
            "index",
            format!("cannot run uv: {e}"),
            "run `ktx bootstrap`",
        ),
    }
}

#[cfg(unix)]
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = path.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and s a writable statvfs.
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0)
        .then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

#[cfg(not(unix))]
fn free_bytes(_: &Path) -> Option<u64> {
    None
}

fn print_checks(checks: &[Check], as_json: bool) {
    if as_json {
        print_json(&Value::Array(checks.iter().map(|c| json!({"check": c.name, "status": c.status, "detail": c.detail, "fix": c.fix})).collect()));
        return;
    }
    for c in checks {
        println!("[{:<4}] {:<13} {}", c.status, c.name, c.detail);
        if let (Some(fix), true) = (&c.fix, c.status != "ok") {
            println!("       {:<13} fix: {fix}", "");
        }
    }
}

pub fn doctor(ctx: &Ctx, as_json: bool, fix: bool) -> Result<i32> {
    let mut found = checks(ctx);
    if fix && found.iter().any(|c| c.status != "ok") {
        repair(ctx, &found)?;
        found = checks(ctx);
    }
    print_checks(&found, as_json);
    let failed = found.iter().filter(|c| c.status == "fail").count();
    if !as_json {
        if failed == 0 {
            println!(
                "no problems found{}",
                if found.iter().any(|c| c.status == "warn") {
                    " (see the warnings above)"
                } else {
                    ""
                }
            );
        } else {
            println!(
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
    let broken = |n: &str| found.iter().any(|c| c.name == n && c.status == "fail");
    if crate::daemon_state::doctor_check(layout).is_some() {
        crate::daemon_state::remove_stale(layout)?;
        eprintln!("ktx: removed stale daemon state");
    }
    let runtime_broken = [
        "manifest",
        "base python",
        "venv python",
        "python",
        "ktx-daemon",
        "imports",
    ]
    .iter()
    .any(|n| broken(n));
    let leftovers = layout.staging().exists() || layout.retired().exists();
    if runtime_broken || leftovers {
        let pkg = Package::locate()?;
        let features = match manifest::read(layout) {
            State::Present(m) => m.features,
            _ => vec![Feature::Core],
        };
        eprintln!(
            "ktx: rebuilding the runtime in {}",
            layout.version_dir().display()
        );
        install::install(ctx, &pkg, &features, true)?;
    }
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// `ktx runtime prune`: deletes only with `--yes` (or KTX_YES); `--dry-run` previews.
pub fn prune(ctx: &Ctx, dry_run: bool) -> Result<()> {
    if !dry_run && !ctx.consent.yes {
        let removals = prune_pass(ctx, true, &mut |_| {})?;
        if removals == 0 {
            println!("nothing to prune");
            return Ok(());
        }
        return Err(Error::other(
            format!(
                "ktx runtime prune would delete {removals} item{} and asks for --yes first",
                if removals == 1 { "" } else { "s" }
            ),
            "see what it removes with `ktx runtime prune --dry-run`, then run `ktx runtime prune --yes`",
        ));
    }
    prune_pass(ctx, dry_run, &mut |line| println!("{line}"))?;
    Ok(())
}

/// One pass of prune; returns how many things it removed (or would remove).
fn prune_pass(ctx: &Ctx, dry_run: bool, say: &mut dyn FnMut(String)) -> Result<usize> {
    let layout = &ctx.layout;
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut removals = 0usize;
    let mut freed = 0u64;
    let mut kept_uv: Vec<String> = Vec::new();
    let entries = match std::fs::read_dir(&layout.root) {
        Ok(e) => e.flatten().collect::<Vec<_>>(),
        Err(_) => {
            say(format!(
                "nothing to prune: {} does not exist",
                layout.root.display()
            ));
            return Ok(0);
        }
    };
    if let State::Present(m) = manifest::read(layout) {
        kept_uv.push(m.uv.path.clone());
    }
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        if !path.is_dir()
            || name == "tools"
            || name == "python"
            || name.starts_with('.')
            || name == layout.version
        {
            continue;
        }
        let other = layout.for_version(&name);
        if !other.manifest().exists() && !other.venv().exists() && !other.logs().exists() {
            continue; // not a runtime version directory
        }
        // A running ktx of that version holds the use lock shared.
        let Some(_guard) = lock::try_exclusive(&other.use_lock())? else {
            say(format!("kept {} (in use by a running ktx)", path.display()));
            if let State::Present(m) = manifest::read(&other) {
                kept_uv.push(m.uv.path);
            }
            continue;
        };
        if crate::daemon_state::alive(&other) {
            if dry_run {
                say(format!("would stop the daemon of {name}"));
            } else if let Err(e) = crate::daemon_state::stop_for_prune(&other) {
                say(format!(
                    "kept {} (its daemon is running and could not be stopped: {e})",
                    path.display()
                ));
                continue;
            }
        }
        let size = dir_size(&path);
        if !dry_run {
            let trash = layout
                .root
                .join(format!(".trash-{name}-{}", std::process::id()));
            std::fs::rename(&path, &trash).map_err(|e| Error::io("cannot remove", &path, e))?;
            std::fs::remove_dir_all(&trash).map_err(|e| Error::io("cannot remove", &trash, e))?;
        }
        freed += size;
        removals += 1;
        say(format!("{verb} {} ({})", path.display(), human(size)));
    }
    // Old install logs of this version: keep the five newest.
    if let Ok(rd) = std::fs::read_dir(layout.logs()) {
        let mut logs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        let n = logs.len().saturating_sub(5);
        for old in &logs[..n] {
            let size = dir_size(old);
            if !dry_run {
                let _ = std::fs::remove_file(old);
            }
            freed += size;
            removals += 1;
            say(format!("{verb} {} ({})", old.display(), human(size)));
        }
    }
    // Downloaded uv versions that no remaining runtime uses and this package does not pin.
    let pin = Package::locate().ok().map(|p| p.manifest.uv.version);
    if let Ok(rd) = std::fs::read_dir(layout.tools_uv()) {
        for e in rd.flatten() {
            let v = e.file_name().to_string_lossy().to_string();
            let p = e.path();
            if v.starts_with('.')
                || !p.is_dir()
                || Some(&v) == pin.as_ref()
                || kept_uv.iter().any(|k| Path::new(k).starts_with(&p))
            {
                continue;
            }
            let size = dir_size(&p);
            if !dry_run {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
            }
            freed += size;
            removals += 1;
            say(format!("{verb} {} ({})", p.display(), human(size)));
        }
    }
    say(format!(
        "{} {}",
        if dry_run { "would free" } else { "freed" },
        human(freed)
    ));
    Ok(removals)
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub fn start(ctx: &Ctx, features: &[Feature]) -> Result<()> {
    let pkg = Package::locate()?;
    let mut m = install::ensure(ctx, &pkg, Feature::Core)?;
    for &f in features.iter().filter(|&&f| f != Feature::Core) {
        m = install::ensure(ctx, &pkg, f)?;
    }
    if features.iter().any(|&f| !m.has(f)) {
        return Err(Error::other(
            "the runtime lacks a requested feature",
            format!("run `{}`", ctx.install_command(Feature::LocalEmbeddings)),
        ));
    }
    let (s, started) = crate::daemon::start(&ctx.layout, &m)?;
    let word = if started { "started" } else { "reusing" };
    println!(
        "daemon {word}: pid {} on 127.0.0.1:{} (version {}, {})",
        s.pid,
        s.port,
        s.version,
        s.features.join("+")
    );
    Ok(())
}

pub fn stop(ctx: &Ctx) -> Result<()> {
    if crate::daemon::stop(&ctx.layout)? {
        println!("daemon stopped");
    } else {
        println!("no daemon was running");
    }
    Ok(())
}
