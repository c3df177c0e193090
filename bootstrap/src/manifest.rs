//! `<root>/<version>/manifest.json`: the record of an installed runtime and its commit point.
//! It is written last and atomically, so its presence means the venv under it is complete.

use crate::error::Result;
use crate::feature::Feature;
use crate::package::FileDigest;
use crate::paths::Layout;
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
    match crate::install::pyvenv_value(venv, "home") {
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
