//! `ktx-release bench`: one performance table, each row a command of ours beside the command a
//! user would run instead, measured in the same run, alternating, after a warm-up; medians,
//! min and max. Absolute times on shared machines are noise; the ratios are what we stand by.
//!
//! `setup` builds what the rows need (`target/bench/`), `timing` describes and times commands,
//! `rows` holds one method of `Bench` per group of rows, `launcher` the rows per npm install
//! mode, `ktx_shaped` the rows of the KTX-shaped payload, `table` prints the rows (markdown and
//! JSON, whose schema it documents).

mod ktx_shaped;
mod launcher;
mod rows;
mod setup;
mod table;
mod timing;

pub use setup::{prepare, query_args, BenchEnv};
pub use table::{machine, markdown, Row};
pub use timing::{measure, quote, Cmd, Stats};

use anyhow::Result;
use std::path::{Path, PathBuf};
use timing::ms;

pub struct Options {
    pub runs: usize,
    pub with_embeddings: bool,
    /// The row groups to run (`--only`; empty: KTX_BENCH_ONLY, else all).
    pub only: Vec<String>,
}

/// The row groups, by the names `--only` and `KTX_BENCH_ONLY` take, in table order.
pub const GROUPS: &[&str] = &[
    "warm_oneshot",
    "launcher_query",
    "launcher_modes",
    "uvx_vs_ktx",
    "status_version",
    "daemon",
    "burst",
    "cold_first_run",
    "wheel_build",
    "embeddings",
    "heavy",
    "ktx_shaped",
];

/// The groups to run: `opts_only` if given, else `KTX_BENCH_ONLY` (comma-separated), else all;
/// an unknown name is refused with the list.
pub fn selected_groups(opts_only: &[String]) -> Result<Vec<String>> {
    let from_env = std::env::var("KTX_BENCH_ONLY").unwrap_or_default();
    let names: Vec<String> = if opts_only.is_empty() {
        from_env
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        opts_only.to_vec()
    };
    if let Some(bad) = names.iter().find(|n| !GROUPS.contains(&n.as_str())) {
        anyhow::bail!(
            "no bench row group `{bad}`; hint: name one or more of {} (comma-separated in --only or KTX_BENCH_ONLY)",
            GROUPS.join(", ")
        );
    }
    Ok(names)
}

/// Run the row groups in order (all of them, or those `--only` / `KTX_BENCH_ONLY` name); the
/// table is the rows in that order.
pub fn run(repo: &Path, env: &BenchEnv, opts: &Options) -> Result<Vec<Row>> {
    let only = selected_groups(&opts.only)?;
    let on = |g: &str| only.is_empty() || only.iter().any(|o| o == g);
    let mut b = Bench::new(repo, env, opts.runs);
    // One-shot rows must be one-shot: no daemon of the bench root may run under them.
    let _ = b
        .ktx_in(&env.root, "ktx runtime stop", ["runtime", "stop"])
        .check();
    // The burst row compares with the warm one-shot row: it brings that row along.
    if on("warm_oneshot") || on("burst") {
        b.warm_oneshot()?;
    }
    if on("launcher_query") {
        b.launcher_query()?;
    }
    if on("launcher_modes") {
        b.launcher_modes()?;
    }
    if on("uvx_vs_ktx") {
        b.uvx_vs_ktx()?;
    }
    if on("status_version") {
        b.status_version()?;
    }
    if on("daemon") {
        b.daemon()?;
    }
    if on("burst") {
        b.burst()?;
    }
    if on("cold_first_run") {
        b.cold_first_run()?;
    }
    if on("wheel_build") {
        b.wheel_build()?;
    }
    if opts.with_embeddings && on("embeddings") {
        b.embeddings()?;
    }
    if on("heavy") {
        b.heavy()?;
    }
    if on("ktx_shaped") {
        b.ktx_shaped()?;
    }
    Ok(b.rows)
}

