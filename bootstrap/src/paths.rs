//! The runtime layout: the one place that knows where things live (README, "Where things live").
//!
//! ```text
//! <root>/<cli-version>/manifest.json   commit point: present means installed
//! <root>/<cli-version>/venv/           the virtual environment
//! <root>/<cli-version>/logs/           install-<timestamp>.log
//! <root>/<cli-version>/daemon.json     daemon state, mode 0600
//! <root>/<cli-version>/daemon.log      the daemon's stdout and stderr
//! <root>/<cli-version>/.staging-<id>/  an install attempt's venv, until it goes live
//! <root>/tools/uv/<uv-version>/uv      a uv ktx downloaded
//! <root>/python/                       Pythons uv downloaded for the runtime
//! <root>/tls/ca-<digest>.pem           the CA bundle uv gets when npm's extra CAs are set
//! ```

use std::path::{Path, PathBuf};

/// Where the runtime root comes from, for `status` and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    Flag,
    /// The environment variable that set it: KTX_RUNTIME_ROOT (KTX's name) or KTX_RUNTIME_DIR.
    Env(&'static str),
    Default,
}

/// The environment variables that name the runtime root, first one set wins: KTX's own name,
/// then the alias this project used first.
pub const ROOT_ENV: [&str; 2] = ["KTX_RUNTIME_ROOT", "KTX_RUNTIME_DIR"];

impl RootSource {
    pub fn describe(self) -> &'static str {
        match self {
            RootSource::Flag => "--runtime-dir",
            RootSource::Env(var) => var,
            RootSource::Default => "platform default",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub root_source: RootSource,
    pub version: String,
}

impl Layout {
    /// `--runtime-dir` > `KTX_RUNTIME_ROOT` > `KTX_RUNTIME_DIR` > the platform default. The
    /// root is always absolute: with no home to put the default in, this is an error naming
    /// what to set, never a directory relative to wherever ktx happens to run.
    pub fn resolve(flag: Option<&Path>, version: &str) -> crate::error::Result<Layout> {
        let from_env = ROOT_ENV.iter().find_map(|var| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(|p| (absolute(Path::new(&p)), RootSource::Env(var)))
        });
        let (root, root_source) = match (flag, from_env) {
            (Some(p), _) => (absolute(p), RootSource::Flag),
            (None, Some(env)) => env,
            (None, None) => (default_root()?, RootSource::Default),
        };
        Ok(Layout {
            root,
            root_source,
            version: version.to_string(),
        })
    }

    pub fn for_version(&self, version: &str) -> Layout {
        Layout {
            version: version.to_string(),
            ..self.clone()
        }
    }

    pub fn version_dir(&self) -> PathBuf {
        self.root.join(&self.version)
    }
    pub fn manifest(&self) -> PathBuf {
        self.version_dir().join("manifest.json")
    }
    pub fn venv(&self) -> PathBuf {
        self.version_dir().join("venv")
    }
    /// Where install attempt `id` builds its venv before it goes live by a rename. Each
    /// attempt has its own: what a killed attempt's orphans still write lands where no later
    /// attempt looks.
    pub fn staging(&self, id: &str) -> PathBuf {
        self.version_dir().join(format!("{LEFTOVER_STAGING}{id}"))
    }
    /// The live venv of attempt `id`'s predecessor, taken out of service at the swap.
    pub fn retired(&self, id: &str) -> PathBuf {
        self.version_dir().join(format!("{LEFTOVER_RETIRED}{id}"))
    }
    /// What interrupted installs left in the version directory (staging and retired venvs,
    /// trash being deleted). Only an install holding the install lock may remove them.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.version_dir()) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                [LEFTOVER_STAGING, LEFTOVER_RETIRED, LEFTOVER_TRASH]
                    .iter()
                    .any(|p| n.starts_with(p))
                    || n == ".staging"
                    || n == ".retired"
            })
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }
    pub fn logs(&self) -> PathBuf {
        self.version_dir().join("logs")
    }
    pub fn daemon_state(&self) -> PathBuf {
        self.version_dir().join("daemon.json")
    }
    pub fn daemon_log(&self) -> PathBuf {
        self.version_dir().join("daemon.log")
    }
    /// Held exclusively while installing or changing the runtime of this version.
    pub fn install_lock(&self) -> PathBuf {
        self.version_dir().join(".install.lock")
    }
    /// Held shared by every ktx using this version; prune needs it exclusively.
    pub fn use_lock(&self) -> PathBuf {
        self.version_dir().join(".use.lock")
    }
    /// Held by the live daemon for its whole life: "a daemon of this version runs" is "this
    /// lock is held" (released by the OS when the daemon ends, zombie or not).
    pub fn daemon_lock(&self) -> PathBuf {
        self.version_dir().join(".daemon.lock")
    }
    /// Held by a ktx while it starts or stops the daemon (one at a time).
    pub fn daemon_ctl_lock(&self) -> PathBuf {
        self.version_dir().join(".daemon-ctl.lock")
    }
    /// Written when a daemon failed to start: for a short while, commands go one-shot at once.
    pub fn daemon_failed(&self) -> PathBuf {
        self.version_dir().join(".daemon-failed")
    }
    /// Recent Python-backed commands of this version (a burst gets a daemon).
    pub fn recent_runs(&self) -> PathBuf {
        self.version_dir().join(".recent-runs")
    }
    /// Touched when a burst starts the daemon in the background.
    pub fn burst_start(&self) -> PathBuf {
        self.version_dir().join(".burst-start")
    }
    pub fn tools_uv(&self) -> PathBuf {
        self.root.join("tools").join("uv")
    }
    pub fn uv_dir(&self, uv_version: &str) -> PathBuf {
        self.tools_uv().join(uv_version)
    }
    pub fn uv_lock(&self) -> PathBuf {
        self.tools_uv().join(".download.lock")
    }
    /// Pythons that uv downloads for the runtime (UV_PYTHON_INSTALL_DIR), owned by ktx so that
    /// a user's `uv python uninstall` cannot pull the interpreter from under the venv.
    pub fn python_installs(&self) -> PathBuf {
        self.root.join("python")
    }
    pub fn venv_python(&self) -> PathBuf {
        venv_bin(&self.venv(), "python")
    }
    pub fn venv_daemon(&self) -> PathBuf {
        venv_bin(&self.venv(), "ktx-daemon")
    }
}

