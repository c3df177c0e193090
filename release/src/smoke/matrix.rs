//! The smoke matrix as data: `matrix/cells.toml` (where) and `matrix/checks.toml` (what).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize, Clone)]
pub struct Cells {
    pub cell: Vec<Cell>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Cell {
    pub id: String,
    pub backend: Backend,
    /// Whether uv is preinstalled in the cell (it must then be used, nothing downloaded).
    #[serde(default)]
    pub uv: bool,
    /// Serve managed Python builds from a loopback mirror (KTX_PYTHON_DOWNLOADS_JSON), for
    /// cells without a suitable Python.
    #[serde(default)]
    pub python_mirror: bool,
    /// Set SSL_CERT_FILE and NODE_EXTRA_CA_CERTS in the cell (default). Without them the
    /// cell trusts only its system store, as users behind a proxy often do.
    #[serde(default = "yes")]
    pub ca_env: bool,
    /// Payload projects of this cell's own tarball (e.g. python/ + fixtures/payloads/heavy);
    /// empty: the tarball under test. A cell with its own tarball runs it by path, not from
    /// the registry (`{ktx}` is `npx --yes --package <tarball> ktx`).
    #[serde(default)]
    pub payload: Vec<String>,
    /// A previous version (`"0.0.9"`) packed from this tree for the cell (`pack --version`, a
    /// binary built with KTX_BUILD_VERSION): its steps find the tarball in
    /// `$KTX_SMOKE_PREVIOUS`. Local cells only.
    pub previous: Option<String>,
    pub image: Option<ImageRecipe>,
    /// The package platforms (`native/<dir>`) the cell runs, e.g. `linux-arm64`: a tarball
    /// without one of them skips the cell, saying which and how to pack it.
    #[serde(default)]
    pub needs_binaries: Vec<String>,
    pub checks: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Local,
    Container,
}

fn yes() -> bool {
    true
}

/// How a container cell's image is made: a Debian suite, its packages, packages purged after
/// (e.g. python3, which npm pulls in), optionally uv, and optionally a Node.js and npm from the
/// npm registry (for suites whose own Node is older than the package supports).
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, Hash)]
pub struct ImageRecipe {
    pub suite: String,
    pub packages: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub uv: bool,
    pub node: Option<NodeRecipe>,
    /// A Debian architecture other than the host's (`arm64`): the root is debootstrapped and
    /// run under QEMU user-mode emulation (`smoke::emulation`); the cell is skipped, saying
    /// why, where the host cannot emulate it.
    pub arch: Option<String>,
    /// How the root is made: `debian` (default: debootstrap + apt), or `musl-only` (no Debian
    /// system at all: the files of `packages` unpacked into an empty root, e.g. Debian's musl
    /// loader and a static busybox, so the root has no glibc).
    #[serde(default)]
    pub root: RootKind,
    /// Put uv's own Windows build (the PyPI wheel tagged win_amd64 at the pinned version) at
    /// /opt/uv-windows/uv.exe, for the Wine cell.
    #[serde(default)]
    pub uv_windows: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RootKind {
    #[default]
    Debian,
    MuslOnly,
}

/// Node.js as nodejs.org builds it (the npm registry's `node-linux-<arch>` package carries that
/// build) and npm from the registry, under /usr/local, as a user of an old distribution installs
/// a supported Node (nvm, the nodejs.org tarball).
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, Hash)]
pub struct NodeRecipe {
    pub version: String,
    pub npm: String,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Checks {
    pub check: Vec<Check>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Check {
    pub id: String,
    pub title: String,
    /// A check the runner does itself instead of steps (`verify-tarball`).
    pub builtin: Option<String>,
    #[serde(default)]
    pub opt_in: bool,
    /// Only on this kind of system (elsewhere the check is skipped, saying why).
    pub only_on: Option<System>,
    #[serde(default)]
    pub step: Vec<Step>,
}

/// The kind of system a cell runs on, for checks that only make sense on one.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Linux with glibc (every container cell: Debian).
    LinuxGlibc,
    /// Linux with musl (Alpine: the release workflow's local cell in an Alpine container).
    LinuxMusl,
    /// macOS or Windows.
    Other,
}

impl System {
    /// The system of a cell: a container's says its recipe (Debian, or a musl-only root); the
    /// local cell is this machine.
    pub fn of_cell(cell: &Cell) -> System {
        match &cell.image {
            Some(r) if cell.backend == Backend::Container && r.root == RootKind::MuslOnly => {
                System::LinuxMusl
            }
            _ => System::of(cell.backend),
        }
    }

    /// The system of a backend: containers are Debian; the local cell is this machine.
    pub fn of(backend: Backend) -> System {
        match backend {
            Backend::Container => System::LinuxGlibc,
            Backend::Local if cfg!(target_os = "linux") => {
                let musl = std::fs::read_dir("/lib")
                    .map(|d| {
                        d.flatten()
                            .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
                    })
                    .unwrap_or(false);
                if musl {
                    System::LinuxMusl
                } else {
                    System::LinuxGlibc
                }
            }
            Backend::Local => System::Other,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            System::LinuxGlibc => "glibc Linux",
            System::LinuxMusl => "musl Linux",
            System::Other => "macOS or Windows",
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct Step {
    pub run: String,
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub stdout: Vec<String>,
    #[serde(default)]
    pub stderr: Vec<String>,
    #[serde(default)]
    pub stdout_not: Vec<String>,
    #[serde(default)]
    pub stderr_not: Vec<String>,
    /// Seconds (default 600).
    pub timeout: Option<u64>,
}

pub fn load(dir: &Path) -> Result<(Vec<Cell>, Vec<Check>)> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let cells: Cells = toml::from_str(&read("cells.toml")?).context("matrix/cells.toml")?;
    let checks: Checks = toml::from_str(&read("checks.toml")?).context("matrix/checks.toml")?;
    for cell in &cells.cell {
        for c in &cell.checks {
            if !checks.check.iter().any(|k| &k.id == c) {
                bail!(
                    "matrix/cells.toml: cell {} lists an unknown check {c}",
                    cell.id
                );
            }
        }
        if cell.backend == Backend::Container && cell.previous.is_some() {
            bail!(
                "matrix/cells.toml: cell {}: `previous` is for local cells (its tarball is a host path)",
                cell.id
            );
        }
        if cell.backend == Backend::Container && cell.image.is_none() {
            bail!(
                "matrix/cells.toml: container cell {} has no image recipe",
                cell.id
            );
        }
    }
    Ok((cells.cell, checks.check))
}

/// How a step runs ktx from the registry.
pub const KTX_BY_NAME: &str = "npx --yes @kaelio/ktx";

/// Fill `{version}`, `{tarball}`, `{ktx}` (the command that runs ktx) and `{glibc_floor}` (the
/// declared glibc floor, `glibc::FLOOR`) in a step.
pub fn expand(text: &str, version: &str, tarball: &str, ktx: &str) -> String {
    text.replace("{version}", version)
        .replace("{tarball}", tarball)
        .replace("{ktx}", ktx)
        .replace("{glibc_floor}", &crate::glibc::FLOOR.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_matrix_loads_and_every_cell_names_known_checks() {
        let dir = crate::repo_root().join("matrix");
        let (cells, checks) = load(&dir).unwrap();
        assert!(cells.iter().any(|c| c.backend == Backend::Local));
        assert!(cells.iter().any(|c| c.uv));
        assert!(checks.iter().any(|c| c.opt_in));
    }
}
