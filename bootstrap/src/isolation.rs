//! What ktx's children see of the place the user stands in: nothing.
//!
//! The directory a user types `ktx` in (a cloned repository, a shared `/tmp` directory) is
//! hostile. Python puts the current directory first on `sys.path` for `-m` and `-c`, so a
//! `ktx_daemon/` or a `json.py` planted there would run as the user; uv reads `uv.toml`,
//! `pyproject.toml` (`[tool.uv]`) and `.python-version` from the current directory and its
//! parents, so a planted one could point the install at another index.
//!
//! So every Python child runs isolated (`-I`: no current directory or script directory on
//! `sys.path`, no PYTHON* variables, no user site; `-X utf8` so that JSON on the pipes is UTF-8
//! whatever the locale) from a working directory of ours, and every uv child runs from a
//! directory of ours with no configuration discovered there: the user's own uv.toml (user or
//! system level) is passed explicitly instead, and their UV_CONFIG_FILE / UV_NO_CONFIG win.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `<python> -I -X utf8 <args...>` run from `dir` (a directory ktx made: the version directory).
/// What Python compiles on first use is kept in the venv (PYTHONDONTWRITEBYTECODE is ignored by
/// `-I` anyway, and removed so that no child of this one sees it).
pub fn python<I, S>(python: &Path, dir: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-X", "utf8"])
        .args(args)
        .current_dir(dir)
        .env_remove("PYTHONDONTWRITEBYTECODE");
    cmd
}

/// Where a uv child runs: the runtime root when it exists, else its nearest existing ancestor
/// (pure commands never create the root), never the user's current directory.
pub fn uv_dir(root: &Path) -> PathBuf {
    root.ancestors()
        .find(|a| a.is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

/// Make a uv child blind to configuration files around `cwd`: the user's UV_CONFIG_FILE or
/// UV_NO_CONFIG is honoured; otherwise the user's own uv.toml (user level, else system level)
/// is named explicitly, and without one, discovery is off.
pub fn uv_config(cmd: &mut Command) {
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    if set("UV_CONFIG_FILE") || set("UV_NO_CONFIG") {
        return;
    }
    match user_uv_toml() {
        Some(file) => cmd.env("UV_CONFIG_FILE", file),
        None => cmd.env("UV_NO_CONFIG", "1"),
    };
}

/// The uv.toml uv would read at user level, else at system level, as uv's documentation places
/// them: `$XDG_CONFIG_HOME/uv/uv.toml` or `~/.config/uv/uv.toml` (macOS and Linux),
/// `%APPDATA%\uv\uv.toml` (Windows); then `$XDG_CONFIG_DIRS/uv/uv.toml` or `/etc/uv/uv.toml`,
/// `%SYSTEMDRIVE%\ProgramData\uv\uv.toml`.
fn user_uv_toml() -> Option<PathBuf> {
    let env = |v: &str| {
        std::env::var_os(v)
            .filter(|x| !x.is_empty())
            .map(PathBuf::from)
    };
    let mut candidates: Vec<PathBuf> = Vec::new();
    if cfg!(windows) {
        candidates.extend(env("APPDATA").map(|d| d.join("uv").join("uv.toml")));
        candidates.extend(
            std::env::var("SYSTEMDRIVE")
                .ok()
                .map(|d| PathBuf::from(format!("{d}\\ProgramData\\uv\\uv.toml"))),
        );
    } else {
        candidates.extend(
            env("XDG_CONFIG_HOME")
                .or_else(|| env("HOME").map(|h| h.join(".config")))
                .map(|d| d.join("uv/uv.toml")),
        );
        if let Some(dirs) = std::env::var_os("XDG_CONFIG_DIRS") {
            candidates.extend(std::env::split_paths(&dirs).map(|d| d.join("uv/uv.toml")));
        }
        candidates.push(PathBuf::from("/etc/uv/uv.toml"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_child_is_isolated_and_runs_from_our_directory() {
        let cmd = python(
            Path::new("/venv/bin/python"),
            Path::new("/rt/0.1.0"),
            ["-m", "x"],
        );
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        assert_eq!(args, ["-I", "-X", "utf8", "-m", "x"]);
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/rt/0.1.0")));
    }

    #[test]
    fn uv_runs_from_the_nearest_existing_ancestor_of_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("not/yet/made");
        assert_eq!(uv_dir(&root), d.path());
        assert_eq!(uv_dir(d.path()), d.path());
    }
}
