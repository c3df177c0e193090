//! The Cargo workspace as `cargo metadata` describes it: its root and the one version every
//! member carries (`[workspace.package] version`), which the npm package, the runtime manifest
//! and the wheel must carry too.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub version: String,
}

impl Workspace {
    /// Ask cargo about the workspace whose manifest is `repo/Cargo.toml`.
    pub fn load(repo: &Path) -> Result<Self> {
        let meta = cargo_metadata::MetadataCommand::new()
            .manifest_path(repo.join("Cargo.toml"))
            .no_deps()
            .exec()
            .with_context(|| format!("cannot read the Cargo workspace at {}", repo.display()))?;
        let members: Vec<_> = meta.workspace_packages();
        let Some(first) = members.first() else {
            bail!("the workspace at {} has no members", repo.display());
        };
        if let Some(other) = members.iter().find(|p| p.version != first.version) {
            bail!(
                "the workspace members disagree on the version: {} {} and {} {}; inherit version.workspace = true",
                first.name,
                first.version,
                other.name,
                other.version
            );
        }
        let version = first.version.to_string();
        Ok(Workspace {
            root: meta.workspace_root.clone().into_std_path_buf(),
            version,
        })
    }
}
