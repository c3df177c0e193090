//! Bursts: the spec keeps one-shot the default and starts the daemon "when a command benefits
//! from process reuse". A burst does: when the second Python-backed command of a version runs
//! within `WINDOW`, it asks for a daemon in the background and waits for it (`pending`), as do
//! the commands after it, instead of paying a one-shot each (`KTX_DAEMON=auto`); a start that
//! fails leaves them one-shot. With a payload whose one-shot costs T (KTX's imports its whole
//! world: about 2.5 s), twenty commands in a row then cost about 2T plus the daemon's answers.

use crate::paths::Layout;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const WINDOW: Duration = Duration::from_secs(10);
pub const COMMANDS: usize = 2;

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Record this command; whether it completes a burst (and no daemon runs yet).
pub fn noticed(layout: &Layout) -> bool {
    let path = layout.recent_runs();
    let now = now_ms();
    // One short line per command, appended: concurrent commands do not lose each other's.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "{now}");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let recent: Vec<u128> = text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|t: &u128| now.saturating_sub(*t) <= WINDOW.as_millis())
        .collect();
    if text.lines().count() > 50 {
        // Keep it small: only what is still in the window.
        let keep: String = recent.iter().map(|t| format!("{t}\n")).collect();
        let _ = crate::atomic::write(&path, keep.as_bytes(), 0o600);
    }
    recent.len() >= COMMANDS
        && super::state::lock_held(layout) != Some(true)
        && !requested_recently(layout)
        && super::recent_failure(layout).is_none()
}

/// Whether a burst asked for a daemon less than a start deadline ago (it may still be
/// starting: the commands meanwhile do not ask again).
fn requested_recently(layout: &Layout) -> bool {
    std::fs::metadata(layout.burst_start())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < super::START_DEADLINE)
}

/// Whether a burst's daemon start is under way: requested moments ago (not cancelled by
/// `runtime stop`), not failed, and not yet serving.
pub fn pending(layout: &Layout) -> bool {
    requested_recently(layout)
        && super::recent_failure(layout).is_none()
        && !(super::state::lock_held(layout) == Some(true) && layout.daemon_state().exists())
}

/// Wait while a burst's daemon start is pending (at most the start deadline): a command that
/// comes while the daemon is starting uses it rather than paying a one-shot of its own.
pub fn wait_pending(layout: &Layout) {
    let deadline = std::time::Instant::now() + super::START_DEADLINE;
    while pending(layout) && std::time::Instant::now() < deadline {
        if crate::process::interrupted().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Start the daemon without waiting for it: a detached `ktx runtime start` of this version
/// (its own session, no output), so that this command goes on with its own op at once.
pub fn start_in_background(layout: &Layout) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    if std::fs::write(layout.burst_start(), b"").is_err() {
        return;
    }
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["runtime", "start", "--reason", "burst", "--no-input"])
        .arg("--runtime-dir")
        .arg(&layout.root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    super::process::detach(&mut cmd);
    let _ = cmd.spawn();
}
