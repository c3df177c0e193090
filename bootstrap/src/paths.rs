//! The runtime layout: the one place that knows where things live (README, "Where things live").
//!
//! ```text
//! <root>/<cli-version>/manifest.json   commit point: present means installed
//! <root>/<cli-version>/venv/           the virtual environment
//! <root>/<cli-version>/logs/           install-<timestamp>.log
//! <root>/<cli-version>/daemon.json     daemon state, mode 0600
//! <root>/<cli-version>/daemon.log      the daemon's stdout and stderr
//! <root>/tools/uv/<uv-version>/uv      a uv ktx downloaded
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
    /// `--runtime-dir` > `KTX_RUNTIME_ROOT` > `KTX_RUNTIME_DIR` > the platform default.
    pub fn resolve(flag: Option<&Path>, version: &str) -> Layout {
        let from_env = ROOT_ENV.iter().find_map(|var| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(|p| (absolute(Path::new(&p)), RootSource::Env(var)))
        });
        let (root, root_source) = match (flag, from_env) {
            (Some(p), _) => (absolute(p), RootSource::Flag),
            (None, Some(env)) => env,
            (None, None) => (default_root(), RootSource::Default),
        };
        Layout {
            root,
            root_source,
            version: version.to_string(),
        }
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
    /// Where a venv is built before it goes live by a rename.
    pub fn staging(&self) -> PathBuf {
        self.version_dir().join(".staging")
    }
    /// A venv taken out of service, removed after the new one is live.
    pub fn retired(&self) -> PathBuf {
        self.version_dir().join(".retired")
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
    /// Held exclusively while starting or stopping the daemon.
    pub fn daemon_lock(&self) -> PathBuf {
        self.version_dir().join(".daemon.lock")
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

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The platform's data directory for ktx's runtime (the spec's table).
pub fn default_root() -> PathBuf {
    if cfg!(target_os = "macos") {
        home().join("Library/Application Support/kaelio/ktx/runtime")
    } else if cfg!(windows) {
        let base = std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| home().join("AppData").join("Local"));
        base.join("Kaelio").join("KTX").join("runtime")
    } else {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home().join(".local/share"));
        data.join("kaelio/ktx/runtime")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_environment() {
        let l = Layout::resolve(Some(Path::new("/tmp/a")), "1.2.3");
        assert_eq!(l.root, PathBuf::from("/tmp/a"));
        assert_eq!(l.root_source, RootSource::Flag);
        assert_eq!(l.manifest(), PathBuf::from("/tmp/a/1.2.3/manifest.json"));
        assert_eq!(l.uv_dir("0.13.9"), PathBuf::from("/tmp/a/tools/uv/0.13.9"));
    }
}
