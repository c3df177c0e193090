//! `ktx`: parse the command line, run the command, print errors with their hint, exit with the
//! contract's code.

use clap::Parser;
use ktx_bootstrap::cli::{Cli, Command, Runtime, Setup, Sl, Sql};
use ktx_bootstrap::commands::{bootstrap, embed, runtime, setup, sl, sql};
use ktx_bootstrap::context::Ctx;
use ktx_bootstrap::error::{exit, Result};
use ktx_bootstrap::paths::Layout;
use ktx_bootstrap::prompt::Consent;
use ktx_bootstrap::VERSION;

fn run(cli: Cli) -> Result<i32> {
    let ctx = Ctx {
        layout: Layout::resolve(cli.global.runtime_dir.as_deref(), VERSION),
        consent: Consent {
            yes: cli.global.yes,
            no_input: cli.global.no_input,
        },
        verbose: cli.global.verbose,
    };
    match cli.command {
        Command::Setup(Setup::Demo { dir, force }) => setup::demo(&dir, force)?,
        Command::Sl(Sl::Query(args)) => sl::query(&ctx, &args)?,
        Command::Sl(Sl::Validate { project_dir, json }) => sl::validate(&ctx, &project_dir, json)?,
        Command::Sl(Sl::GenerateSources {
            schema,
            out,
            force,
            json,
        }) => sl::generate_sources(&ctx, &schema, out.as_deref(), force, json)?,
        Command::Sql(Sql::Tables {
            sql: text,
            dialect,
            json,
        }) => sql::tables(&ctx, &text, dialect.as_deref(), json)?,
        Command::Embed { texts, json } => embed::run(&ctx, &texts, json)?,
        Command::Bootstrap => bootstrap::run(&ctx)?,
        Command::Runtime(Runtime::Install { features, force }) => {
            runtime::install_cmd(&ctx, &features, force)?
        }
        Command::Runtime(Runtime::Status { json }) => runtime::status(&ctx, json)?,
        Command::Runtime(Runtime::Start { features }) => runtime::start(&ctx, &features)?,
        Command::Runtime(Runtime::Stop) => runtime::stop(&ctx)?,
        Command::Runtime(Runtime::Doctor { json, fix }) => return runtime::doctor(&ctx, json, fix),
        Command::Runtime(Runtime::Prune { dry_run }) => runtime::prune(&ctx, dry_run)?,
    }
    Ok(exit::OK)
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("  hint: {hint}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