/// The shared context of the rows and the rows measured so far.
pub struct Bench<'a> {
    repo: &'a Path,
    env: &'a BenchEnv,
    /// Timed runs of a warm row.
    runs: usize,
    /// Timed runs of a row that rebuilds state each run (seconds each).
    cold_runs: usize,
    /// The root the daemon rows start and stop daemons in (the one-shot root never has one).
    daemon_root: PathBuf,
    /// The warm one-shot query (the burst row compares with it).
    oneshot: Option<Stats>,
    rows: Vec<Row>,
}

/// A command's timing, as a row shows it.
#[derive(Clone)]
pub struct Timed {
    pub label: String,
    pub shown: String,
    pub stats: Stats,
}

/// How a row reads its numbers: the result, the target and whether it is met.
pub enum Verdict {
    /// Ours alone: its median in ms, at most `max` ms.
    Ms { max: Option<f64> },
    /// Ours minus the peer ("<word> X ms"), at most `max` ms.
    Adds {
        word: &'static str,
        max: Option<f64>,
    },
    /// The peer over ours ("<who> Nx faster"), at least `min` times.
    Faster { who: &'static str, min: Option<f64> },
    /// Ours over the peer ("Nx of <peer>"), at most `max` times.
    Of {
        peer: &'static str,
        max: Option<f64>,
    },
    /// Worked out by the row itself.
    Custom {
        result: String,
        target: String,
        met: Option<bool>,
    },
}

impl Verdict {
    fn read(self, ours: &Stats, peer: Option<&Stats>) -> (String, String, Option<bool>) {
        let peer_ms = peer.map(Stats::median_ms).unwrap_or(f64::NAN);
        let (o, p) = (ours.median_ms(), peer_ms);
        let at_most = |v: f64, max: Option<f64>, unit: &str| match max {
            Some(m) => (format!("<= {m}{unit}"), Some(v <= m)),
            None => ("-".to_string(), None),
        };
        match self {
            Verdict::Ms { max } => {
                let (t, met) = at_most(o, max, " ms");
                (format!("{o:.1} ms"), t, met)
            }
            Verdict::Adds { word, max } => {
                let (t, met) = at_most(o - p, max, " ms");
                (format!("{word} {:.1} ms", o - p), t, met)
            }
            Verdict::Faster { who, min } => {
                let r = p / o.max(1e-9);
                let (t, met) = match min {
                    Some(m) if m <= 1.0 => ("ktx faster".to_string(), Some(r > 1.0)),
                    Some(m) => (format!(">= {m}x"), Some(r >= m)),
                    None => ("-".to_string(), None),
                };
                let who = if who.is_empty() {
                    String::new()
                } else {
                    format!("{who} ")
                };
                (format!("{who}{r:.2}x faster"), t, met)
            }
            Verdict::Of { peer, max } => {
                let r = o / p.max(1e-9);
                let (t, met) = at_most(r, max, "x");
                (format!("{r:.2}x of {peer}"), t, met)
            }
            Verdict::Custom {
                result,
                target,
                met,
            } => (result, target, met),
        }
    }
}

impl<'a> Bench<'a> {
    pub fn new(repo: &'a Path, env: &'a BenchEnv, runs: usize) -> Bench<'a> {
        let runs = runs.max(1);
        Bench {
            repo,
            env,
            runs,
            cold_runs: runs.min(3),
            daemon_root: env.dir.join("runtime-daemon"),
            oneshot: None,
            rows: Vec::new(),
        }
    }

    /// `ktx <args>` against the bench package and `root` (see `ktx_cmd`).
    fn ktx_in<I, S>(&self, root: &Path, label: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        ktx_cmd(self.env, root, label, args)
    }

    /// `c` as a user's shell runs it through the npm package: no bench package root (the
    /// launcher or the binary finds the package), the bench runtime, no daemon started by itself.
    fn as_user(&self, c: Cmd) -> Cmd {
        c.env_remove("KTX_PACKAGE_ROOT")
            .env("KTX_RUNTIME_DIR", &self.env.root)
            .env("KTX_DAEMON", "never")
    }

