//! `ktx setup demo`: writes the package's demo project (assets/demo) into a directory. Pure: no
//! Python, no runtime.
//!
//! It writes only its own files. A new or empty directory gets the demo whole (built beside
//! it, then renamed: an interrupted setup leaves no half demo). A non-empty one needs --force,
//! and then only the demo's own files are replaced: a file whose content is the demo's (this
//! version's, or the one the last setup recorded in `.ktx-demo.json`); anything else, such as
//! your own README.md, is kept and named. The filesystem root and your home directory itself
//! are refused.

use crate::error::{Error, Result};
use crate::output::shell_quote;
use crate::package::{hex, Package};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the last setup wrote: relative path -> sha256.
const RECORD: &str = ".ktx-demo.json";

pub fn demo(dir: &Path, force: bool) -> Result<()> {
    let pkg = Package::locate()?;
    let src = pkg.demo_dir();
    if !src.join("ktx.yaml").is_file() {
        return Err(Error::other(
            format!("the package has no demo project at {}", src.display()),
            "the package is damaged; reinstall @kaelio/ktx",
        ));
    }
    let target = crate::paths::absolute(dir);
    refuse_special(&target)?;
    let files = demo_files(&src)?;
    let non_empty = target.exists()
        && std::fs::read_dir(&target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
    if non_empty && !force {
        return Err(Error::usage(
            format!("{} already exists and is not empty", target.display()),
            format!(
                "choose another directory with --project-dir, or pass --force to replace the demo's own files in {} (yours are kept)",
                shell_quote(&target.display().to_string())
            ),
        ));
    }
    if non_empty {
        update_in_place(&target, &files)?;
    } else {
        write_fresh(&target, &files)?;
    }
    outln!("Wrote the demo project to {}", target.display());
    outln!("Try:");
    outln!(
        "  ktx sl query --project-dir {} --connection-id warehouse --measure orders.revenue --dimension customers.country --execute --format table",
        shell_quote(&dir.display().to_string())
    );
    Ok(())
}

/// `/`, and the home directory itself: a demo never spreads its files there.
fn refuse_special(target: &Path) -> Result<()> {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let t = canon(target);
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .map(|h| canon(&h));
    if t.parent().is_none() || home.as_deref() == Some(t.as_path()) {
        return Err(Error::usage(
            format!(
                "refusing to write the demo into {} itself",
                target.display()
            ),
            "choose a directory of its own, e.g. --project-dir ktx-demo",
        ));
    }
    Ok(())
}

/// The demo's files: relative path -> content.
fn demo_files(src: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
        for e in std::fs::read_dir(dir).map_err(|e| Error::io("cannot read", dir, e))? {
            let e = e.map_err(|e| Error::io("cannot read", dir, e))?;
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out)?;
            } else {
                let bytes = std::fs::read(&p).map_err(|e| Error::io("cannot read", &p, e))?;
                out.insert(p.strip_prefix(root).unwrap_or(&p).to_path_buf(), bytes);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out)?;
    Ok(out)
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(path, bytes, 0o644)
}

fn record(files: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<u8> {
    let map: BTreeMap<String, String> = files
        .iter()
        .map(|(p, b)| (p.to_string_lossy().replace('\\', "/"), sha(b)))
        .collect();
    serde_json::to_vec_pretty(&map).expect("serializable")
}

/// A new directory: everything, built beside it and renamed into place.
fn write_fresh(target: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".ktx-demo-")
        .tempdir_in(parent)
        .map_err(|e| Error::io("cannot write in", parent, e))?;
    for (rel, bytes) in files {
        write_file(&tmp.path().join(rel), bytes)?;
    }
    write_file(&tmp.path().join(RECORD), &record(files))?;
    if target.exists() {
        // An empty directory: move the files in (it may be a mount point or shared).
        for (rel, bytes) in files {
            write_file(&target.join(rel), bytes)?;
        }
        write_file(&target.join(RECORD), &record(files))?;
    } else {
        std::fs::rename(tmp.path(), target).map_err(|e| Error::io("cannot create", target, e))?;
    }
    Ok(())
}

/// --force on a non-empty directory: replace only what is the demo's.
fn update_in_place(target: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
    let recorded: BTreeMap<String, String> = std::fs::read(target.join(RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut written = BTreeMap::new();
    let mut kept = Vec::new();
    for (rel, bytes) in files {
        let path = target.join(rel);
        let key = rel.to_string_lossy().replace('\\', "/");
        match std::fs::read(&path) {
            Err(_) => {
                write_file(&path, bytes)?;
                written.insert(rel.clone(), bytes.clone());
            }
            Ok(existing) => {
                let theirs = sha(&existing);
                if theirs == sha(bytes) {
                    written.insert(rel.clone(), bytes.clone());
                } else if recorded.get(&key) == Some(&theirs) {
                    write_file(&path, bytes)?;
                    written.insert(rel.clone(), bytes.clone());
                } else {
                    kept.push(key);
                }
            }
        }
    }
    write_file(&target.join(RECORD), &record(&written))?;
    for k in &kept {
        errln!("ktx: kept your {k} (it is not the demo's; the demo's version was not written)");
    }
    Ok(())
}
