//! The release workflow, held to the targets of `bootstrap/src/targets.rs`: every target has a
//! binary job and a native-smoke job on a runner of its own OS and architecture (musl ones in
//! Alpine), the smoke verifies the attestations, publishing waits for every smoke and publishes
//! with provenance; the scheduled rebuild installs the Rust standard library of every Linux
//! target. (The workflows cannot run here; actionlint checks their syntax, this their content.)

use ktx_bootstrap::targets::{Target, TARGETS};
use serde_norway::Value;
use std::path::PathBuf;

fn workflow(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.github/workflows")
        .join(name);
    serde_norway::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Linux,
    Mac,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    X64,
    Arm64,
}

/// GitHub-hosted runner images by label (the ones a job here may name).
fn runner(label: &str) -> Option<(Os, Arch)> {
    Some(match label {
        "ubuntu-latest" | "ubuntu-24.04" | "ubuntu-22.04" => (Os::Linux, Arch::X64),
        "ubuntu-24.04-arm" | "ubuntu-22.04-arm" => (Os::Linux, Arch::Arm64),
        "macos-15-intel" | "macos-13" => (Os::Mac, Arch::X64),
        "macos-latest" | "macos-14" | "macos-15" | "macos-26" => (Os::Mac, Arch::Arm64),
        "windows-latest" | "windows-2022" | "windows-2025" => (Os::Windows, Arch::X64),
        "windows-11-arm" => (Os::Windows, Arch::Arm64),
        _ => return None,
    })
}

fn platform(t: &Target) -> (Os, Arch) {
    let os = if t.triple.contains("-linux-") {
        Os::Linux
    } else if t.triple.contains("-apple-") {
        Os::Mac
    } else {
        Os::Windows
    };
    let arch = if t.triple.starts_with("x86_64-") {
        Arch::X64
    } else {
        Arch::Arm64
    };
    (os, arch)
}

fn musl(t: &Target) -> bool {
    t.triple.ends_with("-linux-musl")
}

/// The `strategy.matrix.include` entries of a job.
fn entries<'a>(wf: &'a Value, job: &str) -> Vec<&'a Value> {
    wf["jobs"][job]["strategy"]["matrix"]["include"]
        .as_sequence()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    serde_norway::to_string(v).unwrap_or_default()
}

/// What is wrong with the release workflow `wf` against `targets` (empty: nothing).
fn problems(wf: &Value, targets: &[Target]) -> Vec<String> {
    let mut out = Vec::new();
    for job in ["binary", "native-smoke"] {
        for e in entries(wf, job) {
            let triple = e["target"].as_str().unwrap_or("");
            if !targets.iter().any(|t| t.triple == triple) {
                out.push(format!(
                    "{job}: an entry for {triple:?}, which targets.rs does not have"
                ));
            }
        }
    }
    for t in targets {
        let find = |job: &str| {
            entries(wf, job)
                .into_iter()
                .find(|e| e["target"].as_str() == Some(t.triple))
        };
        match find("binary") {
            None => out.push(format!("{}: no binary job", t.triple)),
            Some(e) if e["npm_dir"].as_str() != Some(t.npm_dir) => out.push(format!(
                "{}: the binary job packs it as {:?}, targets.rs says {}",
                t.triple, e["npm_dir"], t.npm_dir
            )),
            Some(_) => {}
        }
        let Some(e) = find("native-smoke") else {
            out.push(format!("{}: no native-smoke job", t.triple));
            continue;
        };
        if e["npm_dir"].as_str() != Some(t.npm_dir) {
            out.push(format!(
                "{}: the native-smoke job checks {:?}, targets.rs says {}",
                t.triple, e["npm_dir"], t.npm_dir
            ));
        }
        let label = e["runner"]["label"].as_str().unwrap_or("");
        match runner(label) {
            None => out.push(format!(
                "{}: native-smoke runs on {label:?}, not a GitHub-hosted image this test knows (add it to `runner` with its OS and architecture)",
                t.triple
            )),
            Some(p) if p != platform(t) => out.push(format!(
                "{}: native-smoke runs on {label} ({p:?}), not on its own platform {:?}",
                t.triple,
                platform(t)
            )),
            Some(_) => {}
        }
        let alpine = e["alpine"].as_bool().unwrap_or(false);
        if alpine != musl(t) {
            out.push(format!(
                "{}: native-smoke {} in Alpine; musl builds run there, the others on the runner",
                t.triple,
                if alpine { "runs" } else { "does not run" }
            ));
        }
    }
    let smoke = text(&wf["jobs"]["native-smoke"]["steps"]);
    for want in [
        "gh attestation verify",
        "smoke --cell local",
        "alpine",
        "${{ matrix.runner.label }}",
    ] {
        if !smoke.contains(want) && !text(&wf["jobs"]["native-smoke"]).contains(want) {
            out.push(format!("native-smoke: no {want:?}"));
        }
    }
    let attest = text(&wf["jobs"]["attest"]);
    for want in [
        "actions/attest-build-provenance",
        "natives/ktx-*/ktx*",
        "dist/*.tgz",
    ] {
        if !attest.contains(want) {
            out.push(format!("attest: no {want:?}"));
        }
    }
    let needs: Vec<&str> = wf["jobs"]["publish"]["needs"]
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for job in ["pack", "attest", "smoke", "native-smoke"] {
        if !needs.contains(&job) {
            out.push(format!("publish does not need {job}"));
        }
    }
    if wf["jobs"]["publish"]["permissions"]["id-token"].as_str() != Some("write") {
        out.push("publish: no `id-token: write` (npm provenance needs it)".into());
    }
    if !text(&wf["jobs"]["publish"]["steps"]).contains("npm publish --provenance") {
        out.push("publish: not `npm publish --provenance`".into());
    }
    out
}

