//! `ktx-release host-target`: this machine's package platform (`native/<dir>` name).

use anyhow::Result;

pub fn run() -> Result<()> {
    match ktx_bootstrap::targets::host() {
        Some(t) => println!("{}", t.npm_dir),
        None => anyhow::bail!(
            "this machine ({} {}) is not a platform the package carries",
            std::env::consts::OS,
            std::env::consts::ARCH
        ),
    }
    Ok(())
}
