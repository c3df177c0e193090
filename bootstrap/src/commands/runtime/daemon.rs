//! `ktx runtime start|stop|logs`: the managed daemon, by hand.

use crate::context::Ctx;
use crate::daemon::{self, Ask, Reason, Stopped};
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::install;
use crate::package::Package;
use crate::paths::Layout;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

pub fn start(ctx: &Ctx, features: &[Feature], reason: Reason) -> Result<()> {
    let pkg = Package::locate()?;
    let mut m = install::ensure(ctx, &pkg, Feature::Core)?;
    for &f in features.iter().filter(|&&f| f != Feature::Core) {
        m = install::ensure(ctx, &pkg, f)?;
    }
    if features.iter().any(|&f| !m.has(f)) {
        return Err(Error::other(
            "the runtime lacks a requested feature",
            format!("run `{}`", ctx.install_command(Feature::LocalEmbeddings)),
        ));
    }
    let ask = Ask {
        reason,
        explicit: true,
        access_log: ctx.verbose,
    };
    let (s, started) = daemon::start(&ctx.layout, &m, ask)?;
    let word = if started { "started" } else { "reusing" };
    outln!(
        "daemon {word}: pid {} on 127.0.0.1:{} (version {}, {}); log: {}",
        s.pid,
        s.port,
        s.version,
        s.features.join("+"),
        ctx.layout.daemon_log().display()
    );
    Ok(())
}

/// `ktx runtime stop [--all]`. A daemon that would not end is an error (exit 1), its state
/// kept so that `status` still shows it.
pub fn stop(ctx: &Ctx, all: bool) -> Result<()> {
    let layouts = if all {
        crate::manifest::installed_versions(&ctx.layout)
    } else {
        vec![ctx.layout.clone()]
    };
    let mut stuck = Vec::new();
    let mut stopped = 0;
    for layout in &layouts {
        let label = if all {
            format!(" of {}", layout.version)
        } else {
            String::new()
        };
        match daemon::stop(layout)? {
            Stopped::Nothing => {
                if !all {
                    outln!("no daemon was running");
                }
            }
            Stopped::Stopped(pid) => {
                stopped += 1;
                outln!("daemon{label} stopped (pid {pid})");
            }
            Stopped::Unstoppable(why) => {
                errln!("ktx: the daemon{label} could not be stopped: {why}");
                stuck.push(layout.version.clone());
            }
        }
    }
    if all && stopped == 0 && stuck.is_empty() {
        outln!("no daemon was running");
    }
    if !stuck.is_empty() {
        return Err(Error::other(
            format!("the daemon of {} is still running", stuck.join(", ")),
            "it did not end on SIGKILL: check the process with `ktx runtime status --all`",
        ));
    }
    Ok(())
}

/// `ktx runtime logs [-n N] [--follow]`: the last lines of daemon.log, then (with --follow)
/// what the daemon appends, across its rotations, until interrupted.
pub fn logs(ctx: &Ctx, follow: bool, lines: usize) -> Result<()> {
    let path = ctx.layout.daemon_log();
    let text = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => {
            return Err(Error::other(
                format!("no daemon log at {}", path.display()),
                "the daemon has not run for this version; start it with `ktx runtime start`",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("cannot read", &path, e)),
    };
    out!("{}", last_lines(&String::from_utf8_lossy(&text), lines));
    if !follow {
        return Ok(());
    }
    follow_log(&ctx.layout, text.len() as u64)
}

/// The last `n` lines of `text`, each ending in a newline.
pub fn last_lines(text: &str, n: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(n);
    all[from..].iter().map(|l| format!("{l}\n")).collect()
}

fn follow_log(layout: &Layout, mut offset: u64) -> Result<()> {
    let path = layout.daemon_log();
    // Until Ctrl-C (which ends ktx the default way) or a closed pipe.
    loop {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            offset = 0; // rotated: the new file starts from its beginning
        }
        if len > offset {
            if let Ok(mut f) = std::fs::File::open(&path) {
                let mut buf = Vec::new();
                if f.seek(SeekFrom::Start(offset)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                    offset += buf.len() as u64;
                    out!("{}", String::from_utf8_lossy(&buf));
                    if crate::output::stdout_gone() {
                        return Ok(());
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_lines_keeps_the_tail_and_ends_each_line() {
        assert_eq!(super::last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(super::last_lines("a\nb", 5), "a\nb\n");
        assert_eq!(super::last_lines("", 5), "");
    }
}
