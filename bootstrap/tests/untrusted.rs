//! Untrusted directories, as attacks: code planted where the user stands, a runtime root that
//! is the user's home, an existing root with its own modes, Ctrl-C while a lock is waited for,
//! answers lost to a full disk and a query that never ends. Real uv, Python, files and users.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A second, unprivileged user (created once, when the tests run as root), for attacks that
/// cross users: its uid and gid.
fn other_user() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let name = "ktxplanter";
    let id = |flag: &str| -> Option<u32> {
        let out = std::process::Command::new("id")
            .args([flag, name])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let _ = std::process::Command::new("useradd")
            .args(["-M", "-r", "-s", "/usr/sbin/nologin", name])
            .status();
    }
    Some((id("-u")?, id("-g")?))
}

fn chown_tree(p: &Path, uid: u32, gid: u32) {
    walk(p, &mut |f| {
        std::os::unix::fs::lchown(f, Some(uid), Some(gid)).unwrap()
    });
}

/// A directory as another user leaves it in a sticky, world-writable place: Python modules
/// that would write `marker` if they ever ran.
fn plant(dir: &Path, marker: &Path) {
    let payload = format!(
        "open({:?}, 'a').write(__name__ + '\\n')\n",
        marker.display().to_string()
    );
    for module in [
        "ktx_daemon/__init__.py",
        "ktx_daemon/__main__.py",
        "ktx_host/__init__.py",
        "ktx_host/__main__.py",
        "semantic_layer/__init__.py",
        "json.py",
        "sqlglot.py",
        "yaml.py",
        "runpy.py",
    ] {
        let p = dir.join(module);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &payload).unwrap();
    }
}

/// A shared directory holding the user's project, with uv configuration another user left
/// there (and in its parent): an index that does not exist and an interpreter no one has.
#[test]
fn uv_configuration_planted_around_the_user_is_never_read() {
    let sb = Sandbox::new();
    let shared = sb.path().join("shared");
    let project = shared.join("project");
    std::fs::create_dir_all(&project).unwrap();
    set_mode(&shared, 0o1777);
    let bad_index = "index-url = \"http://127.0.0.1:9/simple\"\n";
    std::fs::write(
        shared.join("uv.toml"),
        format!("{bad_index}[pip]\n{bad_index}"),
    )
    .unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        format!("[project]\nname = \"p\"\nversion = \"1\"\n[tool.uv]\n{bad_index}"),
    )
    .unwrap();
    std::fs::write(project.join(".python-version"), "2.6\n").unwrap();
    if let Some((uid, gid)) = other_user() {
        chown_tree(&shared, uid, gid);
    }
    sb.ktx()
        .current_dir(&project)
        .args(["runtime", "install"])
        .assert()
        .success();
    sb.ktx()
        .current_dir(&project)
        .args(["runtime", "doctor"])
        .assert()
        .success();
}

