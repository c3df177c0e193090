//! The managed daemon as users and CI meet it: start and reuse, concurrent starts, stop, stale
//! state of every kind (a stranger's pid, a squatted port, another version, a killed daemon),
//! the idle timeout, and `sl query --daemon`.

mod common;

use common::*;
use predicates::prelude::*;
use std::time::{Duration, Instant};

fn state(sb: &Sandbox) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(sb.version_dir().join("daemon.json")).unwrap()).unwrap()
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

fn pid_alive(pid: u64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn daemons_of(sb: &Sandbox) -> Vec<u32> {
    let needle = sb.version_dir().join("daemon.json").display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains("serve-http") && cmd.contains(&needle)
        })
        .collect()
}

#[test]
fn start_then_start_again_reuses_the_same_daemon_and_stop_leaves_nothing() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon started"));
    let first = state(&sb)["pid"].as_u64().unwrap();
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("reusing"));
    assert_eq!(state(&sb)["pid"].as_u64().unwrap(), first);
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
        .stdout(predicate::str::contains(format!("pid {first}")));
    sb.ktx()
        .args(["runtime", "stop"])
        .assert()
        .success()
        .stdout("daemon stopped\n");
    assert!(!sb.version_dir().join("daemon.json").exists());
    assert!(!pid_alive(first));
    assert!(daemons_of(&sb).is_empty());
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
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
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
    assert_ne!(state(&sb)["pid"].as_u64().unwrap(), u64::from(sleeper.id()));
    sleeper.kill().unwrap();
    let _ = sleeper.wait();
}

#[test]
fn a_squatted_port_is_left_alone_and_the_new_daemon_takes_another() {
    let sb = Sandbox::new();
    sb.install();
    // An unrelated HTTP server, and daemon.json claiming it (with the squatter's pid).
    let mut squatter = std::process::Command::new("python3")
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
fn a_daemon_of_another_version_is_replaced_by_one_of_this_version() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let path = sb.version_dir().join("daemon.json");
    let mut s = state(&sb);
    let old_pid = s["pid"].as_u64().unwrap();
    s["version"] = "0.0.1".into();
    std::fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
    sb.ktx()
        .args(["runtime", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon started"));
    let new = state(&sb);
    assert_eq!(new["version"], env!("CARGO_PKG_VERSION"));
    assert_ne!(new["pid"].as_u64().unwrap(), old_pid);
    // The old one was provably ours (our token, its pid): it was stopped, not leaked.
    assert!(!pid_alive(old_pid));
}

#[test]
fn a_daemon_killed_with_sigkill_is_noticed_and_replaced() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx().args(["runtime", "start"]).assert().success();
    let pid = state(&sb)["pid"].as_u64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.order_count", "--daemon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_ne!(state(&sb)["pid"].as_u64().unwrap(), pid);
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
fn commands_do_not_leave_a_daemon_running_unless_asked() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue"])
        .assert()
        .success();
    sb.ktx().args(["runtime", "status"]).assert().success();
    sb.ktx().args(["runtime", "doctor"]).assert().success();
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
    let pid = state(&sb)["pid"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!pid_alive(pid), "the idle daemon is still running");
    assert!(!sb.version_dir().join("daemon.json").exists());
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon:    not running"));
}

#[test]
fn a_daemon_that_cannot_start_prints_its_log_and_query_falls_back_to_one_shot() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    // Break the daemon's HTTP mode only: uvicorn cannot be imported any more.
    let site = std::fs::read_dir(sb.version_dir().join("venv/lib"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("site-packages");
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
    sb.ktx()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue", "--daemon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"))
        .stderr(predicate::str::contains("running one-shot"));
}

#[test]
fn prune_stops_the_daemon_of_a_version_it_removes() {
    let sb = Sandbox::new();
    sb.install();
    // An older version's runtime whose daemon still runs: a copy of this one, and this
    // version's daemon recorded as the old version's.
    let old = sb.root().join("0.0.9");
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(sb.version_dir())
        .arg(&old)
        .status()
        .unwrap()
        .success());
    sb.ktx().args(["runtime", "start"]).assert().success();
    let pid = state(&sb)["pid"].as_u64().unwrap();
    std::fs::rename(
        sb.version_dir().join("daemon.json"),
        old.join("daemon.json"),
    )
    .unwrap();
    sb.ktx()
        .args(["runtime", "prune", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed").and(predicate::str::contains("0.0.9")));
    assert!(!old.exists());
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !pid_alive(pid),
        "prune left the removed version's daemon running"
    );
}
