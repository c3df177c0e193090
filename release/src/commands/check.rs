//! `ktx-release check`, the main job: wheel, binary, pack, verify, (rebuild,) then the smoke
//! matrix; prints each step and its time.

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::npm_layout::Layout;
use ktx_release::pipeline::{native_binaries, Pipeline};
use ktx_release::{binary, rebuild, verify};
use std::time::Instant;

pub fn run(layout: &ReleaseLayout, args: flags::Check) -> Result<()> {
    let repo = &layout.repo;
    let out = &layout.out;
    let projects = &args.payload.projects;
    let pipeline = Pipeline::new(layout, projects);
    let start = Instant::now();
    let wheel = step("wheel", || pipeline.wheel(out))?;
    let native = step("binary", || binary::build(repo, None))?;
    let tgz = step("pack", || {
        let natives = native_binaries(repo, &[])?;
        Ok(pipeline
            .pack(
                &wheel,
                &natives,
                out,
                Some(layout.kept_stage()),
                Layout::Single,
            )?
            .main)
    })?;
    step("verify", || verify::verify_tarball(&tgz))?;
    if args.rebuild {
        step("rebuild", || {
            let report = rebuild::against_first_build(
                layout,
                &rebuild::FirstBuild {
                    wheel: &wheel.path,
                    binary: &native,
                    tarball: &tgz,
                },
                projects,
            )?;
            println!("{}", report.table());
            report.result()
        })?;
    }
    step("smoke", || {
        super::smoke::matrix(
            layout,
            &layout.smoke_dir(),
            &tgz,
            args.cells,
            vec![],
            args.with_embeddings,
        )
    })?;
    eprintln!(
        "check passed in {:.1}s: {}",
        start.elapsed().as_secs_f64(),
        tgz.display()
    );
    Ok(())
}

/// Run one step between `==> name` and its outcome with its time.
fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("==> {name}");
    let start = Instant::now();
    let r = f();
    match &r {
        Ok(_) => eprintln!("    {name}: ok ({:.1}s)", start.elapsed().as_secs_f64()),
        Err(_) => eprintln!("    {name}: FAILED ({:.1}s)", start.elapsed().as_secs_f64()),
    }
    r
}
