//! `ktx-release verify TARBALL`: the checks of a packed tarball (see `ktx_release::verify`).

use crate::flags;
use anyhow::Result;

pub fn run(args: flags::Verify) -> Result<()> {
    let tarball = args.tarball;
    let v = ktx_release::verify::verify_tarball(&tarball)?;
    println!(
        "{}: ok (version {}, {} files, platforms {})",
        tarball.display(),
        v.version,
        v.files,
        v.platforms.join(", ")
    );
    for t in &v.platform_tarballs {
        println!("{}: ok (its platform package)", t.display());
    }
    Ok(())
}