#[test]
fn code_planted_where_the_user_stands_never_runs_in_any_python_child() {
    let sb = Sandbox::new();
    let demo = sb.demo();
    let shared = sb.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o1777);
    let marker = sb.path().join("planted-code-ran");
    plant(&shared, &marker);
    if let Some((uid, gid)) = other_user() {
        chown_tree(&shared, uid, gid);
    }
    let ktx = |args: &[&str]| {
        let mut cmd = sb.ktx();
        cmd.current_dir(&shared).args(args);
        cmd
    };
    let demo = demo.to_str().unwrap();
    ktx(&["runtime", "install"]).assert().success();
    ktx(&[
        "sl",
        "query",
        "--project-dir",
        demo,
        "--measure",
        "orders.revenue",
        "--execute",
        "--no-daemon",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("\"rows\""));
    ktx(&["sl", "validate", "--project-dir", demo])
        .assert()
        .success();
    ktx(&["sql", "tables", "SELECT * FROM a.b JOIN c ON 1=1"])
        .assert()
        .success();
    ktx(&["runtime", "start"]).assert().success();
    ktx(&[
        "sl",
        "query",
        "--project-dir",
        demo,
        "--measure",
        "orders.order_count",
        "--daemon",
    ])
    .assert()
    .success();
    ktx(&["runtime", "doctor"]).assert().success();
    ktx(&["runtime", "stop"]).assert().success();
    ktx(&["runtime", "install", "--force"]).assert().success();
    assert!(
        !marker.exists(),
        "code planted in the working directory ran: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
}

#[test]
fn prune_with_the_home_as_root_removes_only_runtimes_ktx_made_and_follows_no_symlink() {
    let sb = Sandbox::new();
    let home = sb.home();
    let file = |rel: &str, text: &str| {
        let p = home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    // What a home holds: projects that look like runtimes to a careless rule.
    file("myproject/venv/bin/python", "#!");
    file("myproject/src/main.py", "print('mine')");
    file("server/logs/access.log", "GET /");
    file("server/manifest.json", &ktx_manifest("0.0.3"));
    file("notes/.use.lock", "");
    // Named as a version, but its manifest is not ktx's, or names another version.
    file("1.2.3/manifest.json", "{\"name\": \"my package\"}");
    file("1.2.3/data.txt", "keep");
    file("2.0.0/manifest.json", &ktx_manifest("0.0.4"));
    // A symlink named as a version, to a directory holding a ktx manifest.
    file("elsewhere/manifest.json", &ktx_manifest("0.0.7"));
    std::os::unix::fs::symlink(home.join("elsewhere"), home.join("0.0.7")).unwrap();
    // The one runtime ktx made.
    file("0.0.5/manifest.json", &ktx_manifest("0.0.5"));
    file("0.0.5/venv/bin/python", "#!");
    let before = {
        let mut v = Vec::new();
        walk(&home, &mut |p| v.push(p.to_path_buf()));
        v.sort();
        v
    };

    let prune = |args: &[&str]| {
        let mut cmd = sb.ktx();
        cmd.env("KTX_RUNTIME_ROOT", &home)
            .args(["runtime", "prune"])
            .args(args);
        cmd
    };
    let dry = prune(&["--dry-run"]).assert().success();
    let dry = String::from_utf8_lossy(&dry.get_output().stdout).to_string();
    assert!(
        dry.contains(&format!("would remove {}", home.join("0.0.5").display()))
            && dry.contains("a runtime ktx 0.0.5 installed"),
        "{dry}"
    );
    for mine in [
        "myproject",
        "server",
        "notes",
        "1.2.3",
        "2.0.0",
        "0.0.7",
        "elsewhere",
    ] {
        assert!(
            !dry.contains(&format!("{}", home.join(mine).display())),
            "{mine}: {dry}"
        );
    }
    prune(&["--yes"]).assert().success();

    assert!(!home.join("0.0.5").exists());
    let mut after = Vec::new();
    walk(&home, &mut |p| after.push(p.to_path_buf()));
    after.sort();
    let expected: Vec<PathBuf> = before
        .into_iter()
        .filter(|p| !p.starts_with(home.join("0.0.5")))
        .collect();
    assert_eq!(after, expected, "prune changed what ktx did not make");
    assert!(!home.join("elsewhere/.use.lock").exists());
}

#[test]
fn install_keeps_the_mode_of_an_existing_root_and_gives_its_own_directories_its_modes() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.root()).unwrap();
    set_mode(&sb.root(), 0o2770);
    sb.install();
    assert_eq!(
        mode(&sb.root()),
        0o2770,
        "the existing root was re-permissioned"
    );
    assert_eq!(mode(&sb.version_dir()) & 0o777, 0o755);
    assert_eq!(mode(&sb.version_dir().join("logs")) & 0o777, 0o700);
}

