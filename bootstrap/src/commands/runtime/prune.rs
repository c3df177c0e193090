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
use crate::paths::Layout;
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

/// One pass of prune over the three kinds of items; returns how many it removed (or would).
fn prune_pass(ctx: &Ctx, dry_run: bool, say: &mut dyn FnMut(String)) -> Result<usize> {
    let layout = &ctx.layout;
    if !layout.root.is_dir() {
        say(format!(
            "nothing to prune: {} does not exist",
            layout.root.display()
        ));
        return Ok(0);
    }
    let mut pass = Pass {
        dry_run,
        say,
        removals: 0,
        freed: 0,
        kept_uv: Vec::new(),
    };
    if let State::Present(m) = manifest::read(layout) {
        pass.kept_uv.push(m.uv.path.clone());
    }
    pass.other_versions(layout)?;
    pass.old_logs(layout);
    pass.unused_uv(layout)?;
    let freed = pass.freed;
    (pass.say)(format!(
        "{} {}",
        if dry_run { "would free" } else { "freed" },
        human(freed)
    ));
    Ok(pass.removals)
}

/// What a prune pass has done so far, and what it keeps.
struct Pass<'a> {
    dry_run: bool,
    say: &'a mut dyn FnMut(String),
    removals: usize,
    freed: u64,
    /// The uv executables of the runtimes that stay (their downloaded uv stays too).
    kept_uv: Vec<String>,
}

impl Pass<'_> {
    fn verb(&self) -> &'static str {
        if self.dry_run {
            "would remove"
        } else {
            "removed"
        }
    }

    /// Count `path` (of `size`) as removed, saying why it qualified.
    fn removed(&mut self, path: &Path, size: u64, why: &str) {
        self.freed += size;
        self.removals += 1;
        let line = format!(
            "{} {} ({}): {why}",
            self.verb(),
            path.display(),
            human(size)
        );
        (self.say)(line);
    }

    /// Other versions' runtimes that ktx provably made (`manifest::owned`), unless a running
    /// ktx uses them; their daemon is stopped first.
    fn other_versions(&mut self, layout: &Layout) -> Result<()> {
        for other in manifest::installed_versions(layout) {
            if other.version == layout.version {
                continue;
            }
            let path = other.version_dir();
            let Ok(why) = manifest::owned(&other) else {
                continue;
            };
            // A running ktx of that version holds the use lock shared.
            let Some(_guard) = lock::try_exclusive(&other.use_lock())? else {
                (self.say)(format!("kept {} (in use by a running ktx)", path.display()));
                if let State::Present(m) = manifest::read(&other) {
                    self.kept_uv.push(m.uv.path);
                }
                continue;
            };
            if !self.stop_daemon(&other) {
                continue;
            }
            let size = tree_size(&path);
            if !self.dry_run {
                let trash =
                    layout
                        .root
                        .join(format!(".trash-{}-{}", other.version, std::process::id()));
                std::fs::rename(&path, &trash).map_err(|e| Error::io("cannot remove", &path, e))?;
                std::fs::remove_dir_all(&trash)
                    .map_err(|e| Error::io("cannot remove", &trash, e))?;
            }
            self.removed(&path, size, &why);
        }
        Ok(())
    }

    /// Stop the daemon of a version about to be removed; false when it runs and cannot be
    /// stopped (the version is kept).
    fn stop_daemon(&mut self, other: &Layout) -> bool {
        if crate::daemon::state::lock_held(other) != Some(true) {
            return true;
        }
        if self.dry_run {
            (self.say)(format!("would stop the daemon of {}", other.version));
            return true;
        }
        let why = match crate::daemon::stop(other) {
            Ok(Stopped::Unstoppable(why)) => why,
            Err(e) => e.to_string(),
            Ok(_) => return true,
        };
        (self.say)(format!(
            "kept {} (its daemon is running and could not be stopped: {why})",
            other.version_dir().display()
        ));
        false
    }

    /// Install logs of this version beyond the five newest.
    fn old_logs(&mut self, layout: &Layout) {
        let Ok(rd) = std::fs::read_dir(layout.logs()) else {
            return;
        };
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
            if !self.dry_run {
                let _ = std::fs::remove_file(old);
            }
            self.removed(old, size, "an install log older than the five newest");
        }
    }

    /// Downloaded uv versions that no remaining runtime uses and this package does not pin.
    fn unused_uv(&mut self, layout: &Layout) -> Result<()> {
        let pin = Package::locate().ok().map(|p| p.manifest.uv.version);
        let Ok(rd) = std::fs::read_dir(layout.tools_uv()) else {
            return Ok(());
        };
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
                || self.kept_uv.iter().any(|k| Path::new(k).starts_with(&p))
            {
                continue;
            }
            let size = tree_size(&p);
            if !self.dry_run {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
            }
            self.removed(&p, size, "a uv ktx downloaded that no runtime uses");
        }
        Ok(())
    }
}
