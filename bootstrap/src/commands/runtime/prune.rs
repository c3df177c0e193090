//! `ktx runtime prune [--dry-run]`: other versions' runtimes, old logs and unused downloaded uv
//! versions; deletes only with --yes (or KTX_YES), and never what a running ktx uses.
//!
//! Only what ktx provably made is deleted: a version directory whose name parses as a version
//! and which holds ktx's manifest for that version (`Layout::owned`), an `install-*.log` file
//! in this version's logs, a `tools/uv/<version>` directory holding a uv. Nothing is followed
//! through a symlink, nothing is created where a symlink points, and `--dry-run` says why each
//! item qualifies.

use crate::context::Ctx;
use crate::daemon::Stopped;
use crate::disk::{human, tree_size};
use crate::error::{Error, Result};
use crate::lock;
use crate::manifest::{self, State};
use crate::package::Package;
use std::path::{Path, PathBuf};

/// `ktx runtime prune`: deletes only with `--yes` (or KTX_YES); `--dry-run` previews.
pub fn run(ctx: &Ctx, dry_run: bool) -> Result<()> {
    if !dry_run && !ctx.consent.yes {
        let removals = prune_pass(ctx, true, &mut |_| {})?;
        if removals == 0 {
            outln!("nothing to prune");
            return Ok(());
        }
        return Err(Error::other(
            format!(
                "ktx runtime prune would delete {removals} item{} and asks for --yes first",
                if removals == 1 { "" } else { "s" }
            ),
            "see what it removes with `ktx runtime prune --dry-run`, then run `ktx runtime prune --yes`",
        ));
    }
    prune_pass(ctx, dry_run, &mut |line| outln!("{line}"))?;
    Ok(())
}

/// One pass of prune; returns how many things it removed (or would remove).
fn prune_pass(ctx: &Ctx, dry_run: bool, say: &mut dyn FnMut(String)) -> Result<usize> {
    let layout = &ctx.layout;
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut removals = 0usize;
    let mut freed = 0u64;
    let mut kept_uv: Vec<String> = Vec::new();
    if !layout.root.is_dir() {
        say(format!(
            "nothing to prune: {} does not exist",
            layout.root.display()
        ));
        return Ok(0);
    }
    if let State::Present(m) = manifest::read(layout) {
        kept_uv.push(m.uv.path.clone());
    }
    for other in layout.all_versions() {
        if other.version == layout.version {
            continue;
        }
        let (name, path) = (other.version.clone(), other.version_dir());
        let why = match other.owned() {
            Ok(why) => why,
            Err(_) => continue,
        };
        // A running ktx of that version holds the use lock shared.
        let Some(_guard) = lock::try_exclusive(&other.use_lock())? else {
            say(format!("kept {} (in use by a running ktx)", path.display()));
            if let State::Present(m) = manifest::read(&other) {
                kept_uv.push(m.uv.path);
            }
            continue;
        };
        if crate::daemon::state::lock_held(&other) == Some(true) {
            if dry_run {
                say(format!("would stop the daemon of {name}"));
            } else if let Some(why) = match crate::daemon::stop(&other) {
                Ok(Stopped::Unstoppable(why)) => Some(why),
                Err(e) => Some(e.to_string()),
                Ok(_) => None,
            } {
                say(format!(
                    "kept {} (its daemon is running and could not be stopped: {why})",
                    path.display()
                ));
                continue;
            }
        }
        let size = tree_size(&path);
        if !dry_run {
            let trash = layout
                .root
                .join(format!(".trash-{name}-{}", std::process::id()));
            std::fs::rename(&path, &trash).map_err(|e| Error::io("cannot remove", &path, e))?;
            std::fs::remove_dir_all(&trash).map_err(|e| Error::io("cannot remove", &trash, e))?;
        }
        freed += size;
        removals += 1;
        say(format!(
            "{verb} {} ({}): {why}",
            path.display(),
            human(size)
        ));
    }
    // Old install logs of this version: keep the five newest.
    if let Ok(rd) = std::fs::read_dir(layout.logs()) {
        let mut logs: Vec<PathBuf> = rd
            .flatten()
            .take(10_000)
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n.starts_with("install-")
                    && n.ends_with(".log")
                    && e.file_type().is_ok_and(|t| t.is_file())
            })
            .map(|e| e.path())
            .collect();
        logs.sort();
        let n = logs.len().saturating_sub(5);
        for old in &logs[..n] {
            let size = tree_size(old);
            if !dry_run {
                let _ = std::fs::remove_file(old);
            }
            freed += size;
            removals += 1;
            say(format!(
                "{verb} {} ({}): an install log older than the five newest",
                old.display(),
                human(size)
            ));
        }
    }
    // Downloaded uv versions that no remaining runtime uses and this package does not pin.
    let pin = Package::locate().ok().map(|p| p.manifest.uv.version);
    if let Ok(rd) = std::fs::read_dir(layout.tools_uv()) {
        for e in rd.flatten().take(10_000) {
            let v = e.file_name().to_string_lossy().to_string();
            let p = e.path();
            let real_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let holds_uv = ["uv", "uv.exe"]
                .iter()
                .any(|b| std::fs::symlink_metadata(p.join(b)).is_ok_and(|m| m.is_file()));
            if !crate::paths::is_version(&v)
                || !real_dir
                || !holds_uv
                || Some(&v) == pin.as_ref()
                || kept_uv.iter().any(|k| Path::new(k).starts_with(&p))
            {
                continue;
            }
            let size = tree_size(&p);
            if !dry_run {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
            }
            freed += size;
            removals += 1;
            say(format!(
                "{verb} {} ({}): a uv ktx downloaded that no runtime uses",
                p.display(),
                human(size)
            ));
        }
    }
    say(format!(
        "{} {}",
        if dry_run { "would free" } else { "freed" },
        human(freed)
    ));
    Ok(removals)
}
