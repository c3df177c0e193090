//! The runtime host in every wheel: `ktx_host` (python/host) merged whatever the `--project`s,
//! the payload declaration (`[tool.kaelio-ktx]`: app and one-shot module, KTX's defaults)
//! written into `ktx_host/payload.json` and the runtime manifest's `payload`, its refusals
//! naming field and file, package selection (`--project DIR#pkg,pkg`), and the KTX-shaped
//! fixture merged with our semantic_layer, installed and run.

mod common;

use assert_cmd::Command;
use common::{required, rewrite_tarball};
use predicates::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn release() -> Command {
    Command::cargo_bin("ktx-release").unwrap()
}

fn ktx_shaped() -> PathBuf {
    repo().join("fixtures/payloads/ktx-shaped")
}

/// `ktx-release wheel` of these `--project` arguments; the wheel's path.
fn wheel_of(out: &Path, projects: &[String]) -> PathBuf {
    let mut cmd = release();
    cmd.arg("--out").arg(out).arg("wheel");
    for p in projects {
        cmd.arg("--project").arg(p);
    }
    cmd.assert().success();
    out.join(format!(
        "kaelio_ktx-{}-py3-none-any.whl",
        env!("CARGO_PKG_VERSION")
    ))
}

/// `ktx-release wheel` of these projects fails; its stderr (one line).
fn refused(projects: &[String]) -> String {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = release();
    cmd.arg("--out").arg(out.path()).arg("wheel");
    for p in projects {
        cmd.arg("--project").arg(p);
    }
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "accepted: {projects:?}");
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "a refused build left files behind"
    );
    stderr
}

fn names(wheel: &Path) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    zip.file_names().map(str::to_string).collect()
}

fn member(wheel: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap_or_else(|_| panic!("{} has no {name}", wheel.display()))
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A one-package hatchling project at the workspace version; `tail` is appended.
fn write_project(dir: &Path, name: &str, package: &str, tail: &str) {
    std::fs::create_dir_all(dir.join(package)).unwrap();
    std::fs::write(dir.join(package).join("__init__.py"), "").unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{}\"\n\n\
             [tool.hatch.build.targets.wheel]\npackages = [\"{package}\"]\n{tail}",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
}

#[test]
fn the_wheel_of_our_payload_holds_the_host_and_a_payload_json_with_ktx_defaults() {
    let out = tempfile::tempdir().unwrap();
    let wheel = wheel_of(out.path(), &["python".into()]);
    let files = names(&wheel);
    assert!(
        files.iter().any(|n| n == "ktx_host/__init__.py"),
        "{files:#?}"
    );
    let text = member(&wheel, "ktx_host/payload.json");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "app": "ktx_daemon.app:create_app",
            "oneshot": "ktx_daemon",
            "packages": ["ktx_daemon", "ktx_host", "semantic_layer"],
        })
    );
    // Keys sorted, as written (and the same bytes every build).
    let keys: Vec<usize> = ["\"app\"", "\"oneshot\"", "\"packages\""]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
    let again = wheel_of(&out.path().join("again"), &["python".into()]);
    assert_eq!(
        std::fs::read(&wheel).unwrap(),
        std::fs::read(again).unwrap()
    );
    // The host's dependencies join the payload's.
    let meta = member(
        &wheel,
        &format!(
            "kaelio_ktx-{}.dist-info/METADATA",
            env!("CARGO_PKG_VERSION")
        ),
    );
    assert!(meta.contains("Requires-Dist: uvicorn"), "{meta}");
}

#[test]
fn naming_the_host_as_a_project_merges_it_once() {
    let out = tempfile::tempdir().unwrap();
    let wheel = wheel_of(out.path(), &["python".into(), "python/host".into()]);
    let first = wheel_of(&out.path().join("plain"), &["python".into()]);
    assert_eq!(std::fs::read(wheel).unwrap(), std::fs::read(first).unwrap());
}

