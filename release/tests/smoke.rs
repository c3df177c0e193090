//! The smoke matrix catches a broken package on the right check and names the cause.

mod common;

use common::{required, rewrite_tarball};
use std::path::Path;

fn smoke(tarball: &Path, report: &Path) -> (bool, serde_json::Value) {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx-release"))
        .args([
            "smoke",
            "--cell",
            "local",
            "--check",
            "tarball",
            "--check",
            "first-run",
            "--tarball",
        ])
        .arg(tarball)
        .arg("--report-dir")
        .arg(report)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(report.join("report.json")).unwrap_or_else(|_| {
            panic!(
                "no report.json; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        }),
    )
    .unwrap();
    (out.status.success(), json)
}

fn outcome<'a>(report: &'a serde_json::Value, check: &str) -> (&'a str, &'a str) {
    let r = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == check)
        .unwrap();
    (
        r["status"].as_str().unwrap(),
        r["detail"].as_str().unwrap_or(""),
    )
}

#[test]
fn broken_packages_fail_the_matrix_on_the_right_check_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // The package as a release packs it (the release binary, at the glibc floor) passes.
    let good = common::pack_with(&common::release_binary(), &dir.path().join("dist"));
    let wheel = format!("kaelio_ktx-{}-py3-none-any.whl", env!("CARGO_PKG_VERSION"));

    let (ok, report) = smoke(&good, &dir.path().join("good"));
    assert!(ok, "{report:#}");

    // The test package (a plain `cargo build`, above the glibc floor) runs here, but its
    // tarball check names the floor.
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let (ok, report) = smoke(
            &required("KTX_TEST_TARBALL"),
            &dir.path().join("above-floor"),
        );
        assert!(!ok);
        let (status, detail) = outcome(&report, "tarball");
        assert_eq!(status, "fail");
        assert!(
            detail.contains("package/native/linux-x64/ktx needs glibc")
                && detail.contains("above the floor"),
            "{detail}"
        );
        assert_eq!(outcome(&report, "first-run").0, "pass", "{report:#}");
    }

    let no_wheel = dir.path().join("no-wheel.tgz");
    rewrite_tarball(&good, &no_wheel, |name, _, _| !name.ends_with(".whl"));
    let (ok, report) = smoke(&no_wheel, &dir.path().join("no-wheel"));
    assert!(!ok);
    let (status, detail) = outcome(&report, "tarball");
    assert_eq!(status, "fail");
    assert!(
        detail.contains(&wheel) && detail.contains("missing"),
        "{detail}"
    );
    let (status, detail) = outcome(&report, "first-run");
    assert_eq!(status, "fail");
    assert!(detail.contains(&wheel), "{detail}");

    let not_executable = dir.path().join("no-run-bit.tgz");
    rewrite_tarball(&good, &not_executable, |name, header, _| {
        if name == "package/dist/bin.js" {
            header.set_mode(0o644);
        }
        true
    });
    let (ok, report) = smoke(&not_executable, &dir.path().join("no-run-bit"));
    assert!(!ok);
    let (status, detail) = outcome(&report, "tarball");
    assert_eq!(status, "fail");
    assert!(
        detail.contains("package/dist/bin.js is not executable"),
        "{detail}"
    );

    let tampered = dir.path().join("tampered.tgz");
    rewrite_tarball(&good, &tampered, |name, _, bytes| {
        if name.ends_with(".whl") {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 1;
        }
        true
    });
    let (ok, report) = smoke(&tampered, &dir.path().join("tampered"));
    assert!(!ok);
    let (status, detail) = outcome(&report, "tarball");
    assert_eq!(status, "fail");
    assert!(detail.contains("does not match"), "{detail}");
    let (status, detail) = outcome(&report, "first-run");
    assert_eq!(status, "fail");
    assert!(
        detail.contains("integrity check failed") && detail.contains("exit code Some(5)"),
        "{detail}"
    );
}
