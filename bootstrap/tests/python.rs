//! The runtime's Python as users' machines have it: an old `python3` first on PATH, no
//! suitable Python at all (a managed one from a loopback mirror), a tampered managed download,
//! downloads forbidden, and a TLS-intercepting proxy trusted only through the system store.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// The interpreter of Python `version` that scripts/test found or installed for the tests
/// (`KTX_TEST_PYTHON38`, `KTX_TEST_PYTHON312`: PATH, pyenv, `uv python find`, else
/// `uv python install`); scripts/test stops before any test when one cannot be had.
fn test_python(version: &str) -> PathBuf {
    let var = format!("KTX_TEST_PYTHON{}", version.replace('.', ""));
    match std::env::var_os(&var) {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "{var} is not set: run the tests through ./scripts/test, which finds or installs Python {version} (or set {var} to one)"
        ),
    }
}

/// A directory of PATH entries: `name -> target` symlinks.
fn path_dir(sb: &Sandbox, name: &str, links: &[(&str, &Path)]) -> PathBuf {
    let dir = sb.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (link, target) in links {
        std::os::unix::fs::symlink(target, dir.join(link)).unwrap();
    }
    dir
}

fn status_json(sb: &Sandbox) -> serde_json::Value {
    let out = sb
        .ktx()
        .args(["runtime", "status", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_old_python3_first_on_path_is_passed_over_for_one_that_satisfies_requires_python() {
    let sb = Sandbox::new();
    let old = test_python("3.8");
    let fits = test_python("3.12");
    let first = path_dir(&sb, "old", &[("python3", &old), ("python", &old)]);
    let later = path_dir(&sb, "later", &[("python3.12", &fits)]);
    let path = format!("{}:{}", first.display(), later.display());
    sb.query(&["--measure", "orders.revenue", "--yes"])
        .env("PATH", &path)
        .assert()
        .success()
        .stderr(predicate::str::contains("on Python 3.12"));
    let s = status_json(&sb);
    assert!(
        s["python"]["version"].as_str().unwrap().starts_with("3.12"),
        "{s:#}"
    );
    assert_eq!(s["python"]["source"], "system");
    assert!(s["python"]["base"].as_str().unwrap().contains("python3.12"));
    sb.ktx()
        .env("PATH", &path)
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("from system").and(predicate::str::contains("3.12")));
}

#[test]
fn with_no_suitable_python_a_managed_one_comes_from_the_mirror_into_the_runtime_root() {
    let sb = Sandbox::new();
    let old = test_python("3.8");
    let only_old = path_dir(&sb, "old", &[("python3", &old), ("python", &old)]);
    let (_mirror, downloads) = python_mirror(false);
    // Without consent: exit 4, and the question would have named the managed Python.
    sb.query(&["--measure", "orders.revenue", "--no-input"])
        .env("PATH", &only_old)
        .env("KTX_PYTHON_DOWNLOADS_JSON", &downloads)
        .assert()
        .code(4);
    assert!(
        !sb.root().join("python").exists(),
        "downloaded without consent"
    );
    sb.query(&[
        "--measure",
        "orders.revenue",
        "--execute",
        "--format",
        "table",
        "--yes",
    ])
    .env("PATH", &only_old)
    .env("KTX_PYTHON_DOWNLOADS_JSON", &downloads)
    .assert()
    .success()
    .stdout(predicate::str::contains("rows)"))
    .stderr(predicate::str::contains("managed"));
    let installs: Vec<String> = std::fs::read_dir(sb.root().join("python"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        installs.iter().any(|n| n.starts_with("cpython-3.")),
        "{installs:?}"
    );
    let s = status_json(&sb);
    assert_eq!(s["python"]["source"], "managed", "{s:#}");
    assert!(s["python"]["base"]
        .as_str()
        .unwrap()
        .starts_with(sb.root().join("python").to_str().unwrap()));
    // Nothing in the user's own bin directory: ktx's Python is ktx's.
    assert!(!sb.home().join(".local/bin").exists());
    sb.ktx()
        .env("PATH", &only_old)
        .args(["runtime", "doctor"])
        .assert()
        .success()
        .stdout(predicate::str::contains("satisfies"));
}

#[test]
fn a_tampered_managed_python_is_refused_by_its_checksum_and_nothing_is_installed() {
    let sb = Sandbox::new();
    let old = test_python("3.8");
    let only_old = path_dir(&sb, "old", &[("python3", &old)]);
    let (_mirror, downloads) = python_mirror(true);
    sb.query(&["--measure", "orders.revenue", "--yes"])
        .env("PATH", &only_old)
        .env("KTX_PYTHON_DOWNLOADS_JSON", &downloads)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("downloading a managed Python failed")
                .and(predicate::str::contains("hash").or(predicate::str::contains("Hash"))),
        );
    assert!(!sb.version_dir().join("manifest.json").exists());
    let left: Vec<_> = std::fs::read_dir(sb.root().join("python"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with("cpython-")),
        "a tampered interpreter was kept: {left:?}"
    );
}

#[test]
fn with_python_downloads_forbidden_a_missing_python_is_a_clear_error() {
    let sb = Sandbox::new();
    let old = test_python("3.8");
    let only_old = path_dir(&sb, "old", &[("python3", &old)]);
    sb.query(&["--measure", "orders.revenue", "--yes"])
        .env("PATH", &only_old)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("needs Python >=3.9")
                .and(predicate::str::contains("UV_PYTHON_DOWNLOADS")),
        );
}

/// The CA variables a user behind a TLS-intercepting proxy often does not have.
const CA_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "PIP_CERT",
    "UV_SYSTEM_CERTS",
    "UV_NATIVE_TLS",
    "npm_config_cafile",
];