    /// `ktx sl query ...` one-shot against the bench root.
    fn query(&self) -> Cmd {
        self.ktx_in(&self.env.root, "ktx sl query", query_args(&self.env.demo))
    }

    /// The row builder's timing half: `warmup` untimed rounds, then `runs` timed rounds of
    /// `cmds`, alternating; one `Timed` per command, in order.
    fn time(&self, cmds: &[&Cmd], runs: usize, warmup: usize) -> Result<Vec<Timed>> {
        let stats = measure(cmds, runs, warmup)?;
        Ok(cmds
            .iter()
            .zip(stats)
            .map(|(c, stats)| Timed {
                label: c.label.clone(),
                shown: c.shown(),
                stats,
            })
            .collect())
    }

    /// The row builder's table half: one row from timings already taken (a group timed
    /// together gives several rows).
    fn row(
        &mut self,
        id: &'static str,
        what: impl Into<String>,
        ours: &Timed,
        peer: Option<&Timed>,
        verdict: Verdict,
        note: Option<String>,
    ) {
        let (result, target, met) = verdict.read(&ours.stats, peer.map(|p| &p.stats));
        let mut commands = vec![ours.shown.clone()];
        commands.extend(peer.map(|p| p.shown.clone()));
        self.rows.push(Row {
            id,
            what: what.into(),
            ours: (ours.label.clone(), ours.stats.clone()),
            peer: peer.map(|p| (p.label.clone(), p.stats.clone())),
            result,
            target,
            met,
            commands,
            note,
        });
    }

    /// The row builder: time `ours` (and `peer`, alternately) and add the row; the timings
    /// come back for rows that reuse them.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &mut self,
        id: &'static str,
        what: impl Into<String>,
        ours: &Cmd,
        peer: Option<&Cmd>,
        runs: usize,
        warmup: usize,
        verdict: Verdict,
    ) -> Result<Vec<Timed>> {
        let mut cmds = vec![ours];
        cmds.extend(peer);
        let t = self.time(&cmds, runs, warmup)?;
        self.row(id, what, &t[0], t.get(1), verdict, None);
        Ok(t)
    }
}

/// `ktx <args>` against the bench package and `root`, with the bench's uv, never starting
/// a daemon by itself (`KTX_DAEMON=never`), from the bench directory.
fn ktx_cmd<I, S>(env: &BenchEnv, root: &Path, label: &str, args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Cmd::new(label, &env.ktx)
        .args(args)
        .env("KTX_PACKAGE_ROOT", &env.package)
        .env("KTX_RUNTIME_DIR", root)
        .env("KTX_UV", &env.uv)
        .env("KTX_DAEMON", "never")
        .env_remove("KTX_YES")
        .cwd(&env.dir)
}

/// The peer's median over ours.
pub fn ratio(a: &Stats, b: &Stats) -> f64 {
    b.median.as_secs_f64() / a.median.as_secs_f64().max(1e-9)
}

/// Milliseconds of a median, for result texts.
fn median_ms(s: &Stats) -> f64 {
    ms(s.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_selection_names_known_groups_and_refuses_others_with_the_list() {
        let ok = selected_groups(&["ktx_shaped".into(), "heavy".into()]).unwrap();
        assert_eq!(ok, ["ktx_shaped", "heavy"]);
        let err = selected_groups(&["ktx-shaped".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no bench row group `ktx-shaped`"), "{err}");
        assert!(
            err.contains("ktx_shaped") && err.contains("warm_oneshot"),
            "{err}"
        );
    }

    #[test]
    fn every_group_run_calls_is_selectable() {
        let src = include_str!("bench.rs");
        let body = &src[src.find("pub fn run(").unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        let called: Vec<&str> = body
            .split("b.")
            .skip(1)
            .filter_map(|t| t.split_once("()?;").map(|(name, _)| name))
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert_eq!(
            called, GROUPS,
            "keep GROUPS in the order run calls the groups"
        );
    }
}
