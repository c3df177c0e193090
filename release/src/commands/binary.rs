//! `ktx-release binary`: the release build of the `ktx` binary (see `ktx_release::binary`).

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;

pub fn run(layout: &ReleaseLayout, args: flags::Binary) -> Result<()> {
    let b = ktx_release::binary::build(&layout.repo, args.target.as_deref())?;
    println!("{}  native/{}", b.path.display(), b.npm_dir);
    Ok(())
}
