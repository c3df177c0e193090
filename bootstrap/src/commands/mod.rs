//! One module per command group. Pure commands (setup, runtime status/prune) never create or
//! touch the runtime; Python-backed ones (sl, sql, embed) go through `python_op`.

pub mod bootstrap;
pub mod embed;
pub mod runtime;
pub mod setup;
pub mod sl;
pub mod sql;

use crate::context::{Ctx, DaemonMode};
use crate::daemon;
use crate::error::Result;
use crate::feature::Feature;
use crate::install;
use crate::lock;
use crate::package::Package;
use crate::protocol::Op;
use serde_json::Value;

/// How an operation should reach Python.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Via {
    /// As the daemon policy says (`DaemonMode`): under `auto` a running daemon is used and a
    /// burst of commands starts one for the next; `always` starts one; `never` is one-shot.
    Default,
    /// Through the daemon unless the policy is `never` (`ktx embed`: the model stays loaded).
    Prefer,
    /// Through the daemon, whatever KTX_DAEMON says (`--daemon`; a flag beats the environment).
    Explicit,
}

impl Via {
    /// Whether this operation starts (or reuses) a daemon under `mode`.
    pub fn wants_daemon(self, mode: DaemonMode) -> bool {
        match self {
            Via::Explicit => true,
            Via::Prefer => mode != DaemonMode::Never,
            Via::Default => mode == DaemonMode::Always,
        }
    }
}

/// Run a Python operation, installing the runtime first if it must.
pub fn python_op(ctx: &Ctx, feature: Feature, op: Op, request: &Value, via: Via) -> Result<Value> {
    let pkg = Package::locate()?;
    let m = install::ensure(ctx, &pkg, feature)?;
    // Held while Python runs, so that `runtime prune` leaves this version alone.
    let _in_use = lock::shared(&ctx.layout.use_lock())?;
    let mode = ctx.daemon_mode;
    let wants_daemon = via.wants_daemon(mode);
    let ask = daemon::Ask {
        reason: if feature == Feature::LocalEmbeddings {
            daemon::Reason::Embed
        } else {
            daemon::Reason::Query
        },
        explicit: false,
        access_log: ctx.verbose,
    };
    let daemon = if wants_daemon {
        match daemon::start(&ctx.layout, &m, ask) {
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
        }
    } else if mode == DaemonMode::Never {
        None
    } else {
        // `auto`, an op with no daemon preference: a daemon that runs (or a burst's that is
        // starting) is used; the second command of a burst asks for one and waits for it with
        // the rest (a one-shot beside the daemon's start would import the same libraries at the
        // same time on a small machine); a start that fails leaves them one-shot.
        let live = || {
            daemon::burst::wait_pending(&ctx.layout);
            if ctx.layout.daemon_state().exists() {
                daemon::reusable(&ctx.layout, &m)
            } else {
                None
            }
        };
        match live() {
            Some(s) => Some(s),
            None if daemon::burst::noticed(&ctx.layout) => {
                daemon::burst::start_in_background(&ctx.layout);
                live()
            }
            None => None,
        }
    };
    if let Some(s) = daemon {
        match daemon::call(&s, op.route(), request, std::time::Duration::from_secs(600))? {
            Ok(v) => return Ok(v),
            Err(why) => errln!("warning: the daemon did not answer ({why}); running one-shot"),
        }
    }
    crate::oneshot::run(&ctx.layout, &m, op, request)
}

/// Print JSON the way every `--json` output does.
pub fn print_json(v: &Value) {
    outln!("{}", serde_json::to_string_pretty(v).expect("serializable"));
}