#[test]
fn a_declared_app_and_oneshot_land_in_payload_json_and_the_runtime_manifest() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("toy");
    write_project(
        &dir,
        "ktx-toy",
        "toy_app",
        "\n[tool.kaelio-ktx]\napp = \"toy_app.web:make_app\"\noneshot = \"toy_app.cli\"\n",
    );
    let out = tempfile::tempdir().unwrap();
    let assert = release()
        .arg("--out")
        .arg(out.path())
        .arg("pack")
        .arg("--binary")
        .arg(format!("linux-x64={}", staged_ktx().display()))
        .arg("--project")
        .arg(&dir)
        .assert()
        .success();
    let tgz = PathBuf::from(String::from_utf8_lossy(&assert.get_output().stdout).trim());
    let manifest = tarball_file(&tgz, "package/python/runtime-manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["payload"],
        serde_json::json!({"app": "toy_app.web:make_app", "oneshot": "toy_app.cli"})
    );
    assert_eq!(
        manifest["packages"],
        serde_json::json!(["ktx_host", "toy_app"])
    );
    let wheel_name = format!(
        "package/python/{}",
        manifest["wheel"]["file"].as_str().unwrap()
    );
    let wheel = out.path().join("the.whl");
    std::fs::write(&wheel, tarball_file(&tgz, &wheel_name)).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&member(&wheel, "ktx_host/payload.json")).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "app": "toy_app.web:make_app",
            "oneshot": "toy_app.cli",
            "packages": ["ktx_host", "toy_app"],
        })
    );
    // (pack verified the tarball, the payload included; the test binary is a debug build, so
    // `verify`'s glibc floor is not asked here.)

    // The generated hatchling project carries the same payload.json.
    let project = out.path().join("generated");
    release()
        .arg("payload-project")
        .arg(&project)
        .arg("--project")
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(project.join("ktx_host/payload.json")).unwrap(),
        member(&wheel, "ktx_host/payload.json")
    );
}

/// The debug ktx of the staged test package (the binary does not matter to the payload).
fn staged_ktx() -> PathBuf {
    required("KTX_TEST_PACKAGE").join("native/linux-x64/ktx")
}

fn tarball_file(tgz: &Path, name: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(tgz).unwrap(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == name {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            return bytes;
        }
    }
    panic!("{} has no {name}", tgz.display());
}

#[test]
fn two_projects_declaring_different_apps_are_refused_naming_both_files() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    let b = root.path().join("b");
    write_project(
        &a,
        "ktx-a",
        "a_pkg",
        "\n[tool.kaelio-ktx]\napp = \"a_pkg:app\"\n",
    );
    write_project(
        &b,
        "ktx-b",
        "b_pkg",
        "\n[tool.kaelio-ktx]\napp = \"b_pkg:app\"\n",
    );
    let err = refused(&[s(&a), s(&b)]);
    assert!(
        err.contains("tool.kaelio-ktx.app")
            && err.contains(&s(&a.join("pyproject.toml")))
            && err.contains(&s(&b.join("pyproject.toml"))),
        "{err}"
    );
    // The same value twice is one declaration; each field may come from another project.
    let c = root.path().join("c");
    write_project(
        &c,
        "ktx-c",
        "c_pkg",
        "\n[tool.kaelio-ktx]\napp = \"a_pkg:app\"\noneshot = \"c_pkg\"\n",
    );
    let out = tempfile::tempdir().unwrap();
    let wheel = wheel_of(out.path(), &[s(&a), s(&c)]);
    let doc: serde_json::Value =
        serde_json::from_str(&member(&wheel, "ktx_host/payload.json")).unwrap();
    assert_eq!(
        (doc["app"].as_str(), doc["oneshot"].as_str()),
        (Some("a_pkg:app"), Some("c_pkg"))
    );
}

#[test]
fn an_app_or_oneshot_outside_the_wheels_packages_is_refused_naming_field_and_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("elsewhere");
    write_project(
        &dir,
        "ktx-elsewhere",
        "own_pkg",
        "\n[tool.kaelio-ktx]\napp = \"missing_pkg.app:create_app\"\noneshot = \"own_pkg\"\n",
    );
    let err = refused(&[s(&dir)]);
    assert!(
        err.contains("tool.kaelio-ktx.app")
            && err.contains(&s(&dir.join("pyproject.toml")))
            && err.contains("missing_pkg"),
        "{err}"
    );
    let dir = root.path().join("oneshot");
    write_project(
        &dir,
        "ktx-oneshot",
        "own_pkg",
        "\n[tool.kaelio-ktx]\napp = \"own_pkg:app\"\noneshot = \"ktx_host\"\n",
    );
    let err = refused(&[s(&dir)]);
    assert!(
        err.contains("tool.kaelio-ktx.oneshot") && err.contains(&s(&dir.join("pyproject.toml"))),
        "the host's package is not the payload's: {err}"
    );
    // Undeclared, the defaults need ktx_daemon.
    let dir = root.path().join("undeclared");
    write_project(&dir, "ktx-undeclared", "own_pkg", "");
    let err = refused(&[s(&dir)]);
    assert!(
        err.contains("tool.kaelio-ktx.app")
            && err.contains("ktx_daemon.app:create_app")
            && err.contains(&s(&dir.join("pyproject.toml")))
            && err.contains("hint:"),
        "{err}"
    );
    // A malformed value and an unknown key are refused where they are written.
    for (tail, field) in [
        ("app = \"own_pkg\"", "tool.kaelio-ktx.app"),
        ("oneshot = \"own-pkg\"", "tool.kaelio-ktx.oneshot"),
        ("entry = \"own_pkg\"", "tool.kaelio-ktx.entry"),
    ] {
        let dir = root.path().join(field.replace('.', "_"));
        write_project(
            &dir,
            "ktx-bad",
            "own_pkg",
            &format!("\n[tool.kaelio-ktx]\n{tail}\n"),
        );
        let err = refused(&[s(&dir)]);
        assert!(
            err.contains(field) && err.contains(&s(&dir.join("pyproject.toml"))),
            "{field}: {err}"
        );
    }
}

