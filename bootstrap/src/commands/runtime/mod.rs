//! `ktx runtime install|status|start|stop|doctor|prune`: one module per subcommand, and what
//! they share: the runtime's state as the files say it.

pub mod daemon;
pub mod doctor;
pub mod install;
pub mod prune;
pub mod status;

use crate::manifest::{self, RuntimeManifest, State};
use crate::package::Package;
use crate::paths::Layout;

/// What the files say about this version's runtime (no process is run).
#[derive(Debug)]
pub enum RuntimeState {
    NotInstalled,
    Installed(Box<RuntimeManifest>),
    /// Installed by another ktx version, or from another wheel.
    Outdated {
        manifest: Box<RuntimeManifest>,
        why: String,
    },
    /// A manifest that cannot be read, or a venv that cannot run.
    Broken {
        manifest: Option<Box<RuntimeManifest>>,
        why: String,
    },
}

impl RuntimeState {
    pub fn read(layout: &Layout, pkg: Option<&Package>) -> RuntimeState {
        match manifest::read(layout) {
            State::Missing => RuntimeState::NotInstalled,
            State::Corrupt(why) => RuntimeState::Broken {
                manifest: None,
                why,
            },
            State::Present(m) => {
                if let Some(why) = pkg
                    .and_then(|p| manifest::mismatch(&m, &layout.version, &p.manifest.wheel.sha256))
                {
                    return RuntimeState::Outdated { manifest: m, why };
                }
                match manifest::unusable(&m) {
                    Some(why) => RuntimeState::Broken {
                        manifest: Some(m),
                        why,
                    },
                    None => RuntimeState::Installed(m),
                }
            }
        }
    }

    /// As `runtime status --json` says it.
    pub fn name(&self) -> &'static str {
        match self {
            RuntimeState::NotInstalled => "not-installed",
            RuntimeState::Installed(_) => "installed",
            RuntimeState::Outdated { .. } => "outdated",
            RuntimeState::Broken { .. } => "broken",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            RuntimeState::Outdated { why, .. } | RuntimeState::Broken { why, .. } => Some(why),
            _ => None,
        }
    }

    pub fn manifest(&self) -> Option<&RuntimeManifest> {
        match self {
            RuntimeState::Installed(m) | RuntimeState::Outdated { manifest: m, .. } => Some(m),
            RuntimeState::Broken { manifest, .. } => manifest.as_deref(),
            RuntimeState::NotInstalled => None,
        }
    }
}
