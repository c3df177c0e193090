//! `ktx bootstrap` on a machine without uv: the pinned uv from the package index, verified,
//! downloaded once however many ktx run at once; a tampered artefact refused; no network means
//! a quick, clear error while an installed runtime keeps working.

mod common;

use common::*;
use predicates::prelude::*;
use std::time::{Duration, Instant};

fn uv_dirs(sb: &Sandbox) -> Vec<String> {
    std::fs::read_dir(sb.root().join("tools/uv"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bootstrap_downloads_uv_from_the_index_then_queries_work_and_a_second_bootstrap_downloads_nothing(
) {
    let sb = Sandbox::new();
    sb.demo();
    sb.ktx_without_uv()
        .args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("downloading uv").and(predicate::str::contains("verified")),
        );
    let versions = uv_dirs(&sb);
    assert_eq!(
        versions.iter().filter(|v| !v.starts_with('.')).count(),
        1,
        "{versions:?}"
    );
    sb.ktx_without_uv()
        .args(DEMO_QUERY)
        .args(["--measure", "orders.revenue", "--no-input"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
    sb.ktx_without_uv()
        .args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("downloading")
                .not()
                .and(predicate::str::contains("downloaded by ktx")),
        );
    sb.ktx_without_uv()
        .args(["runtime", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(downloaded by ktx)"));
}

#[test]
fn a_uv_given_through_ktx_uv_is_used_and_nothing_is_downloaded() {
    let sb = Sandbox::new();
    sb.ktx()
        .env("KTX_UV_SOURCE", "http://127.0.0.1:9/unreachable")
        .args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stderr(predicate::str::contains("(KTX_UV)"));
    assert!(uv_dirs(&sb).is_empty());
}

#[test]
fn a_tampered_uv_from_the_mirror_exits_5_and_leaves_no_uv() {
    let sb = Sandbox::new();
    let (name, mut bytes) = uv_wheel();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let server = FileServer::start(vec![(format!("/{name}"), bytes)]);
    sb.ktx_without_uv()
        .env("KTX_UV_SOURCE", server.url())
        .args(["bootstrap", "--yes"])
        .assert()
        .code(5)
        .stderr(
            predicate::str::contains("integrity check failed").and(predicate::str::contains(&name)),
        );
    assert!(
        uv_dirs(&sb).iter().all(|d| d.starts_with(".download")),
        "{:?}",
        uv_dirs(&sb)
    );
    assert!(uv_dirs(&sb).iter().all(|d| !d.starts_with(".staging")));
    assert!(!sb.version_dir().join("manifest.json").exists());
}

#[test]
fn four_concurrent_bootstraps_download_uv_once() {
    let sb = Sandbox::new();
    let (name, bytes) = uv_wheel();
    let server = FileServer::start(vec![(format!("/{name}"), bytes)]);
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = sb.std_ktx();
            cmd.env_remove("KTX_UV")
                .env("KTX_UV_SOURCE", server.url())
                .args(["bootstrap", "--yes"]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    assert_eq!(server.hits(&format!("/{name}")), 1);
    assert_eq!(sb.install_logs(), 1);
}

#[test]
fn without_network_bootstrap_fails_fast_and_clearly_while_an_installed_runtime_keeps_working() {
    if std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        panic!("this test needs `unshare -n` (root or user namespaces)");
    }
    let sb = Sandbox::new();
    sb.demo();
    let offline = |cmd: &assert_cmd::Command| {
        let mut c = assert_cmd::Command::new("unshare");
        c.arg("-n").arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.current_dir(sb.path());
        c
    };
    let mut boot = sb.ktx_without_uv();
    boot.args(["bootstrap", "--yes"]);
    let t = Instant::now();
    offline(&boot).assert().code(1).stderr(
        predicate::str::contains("cannot download uv")
            .and(predicate::str::contains("KTX_UV_SOURCE"))
            .and(predicate::str::contains("KTX_UV"))
            .and(predicate::str::contains("pip install uv")),
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    // Once installed (online), the runtime answers offline.
    sb.install();
    let mut query = sb.ktx();
    query.args([
        "sl",
        "query",
        "--project-dir",
        "demo",
        "--measure",
        "orders.revenue",
        "--no-input",
        "--execute",
        "--format",
        "table",
    ]);
    offline(&query)
        .assert()
        .success()
        .stdout(predicate::str::contains("rows)"));
}

#[test]
fn the_uv_download_goes_through_https_proxy_unless_no_proxy_exempts_the_host() {
    let sb = Sandbox::new();
    // A proxy that refuses every connection: the download must try it, and fail clearly.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://127.0.0.1:{}", dead.local_addr().unwrap().port());
    drop(dead);
    sb.ktx_without_uv()
        .env("HTTPS_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(["bootstrap", "--yes"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot download uv"));
    assert!(uv_dirs(&sb).iter().all(|d| d.starts_with('.')));
    // NO_PROXY exempts the index and its file host: the same download now works.
    sb.ktx_without_uv()
        .env("HTTPS_PROXY", &proxy)
        .env("NO_PROXY", "pypi.org,files.pythonhosted.org")
        .env("UV_NO_PROXY", "*")
        .args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stderr(predicate::str::contains("verified"));
}
