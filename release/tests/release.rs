//! ktx-release as a maintainer runs it: one version everywhere, a reproducible wheel that pip,
//! uv, twine and check-wheel-contents accept and that matches hatchling's, and a tarball whose
//! verification catches what would break users.

mod common;

use assert_cmd::Command;
use common::rewrite_tarball;
use predicates::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn required(var: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(var)
            .unwrap_or_else(|| panic!("{var} is not set: run the tests through ./scripts/test")),
    )
}

fn py_env() -> PathBuf {
    required("KTX_TEST_PYTHON_ENV")
}

fn release() -> Command {
    Command::cargo_bin("ktx-release").unwrap()
}

fn build_wheel(out: &Path, epoch: Option<&str>) -> PathBuf {
    let mut cmd = release();
    cmd.arg("--out").arg(out).arg("wheel");
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    cmd.assert().success();
    out.join(format!(
        "kaelio_ktx-{}-py3-none-any.whl",
        env!("CARGO_PKG_VERSION")
    ))
}

#[test]
fn cargo_npm_and_python_carry_one_version() {
    let v = env!("CARGO_PKG_VERSION");
    let pkg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("npm/package.json")).unwrap()).unwrap();
    assert_eq!(
        pkg["version"], v,
        "npm/package.json disagrees with Cargo.toml"
    );
    let py: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("python/pyproject.toml")).unwrap())
            .unwrap();
    assert_eq!(
        py["project"]["version"].as_str(),
        Some(v),
        "python/pyproject.toml disagrees with Cargo.toml"
    );
}

#[test]
fn two_wheel_builds_are_byte_identical_and_honour_source_date_epoch() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let wa = std::fs::read(build_wheel(a.path(), None)).unwrap();
    let wb = std::fs::read(build_wheel(b.path(), None)).unwrap();
    assert_eq!(wa, wb);
    let c = tempfile::tempdir().unwrap();
    let wc = build_wheel(c.path(), Some("1778457600"));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wc).unwrap()).unwrap();
    let first = zip.by_index(0).unwrap();
    let t = first.last_modified().unwrap();
    assert_eq!((t.year(), t.month(), t.day()), (2026, 5, 11));
    assert_eq!(first.unix_mode().map(|m| m & 0o777), Some(0o644));
}

#[test]
fn the_wheel_record_lists_every_file_with_its_digest_and_size() {
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel(out.path(), None);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let record_name = names
        .iter()
        .find(|n| n.ends_with(".dist-info/RECORD"))
        .unwrap()
        .clone();
    let mut record = String::new();
    zip.by_name(&record_name)
        .unwrap()
        .read_to_string(&mut record)
        .unwrap();
    for name in &names {
        let line = record
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("{name} not in RECORD"));
        if *name == record_name {
            assert!(line.ends_with(",,"));
            continue;
        }
        let mut bytes = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(
            line,
            format!(
                "{name},sha256={},{}",
                ktx_release::wheel::record_digest(&bytes),
                bytes.len()
            )
        );
    }
}

#[test]
fn the_wheel_installs_with_pip_and_uv_pip_and_runs_ktx_daemon() {
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel(out.path(), None);
    // pip into a fresh venv
    let pip_venv = out.path().join("pip-venv");
    std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&pip_venv)
        .status()
        .unwrap();
    let st = std::process::Command::new(pip_venv.join("bin/pip"))
        .args(["install", "-q"])
        .arg(&wheel)
        .status()
        .unwrap();
    assert!(st.success());
    std::process::Command::new(pip_venv.join("bin/ktx-daemon"))
        .arg("--version")
        .output()
        .map(|o| {
            assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim(),
                format!("ktx-daemon {}", env!("CARGO_PKG_VERSION"))
            )
        })
        .unwrap();
    // uv pip into another
    let uv = required("KTX_TEST_UV");
    let uv_venv = out.path().join("uv-venv");
    assert!(std::process::Command::new(&uv)
        .args(["venv", "-q"])
        .arg(&uv_venv)
        .status()
        .unwrap()
        .success());
    assert!(std::process::Command::new(&uv)
        .args(["pip", "install", "-q", "--python"])
        .arg(uv_venv.join("bin/python"))
        .arg(&wheel)
        .status()
        .unwrap()
        .success());
    Command::new(uv_venv.join("bin/ktx-daemon"))
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn twine_and_check_wheel_contents_accept_the_wheel() {
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel(out.path(), None);
    Command::new(py_env().join("bin/twine"))
        .args(["check", "--strict"])
        .arg(&wheel)
        .assert()
        .success()
        .stdout(predicate::str::contains("PASSED"));
    // W009 (several top-level packages) is the design: the spec ships semantic_layer and
    // ktx_daemon in one wheel.
    Command::new(py_env().join("bin/check-wheel-contents"))
        .args(["--ignore", "W009"])
        .arg(&wheel)
        .assert()
        .success()
        .stdout(predicate::str::contains("OK"));
}

