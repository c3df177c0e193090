//! `ktx-release smoke-merge`: the reports of separate smoke runs (CI runs one job per cell) as
//! one table, junit.xml and report.json (`ktx_release::smoke::merge`).

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::smoke::{merge, report};

pub fn run(layout: &ReleaseLayout, args: flags::SmokeMerge) -> Result<()> {
    let results = merge::merge(&merge::find_reports(&args.from)?)?;
    let out = layout.repo.join(&args.report_dir);
    std::fs::create_dir_all(&out)?;
    println!("\n{}", report::table(&results));
    std::fs::write(out.join("junit.xml"), report::junit(&results))?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report::json(&results))?,
    )?;
    anyhow::ensure!(
        report::counts(&results).1 == 0,
        "smoke check(s) failed in the merged reports (see the table above)"
    );
    Ok(())
}