pub fn venv_bin(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{name}.exe"))
    } else {
        venv.join("bin").join(name)
    }
}

/// Whether `name` reads as a ktx version: `MAJOR.MINOR.PATCH` in digits, optionally followed
/// by `-` or `+` and dot-separated `[0-9A-Za-z-]` identifiers (semver's shape).
pub fn is_version(name: &str) -> bool {
    let (core, rest) = match name.find(['-', '+']) {
        Some(i) => (&name[..i], Some(&name[i + 1..])),
        None => (name, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        && rest.is_none_or(|r| {
            !r.is_empty()
                && r.len() <= 64
                && r.split(['.', '+']).all(|id| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        })
}

/// An absolute form of a user-given path (ktx's children run from another working directory).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Name prefixes of what interrupted installs leave in a version directory.
pub const LEFTOVER_STAGING: &str = ".staging-";
pub const LEFTOVER_RETIRED: &str = ".retired-";
pub const LEFTOVER_TRASH: &str = ".trash-";

/// An absolute directory from an environment variable.
fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn no_home(vars: &str) -> crate::error::Error {
    crate::error::Error::other(
        format!("cannot place the runtime: {vars} (none is set to an absolute directory)"),
        "set HOME, or choose the runtime's place with --runtime-dir DIR or KTX_RUNTIME_ROOT",
    )
}

/// The platform's data directory for ktx's runtime (the spec's table).
pub fn default_root() -> crate::error::Result<PathBuf> {
    if cfg!(target_os = "macos") {
        let home = env_dir("HOME").ok_or_else(|| no_home("HOME"))?;
        Ok(home.join("Library/Application Support/kaelio/ktx/runtime"))
    } else if cfg!(windows) {
        let base = env_dir("LOCALAPPDATA")
            .or_else(|| env_dir("USERPROFILE").map(|h| h.join("AppData").join("Local")))
            .ok_or_else(|| no_home("LOCALAPPDATA, USERPROFILE"))?;
        Ok(base.join("Kaelio").join("KTX").join("runtime"))
    } else {
        let data = env_dir("XDG_DATA_HOME")
            .or_else(|| env_dir("HOME").map(|h| h.join(".local/share")))
            .ok_or_else(|| no_home("XDG_DATA_HOME, HOME"))?;
        Ok(data.join("kaelio/ktx/runtime"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_version_shaped_names_are_versions() {
        for ok in [
            "0.1.0",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0+build.5",
            "0.0.9-dev",
        ] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in [
            "myproject",
            "server",
            "1.0",
            "1.0.0.0",
            ".1.0.0",
            "1.0.0-",
            "v1.0.0",
            "..",
            "1.0.0/x",
            "tools",
            "python",
        ] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let l = Layout::resolve(Some(Path::new("/tmp/a")), "1.2.3").unwrap();
        assert_eq!(l.root, PathBuf::from("/tmp/a"));
        assert_eq!(l.root_source, RootSource::Flag);
        assert_eq!(l.manifest(), PathBuf::from("/tmp/a/1.2.3/manifest.json"));
        assert_eq!(l.uv_dir("0.13.9"), PathBuf::from("/tmp/a/tools/uv/0.13.9"));
    }
}
