//! `ktx-release payload-project DIR`: the merged payload as one standard hatchling project.

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;

pub fn run(layout: &ReleaseLayout, args: flags::PayloadProject) -> Result<()> {
    let dir = layout.in_repo(&args.dir);
    let p = ktx_release::pack::load_payload(&layout.repo, &args.payload.projects)?;
    p.write_project(&dir)?;
    println!("{}", dir.display());
    Ok(())
}