#[test]
fn a_project_takes_only_the_packages_named_after_its_hash() {
    let out = tempfile::tempdir().unwrap();
    let wheel = wheel_of(
        out.path(),
        &["python#semantic_layer".into(), s(&ktx_shaped())],
    );
    let files = names(&wheel);
    for f in [
        "semantic_layer/planner.py",
        "ktx_daemon/app.py",
        "ktx_daemon/__main__.py",
        "ktx_host/__init__.py",
    ] {
        assert!(files.iter().any(|n| n == f), "{f} missing: {files:#?}");
    }
    // Our own ktx_daemon is left out, and its console script with it.
    assert!(
        !files.iter().any(|n| n == "ktx_daemon/cli.py"),
        "{files:#?}"
    );
    let v = env!("CARGO_PKG_VERSION");
    let eps = member(
        &wheel,
        &format!("kaelio_ktx-{v}.dist-info/entry_points.txt"),
    );
    assert_eq!(
        eps,
        "[console_scripts]\nktx-daemon = ktx_daemon.__main__:main\n"
    );
    let meta = member(&wheel, &format!("kaelio_ktx-{v}.dist-info/METADATA"));
    assert!(meta.contains("Requires-Python: >=3.13"), "{meta}");
    for dep in ["numpy", "pandas", "fastapi", "uvicorn", "sqlglot"] {
        assert!(
            meta.contains(&format!("Requires-Dist: {dep}")),
            "{dep}: {meta}"
        );
    }
    assert!(!meta.contains("Requires-Dist: kaelio-ktx"), "{meta}");
    let doc: serde_json::Value =
        serde_json::from_str(&member(&wheel, "ktx_host/payload.json")).unwrap();
    assert_eq!(
        doc["packages"],
        serde_json::json!(["ktx_daemon", "ktx_host", "semantic_layer"])
    );
}

#[test]
fn an_unknown_package_after_the_hash_is_refused_naming_the_project() {
    let err = refused(&["python#semantic_layer,nope".into()]);
    assert!(
        err.contains("nope")
            && err.contains(&s(&repo().join("python/pyproject.toml")))
            && err.contains("semantic_layer, ktx_daemon"),
        "{err}"
    );
    let err = refused(&["python#not a name".into()]);
    assert!(err.contains("--project python#not a name"), "{err}");
}

#[test]
fn two_projects_providing_one_package_stay_refused_even_when_selected() {
    for first in ["python", "python#ktx_daemon"] {
        let err = refused(&[first.into(), s(&ktx_shaped())]);
        assert!(
            err.contains("ktx_daemon")
                && err.contains(&s(&repo().join("python/pyproject.toml")))
                && err.contains(&s(&ktx_shaped().join("pyproject.toml"))),
            "{first}: {err}"
        );
    }
}

#[test]
fn a_payload_project_at_another_version_is_refused_with_the_hint_to_align_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    write_project(&dir, "ktx-old", "ktx_daemon", "");
    let text = std::fs::read_to_string(dir.join("pyproject.toml"))
        .unwrap()
        .replace(
            &format!("version = \"{}\"", env!("CARGO_PKG_VERSION")),
            "version = \"0.12.0\"",
        );
    std::fs::write(dir.join("pyproject.toml"), text).unwrap();
    for arg in [s(&dir), format!("{}#ktx_daemon", dir.display())] {
        let err = refused(&["python#semantic_layer".into(), arg]);
        assert!(
            err.contains(&s(&dir.join("pyproject.toml")))
                && err.contains("project.version")
                && err.contains("0.12.0")
                && err.contains(&format!(
                    "differs from the workspace version {}",
                    env!("CARGO_PKG_VERSION")
                ))
                && err.contains("make them equal"),
            "{err}"
        );
    }
}

