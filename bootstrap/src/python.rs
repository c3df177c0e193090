//! The interpreter the runtime's venv is built on: one that satisfies the wheel's
//! Requires-Python, found by uv among the machine's interpreters (never a virtualenv), else a
//! managed CPython that uv downloads into `<root>/python` (after consent, from the configured
//! mirror or downloads list, checksum-verified by uv).
//!
//! uv runs from the runtime root, not the user's working directory, so a project's
//! `.python-version` or `.venv` never decides the runtime's Python.

use crate::paths::Layout;
use crate::uv::Uv;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the base interpreter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Already on the machine (PATH, the OS, pyenv, a user's uv install).
    System,
    /// Downloaded by uv for ktx into `<root>/python` (or UV_PYTHON_INSTALL_DIR).
    Managed,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::System => "system",
            Origin::Managed => "managed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    pub origin: Origin,
}

/// The request uv gets: the wheel's Requires-Python, or any Python 3.
pub fn request(requires_python: Option<&str>) -> String {
    requires_python
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(">=3")
        .to_string()
}

/// Where managed interpreters live for this runtime.
pub fn install_dir(layout: &Layout) -> PathBuf {
    std::env::var_os("UV_PYTHON_INSTALL_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| layout.python_installs())
}

fn origin_of(path: &Path, layout: &Layout) -> Origin {
    let dir = install_dir(layout);
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if canon(path).starts_with(canon(&dir)) || path.starts_with(&dir) {
        Origin::Managed
    } else {
        Origin::System
    }
}

/// A `uv python ...` command (run from the runtime root: `uv::command`).
fn uv_python(uv: &Uv, layout: &Layout) -> Command {
    let mut cmd = crate::uv::command(&uv.path, layout);
    cmd.arg("python");
    cmd
}

/// A suitable interpreter already on the machine (or installed for ktx before), or uv's
/// reason why there is none.
pub fn find(
    uv: &Uv,
    layout: &Layout,
    requires_python: Option<&str>,
) -> Result<Interpreter, String> {
    let mut cmd = uv_python(uv, layout);
    cmd.args(["find", "--system", "--no-python-downloads"])
        .arg(request(requires_python));
    crate::process::supervise(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", uv.path.display()))?;
    if out.status.code().is_none() {
        return Err(format!("uv python find was stopped ({})", out.status));
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !path.is_empty() {
        let path = PathBuf::from(path);
        return Ok(Interpreter {
            origin: origin_of(&path, layout),
            path,
        });
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(err
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("error:"))
        .unwrap_or("no interpreter found")
        .trim_start_matches("error:")
        .trim()
        .to_string())
}

/// The `uv python install` that gets a managed interpreter for `requires_python`.
pub fn install_command(
    uv: &Uv,
    layout: &Layout,
    requires_python: Option<&str>,
) -> crate::error::Result<Command> {
    let mut cmd = uv_python(uv, layout);
    cmd.args(["install", "--no-bin", "--color", "never"])
        .arg(request(requires_python));
    crate::uv::trust_for_downloads(&mut cmd, layout)?;
    Ok(cmd)
}

/// Whether the user forbade uv to download interpreters.
pub fn downloads_forbidden() -> bool {
    std::env::var("UV_PYTHON_DOWNLOADS").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "never" | "manual" | "false" | "0"
        )
    })
}

/// Whether `version` ("3.11.7") satisfies a PEP 440 specifier set such as ">=3.9, <4" or
/// "~=3.12"; `None` when the specifier is beyond this small reader (it then counts as met).
pub fn satisfies(version: &str, spec: &str) -> Option<bool> {
    fn parse(v: &str) -> Option<Vec<u64>> {
        v.trim()
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u64>>>()
            .filter(|v| !v.is_empty())
    }
    fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
        let n = a.len().max(b.len());
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        (0..n)
            .map(|i| at(a, i).cmp(&at(b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
    let have = parse(version)?;
    for clause in spec.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let op_len = clause
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(clause.len());
        let (op, rest) = clause.split_at(op_len);
        let (wild, rest) = match rest.strip_suffix(".*") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let want = parse(rest)?;
        let prefix_eq = || have.iter().take(want.len()).eq(want.iter());
        let ok = match (op.trim(), wild) {
            ("==", true) => prefix_eq(),
            ("!=", true) => !prefix_eq(),
            ("==", false) | ("===", false) => cmp(&have, &want).is_eq(),
            ("!=", false) => !cmp(&have, &want).is_eq(),
            (">=", false) => cmp(&have, &want).is_ge(),
            (">", false) => cmp(&have, &want).is_gt(),
            ("<=", false) => cmp(&have, &want).is_le(),
            ("<", false) => cmp(&have, &want).is_lt(),
            ("~=", false) if want.len() >= 2 => {
                cmp(&have, &want).is_ge()
                    && have
                        .iter()
                        .take(want.len() - 1)
                        .eq(want.iter().take(want.len() - 1))
            }
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers_are_read_as_pep_440_says() {
        assert_eq!(satisfies("3.11.7", ">=3.9"), Some(true));
        assert_eq!(satisfies("3.8.18", ">=3.9"), Some(false));
        assert_eq!(satisfies("3.13.0", ">=3.13"), Some(true));
        assert_eq!(satisfies("3.12.1", ">=3.9, <3.12"), Some(false));
        assert_eq!(satisfies("3.12.1", "~=3.12"), Some(true));
        assert_eq!(satisfies("4.0.0", "~=3.12"), Some(false));
        assert_eq!(satisfies("3.12.4", "==3.12.*"), Some(true));
        assert_eq!(satisfies("3.11.0", "!=3.11.*"), Some(false));
        assert_eq!(satisfies("3.11.0", ">=3.9,!=3.10.*"), Some(true));
        assert_eq!(satisfies("3.11.0", ">=3.9a1"), None);
    }

    #[test]
    fn the_request_is_requires_python_or_any_python_3() {
        assert_eq!(request(Some(">=3.13")), ">=3.13");
        assert_eq!(request(Some("  ")), ">=3");
        assert_eq!(request(None), ">=3");
    }

    #[test]
    fn interpreters_under_the_install_dir_are_managed() {
        let layout = Layout::resolve(Some(Path::new("/tmp/ktx-root")), "0.0.0").unwrap();
        if std::env::var_os("UV_PYTHON_INSTALL_DIR").is_none() {
            assert_eq!(
                origin_of(
                    Path::new("/tmp/ktx-root/python/cpython-3.13.1-linux/bin/python3.13"),
                    &layout
                ),
                Origin::Managed
            );
        }
        assert_eq!(
            origin_of(Path::new("/usr/bin/python3"), &layout),
            Origin::System
        );
    }
}
