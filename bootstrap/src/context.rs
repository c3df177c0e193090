//! What every command gets: the runtime layout, the user's consent settings, verbosity and
//! the `--project-dir` flag.

use crate::commands::DaemonMode;
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
