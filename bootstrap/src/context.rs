//! What every command gets: the runtime layout, the user's consent settings and verbosity.

use crate::paths::Layout;
use crate::prompt::Consent;

#[derive(Debug, Clone)]
pub struct Ctx {
    pub layout: Layout,
    pub consent: Consent,
    pub verbose: bool,
}

impl Ctx {
    /// The command a user runs to prepare `feature` by hand (printed with exit 4).
    pub fn install_command(&self, feature: &str) -> String {
        let mut cmd = String::from("ktx runtime install");
        if feature != crate::manifest::CORE {
            cmd.push_str(&format!(" --feature {feature}"));
        }
        if self.layout.root_source == crate::paths::RootSource::Flag {
            cmd.push_str(&format!(" --runtime-dir {}", self.layout.root.display()));
        }
        cmd
    }
}
