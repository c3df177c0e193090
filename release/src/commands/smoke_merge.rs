//! `ktx-release smoke-merge`: the reports of separate smoke runs (CI runs one job per cell) as
//! one table, junit.xml and report.json (`ktx_release::smoke::merge`).

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::smoke::{merge, report};

pub fn run(layout: &ReleaseLayout, args: flags::SmokeMerge) -> Result<()> {
    let results = merge::merge(&merge::find_reports(&args.from)?)?;
    report::write(&results, &layout.repo.join(&args.report_dir))?;
    anyhow::ensure!(
        report::counts(&results).1 == 0,
        "smoke check(s) failed in the merged reports (see the table above)"
    );
    Ok(())
}
