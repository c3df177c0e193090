//! ktx-release as a maintainer runs it: one version everywhere, a reproducible wheel that pip,
//! uv, twine and check-wheel-contents accept and that matches hatchling's, for the default
//! payload (python/) and for a merged one (python/ + fixtures/payloads/heavy), refusals that
//! name the field and the project, and a tarball whose verification catches what would break
//! users.

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

/// The merged shape: our payload and a second project shaped like KTX's real one.
fn heavy() -> PathBuf {
    repo().join("fixtures/payloads/heavy")
}

fn merged() -> Vec<PathBuf> {
    vec![repo().join("python"), heavy()]
}

fn build_wheel(out: &Path, epoch: Option<&str>) -> PathBuf {
    build_wheel_of(out, &[], epoch)
}

/// `ktx-release wheel` of these projects (none: the default, python/).
fn build_wheel_of(out: &Path, projects: &[PathBuf], epoch: Option<&str>) -> PathBuf {
    let mut cmd = release();
    cmd.arg("--out").arg(out).arg("wheel");
    for p in projects {
        cmd.arg("--project").arg(p);
    }
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
    let heavy: toml::Value =
        toml::from_str(&std::fs::read_to_string(heavy().join("pyproject.toml")).unwrap()).unwrap();
    assert_eq!(
        heavy["project"]["version"].as_str(),
        Some(v),
        "fixtures/payloads/heavy/pyproject.toml disagrees with Cargo.toml"
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
    checkers_accept(&build_wheel(out.path(), None));
}

#[test]
fn twine_and_check_wheel_contents_accept_the_merged_wheel() {
    let out = tempfile::tempdir().unwrap();
    checkers_accept(&build_wheel_of(out.path(), &merged(), None));
}

fn checkers_accept(wheel: &Path) {
    Command::new(py_env().join("bin/twine"))
        .args(["check", "--strict"])
        .arg(wheel)
        .assert()
        .success()
        .stdout(predicate::str::contains("PASSED"));
    // W009 (several top-level packages) is the design: the spec ships semantic_layer and
    // ktx_daemon in one wheel.
    Command::new(py_env().join("bin/check-wheel-contents"))
        .args(["--ignore", "W009"])
        .arg(wheel)
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

/// The one file of a wheel whose name ends with `suffix`, as text.
fn member(wheel: &Path, suffix: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let name = zip
        .file_names()
        .find(|n| n.ends_with(suffix))
        .unwrap_or_else(|| panic!("{} has no {suffix}", wheel.display()))
        .to_string();
    let mut text = String::new();
    zip.by_name(&name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// `uv build --wheel` of `project` into `out`; returns the wheel and how long it took.
fn uv_build(project: &Path, out: &Path) -> (PathBuf, std::time::Duration) {
    let start = std::time::Instant::now();
    let st = std::process::Command::new(required("KTX_TEST_UV"))
        .args(["build", "--wheel", "-q", "--python"])
        .arg(py_env().join("bin/python"))
        .arg("-o")
        .arg(out)
        .arg(project)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .status()
        .unwrap();
    assert!(st.success(), "uv build {}", project.display());
    let elapsed = start.elapsed();
    let wheel = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "whl"))
        .unwrap()
        .path();
    (wheel, elapsed)
}

/// Same name, same files, same METADATA fields (the Metadata-Version aside), same entry points.
fn assert_same_wheel(ours: &Path, theirs: &Path) {
    assert_eq!(theirs.file_name(), ours.file_name());
    let (our_files, our_meta) = unzip_listing(ours);
    let (their_files, their_meta) = unzip_listing(theirs);
    assert_eq!(our_files, their_files);
    assert_eq!(our_meta, their_meta);
    assert_eq!(
        member(ours, ".dist-info/entry_points.txt"),
        member(theirs, ".dist-info/entry_points.txt")
    );
}

#[test]
fn the_wheel_matches_what_uv_build_makes_of_the_generated_default_project() {
    // The default payload is python/ plus the runtime host (python/host), merged.
    let out = tempfile::tempdir().unwrap();
    let ours = build_wheel(out.path(), None);
    let project = out.path().join("default-project");
    release()
        .arg("payload-project")
        .arg(&project)
        .assert()
        .success();
    let (theirs, _) = uv_build(&project, &out.path().join("uv"));
    assert_same_wheel(&ours, &theirs);
}

#[test]
fn the_merged_wheel_matches_what_uv_build_makes_of_the_generated_merged_project() {
    let out = tempfile::tempdir().unwrap();
    let ours = build_wheel_of(out.path(), &merged(), None);
    let project = out.path().join("merged-project");
    let mut cmd = release();
    cmd.arg("payload-project").arg(&project);
    for p in merged() {
        cmd.arg("--project").arg(p);
    }
    cmd.assert().success();
    let (theirs, _) = uv_build(&project, &out.path().join("uv"));
    assert_same_wheel(&ours, &theirs);
}

#[test]
fn verification_accepts_a_tarball_of_the_release_binary_at_the_glibc_floor() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = common::pack_with(&common::release_binary(), dir.path());
    release()
        .arg("verify")
        .arg(&tgz)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));
}

