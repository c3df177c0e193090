//! One module per command group. Pure commands (setup, runtime status/prune) never create or
//! touch the runtime; Python-backed ones (sl, sql, embed) go through `python_op`.

pub mod bootstrap;
pub mod embed;
pub mod runtime;
pub mod setup;
pub mod sl;
pub mod sql;

use crate::context::Ctx;
use crate::daemon;
use crate::error::Result;
use crate::feature::Feature;
use crate::install;
use crate::lock;
use crate::package::Package;
use crate::protocol::Op;
use serde_json::Value;

/// How an operation should reach Python.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// One-shot, unless a healthy daemon of this version already runs.
    Default,
    /// Through the daemon, starting it if needed; one-shot with a warning if it cannot start.
    Daemon,
}

/// Run a Python operation, installing the runtime first if it must.
pub fn python_op(ctx: &Ctx, feature: Feature, op: Op, request: &Value, via: Via) -> Result<Value> {
    let pkg = Package::locate()?;
    let m = install::ensure(ctx, &pkg, feature)?;
    // Held while Python runs, so that `runtime prune` leaves this version alone.
    let _in_use = lock::shared(&ctx.layout.use_lock())?;
    let daemon = match via {
        Via::Daemon => match daemon::start(&ctx.layout, &m) {
            Ok((s, _)) => Some(s),
            Err(e) => {
                let slow = if feature == Feature::LocalEmbeddings {
                    " (slow: the model loads in this process)"
                } else {
                    ""
                };
                errln!(
                    "warning: the daemon could not start ({}; {}); running one-shot{slow}",
                    e.to_string().lines().next().unwrap_or(""),
                    daemon::log_hint(&ctx.layout)
                );
                None
            }
        },
        Via::Default if ctx.layout.daemon_state().exists() => daemon::reusable(&ctx.layout),
        Via::Default => None,
    };
    if let Some(s) = daemon {
        match daemon::call(&s, op.route(), request, std::time::Duration::from_secs(600))? {
            Ok(v) => return Ok(v),
            Err(why) => errln!("warning: the daemon did not answer ({why}); running one-shot"),
        }
    }
    crate::oneshot::run(&m, op, request)
}

/// Print JSON the way every `--json` output does.
pub fn print_json(v: &Value) {
    outln!("{}", serde_json::to_string_pretty(v).expect("serializable"));
}

/// An absolute form of a user-given path (the Python side runs with another working dir).
pub fn absolute(p: &std::path::Path) -> std::path::PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