fn unzip_listing(wheel: &Path) -> (Vec<String>, Vec<String>) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_string).collect();
    names.sort();
    let meta = names
        .iter()
        .find(|n| n.ends_with(".dist-info/METADATA"))
        .unwrap()
        .clone();
    let mut text = String::new();
    zip.by_name(&meta)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    // The Metadata-Version line says which edition of the spec the tool writes; the fields are
    // what must agree.
    let lines = text
        .lines()
        .filter(|l| !l.starts_with("Metadata-Version"))
        .map(str::to_string)
        .collect();
    (names, lines)
}

#[test]
fn the_wheel_matches_what_uv_build_makes_from_the_same_pyproject() {
    let out = tempfile::tempdir().unwrap();
    let ours = build_wheel(out.path(), None);
    let theirs_dir = out.path().join("uv");
    let st = std::process::Command::new(required("KTX_TEST_UV"))
        .args(["build", "--wheel", "-q", "-o"])
        .arg(&theirs_dir)
        .arg(repo().join("python"))
        .status()
        .unwrap();
    assert!(st.success());
    let theirs = std::fs::read_dir(&theirs_dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "whl"))
        .unwrap()
        .path();
    assert_eq!(theirs.file_name(), ours.file_name());
    let (our_files, our_meta) = unzip_listing(&ours);
    let (their_files, their_meta) = unzip_listing(&theirs);
    assert_eq!(our_files, their_files);
    assert_eq!(our_meta, their_meta);
}

#[test]
fn verification_accepts_the_packed_tarball() {
    release()
        .arg("verify")
        .arg(required("KTX_TEST_TARBALL"))
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));
}

#[test]
fn verification_rejects_a_wheel_altered_by_one_byte_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tgz");
    rewrite_tarball(&required("KTX_TEST_TARBALL"), &bad, |name, _, bytes| {
        if name.ends_with(".whl") {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 1;
        }
        true
    });
    release().arg("verify").arg(&bad).assert().failure().stderr(
        predicate::str::contains(format!(
            "package/python/kaelio_ktx-{}-py3-none-any.whl",
            env!("CARGO_PKG_VERSION")
        ))
        .and(predicate::str::contains("does not match")),
    );
}

#[test]
fn verification_rejects_a_launcher_without_its_run_bit_and_a_missing_wheel() {
    let dir = tempfile::tempdir().unwrap();
    let no_x = dir.path().join("nox.tgz");
    rewrite_tarball(&required("KTX_TEST_TARBALL"), &no_x, |name, header, _| {
        if name == "package/dist/bin.js" {
            header.set_mode(0o644);
        }
        true
    });
    release()
        .arg("verify")
        .arg(&no_x)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "package/dist/bin.js is not executable",
        ));
    let no_wheel = dir.path().join("nowheel.tgz");
    rewrite_tarball(&required("KTX_TEST_TARBALL"), &no_wheel, |name, _, _| {
        !name.ends_with(".whl")
    });
    release()
        .arg("verify")
        .arg(&no_wheel)
        .assert()
        .failure()
        .stderr(predicate::str::contains("is missing from the tarball"));
}

#[test]
fn the_tarball_installs_locally_and_globally_and_runs_ktx() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = required("KTX_TEST_TARBALL");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let cache = dir.path().join("npm-cache");
    let npm = |args: &[&str], cwd: &Path| {
        let out = std::process::Command::new("npm")
            .args(args)
            .current_dir(cwd)
            .env("npm_config_cache", &cache)
            .env("npm_config_prefix", dir.path().join("prefix"))
            .env("npm_config_update_notifier", "false")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "npm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    npm(
        &["install", "--no-audit", "--no-fund", tgz.to_str().unwrap()],
        &project,
    );
    let v = npm(&["exec", "--", "ktx", "--version"], &project);
    assert_eq!(v.trim(), format!("ktx {}", env!("CARGO_PKG_VERSION")));
    npm(
        &[
            "install",
            "-g",
            "--no-audit",
            "--no-fund",
            tgz.to_str().unwrap(),
        ],
        dir.path(),
    );
    let out = std::process::Command::new(dir.path().join("prefix/bin/ktx"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ktx {}", env!("CARGO_PKG_VERSION"))
    );
}
