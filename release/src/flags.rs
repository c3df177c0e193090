//! The `ktx-release` command line: the clap definitions only (each command's arguments as a
//! struct; `commands` runs them).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ktx-release", version, about = "Build, pack and check a KTX release", long_about = None)]
pub struct Cli {
    /// Where artefacts go.
    #[arg(long, global = true, default_value = "dist")]
    pub out: PathBuf,
    /// The repository to build from (default: the one this ktx-release was built from; `check
    /// --rebuild` points it at a copy).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

/// The payload projects merged into the one kaelio-ktx wheel.
#[derive(Args, Clone)]
pub struct PayloadArgs {
    /// A payload project (a directory with a hatchling pyproject.toml), relative to the
    /// repository; repeat it to merge several into the one kaelio-ktx wheel. The runtime host
    /// (python/host) is merged into every wheel. `DIR#pkg,pkg` takes only those import packages
    /// of the project (and its scripts and entry points that point into them), e.g.
    /// `--project python#semantic_layer`; an unknown name is refused. `#` is special in neither
    /// Windows nor POSIX paths: the first `#` always starts the list.
    #[arg(long = "project", value_name = "DIR[#PKG,...]", default_value = ktx_release::pack::DEFAULT_PROJECT)]
    pub projects: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Build the reproducible kaelio_ktx wheel of the payload projects into the output directory.
    Wheel(Wheel),
    /// Write the merged payload as one standard hatchling project into DIR, relative to the
    /// repository (`uv build` of it makes the same files and METADATA; the tests compare them).
    PayloadProject(PayloadProject),
    /// Print the uv version this release pins.
    UvVersion,
    /// Print this machine's package platform (`native/<dir>` name, e.g. linux-x64), for
    /// scripts that pack a debug binary.
    HostTarget,
    /// The release build of the `ktx` binary (host, or --target TRIPLE): Linux targets by
    /// cargo-zigbuild (gnu ones against the glibc floor), macOS and Windows by cargo.
    Binary(Binary),
    /// Stage and `npm pack` the @kaelio/ktx package, then verify the tarball.
    Pack(Pack),
    /// Pack the same package three ways (one binary; every --binary in one tarball; the
    /// platforms layout) and print the bytes a first `npx @kaelio/ktx` fetches on PLATFORM.
    DownloadSizes(DownloadSizes),
    /// Verify a packed tarball (files, modes, digests, versions, each native binary's format and
    /// the glibc floor of the glibc builds).
    Verify(Verify),
    /// The main job: wheel, binary, pack, verify, then the smoke matrix; prints each step.
    Check(Check),
    /// Build this checkout's wheel, Linux binaries and tarball and compare them with a published
    /// tarball by sha256 (macOS and Windows binaries are taken from it, not rebuilt).
    Rebuild(Rebuild),
    /// The release checks over the smoke matrix (matrix/), against a local npm registry.
    Smoke(Smoke),
    /// Merge the smoke reports of separate runs (every report.json under --from, e.g. one per
    /// cell from CI's jobs) into one table, junit.xml and report.json; fails if any check failed.
    SmokeMerge(SmokeMerge),
    /// Interrupt `ktx runtime install` at random moments (SIGKILL to ktx, SIGINT to its group)
    /// while busy threads load the machine; after each, a query must answer. Prints
    /// recovered/N; fails unless every round recovered.
    Soak(Soak),
    /// The performance table: our commands beside the ones users would run instead.
    Bench(Bench),
}

#[derive(Args)]
pub struct Wheel {
    #[command(flatten)]
    pub payload: PayloadArgs,
}

#[derive(Args)]
pub struct PayloadProject {
    pub dir: PathBuf,
    #[command(flatten)]
    pub payload: PayloadArgs,
}

#[derive(Args)]
pub struct Binary {
    #[arg(long)]
    pub target: Option<String>,
}

#[derive(Args)]
pub struct Pack {
    /// A native binary to include, as NPM_DIR=PATH (e.g.
    /// linux-x64=target/x86_64-unknown-linux-gnu/release/ktx). Default: the host's release
    /// binary, where `ktx-release binary` puts it.
    #[arg(long = "binary", value_name = "NPM_DIR=PATH")]
    pub binaries: Vec<String>,
    /// Fail unless the github pins of uv can be resolved too (release CI).
    #[arg(long)]
    pub require_github_pins: bool,
    /// Keep the staged package directory here (a package root tests can use).
    #[arg(long)]
    pub stage_dir: Option<PathBuf>,
    /// Pack as this version, not the workspace's (a previous release for the upgrade cell;
    /// pass a --binary built with KTX_BUILD_VERSION set to the same version).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// `single`: one tarball with every binary under native/ (by-path runs of an unpublished
    /// build, the tests). `platforms`: the release, the main @kaelio/ktx tarball naming one
    /// @kaelio/ktx-<dir> package per binary in optionalDependencies, each packed beside it
    /// (prints the platform tarballs first, the main one last).
    #[arg(long, value_enum, default_value = "single")]
    pub layout: ktx_release::npm_layout::Layout,
    #[command(flatten)]
    pub payload: PayloadArgs,
}

#[derive(Args)]
pub struct DownloadSizes {
    /// Every binary to pack, as NPM_DIR=PATH; one of them must be PLATFORM's.
    #[arg(long = "binary", value_name = "NPM_DIR=PATH", required = true)]
    pub binaries: Vec<String>,
    #[arg(long, default_value = "linux-x64")]
    pub platform: String,
}

#[derive(Args)]
pub struct Verify {
    pub tarball: PathBuf,
}

#[derive(Args)]
pub struct Check {
    #[arg(long = "cell", value_name = "ID")]
    pub cells: Vec<String>,
    #[arg(long)]
    pub with_embeddings: bool,
    /// After verify: build the wheel, the binary and the tarball again from a copy of the
    /// sources in another directory, under another umask, time zone and locale, and
    /// require the same sha256 digests.
    #[arg(long)]
    pub rebuild: bool,
    #[command(flatten)]
    pub payload: PayloadArgs,
}

#[derive(Args)]
pub struct Rebuild {
    /// The published tarball (`npm pack @kaelio/ktx@<version>`).
    #[arg(long, value_name = "TARBALL")]
    pub against: PathBuf,
    /// Print the rustc version that built its Linux binaries and stop (a rebuild needs the
    /// same toolchain).
    #[arg(long)]
    pub print_rustc: bool,
    #[command(flatten)]
    pub payload: PayloadArgs,
}

#[derive(Args)]
pub struct Smoke {
    /// Run only these cells (repeatable; default: all).
    #[arg(long = "cell", value_name = "ID")]
    pub cells: Vec<String>,
    /// Run only these checks (repeatable; default: each cell's list).
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    /// Add the opt-in local-embeddings check (installs torch: large).
    #[arg(long)]
    pub with_embeddings: bool,
    /// Check this tarball instead of packing one.
    #[arg(long)]
    pub tarball: Option<PathBuf>,
    /// Where the reports (junit.xml, report.json) and the cells' work directories go.
    #[arg(long, default_value = "target/smoke")]
    pub report_dir: PathBuf,
    /// The payload projects of the tarball it packs (when no --tarball is given).
    #[command(flatten)]
    pub payload: PayloadArgs,
}

#[derive(Args)]
pub struct SmokeMerge {
    /// The directory holding the runs' report.json files (searched below it).
    #[arg(long = "from", value_name = "DIR")]
    pub from: PathBuf,
    /// Where the merged junit.xml and report.json go.
    #[arg(long, default_value = "target/smoke")]
    pub report_dir: PathBuf,
}

#[derive(Args)]
pub struct Soak {
    /// Rounds ended by SIGKILL to ktx alone.
    #[arg(long, default_value_t = 30)]
    pub kills: usize,
    /// Rounds ended by SIGINT to ktx's process group (Ctrl-C).
    #[arg(long, default_value_t = 10)]
    pub interrupts: usize,
    /// Busy threads beside the rounds.
    #[arg(long, default_value_t = 2)]
    pub load: usize,
    /// The longest delay before an interruption (ms); a warm install takes about 1.2 s.
    #[arg(long, default_value_t = 1500)]
    pub max_delay_ms: u64,
}

#[derive(Args)]
pub struct Bench {
    /// Timed runs per command (after a warm-up).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Print JSON instead of the markdown table (both are written under target/bench/).
    #[arg(long)]
    pub json: bool,
    /// Add the local-embeddings rows (installs sentence-transformers and torch).
    #[arg(long)]
    pub with_embeddings: bool,
    /// Run only these row groups (comma-separated method names of `Bench`, e.g. ktx_shaped;
    /// default: KTX_BENCH_ONLY, else all).
    #[arg(long, value_delimiter = ',', value_name = "GROUP")]
    pub only: Vec<String>,
}