#[test]
fn the_ktx_shaped_fixture_carries_the_workspace_version_and_spells_out_the_defaults() {
    let doc: toml::Value =
        toml::from_str(&std::fs::read_to_string(ktx_shaped().join("pyproject.toml")).unwrap())
            .unwrap();
    assert_eq!(
        doc["project"]["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(doc["project"]["requires-python"].as_str(), Some(">=3.13"));
    assert_eq!(
        doc["tool"]["kaelio-ktx"]["app"].as_str(),
        Some("ktx_daemon.app:create_app")
    );
    assert_eq!(
        doc["tool"]["kaelio-ktx"]["oneshot"].as_str(),
        Some("ktx_daemon")
    );
}

#[test]
fn verification_rejects_a_manifest_whose_payload_differs_from_the_wheels_payload_json() {
    let dir = tempfile::tempdir().unwrap();
    for (value, says) in [
        (
            serde_json::json!({"app": "other.app:create_app", "oneshot": "ktx_daemon"}),
            "payload",
        ),
        (serde_json::Value::Null, "payload"),
    ] {
        let bad = dir.path().join("bad.tgz");
        rewrite_tarball(&required("KTX_TEST_TARBALL"), &bad, |name, _, bytes| {
            if name == "package/python/runtime-manifest.json" {
                let mut m: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                if value.is_null() {
                    m.as_object_mut().unwrap().remove("payload");
                } else {
                    m["payload"] = value.clone();
                }
                *bytes = serde_json::to_vec_pretty(&m).unwrap();
            }
            true
        });
        release().arg("verify").arg(&bad).assert().failure().stderr(
            predicate::str::contains("package/python/runtime-manifest.json")
                .and(predicate::str::contains(says))
                .and(predicate::str::contains("ktx_host/payload.json")),
        );
    }
}

/// A Python 3.13 (the KTX-shaped payload requires it), as release.rs finds it.
fn python_313() -> PathBuf {
    std::env::var_os("KTX_TEST_PYTHON313")
        .map(PathBuf::from)
        .expect("KTX_TEST_PYTHON313 is not set: run the tests through ./scripts/test")
}

#[test]
fn the_ktx_shaped_wheel_installs_on_python_3_13_and_answers_as_ktx_does() {
    let out = tempfile::tempdir().unwrap();
    let wheel = wheel_of(
        out.path(),
        &["python#semantic_layer".into(), s(&ktx_shaped())],
    );
    let uv = required("KTX_TEST_UV");
    let venv = out.path().join("venv");
    assert!(std::process::Command::new(&uv)
        .args(["venv", "-q", "--python"])
        .arg(python_313())
        .arg(&venv)
        .status()
        .unwrap()
        .success());
    assert!(std::process::Command::new(&uv)
        .args(["pip", "install", "-q", "--python"])
        .arg(venv.join("bin/python"))
        .arg(&wheel)
        .status()
        .unwrap()
        .success());
    let py = venv.join("bin/python");
    // The install check's one-shot probe: `python -m ktx_daemon --help`, exit 0; no --version.
    Command::new(&py)
        .args(["-I", "-m", "ktx_daemon", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("semantic-query"));
    Command::new(&py)
        .args(["-I", "-m", "ktx_daemon", "--version"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("required: command"));
    let request =
        std::fs::read(repo().join("fixtures/ktx-protocol/semantic-query.request.json")).unwrap();
    Command::new(&py)
        .args(["-I", "-m", "ktx_daemon", "semantic-query"])
        .write_stdin(request.clone())
        .assert()
        .success()
        .stdout(predicate::str::contains("\"sql\":\"WITH"));
    // A refusal: exit 1, the bare message on one line.
    let mut bad: serde_json::Value = serde_json::from_slice(&request).unwrap();
    bad["query"]["measures"] = serde_json::json!(["orders.revnue"]);
    let output = Command::new(&py)
        .args(["-I", "-m", "ktx_daemon", "semantic-query"])
        .write_stdin(serde_json::to_vec(&bad).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("unknown measure 'orders.revnue'") && stderr.lines().count() == 1,
        "{stderr}"
    );
    // The one-shot entry carries KTX's import weight.
    Command::new(&py)
        .args([
            "-I",
            "-c",
            "import sys, runpy; sys.argv=['ktx-daemon','--help']\n\
             try: runpy.run_module('ktx_daemon', run_name='__main__')\n\
             except SystemExit: pass\n\
             print('loaded:', all(m in sys.modules for m in ('numpy', 'pandas', 'fastapi')))",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("loaded: True"));
}
