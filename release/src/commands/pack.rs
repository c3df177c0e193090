//! `ktx-release pack`: the pipeline (wheel -> stage -> pack) into the output directory; prints
//! the tarballs in publishing order.

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::pipeline::{native_binaries, Pipeline};

pub fn run(layout: &ReleaseLayout, args: flags::Pack) -> Result<()> {
    let pipeline = Pipeline {
        version: args.version.as_deref(),
        require_github_pins: args.require_github_pins,
        ..Pipeline::new(layout, &args.payload.projects)
    };
    let natives = native_binaries(&layout.repo, &args.binaries)?;
    let packed = pipeline.build(&natives, &layout.out, args.stage_dir, args.layout)?;
    for tgz in packed.publish_order() {
        println!("{}", tgz.display());
    }
    Ok(())
}
