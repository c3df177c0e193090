//! The managed HTTP daemon: start, reuse, stop, describe (README, "The daemon").
//!
//! A daemon holds `<version>/.daemon.lock` for its whole life and writes its own `daemon.json`
//! (pid, port, token, version, wheel sha256, features) before it reports ready. So, with no
//! `/proc` read and on every OS: a daemon of this version runs if and only if that lock is
//! held; it is ours if `/health`, asked with the token of daemon.json, answers with the pid of
//! daemon.json; it may serve this CLI if it also reports this version, this wheel's sha256 and
//! the features asked for. `verdict` is that rule, in one place, for start, status and doctor.
//!
//! Parts: `state` (daemon.json and the lock), `client` (HTTP to the daemon), `process`
//! (spawning, signals, waiting for the lock to be released).

pub mod burst;
pub mod client;
pub mod process;
pub mod state;

pub use client::{call, health, Health, Probe};
pub use state::{read, DaemonState, Read};

use crate::error::{Error, Result};
use crate::lock;
use crate::manifest::RuntimeManifest;
use crate::paths::Layout;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a `/health` answer is waited for before the daemon counts as busy.
pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a busy daemon (lock held, no answer) is waited for before ktx goes one-shot.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);
/// How long a start may take before it counts as failed.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a failed start is remembered (commands go one-shot at once meanwhile).
pub const FAILED_MEMORY: Duration = Duration::from_secs(60);
pub const DEFAULT_IDLE_SECONDS: u64 = 15 * 60;

/// Why ktx started a daemon (echoed by the daemon, shown by `runtime status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reason {
    /// `ktx runtime start`.
    Start,
    /// A command run with `--daemon` (or KTX_DAEMON=always).
    Query,
    /// A burst of commands (KTX_DAEMON=auto).
    Burst,
    /// `ktx embed`, which keeps the model loaded.
    Embed,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Query => "query",
            Reason::Burst => "burst",
            Reason::Embed => "embed",
        }
    }

    /// What `runtime status` says about it.
    pub fn describe(name: &str) -> String {
        match name {
            "start" => "started by `ktx runtime start`".into(),
            "query" => "started for a command run with --daemon".into(),
            "burst" => "started by a burst of commands (KTX_DAEMON=auto)".into(),
            "embed" => "started for `ktx embed`".into(),
            "" => "started by an older ktx".into(),
            other => format!("started for: {other}"),
        }
    }
}

/// What a command wants of a daemon: this CLI's version, this wheel, these features.
#[derive(Debug, Clone)]
pub struct Want {
    pub version: String,
    pub wheel_sha256: String,
    pub features: Vec<String>,
    /// The installed venv (canonical): every module the daemon serves must come from under it.
    pub venv: std::path::PathBuf,
}

impl Want {
    pub fn of(layout: &Layout, m: &RuntimeManifest) -> Want {
        Want {
            version: layout.version.clone(),
            wheel_sha256: m.wheel.sha256.clone(),
            features: m.features.iter().map(|f| f.name().to_string()).collect(),
            venv: std::fs::canonicalize(layout.venv()).unwrap_or_else(|_| layout.venv()),
        }
    }
}

/// Why the daemon's code is not the installed venv's, if it is not: a daemon that does not
/// say where its packages were imported from, or imported one from elsewhere (a directory on
/// `sys.path` that is not the venv's), cannot serve this CLI.
fn foreign_code(h: &Health, venv: &std::path::Path) -> Option<String> {
    if h.modules.is_empty() {
        return Some("it does not say where its code was imported from".into());
    }
    h.modules
        .iter()
        .find(|(_, dir)| !dir.starts_with(venv))
        .map(|(name, dir)| {
            format!(
                "it serves {name} from {}, not from the installed venv {}",
                dir.display(),
                venv.display()
            )
        })
}

/// What to do about the daemon of this version.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// None runs (the lock is free); a leftover daemon.json, if any, is stale.
    Start { stale_state: bool },
    /// Ours, current: use it.
    Reuse(DaemonState, Health),
    /// Ours, but of another version, wheel or feature set: stop it, start another.
    StopThenReplace(DaemonState, Health, String),
    /// The lock is held and daemon.json names a daemon, but it does not answer in time: busy
    /// (or stopped). Never killed for that; the command goes one-shot.
    Busy(DaemonState, String),
    /// The lock is held by a daemon ktx cannot identify (no or unreadable daemon.json, or an
    /// answer that is not its own): left alone; it exits by itself once its state is gone.
    Foreign(String),
}

