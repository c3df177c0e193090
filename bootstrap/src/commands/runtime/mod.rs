//! `ktx runtime install|status|start|stop|doctor|prune`: one module per subcommand, and what
//! they share: the runtime's state as the files say it.

pub mod daemon;
pub mod doctor;
pub mod install;
pub mod prune;
pub mod status;

pub use crate::manifest::RuntimeState;
