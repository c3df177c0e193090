//! The install under the faults users' machines have: an interrupt at any moment, a full disk,
//! a read-only runtime, no HOME, an interpreter that vanished, umask 000, a stripped PATH.
//! Each fault is real: a signal, a small tmpfs, a read-only bind mount, a deleted directory.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Mount something for a test; `None` (the test then says why it is skipped) where mounting is
/// not allowed (not root, no mount namespace).
struct Mount(PathBuf);

impl Mount {
    fn run(args: &[&str]) -> bool {
        Command::new("mount")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }
    fn tmpfs(dir: &Path, size_mb: u64) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let size = format!("size={size_mb}m");
        Mount::run(&["-t", "tmpfs", "-o", &size, "tmpfs", dir.to_str().unwrap()])
            .then(|| Mount(dir.to_path_buf()))
    }
    fn grow(&self, size_mb: u64) {
        let opt = format!("remount,size={size_mb}m");
        assert!(Mount::run(&["-o", &opt, self.0.to_str().unwrap()]));
    }
    fn read_only_bind(dir: &Path) -> Option<Mount> {
        let d = dir.to_str().unwrap();
        if !Mount::run(&["--bind", d, d]) {
            return None;
        }
        let m = Mount(dir.to_path_buf());
        Mount::run(&["-o", "remount,ro,bind", d]).then_some(m)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

fn status_json(sb: &Sandbox) -> serde_json::Value {
    let out = sb
        .ktx()
        .args(["runtime", "status", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn answers(sb: &Sandbox) {
    sb.query(&[
        "--measure",
        "orders.revenue",
        "--no-input",
        "--format",
        "sql",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("SELECT"));
}

#[test]
fn ctrl_c_during_a_rebuild_exits_130_and_leaves_the_runtime_as_it_was() {
    let sb = Sandbox::new();
    sb.install();
    let before = sb.manifest();
    for delay_ms in [300u64, 900] {
        let mut cmd = sb.std_ktx();
        cmd.args(["runtime", "install", "--force"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0); // as a terminal's Ctrl-C reaches a foreground job
        }
        let child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: SIGINT to the group we just made.
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGINT);
        }
        let out = child.wait_with_output().unwrap();
        let err = stderr_of(&out);
        if out.status.success() {
            continue; // it finished first: nothing to interrupt
        }
        assert_eq!(out.status.code(), Some(130), "{err}");
        assert!(
            err.contains("interrupted: the runtime in") && err.contains("was not changed"),
            "{err}"
        );
        assert_eq!(sb.manifest(), before, "the manifest changed");
        answers(&sb);
    }
    // Nothing of the interrupted attempts stays once another install ran.
    sb.ktx().args(["runtime", "install"]).assert().success();
    let left: Vec<_> = std::fs::read_dir(sb.version_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.starts_with(".staging") || n.starts_with(".trash") || n.starts_with(".retired")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_full_disk_fails_the_install_saying_so_and_a_grown_one_installs() {
    let sb = Sandbox::new();
    let Some(disk) = Mount::tmpfs(&sb.root(), 12) else {
        return skip("cannot mount a tmpfs here (needs root)");
    };
    let out = sb.ktx().args(["runtime", "install"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("disk full") && err.contains("MB free"),
        "{err}"
    );
    assert!(err.contains(".log"), "the log path: {err}");
    assert_ne!(status_json(&sb)["installed"], true);
    disk.grow(400);
    sb.ktx().args(["runtime", "install"]).assert().success();
    assert_eq!(status_json(&sb)["installed"], true);
    sb.ktx().args(["runtime", "doctor"]).assert().success();
    answers(&sb);
}

#[test]
fn a_force_rebuild_on_a_disk_too_small_for_two_venvs_keeps_the_old_runtime_answering() {
    let sb = Sandbox::new();
    let Some(disk) = Mount::tmpfs(&sb.root(), 400) else {
        return skip("cannot mount a tmpfs here (needs root)");
    };
    sb.install();
    let size = common::tree_size(&sb.version_dir().join("venv"));
    // Room for the venv there is and a third of another.
    let used = common::tree_size(&sb.root());
    disk.grow((used + size / 3) / (1 << 20) + 1);
    let before = sb.manifest();
    let out = sb
        .ktx()
        .args(["runtime", "install", "--force"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("disk full"), "{err}");
    assert!(err.contains("was not changed"), "{err}");
    assert_eq!(sb.manifest(), before);
    assert_eq!(status_json(&sb)["installed"], true);
    answers(&sb);
}

#[test]
fn a_runtime_on_a_read_only_filesystem_still_answers_queries() {
    let sb = Sandbox::new();
    sb.install();
    answers(&sb); // bytecode of the query path is written while it can be
    let Some(_ro) = Mount::read_only_bind(&sb.root()) else {
        return skip("cannot bind-mount read-only here (needs root)");
    };
    assert!(
        std::fs::write(sb.root().join("probe"), "x").is_err(),
        "not read-only"
    );
    answers(&sb);
    sb.query(&["--measure", "orders.revenue", "--execute", "--no-input"])
        .assert()
        .success();
    sb.ktx()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("installed"));
    sb.ktx()
        .args(["runtime", "doctor"])
        .assert()
        .stdout(predicate::str::contains("not writable"));
}

#[test]
fn without_home_or_xdg_data_home_the_runtime_has_no_place_and_ktx_says_which_variables() {
    let sb = Sandbox::new();
    sb.demo();
    let work = sb.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = sb
        .ktx()
        .env_remove("HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("KTX_RUNTIME_DIR")
        .env_remove("KTX_RUNTIME_ROOT")
        .current_dir(&work)
        .args([
            "sl",
            "query",
            "--project-dir",
            "../demo",
            "--measure",
            "orders.revenue",
            "--yes",
        ])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("XDG_DATA_HOME, HOME"), "{err}");
    assert!(
        err.contains("--runtime-dir") && err.contains("KTX_RUNTIME_ROOT"),
        "{err}"
    );
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1);
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "nothing relative"
    );
    // The demo can still be written: it needs no runtime.
    sb.ktx()
        .env_remove("HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("KTX_RUNTIME_DIR")
        .current_dir(&work)
        .args(["setup", "demo"])
        .assert()
        .success();
}

#[test]
fn a_vanished_base_interpreter_is_broken_in_status_and_a_query_with_consent_rebuilds() {
    let sb = Sandbox::new();
    // A Python of our own, which we can take away: the standalone archive, unpacked here.
    let (archive, meta) = standalone_python();
    let base = sb.path().join("pybase");
    std::fs::create_dir_all(&base).unwrap();
    assert!(Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&base)
        .status()
        .unwrap()
        .success());
    let version = format!("{}.{}", meta["major"], meta["minor"]);
    let only_ours = base.join("python/bin");
    sb.query(&["--measure", "orders.revenue", "--yes"])
        .env("PATH", &only_ours)
        .assert()
        .success();
    assert!(sb.manifest()["python"]["base"]
        .as_str()
        .unwrap()
        .starts_with(base.to_str().unwrap()));
    std::fs::remove_dir_all(&base).unwrap();
    let s = status_json(&sb);
    assert_eq!(s["state"], "broken", "{s:#}");
    assert!(s["reason"].as_str().unwrap().contains("is gone"), "{s:#}");
    // Another Python is on PATH now (the machine's): the query repairs, then answers.
    sb.query(&["--measure", "orders.revenue", "--yes", "--format", "sql"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"))
        .stderr(predicate::str::contains("rebuilding"));
    assert_eq!(status_json(&sb)["installed"], true);
    assert!(!sb.manifest()["python"]["version"]
        .as_str()
        .unwrap()
        .is_empty());
    let _ = version;
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn under_umask_000_nothing_the_runtime_writes_is_writable_by_others() {
    let sb = Sandbox::new();
    sb.demo();
    let ktx = assert_cmd::cargo::cargo_bin("ktx");
    let mut cmd = sb.std_ktx();
    // SAFETY: umask in the child before exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let _ = ktx;
    let out = cmd.args(["runtime", "start", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for p in [
        sb.root(),
        sb.version_dir(),
        sb.version_dir().join("venv"),
        sb.version_dir().join("venv/bin"),
        sb.version_dir().join("manifest.json"),
    ] {
        assert_eq!(mode(&p) & 0o022, 0, "{} is {:o}", p.display(), mode(&p));
    }
    assert_eq!(mode(&sb.version_dir().join("logs")), 0o700);
    assert_eq!(mode(&sb.version_dir().join("daemon.json")), 0o600);
    let mut bad = Vec::new();
    common::walk(&sb.version_dir().join("venv"), &mut |p| {
        if std::fs::symlink_metadata(p).is_ok_and(|m| !m.file_type().is_symlink())
            && mode(p) & 0o002 != 0
        {
            bad.push(p.to_path_buf());
        }
    });
    assert!(bad.is_empty(), "world-writable: {bad:?}");
}

#[test]
fn with_a_stripped_path_the_runtime_installs_and_answers() {
    let sb = Sandbox::new();
    sb.demo();
    let py = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let only_python = sb.path().join("bin");
    std::fs::create_dir_all(&only_python).unwrap();
    std::os::unix::fs::symlink(&py, only_python.join("python3")).unwrap();
    let start = Instant::now();
    sb.query(&[
        "--measure",
        "orders.revenue",
        "--execute",
        "--format",
        "table",
        "--yes",
    ])
    .env("PATH", &only_python)
    .assert()
    .success()
    .stdout(predicate::str::contains("rows)"));
    sb.ktx()
        .env("PATH", "/nonexistent")
        .args(["runtime", "doctor"])
        .assert()
        .success();
    let _ = start;
}

/// A copy of the staged package whose `file` is rewritten by `edit`.
fn package_copy(
    sb: &Sandbox,
    file: &str,
    edit: impl Fn(&mut serde_json::Value),
) -> std::path::PathBuf {
    let pkg = sb.path().join("pkg");
    common::copy_tree(&common::package(), &pkg);
    let path = pkg.join(file);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    pkg
}

#[test]
fn a_package_json_of_another_version_than_the_binary_stops_with_exit_5_naming_all_three() {
    let sb = Sandbox::new();
    sb.demo();
    let pkg = package_copy(&sb, "package.json", |v| v["version"] = "9.9.9".into());
    let v = env!("CARGO_PKG_VERSION");
    sb.query(&["--measure", "orders.revenue", "--yes"])
        .env("KTX_PACKAGE_ROOT", &pkg)
        .assert()
        .code(5)
        .stderr(
            predicate::str::contains(format!(
                "ktx binary {v}, package.json 9.9.9, python/runtime-manifest.json {v}"
            ))
            .and(predicate::str::contains("@kaelio/ktx@9.9.9")),
        );
    assert!(
        !sb.root().exists(),
        "a mis-packed package installed something"
    );
    sb.ktx()
        .env("KTX_PACKAGE_ROOT", &pkg)
        .args(["runtime", "doctor"])
        .assert()
        .failure()
        .stdout(predicate::str::contains("[fail] package"));
    sb.ktx()
        .env("KTX_PACKAGE_ROOT", &pkg)
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "package:   the package's versions disagree",
        ));
}

#[test]
fn a_runtime_manifest_of_another_version_than_the_binary_stops_with_exit_5() {
    let sb = Sandbox::new();
    let pkg = package_copy(&sb, "python/runtime-manifest.json", |v| {
        v["version"] = "0.0.1".into()
    });
    sb.ktx()
        .env("KTX_PACKAGE_ROOT", &pkg)
        .args(["runtime", "install"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "python/runtime-manifest.json 0.0.1",
        ));
}

#[test]
fn the_binary_run_through_a_bin_symlink_without_the_launcher_finds_its_package_from_its_own_path() {
    let sb = Sandbox::new();
    let pkg = sb.path().join("pkg");
    common::copy_tree(&common::package(), &pkg);
    // A bin symlink straight at the packed binary, no KTX_PACKAGE_ROOT: the path resolves.
    let host = ktx_bootstrap::targets::host().unwrap().npm_dir;
    let bin = pkg.join("native").join(host).join("ktx");
    let link = sb.path().join("node_modules-bin-ktx");
    std::os::unix::fs::symlink(&bin, &link).unwrap();
    let out = std::process::Command::new(&link)
        .args(["runtime", "status", "--json"])
        .env("HOME", sb.home())
        .env("KTX_RUNTIME_DIR", sb.root())
        .env_remove("KTX_PACKAGE_ROOT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr_of(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        std::path::Path::new(status["package"].as_str().unwrap()),
        pkg.canonicalize().unwrap()
    );
}
