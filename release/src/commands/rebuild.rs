//! `ktx-release rebuild --against TARBALL`: this checkout's artefacts compared with a published
//! tarball (see `ktx_release::rebuild`).

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::rebuild;

pub fn run(layout: &ReleaseLayout, args: flags::Rebuild) -> Result<()> {
    if args.print_rustc {
        let v = rebuild::published_rustc(&args.against)?;
        println!("{}", v.split_whitespace().next().unwrap_or(&v));
        return Ok(());
    }
    let report = rebuild::against_published(layout, &args.against, &args.payload.projects)?;
    println!("{}", report.table());
    report.result()
}
