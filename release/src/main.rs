//! The `ktx-release` command line.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ktx_release::{binary, pack, repo_root, verify};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "ktx-release", version, about = "Build, pack and check a KTX release", long_about = None)]
struct Cli {
    /// Where artefacts go.
    #[arg(long, global = true, default_value = "dist")]
    out: PathBuf,
    /// The repository to build from (default: the one this ktx-release was built from; `check
    /// --rebuild` points it at a copy).
    #[arg(long, global = true, value_name = "DIR")]
    repo: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

/// The payload projects merged into the one kaelio-ktx wheel.
#[derive(Args, Clone)]
struct PayloadArgs {
    /// A payload project (a directory with a hatchling pyproject.toml), relative to the
    /// repository; repeat it to merge several into the one kaelio-ktx wheel. The runtime host
    /// (python/host) is merged into every wheel. `DIR#pkg,pkg` takes only those import packages
    /// of the project (and its scripts and entry points that point into them), e.g.
    /// `--project python#semantic_layer`; an unknown name is refused. `#` is special in neither
    /// Windows nor POSIX paths: the first `#` always starts the list.
    #[arg(long = "project", value_name = "DIR[#PKG,...]", default_value = ktx_release::pack::DEFAULT_PROJECT)]
    projects: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the reproducible kaelio_ktx wheel of the payload projects into the output directory.
    Wheel {
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Write the merged payload as one standard hatchling project into DIR, relative to the
    /// repository (`uv build` of it makes the same files and METADATA; the tests compare them).
    PayloadProject {
        dir: PathBuf,
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Print the uv version this release pins.
    UvVersion,
    /// Print this machine's package platform (`native/<dir>` name, e.g. linux-x64), for
    /// scripts that pack a debug binary.
    HostTarget,
    /// The release build of the `ktx` binary (host, or --target TRIPLE): Linux targets by
    /// cargo-zigbuild (gnu ones against the glibc floor), macOS and Windows by cargo.
    Binary {
        #[arg(long)]
        target: Option<String>,
    },
    /// Stage and `npm pack` the @kaelio/ktx package, then verify the tarball.
    Pack {
        /// A native binary to include, as NPM_DIR=PATH (e.g.
        /// linux-x64=target/x86_64-unknown-linux-gnu/release/ktx). Default: the host's release
        /// binary, where `ktx-release binary` puts it.
        #[arg(long = "binary", value_name = "NPM_DIR=PATH")]
        binaries: Vec<String>,
        /// Fail unless the github pins of uv can be resolved too (release CI).
        #[arg(long)]
        require_github_pins: bool,
        /// Keep the staged package directory here (a package root tests can use).
        #[arg(long)]
        stage_dir: Option<PathBuf>,
        /// Pack as this version, not the workspace's (a previous release for the upgrade cell;
        /// pass a --binary built with KTX_BUILD_VERSION set to the same version).
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// `single`: one tarball with every binary under native/ (by-path runs of an unpublished
        /// build, the tests). `platforms`: the release, the main @kaelio/ktx tarball naming one
        /// @kaelio/ktx-<dir> package per binary in optionalDependencies, each packed beside it
        /// (prints the platform tarballs first, the main one last).
        #[arg(long, value_enum, default_value = "single")]
        layout: ktx_release::npm_layout::Layout,
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Pack the same package three ways (one binary; every --binary in one tarball; the
    /// platforms layout) and print the bytes a first `npx @kaelio/ktx` fetches on PLATFORM.
    DownloadSizes {
        /// Every binary to pack, as NPM_DIR=PATH; one of them must be PLATFORM's.
        #[arg(long = "binary", value_name = "NPM_DIR=PATH", required = true)]
        binaries: Vec<String>,
        #[arg(long, default_value = "linux-x64")]
        platform: String,
    },
    /// Verify a packed tarball (files, modes, digests, versions, each native binary's format and
    /// the glibc floor of the glibc builds).
    Verify { tarball: PathBuf },
    /// The main job: wheel, binary, pack, verify, then the smoke matrix; prints each step.
    Check {
        #[arg(long = "cell", value_name = "ID")]
        cells: Vec<String>,
        #[arg(long)]
        with_embeddings: bool,
        /// After verify: build the wheel, the binary and the tarball again from a copy of the
        /// sources in another directory, under another umask, time zone and locale, and
        /// require the same sha256 digests.
        #[arg(long)]
        rebuild: bool,
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Build this checkout's wheel, Linux binaries and tarball and compare them with a published
    /// tarball by sha256 (macOS and Windows binaries are taken from it, not rebuilt).
    Rebuild {
        /// The published tarball (`npm pack @kaelio/ktx@<version>`).
        #[arg(long, value_name = "TARBALL")]
        against: PathBuf,
        /// Print the rustc version that built its Linux binaries and stop (a rebuild needs the
        /// same toolchain).
        #[arg(long)]
        print_rustc: bool,
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// The release checks over the smoke matrix (matrix/), against a local npm registry.
    Smoke {
        /// Run only these cells (repeatable; default: all).
        #[arg(long = "cell", value_name = "ID")]
        cells: Vec<String>,
        /// Run only these checks (repeatable; default: each cell's list).
        #[arg(long = "check", value_name = "ID")]
        checks: Vec<String>,
        /// Add the opt-in local-embeddings check (installs torch: large).
        #[arg(long)]
        with_embeddings: bool,
        /// Check this tarball instead of packing one.
        #[arg(long)]
        tarball: Option<PathBuf>,
        /// Where the reports (junit.xml, report.json) and the cells' work directories go.
        #[arg(long, default_value = "target/smoke")]
        report_dir: PathBuf,
        /// The payload projects of the tarball it packs (when no --tarball is given).
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Interrupt `ktx runtime install` at random moments (SIGKILL to ktx, SIGINT to its group)
    /// while busy threads load the machine; after each, a query must answer. Prints
    /// recovered/N; fails unless every round recovered.
    Soak {
        /// Rounds ended by SIGKILL to ktx alone.
        #[arg(long, default_value_t = 30)]
        kills: usize,
        /// Rounds ended by SIGINT to ktx's process group (Ctrl-C).
        #[arg(long, default_value_t = 10)]
        interrupts: usize,
        /// Busy threads beside the rounds.
        #[arg(long, default_value_t = 2)]
        load: usize,
        /// The longest delay before an interruption (ms); a warm install takes about 1.2 s.
        #[arg(long, default_value_t = 1500)]
        max_delay_ms: u64,
    },
    /// The performance table: our commands beside the ones users would run instead.
    Bench {
        /// Timed runs per command (after a warm-up).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Print JSON instead of the markdown table (both are written under target/bench/).
        #[arg(long)]
        json: bool,
        /// Add the local-embeddings rows (installs sentence-transformers and torch).
        #[arg(long)]
        with_embeddings: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("==> {name}");
    let start = Instant::now();
    let r = f();
    match &r {
        Ok(_) => eprintln!("    {name}: ok ({:.1}s)", start.elapsed().as_secs_f64()),
        Err(_) => eprintln!("    {name}: FAILED ({:.1}s)", start.elapsed().as_secs_f64()),
    }
    r
}

fn run(cli: Cli) -> Result<()> {
    let repo = match &cli.repo {
        Some(r) => std::fs::canonicalize(r)
            .with_context(|| format!("--repo {}: no such directory", r.display()))?,
        None => repo_root(),
    };
    let out = if cli.out.is_absolute() {
        cli.out.clone()
    } else {
        repo.join(&cli.out)
    };
    match cli.command {
        Cmd::Wheel { payload } => {
            let w = pack::build_payload_wheel(&repo, &payload.projects, &out)?;
            println!(
                "{}  sha256={}  files={}",
                w.path.display(),
                w.sha256,
                w.files
            );
        }
        Cmd::PayloadProject { dir, payload } => {
            let dir = if dir.is_absolute() {
                dir
            } else {
                repo.join(dir)
            };
            let p = pack::load_payload(&repo, &payload.projects)?;
            p.write_project(&dir)?;
            println!("{}", dir.display());
        }
        Cmd::UvVersion => println!("{}", ktx_release::uvpin::UV_VERSION),
        Cmd::HostTarget => match ktx_bootstrap::targets::host() {
            Some(t) => println!("{}", t.npm_dir),
            None => anyhow::bail!(
                "this machine ({} {}) is not a platform the package carries",
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
        },
        Cmd::Binary { target } => {
            let b = binary::build(&repo, target.as_deref())?;
            println!("{}  native/{}", b.path.display(), b.npm_dir);
        }
        Cmd::Pack {
            binaries,
            require_github_pins,
            stage_dir,
            version,
            layout,
            payload,
        } => {
            let packed = do_pack_as(
                &repo,
                &out,
                &payload.projects,
                &binaries,
                require_github_pins,
                stage_dir,
                version.as_deref(),
                layout,
            )?;
            for tgz in packed.publish_order() {
                println!("{}", tgz.display());
            }
        }
        Cmd::DownloadSizes { binaries, platform } => {
            let table = download_sizes(&repo, &out, &binaries, &platform)?;
            println!("{table}");
        }
        Cmd::Verify { tarball } => {
            let v = verify::verify_tarball(&tarball)?;
            println!(
                "{}: ok (version {}, {} files, platforms {})",
                tarball.display(),
                v.version,
                v.files,
                v.platforms.join(", ")
            );
            for t in &v.platform_tarballs {
                println!("{}: ok (its platform package)", t.display());
            }
        }
        Cmd::Bench {
            runs,
            json,
            with_embeddings,
        } => {
            let dir = repo.join("target/bench");
            let env = ktx_release::bench::prepare(&repo, &dir)?;
            let rows = ktx_release::bench::run(
                &repo,
                &env,
                &ktx_release::bench::Options {
                    runs,
                    with_embeddings,
                },
            )?;
            let date = ktx_bootstrap::manifest::now_rfc3339();
            let machine = ktx_release::bench::machine();
            let md = ktx_release::bench::markdown(&rows, &machine, &date[..10], runs);
            let js = serde_json::json!({"date": date, "machine": machine, "runs": runs, "rows": rows.iter().map(|r| r.json()).collect::<Vec<_>>()});
            std::fs::write(dir.join("bench.md"), &md)?;
            std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(&js)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&js)?);
            } else {
                println!("{md}");
            }
            eprintln!(
                "wrote {} and {}",
                dir.join("bench.md").display(),
                dir.join("bench.json").display()
            );
        }
        Cmd::Soak {
            kills,
            interrupts,
            load,
            max_delay_ms,
        } => ktx_release::soak::run(
            &repo,
            &ktx_release::soak::default_dir(&repo),
            &ktx_release::soak::Options {
                kills,
                interrupts,
                load,
                max_delay_ms,
            },
        )?,
        Cmd::Smoke {
            cells,
            checks,
            with_embeddings,
            tarball,
            report_dir,
            payload,
        } => {
            let tarball = match tarball {
                Some(t) => t,
                None => {
                    binary::build(&repo, None)?;
                    do_pack(&repo, &out, &payload.projects, &[], false, None, None)?
                }
            };
            let report_dir = if report_dir.is_absolute() {
                report_dir
            } else {
                repo.join(report_dir)
            };
            smoke(&repo, &report_dir, &tarball, cells, checks, with_embeddings)?;
        }
        Cmd::Rebuild {
            against,
            print_rustc,
            payload,
        } => {
            if print_rustc {
                let v = ktx_release::rebuild::published_rustc(&against)?;
                println!("{}", v.split_whitespace().next().unwrap_or(&v));
                return Ok(());
            }
            let report =
                ktx_release::rebuild::against_published(&repo, &out, &against, &payload.projects)?;
            println!("{}", report.table());
            report.result()?;
        }
        Cmd::Check {
            cells,
            with_embeddings,
            rebuild,
            payload,
        } => {
            let start = Instant::now();
            let wheel = step("wheel", || {
                pack::build_payload_wheel(&repo, &payload.projects, &out)
            })?;
            let native = step("binary", || binary::build(&repo, None))?;
            let tgz = step("pack", || {
                do_pack(
                    &repo,
                    &out,
                    &payload.projects,
                    &[],
                    false,
                    Some(out.join("package")),
                    None,
                )
            })?;
            step("verify", || verify::verify_tarball(&tgz))?;
            if rebuild {
                step("rebuild", || {
                    let report = ktx_release::rebuild::against_first_build(
                        &repo,
                        &ktx_release::rebuild::FirstBuild {
                            wheel: &wheel.path,
                            binary: &native,
                            tarball: &tgz,
                        },
                        &payload.projects,
                    )?;
                    println!("{}", report.table());
                    report.result()
                })?;
            }
            step("smoke", || {
                smoke(
                    &repo,
                    &repo.join("target/smoke"),
                    &tgz,
                    cells,
                    vec![],
                    with_embeddings,
                )
            })?;
            eprintln!(
                "check passed in {:.1}s: {}",
                start.elapsed().as_secs_f64(),
                tgz.display()
            );
        }
    }
    Ok(())
}

/// Run the smoke matrix, print the table, write JUnit XML and JSON under target/smoke/.
fn smoke(
    repo: &std::path::Path,
    out: &std::path::Path,
    tarball: &std::path::Path,
    cells: Vec<String>,
    checks: Vec<String>,
    with_embeddings: bool,
) -> Result<()> {
    use ktx_release::smoke::{self, report};
    let out = out.to_path_buf();
    std::fs::create_dir_all(&out)?;
    let tarball = if tarball.is_absolute() {
        tarball.to_path_buf()
    } else {
        std::env::current_dir()?.join(tarball)
    };
    // Cells that name their own payload get a tarball of it, with the same native binary.
    let pack_payload = |projects: &[PathBuf]| -> Result<PathBuf> {
        let name: Vec<String> = projects
            .iter()
            .map(|p| p.to_string_lossy().replace(['/', '\\'], "_"))
            .collect();
        let dir = out.join("payloads").join(name.join("+"));
        do_pack(repo, &dir, projects, &[], false, None, None)
    };
    // The upgrade cell's previous release: this tree at another version, its binary a debug
    // build with that version compiled in (a target directory of its own, so that the release
    // binary and the tests' debug one stay this version).
    let pack_previous = |version: &str| -> Result<PathBuf> {
        let target_dir = repo.join("target/previous");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(&cargo)
            .args([
                "build",
                "-q",
                "--locked",
                "-p",
                "ktx-bootstrap",
                "--bin",
                "ktx",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .env("KTX_BUILD_VERSION", version)
            .current_dir(repo)
            .status()
            .with_context(|| format!("cannot run {cargo}"))?;
        if !st.success() {
            anyhow::bail!(
                "the build of ktx {version} failed ({st}); hint: see the compiler output above"
            );
        }
        let host = binary::host_target()?;
        let bin = target_dir
            .join("debug")
            .join(format!("ktx{}", host.exe_suffix));
        do_pack(
            repo,
            &out.join("previous"),
            &[PathBuf::from(pack::DEFAULT_PROJECT)],
            &[format!("{}={}", host.npm_dir, bin.display())],
            false,
            None,
            Some(version),
        )
    };
    let opts = smoke::Options {
        cells,
        checks,
        with_embeddings,
        tarball,
        out: out.clone(),
        pack_payload: &pack_payload,
        pack_previous: &pack_previous,
    };
    let results = smoke::run(repo, &opts)?;
    println!("\n{}", report::table(&results));
    std::fs::write(out.join("junit.xml"), report::junit(&results))?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report::json(&results))?,
    )?;
    eprintln!(
        "reports: {} and {}",
        out.join("junit.xml").display(),
        out.join("report.json").display()
    );
    let (_, failed, _) = report::counts(&results);
    if failed > 0 {
        anyhow::bail!(
            "{failed} smoke check(s) failed (details above and in {})",
            out.join("report.json").display()
        );
    }
    Ok(())
}

fn do_pack(
    repo: &std::path::Path,
    out: &std::path::Path,
    projects: &[PathBuf],
    binaries: &[String],
    require_github_pins: bool,
    stage_dir: Option<PathBuf>,
    version: Option<&str>,
) -> Result<PathBuf> {
    Ok(do_pack_as(
        repo,
        out,
        projects,
        binaries,
        require_github_pins,
        stage_dir,
        version,
        ktx_release::npm_layout::Layout::Single,
    )?
    .main)
}

/// The download-sizes table: the default payload packed with PLATFORM's binary alone, with every
/// binary in one tarball, and in the platforms layout.
fn download_sizes(
    repo: &std::path::Path,
    out: &std::path::Path,
    binaries: &[String],
    platform: &str,
) -> Result<String> {
    use ktx_release::npm_layout::{platform_package, tarball_name, DownloadRow, Layout};
    let own = binaries
        .iter()
        .find(|b| b.split_once('=').map(|(d, _)| d) == Some(platform))
        .with_context(|| format!("no --binary {platform}=PATH given"))?;
    let projects = [PathBuf::from(pack::DEFAULT_PROJECT)];
    let size = |p: &std::path::Path| -> Result<(String, u64)> {
        Ok((
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string(),
            std::fs::metadata(p)
                .with_context(|| format!("cannot stat {}", p.display()))?
                .len(),
        ))
    };
    let mut rows = Vec::new();
    for (label, dir, bins, layout) in [
        (
            "one binary (single)",
            "one",
            vec![own.clone()],
            Layout::Single,
        ),
        (
            "every binary in one tarball (single)",
            "all",
            binaries.to_vec(),
            Layout::Single,
        ),
        (
            "one package per platform (platforms)",
            "platforms",
            binaries.to_vec(),
            Layout::Platforms,
        ),
    ] {
        let dest = out.join("download-sizes").join(dir);
        let _ = std::fs::remove_dir_all(&dest);
        let packed = do_pack_as(repo, &dest, &projects, &bins, false, None, None, layout)?;
        let mut tarballs = vec![size(&packed.main)?];
        if layout == Layout::Platforms {
            let version = ktx_release::workspace::Workspace::load(repo)?.version;
            let name = tarball_name(&platform_package(platform), &version);
            let mine = packed
                .platforms
                .iter()
                .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == name))
                .with_context(|| format!("the platforms layout has no {name}"))?;
            tarballs.push(size(mine)?);
        }
        rows.push(DownloadRow {
            layout: format!("{label}, {} binaries packed", bins.len()),
            tarballs,
        });
    }
    Ok(ktx_release::npm_layout::download_table(platform, &rows))
}

#[allow(clippy::too_many_arguments)]
fn do_pack_as(
    repo: &std::path::Path,
    out: &std::path::Path,
    projects: &[PathBuf],
    binaries: &[String],
    require_github_pins: bool,
    stage_dir: Option<PathBuf>,
    version: Option<&str>,
    layout: ktx_release::npm_layout::Layout,
) -> Result<pack::Packed> {
    let wheel = match version {
        Some(v) => pack::build_payload_wheel_as(repo, projects, out, v)?,
        None => pack::build_payload_wheel(repo, projects, out)?,
    };
    let natives = if binaries.is_empty() {
        vec![binary::host_binary(repo).with_context(|| {
            format!(
                "no release binary of this host in {}; hint: run `ktx-release binary` first",
                repo.join("target").display()
            )
        })?]
    } else {
        binaries
            .iter()
            .map(|b| {
                let (dir, path) = b
                    .split_once('=')
                    .with_context(|| format!("--binary {b}: expected NPM_DIR=PATH"))?;
                Ok(pack::NativeBinary {
                    npm_dir: dir.to_string(),
                    path: PathBuf::from(path),
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    let opts = pack::StageOptions {
        repo,
        wheel: &wheel,
        binaries: &natives,
        pin_cache: &repo.join("target/ktx-release/uv-pins.json"),
        require_github_pins,
        version,
    };
    let keep = stage_dir.is_some();
    let tmp = tempfile::Builder::new().prefix(".stage-").tempdir_in({
        std::fs::create_dir_all(out)?;
        out
    })?;
    let stage = stage_dir.unwrap_or_else(|| tmp.path().join("package"));
    pack::stage(&opts, &stage)?;
    let packed = match layout {
        ktx_release::npm_layout::Layout::Single => pack::Packed {
            main: pack::npm_pack(&stage, out)?,
            platforms: Vec::new(),
        },
        ktx_release::npm_layout::Layout::Platforms => pack::npm_pack_platforms(&stage, out)?,
    };
    if keep {
        eprintln!("    staged package kept at {}", stage.display());
    }
    Ok(packed)
}