/// `objdump -T`'s GLIBC versions of a binary, when binutils is installed (a second opinion on
/// our ELF reader).
fn objdump_glibc(bin: &Path) -> Option<Vec<String>> {
    let out = std::process::Command::new("objdump")
        .arg("-T")
        .arg(bin)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    Some(v)
}

#[test]
fn the_release_binary_needs_no_glibc_above_the_floor_as_objdump_sees_it_too() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let bin = common::release_binary();
    let facts = ktx_release::glibc::read_elf(&std::fs::read(&bin).unwrap()).unwrap();
    let highest = facts.glibc.highest().expect("a glibc build needs glibc");
    assert!(
        highest <= ktx_release::glibc::FLOOR,
        "{} needs glibc {highest}: {}",
        bin.display(),
        facts.glibc.describe_above(ktx_release::glibc::FLOOR, 8)
    );
    let ours: Vec<String> = facts.glibc.versions.keys().map(|v| v.to_string()).collect();
    if let Some(mut theirs) = objdump_glibc(&bin) {
        let mut ours = ours.clone();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "our ELF reader and objdump disagree");
    }
}

#[test]
fn verification_rejects_a_plain_cargo_build_above_the_glibc_floor_naming_its_symbols() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    // The test package carries target/debug/ktx: a plain `cargo build` on this machine.
    let debug = required("KTX_TEST_PACKAGE").join("native/linux-x64/ktx");
    let needs = ktx_release::glibc::read_elf(&std::fs::read(&debug).unwrap())
        .unwrap()
        .glibc;
    let (newest, symbols) = needs
        .above(ktx_release::glibc::FLOOR)
        .first()
        .map(|(v, s)| (*v, (*s).clone()))
        .expect("this machine's glibc is newer than the floor, so a plain cargo build needs more");
    if let Some(theirs) = objdump_glibc(&debug) {
        assert!(theirs.contains(&newest.to_string()), "objdump: {theirs:?}");
    }
    let first = symbols.iter().next().expect("a version bound to symbols");
    release()
        .arg("verify")
        .arg(required("KTX_TEST_TARBALL"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(format!(
                "package/native/linux-x64/ktx needs glibc {newest}, above the floor {}",
                ktx_release::glibc::FLOOR
            ))
            .and(predicate::str::contains(format!("GLIBC_{newest} ({first}")))
            .and(predicate::str::contains(
                "hint: build it with `ktx-release binary --target x86_64-unknown-linux-gnu`",
            )),
        );
}

