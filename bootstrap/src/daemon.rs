//! The managed HTTP daemon: start, reuse, health, stop (README, "The daemon").
//!
//! Reuse rule: the pid in daemon.json is alive, `/health` answers with the token, reports that
//! pid and this CLI's version. Anything else is stale; a stale daemon is stopped only when it is
//! provably ours (it answered with our token and pid, or its command line and start time match
//! what daemon.json recorded). A process that merely reuses the pid, or a server squatting the
//! port, is left alone. Start and stop hold the version's daemon lock, so concurrent starts
//! make one daemon.

use crate::daemon_state::{self, same_process, DaemonState, Read};
use crate::error::{Error, Result};
use crate::lock;
use crate::manifest::RuntimeManifest;
use crate::paths::Layout;
use serde_json::Value;
use std::io::{Read as _, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);
pub const START_DEADLINE: Duration = Duration::from_secs(30);
pub const DEFAULT_IDLE_SECONDS: u64 = 15 * 60;

/// One HTTP/1.1 request to the daemon on 127.0.0.1; (status, body).
pub fn request(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or(b"");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP response"))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let mut payload = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    Ok((status, payload))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}

/// What `/health` said about a recorded daemon.
#[derive(Debug, PartialEq)]
pub enum Health {
    /// Answered with our token, its pid and our version.
    Ours,
    /// Answered with our token and its pid, but another version.
    OursOtherVersion(String),
    /// Answered, but not as the daemon recorded (wrong token, wrong pid, not ktx).
    Stranger(String),
    /// Nothing answered in time.
    Unreachable(String),
}

pub fn health(s: &DaemonState, version: &str) -> Health {
    match request(s.port, &s.token, "GET", "/health", None, HEALTH_TIMEOUT) {
        Err(e) => Health::Unreachable(e.to_string()),
        Ok((200, body)) => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if v["pid"].as_u64() != Some(u64::from(s.pid)) {
                return Health::Stranger(format!("port {} answered for pid {}", s.port, v["pid"]));
            }
            match v["version"].as_str() {
                Some(v) if v == version => Health::Ours,
                Some(v) => Health::OursOtherVersion(v.to_string()),
                None => Health::Stranger("no version in /health".into()),
            }
        }
        Ok((code, _)) => Health::Stranger(format!("port {} answered HTTP {code}", s.port)),
    }
}

/// The recorded daemon if it passes the reuse rule.
pub fn reusable(layout: &Layout) -> Option<DaemonState> {
    match daemon_state::read(layout) {
        Read::Present(s)
            if s.version == layout.version
                && same_process(&s)
                && health(&s, &layout.version) == Health::Ours =>
        {
            Some(s)
        }
        _ => None,
    }
}

/// Whether the recorded process is the ktx-daemon that was started (command line + start time).
fn cmdline_matches(s: &DaemonState) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{}/cmdline", s.pid)) else {
        return false;
    };
    let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
    cmd.contains("ktx_daemon")
        && cmd.contains("serve-http")
        && s.proc_start.is_some()
        && s.proc_start == daemon_state::proc_start_time(s.pid)
}

#[cfg(unix)]
fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a pid we proved is our daemon.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

fn wait_gone(s: &DaemonState, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !same_process(s) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !same_process(s)
}

/// Stop a recorded daemon if it is provably ours; returns whether a daemon was stopped.
fn stop_recorded(layout: &Layout, s: &DaemonState) -> bool {
    let answered_ours = matches!(
        health(s, &layout.version),
        Health::Ours | Health::OursOtherVersion(_)
    );
    let ours = answered_ours || cmdline_matches(s);
    if !ours {
        return false;
    }
    if answered_ours {
        let _ = request(
            s.port,
            &s.token,
            "POST",
            "/shutdown",
            Some(b"{}"),
            HEALTH_TIMEOUT,
        );
        if wait_gone(s, Duration::from_secs(5)) {
            return true;
        }
    }
    #[cfg(unix)]
    {
        signal(s.pid, libc::SIGTERM);
        if wait_gone(s, Duration::from_secs(3)) {
            return true;
        }
        signal(s.pid, libc::SIGKILL);
        wait_gone(s, Duration::from_secs(2))
    }
    #[cfg(not(unix))]
    false
}

fn remove_state_of(layout: &Layout, pid: u32) {
    if let Read::Present(s) = daemon_state::read(layout) {
        if s.pid == pid {
            let _ = std::fs::remove_file(layout.daemon_state());
        }
    }
}

/// `ktx runtime stop`: stop this version's daemon. Ok(true) when one was stopped.
pub fn stop(layout: &Layout) -> Result<bool> {
    let _lock = lock::exclusive(&layout.daemon_lock(), || {})?;
    match daemon_state::read(layout) {
        Read::Missing => Ok(false),
        Read::Unreadable(_) => {
            daemon_state::remove_stale(layout)?;
            Ok(false)
        }
        Read::Present(s) => {
            let stopped = same_process(&s) && stop_recorded(layout, &s);
            remove_state_of(layout, s.pid);
            Ok(stopped)
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !filled {
        let seed = format!(
            "{:?}{}{:?}",
            Instant::now(),
            std::process::id(),
            std::time::SystemTime::now()
        );
        use sha2::Digest;
        bytes.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes()));
    }
    crate::package::hex(&bytes)
}