#[test]
fn behind_an_intercepting_proxy_trusted_only_by_the_system_store_a_first_run_needs_no_ca_variable()
{
    // This machine's network intercepts TLS with a CA that is only in the system store.
    let sb = Sandbox::new();
    let mut cmd = sb.ktx_without_uv();
    for v in CA_VARS {
        cmd.env_remove(v);
    }
    // uv itself from the index, then the runtime's dependencies through uv: both verified
    // against the system store alone.
    cmd.args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ready"));
    let mut doctor = sb.ktx_without_uv();
    for v in CA_VARS {
        doctor.env_remove(v);
    }
    doctor
        .args(["runtime", "doctor"])
        .assert()
        .success()
        .stdout(predicate::str::contains("uv resolves"));
}

#[test]
fn extra_cas_from_node_are_added_to_the_system_roots_for_uv() {
    let sb = Sandbox::new();
    let bundle = std::env::var_os("KTX_TEST_CA_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    let mut cmd = sb.ktx();
    for v in CA_VARS {
        cmd.env_remove(v);
    }
    cmd.env("NODE_EXTRA_CA_CERTS", &bundle)
        .args(["runtime", "install"])
        .assert()
        .success();
    let tls: Vec<_> = std::fs::read_dir(sb.root().join("tls"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(tls.len(), 1, "{tls:?}");
    let pem = std::fs::read_to_string(&tls[0]).unwrap();
    let extra = std::fs::read_to_string(&bundle).unwrap();
    assert!(
        pem.contains(extra.trim()),
        "the extra CAs are in uv's bundle"
    );
    assert!(pem.matches("BEGIN CERTIFICATE").count() > extra.matches("BEGIN CERTIFICATE").count());
}

#[test]
fn a_user_ssl_cert_file_that_trusts_nothing_is_honoured_and_doctor_names_the_index_error() {
    let sb = Sandbox::new();
    sb.install();
    let empty = sb.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let mut doctor = sb.ktx();
    for v in CA_VARS {
        doctor.env_remove(v);
    }
    doctor
        .env("SSL_CERT_FILE", &empty)
        .args(["runtime", "doctor"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("[warn] index")
                .and(predicate::str::contains("uv cannot resolve")),
        );
}