/// The rule. Pure: what was observed in, what to do out (unit-tested on every OS).
pub fn verdict(lock_held: bool, state: &Read, probe: Option<&Probe>, want: &Want) -> Verdict {
    if !lock_held {
        return Verdict::Start {
            stale_state: !matches!(state, Read::Missing),
        };
    }
    let s = match state {
        Read::Present(s) => s,
        Read::Missing => {
            return Verdict::Foreign("a daemon holds the lock but wrote no daemon.json".into())
        }
        Read::Unreadable(why) => return Verdict::Foreign(why.clone()),
    };
    match probe {
        None => Verdict::Busy(s.clone(), "not asked".into()),
        Some(Probe::NoAnswer(why)) => Verdict::Busy(s.clone(), why.clone()),
        Some(Probe::Stranger(why)) => Verdict::Foreign(why.clone()),
        Some(Probe::Answered(h)) if h.pid != s.pid => Verdict::Foreign(format!(
            "port {} answered for pid {}, daemon.json names pid {}",
            s.port, h.pid, s.pid
        )),
        Some(Probe::Answered(h)) => {
            let why = if h.version != want.version {
                Some(format!(
                    "it is version {}, this ktx is {}",
                    h.version, want.version
                ))
            } else if h.wheel_sha256 != want.wheel_sha256 {
                Some("it runs the code of another install (wheel sha256 differs)".to_string())
            } else if let Some(why) = foreign_code(h, &want.venv) {
                Some(why)
            } else {
                want.features
                    .iter()
                    .find(|f| !h.features.contains(f))
                    .map(|f| format!("it lacks the {f} feature"))
            };
            match why {
                Some(why) => Verdict::StopThenReplace(s.clone(), h.clone(), why),
                None => Verdict::Reuse(s.clone(), h.clone()),
            }
        }
    }
}

/// Observe, then decide.
pub fn inspect(layout: &Layout, want: &Want) -> Verdict {
    let held = state::lock_held(layout).unwrap_or(false);
    let st = read(layout);
    let probe = match (&st, held) {
        (Read::Present(s), true) => Some(health(s, HEALTH_TIMEOUT)),
        _ => None,
    };
    verdict(held, &st, probe.as_ref(), want)
}

/// The running daemon if it may serve `m` now; a busy one is waited for a little.
pub fn reusable(layout: &Layout, m: &RuntimeManifest) -> Option<DaemonState> {
    let want = Want::of(layout, m);
    let deadline = Instant::now() + BUSY_WAIT;
    let mut said = false;
    loop {
        match inspect(layout, &want) {
            Verdict::Reuse(s, _) => return Some(s),
            Verdict::Busy(s, why) if Instant::now() < deadline => {
                say_busy(&mut said, &s, &why);
                std::thread::sleep(Duration::from_millis(500));
            }
            Verdict::Busy(s, _) => {
                errln!(
                    "ktx: the daemon (pid {}) is busy for more than {}s; running one-shot",
                    s.pid,
                    BUSY_WAIT.as_secs()
                );
                return None;
            }
            _ => return None,
        }
    }
}

/// Say once that the daemon is busy and is being waited for.
fn say_busy(said: &mut bool, s: &DaemonState, why: &str) {
    if !*said {
        *said = true;
        errln!(
            "ktx: the daemon (pid {}) is busy ({why}); waiting up to {}s for it",
            s.pid,
            BUSY_WAIT.as_secs()
        );
    }
}

pub fn idle_seconds() -> u64 {
    std::env::var("KTX_DAEMON_IDLE_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_IDLE_SECONDS)
}

/// A recent failure to start, if it is still remembered.
pub fn recent_failure(layout: &Layout) -> Option<String> {
    let path = layout.daemon_failed();
    let age = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()?
        .elapsed()
        .unwrap_or(Duration::ZERO);
    (age < FAILED_MEMORY).then(|| std::fs::read_to_string(&path).unwrap_or_default())
}

/// How a daemon is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub reason: Reason,
    /// `ktx runtime start`: tries even after a recent failure.
    pub explicit: bool,
    /// Log every request (`-v`).
    pub access_log: bool,
}

