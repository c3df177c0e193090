//! The runtime manager as a user meets it: first use, consent, concurrency, kills, tampering,
//! version changes, status, doctor and prune. Real uv, real Python, real files.

mod common;

use common::*;
use predicates::prelude::*;
use std::time::Duration;

/// The demo query: revenue by country on `demo/`.
fn query(sb: &Sandbox) -> assert_cmd::Command {
    sb.query(REVENUE_BY_COUNTRY)
}

#[test]
fn version_and_pure_commands_never_touch_the_runtime() {
    let sb = Sandbox::new();
    sb.ktx()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("ktx {}\n", env!("CARGO_PKG_VERSION")));
    sb.ktx()
        .args(["setup", "demo", "--project-dir", "demo"])
        .assert()
        .success();
    assert!(sb.path().join("demo/ktx.yaml").is_file());
    assert!(sb.path().join("demo/data/demo.sqlite").is_file());
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not installed"));
    sb.ktx()
        .args(["runtime", "prune", "--dry-run"])
        .assert()
        .success();
    assert!(
        !sb.root().exists(),
        "a pure command created the runtime root"
    );
}

#[test]
fn setup_demo_refuses_to_overwrite_a_non_empty_directory() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path().join("demo")).unwrap();
    std::fs::write(sb.path().join("demo/mine.txt"), "keep").unwrap();
    sb.ktx()
        .args(["setup", "demo", "--project-dir", "demo"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not empty"));
    assert_eq!(
        std::fs::read_to_string(sb.path().join("demo/mine.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn no_input_without_a_runtime_exits_4_with_the_exact_command() {
    let sb = Sandbox::new();
    sb.demo();
    query(&sb)
        .arg("--no-input")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("run: ktx runtime install"));
    assert!(!sb.version_dir().join("manifest.json").exists());
}

#[test]
fn no_terminal_means_no_input() {
    let sb = Sandbox::new();
    sb.demo();
    // stdin is not a terminal under the test harness: ktx must not wait for an answer.
    query(&sb).timeout(Duration::from_secs(20)).assert().code(4);
}

#[test]
fn first_query_installs_only_core_then_prints_sql_and_rows() {
    let sb = Sandbox::new();
    sb.demo();
    query(&sb).arg("--yes").assert().success().stdout(
        predicate::str::contains("SELECT")
            .and(predicate::str::contains("\"connectionId\": \"warehouse\""))
            .and(predicate::str::contains("\"mode\": \"compile_only\"")),
    );
    let manifest: serde_json::Value = sb.manifest();
    assert_eq!(manifest["features"], serde_json::json!(["core"]));
    assert_eq!(manifest["cliVersion"], env!("CARGO_PKG_VERSION"));
    query(&sb)
        .args([
            "--execute",
            "--order-by",
            "orders.revenue:desc",
            "--format",
            "table",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("country")
                .and(predicate::str::contains("US"))
                .and(predicate::str::contains("rows)")),
        );
    query(&sb)
        .args(["--execute", "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"rows\""));
}

#[test]
fn a_refused_query_exits_3_with_one_line_naming_the_reference() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    let out = sb.query(&["--measure", "orders.revnue"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr_of(&out);
    assert!(err.contains("orders.revnue"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("Traceback"));
}

#[test]
fn eight_concurrent_first_runs_install_once_and_all_succeed() {
    let sb = Sandbox::new();
    sb.demo();
    let children: Vec<_> = (0..8)
        .map(|_| {
            sb.std_ktx()
                .args(DEMO_QUERY)
                .args(REVENUE_BY_COUNTRY)
                .arg("--yes")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert!(stdout_of(&out).contains("SELECT"));
    }
    assert_eq!(sb.install_logs(), 1, "exactly one install must happen");
}

#[test]
fn a_tampered_wheel_exits_5_and_installs_nothing() {
    let sb = Sandbox::new();
    // A copy of the package whose wheel differs by one byte.
    let pkg = sb.path().join("pkg");
    copy_dir(&package(), &pkg);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pkg.join("python/runtime-manifest.json")).unwrap())
            .unwrap();
    let wheel = pkg
        .join("python")
        .join(manifest["wheel"]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&wheel).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&wheel, bytes).unwrap();
    sb.demo();
    sb.ktx()
        .env("KTX_PACKAGE_ROOT", &pkg)
        .args(DEMO_QUERY)
        .args(REVENUE_BY_COUNTRY)
        .arg("--yes")
        .assert()
        .code(5)
        .stderr(
            predicate::str::contains("integrity check failed")
                .and(predicate::str::contains(".whl")),
        );
    assert!(!sb.version_dir().join("venv").exists());
    assert!(!sb.version_dir().join("manifest.json").exists());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[test]
fn a_run_killed_during_install_is_repaired_by_the_next_run() {
    let sb = Sandbox::new();
    sb.demo();
    let manifest = sb.version_dir().join("manifest.json");
    // Kill at several points of the install: early, while uv works, late.
    for delay_ms in [150u64, 600, 1200] {
        let mut child = sb
            .std_ktx()
            .args(["runtime", "install", "--force"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Never "installed" over a broken venv.
        let status = sb
            .ktx()
            .args(["runtime", "status", "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        if v["installed"] == true {
            assert!(manifest.exists());
            sb.ktx().args(["runtime", "doctor"]).assert().success();
        }
    }
    query(&sb)
        .arg("--yes")
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
    sb.ktx().args(["runtime", "doctor"]).assert().success();
}

#[test]
fn a_manifest_of_another_version_means_reinstall_on_the_next_command() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    let path = sb.version_dir().join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["cliVersion"] = "0.0.1".into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("outdated"));
    query(&sb)
        .arg("--no-input")
        .assert()
        .success()
        .stderr(predicate::str::contains("rebuilding"));
    assert_eq!(sb.install_logs(), 2);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(m["cliVersion"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn doctor_finds_and_fix_repairs_a_deleted_venv() {
    let sb = Sandbox::new();
    sb.install();
    std::fs::remove_dir_all(sb.version_dir().join("venv")).unwrap();
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("broken"));
    sb.ktx()
        .args(["runtime", "doctor"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("[fail]"));
    sb.ktx()
        .args(["runtime", "doctor", "--fix"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no problems found"));
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("installed (core)"));
}

#[test]
fn doctor_finds_and_fix_repairs_a_corrupted_manifest() {
    let sb = Sandbox::new();
    sb.install();
    std::fs::write(sb.version_dir().join("manifest.json"), "{not json").unwrap();
    sb.ktx()
        .args(["runtime", "doctor", "--json"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not a valid manifest"));
    sb.ktx()
        .args(["runtime", "doctor", "--fix"])
        .assert()
        .success();
    sb.ktx()
        .args(["runtime", "status", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"installed\": true"));
}

#[test]
fn doctor_finds_and_fix_repairs_a_manifest_of_another_version() {
    let sb = Sandbox::new();
    sb.install();
    let path = sb.version_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("\"cliVersion\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"cliVersion\": \"9.9.9\"",
    );
    std::fs::write(&path, text).unwrap();
    sb.ktx()
        .args(["runtime", "doctor"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("installed by ktx 9.9.9"));
    sb.ktx()
        .args(["runtime", "doctor", "--fix"])
        .assert()
        .success();
}

#[test]
fn doctor_finds_and_fix_removes_a_stale_daemon_file() {
    let sb = Sandbox::new();
    sb.install();
    // A pid that cannot be running.
    std::fs::write(
        sb.version_dir().join("daemon.json"),
        r#"{"pid": 4194303, "port": 1, "version": "0.1.0", "features": ["core"], "startedAt": "2026-01-01T00:00:00Z", "token": "x"}"#,
    )
    .unwrap();
    sb.ktx()
        .args(["runtime", "doctor"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[warn] daemon state"));
    sb.ktx()
        .args(["runtime", "doctor", "--fix"])
        .assert()
        .success();
    assert!(!sb.version_dir().join("daemon.json").exists());
}

#[test]
fn doctor_notices_when_the_base_interpreter_of_the_venv_is_gone() {
    let sb = Sandbox::new();
    sb.install();
    let cfg = sb.version_dir().join("venv/pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("home") {
                "home = /nonexistent/python/bin".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&cfg, text).unwrap();
    sb.ktx()
        .args(["runtime", "doctor"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("base interpreter"));
    sb.ktx()
        .args(["runtime", "doctor", "--fix"])
        .assert()
        .success();
}

#[test]
fn prune_removes_other_versions_but_not_the_current_or_one_in_use() {
    let sb = Sandbox::new();
    sb.install();
    for old in ["0.0.1", "0.0.2"] {
        let d = sb.root().join(old);
        std::fs::create_dir_all(d.join("venv/bin")).unwrap();
        std::fs::write(d.join("manifest.json"), ktx_manifest(old)).unwrap();
        std::fs::write(d.join("venv/bin/python"), vec![0u8; 4096]).unwrap();
    }
    // A running ktx of 0.0.2 holds its use lock shared.
    let lock = std::fs::File::create(sb.root().join("0.0.2/.use.lock")).unwrap();
    lock.lock_shared().unwrap();
    sb.ktx()
        .args(["runtime", "prune", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("would remove"));
    assert!(sb.root().join("0.0.1").exists());
    sb.ktx()
        .args(["runtime", "prune", "--yes"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("removed")
                .and(predicate::str::contains("in use"))
                .and(predicate::str::contains("freed")),
        );
    assert!(!sb.root().join("0.0.1").exists());
    assert!(sb.root().join("0.0.2").exists());
    assert!(sb.version_dir().join("manifest.json").exists());
    drop(lock);
}

#[test]
fn sql_tables_and_validate_and_generate_sources_work_one_shot() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    sb.ktx()
        .args([
            "sql",
            "tables",
            "WITH x AS (SELECT * FROM cat.sch.t1) SELECT * FROM x JOIN s.t2 ON 1=1",
        ])
        .assert()
        .success()
        .stdout("cat.sch.t1\ns.t2\n");
    sb.ktx()
        .args(["sl", "validate", "--project-dir", "demo"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "valid: 4 sources in connection 'warehouse'",
        ));
    let schema = sb.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"tables": [{"name": "users", "columns": [{"name": "id", "type": "integer", "primary_key": true}, {"name": "plan", "type": "text"}]}], "links": []}"#,
    )
    .unwrap();
    sb.ktx()
        .args(["sl", "generate-sources", "--schema"])
        .arg(&schema)
        .assert()
        .success()
        .stdout(predicate::str::contains("name: users"));
}

#[test]
fn a_missing_project_is_a_usage_error_before_any_install() {
    let sb = Sandbox::new();
    sb.ktx()
        .args([
            "sl",
            "query",
            "--project-dir",
            "nowhere",
            "--measure",
            "orders.revenue",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no ktx.yaml"));
    assert!(!sb.root().exists());
}

#[test]
fn prune_deletes_nothing_without_yes_and_says_how_to_preview() {
    let sb = Sandbox::new();
    let old = sb.root().join("0.0.1");
    std::fs::create_dir_all(old.join("venv")).unwrap();
    std::fs::write(old.join("manifest.json"), ktx_manifest("0.0.1")).unwrap();
    sb.ktx()
        .args(["runtime", "prune"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("asks for --yes")
                .and(predicate::str::contains("ktx runtime prune --dry-run")),
        );
    assert!(old.exists(), "prune deleted without --yes");
    // KTX_YES is --yes.
    sb.ktx()
        .env("KTX_YES", "1")
        .args(["runtime", "prune"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed"));
    assert!(!old.exists());
    sb.ktx()
        .args(["runtime", "prune"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to prune"));
}

#[test]
fn prune_with_both_yes_and_no_input_is_a_usage_error_that_deletes_nothing() {
    let sb = Sandbox::new();
    let old = sb.root().join("0.0.1");
    std::fs::create_dir_all(old.join("venv")).unwrap();
    std::fs::write(old.join("manifest.json"), ktx_manifest("0.0.1")).unwrap();
    sb.ktx()
        .args(["runtime", "prune", "--yes", "--no-input"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes and --no-input"));
    sb.ktx()
        .args(["--no-input", "runtime", "prune", "--yes"])
        .assert()
        .code(2);
    assert!(old.exists());
}

#[test]
fn ktx_runtime_root_places_the_runtime_and_wins_over_ktx_runtime_dir() {
    let sb = Sandbox::new();
    let root = sb.path().join("ktx-root");
    let alias = sb.path().join("alias-root");
    query(&sb)
        .env_remove("KTX_RUNTIME_DIR")
        .env("KTX_RUNTIME_ROOT", &root)
        .arg("--yes")
        .assert()
        .success();
    let manifest = root.join(env!("CARGO_PKG_VERSION")).join("manifest.json");
    assert!(manifest.is_file(), "no runtime under KTX_RUNTIME_ROOT");
    assert!(!sb.root().exists(), "KTX_RUNTIME_ROOT was ignored");
    sb.ktx()
        .env("KTX_RUNTIME_DIR", &alias)
        .env("KTX_RUNTIME_ROOT", &root)
        .args(["runtime", "status", "--json"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("\"installed\": true")
                .and(predicate::str::contains("KTX_RUNTIME_ROOT")),
        );
    // The alias alone still works.
    sb.ktx()
        .env("KTX_RUNTIME_DIR", &root)
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("KTX_RUNTIME_DIR"));
    assert!(!alias.exists());
    sb.ktx()
        .env("KTX_RUNTIME_ROOT", &root)
        .args(["runtime", "stop"])
        .assert()
        .success();
}

/// Run `ktx <args>` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_a_terminal(sb: &Sandbox, args: &str, answer: &str) -> std::process::Output {
    let ktx = assert_cmd::cargo::cargo_bin("ktx");
    let cmd = sb.std_ktx();
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &format!("{} {args}", ktx.display()), "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    script
        .current_dir(sb.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = script
        .spawn()
        .expect("util-linux `script` gives the test a terminal");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn on_a_terminal_the_first_install_asks_and_says_what_will_be_downloaded() {
    let sb = Sandbox::new();
    sb.demo();
    let q = "sl query --project-dir demo --measure orders.revenue --format sql";
    let declined = on_a_terminal(&sb, q, "n\n");
    let text = stdout_of(&declined);
    assert!(
        text.contains("will download Python dependencies")
            && text.contains("Install it now? [Y/n]"),
        "{text}"
    );
    assert_eq!(declined.status.code(), Some(4), "{}", stdout_of(&declined));
    assert!(!sb.version_dir().join("manifest.json").exists());
    // Ctrl-D (end of input) is no answer, and no answer is no: exit 4, nothing installed.
    let eof = on_a_terminal(&sb, q, "\x04");
    assert!(
        stdout_of(&eof).contains("Install it now? [Y/n]"),
        "{}",
        stdout_of(&eof)
    );
    assert_eq!(eof.status.code(), Some(4), "{}", stdout_of(&eof));
    assert!(!sb.version_dir().join("manifest.json").exists());
    let accepted = on_a_terminal(&sb, q, "y\n");
    assert!(accepted.status.success(), "{}", stdout_of(&accepted));
    assert!(stdout_of(&accepted).contains("SELECT"));
    assert_eq!(sb.manifest()["features"], serde_json::json!(["core"]));
}
