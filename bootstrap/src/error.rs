//! The one error type of `ktx` and the contract's exit codes (README, "Commands").
//!
//! Every error carries what it was about (a file, a URL, a command) and ends with a hint that
//! says what the user can do. `main` prints it as `error: <message>` then `  hint: <hint>`.

use std::path::PathBuf;

/// Exit codes: 0 ok, 1 error, 2 usage, 3 input rejected, 4 feature missing and no input
/// allowed, 5 integrity check failed.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const REJECTED: i32 = 3;
    pub const NEEDS_INSTALL: i32 = 4;
    pub const INTEGRITY: i32 = 5;
    /// Interrupted by SIGINT/SIGTERM (128 + SIGINT), as shells report it.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Usage { message: String, hint: String },

    /// The Python side refused the request (bad query, bad model).
    #[error("{message}")]
    Rejected { message: String },

    /// Something must be installed and nobody agreed: `why` is "input is disabled" or
    /// "declined".
    #[error("the {feature} runtime feature is not installed ({why})")]
    NeedsInstall {
        feature: String,
        command: String,
        why: &'static str,
    },

    #[error("integrity check failed for {path}: expected sha256 {expected}, found {actual}")]
    Integrity {
        path: String,
        expected: String,
        actual: String,
    },

    /// The package's parts disagree on the version (a mis-packed or half-upgraded package).
    #[error("the package's versions disagree: ktx binary {binary}, package.json {package_json}, python/runtime-manifest.json {manifest} (in {})", root.display())]
    VersionMismatch {
        binary: String,
        package_json: String,
        manifest: String,
        root: PathBuf,
    },

    #[error("{what}: {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
        hint: String,
    },

    #[error("uv was not found")]
    UvMissing { searched: String },

    #[error("installing the Python runtime failed: {reason}")]
    InstallFailed { reason: String, log: PathBuf },

    /// SIGINT or SIGTERM stopped the work; `state` says what was left (one line).
    #[error("interrupted: {state}")]
    Interrupted { state: String },

    /// A project found upward that ktx does not trust unless named (git's safe.directory).
    #[error("{message}")]
    Untrusted { message: String, hint: String },

    #[error("{message}")]
    Other { message: String, hint: String },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. } => exit::USAGE,
            Error::Rejected { .. } | Error::Untrusted { .. } => exit::REJECTED,
            Error::NeedsInstall { .. } => exit::NEEDS_INSTALL,
            Error::Integrity { .. } | Error::VersionMismatch { .. } => exit::INTEGRITY,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            _ => exit::ERROR,
        }
    }

    /// What the user can do about it, or nothing when the message says it all.
    pub fn hint(&self) -> Option<String> {
        let h = match self {
            Error::Usage { hint, .. }
            | Error::Io { hint, .. }
            | Error::Untrusted { hint, .. }
            | Error::Other { hint, .. } => hint.clone(),
            Error::Rejected { .. } | Error::Interrupted { .. } => String::new(),
            Error::NeedsInstall { command, .. } => format!("run: {command}"),
            Error::Integrity { .. } => "the package is damaged or was tampered with; reinstall @kaelio/ktx (npm cache clean --force, then run it again)".into(),
            Error::VersionMismatch { package_json, .. } => format!(
                "the package is mis-packed or half-upgraded; reinstall it whole: `npm install @kaelio/ktx@{}` (or `npx --yes @kaelio/ktx@{} ...` after `npm cache clean --force`)",
                if package_json == "absent" { "latest" } else { package_json },
                if package_json == "absent" { "latest" } else { package_json },
            ),
            Error::UvMissing { searched } => format!(
                "ktx needs uv to build its Python runtime (searched: {searched}).\n  \
                 Get it with `ktx bootstrap` (downloads a pinned, checksum-verified uv), or install it yourself:\n    \
                 curl -LsSf https://astral.sh/uv/install.sh | sh      (macOS, Linux)\n    \
                 pip install uv                                       (anywhere with Python)\n  \
                 or point KTX_UV at a uv executable, then run the command again"
            ),
            Error::InstallFailed { log, .. } => format!(
                "the full log is {}; fix the cause and run `ktx runtime install`, or `ktx runtime doctor` for a diagnosis",
                crate::output::shell_quote(&log.display().to_string())
            ),
        };
        (!h.is_empty()).then_some(h)
    }

    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        let hint = match source.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "check the permissions of {} or choose another place with --runtime-dir / KTX_RUNTIME_ROOT",
                crate::output::shell_quote(&path.display().to_string())
            ),
            _ => String::new(),
        };
        Error::Io {
            what: what.into(),
            path,
            source,
            hint,
        }
    }

    pub fn other(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Other {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
