//! The uv pin of a release: for each target the package supports, the artefact and its sha256 per
//! source, read from the sources' own metadata at release time (never typed by hand).
//!
//! `index`: the uv wheel on the Python package index (PEP 691/503 pages carry sha256 digests).
//! `github`: the release archive, whose digest GitHub publishes as `<archive>.sha256`; when
//! GitHub cannot be reached the `github` pins are left out with a warning (the `index` source is
//! the default and is required).

use anyhow::{bail, Context, Result};
use ktx_bootstrap::package::{Artefact, UvPin};
use ktx_bootstrap::targets::{wheel_has_platform_tag, TARGETS};
use std::collections::BTreeMap;
use std::path::Path;

/// The uv version this release pins. Bump it here; everything else follows.
pub const UV_VERSION: &str = "0.13.9";

/// Resolve the pins, using `cache` (a JSON file) when it already holds this version's.
pub fn resolve(cache: &Path, require_github: bool) -> Result<UvPin> {
    if let Ok(text) = std::fs::read_to_string(cache) {
        if let Ok(pin) = serde_json::from_str::<UvPin>(&text) {
            let has_github = pin.targets.values().all(|s| s.contains_key("github"));
            if pin.version == UV_VERSION && (has_github || !require_github) {
                return Ok(pin);
            }
        }
    }
    let pin = fetch(require_github)?;
    if let Some(dir) = cache.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = cache.with_extension("json.partial");
    std::fs::write(&tmp, serde_json::to_string_pretty(&pin)?)?;
    std::fs::rename(&tmp, cache)?;
    Ok(pin)
}

fn fetch(require_github: bool) -> Result<UvPin> {
    let (index, from) = ktx_bootstrap::index::configured_index();
    eprintln!("  resolving uv {UV_VERSION} digests from {index} ({from})");
    let files =
        ktx_bootstrap::index::project_files(&index, "uv").map_err(|e| anyhow::anyhow!("{e}"))?;
    let prefix = format!("uv-{UV_VERSION}-");
    let mut targets = BTreeMap::new();
    for t in TARGETS {
        let f = files
            .iter()
            .filter(|f| f.filename.starts_with(&prefix))
            .find(|f| wheel_has_platform_tag(&f.filename, t.wheel_tag))
            .with_context(|| {
                format!(
                    "the index {index} has no uv {UV_VERSION} wheel tagged {} (for {})",
                    t.wheel_tag, t.triple
                )
            })?;
        let sha = f.sha256.clone().with_context(|| {
            format!("the index {index} lists {} without a sha256 digest; use an index that publishes digests", f.filename)
        })?;
        let mut sources = BTreeMap::new();
        sources.insert(
            "index".to_string(),
            Artefact {
                file: f.filename.clone(),
                sha256: sha,
                size: f.size,
            },
        );
        targets.insert(t.triple.to_string(), sources);
    }
    match github_pins() {
        Ok(pins) => {
            for (triple, art) in pins {
                targets
                    .get_mut(&triple)
                    .expect("every target")
                    .insert("github".into(), art);
            }
        }
        Err(e) if !require_github => {
            eprintln!("  warning: no github pins for uv ({e}); the package supports the index source and mirrors of it")
        }
        Err(e) => bail!("cannot resolve the github pins for uv {UV_VERSION}: {e}"),
    }
    Ok(UvPin {
        version: UV_VERSION.to_string(),
        targets,
    })
}

fn github_pins() -> Result<Vec<(String, Artefact)>> {
    let mut out = Vec::new();
    for t in TARGETS {
        let url = format!(
            "https://github.com/astral-sh/uv/releases/download/{UV_VERSION}/{}.sha256",
            t.github_archive
        );
        let body = ktx_bootstrap::http::get(&url, None)
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?
            .into_string()?;
        let sha = body.split_whitespace().next().unwrap_or("").to_string();
        if sha.len() != 64 {
            bail!("{url} does not hold a sha256 digest");
        }
        out.push((
            t.triple.to_string(),
            Artefact {
                file: t.github_archive.to_string(),
                sha256: sha,
                size: None,
            },
        ));
    }
    Ok(out)
}