#[test]
fn verification_rejects_a_binary_of_another_platform_and_a_record_that_lies() {
    let dir = tempfile::tempdir().unwrap();
    let good = common::pack_with(&common::release_binary(), dir.path());
    let script = dir.path().join("script.tgz");
    rewrite_tarball(&good, &script, |name, _, bytes| {
        if name.starts_with("package/native/") && name.ends_with("/ktx") {
            *bytes = b"#!/bin/sh\necho ktx 0.1.0\n".to_vec();
        }
        true
    });
    release()
        .arg("verify")
        .arg(&script)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("is not an executable this package knows").and(
                predicate::str::contains("hint: pack the binary `ktx-release binary --target"),
            ),
        );
    let lying = dir.path().join("lying.tgz");
    rewrite_tarball(&good, &lying, |name, _, bytes| {
        if name == "package/native/targets.json" {
            let mut r: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            for (_, e) in r.as_object_mut().unwrap() {
                if e.get("glibc").is_some() {
                    e["glibc"] = "2.12".into();
                }
            }
            *bytes = serde_json::to_vec(&r).unwrap();
        }
        true
    });
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        release()
            .arg("verify")
            .arg(&lying)
            .assert()
            .failure()
            .stderr(
                predicate::str::contains("package/native/targets.json records native/linux-x64")
                    .and(predicate::str::contains("hint: repack")),
            );
    }
    let no_record = dir.path().join("no-record.tgz");
    rewrite_tarball(&good, &no_record, |name, _, _| {
        name != "package/native/targets.json"
    });
    release()
        .arg("verify")
        .arg(&no_record)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "package/native/targets.json is missing from the tarball",
        ));
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
fn verification_rejects_install_scripts_and_a_package_yarn_would_keep_zipped() {
    let dir = tempfile::tempdir().unwrap();
    let edit_json = |out: &str, f: fn(&mut serde_json::Value)| {
        let path = dir.path().join(out);
        rewrite_tarball(
            &required("KTX_TEST_TARBALL"),
            &path,
            move |name, _, data| {
                if name == "package/package.json" {
                    let mut v: serde_json::Value = serde_json::from_slice(data).unwrap();
                    f(&mut v);
                    *data = serde_json::to_vec_pretty(&v).unwrap();
                }
                true
            },
        );
        path
    };
    let zipped = edit_json("zipped.tgz", |v| {
        v.as_object_mut().unwrap().remove("preferUnplugged");
    });
    release()
        .arg("verify")
        .arg(&zipped)
        .assert()
        .failure()
        .stderr(predicate::str::contains("preferUnplugged must be true"));
    let scripted = edit_json("scripted.tgz", |v| {
        v["scripts"] = serde_json::json!({"postinstall": "node dist/install.js"});
    });
    release()
        .arg("verify")
        .arg(&scripted)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "pnpm 12 refuses unapproved install scripts",
        ));
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

fn metadata_lines(wheel: &Path) -> Vec<String> {
    member(wheel, ".dist-info/METADATA")
        .lines()
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn two_builds_of_the_merged_payload_are_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let wa = std::fs::read(build_wheel_of(a.path(), &merged(), None)).unwrap();
    let wb = std::fs::read(build_wheel_of(b.path(), &merged(), None)).unwrap();
    assert_eq!(wa, wb);
}

