//! The KTX-shaped payload's rows (python#semantic_layer + fixtures/payloads/ktx-shaped: an
//! argparse `ktx-daemon`, a FastAPI app, Requires-Python >=3.13, numpy, pandas and FastAPI
//! imported at one-shot start, as KTX's own): its first install by ktx beside `uv venv` +
//! `uv pip install` of the same wheel by hand, its one-shot query beside ours, its `--daemon`
//! query beside its one-shot, and a burst of plain queries from no daemon beside three one-shot
//! queries. The stated targets are shown, not asserted.

use super::setup::{check, python313};
use super::{ktx_cmd, median_ms, query_args, Bench, Cmd, Stats, Timed, Verdict};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

/// Plain queries in the burst row.
const BURST: usize = 20;
/// The burst's stated target: its total at most this many one-shot queries.
const BURST_MAX_ONESHOTS: f64 = 3.0;

/// One burst as it went: when each call started and took (from the burst's start), and when
/// the daemon's state file appeared (it is written once the daemon serves).
struct BurstRun {
    calls: Vec<(Duration, Duration)>,
    ready: Option<Duration>,
}

impl BurstRun {
    fn total(&self) -> Duration {
        self.calls.iter().map(|(_, took)| *took).sum()
    }

    /// "daemon serving at 4.1 s; calls (start s: ms) 0.0: 2510, 2.5: 2630, ..." for the note.
    fn describe(&self) -> String {
        let ready = match self.ready {
            Some(r) => format!("daemon serving at {:.1} s", r.as_secs_f64()),
            None => "the daemon never served during the burst".into(),
        };
        let calls: Vec<String> = self
            .calls
            .iter()
            .map(|(at, took)| format!("{:.1}: {:.0}", at.as_secs_f64(), took.as_secs_f64() * 1e3))
            .collect();
        format!(
            "total {:.0} ms; {ready}; calls (start s: ms) {}",
            self.total().as_secs_f64() * 1e3,
            calls.join(", ")
        )
    }
}

/// What every row of the group needs: the staged package and wheel, Python 3.13, the warm uv
/// cache and the runtime the queries use.
struct Shaped {
    dir: PathBuf,
    wheel: PathBuf,
    package: PathBuf,
    python: PathBuf,
    /// Only that interpreter's directory and the system's tools: uv finds it there, as a
    /// user's PATH would.
    path: String,
    cache: PathBuf,
    /// The queries' runtime, installed once (it fills the warm uv cache too).
    root: PathBuf,
}

impl Shaped {
    /// `ktx <args>` against the KTX-shaped package, with runtime root `root`.
    fn ktx(&self, env: &super::BenchEnv, root: &Path, label: &str, args: &[&str]) -> Cmd {
        ktx_cmd(env, root, label, args)
            .env("KTX_PACKAGE_ROOT", &self.package)
            .env("UV_CACHE_DIR", &self.cache)
            .env("PATH", &self.path)
    }

    /// `sh -c SCRIPT` by hand, with the same uv cache and PATH, in a fresh `hand` directory.
    fn by_hand(&self, label: &str, script: &str, hand: &Path) -> Cmd {
        Cmd::new(label, "sh")
            .args(["-c", script])
            .env("UV_CACHE_DIR", &self.cache)
            .env("PATH", &self.path)
            .wipe(hand)
            .after(format!("after rm -rf {}", hand.display()))
    }
}

