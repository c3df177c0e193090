//! `ktx-release wheel`: the reproducible kaelio_ktx wheel into the output directory.

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::pipeline::Pipeline;

pub fn run(layout: &ReleaseLayout, args: flags::Wheel) -> Result<()> {
    let w = Pipeline::new(layout, &args.payload.projects).wheel(&layout.out)?;
    println!(
        "{}  sha256={}  files={}",
        w.path.display(),
        w.sha256,
        w.files
    );
    Ok(())
}
