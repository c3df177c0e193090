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
    pub image: Option<ImageRecipe>,
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
/// (e.g. python3, which npm pulls in), and optionally uv.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, Hash)]
pub struct ImageRecipe {
    pub suite: String,
    pub packages: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub uv: bool,
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
    #[serde(default)]
    pub step: Vec<Step>,
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

/// Fill `{version}`, `{tarball}`, `{ktx}` (the command that runs ktx) in a step.
pub fn expand(text: &str, version: &str, tarball: &str, ktx: &str) -> String {
    text.replace("{version}", version)
        .replace("{tarball}", tarball)
        .replace("{ktx}", ktx)
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