#[test]
fn the_merged_wheel_is_kaelio_ktx_with_the_strictest_requires_python_and_the_merged_dependencies() {
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel_of(out.path(), &merged(), None);
    assert_eq!(
        wheel.file_name().unwrap().to_string_lossy(),
        format!("kaelio_ktx-{}-py3-none-any.whl", env!("CARGO_PKG_VERSION"))
    );
    let meta = metadata_lines(&wheel);
    let has = |l: &str| meta.iter().any(|m| m == l);
    assert!(has("Name: kaelio-ktx"), "{meta:#?}");
    assert!(has(&format!("Version: {}", env!("CARGO_PKG_VERSION"))));
    // python/ says >=3.9, the fixture >=3.13: the conjunction, simplified.
    assert!(has("Requires-Python: >=3.13"), "{meta:#?}");
    for dep in [
        "numpy>=2.1",
        "pandas>=2.2.3",
        "orjson>=3.10",
        "psycopg[binary]>=3.2",
    ] {
        assert!(
            has(&format!("Requires-Dist: {dep}")),
            "{dep} missing: {meta:#?}"
        );
    }
    // python/'s own dependencies are there too.
    let py: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("python/pyproject.toml")).unwrap())
            .unwrap();
    for dep in py["project"]["dependencies"].as_array().unwrap() {
        let name = dep
            .as_str()
            .unwrap()
            .split(['>', '<', '=', '[', ';', ' ', '!', '~'])
            .next()
            .unwrap();
        assert!(
            meta.iter()
                .any(|m| m.starts_with(&format!("Requires-Dist: {}", name.to_lowercase()))),
            "{name} of python/ missing: {meta:#?}"
        );
    }
    // The requirement on the project it is merged with is dropped; its extra is expanded.
    assert!(
        !meta
            .iter()
            .any(|m| m.starts_with("Requires-Dist: kaelio-ktx")),
        "{meta:#?}"
    );
    assert!(has("Provides-Extra: all"));
    assert!(meta
        .iter()
        .any(|m| m.starts_with("Requires-Dist: torch") && m.ends_with("extra == 'all'")));
    assert!(has(
        "Requires-Dist: uvloop>=0.19; (sys_platform != 'win32') and extra == 'speedups'"
    ));
    let eps = member(&wheel, ".dist-info/entry_points.txt");
    assert!(
        eps.contains("ktx-daemon = ") && eps.contains("ktx-heavy = ktx_heavy:main"),
        "{eps}"
    );
    let (files, _) = unzip_listing(&wheel);
    for f in [
        "ktx_heavy/__init__.py",
        "ktx_heavy/compute.py",
        "ktx_heavy/schema.json",
        "ktx_daemon/__init__.py",
        "semantic_layer/__init__.py",
    ] {
        assert!(files.iter().any(|n| n == f), "{f} missing: {files:#?}");
    }
}

/// A Python 3.13 (the merged payload requires it): `KTX_TEST_PYTHON313`, which scripts/test
/// finds or installs (PATH, pyenv, `uv python find`, else `uv python install`); scripts/test
/// stops before any test when none can be had.
fn python_313() -> PathBuf {
    std::env::var_os("KTX_TEST_PYTHON313")
        .map(PathBuf::from)
        .expect("KTX_TEST_PYTHON313 is not set: run the tests through ./scripts/test, which finds or installs Python 3.13 (or set KTX_TEST_PYTHON313 to one)")
}

fn run_both_entry_points(bin: &Path) {
    Command::new(bin.join("ktx-daemon"))
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(bin.join("ktx-heavy"))
        .args(["1", "2", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["count"].as_i64(), v["total"].as_f64(), v["mean"].as_f64()),
        (Some(3), Some(6.0), Some(2.0))
    );
    assert!(
        v["psycopg"].as_str().is_some_and(|s| s.starts_with('3')),
        "{v}"
    );
}

