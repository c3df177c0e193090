//! The command line as scripts and agents use it: piped into `head`, pointed at a full disk,
//! fed odd projects and out-of-range numbers, asked to write the demo where it must not.

mod common;

use common::*;
use predicates::prelude::*;

/// `sh -c SCRIPT` with the sandbox's environment; `{ktx}` in the script is the binary.
fn sh(sb: &Sandbox, script: &str) -> std::process::Output {
    let ktx = assert_cmd::cargo::cargo_bin("ktx");
    let base = sb.std_ktx();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script.replace("{ktx}", &ktx.display().to_string()))
        .current_dir(sb.path());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().unwrap()
}

#[test]
fn a_closed_or_full_stdout_never_panics_and_keeps_the_usual_exit_status() {
    let sb = Sandbox::new();
    sb.install();
    sb.demo();
    let query = "{ktx} sl query --project-dir demo --measure orders.revenue --dimension customers.country --dimension orders.status --execute --format table --no-input";
    // ktx's own exit status and stderr, read beside the pipeline (no pipefail in POSIX sh).
    let piped = |cmd: &str, reader: &str| {
        format!("{{ {cmd} 2>err.txt; echo $? >&3; }} 3>status.txt | {reader} >/dev/null; cat status.txt; cat err.txt >&2")
    };
    let cases = [
        piped("{ktx} runtime status", "head -1"),
        piped(query, "head -1"),
        piped("{ktx} runtime status --json", "grep -q ."),
        piped(query, "grep -q US"),
    ];
    for script in &cases {
        for _ in 0..50 {
            let out = sh(&sb, script);
            let err = stderr_of(&out);
            assert!(!err.contains("panicked"), "{script}: {err}");
            assert_eq!(stdout_of(&out).trim(), "0", "{script}: {err}");
        }
    }
    for cmd in ["{ktx} runtime status", query] {
        for _ in 0..50 {
            let out = sh(&sb, &format!("{cmd} > /dev/full"));
            let err = stderr_of(&out);
            assert!(!err.contains("panicked"), "{cmd}: {err}");
            assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
            assert!(err.contains("could not be written"), "{cmd}: {err}");
        }
    }
}

#[test]
fn progress_draws_no_escape_codes_where_it_must_not() {
    let sb = Sandbox::new();
    let out = sb
        .ktx()
        .env("TERM", "dumb")
        .args(["runtime", "install"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains('\u{1b}'), "{}", stderr_of(&out));
}

#[test]
fn setup_demo_refuses_the_root_and_the_home_directory() {
    let sb = Sandbox::new();
    for dir in ["/", sb.home().to_str().unwrap()] {
        sb.ktx()
            .args(["setup", "demo", "--project-dir", dir, "--force"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("refusing to write the demo into"));
    }
    assert_eq!(std::fs::read_dir(sb.home()).unwrap().count(), 0);
}

#[test]
fn setup_demo_force_replaces_only_the_demos_own_files() {
    let sb = Sandbox::new();
    let dir = sb.path().join("my project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "my own notes\n").unwrap();
    std::fs::write(dir.join("keep.txt"), "mine\n").unwrap();
    // Not empty: refused without --force, nothing written, the hint quotes the path.
    sb.ktx()
        .args(["setup", "demo", "--project-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("'{}'", dir.display())));
    assert!(!dir.join("ktx.yaml").exists());
    sb.ktx()
        .args(["setup", "demo", "--force", "--project-dir"])
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("kept your README.md"))
        .stdout(predicate::str::contains("'"));
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "my own notes\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "mine\n"
    );
    assert!(dir.join("ktx.yaml").is_file());
    assert!(dir.join("semantic-layer/warehouse/orders.yaml").is_file());
    // A demo file changed by the user is kept too; an untouched one is refreshed.
    let orders = dir.join("semantic-layer/warehouse/orders.yaml");
    let customers = dir.join("semantic-layer/warehouse/customers.yaml");
    let original = std::fs::read_to_string(&customers).unwrap();
    std::fs::write(&orders, "name: orders\n# my edit\n").unwrap();
    std::fs::remove_file(&customers).unwrap();
    sb.ktx()
        .args(["setup", "demo", "--force", "--project-dir"])
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "kept your semantic-layer/warehouse/orders.yaml",
        ));
    assert!(std::fs::read_to_string(&orders)
        .unwrap()
        .contains("# my edit"));
    assert_eq!(std::fs::read_to_string(&customers).unwrap(), original);
}

#[test]
fn numeric_flags_out_of_range_are_usage_errors_naming_the_flag() {
    let sb = Sandbox::new();
    sb.demo();
    for (flag, value) in [
        ("--limit", "18446744073709551615"),
        ("--limit", "0"),
        ("--max-rows", "0"),
        ("--max-rows", "99999999999"),
    ] {
        let out = sb
            .query(&["--measure", "orders.revenue", flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = stderr_of(&out);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    assert!(!sb.root().exists(), "refused before any install");
}

#[test]
fn a_fifo_among_the_sources_is_refused_not_read() {
    let sb = Sandbox::new();
    sb.install();
    let demo = sb.demo();
    let fifo = demo.join("semantic-layer/warehouse/pipe.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path in the sandbox.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    sb.ktx()
        .args(["sl", "validate", "--project-dir", "demo"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("pipe.yaml: not a regular file"));
}
