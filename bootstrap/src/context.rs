//! What every command gets: the runtime layout, the user's consent settings, verbosity and
//! the `--project-dir` flag.

use crate::error::Result;
use crate::paths::Layout;
use crate::prompt::Consent;
use std::path::PathBuf;

#[derive(Debug)]
pub struct Ctx {
    pub layout: Layout,
    pub consent: Consent,
    pub verbose: bool,
    /// `--project-dir`, when given (commands on a project fall back to KTX_PROJECT_DIR, then
    /// the nearest ktx.yaml).
    pub project_dir: Option<PathBuf>,
    pub daemon_mode: DaemonMode,
}

impl Ctx {
    /// A context with the defaults: quiet, project found from the working directory, daemon
    /// policy `auto`.
    pub fn new(layout: Layout, consent: Consent) -> Ctx {
        Ctx {
            layout,
            consent,
            verbose: false,
            project_dir: None,
            daemon_mode: DaemonMode::Auto,
        }
    }

    /// The command a user runs to prepare `feature` by hand (printed with exit 4).
    pub fn install_command(&self, feature: crate::feature::Feature) -> String {
        let mut cmd = String::from("ktx runtime install");
        if feature != crate::feature::Feature::Core {
            cmd.push_str(&format!(" --feature {feature}"));
        }
        if self.layout.root_source == crate::paths::RootSource::Flag {
            cmd.push_str(&format!(
                " --runtime-dir {}",
                crate::output::shell_quote(&self.layout.root.display().to_string())
            ));
        }
        cmd
    }
}

/// When Python-backed commands go through the daemon (`KTX_DAEMON`, `--no-daemon`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DaemonMode {
    /// One-shot by default; a running daemon is used; a burst of commands starts one.
    Auto,
    /// Never through a daemon (one-shot always).
    Never,
    /// Always through the daemon, starting it when none runs.
    Always,
}

impl DaemonMode {
    /// `--no-daemon` wins; else KTX_DAEMON (auto, never, always; default auto).
    pub fn from_env(no_daemon: bool) -> Result<DaemonMode> {
        if no_daemon {
            return Ok(DaemonMode::Never);
        }
        match std::env::var("KTX_DAEMON").unwrap_or_default().trim() {
            "" | "auto" => Ok(DaemonMode::Auto),
            "never" | "0" | "off" => Ok(DaemonMode::Never),
            "always" | "1" | "on" => Ok(DaemonMode::Always),
            other => Err(crate::error::Error::usage(
                format!("KTX_DAEMON={other} is not auto, never or always"),
                "unset it, or set it to auto (the default), never or always",
            )),
        }
    }
}
