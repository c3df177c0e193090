//! The `ktx-release` command line: parse (`flags`), run the command (`commands`), print the
//! error.

mod commands;
mod flags;

use anyhow::Result;
use clap::Parser;
use flags::{Cli, Cmd};
use ktx_release::layout::ReleaseLayout;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let layout = ReleaseLayout::new(cli.repo.as_deref(), &cli.out)?;
    match cli.command {
        Cmd::Wheel(a) => commands::wheel::run(&layout, a),
        Cmd::PayloadProject(a) => commands::payload_project::run(&layout, a),
        Cmd::UvVersion => {
            commands::uv_version::run();
            Ok(())
        }
        Cmd::HostTarget => commands::host_target::run(),
        Cmd::Binary(a) => commands::binary::run(&layout, a),
        Cmd::Pack(a) => commands::pack::run(&layout, a),
        Cmd::DownloadSizes(a) => commands::download_sizes::run(&layout, a),
        Cmd::Verify(a) => commands::verify::run(a),
        Cmd::Check(a) => commands::check::run(&layout, a),
        Cmd::Rebuild(a) => commands::rebuild::run(&layout, a),
        Cmd::Smoke(a) => commands::smoke::run(&layout, a),
        Cmd::SmokeMerge(a) => commands::smoke_merge::run(&layout, a),
        Cmd::Soak(a) => commands::soak::run(&layout, a),
        Cmd::Bench(a) => commands::bench::run(&layout, a),
    }
}