impl Bench<'_> {
    /// The KTX-shaped payload's rows (see the module's header).
    pub fn ktx_shaped(&mut self) -> Result<()> {
        eprintln!("==> bench: the KTX-shaped payload (python#semantic_layer + fixtures/payloads/ktx-shaped)");
        let s = self.shaped_setup()?;
        self.shaped_first_run(&s)?;
        let oneshot = self.shaped_oneshot(&s)?;
        self.shaped_daemon(&s, &oneshot)?;
        self.shaped_burst(&s, &oneshot)
    }

    /// Stage the package, find Python 3.13, install the queries' runtime.
    fn shaped_setup(&mut self) -> Result<Shaped> {
        let dir = self.env.dir.join("ktx-shaped");
        let projects = [
            PathBuf::from("python#semantic_layer"),
            PathBuf::from("fixtures/payloads/ktx-shaped"),
        ];
        let (wheel, package) = self.stage_payload(&projects, &dir)?;
        let python = python313()?;
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            python.parent().unwrap_or(Path::new("/")).display()
        );
        let s = Shaped {
            cache: dir.join("uv-cache"),
            root: dir.join("runtime"),
            dir,
            wheel,
            package,
            python,
            path,
        };
        let _ = s
            .ktx(self.env, &s.root, "ktx runtime stop", &["runtime", "stop"])
            .check();
        let install = s.ktx(
            self.env,
            &s.root,
            "ktx runtime install",
            &["runtime", "install", "--yes"],
        );
        check(
            install
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
            "ktx runtime install (KTX-shaped payload)",
        )?;
        Ok(s)
    }

    /// 1. First run, warm uv cache: ktx against uv venv + uv pip install by hand, and against
    ///    that plus one run of the payload's one-shot entry.
    fn shaped_first_run(&mut self, s: &Shaped) -> Result<()> {
        let install_root = s.dir.join("runtime-first-run");
        let ours = s
            .ktx(
                self.env,
                &install_root,
                "ktx runtime install (empty root, warm uv cache)",
                &["runtime", "install", "--yes"],
            )
            .env_remove("KTX_DAEMON")
            .wipe(&install_root)
            .after("after rm -rf the root");
        let hand = s.dir.join("by-hand");
        let script = format!(
            "{uv} venv -q --python {py} {h}/venv && {uv} pip install -q --python {h}/venv/bin/python {w}",
            uv = self.env.uv.display(),
            py = s.python.display(),
            h = hand.display(),
            w = s.wheel.display()
        );
        let by_hand = s.by_hand("uv venv + uv pip install (warm uv cache)", &script, &hand);
        // The same by hand, then the payload's one-shot entry run once (what ktx's install
        // check runs): both then have paid the payload's first import.
        let checked = s.by_hand(
            "uv venv + uv pip install + python -m ktx_daemon --help (warm uv cache)",
            &format!(
                "{script} && {h}/venv/bin/python -I -m ktx_daemon --help >/dev/null",
                h = hand.display()
            ),
            &hand,
        );
        let t = self.time(&[&ours, &by_hand, &checked], self.cold_runs, 1)?;
        self.row(
            "ktx-shaped-first-run",
            "KTX-shaped payload, first run with a warm uv cache: ktx vs uv venv + uv pip install",
            &t[0],
            Some(&t[1]),
            Verdict::Of {
                peer: "by hand",
                max: Some(1.2),
            },
            Some(
                "ktx's install ends with its check (`python -I -m ktx_host check`: the payload's packages import, \
                 and its one-shot entry `python -I -m ktx_daemon --help` exits 0); the entry imports numpy, pandas \
                 and FastAPI, compiling their bytecode the first time. By hand runs nothing; the next row adds that \
                 one run to it."
                    .into(),
            ),
        );
        self.row(
            "ktx-shaped-first-run-checked",
            "KTX-shaped payload, first run with a warm uv cache: ktx vs by hand plus one run of its one-shot entry",
            &t[0],
            Some(&t[2]),
            Verdict::Of {
                peer: "by hand + --help",
                max: None,
            },
            None,
        );
        let _ = std::fs::remove_dir_all(&install_root);
        let _ = std::fs::remove_dir_all(&hand);
        Ok(())
    }

    /// 2. One-shot query: the KTX-shaped payload against ours; its timing, for the rows after.
    fn shaped_oneshot(&mut self, s: &Shaped) -> Result<Timed> {
        let mut q = query_args(&self.env.demo);
        q.push("--no-daemon".into());
        let oneshot = s.ktx(
            self.env,
            &s.root,
            "ktx sl query --no-daemon (KTX-shaped)",
            &as_str(&q),
        );
        let ours_oneshot = self
            .query()
            .arg("--no-daemon")
            .with_label("ktx sl query --no-daemon (our payload)");
        let t = self.compare(
            "ktx-shaped-oneshot",
            "KTX-shaped payload, one-shot query vs our payload's",
            &oneshot,
            Some(&ours_oneshot),
            self.runs,
            1,
            Verdict::Of {
                peer: "our payload",
                max: None,
            },
        )?;
        Ok(t[0].clone())
    }

    /// 3. The same query through its running daemon, against its one-shot.
    fn shaped_daemon(&mut self, s: &Shaped, oneshot: &Timed) -> Result<()> {
        s.ktx(self.env, &s.root, "ktx runtime start", &["runtime", "start"])
            .check()
            .context("cannot start the KTX-shaped payload's daemon; hint: see `ktx runtime status` and the daemon log under target/bench/ktx-shaped/runtime")?;
        let mut q = query_args(&self.env.demo);
        q.push("--daemon".into());
        let daemon_q = s.ktx(
            self.env,
            &s.root,
            "ktx sl query --daemon (KTX-shaped)",
            &as_str(&q),
        );
        let t = self.time(&[&daemon_q], self.runs, 2)?;
        self.row(
            "ktx-shaped-daemon",
            "KTX-shaped payload, query through the running daemon vs one-shot",
            &t[0],
            Some(oneshot),
            Verdict::Faster {
                who: "daemon",
                min: None,
            },
            None,
        );
        let _ = s
            .ktx(self.env, &s.root, "ktx runtime stop", &["runtime", "stop"])
            .check();
        Ok(())
    }

    /// 4. A burst of plain queries (KTX_DAEMON unset) from no daemon, in total, against three
    ///    one-shot queries.
    fn shaped_burst(&mut self, s: &Shaped, oneshot: &Timed) -> Result<()> {
        let plain = s
            .ktx(
                self.env,
                &s.root,
                &format!("{BURST} x ktx sl query (no flags, KTX_DAEMON unset)"),
                &as_str(&query_args(&self.env.demo)),
            )
            .env_remove("KTX_DAEMON");
        let stop = s.ktx(self.env, &s.root, "ktx runtime stop", &["runtime", "stop"]);
        let layout = ktx_bootstrap::paths::Layout::resolve(Some(&s.root), ktx_bootstrap::VERSION)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut runs = Vec::new();
        for _ in 0..self.cold_runs {
            runs.push(burst_once(&plain, &stop, &layout)?);
        }
        let _ = stop.check();
        let totals = Stats::of(runs.iter().map(BurstRun::total).collect());
        let one = &oneshot.stats;
        let three = Stats {
            median: one.median * 3,
            min: one.min * 3,
            max: one.max * 3,
            runs: one.runs,
        };
        let ratio = median_ms(&totals) / median_ms(one).max(1e-9);
        let note = runs
            .iter()
            .enumerate()
            .map(|(i, r)| format!("run {}: {}", i + 1, r.describe()))
            .collect::<Vec<_>>()
            .join("; ");
        self.row(
            "ktx-shaped-burst-20",
            format!("KTX-shaped payload, {BURST} plain queries from no daemon, in total"),
            &Timed {
                label: plain.label.clone(),
                shown: format!(
                    "{} ({BURST} in a row, after `ktx runtime stop` and no record of recent commands, untimed)",
                    plain.shown()
                ),
                stats: totals,
            },
            Some(&Timed {
                label: "3 x ktx sl query --no-daemon (KTX-shaped)".into(),
                shown: format!("3 x {}", oneshot.shown),
                stats: three,
            }),
            Verdict::Custom {
                result: format!(
                    "{ratio:.2}x of one one-shot query ({:.0} ms)",
                    median_ms(one)
                ),
                target: format!("<= {BURST_MAX_ONESHOTS}x one one-shot"),
                met: Some(ratio <= BURST_MAX_ONESHOTS),
            },
            Some(format!("Per burst: {note}.")),
        );
        Ok(())
    }
}

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// One burst: stop the daemon and forget the recent commands (untimed), then `BURST` calls of
/// `plain` in a row, each timed, watching for the daemon's state file between calls.
fn burst_once(plain: &Cmd, stop: &Cmd, layout: &ktx_bootstrap::paths::Layout) -> Result<BurstRun> {
    let _ = stop.check();
    for f in [
        layout.recent_runs(),
        layout.burst_start(),
        layout.daemon_failed(),
    ] {
        let _ = std::fs::remove_file(f);
    }
    let start = Instant::now();
    let wall = SystemTime::now();
    let mut calls = Vec::with_capacity(BURST);
    for _ in 0..BURST {
        let at = start.elapsed();
        calls.push((at, plain.run_once()?));
    }
    // The state file is written once the daemon serves: its time is when that happened.
    let ready = std::fs::metadata(layout.daemon_state())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| m.duration_since(wall).ok());
    Ok(BurstRun { calls, ready })
}
