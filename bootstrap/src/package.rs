//! The npm package this `ktx` came in: where it is, and its `python/runtime-manifest.json`
//! (the bundled wheel's name and sha256, the pinned uv and its per-target digests).
//!
//! The launcher (`dist/bin.js`) sets `KTX_PACKAGE_ROOT`; a binary run directly finds the package
//! from its own path (`<root>/native/<dir>/ktx`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const MANIFEST_PATH: &str = "python/runtime-manifest.json";

/// `python/runtime-manifest.json` in the npm package.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BundledManifest {
    pub version: String,
    pub wheel: FileDigest,
    /// The wheel's Requires-Python (e.g. ">=3.13"); the venv is created for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// The wheel's top-level import packages; a runtime is verified by importing them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    pub uv: UvPin,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileDigest {
    pub file: String,
    pub sha256: String,
}

/// The uv this release pins: its version and, per target triple and per source (`index`,
/// `github`), the artefact's file name and sha256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UvPin {
    pub version: String,
    pub targets: BTreeMap<String, BTreeMap<String, Artefact>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artefact {
    pub file: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A located package.
#[derive(Debug, Clone)]
pub struct Package {
    pub root: PathBuf,
    pub manifest: BundledManifest,
}

impl Package {
    /// Find the package: `KTX_PACKAGE_ROOT`, else the directory this binary sits in.
    pub fn locate() -> Result<Package> {
        let root = match std::env::var_os("KTX_PACKAGE_ROOT") {
            Some(r) if !r.is_empty() => PathBuf::from(r),
            _ => exe_package_root().ok_or_else(|| {
                Error::other(
                    "cannot find the bundled Python payload (python/runtime-manifest.json) for this ktx",
                    "run ktx through the @kaelio/ktx npm package (npx @kaelio/ktx ...), or set KTX_PACKAGE_ROOT to the package directory",
                )
            })?,
        };
        Package::load(&root)
    }

    pub fn load(root: &Path) -> Result<Package> {
        let path = root.join(MANIFEST_PATH);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io("cannot read the package's runtime manifest", &path, e))?;
        let manifest: BundledManifest = serde_json::from_str(&text).map_err(|e| {
            Error::other(
                format!("{} is not a valid runtime manifest: {e}", path.display()),
                "the package is damaged; reinstall @kaelio/ktx",
            )
        })?;
        // One version or a clear stop: a mis-packed upgrade must not run (or reuse a daemon)
        // under the wrong version.
        let package_json = package_json_version(root);
        if manifest.version != crate::VERSION
            || package_json.as_deref().is_some_and(|v| v != crate::VERSION)
        {
            return Err(Error::VersionMismatch {
                binary: crate::VERSION.to_string(),
                package_json: package_json.unwrap_or_else(|| "absent".into()),
                manifest: manifest.version,
                root: root.to_path_buf(),
            });
        }
        Ok(Package {
            root: root.to_path_buf(),
            manifest,
        })
    }

    pub fn wheel_path(&self) -> PathBuf {
        self.root.join("python").join(&self.manifest.wheel.file)
    }

    pub fn demo_dir(&self) -> PathBuf {
        self.root.join("assets").join("demo")
    }

    /// The names of the wheel's base dependencies (Requires-Dist without an extra), read from
    /// its METADATA: what a first install downloads.
    pub fn dependency_names(&self) -> Vec<String> {
        let Some(meta) = self.wheel_metadata() else {
            return Vec::new();
        };
        meta.lines()
            .filter_map(|l| l.strip_prefix("Requires-Dist:"))
            .filter(|r| !r.contains("extra =="))
            .filter_map(|r| {
                let name: String = r
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                (!name.is_empty()).then_some(name)
            })
            .collect()
    }

    fn wheel_metadata(&self) -> Option<String> {
        let file = std::fs::File::open(self.wheel_path()).ok()?;
        let mut zip = zip::ZipArchive::new(file).ok()?;
        let name = zip
            .file_names()
            .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)?
            .to_string();
        let mut text = String::new();
        zip.by_name(&name).ok()?.read_to_string(&mut text).ok()?;
        Some(text)
    }

    /// Hash the bundled wheel and compare it with the manifest (exit 5 on mismatch).
    pub fn verify_wheel(&self) -> Result<()> {
        let path = self.wheel_path();
        let actual = sha256_file(&path)?;
        if actual != self.manifest.wheel.sha256 {
            return Err(Error::Integrity {
                path: path.display().to_string(),
                expected: self.manifest.wheel.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// The package around this binary, from its own (symlink-resolved) path: `<root>/native/<dir>/ktx`
/// as packed, also when run through a symlink or a copy elsewhere in the package; whichever of
/// the nearest ancestors holds the runtime manifest. A binary of a platform package
/// (`node_modules/@kaelio/ktx-<dir>/ktx`, run directly rather than through the launcher, which
/// sets KTX_PACKAGE_ROOT) finds the main package beside it (`../ktx`, npm's and Yarn's flat
/// layout) or around it (`@kaelio/ktx/node_modules/@kaelio/ktx-<dir>`, npm's nested layout).
fn exe_package_root() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let has_manifest = |dir: &Path| dir.join(MANIFEST_PATH).is_file();
    if let Some(found) = exe.ancestors().skip(1).take(3).find(|d| has_manifest(d)) {
        return Some(found.to_path_buf());
    }
    let own = exe.parent()?;
    let name = own.file_name()?.to_str()?;
    let scope = own.parent()?;
    if !name.starts_with("ktx-") || scope.file_name()? != "@kaelio" {
        return None;
    }
    let beside = scope.join("ktx");
    let around = scope.parent()?.parent()?;
    let found = [beside.as_path(), around]
        .into_iter()
        .find(|d| has_manifest(d))
        .map(Path::to_path_buf);
    found
}

/// The `version` of `<root>/package.json`, if there is one.
fn package_json_version(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["version"].as_str().map(str::to_string)
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::io("cannot open for hashing", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read for hashing", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
