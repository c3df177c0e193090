//! `ktx-release soak`: the install under interruption, as a benchmark. N times it starts
//! `ktx runtime install --force` (and, every fourth round, a first install into an empty root)
//! and interrupts it at a random moment: SIGKILL to ktx alone (a crash, a closed laptop) or
//! SIGINT to its process group (Ctrl-C); after each, a query with `--yes` must answer. Busy
//! loops load the machine meanwhile (a loaded CI box is where the old bug showed). It prints
//! recovered/N per kind and fails when any round did not recover.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub kills: usize,
    pub interrupts: usize,
    /// Busy threads beside the soak.
    pub load: usize,
    /// The longest delay before an interruption, in milliseconds.
    pub max_delay_ms: u64,
}

/// A small generator (xorshift), seeded from the clock: the delays need no more.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Rng(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Kill,
    Interrupt,
}

struct Round {
    kind: Kind,
    delay_ms: u64,
    /// What the interrupted install ended with (exit code, or killed).
    ended: String,
    recovered: bool,
    detail: String,
}

pub fn run(repo: &Path, dir: &Path, opts: &Options) -> Result<()> {
    let env = crate::bench::prepare(repo, dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..opts.load)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        })
        .collect();
    let mut rng = Rng::new();
    let mut plan: Vec<Kind> = std::iter::repeat_n(Kind::Kill, opts.kills)
        .chain(std::iter::repeat_n(Kind::Interrupt, opts.interrupts))
        .collect();
    // Interleave the kinds.
    for i in (1..plan.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        plan.swap(i, j);
    }
    let mut rounds = Vec::new();
    let start = Instant::now();
    for (i, kind) in plan.into_iter().enumerate() {
        if i % 4 == 3 {
            let _ = std::fs::remove_dir_all(env.root.join(ktx_bootstrap::VERSION));
        }
        let delay_ms = 50 + rng.below(opts.max_delay_ms.saturating_sub(50));
        let round = one_round(&env, kind, delay_ms)?;
        eprintln!(
            "  round {:>2}: {:<9} after {:>4} ms: install {}; next query {}",
            i + 1,
            format!("{:?}", round.kind),
            round.delay_ms,
            round.ended,
            if round.recovered {
                "answered".to_string()
            } else {
                format!("FAILED: {}", round.detail)
            }
        );
        rounds.push(round);
    }
    stop.store(true, Ordering::Relaxed);
    for b in busy {
        let _ = b.join();
    }
    println!(
        "\n| interruption | rounds | recovered |\n|---|---|---|\n{}",
        [Kind::Kill, Kind::Interrupt]
            .iter()
            .map(|k| {
                let of: Vec<&Round> = rounds.iter().filter(|r| r.kind == *k).collect();
                format!(
                    "| {} | {} | {}/{} |",
                    match k {
                        Kind::Kill => "SIGKILL to ktx",
                        Kind::Interrupt => "SIGINT to its group",
                    },
                    of.len(),
                    of.iter().filter(|r| r.recovered).count(),
                    of.len()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    let recovered = rounds.iter().filter(|r| r.recovered).count();
    println!(
        "\n{recovered}/{} recovered in {:.0}s, with {} busy thread(s) beside",
        rounds.len(),
        start.elapsed().as_secs_f64(),
        opts.load
    );
    if recovered != rounds.len() {
        bail!("{} round(s) did not recover", rounds.len() - recovered);
    }
    Ok(())
}

fn one_round(env: &crate::bench::BenchEnv, kind: Kind, delay_ms: u64) -> Result<Round> {
    let mut cmd = env.ktx();
    cmd.args(["runtime", "install", "--force", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().context("cannot start ktx runtime install")?;
    std::thread::sleep(Duration::from_millis(delay_ms));
    let pid = child.id() as i32;
    // SAFETY: signals to the child we started (and its group, which it leads).
    unsafe {
        match kind {
            Kind::Kill => libc::kill(pid, libc::SIGKILL),
            Kind::Interrupt => libc::kill(-pid, libc::SIGINT),
        };
    }
    let status = child.wait()?;
    let ended = match status.code() {
        Some(c) => format!("exit {c}"),
        None => "killed".into(),
    };
    let out = query(env)?;
    Ok(Round {
        kind,
        delay_ms,
        ended,
        recovered: out.status.success(),
        detail: String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string(),
    })
}

fn query(env: &crate::bench::BenchEnv) -> Result<std::process::Output> {
    let mut c = env.ktx();
    c.args(crate::bench::query_args(&env.demo))
        .arg("--yes")
        .stdout(Stdio::null());
    Ok(c.output()?)
}

/// Where the soak works (its own root; the bench's package and uv are reused).
pub fn default_dir(repo: &Path) -> PathBuf {
    repo.join("target/soak")
}
