//! Inputs at and over the payload's limits, as scripts and agents feed them: refusals are exit 3
//! with the same one line one-shot and through the daemon (never a 500 and a silent retry), and
//! a slow query that is killed or interrupted leaves no Python computing it.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A KTX project with `n` generated sources (`s0`..), each of `columns` columns and `measures`
/// measures, joined to the previous one; the size of a model at the payload's caps takes
/// seconds to build, which is what the interruption tests need.
fn generated_project(dir: &Path, n: usize, columns: usize, measures: usize) {
    let sl = dir.join("semantic-layer/warehouse");
    std::fs::create_dir_all(&sl).unwrap();
    std::fs::write(
        dir.join("ktx.yaml"),
        "connections:\n  warehouse:\n    driver: sqlite\n    path: data/none.sqlite\n",
    )
    .unwrap();
    for i in 0..n {
        let mut y = format!(
            "name: s{i}\ntable: t{i}\ngrain:\n  - id\ncolumns:\n  - name: id\n    type: number\n  - name: parent_id\n    type: number\n"
        );
        for c in 2..columns {
            y.push_str(&format!("  - name: c{c}\n    type: number\n"));
        }
        y.push_str("measures:\n  - name: record_count\n    expr: count(id)\n");
        for m in 1..measures {
            y.push_str(&format!(
                "  - name: m{m}\n    expr: sum(c{})\n",
                2 + m % (columns - 2)
            ));
        }
        if i > 0 {
            y.push_str(&format!(
                "joins:\n  - to: s{}\n    \"on\": parent_id = s{}.id\n    relationship: many_to_one\n",
                i - 1,
                i - 1
            ));
        }
        std::fs::write(sl.join(format!("s{i}.yaml")), y).unwrap();
    }
}

/// The model at the payload's size caps: 2,000 sources, 50,000 columns, 10,000 measures.
fn slow_project(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.path().join("big");
    generated_project(&dir, 2000, 25, 5);
    dir
}

fn slow_query(sb: &Sandbox, project: &Path) -> std::process::Command {
    let mut cmd = sb.std_ktx();
    cmd.args(["sl", "query", "--project-dir"])
        .arg(project)
        .args(["--measure", "s5.m1", "--dimension", "s4.c3"]);
    cmd
}

/// The first line of stderr that says `error:`.
fn error_line(out: &std::process::Output) -> String {
    stderr_of(out)
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_filter_nested_beyond_the_limit_is_refused_alike_one_shot_and_through_the_daemon() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    let filter = format!("{}orders.amount > 1{}", "(".repeat(5000), ")".repeat(5000));
    let one_shot = sb
        .query(&["--measure", "orders.revenue", "--filter", &filter])
        .output()
        .unwrap();
    let daemon = sb
        .query(&[
            "--measure",
            "orders.revenue",
            "--filter",
            &filter,
            "--daemon",
        ])
        .output()
        .unwrap();
    for out in [&one_shot, &daemon] {
        assert_eq!(out.status.code(), Some(3), "{}", stderr_of(out));
        assert!(!stderr_of(out).contains("Traceback"), "{}", stderr_of(out));
        assert!(
            !stderr_of(out).contains("running one-shot"),
            "{}",
            stderr_of(out)
        );
    }
    let line = error_line(&one_shot);
    assert!(line.contains("256"), "{line}");
    assert_eq!(line, error_line(&daemon));
}

#[test]
fn a_source_over_the_column_limit_is_refused_alike_one_shot_and_through_the_daemon() {
    let sb = Sandbox::new();
    sb.install();
    let dir = sb.path().join("wide");
    generated_project(&dir, 2, 2001, 2);
    let run = |daemon: bool| {
        let mut cmd = sb.ktx();
        cmd.args(["sl", "query", "--project-dir"])
            .arg(&dir)
            .args(["--measure", "s1.m1"]);
        if daemon {
            cmd.arg("--daemon");
        }
        cmd.output().unwrap()
    };
    let (one_shot, daemon) = (run(false), run(true));
    for out in [&one_shot, &daemon] {
        assert_eq!(out.status.code(), Some(3), "{}", stderr_of(out));
    }
    let line = error_line(&one_shot);
    assert!(line.contains("2,001") && line.contains("2,000"), "{line}");
    assert_eq!(line, error_line(&daemon));
}

#[test]
fn a_model_at_the_size_limits_still_answers() {
    let sb = Sandbox::new();
    sb.install();
    let dir = slow_project(&sb);
    let out = slow_query(&sb, &dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("SELECT"));
}

#[test]
#[cfg(unix)]
fn sigterm_during_a_slow_one_shot_query_leaves_no_python_computing_it() {
    let sb = Sandbox::new();
    sb.install();
    let dir = slow_project(&sb);
    let venv = sb.version_dir().join("venv").display().to_string();
    let python_of_the_query = || processes_with(&[&venv, "ktx_daemon", "semantic-query"]);
    let mut ktx = slow_query(&sb, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while python_of_the_query().is_empty() {
        assert!(Instant::now() < deadline, "the one-shot never started");
        assert!(
            ktx.try_wait().unwrap().is_none(),
            "ktx finished before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let running = python_of_the_query();
    // SAFETY: the ktx this test started (an agent's timeout).
    unsafe { libc::kill(ktx.id() as i32, libc::SIGTERM) };
    let _ = ktx.wait();
    std::thread::sleep(Duration::from_secs(2));
    for pid in running {
        assert!(
            !pid_alive(pid),
            "ktx-daemon {pid} still runs 2 s after ktx was killed"
        );
    }
    assert!(python_of_the_query().is_empty());
}

#[test]
#[cfg(unix)]
fn ctrl_c_of_a_daemon_query_stops_the_work_in_the_daemon() {
    use std::os::unix::process::CommandExt;
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let sb = Sandbox::new();
    sb.install();
    let dir = slow_project(&sb);
    sb.ktx().args(["runtime", "start"]).assert().success();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.version_dir().join("daemon.json")).unwrap())
            .unwrap();
    let pid = Pid::from_u32(state["pid"].as_u64().unwrap() as u32);
    let mut sys = System::new();
    let mut cpu_ms = || {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu(),
        );
        sys.process(pid).unwrap().accumulated_cpu_time()
    };
    let mut ktx = slow_query(&sb, &dir)
        .arg("--daemon")
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the daemon is busy with it (its CPU time climbs).
    let before = cpu_ms();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cpu_ms() < before + 500 {
        assert!(Instant::now() < deadline, "the daemon never got to work");
        assert!(
            ktx.try_wait().unwrap().is_none(),
            "the query finished before Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: the process group of the ktx this test started (Ctrl-C at a terminal).
    unsafe { libc::kill(-(ktx.id() as i32), libc::SIGINT) };
    let status = ktx.wait().unwrap();
    assert!(!status.success());
    std::thread::sleep(Duration::from_secs(2));
    let a = cpu_ms();
    std::thread::sleep(Duration::from_secs(1));
    let burned = cpu_ms() - a;
    assert!(
        burned < 200,
        "the daemon still computes the abandoned query ({burned} ms CPU in 1 s)"
    );
    // And it still serves.
    sb.ktx()
        .args(["sl", "query", "--project-dir"])
        .arg(&dir)
        .args(["--measure", "s1.record_count", "--daemon"])
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
}
