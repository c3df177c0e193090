//! `<root>/<version>/manifest.json`: the record of an installed runtime and its commit point.
//! It is written last and atomically, so its presence means the venv under it is complete.

use crate::error::Result;
use crate::feature::Feature;
use crate::package::FileDigest;
use crate::paths::{is_version, Layout};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeManifest {
    pub cli_version: String,
    pub wheel: FileDigest,
    pub python: PythonInfo,
    /// The ktx-daemon executable.
    pub daemon: String,
    pub features: Vec<Feature>,
    pub uv: UvInfo,
    pub installed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PythonInfo {
    /// The venv's python.
    pub executable: String,
    pub version: String,
    /// The interpreter the venv was created from.
    #[serde(default)]
    pub base: String,
    /// Where that interpreter came from: "system" or "managed" (downloaded by uv for ktx).
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UvInfo {
    pub path: String,
    pub version: String,
    /// Where ktx found it: KTX_UV, PATH, or downloaded.
    #[serde(default)]
    pub source: String,
}

/// What is on disk where a manifest should be.
#[derive(Debug)]
pub enum State {
    Missing,
    Corrupt(String),
    Present(Box<RuntimeManifest>),
}

pub fn read(layout: &Layout) -> State {
    let path = layout.manifest();
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::Missing,
        Err(e) => State::Corrupt(format!("cannot read {}: {e}", path.display())),
        Ok(bytes) => match serde_json::from_slice::<RuntimeManifest>(&bytes) {
            Ok(m) => State::Present(Box::new(m)),
            Err(e) => State::Corrupt(format!("{} is not a valid manifest: {e}", path.display())),
        },
    }
}

pub fn write(layout: &Layout, m: &RuntimeManifest) -> Result<()> {
    crate::atomic::write_json(&layout.manifest(), m, 0o644)
}

impl RuntimeManifest {
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }

    /// The features as words, for messages: "core, local-embeddings".
    pub fn feature_list(&self) -> String {
        self.features
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why the venv a manifest records cannot run, from files only: its python is gone, or the
/// base interpreter that python links to vanished (a Python upgraded or removed).
pub fn unusable(m: &RuntimeManifest) -> Option<String> {
    let python = std::path::Path::new(&m.python.executable);
    if std::fs::symlink_metadata(python).is_err() {
        return Some(format!("its python {} is missing", python.display()));
    }
    if !python.exists() {
        let target = std::fs::read_link(python)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| m.python.base.clone());
        return Some(format!(
            "the interpreter its venv was made from, {target}, is gone"
        ));
    }
    // <venv>/bin/python -> <venv>/pyvenv.cfg, whose `home` is the base interpreter's directory.
    let venv = python.parent().and_then(|b| b.parent())?;
    match pyvenv_value(venv, "home") {
        Some(home) if !std::path::Path::new(&home).is_dir() => Some(format!(
            "the directory of the base interpreter its venv was made from, {home}, is gone"
        )),
        Some(_) => None,
        None => Some(format!("{} has no pyvenv.cfg", venv.display())),
    }
}

/// Why an installed runtime cannot serve this CLI as it is, if it cannot.
pub fn mismatch(m: &RuntimeManifest, version: &str, wheel_sha256: &str) -> Option<String> {
    if m.cli_version != version {
        return Some(format!(
            "it was installed by ktx {}, this is ktx {version}",
            m.cli_version
        ));
    }
    if m.wheel.sha256 != wheel_sha256 {
        return Some("its wheel differs from the one this package carries".into());
    }
    None
}

/// `version_info` (uv) or `version` (venv module) from pyvenv.cfg.
pub fn venv_python_version(venv: &std::path::Path) -> Option<String> {
    pyvenv_value(venv, "version_info").or_else(|| pyvenv_value(venv, "version"))
}

/// A key of `<venv>/pyvenv.cfg`.
pub fn pyvenv_value(venv: &std::path::Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// How many entries of the root a listing reads at most: the root may be a crowded shared
/// directory, and a walk over it stays bounded.
const MAX_ROOT_ENTRIES: usize = 10_000;
/// A manifest ktx writes is about 1 KB; anything much larger is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Every runtime version directory under the root that ktx provably made, this one
/// included, sorted by name: a real directory (never a symlink) whose name parses as a
/// version and which holds a `manifest.json` written by ktx for that version (`owned`).
/// The root may be a directory the user shares with other things (`KTX_RUNTIME_DIR=$HOME`):
/// nothing else under it is ever taken for a runtime.
pub fn installed_versions(layout: &Layout) -> Vec<Layout> {
    let Ok(rd) = std::fs::read_dir(&layout.root) else {
        return Vec::new();
    };
    let mut found: Vec<Layout> = rd
        .flatten()
        .take(MAX_ROOT_ENTRIES)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_version(n))
        .map(|n| layout.for_version(&n))
        .filter(|l| owned(l).is_ok())
        .collect();
    found.sort_by(|a, b| a.version.cmp(&b.version));
    found
}

/// Why this version directory is ktx's: `Ok(reason)` when it is a real directory (not a
/// symlink) named as a version, holding a regular `manifest.json` that parses as ktx's
/// manifest and names this version; else `Err(why not)`.
pub fn owned(layout: &Layout) -> std::result::Result<String, String> {
    if !is_version(&layout.version) {
        return Err(format!("{:?} is not a version", layout.version));
    }
    let dir = layout.version_dir();
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_symlink() => return Err("a symlink".into()),
        Ok(m) if !m.is_dir() => return Err("not a directory".into()),
        Ok(_) => {}
        Err(e) => return Err(e.to_string()),
    }
    let manifest = layout.manifest();
    match std::fs::symlink_metadata(&manifest) {
        Ok(m) if m.is_file() && m.len() <= MAX_MANIFEST_BYTES => {}
        Ok(_) => return Err("manifest.json is not a regular file of ktx's size".into()),
        Err(_) => return Err("no manifest.json".into()),
    }
    match read(layout) {
        State::Present(m) if m.cli_version == layout.version => Ok(format!(
            "a runtime ktx {} installed (manifest.json of {})",
            m.cli_version, m.installed_at
        )),
        State::Present(m) => Err(format!("its manifest.json names version {}", m.cli_version)),
        _ => Err("manifest.json is not ktx's".into()),
    }
}

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
    /// The one place that decides whether the runtime can serve this CLI: `wheel_sha256` is
    /// the package's wheel when it is known (a runtime from another wheel is outdated).
    pub fn read(layout: &Layout, wheel_sha256: Option<&str>) -> RuntimeState {
        match read(layout) {
            State::Missing => RuntimeState::NotInstalled,
            State::Corrupt(why) => RuntimeState::Broken {
                manifest: None,
                why,
            },
            State::Present(m) => {
                if let Some(why) = wheel_sha256.and_then(|w| mismatch(&m, &layout.version, w)) {
                    return RuntimeState::Outdated { manifest: m, why };
                }
                match unusable(&m) {
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

    /// The manifest of a runtime that can serve this CLI as it is.
    pub fn usable(self) -> Option<RuntimeManifest> {
        match self {
            RuntimeState::Installed(m) => Some(*m),
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

/// RFC 3339 UTC timestamp of now, second precision.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_778_457_600), "2026-05-11T00:00:00Z");
    }
}
