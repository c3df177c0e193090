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
    pub image: Option<ImageRecipe>,
    pub checks: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Local,
    Container,
}

/// How a container cell's image is made: a Debian suite, its packages, and optionally uv.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, Hash)]
pub struct ImageRecipe {
    pub suite: String,
    pub packages: Vec<String>,
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

/// Fill `{version}`, `{tarball}`, `{ktx}` in a step.
pub fn expand(text: &str, version: &str, tarball: &str) -> String {
    text.replace("{version}", version)
        .replace("{tarball}", tarball)
        .replace("{ktx}", "npx --yes @kaelio/ktx")
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
