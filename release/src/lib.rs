//! ktx-release: what maintainers and CI run to build, pack and check a KTX release.
//!
//! `wheel` (the reproducible `kaelio-ktx` wheel of the `payload`: one or more `pyproject`s
//! merged), `binary` (the build of ktx: Linux targets by cargo-zigbuild from the `zig`
//! toolchain, gnu ones at the `glibc` floor), `pack` (npm staging + `npm pack` + `verify`;
//! `native` checks and records each binary), `uvpin` (the pinned uv and its digests) and
//! `workspace` (the Cargo workspace, from `cargo metadata`); `layout` (where `dist/`, the
//! staged package and the `target/` work directories are) and `pipeline` (wheel -> stage ->
//! pack, the one way a package is built); `rebuild` (a second, independent
//! build compared by sha256), `smoke` (the release checks), `bench` (the performance table) and
//! `soak` (installs interrupted at random moments).

pub mod bench;
pub mod binary;
pub mod glibc;
pub mod layout;
pub mod native;
pub mod npm_layout;
pub mod pack;
pub mod payload;
pub mod pep508;
pub mod pipeline;
pub mod pyproject;
pub mod rebuild;
pub mod smoke;
pub mod soak;
pub mod uvpin;
pub mod verify;
pub mod wheel;
pub mod workspace;
pub mod zig;

use std::path::PathBuf;

/// The repository this ktx-release was built from.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("release/ sits in the repository")
        .to_path_buf()
}

/// Give a file the mode a wheel or the npm package fixes for it (a no-op off Unix).
pub(crate) fn set_mode(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use anyhow::Context;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
