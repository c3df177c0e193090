//! `ktx-release smoke`: the release checks over the smoke matrix, against a tarball given or
//! packed by the pipeline; `check` runs it as its last step.

use crate::flags;
use anyhow::{Context, Result};
use ktx_release::layout::ReleaseLayout;
use ktx_release::npm_layout::Layout;
use ktx_release::pipeline::{native_binaries, Pipeline};
use ktx_release::smoke::{self, report};
use std::path::{Path, PathBuf};

pub fn run(layout: &ReleaseLayout, args: flags::Smoke) -> Result<()> {
    let tarball = match args.tarball {
        Some(t) => t,
        None => {
            ktx_release::binary::build(&layout.repo, None)?;
            pack_single(layout, &layout.out, &args.payload.projects)?
        }
    };
    let report_dir = layout.in_repo(&args.report_dir);
    matrix(
        layout,
        &report_dir,
        &tarball,
        args.cells,
        args.checks,
        args.with_embeddings,
    )
}

/// The single-layout tarball of `projects` around the host's release binary, into `out`.
fn pack_single(layout: &ReleaseLayout, out: &Path, projects: &[PathBuf]) -> Result<PathBuf> {
    let natives = native_binaries(&layout.repo, &[])?;
    Ok(Pipeline::new(layout, projects)
        .build(&natives, out, None, Layout::Single)?
        .main)
}

/// Run the smoke matrix, print the table, write JUnit XML and JSON under `out`.
pub fn matrix(
    layout: &ReleaseLayout,
    out: &Path,
    tarball: &Path,
    cells: Vec<String>,
    checks: Vec<String>,
    with_embeddings: bool,
) -> Result<()> {
    let repo = &layout.repo;
    let out = out.to_path_buf();
    std::fs::create_dir_all(&out)?;
    let tarball = if tarball.is_absolute() {
        tarball.to_path_buf()
    } else {
        std::env::current_dir()?.join(tarball)
    };
    // Cells that name their own payload get a tarball of it, with the same native binary.
    let pack_payload = |projects: &[PathBuf]| -> Result<PathBuf> {
        let name: Vec<String> = projects
            .iter()
            .map(|p| p.to_string_lossy().replace(['/', '\\'], "_"))
            .collect();
        pack_single(layout, &out.join("payloads").join(name.join("+")), projects)
    };
    let pack_previous = |version: &str| pack_previous(layout, &out.join("previous"), version);
    let opts = smoke::Options {
        cells,
        checks,
        with_embeddings,
        tarball,
        out: out.clone(),
        pack_payload: &pack_payload,
        pack_previous: &pack_previous,
    };
    let results = smoke::run(repo, &opts)?;
    let [junit, json] = report::write(&results, &out)?;
    eprintln!("reports: {} and {}", junit.display(), json.display());
    let (_, failed, _) = report::counts(&results);
    if failed > 0 {
        anyhow::bail!(
            "{failed} smoke check(s) failed (details above and in {})",
            out.join("report.json").display()
        );
    }
    Ok(())
}

/// The upgrade cell's previous release: this tree at another version, its binary a debug build
/// with that version compiled in (a target directory of its own, so that the release binary
/// and the tests' debug one stay this version), packed into `out`.
fn pack_previous(layout: &ReleaseLayout, out: &Path, version: &str) -> Result<PathBuf> {
    let repo = &layout.repo;
    let target_dir = layout.previous_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = std::process::Command::new(&cargo)
        .args([
            "build",
            "-q",
            "--locked",
            "-p",
            "ktx-bootstrap",
            "--bin",
            "ktx",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("KTX_BUILD_VERSION", version)
        .current_dir(repo)
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !st.success() {
        anyhow::bail!(
            "the build of ktx {version} failed ({st}); hint: see the compiler output above"
        );
    }
    let host = ktx_release::binary::host_target()?;
    let bin = target_dir
        .join("debug")
        .join(format!("ktx{}", host.exe_suffix));
    let projects = [PathBuf::from(ktx_release::pack::DEFAULT_PROJECT)];
    let natives = native_binaries(repo, &[format!("{}={}", host.npm_dir, bin.display())])?;
    let pipeline = Pipeline {
        version: Some(version),
        ..Pipeline::new(layout, &projects)
    };
    Ok(pipeline.build(&natives, out, None, Layout::Single)?.main)
}