#[test]
fn every_target_has_a_binary_job_and_a_native_smoke_job_on_its_own_platform() {
    let wf = workflow("release.yml");
    let problems = problems(&wf, TARGETS);
    assert!(
        problems.is_empty(),
        ".github/workflows/release.yml against bootstrap/src/targets.rs:\n  {}",
        problems.join("\n  ")
    );
}

/// The release workflow with `job`'s entry for `triple` changed by `edit` (None: removed).
fn edited(job: &str, triple: &str, edit: impl Fn(&mut Value) -> bool) -> Value {
    let mut wf = workflow("release.yml");
    let include = wf["jobs"][job]["strategy"]["matrix"]["include"]
        .as_sequence_mut()
        .unwrap();
    include.retain_mut(|e| e["target"].as_str() != Some(triple) || edit(e));
    wf
}

#[test]
fn a_target_without_a_native_smoke_or_binary_job_is_named() {
    for job in ["native-smoke", "binary"] {
        let wf = edited(job, "aarch64-apple-darwin", |_| false);
        let p = problems(&wf, TARGETS);
        assert_eq!(
            p,
            vec![format!("aarch64-apple-darwin: no {job} job")],
            "{job}"
        );
    }
}

#[test]
fn a_target_added_to_targets_rs_without_jobs_is_named() {
    let mut targets = TARGETS.to_vec();
    targets.push(Target {
        triple: "aarch64-pc-windows-msvc",
        npm_dir: "win32-arm64",
        wheel_tag: "win_arm64",
        github_archive: "uv-aarch64-pc-windows-msvc.zip",
        exe_suffix: ".exe",
    });
    let p = problems(&workflow("release.yml"), &targets);
    assert!(
        p.contains(&"aarch64-pc-windows-msvc: no binary job".to_string())
            && p.contains(&"aarch64-pc-windows-msvc: no native-smoke job".to_string()),
        "{p:#?}"
    );
}

#[test]
fn a_smoke_on_another_architecture_or_outside_alpine_is_named() {
    let wf = edited("native-smoke", "x86_64-apple-darwin", |e| {
        e["runner"]["label"] = Value::from("macos-latest");
        true
    });
    let p = problems(&wf, TARGETS);
    assert!(
        p.len() == 1 && p[0].starts_with("x86_64-apple-darwin: native-smoke runs on macos-latest"),
        "{p:#?}"
    );
    let wf = edited("native-smoke", "x86_64-unknown-linux-musl", |e| {
        e.as_mapping_mut().unwrap().remove("alpine");
        true
    });
    let p = problems(&wf, TARGETS);
    assert!(
        p.len() == 1 && p[0].contains("does not run in Alpine"),
        "{p:#?}"
    );
}