#[test]
fn the_merged_wheel_installs_with_pip_and_uv_pip_on_python_3_13_and_runs_both_projects() {
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel_of(out.path(), &merged(), None);
    let python = python_313();
    let pip_venv = out.path().join("pip-venv");
    assert!(std::process::Command::new(&python)
        .args(["-m", "venv"])
        .arg(&pip_venv)
        .status()
        .unwrap()
        .success());
    let st = std::process::Command::new(pip_venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .arg(&wheel)
        .status()
        .unwrap();
    assert!(st.success());
    run_both_entry_points(&pip_venv.join("bin"));

    let uv = required("KTX_TEST_UV");
    let uv_venv = out.path().join("uv-venv");
    assert!(std::process::Command::new(&uv)
        .args(["venv", "-q", "--python"])
        .arg(&python)
        .arg(&uv_venv)
        .env("UV_PYTHON_DOWNLOADS", "never")
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
    run_both_entry_points(&uv_venv.join("bin"));
}

#[test]
fn a_python_older_than_the_merged_requires_python_is_refused_by_pip() {
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel_of(out.path(), &merged(), None);
    // The test environment's Python is older than 3.13 here; the wheel must say so to pip.
    let py = py_env().join("bin/python");
    let version = std::process::Command::new(&py)
        .args(["-c", "import sys; print(sys.version_info >= (3, 13))"])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&version.stdout).trim() == "True" {
        return; // nothing older to try with
    }
    std::process::Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "-q",
            "--disable-pip-version-check",
        ])
        .arg(&wheel)
        .output()
        .map(|o| {
            assert!(!o.status.success());
            assert!(String::from_utf8_lossy(&o.stderr).contains("requires a different Python"));
        })
        .unwrap();
}

/// The runtime manifest inside a packed tarball.
fn tarball_manifest(tgz: &Path) -> serde_json::Value {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(tgz).unwrap(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == "package/python/runtime-manifest.json" {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            return serde_json::from_slice(&bytes).unwrap();
        }
    }
    panic!("{} has no runtime manifest", tgz.display());
}

#[test]
fn the_runtime_manifest_names_the_wheels_requires_python_and_import_packages() {
    let m = tarball_manifest(&required("KTX_TEST_TARBALL"));
    let out = tempfile::tempdir().unwrap();
    let meta = metadata_lines(&build_wheel(out.path(), None));
    let requires_python = meta
        .iter()
        .find_map(|l| l.strip_prefix("Requires-Python: "))
        .expect("the default wheel declares Requires-Python");
    assert_eq!(m["requiresPython"], requires_python);
    assert_eq!(
        m["packages"],
        serde_json::json!(["ktx_daemon", "ktx_host", "semantic_layer"])
    );
}

#[test]
fn packing_the_merged_payload_writes_its_requires_python_and_packages_into_the_manifest() {
    let out = tempfile::tempdir().unwrap();
    let ktx = common::release_binary();
    let mut cmd = release();
    cmd.arg("--out")
        .arg(out.path())
        .arg("pack")
        .arg("--binary")
        .arg(format!("linux-x64={}", ktx.display()));
    for p in merged() {
        cmd.arg("--project").arg(p);
    }
    let assert = cmd.assert().success();
    let tgz = PathBuf::from(String::from_utf8_lossy(&assert.get_output().stdout).trim());
    let m = tarball_manifest(&tgz);
    assert_eq!(m["requiresPython"], ">=3.13");
    assert_eq!(
        m["packages"],
        serde_json::json!(["ktx_daemon", "ktx_heavy", "ktx_host", "semantic_layer"])
    );
    release().arg("verify").arg(&tgz).assert().success();
}

#[test]
fn verification_rejects_a_manifest_whose_requires_python_or_packages_differ_from_the_wheel() {
    let dir = tempfile::tempdir().unwrap();
    for (field, value, says) in [
        (
            "requiresPython",
            serde_json::json!(">=3.8"),
            "requiresPython",
        ),
        (
            "packages",
            serde_json::json!(["semantic_layer"]),
            "packages",
        ),
        ("packages", serde_json::Value::Null, "packages"),
    ] {
        let bad = dir.path().join(format!("{field}.tgz"));
        rewrite_tarball(&required("KTX_TEST_TARBALL"), &bad, |name, _, bytes| {
            if name == "package/python/runtime-manifest.json" {
                let mut m: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                if value.is_null() {
                    m.as_object_mut().unwrap().remove(field);
                } else {
                    m[field] = value.clone();
                }
                *bytes = serde_json::to_vec_pretty(&m).unwrap();
            }
            true
        });
        release().arg("verify").arg(&bad).assert().failure().stderr(
            predicate::str::contains("package/python/runtime-manifest.json")
                .and(predicate::str::contains(says))
                .and(predicate::str::contains(".whl")),
        );
    }
}

