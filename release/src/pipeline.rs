//! wheel -> stage -> pack, the one way a package is built: the payload's wheel (`wheel`), the
//! package staged around it and the native binaries (`pack::stage`), and `npm pack` of the
//! staged package in the single or the platforms layout (`pack`, `npm_layout`). The `pack`,
//! `check`, `rebuild`, `smoke` and `download-sizes` commands and the bench call it.

use crate::binary;
use crate::layout::ReleaseLayout;
use crate::native::NativeBinary;
use crate::npm_layout::Layout;
use crate::pack::{self, Packed, StageOptions};
use crate::wheel::BuiltWheel;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One package build: what goes in it and how it is labelled.
pub struct Pipeline<'a> {
    pub repo: &'a Path,
    /// The payload projects merged into the wheel (see `pack::load_payload`).
    pub projects: &'a [PathBuf],
    /// Build as this version instead of the workspace's (`pack --version`).
    pub version: Option<&'a str>,
    /// Where the uv pins are cached between runs.
    pub pin_cache: PathBuf,
    /// Fail unless the github pins of uv can be resolved too.
    pub require_github_pins: bool,
}

impl<'a> Pipeline<'a> {
    /// The workspace version of `projects`, the pins cached where `layout` keeps them.
    pub fn new(layout: &'a ReleaseLayout, projects: &'a [PathBuf]) -> Pipeline<'a> {
        Pipeline {
            repo: &layout.repo,
            projects,
            version: None,
            pin_cache: layout.pin_cache(),
            require_github_pins: false,
        }
    }

    /// Build the wheel into `out`.
    pub fn wheel(&self, out: &Path) -> Result<BuiltWheel> {
        match self.version {
            Some(v) => pack::build_payload_wheel_as(self.repo, self.projects, out, v),
            None => pack::build_payload_wheel(self.repo, self.projects, out),
        }
    }

    /// Stage the package of `wheel` and `binaries` at `dir` (created fresh).
    pub fn stage(&self, wheel: &BuiltWheel, binaries: &[NativeBinary], dir: &Path) -> Result<()> {
        pack::stage(
            &StageOptions {
                repo: self.repo,
                wheel,
                binaries,
                pin_cache: &self.pin_cache,
                require_github_pins: self.require_github_pins,
                version: self.version,
            },
            dir,
        )
    }

    /// Stage the package of `wheel` and `binaries` (at `keep` if given, else in a temporary
    /// directory under `out`) and `npm pack` it into `out` in `layout`.
    pub fn pack(
        &self,
        wheel: &BuiltWheel,
        binaries: &[NativeBinary],
        out: &Path,
        keep: Option<PathBuf>,
        layout: Layout,
    ) -> Result<Packed> {
        let kept = keep.is_some();
        let tmp = tempfile::Builder::new().prefix(".stage-").tempdir_in({
            std::fs::create_dir_all(out)?;
            out
        })?;
        let stage = keep.unwrap_or_else(|| tmp.path().join("package"));
        let packed = self.pack_at(wheel, binaries, &stage, out, layout)?;
        if kept {
            eprintln!("    staged package kept at {}", stage.display());
        }
        Ok(packed)
    }

    /// Stage the package of `wheel` and `binaries` at `stage` and `npm pack` it into `out` in
    /// `layout`.
    pub fn pack_at(
        &self,
        wheel: &BuiltWheel,
        binaries: &[NativeBinary],
        stage: &Path,
        out: &Path,
        layout: Layout,
    ) -> Result<Packed> {
        self.stage(wheel, binaries, stage)?;
        Ok(match layout {
            Layout::Single => Packed {
                main: pack::npm_pack(stage, out)?,
                platforms: Vec::new(),
            },
            Layout::Platforms => pack::npm_pack_platforms(stage, out)?,
        })
    }

    /// The whole pipeline: the wheel into `out`, then `pack`.
    pub fn build(
        &self,
        binaries: &[NativeBinary],
        out: &Path,
        keep: Option<PathBuf>,
        layout: Layout,
    ) -> Result<Packed> {
        let wheel = self.wheel(out)?;
        self.pack(&wheel, binaries, out, keep, layout)
    }
}

/// The binaries `--binary NPM_DIR=PATH` names, or none given: the host's release binary, where
/// `ktx-release binary` puts it.
pub fn native_binaries(repo: &Path, specs: &[String]) -> Result<Vec<NativeBinary>> {
    if specs.is_empty() {
        return Ok(vec![binary::host_binary(repo).with_context(|| {
            format!(
                "no release binary of this host in {}; hint: run `ktx-release binary` first",
                repo.join("target").display()
            )
        })?]);
    }
    specs
        .iter()
        .map(|b| {
            let (dir, path) = b
                .split_once('=')
                .with_context(|| format!("--binary {b}: expected NPM_DIR=PATH"))?;
            Ok(NativeBinary {
                npm_dir: dir.to_string(),
                path: PathBuf::from(path),
            })
        })
        .collect()
}