#[test]
fn the_scheduled_rebuild_installs_every_linux_target_and_runs_the_canary_by_name() {
    let wf = workflow("rebuild.yml");
    let steps = text(&wf["jobs"]["rebuild"]["steps"]);
    for t in TARGETS.iter().filter(|t| t.triple.contains("-linux-")) {
        assert!(
            steps.contains(t.triple),
            "rebuild.yml does not install {}",
            t.triple
        );
    }
    assert!(steps.contains("rebuild --against"), "{steps}");
    assert!(wf["on"]["schedule"]
        .as_sequence()
        .is_some_and(|s| !s.is_empty()));
    let canary = text(&wf["jobs"]["canary"]);
    assert!(canary.contains("npx --yes @kaelio/ktx@latest"), "{canary}");
}

/// What is wrong with ci.yml's smoke jobs against the cells `cells` (id, whether a container):
/// one `smoke` job per cell (`--cell ID`), container cells run as root (debootstrap, chroot),
/// and a last job that needs them all, runs even when one failed, and merges their reports.
fn ci_problems(wf: &Value, cells: &[(String, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    let jobs: Vec<(String, bool)> = entries(wf, "smoke")
        .iter()
        .map(|e| {
            (
                e["cell"].as_str().unwrap_or("").to_string(),
                e["container"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    for (id, container) in cells {
        match jobs.iter().filter(|(j, _)| j == id).count() {
            0 => out.push(format!(
                "cell {id} of matrix/cells.toml has no smoke job in ci.yml"
            )),
            1 => {}
            n => out.push(format!("cell {id} has {n} smoke jobs in ci.yml")),
        }
        if let Some((_, c)) = jobs.iter().find(|(j, _)| j == id) {
            if c != container {
                out.push(format!(
                    "cell {id}: ci.yml says container: {c}, matrix/cells.toml says {container}"
                ));
            }
        }
    }
    for (j, _) in &jobs {
        if !cells.iter().any(|(id, _)| id == j) {
            out.push(format!(
                "ci.yml has a smoke job for {j}, which matrix/cells.toml does not list"
            ));
        }
    }
    let smoke = text(&wf["jobs"]["smoke"]);
    if !smoke.contains("--cell \"${{ matrix.cell }}\"") {
        out.push("the smoke job does not run `ktx-release smoke --cell ${{ matrix.cell }}`".into());
    }
    if !smoke.contains("sudo -E") {
        out.push("the smoke job does not run container cells as root (sudo -E)".into());
    }
    let report = &wf["jobs"]["smoke-report"];
    if report.is_null() {
        out.push("ci.yml has no smoke-report job merging the cells' reports".into());
    } else {
        if text(&report["needs"]).trim() != "smoke" {
            out.push("the smoke-report job does not need the smoke jobs".into());
        }
        if report["if"].as_str() != Some("always()") {
            out.push("the smoke-report job does not run when a cell failed (if: always())".into());
        }
        if !text(report).contains("smoke-merge") {
            out.push("the smoke-report job does not run `ktx-release smoke-merge`".into());
        }
    }
    out
}

fn committed_cells() -> Vec<(String, bool)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../matrix");
    let (cells, _) = ktx_release::smoke::matrix::load(&dir).unwrap();
    cells
        .into_iter()
        .map(|c| {
            let container = c.backend == ktx_release::smoke::matrix::Backend::Container;
            (c.id, container)
        })
        .collect()
}

#[test]
fn ci_runs_one_smoke_job_per_cell_of_the_matrix_and_merges_their_reports() {
    let problems = ci_problems(&workflow("ci.yml"), &committed_cells());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_cell_added_to_the_matrix_without_a_ci_job_is_named() {
    let mut cells = committed_cells();
    cells.push(("alpine-new".into(), true));
    let problems = ci_problems(&workflow("ci.yml"), &cells);
    assert!(
        problems.contains(
            &"cell alpine-new of matrix/cells.toml has no smoke job in ci.yml".to_string()
        ),
        "{problems:#?}"
    );
    let fewer: Vec<_> = committed_cells()
        .into_iter()
        .filter(|(id, _)| id != "windows-wine")
        .collect();
    let problems = ci_problems(&workflow("ci.yml"), &fewer);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("smoke job for windows-wine")),
        "{problems:#?}"
    );
}

#[test]
fn a_merge_job_that_would_not_run_after_a_failed_cell_is_named() {
    let mut wf = workflow("ci.yml");
    wf["jobs"]["smoke-report"]["if"] = Value::Null;
    let problems = ci_problems(&wf, &committed_cells());
    assert!(
        problems.iter().any(|p| p.contains("if: always()")),
        "{problems:#?}"
    );
}
