//! `ktx runtime start|stop`: the managed daemon of this version, by hand.

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::install;
use crate::package::Package;

pub fn start(ctx: &Ctx, features: &[Feature]) -> Result<()> {
    let pkg = Package::locate()?;
    let mut m = install::ensure(ctx, &pkg, Feature::Core)?;
    for &f in features.iter().filter(|&&f| f != Feature::Core) {
        m = install::ensure(ctx, &pkg, f)?;
    }
    if features.iter().any(|&f| !m.has(f)) {
        return Err(Error::other(
            "the runtime lacks a requested feature",
            format!("run `{}`", ctx.install_command(Feature::LocalEmbeddings)),
        ));
    }
    let (s, started) = crate::daemon::start(&ctx.layout, &m)?;
    let word = if started { "started" } else { "reusing" };
    outln!(
        "daemon {word}: pid {} on 127.0.0.1:{} (version {}, {})",
        s.pid,
        s.port,
        s.version,
        s.features.join("+")
    );
    Ok(())
}

pub fn stop(ctx: &Ctx) -> Result<()> {
    if crate::daemon::stop(&ctx.layout)? {
        outln!("daemon stopped");
    } else {
        outln!("no daemon was running");
    }
    Ok(())
}
