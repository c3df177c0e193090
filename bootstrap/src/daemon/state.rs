//! `daemon.json`, written by the daemon itself (atomically, mode 0600) before it reports ready,
//! and `.daemon.lock`, which the daemon holds for its whole life. Together they are what ktx
//! knows of a daemon without talking to it; no `/proc` is read.

use crate::error::{Error, Result};
use crate::paths::Layout;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DaemonState {
    pub pid: u32,
    pub port: u16,
    pub version: String,
    #[serde(default)]
    pub features: Vec<String>,
    pub started_at: String,
    pub token: String,
    #[serde(default)]
    pub wheel_sha256: String,
    /// Why ktx started it: start, query, burst, embed.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug)]
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

/// Whether a process holds this version's daemon lock: a daemon of this version runs. `None`
/// when the lock cannot be probed (a read-only runtime: no daemon can run there either).
pub fn lock_held(layout: &Layout) -> Option<bool> {
    if !layout.version_dir().is_dir() {
        return Some(false);
    }
    match crate::lock::try_exclusive(&layout.daemon_lock()) {
        Ok(Some(_probe)) => Some(false), // released at once: nobody held it
        Ok(None) => Some(true),
        Err(_) => None,
    }
}

/// Remove daemon.json if it still names `pid` (or whatever it holds, for `None`).
pub fn remove(layout: &Layout, pid: Option<u32>) -> Result<()> {
    if let (Some(pid), Read::Present(s)) = (pid, read(layout)) {
        if s.pid != pid {
            return Ok(());
        }
    }
    match std::fs::remove_file(layout.daemon_state()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot remove", layout.daemon_state(), e))
        }
        _ => Ok(()),
    }
}

/// Seconds since `started_at` (RFC 3339), for status.
pub fn uptime(started_at: &str) -> Option<i64> {
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
    fn the_lock_says_whether_a_daemon_runs() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::resolve(Some(dir.path()), "9.9.9").unwrap();
        assert_eq!(lock_held(&layout), Some(false), "no version directory yet");
        std::fs::create_dir_all(layout.version_dir()).unwrap();
        assert_eq!(lock_held(&layout), Some(false));
        let held = crate::lock::try_exclusive(&layout.daemon_lock())
            .unwrap()
            .unwrap();
        assert_eq!(lock_held(&layout), Some(true));
        drop(held);
        assert_eq!(lock_held(&layout), Some(false));
    }
}
