//! The packed tarball run the way users run it: `npx --yes ./kaelio-ktx-<v>.tgz ...` with a
//! fresh HOME and no runtime, no uv anywhere.

mod common;

use common::*;
use predicates::prelude::*;

fn npx(sb: &Sandbox) -> assert_cmd::Command {
    // As users write it: a relative path (npx treats an absolute one as a command to run).
    let tarball = std::path::PathBuf::from(
        std::env::var_os("KTX_TEST_TARBALL").expect("KTX_TEST_TARBALL: run through ./scripts/test"),
    );
    let name = tarball.file_name().unwrap().to_string_lossy().to_string();
    if !sb.path().join(&name).exists() {
        std::fs::copy(&tarball, sb.path().join(&name)).unwrap();
    }
    let mut cmd = assert_cmd::Command::new("npx");
    cmd.arg("--yes")
        .arg(format!("./{name}"))
        .env("HOME", sb.home())
        .env("npm_config_cache", sb.home().join(".npm"))
        .env("npm_config_update_notifier", "false")
        .env("KTX_RUNTIME_DIR", sb.root())
        .env_remove("KTX_PACKAGE_ROOT")
        .env_remove("KTX_UV")
        .env_remove("KTX_YES")
        .env_remove("KTX_NO_INPUT")
        .current_dir(sb.path());
    cmd
}

#[test]
fn npx_of_the_tarball_bootstraps_uv_installs_core_and_answers_queries() {
    let sb = Sandbox::new();
    npx(&sb).args(["setup", "demo"]).assert().success();
    npx(&sb)
        .args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stderr(predicate::str::contains("downloading uv"));
    npx(&sb)
        .args([
            "sl",
            "query",
            "--project-dir",
            "ktx-demo",
            "--measure",
            "orders.revenue",
            "--dimension",
            "customers.country",
            "--yes",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("SELECT"));
    npx(&sb)
        .args([
            "sl",
            "query",
            "--project-dir",
            "ktx-demo",
            "--measure",
            "orders.revenue",
            "--dimension",
            "customers.country",
            "--yes",
            "--execute",
            "--format",
            "table",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("US").and(predicate::str::contains("rows)")));
    let m: serde_json::Value = sb.manifest();
    assert_eq!(m["features"], serde_json::json!(["core"]));
    npx(&sb)
        .args(["bootstrap", "--yes"])
        .assert()
        .success()
        .stderr(predicate::str::contains("downloading").not());
    npx(&sb)
        .args(["runtime", "doctor"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no problems found"));
}