#[test]
fn ktx_release_prints_the_pinned_uv_version() {
    release()
        .arg("uv-version")
        .assert()
        .success()
        .stdout(format!("{}\n", ktx_release::uvpin::UV_VERSION));
}

/// A one-package hatchling project in `dir` with `project_extra` added to [project] and `tail`
/// appended to the file.
fn write_project(dir: &Path, name: &str, package: &str, project_extra: &str, tail: &str) {
    std::fs::create_dir_all(dir.join(package)).unwrap();
    std::fs::write(dir.join(package).join("__init__.py"), "").unwrap();
    std::fs::write(dir.join("README.asciidoc"), "= readme\n").unwrap();
    std::fs::write(dir.join("LICENSE"), "MIT\n").unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{}\"\n{project_extra}\n\n\
             [tool.hatch.build.targets.wheel]\npackages = [\"{package}\"]\n{tail}",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
}

/// `ktx-release wheel` of these projects fails with one line naming `field` and `project`.
fn assert_refused(projects: &[PathBuf], field: &str, project: &Path) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = release();
    cmd.arg("--out").arg(out.path()).arg("wheel");
    for p in projects {
        cmd.arg("--project").arg(p);
    }
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{field}: accepted");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{field}: not one line: {stderr}"
    );
    assert!(
        stderr.contains(&project.join("pyproject.toml").display().to_string())
            && stderr.contains(field),
        "{field}: the error does not name the field and {}: {stderr}",
        project.display()
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "{field}: a refused build left files behind"
    );
}

#[test]
fn every_field_the_writer_cannot_honour_is_refused_naming_the_field_and_the_project() {
    let root = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("project.dynamic", "dynamic = [\"dependencies\"]", ""),
        ("project.authors", "authors = [{name = \"A\"}]", ""),
        ("project.maintainers", "maintainers = [{name = \"A\"}]", ""),
        ("project.keywords", "keywords = [\"k\"]", ""),
        ("project.classifiers", "classifiers = [\"Private :: Do Not Upload\"]", ""),
        ("project.license-files", "license-files = [\"LICENSE\"]", ""),
        ("project.import-names", "import-names = [\"pkg\"]", ""),
        ("project.readme", "readme = \"README.asciidoc\"", ""),
        ("project.readme.charset", "readme = {file = \"README.asciidoc\", content-type = \"text/plain\", charset = \"latin-1\"}", ""),
        ("project.license.file", "license = {file = \"LICENSE\"}", ""),
        ("project.entry-points.console_scripts", "entry-points = {console_scripts = {x = \"pkg:main\"}}", ""),
        ("project.dependencies", "dependencies = [\"x @ https://example.org/x-1-py3-none-any.whl\"]", ""),
        ("project.optional-dependencies.e", "optional-dependencies = {e = [\"not a requirement!\"]}", ""),
        ("project.requires-python", "requires-python = \"3.13\"", ""),
        ("tool.hatch.build.hooks", "", "[tool.hatch.build.hooks.custom]\n"),
        ("tool.hatch.build.targets.wheel.hooks", "", "[tool.hatch.build.targets.wheel.hooks.custom]\n"),
        ("tool.hatch.build.targets.wheel.force-include", "", "[tool.hatch.build.targets.wheel.force-include]\n\"data\" = \"pkg/data\"\n"),
        ("tool.hatch.build.targets.wheel.only-include", "", "[tool.hatch.build.targets.wheel.only-include]\n"),
        ("tool.hatch.build.targets.wheel.sources", "", "[tool.hatch.build.targets.wheel.sources]\n"),
        ("tool.hatch.build.targets.wheel.artifacts", "", "[tool.hatch.build.targets.wheel.artifacts]\n"),
        ("tool.hatch.build.targets.wheel.exclude", "", "[tool.hatch.build.targets.wheel.exclude]\n"),
        ("tool.hatch.build.targets.wheel.shared-data", "", "[tool.hatch.build.targets.wheel.shared-data]\n"),
        ("tool.hatch.build.include", "", "[tool.hatch.build]\ninclude = [\"pkg\"]\n"),
        ("tool.hatch.metadata.allow-direct-references", "", "[tool.hatch.metadata]\nallow-direct-references = true\n"),
        ("tool.hatch.metadata.hooks", "", "[tool.hatch.metadata.hooks.custom]\n"),
    ];
    for (i, (field, project_extra, tail)) in cases.iter().enumerate() {
        let dir = root.path().join(format!("p{i}"));
        write_project(&dir, "ktx-refused", "pkg", project_extra, tail);
        assert_refused(std::slice::from_ref(&dir), field, &dir);
    }
}

