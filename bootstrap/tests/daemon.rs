//! The managed daemon as users and CI meet it: start and reuse, concurrent starts, stop, stale
//! state of every kind (a stranger's pid, a squatted port, a killed daemon, a stopped one, a
//! removed state file), reinstalls, bounded logs, Ctrl-C of `runtime start`, daemons of several
//! versions, the idle timeout, bursts and `sl query --daemon`.
//!
//! No test reads /proc: processes are seen through sysinfo, so these run on macOS and Windows
//! as well (CI).

mod common;

use common::*;
use predicates::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn state_at(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("daemon.json")).unwrap()).unwrap()
}

fn state(sb: &Sandbox) -> serde_json::Value {
    state_at(&sb.version_dir())
}

fn pid_of(sb: &Sandbox) -> u32 {
    state(sb)["pid"].as_u64().unwrap() as u32
}

/// Make daemon.json claim that `pid` on `port` is this version's daemon.
fn claim_daemon(sb: &Sandbox, pid: u32, port: u16) {
    std::fs::write(
        sb.version_dir().join("daemon.json"),
        format!(
            r#"{{"pid": {pid}, "port": {port}, "version": "{}", "features": ["core"], "startedAt": "2026-01-01T00:00:00Z", "token": "t"}}"#,
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
}

/// The daemons running for the version directory `dir`.
fn daemons_in(dir: &Path) -> Vec<u32> {
    let state = dir.join("daemon.json").display().to_string();
    processes_with(&["serve-http", &state])
}

fn daemons_of(sb: &Sandbox) -> Vec<u32> {
    daemons_in(&sb.version_dir())
}

/// `runtime status --json`'s daemon object (null when none runs).
fn status_daemon(sb: &Sandbox) -> serde_json::Value {
    let out = sb
        .ktx()
        .args(["runtime", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["daemon"].clone()
}

/// The revenue query as a user's script runs it by default (`KTX_DAEMON=auto`: one-shot, a
/// running daemon used, a burst starting one).
fn auto_query(sb: &Sandbox) -> assert_cmd::assert::Assert {
    sb.ktx()
        .env("KTX_DAEMON", "auto")
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue"])
        .assert()
}

/// One HTTP request to a daemon, as any local client would send it: (status, body).
fn http(port: u16, token: Option<&str>, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A copy of this runtime as if it were version `v`, with a daemon started in it the way ktx
/// starts one (so that `--all` has two versions to see). Returns its directory and pid.
fn other_version_with_daemon(sb: &Sandbox, v: &str) -> (PathBuf, u32) {
    let dir = sb.root().join(v);
    copy_tree(&sb.version_dir(), &dir);
    set_manifest_version(&dir, v);
    for f in [
        "daemon.json",
        "daemon.log",
        ".daemon.lock",
        ".daemon-failed",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let child = host_serve_http(&dir, "0000", &"a".repeat(64), true)
        .arg("--watch")
        .arg(&dir)
        .arg("--watch")
        .arg(dir.join("venv"))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("daemon.json").exists() {
        assert!(Instant::now() < deadline, "the {v} daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id();
    // Reaped when it ends (stopped by ktx), as ktx's own daemons are by their parent's end.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    (dir, pid)
}

#[test]
fn start_then_start_again_reuses_the_same_daemon_and_stop_leaves_nothing() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("daemon started").and(predicate::str::contains("daemon.log")),
        );
    let first = pid_of(&sb);
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("reusing"));
    assert_eq!(pid_of(&sb), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sb.version_dir().join("daemon.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(format!("pid {first}"))
                .and(predicate::str::contains("started by `ktx runtime start`"))
                .and(predicate::str::contains("daemon log: ")),
        );
    sb.ktx()
        .args(["runtime", "stop"])
        .assert()
        .success()
        .stdout(format!("daemon stopped (pid {first})\n"));
    assert!(!sb.version_dir().join("daemon.json").exists());
    assert!(!pid_alive(first));
    assert!(daemons_of(&sb).is_empty());
    sb.ktx()
        .args(["runtime", "stop"])
        .assert()
        .success()
        .stdout("no daemon was running\n");
}

#[test]
fn sixteen_concurrent_starts_make_exactly_one_daemon() {
    let sb = Sandbox::new();
    sb.install();
    let children: Vec<_> = (0..16)
        .map(|_| {
            sb.std_ktx()
                .args(["runtime", "start"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let line = stdout_of(&out);
        let pid = line
            .split("pid ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        pids.insert(pid);
    }
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_eq!(daemons_of(&sb).len(), 1);
}

#[test]
fn a_daemon_file_naming_an_unrelated_process_leaves_it_alive_and_starts_a_new_daemon() {
    let sb = Sandbox::new();
    sb.install();
    let mut sleeper = std::process::Command::new(test_python())
        .args(["-c", "import time; time.sleep(60)"])
        .spawn()
        .unwrap();
    claim_daemon(&sb, sleeper.id(), 9);
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon started"));
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "ktx killed a process that was not its daemon"
    );
    assert_ne!(pid_of(&sb), sleeper.id());
    sleeper.kill().unwrap();
    let _ = sleeper.wait();
}

/// An unrelated HTTP server on loopback: (process, port).
fn squatter() -> (std::process::Child, u16) {
    let mut squatter = std::process::Command::new(test_python())
        .args(["-m", "http.server", "0", "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(squatter.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        line.split("port ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap()
    };
    (squatter, port)
}

#[test]
fn a_squatted_port_is_left_alone_and_the_new_daemon_takes_another() {
    let sb = Sandbox::new();
    sb.install();
    let (mut squatter, port) = squatter();
    claim_daemon(&sb, squatter.id(), port);
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon started"));
    assert!(
        squatter.try_wait().unwrap().is_none(),
        "the squatting server was stopped"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_ne!(state(&sb)["port"].as_u64().unwrap(), u64::from(port));
    squatter.kill().unwrap();
    let _ = squatter.wait();
}

#[test]
fn a_reinstall_of_the_same_version_is_served_by_a_new_daemon_running_the_new_venv() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let old = pid_of(&sb);
    let old_venv_marker = sb.version_dir().join("venv/old-venv-marker");
    std::fs::write(&old_venv_marker, "").unwrap();
    sb.ktx()
        .args(["runtime", "install", "--force"])
        .assert()
        .success();
    assert!(!old_venv_marker.exists(), "the venv was not rebuilt");
    assert!(
        wait_gone(old, Duration::from_secs(5)),
        "the old venv's daemon still runs"
    );
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue", "--daemon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
    let new = status_daemon(&sb);
    assert_ne!(new["pid"].as_u64().unwrap() as u32, old);
    assert_eq!(new["wheelSha256"], sb.manifest()["wheel"]["sha256"]);
    assert_eq!(new["answering"], true);
}

#[test]
fn a_daemon_exits_by_itself_when_its_state_file_is_removed() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let pid = pid_of(&sb);
    std::fs::remove_file(sb.version_dir().join("daemon.json")).unwrap();
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "the daemon outlived its state file by 10 s"
    );
    let log = std::fs::read_to_string(sb.version_dir().join("daemon.log")).unwrap();
    assert!(log.contains("daemon.json is gone"), "{log}");
}

#[test]
fn a_daemon_exits_by_itself_when_its_state_names_another_process() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let pid = pid_of(&sb);
    let mut s = state(&sb);
    s["pid"] = 1.into();
    std::fs::write(
        sb.version_dir().join("daemon.json"),
        serde_json::to_vec(&s).unwrap(),
    )
    .unwrap();
    assert!(wait_gone(pid, Duration::from_secs(10)));
    // It removed nothing that was not its own.
    assert!(sb.version_dir().join("daemon.json").exists());
}

#[test]
#[cfg(unix)]
fn a_stopped_daemon_is_waited_for_briefly_then_bypassed_never_killed_and_stop_ends_it() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let pid = pid_of(&sb);
    // SAFETY: the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let t = Instant::now();
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue", "--daemon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"))
        .stderr(
            predicate::str::contains("is busy").and(predicate::str::contains("running one-shot")),
        );
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(pid_alive(pid), "a busy daemon was killed");
    assert!(
        status_daemon(&sb)["pid"].as_u64() == Some(u64::from(pid)),
        "status no longer lists the stopped daemon"
    );
    sb.ktx()
        .args(["runtime", "stop"])
        .assert()
        .success()
        .stdout(format!("daemon stopped (pid {pid})\n"));
    assert!(!pid_alive(pid));
}

#[test]
fn two_thousand_requests_leave_the_daemon_log_small_and_unauthenticated_ones_are_refused() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let s = state(&sb);
    let (port, token) = (
        s["port"].as_u64().unwrap() as u16,
        s["token"].as_str().unwrap().to_string(),
    );
    let tables = r#"{"sql": "select * from a join b on a.id = b.id", "dialect": "sqlite"}"#;
    for i in 0..2000 {
        let (status, _) = match i % 10 {
            0 => http(port, Some(&token), "POST", "/sql/table-identifiers", tables),
            1 => http(port, None, "GET", "/health", ""),
            _ => http(port, Some(&token), "GET", "/health", ""),
        };
        assert_eq!(status, if i % 10 == 1 { 401 } else { 200 }, "request {i}");
    }
    let (_, health) = http(port, Some(&token), "GET", "/health", "");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert!(health["requests"].as_u64().unwrap() >= 1800, "{health}");
    let size = std::fs::metadata(sb.version_dir().join("daemon.log"))
        .unwrap()
        .len();
    assert!(
        size < 1_000_000,
        "daemon.log is {size} bytes after 2000 requests"
    );
}

#[test]
#[cfg(unix)]
fn ctrl_c_during_runtime_start_leaves_no_daemon_or_one_that_status_lists() {
    use std::os::unix::process::CommandExt;
    let sb = Sandbox::new();
    sb.install();
    for delay_ms in [0u64, 30, 80, 150, 250, 400, 700, 1100] {
        let mut child = sb
            .std_ktx()
            .args(["runtime", "start"])
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: the process group of the ktx this test started (Ctrl-C at a terminal).
        unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
        let _ = child.wait();
        // A daemon spawned before the interrupt finishes its start by itself: give it the
        // start deadline to show up in status, or to be gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let running = daemons_of(&sb);
            let listed = status_daemon(&sb)["pid"].as_u64().map(|p| p as u32);
            match (running.as_slice(), listed) {
                ([], None) => break,
                ([pid], Some(l)) if *pid == l => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                (r, l) => {
                    panic!("after Ctrl-C at {delay_ms} ms: running {r:?}, status lists {l:?}")
                }
            }
        }
        sb.ktx().args(["runtime", "stop"]).assert().success();
        assert!(
            daemons_of(&sb).is_empty(),
            "stop left a daemon (Ctrl-C at {delay_ms} ms)"
        );
    }
}

#[test]
fn status_all_lists_the_daemons_of_every_version_and_stop_all_stops_them() {
    let sb = Sandbox::new();
    sb.install();
    let (old_dir, old_pid) = other_version_with_daemon(&sb, "0.0.9");
    sb.ktx().args(["runtime", "start"]).assert().success();
    let new_pid = pid_of(&sb);
    let out = sb
        .ktx()
        .args(["runtime", "status", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let row = |v: &str| {
        text.lines()
            .find(|l| l.starts_with(v))
            .unwrap_or("")
            .to_string()
    };
    assert!(row("0.0.9").contains(&old_pid.to_string()), "{text}");
    assert!(
        row(env!("CARGO_PKG_VERSION")).contains(&new_pid.to_string()),
        "{text}"
    );
    let json = sb
        .ktx()
        .args(["runtime", "status", "--all", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let versions = json["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{json}");
    for v in versions {
        let d = &v["daemon"];
        assert!(d["rssBytes"].as_u64().unwrap() > 1 << 20, "{d}");
        assert!(d["idleSecondsLeft"].as_u64().unwrap() <= 120, "{d}");
        assert!(d["uptimeSeconds"].as_i64().unwrap() >= 0, "{d}");
    }
    sb.ktx()
        .args(["runtime", "stop", "--all"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(format!("daemon of 0.0.9 stopped (pid {old_pid})")).and(
                predicate::str::contains(format!(
                    "daemon of {} stopped (pid {new_pid})",
                    env!("CARGO_PKG_VERSION")
                )),
            ),
        );
    assert!(!pid_alive(old_pid) && !pid_alive(new_pid));
    assert!(daemons_in(&old_dir).is_empty() && daemons_of(&sb).is_empty());
}

#[test]
fn a_daemon_killed_with_sigkill_is_noticed_and_replaced() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let pid = pid_of(&sb);
    #[cfg(unix)]
    // SAFETY: the daemon this test started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL)
    };
    assert!(wait_gone(pid, Duration::from_secs(5)));
    let t = Instant::now();
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.order_count", "--daemon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_ne!(pid_of(&sb), pid);
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon:    running"));
}

#[test]
fn sl_query_through_the_daemon_gives_the_same_answer_as_one_shot() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    let args = [
        "sl",
        "query",
        "--project-dir",
        "demo",
        "--measure",
        "orders.revenue",
        "--dimension",
        "products.category",
        "--execute",
    ];
    let one_shot = sb.ktx().args(args).output().unwrap();
    let via_daemon = sb.ktx().args(args).arg("--daemon").output().unwrap();
    assert!(via_daemon.status.success(), "{}", stderr_of(&via_daemon));
    assert_eq!(stdout_of(&one_shot), stdout_of(&via_daemon));
    // A refused query through the daemon is still exit 3 with the reference named.
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.nope", "--daemon"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("orders.nope"));
}

#[test]
fn a_burst_of_commands_starts_the_daemon_in_the_background_and_the_next_ones_use_it() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    for i in 0..2 {
        auto_query(&sb)
            .success()
            .stdout(predicate::str::contains("SELECT"))
            .stderr(predicate::str::contains("daemon").not());
        if i < 1 {
            assert!(
                status_daemon(&sb).is_null(),
                "a daemon after {} commands",
                i + 1
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = status_daemon(&sb);
        if d["answering"] == true {
            break d;
        }
        assert!(Instant::now() < deadline, "no daemon after a burst: {d}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(d["reason"], "burst");
    let s = state(&sb);
    let count = |sb: &Sandbox| {
        let (_, h) = http(
            s["port"].as_u64().unwrap() as u16,
            s["token"].as_str(),
            "GET",
            "/health",
            "",
        );
        let _ = sb;
        serde_json::from_str::<serde_json::Value>(&h).unwrap()["requests"]
            .as_u64()
            .unwrap()
    };
    let before = count(&sb);
    auto_query(&sb).success();
    // The query and the reuse check's /health, plus this count's own request.
    assert!(
        count(&sb) >= before + 2,
        "the next command did not use the daemon"
    );
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .stdout(predicate::str::contains("burst"));
}

#[test]
fn commands_that_come_while_a_bursts_daemon_starts_wait_for_it_instead_of_going_one_shot() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    auto_query(&sb).success();
    auto_query(&sb).success();
    // The start is pending: the next command waits for the daemon and is served by it.
    auto_query(&sb).success();
    let s = state(&sb);
    let (_, h) = http(
        s["port"].as_u64().unwrap() as u16,
        s["token"].as_str(),
        "GET",
        "/health",
        "",
    );
    let requests = serde_json::from_str::<serde_json::Value>(&h).unwrap()["requests"]
        .as_u64()
        .unwrap();
    assert!(requests >= 2, "the third command went one-shot: {h}");
}

#[test]
fn runtime_stop_right_after_a_burst_leaves_no_daemon_running() {
    // The release smoke's daemon check does this: queries, then `runtime stop`, then expects
    // `runtime start` to start one. The burst's background start must not come in between.
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    for _ in 0..2 {
        auto_query(&sb).success();
    }
    sb.ktx().args(["runtime", "stop"]).assert().success();
    let root = sb.root().display().to_string();
    for pid in processes_with(&["--reason", "burst", &root]) {
        assert!(
            wait_gone(pid, Duration::from_secs(30)),
            "the burst's start (pid {pid}) did not end"
        );
    }
    let d = status_daemon(&sb);
    assert!(d.is_null(), "a daemon runs after `runtime stop`: {d}");
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon started"));
}

#[test]
fn ktx_daemon_never_and_no_daemon_keep_every_command_one_shot() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    for i in 0..5 {
        let mut cmd = sb.ktx();
        if i % 2 == 0 {
            cmd.env("KTX_DAEMON", "never");
        } else {
            cmd.env("KTX_DAEMON", "auto").arg("--no-daemon");
        }
        cmd.args(DEMO_QUERY)
            .args(["--measure", "orders.revenue"])
            .assert()
            .success();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemons_of(&sb).is_empty());
    assert!(status_daemon(&sb).is_null());
}

#[test]
fn ktx_daemon_always_starts_the_daemon_for_a_plain_query() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx()
        .env("KTX_DAEMON", "always")
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue"])
        .assert()
        .success();
    assert_eq!(status_daemon(&sb)["reason"], "query");
}

#[test]
fn contradictory_daemon_settings_are_usage_errors() {
    let sb = Sandbox::new();
    sb.demo();
    sb.ktx()
        .env("KTX_DAEMON", "sometimes")
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("KTX_DAEMON=sometimes"));
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue", "--daemon", "--no-daemon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--daemon and --no-daemon"));
}

#[test]
fn commands_do_not_leave_a_daemon_running_unless_asked() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    auto_query(&sb).success();
    sb.ktx().args(["runtime", "status"]).assert().success();
    sb.ktx().args(["runtime", "doctor"]).assert().success();
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemons_of(&sb).is_empty());
    assert!(!sb.version_dir().join("daemon.json").exists());
}

#[test]
fn an_idle_daemon_exits_by_itself_and_removes_its_state() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx()
        .env("KTX_DAEMON_IDLE_TIMEOUT", "2")
        .args(["runtime", "start"])
        .assert()
        .success();
    let pid = pid_of(&sb);
    assert!(
        wait_gone(pid, Duration::from_secs(20)),
        "the idle daemon is still running"
    );
    assert!(!sb.version_dir().join("daemon.json").exists());
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon:    not running"));
}

#[test]
fn a_daemon_that_cannot_start_prints_its_log_and_the_next_commands_go_one_shot_at_once() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    // Break the daemon's HTTP mode only: uvicorn cannot be imported any more.
    let site = if cfg!(windows) {
        sb.version_dir().join("venv/Lib/site-packages")
    } else {
        std::fs::read_dir(sb.version_dir().join("venv/lib"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path()
            .join("site-packages")
    };
    std::fs::write(
        site.join("uvicorn.py"),
        "raise ImportError('uvicorn is broken for this test')\n",
    )
    .unwrap();
    let hidden = site.join("uvicorn");
    std::fs::rename(&hidden, site.join("uvicorn.hidden")).unwrap();
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("daemon.log"));
    let t = Instant::now();
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue", "--daemon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"))
        .stderr(
            predicate::str::contains("running one-shot")
                .and(predicate::str::contains("failed to start moments ago")),
        );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // `runtime start` itself always tries again (and says why it fails).
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("uvicorn is broken"));
}

#[test]
fn prune_stops_the_daemon_of_a_version_it_removes() {
    let sb = Sandbox::new();
    sb.install();
    let (old, pid) = other_version_with_daemon(&sb, "0.0.9");
    sb.ktx()
        .args(["runtime", "prune", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed").and(predicate::str::contains("0.0.9")));
    assert!(!old.exists());
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "prune left the removed version's daemon running"
    );
}