#[test]
fn ctrl_c_while_install_force_waits_for_the_use_lock_exits_130_and_says_so() {
    let sb = Sandbox::new();
    sb.install();
    // A command using the runtime holds the use lock shared.
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(sb.version_dir().join(".use.lock"))
        .unwrap();
    held.lock_shared().unwrap();
    let mut child = sb
        .std_ktx()
        .args(["runtime", "install", "--force"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            all.push_str(&line);
            all.push('\n');
            if line.contains("waiting for the commands using the runtime") {
                let _ = tx.send(None);
            }
        }
        let _ = tx.send(Some(all));
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(300)).unwrap(),
        None,
        "install --force never waited for the use lock"
    );
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let stderr = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("os error 4"), "{stderr}");
    drop(held);
    // The runtime in place still answers.
    sb.query(&["--measure", "orders.order_count"])
        .assert()
        .success();
}

#[test]
fn version_and_help_written_to_a_full_disk_fail() {
    let sb = Sandbox::new();
    for arg in ["--version", "--help"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = sb
            .std_ktx_without_uv()
            .arg(arg)
            .stdout(full)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{arg}");
        assert!(
            stderr_of(&out).contains("could not be written"),
            "{}",
            stderr_of(&out)
        );
    }
}

#[test]
fn a_query_that_never_ends_is_stopped_at_the_execute_timeout_with_exit_3() {
    let sb = Sandbox::new();
    let demo = sb.demo();
    std::fs::write(
        demo.join("semantic-layer/warehouse/forever.yaml"),
        "name: forever\n\
         sql: |\n  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n\n\
         grain:\n  - i\n\
         columns:\n  - name: i\n    type: number\n\
         measures:\n  - name: total\n    expr: sum(i)\n",
    )
    .unwrap();
    let started = Instant::now();
    sb.query(&[
        "--measure",
        "forever.total",
        "--execute",
        "--execute-timeout",
        "2",
        "--yes",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("--execute-timeout of 2 s"));
    assert!(started.elapsed() < Duration::from_secs(120));
    sb.query(&["--measure", "forever.total", "--execute"])
        .env("KTX_EXECUTE_TIMEOUT", "1")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--execute-timeout of 1 s"));
}

/// The directory of `package` inside the venv's site-packages.
fn installed_package(venv: &Path, package: &str) -> PathBuf {
    let mut found = None;
    walk(venv, &mut |p| {
        if p.ends_with(format!("site-packages/{package}/__init__.py")) {
            found = Some(p.parent().unwrap().to_path_buf());
        }
    });
    found.unwrap_or_else(|| panic!("no {package} in {}", venv.display()))
}

#[test]
fn a_daemon_serving_code_from_outside_the_venv_is_never_reused_and_doctor_stops_it() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    let venv = sb.version_dir().join("venv");
    // What a daemon started the old way (no -I, from a directory holding a copy of the payload)
    // would serve: the same code, imported from outside the venv.
    let planted = sb.path().join("planted");
    copy_tree(
        &installed_package(&venv, "ktx_daemon"),
        &planted.join("ktx_daemon"),
    );
    let dir = sb.version_dir();
    let wheel = sb.manifest()["wheel"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let mut rogue = host_serve_http(&dir, &wheel, &"b".repeat(64), false)
        .current_dir(&planted)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("daemon.json").exists() {
        assert!(
            Instant::now() < deadline,
            "the planted daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rogue_pid = rogue.id();
    std::thread::spawn(move || {
        let _ = rogue.wait();
    });
    let planted_dir = planted.display().to_string();
    sb.ktx()
        .args(["runtime", "doctor"])
        .assert()
        .failure()
        .stdout(predicate::str::contains("cannot serve this runtime").and(
            predicate::str::contains(format!("ktx_daemon from {planted_dir}")),
        ));
    // `--daemon` never sends a query to it: it is stopped and replaced.
    sb.query(&["--measure", "orders.order_count", "--daemon"])
        .assert()
        .success();
    assert!(
        wait_gone(rogue_pid, Duration::from_secs(10)),
        "the daemon serving planted code still runs"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("daemon.json")).unwrap()).unwrap();
    assert_ne!(state["pid"].as_u64(), Some(rogue_pid as u64));
    sb.ktx().args(["runtime", "doctor"]).assert().success();
}