#[test]
fn a_project_built_by_another_backend_or_without_packages_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let setuptools = root.path().join("setuptools");
    write_project(
        &setuptools,
        "ktx-refused",
        "pkg",
        "",
        "[tool.setuptools]\npackages = [\"pkg\"]\n",
    );
    let text = std::fs::read_to_string(setuptools.join("pyproject.toml"))
        .unwrap()
        .replace("hatchling.build", "setuptools.build_meta");
    std::fs::write(setuptools.join("pyproject.toml"), text).unwrap();
    assert_refused(
        std::slice::from_ref(&setuptools),
        "build-system.build-backend",
        &setuptools,
    );

    let none = root.path().join("no-backend");
    write_project(&none, "ktx-refused", "pkg", "", "");
    let text = std::fs::read_to_string(none.join("pyproject.toml")).unwrap();
    let text = text
        .split_once("[project]")
        .map(|(_, rest)| format!("[project]{rest}"))
        .unwrap();
    std::fs::write(none.join("pyproject.toml"), text).unwrap();
    assert_refused(
        std::slice::from_ref(&none),
        "build-system.build-backend",
        &none,
    );

    let no_init = root.path().join("no-init");
    write_project(&no_init, "ktx-refused", "pkg", "", "");
    std::fs::remove_file(no_init.join("pkg/__init__.py")).unwrap();
    assert_refused(
        std::slice::from_ref(&no_init),
        "tool.hatch.build.targets.wheel.packages",
        &no_init,
    );
}

#[test]
fn a_project_whose_version_is_not_the_workspace_version_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    write_project(&dir, "ktx-old", "old_pkg", "", "");
    let text = std::fs::read_to_string(dir.join("pyproject.toml"))
        .unwrap()
        .replace(
            &format!("version = \"{}\"", env!("CARGO_PKG_VERSION")),
            "version = \"0.0.1\"",
        );
    std::fs::write(dir.join("pyproject.toml"), text).unwrap();
    assert_refused(
        &[repo().join("python"), dir.clone()],
        "project.version",
        &dir,
    );
}

#[test]
fn two_projects_shipping_one_import_package_are_refused_naming_both() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("clash");
    write_project(&dir, "ktx-clash", "semantic_layer", "", "");
    let out = tempfile::tempdir().unwrap();
    release()
        .arg("--out")
        .arg(out.path())
        .args(["wheel", "--project", "python", "--project"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("semantic_layer")
                .and(predicate::str::contains(
                    repo().join("python/pyproject.toml").display().to_string(),
                ))
                .and(predicate::str::contains(
                    dir.join("pyproject.toml").display().to_string(),
                )),
        );
}

#[test]
fn a_script_name_with_two_targets_is_refused_naming_both_projects() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("script");
    write_project(
        &dir,
        "ktx-script",
        "other_pkg",
        "scripts = {ktx-daemon = \"other_pkg:main\"}",
        "",
    );
    assert_refused(
        &[repo().join("python"), dir.clone()],
        "project.scripts.ktx-daemon",
        &dir,
    );
    let out = tempfile::tempdir().unwrap();
    release()
        .arg("--out")
        .arg(out.path())
        .args(["wheel", "--project", "python", "--project"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            repo().join("python/pyproject.toml").display().to_string(),
        ));
}

