//! The local-embeddings feature's consent and failure paths (the real model runs in the opt-in
//! smoke check: `ktx-release smoke --with-embeddings`).

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn embed_without_the_feature_and_no_input_exits_4_with_the_exact_command() {
    let sb = Sandbox::new();
    sb.install();
    sb.ktx()
        .args(["embed", "hello", "--no-input"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "run: ktx runtime install --feature local-embeddings",
        ));
    let m: serde_json::Value = sb.manifest();
    assert_eq!(m["features"], serde_json::json!(["core"]));
}

#[test]
fn a_failed_feature_install_keeps_the_core_working_and_is_not_recorded() {
    let sb = Sandbox::new();
    sb.demo();
    sb.install();
    // No network for uv and an empty cache: torch cannot be fetched.
    let empty_cache = sb.path().join("empty-uv-cache");
    sb.ktx()
        .env("UV_OFFLINE", "1")
        .env("UV_CACHE_DIR", &empty_cache)
        .args([
            "runtime",
            "install",
            "--feature",
            "local-embeddings",
            "--yes",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("installing local-embeddings failed")
                .and(predicate::str::contains("install-")),
        );
    let m: serde_json::Value = sb.manifest();
    assert_eq!(m["features"], serde_json::json!(["core"]));
    sb.ktx()
        .args(DEMO_QUERY)
        .args([
            "--measure",
            "orders.revenue",
            "--execute",
            "--format",
            "table",
            "--no-input",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("rows)"));
    sb.ktx().args(["runtime", "doctor"]).assert().success();
}
