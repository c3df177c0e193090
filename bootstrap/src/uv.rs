//! Finding uv and running it for the runtime install.
//!
//! Order: `KTX_UV` (an explicit choice), `uv` on PATH, then a uv that ktx downloaded itself
//! (`<root>/tools/uv/<pinned version>/uv`). A uv that is found is used as it is; nothing is
//! downloaded then.
//!
//! What ktx sets for uv and what it leaves to the user (see the README):
//! - UV_PYTHON_INSTALL_DIR: set to `<root>/python` unless the user set it, so interpreters uv
//!   downloads for the runtime belong to ktx and `uv python uninstall` cannot break the venv.
//! - UV_CACHE_DIR, UV_PYTHON_DOWNLOADS, UV_OFFLINE, indexes, the user's uv.toml: left alone, so
//!   a corporate index, an offline mode or a shared cache configured for uv keeps working for
//!   ktx. uv runs from the runtime root with no configuration discovered around it: a
//!   `uv.toml`, `[tool.uv]` or `.python-version` in the user's directory is never read
//!   (`isolation`), the user's own uv.toml is named through UV_CONFIG_FILE.
//! - TLS trust: uv trusts what ktx's own downloads trust. A user's SSL_CERT_FILE (or their own
//!   UV_SYSTEM_CERTS / UV_NATIVE_TLS) wins. Otherwise uv uses the system store
//!   (UV_SYSTEM_CERTS, and UV_NATIVE_TLS for older uv), so a TLS-intercepting proxy whose CA is
//!   only in the system store works with no variable set; and where NODE_EXTRA_CA_CERTS or
//!   npm's cafile add CAs, uv gets one bundle of the system roots plus those
//!   (`<root>/tls/ca-<digest>.pem`, through SSL_CERT_FILE) for the commands that download.
//! - KTX_PYTHON_DOWNLOADS_JSON: a list of Python builds to download from (uv's
//!   python-downloads-json-url), e.g. an internal mirror's; UV_PYTHON_INSTALL_MIRROR is uv's own.

use crate::error::{Error, Result};
use crate::paths::Layout;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UvSource {
    Env,
    Path,
    Downloaded,
}

impl UvSource {
    pub fn describe(self) -> &'static str {
        match self {
            UvSource::Env => "KTX_UV",
            UvSource::Path => "PATH",
            UvSource::Downloaded => "downloaded by ktx",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Uv {
    pub path: PathBuf,
    pub source: UvSource,
}

pub fn exe_name() -> &'static str {
    if cfg!(windows) {
        "uv.exe"
    } else {
        "uv"
    }
}

/// Where a uv may be found, in order, without running any of them.
pub fn locate(layout: &Layout, pinned_version: &str) -> Option<Uv> {
    if let Some(p) = std::env::var_os("KTX_UV").filter(|v| !v.is_empty()) {
        return Some(Uv {
            path: PathBuf::from(p),
            source: UvSource::Env,
        });
    }
    if let Some(p) = find_on_path(exe_name()) {
        return Some(Uv {
            path: p,
            source: UvSource::Path,
        });
    }
    let downloaded = layout.uv_dir(pinned_version).join(exe_name());
    downloaded.is_file().then_some(Uv {
        path: downloaded,
        source: UvSource::Downloaded,
    })
}

/// What `locate` looked at, for the error when nothing was found.
pub fn searched(layout: &Layout, pinned_version: &str) -> String {
    format!(
        "KTX_UV, PATH, {}",
        layout.uv_dir(pinned_version).join(exe_name()).display()
    )
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// `uv --version` -> "0.13.9".
pub fn version(uv: &Path) -> Result<String> {
    let out = Command::new(uv).arg("--version").output().map_err(|e| {
        Error::other(
            format!("cannot run {}: {e}", uv.display()),
            "point KTX_UV at a working uv, or remove it to let ktx find or download one",
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .filter(|_| out.status.success())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::other(
                format!("{} --version printed {:?}", uv.display(), text.trim()),
                "point KTX_UV at a working uv",
            )
        })
}

/// A `uv` command with the environment ktx decides on (module docs).
pub fn command(uv: &Path, layout: &Layout) -> Command {
    let mut cmd = Command::new(uv);
    cmd.current_dir(crate::isolation::uv_dir(&layout.root));
    crate::isolation::uv_config(&mut cmd);
    if std::env::var_os("UV_PYTHON_INSTALL_DIR").is_none() {
        cmd.env("UV_PYTHON_INSTALL_DIR", layout.python_installs());
    }
    if std::env::var_os("SSL_CERT_FILE").is_none()
        && std::env::var_os("NODE_EXTRA_CA_CERTS").is_some()
        && std::env::var_os("UV_NATIVE_TLS").is_none()
    {
        cmd.env("UV_NATIVE_TLS", "1");
    }
    if let Some(json) = std::env::var_os("KTX_PYTHON_DOWNLOADS_JSON").filter(|v| !v.is_empty()) {
        if std::env::var_os("UV_PYTHON_DOWNLOADS_JSON_URL").is_none() {
            cmd.env("UV_PYTHON_DOWNLOADS_JSON_URL", json);
        }
    }
    if user_chose_trust().is_none() && extra_ca_files().is_empty() {
        cmd.env("UV_SYSTEM_CERTS", "1").env("UV_NATIVE_TLS", "1");
    }
    cmd.env("UV_NO_PROGRESS", "1").env("NO_COLOR", "1");
    cmd
}

/// The variable by which the user already told uv whom to trust, if any.
fn user_chose_trust() -> Option<&'static str> {
    ["SSL_CERT_FILE", "UV_SYSTEM_CERTS", "UV_NATIVE_TLS"]
        .into_iter()
        .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// CA files npm users add to the defaults: NODE_EXTRA_CA_CERTS and npm's cafile.
pub fn extra_ca_files() -> Vec<PathBuf> {
    ["NODE_EXTRA_CA_CERTS", "npm_config_cafile"]
        .into_iter()
        .filter_map(|v| std::env::var_os(v).filter(|x| !x.is_empty()))
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect()
}

/// For a uv command that downloads: when extra CAs are set (and the user chose nothing for
/// uv), point uv at one bundle of the system roots plus them.
pub fn trust_for_downloads(cmd: &mut Command, layout: &Layout) -> Result<()> {
    let extras = extra_ca_files();
    if user_chose_trust().is_some() || extras.is_empty() {
        return Ok(());
    }
    let mut pem = crate::http::native_roots_pem();
    if pem.is_empty() {
        // No system roots to combine with: keep the system store, without the extras.
        cmd.env("UV_SYSTEM_CERTS", "1").env("UV_NATIVE_TLS", "1");
        return Ok(());
    }
    for f in &extras {
        if let Ok(text) = std::fs::read_to_string(f) {
            pem.push_str(&text);
            pem.push('\n');
        }
    }
    use sha2::Digest;
    let digest = crate::package::hex(&sha2::Sha256::digest(pem.as_bytes()));
    let path = layout
        .root
        .join("tls")
        .join(format!("ca-{}.pem", &digest[..16]));
    if !path.is_file() {
        crate::atomic::write(&path, pem.as_bytes(), 0o644)?;
    }
    cmd.env("SSL_CERT_FILE", &path);
    Ok(())
}
