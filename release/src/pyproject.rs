//! The parts of `python/pyproject.toml` a wheel needs: the PEP 621 `[project]` table and the
//! package list of `[tool.hatch.build.targets.wheel]`. The pyproject is the one source of the
//! Python metadata; nothing here repeats it.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct File {
    project: Project,
    tool: Option<Tool>,
}

#[derive(Debug, Deserialize)]
struct Tool {
    hatch: Option<Hatch>,
}

#[derive(Debug, Deserialize)]
struct Hatch {
    build: Option<HatchBuild>,
}

#[derive(Debug, Deserialize)]
struct HatchBuild {
    targets: Option<HatchTargets>,
}

#[derive(Debug, Deserialize)]
struct HatchTargets {
    wheel: Option<HatchWheel>,
}

#[derive(Debug, Deserialize)]
struct HatchWheel {
    packages: Option<Vec<String>>,
}

/// The `[project]` table (PEP 621), as far as this project uses it.
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "kebab-case")]
pub struct Project {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub readme: Option<String>,
    pub requires_python: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
    pub license: Option<toml::Value>,
}

/// A parsed pyproject: the metadata and where the import packages live.
#[derive(Debug, Clone)]
pub struct PyProject {
    pub root: PathBuf,
    pub project: Project,
    /// Package directories relative to `root`, e.g. `src/semantic_layer`.
    pub packages: Vec<String>,
}

impl PyProject {
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join("pyproject.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: File = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid pyproject", path.display()))?;
        let packages = file
            .tool
            .and_then(|t| t.hatch)
            .and_then(|h| h.build)
            .and_then(|b| b.targets)
            .and_then(|t| t.wheel)
            .and_then(|w| w.packages)
            .unwrap_or_default();
        if packages.is_empty() {
            bail!(
                "{} lists no packages under [tool.hatch.build.targets.wheel]; add them so the wheel has code",
                path.display()
            );
        }
        Ok(PyProject {
            root: root.to_path_buf(),
            project: file.project,
            packages,
        })
    }

    /// The distribution name as wheel file names spell it (`kaelio_ktx`).
    pub fn wheel_name(&self) -> String {
        normalize_dist_name(&self.project.name).replace('-', "_")
    }

    pub fn wheel_file_name(&self) -> String {
        format!(
            "{}-{}-py3-none-any.whl",
            self.wheel_name(),
            self.project.version
        )
    }
}

/// PEP 503 normalization: runs of `-`, `_`, `.` become one `-`, lowercased.
pub fn normalize_dist_name(name: &str) -> String {
    let mut out = String::new();
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.extend(c.to_lowercase());
            last_sep = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_collapses_separators_and_lowercases() {
        assert_eq!(normalize_dist_name("Kaelio__KTX.core"), "kaelio-ktx-core");
    }
}
