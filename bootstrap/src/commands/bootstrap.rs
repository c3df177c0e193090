//! `ktx bootstrap`: a machine with only Node gets uv (unless one is found) and the core runtime.

use crate::context::Ctx;
use crate::error::Result;
use crate::feature::Feature;
use crate::install;
use crate::package::Package;

pub fn run(ctx: &Ctx) -> Result<()> {
    let pkg = Package::locate()?;
    pkg.verify_wheel()?;
    match crate::uv::locate(&ctx.layout, &pkg.manifest.uv.version) {
        Some(u) => errln!(
            "ktx: using uv at {} ({})",
            u.path.display(),
            u.source.describe()
        ),
        None => {
            ctx.consent.ask(
                "uv",
                &format!(
                    "ktx needs uv to build its Python runtime and none is installed. ktx will download uv {} \
                     (about 17 MB, sha256-verified) from {} into {}.",
                    pkg.manifest.uv.version,
                    crate::uv_download::Source::from_env()?.describe(),
                    ctx.layout.tools_uv().display()
                ),
                "ktx bootstrap --yes",
            )?;
            crate::uv_download::obtain(ctx, &pkg)?;
        }
    }
    let m = install::install(ctx, &pkg, &[Feature::Core], false)?;
    outln!(
        "ready: ktx {} with Python {} at {}",
        m.cli_version,
        m.python.version,
        ctx.layout.version_dir().display()
    );
    Ok(())
}
