//! What a bench run works in (`target/bench/`): the wheel, the release binary and the staged
//! package built once, a runtime bootstrapped from them, the demo project, the request
//! `ktx sl query` sends, and the tools the peers need (uv, a venv with `build`, a Python 3.13).
//! The soak reuses it.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// A set-up step's outcome, as an error that names the step.
pub(super) fn check(status: std::io::Result<std::process::ExitStatus>, what: &str) -> Result<()> {
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("{what} failed ({s}); hint: its output is above"),
        Err(e) => bail!("cannot run {what}: {e}; hint: is it installed and on PATH?"),
    }
}

/// Build everything the rows need under `dir` (reused between runs where it can be).
pub fn prepare(repo: &Path, dir: &Path) -> Result<BenchEnv> {
    // A misspelt group is refused before minutes of building.
    super::selected_groups(&[])?;
    std::fs::create_dir_all(dir)?;
    eprintln!("==> bench: building the wheel, the release binary and the package");
    let layout = crate::layout::ReleaseLayout::of(repo);
    let projects = [PathBuf::from(crate::pack::DEFAULT_PROJECT)];
    let pipeline = crate::pipeline::Pipeline::new(&layout, &projects);
    let wheel = pipeline.wheel(&dir.join("dist"))?;
    let native = crate::binary::build(repo, None)?;
    let package = dir.join("package");
    pipeline.stage(&wheel, std::slice::from_ref(&native), &package)?;
    let root = dir.join("runtime");
    let demo = dir.join("demo");
    let ktx = native.path.clone();
    // Their output is progress: stderr, so that stdout holds only the table (or the JSON).
    let base = |c: &mut Command| {
        c.env("KTX_PACKAGE_ROOT", &package)
            .env("KTX_RUNTIME_DIR", &root)
            .current_dir(dir)
            .stdout(std::io::stderr());
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
                ktx_bootstrap::uv::find_on_path("uv")
                    .context("no uv found after ktx bootstrap; hint: set KTX_UV to a uv")?
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
        bail!("query_args is not an sl command (a bug in the bench)");
    };
    let ktx_bootstrap::cli::Sl::Query(args) = sl.command else {
        bail!("query_args is not sl query (a bug in the bench)");
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

/// A Python 3.13 for the heavy payload's rows, found as scripts/test finds the tests' own:
/// `KTX_BENCH_PYTHON313`, `python3.13` on PATH, pyenv's newest 3.13, then `uv python find`.
pub(super) fn python313() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KTX_BENCH_PYTHON313") {
        return Ok(PathBuf::from(p));
    }
    let pyenv_root = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .or_else(|| std::env::var_os("PYENV_ROOT").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    let mut pyenv: Vec<PathBuf> = pyenv_root
        .and_then(|r| std::fs::read_dir(r.join("versions")).ok())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("3.13."))
        })
        .collect();
    pyenv.sort();
    let uv_find = || {
        Command::new("uv")
            .args(["python", "find", "--system", "--no-config", "3.13"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("python3.13"))
        .filter(|p| p.is_file());
    let candidates = on_path
        .chain(pyenv.into_iter().rev().map(|d| d.join("bin/python3.13")))
        .chain(uv_find());
    for python in candidates {
        let version = Command::new(&python)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output();
        if version.is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"3.13")) {
            return Ok(python);
        }
    }
    bail!("no Python 3.13 for the heavy payload's rows (not on PATH as python3.13, in pyenv or uv's); hint: `uv python install 3.13`, or set KTX_BENCH_PYTHON313 to one")
}

pub(super) fn dir_size(p: &Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}
