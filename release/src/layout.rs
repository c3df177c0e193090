//! Where a release's files live, in one place: the repository it builds from, the output
//! directory (`dist/` unless `--out`; `check` keeps its staged package in `<out>/package`), and
//! the work directories under the repository's `target/` (the uv pin cache, the smoke's
//! reports, the bench, the rebuild's copy, the previous release's binary).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The paths of one release build.
#[derive(Debug, Clone)]
pub struct ReleaseLayout {
    /// The repository built from (absolute).
    pub repo: PathBuf,
    /// Where artefacts go (absolute).
    pub out: PathBuf,
}

impl ReleaseLayout {
    /// The layout of `--repo` (default: the repository this ktx-release was built from) and
    /// `--out` (relative to the repository).
    pub fn new(repo: Option<&Path>, out: &Path) -> Result<ReleaseLayout> {
        let repo = match repo {
            Some(r) => std::fs::canonicalize(r)
                .with_context(|| format!("--repo {}: no such directory", r.display()))?,
            None => crate::repo_root(),
        };
        let out = if out.is_absolute() {
            out.to_path_buf()
        } else {
            repo.join(out)
        };
        Ok(ReleaseLayout { repo, out })
    }

    /// The layout of `repo` with the default output directory, `dist/`.
    pub fn of(repo: &Path) -> ReleaseLayout {
        ReleaseLayout {
            repo: repo.to_path_buf(),
            out: repo.join("dist"),
        }
    }

    /// `path` as given when absolute, else relative to the repository.
    pub fn in_repo(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.repo.join(path)
        }
    }

    /// The staged package `check` keeps (a package root the tests use).
    pub fn kept_stage(&self) -> PathBuf {
        self.out.join("package")
    }

    /// The repository's `target/`.
    pub fn target(&self) -> PathBuf {
        self.repo.join("target")
    }

    /// Where the uv pins are cached between runs.
    pub fn pin_cache(&self) -> PathBuf {
        self.target().join("ktx-release/uv-pins.json")
    }

    /// The smoke's reports and cells' work directories (`check`'s; `smoke --report-dir` may
    /// name another).
    pub fn smoke_dir(&self) -> PathBuf {
        self.target().join("smoke")
    }

    /// The bench's builds and its table.
    pub fn bench_dir(&self) -> PathBuf {
        self.target().join("bench")
    }

    /// The rebuild's work: the copied sources (`src`), the frozen ktx-release (`bin`) and the
    /// rebuild against a published tarball (`published`).
    pub fn rebuild_dir(&self) -> PathBuf {
        self.target().join("rebuild")
    }

    /// The cargo target directory of the upgrade cell's previous-release binary.
    pub fn previous_target(&self) -> PathBuf {
        self.target().join("previous")
    }
}
