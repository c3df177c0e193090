//! ktx: the KTX CLI and the manager of the Python runtime behind it.
//!
//! Start at `cli` (the command line) and `commands/` (one module per command group). The KTX
//! project side is `project` (ktx.yaml, connections) -> `sources` (the resolved sources sent to
//! Python) -> `protocol` (the ktx-daemon ops) -> `sqlite` (running the compiled SQL). The
//! runtime manager is `paths` (layout) -> `package` (the npm package's wheel and pins) -> `uv`
//! and `uv_download` (find or download uv) -> `install` (lock, staging venv, atomic commit of
//! `manifest`) -> `oneshot` / `daemon` (running ktx-daemon). `error` holds the exit codes.

#[macro_use]
pub mod output;

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod context;
pub mod daemon;
pub mod disk;
pub mod error;
pub mod feature;
pub mod http;
pub mod index;
pub mod install;
pub mod isolation;
pub mod lock;
pub mod manifest;
pub mod oneshot;
pub mod package;
pub mod paths;
pub mod process;
pub mod progress;
pub mod project;
pub mod prompt;
pub mod protocol;
pub mod python;
pub mod sources;
pub mod sqlite;
pub mod table;
pub mod targets;
pub mod uv;
pub mod uv_download;

/// The version of this CLI, of its npm package and of the wheel it installs: the crate's,
/// unless the build sets `KTX_BUILD_VERSION` (`ktx-release` does, to pack another version from
/// this tree, e.g. the previous one for the upgrade check).
pub const VERSION: &str = match option_env!("KTX_BUILD_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};
