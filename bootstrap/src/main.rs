//! `ktx`: parse the command line, run the command, print errors with their hint, exit with the
//! contract's code.

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use ktx_bootstrap::cli::{Cli, Command, Runtime, Setup, Sl, SlArgs, Sql};
use ktx_bootstrap::commands::{bootstrap, embed, runtime, setup, sl, sql};
use ktx_bootstrap::context::Ctx;
use ktx_bootstrap::context::DaemonMode;
use ktx_bootstrap::error::{exit, Error, Result};
use ktx_bootstrap::paths::Layout;
use ktx_bootstrap::prompt::Consent;
use ktx_bootstrap::{errln, VERSION};

/// Both flags given on the command line (not through KTX_YES / KTX_NO_INPUT).
fn yes_and_no_input_typed(matches: &clap::ArgMatches) -> bool {
    let typed = |id: &str| {
        let mut m = Some(matches);
        while let Some(cur) = m {
            if cur.value_source(id) == Some(ValueSource::CommandLine) {
                return true;
            }
            m = cur.subcommand().map(|(_, sub)| sub);
        }
        false
    };
    typed("yes") && typed("no_input")
}

fn run(cli: Cli, flags_conflict: bool) -> Result<i32> {
    // `setup demo` needs no runtime: it works where the runtime could not be placed.
    if let Command::Setup(Setup::Demo { dir, force }) = &cli.command {
        let dir = dir
            .clone()
            .or(cli.global.project_dir.clone())
            .unwrap_or_else(|| "ktx-demo".into());
        setup::demo(&dir, *force)?;
        return Ok(exit::OK);
    }
    let mut ctx = Ctx::new(
        Layout::resolve(cli.global.runtime_dir.as_deref(), VERSION)?,
        Consent {
            yes: cli.global.yes,
            no_input: cli.global.no_input,
        },
    );
    ctx.verbose = cli.global.verbose;
    ctx.project_dir = cli.global.project_dir.clone();
    ctx.daemon_mode = DaemonMode::from_env(cli.global.no_daemon)?;
    if let Command::Sl(SlArgs {
        command: Sl::Query(q),
        ..
    }) = &cli.command
    {
        if q.daemon && cli.global.no_daemon {
            return Err(Error::usage(
                "--daemon and --no-daemon together",
                "say one: --daemon goes through the managed daemon, --no-daemon runs one-shot",
            ));
        }
    }
    match cli.command {
        Command::Setup(Setup::Demo { .. }) => unreachable!("handled before the runtime is placed"),
        Command::Sl(SlArgs {
            connection_id,
            command,
        }) => {
            let conn = connection_id.as_deref();
            match command {
                Sl::Query(args) => sl::query(&ctx, conn, &args)?,
                Sl::Validate { source, json } => sl::validate(&ctx, conn, source.as_deref(), json)?,
                Sl::GenerateSources {
                    schema,
                    out,
                    force,
                    dialect,
                    json,
                } => sl::generate_sources(
                    &ctx,
                    &schema,
                    out.as_deref(),
                    force,
                    dialect.as_deref(),
                    json,
                )?,
            }
        }
        Command::Sql(Sql::Tables {
            sql: text,
            dialect,
            json,
        }) => sql::tables(&ctx, &text, dialect.as_deref(), json)?,
        Command::Embed { texts, json } => embed::run(&ctx, &texts, json)?,
        Command::Bootstrap => bootstrap::run(&ctx)?,
        Command::Runtime(Runtime::Install { features, force }) => {
            runtime::install::run(&ctx, &features, force)?
        }
        Command::Runtime(Runtime::Status { json, all: false }) => runtime::status::run(&ctx, json)?,
        Command::Runtime(Runtime::Status { json, all: true }) => runtime::status::all(&ctx, json)?,
        Command::Runtime(Runtime::Start { features, reason }) => {
            runtime::daemon::start(&ctx, &features, reason)?
        }
        Command::Runtime(Runtime::Stop { all }) => runtime::daemon::stop(&ctx, all)?,
        Command::Runtime(Runtime::Logs { follow, lines }) => {
            runtime::daemon::logs(&ctx, follow, lines)?
        }
        Command::Runtime(Runtime::Doctor { json, fix }) => {
            return runtime::doctor::run(&ctx, json, fix)
        }
        Command::Runtime(Runtime::Prune { dry_run }) => {
            if flags_conflict {
                return Err(Error::usage(
                    "--yes and --no-input together: prune deletes only when told to, so say one",
                    "`ktx runtime prune --yes` deletes; `ktx runtime prune --dry-run` previews",
                ));
            }
            runtime::prune::run(&ctx, dry_run)?
        }
    }
    Ok(exit::OK)
}

fn main() {
    // Nothing ktx or its children (uv, Python) write is writable by others, whatever umask
    // ktx was started with (daemon.json's 0600 would mean little in a world-writable tree).
    #[cfg(unix)]
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old | 0o022);
    }
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        // --version and --help: printed like every answer, so a write error is reported.
        Err(e) if !e.use_stderr() => {
            ktx_bootstrap::out!("{}", e.render());
            std::process::exit(exit_code(exit::OK));
        }
        Err(e) => e.exit(),
    };
    let flags_conflict = yes_and_no_input_typed(&matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let code = match run(cli, flags_conflict) {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e}");
            if let Some(hint) = e.hint() {
                errln!("  hint: {hint}");
            }
            e.exit_code()
        }
    };
    std::process::exit(exit_code(code));
}

/// Output lost to a full disk (not a closed pipe): a success that did not say its answer
/// fails.
fn exit_code(code: i32) -> i32 {
    match ktx_bootstrap::output::lost_output() {
        Some(why) if code == exit::OK => {
            errln!("error: the output could not be written: {why}");
            exit::ERROR
        }
        _ => code,
    }
}
