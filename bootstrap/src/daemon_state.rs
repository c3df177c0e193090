//! `daemon.json`, the managed daemon's state file: read it, tell whether the process it names
//! is alive, and describe it for `runtime status` and `doctor`.

use crate::error::{Error, Result};
use crate::paths::Layout;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DaemonState {
    pub pid: u32,
    pub port: u16,
    pub version: String,
    pub features: Vec<String>,
    pub started_at: String,
    pub token: String,
    /// The process's start time (Linux: /proc/<pid>/stat field 22), to tell a reused pid apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_start: Option<u64>,
}

pub enum Read {
    Missing,
    Unreadable(String),
    Present(DaemonState),
}

pub fn read(layout: &Layout) -> Read {
    let path = layout.daemon_state();
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Unreadable(format!("cannot read {}: {e}", path.display())),
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(s) => Read::Present(s),
            Err(e) => {
                Read::Unreadable(format!("{} is not valid daemon state: {e}", path.display()))
            }
        },
    }
}

/// Whether a process with this pid exists (it may be someone else's after pid reuse). A zombie
/// counts as gone: where nothing reaps orphans (a container whose init is `sleep`), a stopped
/// daemon stays a zombie.
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        if pid == 0 || pid > i32::MAX as u32 {
            return false;
        }
        if is_zombie(pid) {
            return false;
        }
        // SAFETY: signal 0 only checks for existence and permission.
        let r = unsafe { libc::kill(pid as i32, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rfind(')')
                .map(|i| stat[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The start time of a process (clock ticks since boot), on Linux.
pub fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process in `s` is still the one that was recorded (pid alive, same start time).
pub fn same_process(s: &DaemonState) -> bool {
    if !pid_alive(s.pid) {
        return false;
    }
    match (s.proc_start, proc_start_time(s.pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

pub fn alive(layout: &Layout) -> bool {
    matches!(read(layout), Read::Present(s) if same_process(&s))
}

/// For `runtime status --json` / text: Null when no daemon runs.
pub fn describe(layout: &Layout) -> Value {
    match read(layout) {
        Read::Present(s) if same_process(&s) => json!({
            "pid": s.pid,
            "port": s.port,
            "version": s.version,
            "features": s.features,
            "startedAt": s.started_at,
            "uptimeSeconds": uptime(&s.started_at),
            "summary": format!("running, pid {} on 127.0.0.1:{}, version {}, features {}, since {}",
                s.pid, s.port, s.version, s.features.join("+"), s.started_at),
        }),
        _ => Value::Null,
    }
}

fn uptime(started_at: &str) -> Option<i64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(now - parse_rfc3339(started_at)?)
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ` (fractional seconds ignored).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let mut t = time.split(':');
    let (h, mi) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec)
}

/// A problem with the daemon state that doctor reports: (detail, fix).
pub fn doctor_check(layout: &Layout) -> Option<(String, String)> {
    match read(layout) {
        Read::Missing => None,
        Read::Unreadable(why) => Some((why, "run `ktx runtime doctor --fix` to remove it".into())),
        Read::Present(s) if !same_process(&s) => Some((
            format!(
                "{} names pid {}, which is not running",
                layout.daemon_state().display(),
                s.pid
            ),
            "run `ktx runtime doctor --fix` to remove it".into(),
        )),
        Read::Present(_) => None,
    }
}

pub fn remove_stale(layout: &Layout) -> Result<()> {
    match std::fs::remove_file(layout.daemon_state()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot remove", layout.daemon_state(), e))
        }
        _ => Ok(()),
    }
}

/// Stop the daemon of a version that prune removes: only when it is provably that daemon.
pub fn stop_for_prune(layout: &Layout) -> Result<()> {
    crate::daemon::stop(layout).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_the_manifest_formatter() {
        for secs in [0, 1_778_457_600, 1_800_000_123] {
            assert_eq!(parse_rfc3339(&crate::manifest::rfc3339(secs)), Some(secs));
        }
        assert_eq!(
            parse_rfc3339("2026-05-11T00:00:00.123456Z"),
            Some(1_778_457_600)
        );
    }

    #[test]
    fn this_process_has_a_start_time_and_is_alive() {
        assert!(pid_alive(std::process::id()));
        if cfg!(target_os = "linux") {
            assert!(proc_start_time(std::process::id()).is_some());
        }
    }
}
