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
    let pkg = Package::locate().ok();
    let runtime = RuntimeState::read(layout, pkg.as_ref());
    let m = runtime.manifest();
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
            m.python.version, m.python.executable
        );
        outln!(
            "installed: {} with uv {} ({})",
            m.installed_at, m.uv.version, m.uv.source
        );
    }
    match &found_uv {
        Some(u) => outln!("uv:        {} ({})", u.path.display(), u.source.describe()),
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
    Ok(())
}
