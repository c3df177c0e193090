//! `ktx-release bench`: one performance table, each row a command of ours beside the command a
//! user would run instead, measured in the same run, alternating, after a warm-up; medians,
//! min and max. Absolute times on shared machines are noise; the ratios are what we stand by.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A timed command: what the table shows and how to run it again by hand.
pub struct Cmd {
    pub label: String,
    pub shown: String,
    pub build: Box<dyn Fn() -> Command>,
    pub stdin: Option<PathBuf>,
    /// Run before each timed run, untimed (reset state for cold measurements).
    pub before: Option<Box<dyn Fn() -> Result<()>>>,
}

#[derive(Clone, Debug)]
pub struct Stats {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
}

/// Queries in the burst row.
const BURST: usize = 50;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Stats {
    fn of(mut v: Vec<Duration>) -> Stats {
        v.sort();
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
        };
        Stats {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }
    fn show(&self) -> String {
        format!(
            "{:.1} ms ({:.1}-{:.1})",
            ms(self.median),
            ms(self.min),
            ms(self.max)
        )
    }
}

fn run_once(c: &Cmd) -> Result<Duration> {
    if let Some(b) = &c.before {
        b()?;
    }
    let mut cmd = (c.build)();
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(f) = &c.stdin {
        cmd.stdin(std::fs::File::open(f)?);
    } else {
        cmd.stdin(Stdio::null());
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", c.shown))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\n{}",
            c.shown,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// Time the commands alternately: `warmup` untimed rounds, then `runs` timed rounds.
pub fn measure(cmds: &[&Cmd], runs: usize, warmup: usize) -> Result<Vec<Stats>> {
    for _ in 0..warmup {
        for c in cmds {
            run_once(c)?;
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for _ in 0..runs {
        for (i, c) in cmds.iter().enumerate() {
            samples[i].push(run_once(c)?);
        }
    }
    Ok(samples.into_iter().map(Stats::of).collect())
}

pub struct Row {
    pub id: &'static str,
    pub what: String,
    pub ours: (String, Stats),
    pub peer: Option<(String, Stats)>,
    pub result: String,
    pub target: String,
    pub met: Option<bool>,
    pub commands: Vec<String>,
}

impl Row {
    pub fn json(&self) -> Value {
        let st =
            |s: &Stats| json!({"medianMs": ms(s.median), "minMs": ms(s.min), "maxMs": ms(s.max)});
        json!({
            "id": self.id, "what": self.what,
            "ours": {"label": self.ours.0, "stats": st(&self.ours.1)},
            "peer": self.peer.as_ref().map(|(l, s)| json!({"label": l, "stats": st(s)})),
            "result": self.result, "target": self.target, "met": self.met,
            "commands": self.commands,
        })
    }
}

pub fn markdown(rows: &[Row], machine: &str, date: &str, runs: usize) -> String {
    let mut s = format!("Measured {date} on {machine}; {runs} runs per command after a warm-up, alternating; median (min-max).\n\n");
    s.push_str("| # | what | ours | peer | result | target |\n|---|---|---|---|---|---|\n");
    for (i, r) in rows.iter().enumerate() {
        let met = match r.met {
            Some(true) => " (met)",
            Some(false) => " (NOT met)",
            None => "",
        };
        s.push_str(&format!(
            "| {} | {} | {}: {} | {} | {} | {}{} |\n",
            i + 1,
            r.what,
            r.ours.0,
            r.ours.1.show(),
            r.peer
                .as_ref()
                .map(|(l, st)| format!("{l}: {}", st.show()))
                .unwrap_or_else(|| "-".into()),
            r.result,
            r.target,
            met
        ));
    }
    s.push_str("\nExact commands:\n\n");
    for (i, r) in rows.iter().enumerate() {
        for c in &r.commands {
            s.push_str(&format!("{}. `{c}`\n", i + 1));
        }
    }
    s
}

/// The environment a bench run owns: a staged package, a runtime root, a uv, the demo.
pub struct BenchEnv {
    pub dir: PathBuf,
    pub package: PathBuf,
    pub ktx: PathBuf,
    pub root: PathBuf,
    pub uv: PathBuf,
    pub demo: PathBuf,
    pub wheel: PathBuf,
    pub request: PathBuf,
    pub py: PathBuf,
}

impl BenchEnv {
    pub fn ktx(&self) -> Command {
        let mut c = Command::new(&self.ktx);
        c.env("KTX_PACKAGE_ROOT", &self.package)
            .env("KTX_RUNTIME_DIR", &self.root)
            .env("KTX_UV", &self.uv)
            .env("KTX_DAEMON", "never")
            .env_remove("KTX_YES")
            .current_dir(&self.dir);
        c
    }
    pub fn daemon_exe(&self) -> PathBuf {
        self.root
            .join(ktx_bootstrap::VERSION)
            .join("venv/bin/ktx-daemon")
    }
}

pub fn query_args(demo: &Path) -> Vec<String> {
    [
        "sl",
        "query",
        "--project-dir",
        &demo.display().to_string(),
        "--measure",
        "orders.revenue",
        "--dimension",
        "customers.country",
        "--no-input",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn ratio(a: &Stats, b: &Stats) -> f64 {
    b.median.as_secs_f64() / a.median.as_secs_f64().max(1e-9)
}

pub fn quote(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().to_string();
    for a in c.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.contains('\'') {
            s.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

fn cmd_of(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn mk(label: &str, build: impl Fn() -> Command + 'static) -> Cmd {
    let shown = quote(&build());
    Cmd {
        label: label.into(),
        shown,
        build: Box::new(build),
        stdin: None,
        before: None,
    }
}

fn check(status: std::io::Result<std::process::ExitStatus>, what: &str) -> Result<()> {
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("{what} failed ({s})"),
        Err(e) => bail!("cannot run {what}: {e}"),
    }
}

/// Build everything the rows need under `dir` (reused between runs where it can be).
pub fn prepare(repo: &Path, dir: &Path) -> Result<BenchEnv> {
    std::fs::create_dir_all(dir)?;
    eprintln!("==> bench: building the wheel, the release binary and the package");
    let wheel = crate::pack::build_wheel(repo, &dir.join("dist"))?;
    let native = crate::binary::build(repo, None)?;
    let package = dir.join("package");
    crate::pack::stage(
        &crate::pack::StageOptions {
            repo,
            wheel: &wheel,
            binaries: std::slice::from_ref(&native),
            pin_cache: &repo.join("target/ktx-release/uv-pins.json"),
            require_github_pins: false,
        },
        &package,
    )?;
    let root = dir.join("runtime");
    let demo = dir.join("demo");
    let ktx = native.path.clone();
    let base = |c: &mut Command| {
        c.env("KTX_PACKAGE_ROOT", &package)
            .env("KTX_RUNTIME_DIR", &root)
            .current_dir(dir);
    };
    eprintln!("==> bench: getting uv and the runtime (ktx bootstrap)");
    let mut boot = Command::new(&ktx);
    base(&mut boot);
    boot.args(["bootstrap", "--yes"]);
    check(boot.status(), "ktx bootstrap")?;
    let uv = match std::env::var_os("KTX_UV") {
        Some(u) => PathBuf::from(u),
        None => {
            let pin: Value = serde_json::from_slice(&std::fs::read(
                package.join("python/runtime-manifest.json"),
            )?)?;
            let v = pin["uv"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let downloaded = root.join("tools/uv").join(&v).join("uv");
            if downloaded.is_file() {
                downloaded
            } else {
                ktx_bootstrap::uv::find_on_path("uv").context("no uv found after ktx bootstrap")?
            }
        }
    };
    if !demo.join("ktx.yaml").is_file() {
        let mut setup = Command::new(&ktx);
        base(&mut setup);
        setup.args(["setup", "demo", "--project-dir"]).arg(&demo);
        check(setup.status(), "ktx setup demo")?;
    }
    // The request `ktx sl query` sends, built by ktx's own code from the real command line.
    let cli = <ktx_bootstrap::cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once("ktx".to_string()).chain(query_args(&demo)),
    )?;
    let ktx_bootstrap::cli::Command::Sl(sl) = cli.command else {
        anyhow::bail!("query_args is not an sl command");
    };
    let ktx_bootstrap::cli::Sl::Query(args) = sl.command else {
        anyhow::bail!("query_args is not sl query");
    };
    let mut ctx = ktx_bootstrap::context::Ctx::new(
        ktx_bootstrap::paths::Layout::resolve(Some(&root), ktx_bootstrap::VERSION)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        ktx_bootstrap::prompt::Consent {
            yes: false,
            no_input: true,
        },
    );
    ctx.project_dir = cli.global.project_dir;
    let request = dir.join("request.json");
    let body = ktx_bootstrap::commands::sl::request_for(&ctx, sl.connection_id.as_deref(), &args)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(&request, serde_json::to_vec(&body)?)?;
    let py = dir.join("py");
    if !py.join("bin/python").exists() {
        eprintln!("==> bench: a venv with build and hatchling for the python -m build row");
        check(
            Command::new("python3")
                .args(["-m", "venv"])
                .arg(&py)
                .status(),
            "python3 -m venv",
        )?;
        check(
            Command::new(py.join("bin/pip"))
                .args(["install", "-q", "build", "hatchling"])
                .status(),
            "pip install build hatchling",
        )?;
    }
    Ok(BenchEnv {
        dir: dir.to_path_buf(),
        package,
        ktx,
        root,
        uv,
        demo,
        wheel: wheel.path,
        request,
        py,
    })
}

pub struct Options {
    pub runs: usize,
    pub with_embeddings: bool,
}

pub fn run(repo: &Path, env: &BenchEnv, opts: &Options) -> Result<Vec<Row>> {
    let runs = opts.runs.max(1);
    let cold_runs = runs.min(3);
    let mut rows = Vec::new();
    let q = query_args(&env.demo);
    let ktx_query = {
        let (ktx, package, root, uv, dir, q) = (
            env.ktx.clone(),
            env.package.clone(),
            env.root.clone(),
            env.uv.clone(),
            env.dir.clone(),
            q.clone(),
        );
        move || {
            let mut c = Command::new(&ktx);
            // One-shot rows stay one-shot: no burst may start a daemon under them.
            c.args(&q)
                .env("KTX_PACKAGE_ROOT", &package)
                .env("KTX_RUNTIME_DIR", &root)
                .env("KTX_UV", &uv)
                .env("KTX_DAEMON", "never")
                .current_dir(&dir);
            c
        }
    };
    // Make sure no daemon of the bench root runs: one-shot rows must be one-shot.
    let _ = env.ktx().args(["runtime", "stop"]).output();

    eprintln!("==> bench 1: warm one-shot ktx sl query vs ktx-daemon directly");
    let ours = mk("ktx sl query", ktx_query.clone());
    let mut direct = mk("ktx-daemon semantic-query", {
        let d = env.daemon_exe();
        move || cmd_of(&d, &["semantic-query"])
    });
    direct.stdin = Some(env.request.clone());
    direct.shown = format!("{} < {}", direct.shown, env.request.display());
    let s = measure(&[&ours, &direct], runs, 2)?;
    let oneshot = s[0].clone();
    let overhead = ms(s[0].median) - ms(s[1].median);
    rows.push(Row {
        id: "oneshot-overhead",
        what: "warm one-shot query: ktx vs ktx-daemon directly".into(),
        ours: (ours.label.clone(), s[0].clone()),
        peer: Some((direct.label.clone(), s[1].clone())),
        result: format!("overhead {overhead:.1} ms"),
        target: "<= 15 ms".into(),
        met: Some(overhead <= 15.0),
        commands: vec![ours.shown.clone(), direct.shown.clone()],
    });

    eprintln!("==> bench 2: the npm launcher vs the native binary");
    let launcher = mk("node dist/bin.js sl query", {
        let (bin, root, uv, dir, q) = (
            env.package.join("dist/bin.js"),
            env.root.clone(),
            env.uv.clone(),
            env.dir.clone(),
            q.clone(),
        );
        move || {
            let mut c = Command::new("node");
            c.arg(&bin)
                .args(&q)
                .env("KTX_RUNTIME_DIR", &root)
                .env("KTX_UV", &uv)
                .env("KTX_DAEMON", "never")
                .current_dir(&dir);
            c
        }
    });
    let s = measure(&[&ours, &launcher], runs, 1)?;
    rows.push(Row {
        id: "launcher",
        what: "the npm launcher's cost".into(),
        ours: (launcher.label.clone(), s[1].clone()),
        peer: Some((ours.label.clone(), s[0].clone())),
        result: format!("launcher adds {:.1} ms", ms(s[1].median) - ms(s[0].median)),
        target: "-".into(),
        met: None,
        commands: vec![launcher.shown.clone(), ours.shown.clone()],
    });

    eprintln!("==> bench 3: uvx --from <wheel> vs ktx, warm");
    let mut uvx = mk("uvx --from <wheel> ktx-daemon", {
        let (uv, wheel) = (env.uv.clone(), env.wheel.clone());
        move || {
            let mut c = Command::new(&uv);
            c.args(["tool", "run", "--from"])
                .arg(&wheel)
                .args(["ktx-daemon", "semantic-query"]);
            c
        }
    });
    uvx.stdin = Some(env.request.clone());
    uvx.shown = format!("{} < {}", uvx.shown, env.request.display());
    let s = measure(&[&ours, &uvx], runs, 2)?;
    let r = ratio(&s[0], &s[1]);
    rows.push(Row {
        id: "vs-uvx",
        what: "warm query: ktx vs uvx --from <wheel>".into(),
        ours: (ours.label.clone(), s[0].clone()),
        peer: Some((uvx.label.clone(), s[1].clone())),
        result: format!("ktx {r:.2}x faster"),
        target: "ktx faster".into(),
        met: Some(r > 1.0),
        commands: vec![ours.shown.clone(), uvx.shown.clone()],
    });

    eprintln!("==> bench 4: runtime status and --version");
    for (id, label, args, target) in [
        (
            "status",
            "ktx runtime status",
            vec!["runtime", "status"],
            Some(5.0),
        ),
        ("version", "ktx --version", vec!["--version"], None),
    ] {
        let c = mk(label, {
            let (ktx, package, root, uv) = (
                env.ktx.clone(),
                env.package.clone(),
                env.root.clone(),
                env.uv.clone(),
            );
            move || {
                let mut c = Command::new(&ktx);
                c.args(&args)
                    .env("KTX_PACKAGE_ROOT", &package)
                    .env("KTX_RUNTIME_DIR", &root)
                    .env("KTX_UV", &uv);
                c
            }
        });
        let s = measure(&[&c], runs, 2)?;
        rows.push(Row {
            id,
            what: label.to_string(),
            ours: (label.to_string(), s[0].clone()),
            peer: None,
            result: format!("{:.1} ms", ms(s[0].median)),
            target: target
                .map(|t| format!("<= {t} ms"))
                .unwrap_or_else(|| "-".into()),
            met: target.map(|t| ms(s[0].median) <= t),
            commands: vec![c.shown.clone()],
        });
    }

    eprintln!("==> bench 5: daemon query vs one-shot, and daemon start to healthy");
    let root2 = env.dir.join("runtime-daemon");
    let ktx2 = {
        let (ktx, package, uv, dir) = (
            env.ktx.clone(),
            env.package.clone(),
            env.uv.clone(),
            env.dir.clone(),
        );
        let root2 = root2.clone();
        move |args: Vec<String>| {
            let mut c = Command::new(&ktx);
            c.args(&args)
                .env("KTX_PACKAGE_ROOT", &package)
                .env("KTX_RUNTIME_DIR", &root2)
                .env("KTX_UV", &uv)
                .current_dir(&dir);
            c
        }
    };
    check(
        ktx2(vec!["runtime".into(), "install".into()])
            .stdout(Stdio::null())
            .status(),
        "ktx runtime install (daemon root)",
    )?;
    check(
        ktx2(vec!["runtime".into(), "start".into()])
            .stdout(Stdio::null())
            .status(),
        "ktx runtime start",
    )?;
    let daemon_q = mk("ktx sl query --daemon", {
        let (f, mut q) = (ktx2.clone(), q.clone());
        q.push("--daemon".into());
        move || f(q.clone())
    });
    let s = measure(&[&daemon_q, &ours], runs, 2)?;
    let r = ratio(&s[0], &s[1]);
    rows.push(Row {
        id: "daemon-vs-oneshot",
        what: "warm query: through the daemon vs one-shot".into(),
        ours: (daemon_q.label.clone(), s[0].clone()),
        peer: Some((ours.label.clone(), s[1].clone())),
        result: format!("daemon {r:.1}x faster"),
        target: ">= 10x".into(),
        met: Some(r >= 10.0),
        commands: vec![daemon_q.shown.clone(), ours.shown.clone()],
    });
    let mut start = mk("ktx runtime start", {
        let f = ktx2.clone();
        move || f(vec!["runtime".into(), "start".into()])
    });
    start.before = Some(Box::new({
        let f = ktx2.clone();
        move || {
            f(vec!["runtime".into(), "stop".into()])
                .stdout(Stdio::null())
                .status()?;
            Ok(())
        }
    }));
    let s = measure(&[&start], runs.min(5), 1)?;
    let _ = ktx2(vec!["runtime".into(), "stop".into()])
        .stdout(Stdio::null())
        .status();
    rows.push(Row {
        id: "daemon-start",
        what: "daemon start to healthy".into(),
        ours: (start.label.clone(), s[0].clone()),
        peer: None,
        result: format!("{:.0} ms", ms(s[0].median)),
        target: "<= 2000 ms".into(),
        met: Some(ms(s[0].median) <= 2000.0),
        commands: vec![format!(
            "{} (after `ktx runtime stop`, untimed)",
            start.shown
        )],
    });

    eprintln!("==> bench 5b: a burst of {BURST} queries from a cold state (KTX_DAEMON=auto)");
    let burst = mk(&format!("{BURST} x ktx sl query (KTX_DAEMON=auto)"), {
        let (f, q) = (ktx2.clone(), q.clone());
        move || {
            let mut c = f(q.clone());
            c.env("KTX_DAEMON", "auto");
            c
        }
    });
    let version_dir = root2.join(ktx_bootstrap::VERSION);
    let mut per_query = Vec::new();
    for _ in 0..cold_runs {
        // Cold: no daemon, no record of recent commands.
        let _ = ktx2(vec!["runtime".into(), "stop".into()])
            .stdout(Stdio::null())
            .status();
        for f in [".recent-runs", ".burst-start", ".daemon-failed"] {
            let _ = std::fs::remove_file(version_dir.join(f));
        }
        for _ in 0..BURST {
            per_query.push(run_once(&burst)?);
        }
    }
    let _ = ktx2(vec!["runtime".into(), "stop".into()])
        .stdout(Stdio::null())
        .status();
    let b = Stats::of(per_query);
    rows.push(Row {
        id: "burst",
        what: format!("a burst of {BURST} queries from a cold state, per query"),
        ours: (burst.label.clone(), b.clone()),
        peer: Some(("ktx sl query (one-shot)".into(), oneshot.clone())),
        result: format!(
            "{:.1} ms per query, one-shot {:.1} ms",
            ms(b.median),
            ms(oneshot.median)
        ),
        target: "<= 25 ms".into(),
        met: Some(ms(b.median) <= 25.0),
        commands: vec![format!(
            "{} ({BURST} in a row after `ktx runtime stop`; the third starts the daemon)",
            burst.shown
        )],
    });

    eprintln!("==> bench 6: cold first run without uv vs by hand, warm uv cache");
    let cold_root = env.dir.join("cold");
    let mut cold = mk("ktx bootstrap (no uv, empty root)", {
        let (ktx, package, cold_root, dir) = (
            env.ktx.clone(),
            env.package.clone(),
            cold_root.clone(),
            env.dir.clone(),
        );
        let path = crate::smoke::sandbox::path_without_uv(None);
        move || {
            let mut c = Command::new(&ktx);
            c.args(["bootstrap", "--yes"])
                .env("KTX_PACKAGE_ROOT", &package)
                .env("KTX_RUNTIME_DIR", &cold_root)
                .env_remove("KTX_UV")
                .env("PATH", &path)
                .current_dir(&dir);
            c
        }
    });
    cold.before = Some(Box::new({
        let cold_root = cold_root.clone();
        move || {
            let _ = std::fs::remove_dir_all(&cold_root);
            Ok(())
        }
    }));
    let hand_dir = env.dir.join("by-hand");
    let uv_version = crate::uvpin::UV_VERSION;
    let script = format!(
        "python3 -m venv {h}/tools && {h}/tools/bin/pip install -q uv=={uv_version} && {h}/tools/bin/uv venv -q {h}/venv && {h}/tools/bin/uv pip install -q --python {h}/venv/bin/python {w}",
        h = hand_dir.display(),
        w = env.wheel.display()
    );
    let mut by_hand = mk("pip install uv + uv venv + uv pip install", {
        let script = script.clone();
        move || cmd_of("sh", &["-c", &script])
    });
    by_hand.before = Some(Box::new({
        let h = hand_dir.clone();
        move || {
            let _ = std::fs::remove_dir_all(&h);
            Ok(())
        }
    }));
    let mut uvx_cold = mk("uvx --from <wheel> (package not cached)", {
        let (uv, wheel) = (env.uv.clone(), env.wheel.clone());
        move || {
            let mut c = Command::new(&uv);
            c.args(["tool", "run", "--isolated", "--from"])
                .arg(&wheel)
                .args(["ktx-daemon", "--version"]);
            c
        }
    });
    uvx_cold.before = Some(Box::new({
        let uv = env.uv.clone();
        move || {
            Command::new(&uv)
                .args(["cache", "clean", "kaelio-ktx"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            Ok(())
        }
    }));
    let s = measure(&[&cold, &by_hand, &uvx_cold], cold_runs, 1)?;
    let r = s[0].median.as_secs_f64() / s[1].median.as_secs_f64();
    rows.push(Row {
        id: "cold-vs-hand",
        what: "cold first run (no uv) vs by hand".into(),
        ours: (cold.label.clone(), s[0].clone()),
        peer: Some((by_hand.label.clone(), s[1].clone())),
        result: format!("{r:.2}x of by hand"),
        target: "<= 1.2x".into(),
        met: Some(r <= 1.2),
        commands: vec![
            format!("{} (after rm -rf the root)", cold.shown),
            format!("{script} (after rm -rf {})", hand_dir.display()),
        ],
    });
    rows.push(Row {
        id: "cold-vs-uvx",
        what: "cold first run (no uv) vs uvx, package not cached".into(),
        ours: (cold.label.clone(), s[0].clone()),
        peer: Some((uvx_cold.label.clone(), s[2].clone())),
        result: format!(
            "{:.2}x of uvx",
            s[0].median.as_secs_f64() / s[2].median.as_secs_f64()
        ),
        target: "-".into(),
        met: None,
        commands: vec![format!(
            "{} (after `uv cache clean kaelio-ktx`; uvx needs uv installed already)",
            uvx_cold.shown
        )],
    });

    eprintln!("==> bench 7: ktx-release wheel vs uv build vs python -m build");
    let me = std::env::current_exe()?;
    let ours_w = mk("ktx-release wheel", {
        let (me, out) = (me.clone(), env.dir.join("wheel-ours"));
        move || {
            let mut c = Command::new(&me);
            c.arg("--out").arg(&out).arg("wheel");
            c
        }
    });
    let uvb = mk("uv build --wheel", {
        let (uv, out, py) = (
            env.uv.clone(),
            env.dir.join("wheel-uv"),
            repo.join("python"),
        );
        move || {
            let mut c = Command::new(&uv);
            c.args(["build", "--wheel", "-q", "-o"]).arg(&out).arg(&py);
            c
        }
    });
    let pyb = mk("python -m build --wheel", {
        let (python, out, py) = (
            env.py.join("bin/python"),
            env.dir.join("wheel-pybuild"),
            repo.join("python"),
        );
        move || {
            let mut c = Command::new(&python);
            c.args(["-m", "build", "--wheel", "--no-isolation", "-o"])
                .arg(&out)
                .arg(&py);
            c
        }
    });
    let s = measure(&[&ours_w, &uvb, &pyb], runs, 1)?;
    let r = ratio(&s[0], &s[1]);
    rows.push(Row {
        id: "wheel-vs-uv-build",
        what: "wheel build: ktx-release vs uv build".into(),
        ours: (ours_w.label.clone(), s[0].clone()),
        peer: Some((uvb.label.clone(), s[1].clone())),
        result: format!("{r:.1}x faster"),
        target: ">= 5x".into(),
        met: Some(r >= 5.0),
        commands: vec![ours_w.shown.clone(), uvb.shown.clone()],
    });
    rows.push(Row {
        id: "wheel-vs-python-build",
        what: "wheel build: ktx-release vs python -m build".into(),
        ours: (ours_w.label.clone(), s[0].clone()),
        peer: Some((pyb.label.clone(), s[2].clone())),
        result: format!("{:.1}x faster", ratio(&s[0], &s[2])),
        target: "-".into(),
        met: None,
        commands: vec![pyb.shown.clone()],
    });

    if opts.with_embeddings {
        eprintln!("==> bench 8: embeddings, first call vs second call through the daemon");
        let model = crate::smoke::embedding_model(&env.dir)?;
        let ktx2 = {
            let f = ktx2.clone();
            move |args: Vec<String>| {
                let mut c = f(args);
                c.env("KTX_EMBEDDING_MODEL", &model);
                c
            }
        };
        let embed = |args: Vec<String>| ktx2(args);
        check(
            embed(vec![
                "runtime".into(),
                "install".into(),
                "--feature".into(),
                "local-embeddings".into(),
                "--yes".into(),
            ])
            .stdout(Stdio::null())
            .status(),
            "install local-embeddings",
        )?;
        let texts: Vec<String> = vec![
            "embed".into(),
            "revenue by country".into(),
            "sales per nation".into(),
        ];
        let mut first = mk("ktx embed (daemon starts, loads the model)", {
            let (f, t) = (ktx2.clone(), texts.clone());
            move || f(t.clone())
        });
        first.before = Some(Box::new({
            let f = ktx2.clone();
            move || {
                f(vec!["runtime".into(), "stop".into()])
                    .stdout(Stdio::null())
                    .status()?;
                Ok(())
            }
        }));
        let second = mk("ktx embed (daemon warm)", {
            let (f, t) = (ktx2.clone(), texts.clone());
            move || f(t.clone())
        });
        let s = measure(&[&first, &second], runs.min(3), 0)?;
        let _ = ktx2(vec!["runtime".into(), "stop".into()]).status();
        let r = ratio(&s[1], &s[0]);
        rows.push(Row {
            id: "embeddings",
            what: "embeddings: first call vs second call".into(),
            ours: (second.label.clone(), s[1].clone()),
            peer: Some((first.label.clone(), s[0].clone())),
            result: format!("second {r:.1}x faster"),
            target: ">= 20x".into(),
            met: Some(r >= 20.0),
            commands: vec![first.shown.clone(), second.shown.clone()],
        });
    }
    let _ = ktx2(vec!["runtime".into(), "stop".into()]).status();
    rows.extend(heavy_rows(repo, env, runs)?);
    Ok(rows)
}

/// A Python 3.13+ for the heavy payload's rows: `KTX_BENCH_PYTHON313`, else pyenv's newest.
fn python313() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KTX_BENCH_PYTHON313") {
        return Ok(PathBuf::from(p));
    }
    let root = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("3.13"))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|d| d.join("bin/python3.13"))
        .context("no Python 3.13 for the heavy payload's rows (set KTX_BENCH_PYTHON313)")
}

fn dir_size(p: &Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// The payload in KTX's real shape (python/ + fixtures/payloads/heavy: Requires-Python >=3.13,
/// numpy, pandas, orjson, psycopg): a first install by ktx against uvx of the same wheel,
/// with a warm uv cache and with an empty one.
fn heavy_rows(repo: &Path, env: &BenchEnv, runs: usize) -> Result<Vec<Row>> {
    eprintln!("==> bench: the heavy payload (python/ + fixtures/payloads/heavy)");
    let dir = env.dir.join("heavy");
    let projects = [
        PathBuf::from("python"),
        PathBuf::from("fixtures/payloads/heavy"),
    ];
    let wheel = crate::pack::build_payload_wheel(repo, &projects, &dir.join("dist"))?;
    let native = crate::pack::NativeBinary {
        npm_dir: ktx_bootstrap::targets::host()
            .context("no npm directory for this host")?
            .npm_dir
            .to_string(),
        path: env.ktx.clone(),
    };
    let package = dir.join("package");
    crate::pack::stage(
        &crate::pack::StageOptions {
            repo,
            wheel: &wheel,
            binaries: std::slice::from_ref(&native),
            pin_cache: &repo.join("target/ktx-release/uv-pins.json"),
            require_github_pins: false,
        },
        &package,
    )?;
    let py = python313()?;
    // Only that interpreter and the system's tools: uv finds it, as a user's PATH would.
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        py.parent().unwrap_or(Path::new("/")).display()
    );
    let root = dir.join("runtime");
    let warm_cache = dir.join("uv-cache");
    let cold_cache = dir.join("uv-cache-cold");
    let ktx_install = |cache: PathBuf| {
        let (ktx, package, root, uv, path, dir) = (
            env.ktx.clone(),
            package.clone(),
            root.clone(),
            env.uv.clone(),
            path.clone(),
            dir.clone(),
        );
        move || {
            let mut c = Command::new(&ktx);
            c.args(["runtime", "install", "--yes"])
                .env("KTX_PACKAGE_ROOT", &package)
                .env("KTX_RUNTIME_DIR", &root)
                .env("KTX_UV", &uv)
                .env("UV_CACHE_DIR", &cache)
                .env("PATH", &path)
                .current_dir(&dir);
            c
        }
    };
    let uvx = |cache: PathBuf| {
        let (uv, wheel, path) = (env.uv.clone(), wheel.path.clone(), path.clone());
        move || {
            let mut c = Command::new(&uv);
            c.args(["tool", "run", "--isolated", "--from"])
                .arg(&wheel)
                .args(["ktx-daemon", "--version"])
                .env("UV_CACHE_DIR", &cache)
                .env("PATH", &path);
            c
        }
    };
    let wipe_root = {
        let root = root.clone();
        move || -> Result<()> {
            let _ = std::fs::remove_dir_all(&root);
            Ok(())
        }
    };
    // Fill the warm cache once.
    check(
        ktx_install(warm_cache.clone())()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status(),
        "ktx runtime install (heavy payload)",
    )?;
    let mut ours = mk(
        "ktx runtime install (empty root, warm uv cache)",
        ktx_install(warm_cache.clone()),
    );
    ours.before = Some(Box::new(wipe_root.clone()));
    let peer = mk(
        "uvx --isolated --from <wheel> ktx-daemon --version (warm uv cache)",
        uvx(warm_cache.clone()),
    );
    let n = runs.min(5);
    let s = measure(&[&ours, &peer], n, 0)?;
    let r = ratio(&s[1], &s[0]);
    let mut rows = vec![Row {
        id: "heavy-first-run",
        what: "heavy payload, first run with a warm uv cache: ktx vs uvx".into(),
        ours: (ours.label.clone(), s[0].clone()),
        peer: Some((peer.label.clone(), s[1].clone())),
        result: format!("{r:.2}x of uvx"),
        target: "<= 1.2x".into(),
        met: Some(r <= 1.2),
        commands: vec![
            format!("{} (after rm -rf the root)", ours.shown),
            peer.shown.clone(),
        ],
    }];
    let wipe_cold = {
        let (root, cold) = (root.clone(), cold_cache.clone());
        move || -> Result<()> {
            let _ = std::fs::remove_dir_all(&root);
            let _ = std::fs::remove_dir_all(&cold);
            Ok(())
        }
    };
    let mut ours = mk(
        "ktx runtime install (empty root, empty uv cache)",
        ktx_install(cold_cache.clone()),
    );
    ours.before = Some(Box::new(wipe_cold.clone()));
    let mut peer = mk(
        "uvx --isolated --from <wheel> ktx-daemon --version (empty uv cache)",
        uvx(cold_cache.clone()),
    );
    peer.before = Some(Box::new(wipe_cold));
    let s = measure(&[&ours, &peer], runs.min(2), 0)?;
    let downloaded = dir_size(&cold_cache);
    let r = ratio(&s[1], &s[0]);
    rows.push(Row {
        id: "heavy-first-run-cold",
        what: "heavy payload, first run with an empty uv cache: ktx vs uvx".into(),
        ours: (ours.label.clone(), s[0].clone()),
        peer: Some((peer.label.clone(), s[1].clone())),
        result: format!(
            "{r:.2}x of uvx; uv cache after: {} MB",
            downloaded.div_ceil(1 << 20)
        ),
        target: "-".into(),
        met: None,
        commands: vec![
            format!("{} (after rm -rf the root and the cache)", ours.shown),
            format!("{} (after rm -rf the cache)", peer.shown),
        ],
    });
    wipe_root()?;
    Ok(rows)
}

/// "Linux 6.1, 2 CPUs (model name), 24 GiB".
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{} GiB", k / 1024 / 1024))
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{} {}, {cpus} CPUs ({cpu}), {mem}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
