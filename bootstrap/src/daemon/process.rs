//! Starting the daemon process and ending it: spawn in its own session with a fresh token from
//! the OS's random source, wait until it wrote its own daemon.json and holds its lock, and to
//! stop it, signal a pid only once the lock shows a daemon holds it, then wait for the lock to
//! be released (a zombie releases it too).

use super::state::{self, DaemonState, Read};
use super::Reason;
use crate::error::{Error, Result};
use crate::manifest::RuntimeManifest;
use crate::paths::Layout;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A 256-bit token from the OS's random source (getrandom), as hex. No fallback: without a
/// random source there is no daemon.
pub fn token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::other(
            format!("no random source for the daemon's token: {e}"),
            "run the command without --daemon",
        )
    })?;
    Ok(crate::package::hex(&bytes))
}

/// Make `cmd` outlive this ktx: on Unix its own session (the terminal's signals do not reach
/// it), on Windows its own process group without a console (nor does a Ctrl-C). The daemon and
/// a burst's background `runtime start` are started this way.
pub fn detach(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
    }
}

/// Start `python -I -m ktx_host serve-http` (the runtime host around the payload's app) for `m` and wait until it is ready: its daemon.json names it
/// and it holds the lock. It writes that file itself before reporting ready, so a ktx
/// interrupted at any moment leaves either no daemon or one that `runtime status` lists.
pub fn spawn(
    layout: &Layout,
    m: &RuntimeManifest,
    reason: Reason,
    access_log: bool,
) -> Result<DaemonState> {
    let token = token()?;
    let log_path = layout.daemon_log();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("cannot open the daemon log", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("cannot open the daemon log", &log_path, e))?;
    let features: Vec<&str> = m.features.iter().map(|f| f.name()).collect();
    // The runtime host (ours, in every wheel) serves the payload's app with our guarantees.
    let mut cmd = crate::isolation::python(
        Path::new(&m.python.executable),
        &layout.version_dir(),
        ["-m", "ktx_host"],
    );
    cmd.args(["serve-http", "--host", "127.0.0.1", "--port", "0"])
        .arg("--idle-timeout")
        .arg(super::idle_seconds().to_string())
        .arg("--lock-file")
        .arg(layout.daemon_lock())
        .arg("--state-file")
        .arg(layout.daemon_state())
        .arg("--log-file")
        .arg(&log_path)
        .arg("--wheel-sha256")
        .arg(&m.wheel.sha256)
        .arg("--features")
        .arg(features.join(","))
        .arg("--reason")
        .arg(reason.name())
        .arg("--watch")
        .arg(layout.version_dir())
        .arg("--watch")
        .arg(layout.venv())
        .env("KTX_DAEMON_TOKEN", &token)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    if access_log {
        cmd.arg("--access-log");
    }
    detach(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        Error::other(
            format!("cannot start {} -m ktx_host: {e}", m.python.executable),
            "run `ktx runtime doctor --fix`",
        )
    })?;
    let pid = child.id();
    let failed = |why: String| {
        Error::other(
            format!(
                "the daemon did not start: {why}\n{}",
                crate::output::tail_of(&log_path, 8)
            ),
            super::log_hint(layout),
        )
    };
    let deadline = Instant::now() + super::START_DEADLINE;
    let s = loop {
        if let Read::Present(s) = state::read(layout) {
            if s.pid == pid && state::lock_held(layout) == Some(true) {
                break s;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!("ktx-daemon exited ({status})")));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!(
                "it did not report ready within {}s",
                super::START_DEADLINE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    match super::client::health(&s, super::HEALTH_TIMEOUT) {
        super::Probe::Answered(h) if h.pid == pid => {}
        other => {
            terminate(pid);
            let _ = child.wait();
            return Err(failed(format!(
                "it wrote its state but /health did not answer as pid {pid}: {other:?}"
            )));
        }
    }
    // The daemon is not our child to wait for: it runs on after this ktx exits.
    std::mem::forget(child);
    Ok(s)
}

/// Wait until no process holds the daemon lock; whether it was released within `within`.
pub fn wait_lock_free(layout: &Layout, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if state::lock_held(layout) != Some(true) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ask the daemon process to end (SIGTERM; SIGCONT too, so a stopped one can act on it).
pub fn terminate(pid: u32) {
    #[cfg(unix)]
    // SAFETY: called only for the pid of the daemon that holds this version's lock.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
        libc::kill(pid as i32, libc::SIGCONT);
    }
    #[cfg(windows)]
    {
        let _ = std::process::Command::new("taskkill")
            .args(["/PID", &pid.to_string()])
            .output();
    }
}

/// End it (SIGKILL).
pub fn kill(pid: u32) {
    #[cfg(unix)]
    // SAFETY: as `terminate`.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    #[cfg(windows)]
    {
        let _ = std::process::Command::new("taskkill")
            .args(["/F", "/PID", &pid.to_string()])
            .output();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_fresh_256_bit_hex() {
        let a = super::token().unwrap();
        let b = super::token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