pub fn idle_seconds() -> u64 {
    std::env::var("KTX_DAEMON_IDLE_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_IDLE_SECONDS)
}

/// Reuse the live daemon or start one (under the daemon lock). Returns its state and whether
/// it was started now.
pub fn start(layout: &Layout, m: &RuntimeManifest) -> Result<(DaemonState, bool)> {
    std::fs::create_dir_all(layout.version_dir())
        .map_err(|e| Error::io("cannot create", layout.version_dir(), e))?;
    let _lock = lock::exclusive(&layout.daemon_lock(), || {})?;
    match daemon_state::read(layout) {
        Read::Present(s) => {
            if same_process(&s) {
                if s.version == layout.version && health(&s, &layout.version) == Health::Ours {
                    return Ok((s, false));
                }
                // Stale for this CLI: stopped only if provably ours, then replaced.
                stop_recorded(layout, &s);
            }
            remove_state_of(layout, s.pid);
        }
        Read::Unreadable(_) => daemon_state::remove_stale(layout)?,
        Read::Missing => {}
    }
    spawn(layout, m).map(|s| (s, true))
}

fn spawn(layout: &Layout, m: &RuntimeManifest) -> Result<DaemonState> {
    let token = random_token();
    let log_path = layout.daemon_log();
    let ready = layout
        .version_dir()
        .join(format!(".daemon-ready-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("cannot open the daemon log", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("cannot open the daemon log", &log_path, e))?;
    let mut cmd = crate::oneshot::ktx_daemon(std::path::Path::new(&m.python.executable));
    cmd.args([
        "serve-http",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--idle-timeout",
    ])
    .arg(idle_seconds().to_string())
    .arg("--ready-file")
    .arg(&ready)
    .arg("--state-file")
    .arg(layout.daemon_state())
    .env("KTX_DAEMON_TOKEN", &token)
    .stdin(Stdio::null())
    .stdout(Stdio::from(log))
    .stderr(Stdio::from(log_err));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own session: the daemon outlives this ktx and ignores the terminal's signals.
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::other(
            format!("cannot start {} -m ktx_daemon: {e}", m.python.executable),
            "run `ktx runtime doctor --fix`",
        )
    })?;
    let pid = child.id();
    let deadline = Instant::now() + START_DEADLINE;
    let failed = |why: String| {
        Error::other(
            format!(
                "the daemon did not start: {why}\n{}",
                crate::install::tail_of(&log_path, 8)
            ),
            format!("its output is in {}", log_path.display()),
        )
    };
    let port = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if let Some(p) = v["port"].as_u64() {
                    break p as u16;
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!("ktx-daemon exited ({status})")));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(failed(format!(
                "no ready report within {}s",
                START_DEADLINE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&ready);
    let state = DaemonState {
        pid,
        port,
        version: layout.version.clone(),
        features: m.features.iter().map(|f| f.name().to_string()).collect(),
        started_at: crate::manifest::now_rfc3339(),
        token,
        proc_start: daemon_state::proc_start_time(pid),
    };
    if health(&state, &layout.version) != Health::Ours {
        let _ = child.kill();
        return Err(failed(
            "it reported ready but /health did not answer as expected".into(),
        ));
    }
    crate::atomic::write_json(&layout.daemon_state(), &state, 0o600)?;
    // The daemon is not our child to wait for: it runs on after this ktx exits.
    std::mem::forget(child);
    Ok(state)
}

/// POST a request to the daemon; a 400 is a refused request (exit 3).
pub fn call(
    s: &DaemonState,
    path: &str,
    body: &Value,
    timeout: Duration,
) -> Result<std::result::Result<Value, String>> {
    let bytes = serde_json::to_vec(body).expect("serializable");
    match request(s.port, &s.token, "POST", path, Some(&bytes), timeout) {
        Ok((200, b)) => serde_json::from_slice(&b).map(Ok).map_err(|e| {
            Error::other(
                format!("the daemon answered {path} with invalid JSON: {e}"),
                "run `ktx runtime stop` and try again",
            )
        }),
        Ok((400, b)) => {
            let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
            Err(Error::Rejected {
                message: v["detail"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&b).to_string()),
            })
        }
        Ok((code, b)) => Ok(Err(format!(
            "HTTP {code}: {}",
            String::from_utf8_lossy(&b)
                .chars()
                .take(200)
                .collect::<String>()
        ))),
        Err(e) => Ok(Err(e.to_string())),
    }
}

pub fn log_hint(layout: &Layout) -> String {
    format!(
        "the daemon's output is in {}",
        layout.daemon_log().display()
    )
}
