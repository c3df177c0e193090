//! The timed command and its timing: a `Cmd` is plain data (program, arguments, environment,
//! directory, stdin, what to reset before each run), so one description serves every run and
//! the table shows exactly what ran; `measure` times several alternately and reduces each to
//! `Stats` (median, min, max).

use anyhow::{bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A timed command: what the table calls it, how to run it, and what to undo before each run.
#[derive(Clone, Debug)]
pub struct Cmd {
    pub label: String,
    program: PathBuf,
    args: Vec<OsString>,
    /// Variables set (`Some`) or removed (`None`).
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdin: Option<PathBuf>,
    /// Removed before each run, untimed (cold measurements).
    wipe: Vec<PathBuf>,
    /// Run before each run, untimed, their failures ignored (`ktx runtime stop`, a cache clean).
    reset: Vec<Cmd>,
    /// How the reset reads in the table ("after rm -rf the root").
    after: Option<String>,
}

impl Cmd {
    pub fn new(label: impl Into<String>, program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            label: label.into(),
            program: PathBuf::from(program.as_ref()),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            wipe: Vec::new(),
            reset: Vec::new(),
            after: None,
        }
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Cmd {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        let k = k.as_ref().to_os_string();
        self.env.retain(|(n, _)| *n != k);
        self.env.push((k, Some(v.as_ref().to_os_string())));
        self
    }
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Cmd {
        let k = k.as_ref().to_os_string();
        self.env.retain(|(n, _)| *n != k);
        self.env.push((k, None));
        self
    }
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }
    pub fn stdin(mut self, file: impl AsRef<Path>) -> Cmd {
        self.stdin = Some(file.as_ref().to_path_buf());
        self
    }
    /// Remove `dir` before each run (untimed).
    pub fn wipe(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.wipe.push(dir.as_ref().to_path_buf());
        self
    }
    /// Run `c` before each run (untimed; its failure is ignored).
    pub fn reset(mut self, c: Cmd) -> Cmd {
        self.reset.push(c);
        self
    }
    /// How the untimed reset reads in the table.
    pub fn after(mut self, what: impl Into<String>) -> Cmd {
        self.after = Some(what.into());
        self
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Cmd {
        self.label = label.into();
        self
    }

    /// The std command, with its streams left to the caller.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }

    /// The command line as the table shows it: quoted, `< stdin`, and the untimed reset.
    pub fn shown(&self) -> String {
        let mut s = quote(&self.command());
        if let Some(f) = &self.stdin {
            s.push_str(&format!(" < {}", f.display()));
        }
        if let Some(a) = &self.after {
            s.push_str(&format!(" ({a})"));
        }
        s
    }

    /// Run it once, untimed, quietly, and fail with its stderr if it fails.
    pub fn check(&self) -> Result<()> {
        self.run_once().map(|_| ())
    }

    /// Reset, then run once; the time of the run alone.
    pub fn run_once(&self) -> Result<Duration> {
        for d in &self.wipe {
            if d.exists() {
                std::fs::remove_dir_all(d)
                    .with_context(|| format!("cannot remove {} before a cold run", d.display()))?;
            }
        }
        for r in &self.reset {
            let _ = r
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let mut cmd = self.command();
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        match &self.stdin {
            Some(f) => cmd.stdin(std::fs::File::open(f).with_context(|| {
                format!("cannot open {} (stdin of {})", f.display(), self.label)
            })?),
            None => cmd.stdin(Stdio::null()),
        };
        let start = Instant::now();
        let out = cmd.output().with_context(|| {
            format!(
                "cannot run `{}`; hint: is {} installed and on PATH?",
                self.shown(),
                self.program.display()
            )
        })?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "`{}` failed ({}):\n{}",
                self.shown(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    }
}

/// Median, min and max of a command's timed runs.
#[derive(Clone, Debug)]
pub struct Stats {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    pub runs: usize,
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Stats {
    pub fn of(mut v: Vec<Duration>) -> Stats {
        assert!(!v.is_empty(), "Stats of no runs");
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2
        };
        Stats {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        }
    }
    pub fn median_ms(&self) -> f64 {
        ms(self.median)
    }
    pub fn show(&self) -> String {
        format!(
            "{:.1} ms ({:.1}-{:.1})",
            ms(self.median),
            ms(self.min),
            ms(self.max)
        )
    }
}

/// Time the commands alternately: `warmup` untimed rounds, then `runs` timed rounds.
pub fn measure(cmds: &[&Cmd], runs: usize, warmup: usize) -> Result<Vec<Stats>> {
    for _ in 0..warmup {
        for c in cmds {
            c.run_once()?;
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for _ in 0..runs.max(1) {
        for (i, c) in cmds.iter().enumerate() {
            samples[i].push(c.run_once()?);
        }
    }
    Ok(samples.into_iter().map(Stats::of).collect())
}

/// A command line as a shell would read it back.
pub fn quote(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().to_string();
    for a in c.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') || a.contains('\'') {
            s.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}
