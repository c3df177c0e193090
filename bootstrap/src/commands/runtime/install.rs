//! `ktx runtime install [--feature F]... [--force]`: the explicit install (the command ktx
//! prints with exit 4 is the consent, except local-embeddings on a terminal, which asks).

use crate::context::Ctx;
use crate::error::Result;
use crate::feature::Feature;
use crate::install;
use crate::manifest::{self, State};
use crate::package::Package;

pub fn run(ctx: &Ctx, features: &[Feature], force: bool) -> Result<()> {
    let pkg = Package::locate()?;
    let mut features = features.to_vec();
    if features.is_empty() {
        features.push(Feature::Core);
    }
    // An explicit install is consent; on a terminal, local-embeddings still gets its own
    // question, because of its size. (Without a terminal the command itself is the consent:
    // it is the command ktx prints with exit 4.)
    for &f in features.iter().filter(|&&f| f != Feature::Core) {
        let have = matches!(manifest::read(&ctx.layout), State::Present(m) if m.has(f));
        if !have && ctx.consent.interactive() {
            ctx.consent.ask(
                f.name(),
                &format!("The {f} feature downloads {}.", f.downloads()),
                &ctx.install_command(f),
            )?;
        }
    }
    let m = install::install(ctx, &pkg, &features, force)?;
    outln!(
        "runtime {} installed at {} ({})",
        m.cli_version,
        ctx.layout.version_dir().display(),
        m.feature_list()
    );
    Ok(())
}