/// Reuse the live daemon or start one (under the control lock). Returns its state and whether
/// it was started now.
pub fn start(layout: &Layout, m: &RuntimeManifest, ask: Ask) -> Result<(DaemonState, bool)> {
    if !ask.explicit {
        if let Some(why) = recent_failure(layout) {
            return Err(Error::other(
                format!("the daemon failed to start moments ago: {}", why.trim()),
                log_hint(layout),
            ));
        }
    }
    std::fs::create_dir_all(layout.version_dir())
        .map_err(|e| Error::io("cannot create", layout.version_dir(), e))?;
    let _ctl = lock::exclusive(&layout.daemon_ctl_lock(), || {})?;
    if ask.reason == Reason::Burst && !layout.burst_start().exists() {
        // A `runtime stop` came between the burst's request and this start: it wins.
        return Err(Error::other(
            "the burst's daemon start was cancelled by `ktx runtime stop`",
            "nothing to do",
        ));
    }
    let want = Want::of(layout, m);
    let deadline = Instant::now() + BUSY_WAIT;
    let mut said = false;
    loop {
        match inspect(layout, &want) {
            Verdict::Reuse(s, _) => return Ok((s, false)),
            Verdict::Start { stale_state } => {
                if stale_state {
                    state::remove(layout, None)?;
                }
                break;
            }
            Verdict::StopThenReplace(s, h, why) => {
                errln!("ktx: replacing the daemon (pid {}): {why}", s.pid);
                if let Stopped::Unstoppable(why) = stop_daemon(layout, &s, Some(&h)) {
                    return Err(Error::other(
                        format!("the daemon (pid {}) cannot be stopped: {why}", s.pid),
                        "stop it yourself, then run the command again",
                    ));
                }
                break;
            }
            Verdict::Busy(s, why) => {
                say_busy(&mut said, &s, &why);
                if Instant::now() >= deadline {
                    return Err(Error::other(
                        format!("the daemon (pid {}) is busy: {why}", s.pid),
                        "try again in a moment, or `ktx runtime stop` it",
                    ));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Verdict::Foreign(why) => {
                return Err(Error::other(
                    format!("another daemon holds this version's lock: {why}"),
                    "it exits by itself within seconds once its state is gone; try again",
                ))
            }
        }
    }
    match process::spawn(layout, m, ask.reason, ask.access_log) {
        Ok(s) => {
            let _ = std::fs::remove_file(layout.daemon_failed());
            Ok((s, true))
        }
        Err(e) => {
            let _ = crate::atomic::write(
                &layout.daemon_failed(),
                e.to_string().lines().next().unwrap_or("").as_bytes(),
                0o600,
            );
            Err(e)
        }
    }
}

/// How a stop went.
#[derive(Debug, PartialEq)]
pub enum Stopped {
    /// No daemon ran.
    Nothing,
    Stopped(u32),
    /// It would not end; its state is kept, for `status` to keep showing it.
    Unstoppable(String),
}

/// Stop the daemon `s` (which holds the lock): ask it (`/shutdown`), then signal the pid it
/// reported (or, when it does not answer, the pid of the daemon.json it wrote), then wait for
/// the lock to be released.
fn stop_daemon(layout: &Layout, s: &DaemonState, h: Option<&Health>) -> Stopped {
    let pid = h.map_or(s.pid, |h| h.pid);
    if h.is_some() {
        let _ = client::request(
            s.port,
            &s.token,
            "POST",
            "/shutdown",
            Some(b"{}"),
            HEALTH_TIMEOUT,
        );
        if process::wait_lock_free(layout, Duration::from_secs(5)) {
            let _ = state::remove(layout, Some(pid));
            return Stopped::Stopped(pid);
        }
    }
    process::terminate(pid);
    if process::wait_lock_free(layout, Duration::from_secs(3)) {
        let _ = state::remove(layout, Some(pid));
        return Stopped::Stopped(pid);
    }
    process::kill(pid);
    if process::wait_lock_free(layout, Duration::from_secs(3)) {
        let _ = state::remove(layout, Some(pid));
        return Stopped::Stopped(pid);
    }
    Stopped::Unstoppable(format!(
        "pid {pid} still holds {}",
        layout.daemon_lock().display()
    ))
}

/// Stop this version's daemon, whatever it serves (`runtime stop`, install, prune).
pub fn stop(layout: &Layout) -> Result<Stopped> {
    if !layout.version_dir().is_dir() {
        return Ok(Stopped::Nothing);
    }
    let _ctl = lock::exclusive(&layout.daemon_ctl_lock(), || {})?;
    // A burst's start still waiting for the control lock finds its request gone and does not
    // start: after `stop`, no daemon runs until something asks again.
    let _ = std::fs::remove_file(layout.burst_start());
    let held = state::lock_held(layout).unwrap_or(false);
    let st = read(layout);
    if !held {
        if !matches!(st, Read::Missing) {
            state::remove(layout, None)?;
        }
        return Ok(Stopped::Nothing);
    }
    match st {
        Read::Present(s) => {
            let h = match health(&s, HEALTH_TIMEOUT) {
                Probe::Answered(h) if h.pid == s.pid => Some(h),
                Probe::Answered(_) | Probe::Stranger(_) => {
                    return Ok(Stopped::Unstoppable(format!(
                        "the daemon on port {} does not answer as pid {} of daemon.json",
                        s.port, s.pid
                    )))
                }
                Probe::NoAnswer(_) => None,
            };
            Ok(stop_daemon(layout, &s, h.as_ref()))
        }
        _ => Ok(Stopped::Unstoppable(format!(
            "a daemon holds {} but left no readable daemon.json; it exits by itself within seconds",
            layout.daemon_lock().display()
        ))),
    }
}

pub fn log_hint(layout: &Layout) -> String {
    format!(
        "the daemon's output is in {}",
        crate::output::shell_quote(&layout.daemon_log().display().to_string())
    )
}

/// For `runtime status`: Null when no daemon runs (the lock is free).
pub fn describe(layout: &Layout) -> Value {
    if state::lock_held(layout) != Some(true) {
        return Value::Null;
    }
    match read(layout) {
        Read::Present(s) => {
            let h = match health(&s, Duration::from_millis(500)) {
                Probe::Answered(h) => Some(h.body),
                _ => None,
            };
            let h = h.unwrap_or(Value::Null);
            json!({
                "pid": s.pid,
                "port": s.port,
                "version": s.version,
                "features": s.features,
                "startedAt": s.started_at,
                "uptimeSeconds": state::uptime(&s.started_at),
                "reason": s.reason,
                "why": Reason::describe(&s.reason),
                "wheelSha256": s.wheel_sha256,
                "rssBytes": h["rssBytes"],
                "idleSecondsLeft": h["idleSecondsLeft"],
                "requests": h["requests"],
                "embeddingModel": h["embeddingModel"],
                "answering": !h.is_null(),
                "log": layout.daemon_log(),
                "summary": format!(
                    "running, pid {} on 127.0.0.1:{}, version {}, features {}, since {}{}{}",
                    s.pid, s.port, s.version, s.features.join("+"), s.started_at,
                    format!(" ({})", Reason::describe(&s.reason)),
                    if h.is_null() { ", not answering (busy?)" } else { "" }
                ),
            })
        }
        _ => {
            json!({"summary": "a daemon holds the lock without readable state (it exits by itself)"})
        }
    }
}

/// A problem with the daemon state that doctor reports: (detail, fix).
/// What `runtime doctor` finds wrong with the daemon of this version.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A daemon.json no daemon holds the lock for: harmless, removed by `--fix`.
    Stale { detail: String, fix: String },
    /// A live daemon of ours that cannot serve this runtime (another wheel, code imported from
    /// outside the venv): reuse refuses it; `--fix` stops it.
    Unfit { detail: String, fix: String },
}

/// The daemon's state as doctor reports it (`None`: nothing wrong).
pub fn doctor_check(layout: &Layout, m: Option<&RuntimeManifest>) -> Option<Problem> {
    let stale = |detail: String| {
        Some(Problem::Stale {
            detail,
            fix: "run `ktx runtime doctor --fix` to remove it".into(),
        })
    };
    match (state::lock_held(layout), read(layout)) {
        (_, Read::Missing) => None,
        (Some(false), Read::Present(s)) => stale(format!(
            "{} names pid {}, but no daemon holds {}",
            layout.daemon_state().display(),
            s.pid,
            layout.daemon_lock().display()
        )),
        (Some(false), Read::Unreadable(why)) => stale(why),
        (Some(true), Read::Present(_)) => match inspect(layout, &Want::of(layout, m?)) {
            Verdict::StopThenReplace(s, _, why) => Some(Problem::Unfit {
                detail: format!(
                    "the running daemon (pid {}) cannot serve this runtime: {why}",
                    s.pid
                ),
                fix: "run `ktx runtime doctor --fix` (or `ktx runtime stop`) to stop it; the next command starts a new one".into(),
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Stop a daemon that `doctor_check` found unfit, or remove a daemon.json no daemon holds.
pub fn repair(layout: &Layout, m: Option<&RuntimeManifest>) -> Result<()> {
    if state::lock_held(layout) == Some(true) {
        if let Some(m) = m {
            if let Verdict::StopThenReplace(..) = inspect(layout, &Want::of(layout, m)) {
                stop(layout)?;
            }
        }
        return Ok(());
    }
    remove_stale(layout)
}

/// Remove a daemon.json that no daemon holds the lock for.
pub fn remove_stale(layout: &Layout) -> Result<()> {
    if state::lock_held(layout) == Some(true) {
        return Ok(());
    }
    state::remove(layout, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pid: u32) -> DaemonState {
        DaemonState {
            pid,
            port: 4000,
            version: "1.0.0".into(),
            features: vec!["core".into()],
            started_at: "2026-01-01T00:00:00Z".into(),
            token: "t".into(),
            wheel_sha256: "aaa".into(),
            reason: "query".into(),
        }
    }

    fn health_of(pid: u32, version: &str, sha: &str, features: &[&str]) -> Probe {
        Probe::Answered(Health {
            pid,
            version: version.into(),
            wheel_sha256: sha.into(),
            features: features.iter().map(|f| f.to_string()).collect(),
            modules: vec![
                (
                    "ktx_host".into(),
                    "/rt/1.0.0/venv/lib/site-packages/ktx_host".into(),
                ),
                (
                    "ktx_daemon".into(),
                    "/rt/1.0.0/venv/lib/site-packages/ktx_daemon".into(),
                ),
            ],
            body: Value::Null,
        })
    }

    fn want() -> Want {
        Want {
            version: "1.0.0".into(),
            wheel_sha256: "aaa".into(),
            features: vec!["core".into()],
            venv: "/rt/1.0.0/venv".into(),
        }
    }

    #[test]
    fn a_daemon_serving_code_from_outside_the_venv_or_not_saying_is_stopped_then_replaced() {
        let Probe::Answered(mut h) = health_of(7, "1.0.0", "aaa", &["core"]) else {
            unreachable!()
        };
        h.modules[1].1 = "/home/user/project/ktx_daemon".into();
        match verdict(
            true,
            &Read::Present(st(7)),
            Some(&Probe::Answered(h.clone())),
            &want(),
        ) {
            Verdict::StopThenReplace(_, _, w) => {
                assert!(
                    w.contains("serves ktx_daemon from /home/user/project"),
                    "{w}"
                )
            }
            v => panic!("{v:?}"),
        }
        h.modules.clear();
        match verdict(
            true,
            &Read::Present(st(7)),
            Some(&Probe::Answered(h)),
            &want(),
        ) {
            Verdict::StopThenReplace(_, _, w) => assert!(w.contains("does not say"), "{w}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_free_lock_means_no_daemon_whatever_daemon_json_says() {
        assert_eq!(
            verdict(false, &Read::Present(st(7)), None, &want()),
            Verdict::Start { stale_state: true }
        );
        assert_eq!(
            verdict(false, &Read::Missing, None, &want()),
            Verdict::Start { stale_state: false }
        );
    }

    #[test]
    fn a_daemon_that_answers_as_itself_with_our_wheel_and_features_is_reused() {
        let h = health_of(7, "1.0.0", "aaa", &["core", "local-embeddings"]);
        assert!(matches!(
            verdict(true, &Read::Present(st(7)), Some(&h), &want()),
            Verdict::Reuse(..)
        ));
    }

    #[test]
    fn another_version_wheel_or_feature_set_is_stopped_then_replaced() {
        for (h, why) in [
            (health_of(7, "0.9.0", "aaa", &["core"]), "version 0.9.0"),
            (health_of(7, "1.0.0", "bbb", &["core"]), "another install"),
        ] {
            match verdict(true, &Read::Present(st(7)), Some(&h), &want()) {
                Verdict::StopThenReplace(_, _, w) => assert!(w.contains(why), "{w}"),
                v => panic!("{v:?}"),
            }
        }
        let mut w = want();
        w.features.push("local-embeddings".into());
        let h = health_of(7, "1.0.0", "aaa", &["core"]);
        assert!(matches!(
            verdict(true, &Read::Present(st(7)), Some(&h), &w),
            Verdict::StopThenReplace(..)
        ));
    }

    #[test]
    fn a_held_lock_without_an_answer_is_busy_never_dead() {
        let v = verdict(
            true,
            &Read::Present(st(7)),
            Some(&Probe::NoAnswer("timed out".into())),
            &want(),
        );
        assert!(matches!(v, Verdict::Busy(..)), "{v:?}");
    }

    #[test]
    fn squatters_and_unidentifiable_holders_are_left_alone() {
        let squatter = Probe::Stranger("port 4000 answered HTTP 404".into());
        assert!(matches!(
            verdict(true, &Read::Present(st(7)), Some(&squatter), &want()),
            Verdict::Foreign(_)
        ));
        let other_pid = health_of(8, "1.0.0", "aaa", &["core"]);
        assert!(matches!(
            verdict(true, &Read::Present(st(7)), Some(&other_pid), &want()),
            Verdict::Foreign(_)
        ));
        assert!(matches!(
            verdict(true, &Read::Missing, None, &want()),
            Verdict::Foreign(_)
        ));
    }
}