#[test]
fn everything_the_writer_honours_matches_uv_build_of_the_generated_project() {
    // Fields neither shipped shape uses: urls, an SPDX license with a LICENSE file, a readme
    // table, GUI scripts, entry-point groups, markers, a self-referencing extra, package data in
    // a subpackage and a hidden file.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("full");
    write_project(
        &dir,
        "Ktx.Full",
        "full_pkg",
        "description = \"every honoured field\"\n\
         readme = {text = \"# Full\\n\\nline two\", content-type = \"text/markdown\"}\n\
         license = \"MIT OR Apache-2.0\"\n\
         requires-python = \">= 3.10, <4\"\n\
         dependencies = [\"Requests[Socks , security] >= 2.31\", \"tomli>=1; python_version<'3.11'\", \"ktx.full[extra-one]\"]\n\
         gui-scripts = {full-gui = \"full_pkg:gui\"}\n\
         urls = {Zeta = \"https://example.org/z\", Alpha = \"https://example.org/a\"}\n\
         [project.optional-dependencies]\n\
         Extra_One = [\"rich>=13\", \"colorama; os_name == \\\"nt\\\"\"]\n\
         [project.entry-points.\"ktx.plugins\"]\n\
         full = \"full_pkg:plugin\"",
        "[tool.kaelio-ktx]\napp = \"full_pkg.web:create_app\"\noneshot = \"full_pkg\"\n",
    );
    std::fs::create_dir_all(dir.join("full_pkg/data")).unwrap();
    std::fs::write(dir.join("full_pkg/data/__init__.py"), "").unwrap();
    std::fs::write(dir.join("full_pkg/data/table.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(dir.join("full_pkg/.keep"), "").unwrap();
    let out = tempfile::tempdir().unwrap();
    let ours = build_wheel_of(out.path(), std::slice::from_ref(&dir), None);
    let project = out.path().join("generated");
    release()
        .arg("payload-project")
        .arg(&project)
        .arg("--project")
        .arg(&dir)
        .assert()
        .success();
    let (theirs, _) = uv_build(&project, &out.path().join("uv"));
    assert_same_wheel(&ours, &theirs);
    let meta = metadata_lines(&ours);
    assert!(
        meta.contains(&"Requires-Dist: rich>=13".to_string()),
        "{meta:#?}"
    );
    assert!(
        meta.contains(&"License-File: LICENSE".to_string()),
        "{meta:#?}"
    );
    checkers_accept(&ours);
}

#[test]
fn a_file_git_ignores_inside_a_package_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ignored");
    write_project(
        &dir,
        "ktx-ignored",
        "pkg",
        "",
        "[tool.kaelio-ktx]\napp = \"pkg:app\"\noneshot = \"pkg\"\n",
    );
    let git = |args: &[&str]| {
        assert!(std::process::Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
            .status
            .success());
    };
    git(&["init", "-q"]);
    std::fs::write(dir.join(".gitignore"), "*.so\n").unwrap();
    std::fs::write(dir.join("pkg/_speedups.so"), "not ours").unwrap();
    // hatchling leaves it out; rather than guess git's rules, the writer refuses.
    let out = tempfile::tempdir().unwrap();
    release()
        .arg("--out")
        .arg(out.path())
        .args(["wheel", "--project"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(dir.join("pyproject.toml").display().to_string())
                .and(predicate::str::contains("pkg/_speedups.so"))
                .and(predicate::str::contains("ignored by git")),
        );
    std::fs::remove_file(dir.join("pkg/_speedups.so")).unwrap();
    release()
        .arg("--out")
        .arg(out.path())
        .args(["wheel", "--project"])
        .arg(&dir)
        .assert()
        .success();
}
