//! `ktx runtime status [--json]`: what is installed where, from files only (never runs Python;
//! one local /health request when a daemon is recorded).

use super::RuntimeState;
use crate::commands::print_json;
use crate::context::Ctx;
use crate::error::Result;
use crate::package::Package;
use crate::uv;
use serde_json::{json, Value};

pub fn run(ctx: &Ctx, as_json: bool) -> Result<()> {
    let layout = &ctx.layout;
    let located = Package::locate();
    // A mis-packed package is shown, not hidden: every Python-backed command stops on it (exit 5).
    let package_problem = match &located {
        Err(e @ crate::error::Error::VersionMismatch { .. }) => Some(e.to_string()),
        _ => None,
    };
    let pkg = located.ok();
    let runtime = RuntimeState::read(
        layout,
        pkg.as_ref().map(|p| p.manifest.wheel.sha256.as_str()),
    );
    let m = runtime.manifest();
    let pin = pkg
        .as_ref()
        .map(|p| p.manifest.uv.version.clone())
        .unwrap_or_default();
    let found_uv = uv::locate(layout, &pin);
    let daemon = crate::daemon::describe(layout);
    if as_json {
        print_json(&json!({
            "cliVersion": layout.version,
            "state": runtime.name(),
            "installed": matches!(runtime, RuntimeState::Installed(_)),
            "reason": runtime.reason(),
            "root": layout.root,
            "rootSource": layout.root_source.describe(),
            "versionDir": layout.version_dir(),
            "features": m.map(|m| m.features.clone()).unwrap_or_default(),
            "python": m.map(|m| json!(m.python)),
            "daemonExecutable": m.map(|m| m.daemon.clone()),
            "installedAt": m.map(|m| m.installed_at.clone()),
            "uv": {
                "path": found_uv.as_ref().map(|u| u.path.clone()),
                "source": found_uv.as_ref().map(|u| u.source.describe()),
                "pinnedVersion": pin,
                "installedWith": m.map(|m| json!(m.uv)),
            },
            "package": pkg.as_ref().map(|p| p.root.clone()),
            "packageProblem": package_problem,
            "daemon": daemon,
        }));
        return Ok(());
    }
    outln!("ktx {}", layout.version);
    let line = match &runtime {
        RuntimeState::Installed(m) => format!("installed ({})", m.feature_list()),
        RuntimeState::NotInstalled => {
            "not installed (the first Python-backed command installs it; or `ktx runtime install`)"
                .into()
        }
        other => format!(
            "{}: {} (`ktx runtime doctor --fix` repairs it)",
            other.name(),
            other.reason().unwrap_or_default()
        ),
    };
    outln!("runtime:   {line}");
    if let Some(problem) = &package_problem {
        outln!("package:   {problem}; reinstall @kaelio/ktx whole (`ktx runtime doctor` says how)");
    }
    outln!(
        "root:      {} ({})",
        layout.root.display(),
        layout.root_source.describe()
    );
    outln!("directory: {}", layout.version_dir().display());
    if let Some(m) = m {
        let base = if m.python.base.is_empty() {
            String::new()
        } else {
            format!(", from {} {}", m.python.source, m.python.base)
        };
        outln!(
            "python:    {} ({}{base})",
            m.python.version,
            m.python.executable
        );
        outln!(
            "installed: {} with uv {} ({})",
            m.installed_at,
            m.uv.version,
            m.uv.source
        );
    }
    match &found_uv {
        Some(u) => outln!("uv:        {} ({})", u.path.display(), u.source.describe()),
        // No pin where the package could not be read (a mis-packed one says so above).
        None if pin.is_empty() => outln!("uv:        not found (`ktx bootstrap` downloads uv)"),
        None => outln!("uv:        not found (`ktx bootstrap` downloads uv {pin})"),
    }
    match daemon {
        Value::Null => outln!("daemon:    not running"),
        d => {
            outln!("daemon:    {}", d["summary"].as_str().unwrap_or_default());
            if let Some(model) = d["embeddingModel"].as_str() {
                outln!("embedding model: {model}");
            }
        }
    }
    outln!("daemon log: {}", layout.daemon_log().display());
    Ok(())
}

/// `ktx runtime status --all`: the daemon of every installed version, one row each.
pub fn all(ctx: &Ctx, as_json: bool) -> Result<()> {
    let rows: Vec<Value> = crate::manifest::installed_versions(&ctx.layout)
        .iter()
        .map(|l| {
            json!({
                "version": l.version,
                "current": l.version == ctx.layout.version,
                "installed": l.manifest().exists(),
                "daemon": crate::daemon::describe(l),
                "log": l.daemon_log(),
            })
        })
        .collect();
    if as_json {
        print_json(&json!({ "root": ctx.layout.root, "versions": rows }));
        return Ok(());
    }
    if rows.is_empty() {
        outln!("no runtime under {}", ctx.layout.root.display());
        return Ok(());
    }
    outln!(
        "{:<12} {:<8} {:<6} {:>7} {:>9} {:>10}  {}",
        "VERSION",
        "PID",
        "PORT",
        "UPTIME",
        "MEMORY",
        "IDLE LEFT",
        "STARTED FOR"
    );
    let cell = |v: &Value, f: &dyn Fn(u64) -> String| v.as_u64().map_or("-".to_string(), f);
    for r in &rows {
        let d = &r["daemon"];
        let version = format!(
            "{}{}",
            r["version"].as_str().unwrap_or_default(),
            if r["current"] == true { "*" } else { "" }
        );
        if d.is_null() {
            outln!("{version:<12} {:<8}", "-");
            continue;
        }
        outln!(
            "{version:<12} {:<8} {:<6} {:>7} {:>9} {:>10}  {}",
            cell(&d["pid"], &|p| p.to_string()),
            cell(&d["port"], &|p| p.to_string()),
            cell(&d["uptimeSeconds"], &duration),
            cell(&d["rssBytes"], &|b| crate::disk::human(b)),
            cell(&d["idleSecondsLeft"], &duration),
            d["reason"].as_str().unwrap_or("-"),
        );
    }
    outln!("(* this ktx's version; `ktx runtime stop --all` stops them all)");
    Ok(())
}

/// 75 -> "1m15s", 4000 -> "1h06m".
fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(super::duration(5), "5s");
        assert_eq!(super::duration(75), "1m15s");
        assert_eq!(super::duration(4000), "1h06m");
    }
}
