//! The command line of `ktx`. The `sl` commands take KTX's own flags (`--connection-id`,
//! `--project-dir`, JSON output by default), so that scripts written for KTX's CLI run as is.

use crate::daemon::Reason;
use crate::feature::Feature;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ktx",
    version = crate::VERSION,
    about = "KTX, the CLI for data agents",
    long_about = "KTX, the CLI for data agents.\n\nCommands that need Python (sl, sql, embed) install a managed Python runtime on first use, after asking (or with --yes). `ktx runtime status` shows where it lives.",
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 input rejected, 4 runtime feature missing and no input allowed, 5 integrity check failed."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Install what a command needs without asking (KTX_YES=1 too).
    #[arg(long, global = true, env = "KTX_YES", value_parser = clap::builder::BoolishValueParser::new())]
    pub yes: bool,
    /// Never ask; fail with exit 4 and the command to run when something must be installed
    /// (KTX_NO_INPUT=1 too).
    #[arg(long, global = true, env = "KTX_NO_INPUT", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_input: bool,
    /// The runtime root (default: KTX_RUNTIME_ROOT, else KTX_RUNTIME_DIR, else the platform's
    /// data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// The KTX project (holds ktx.yaml). Default: KTX_PROJECT_DIR, else the nearest ktx.yaml
    /// upward from here.
    #[arg(long, global = true, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Show the commands ktx runs (uv, ktx-daemon); a daemon started with -v logs every
    /// request.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Never go through the managed daemon: run Python one-shot (as KTX_DAEMON=never).
    #[arg(long, global = true)]
    pub no_daemon: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Set up something: `ktx setup demo` writes the demo project.
    #[command(subcommand)]
    Setup(Setup),
    /// The semantic layer: compile and run queries over the YAML sources of a connection.
    Sl(SlArgs),
    /// SQL tools backed by sqlglot.
    #[command(subcommand)]
    Sql(Sql),
    /// Embed texts with the local all-MiniLM-L6-v2 model (the local-embeddings feature), through
    /// the managed daemon.
    Embed {
        /// The texts to embed.
        #[arg(required = true, value_name = "TEXT")]
        texts: Vec<String>,
        /// Print the vectors as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Get uv if none is installed (pinned, checksum-verified) and install the core runtime.
    Bootstrap,
    /// Manage the Python runtime: install, status, start, stop, logs, doctor, prune.
    #[command(subcommand)]
    Runtime(Runtime),
}

#[derive(Subcommand, Debug)]
pub enum Setup {
    /// Write the demo project (a SQLite database and its semantic model) to --project-dir
    /// (default ./ktx-demo).
    Demo {
        /// The old spelling of --project-dir.
        #[arg(long, hide = true, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Overwrite files of an existing demo directory.
        #[arg(long)]
        force: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Sql,
    Json,
    Table,
}

#[derive(Args, Debug)]
pub struct SlArgs {
    /// The connection whose sources to use (semantic-layer/<ID>/); default: the only
    /// connection of ktx.yaml.
    #[arg(long, global = true, value_name = "ID")]
    pub connection_id: Option<String>,
    #[command(subcommand)]
    pub command: Sl,
}

#[derive(Subcommand, Debug)]
pub enum Sl {
    /// Compile a query of measures by dimensions into SQL, and optionally run it.
    Query(QueryArgs),
    /// Check the semantic model of a connection: {valid, errors, warnings}; exit 3 when invalid.
    Validate {
        /// Check that this source exists too (the whole connection is validated).
        #[arg(value_name = "SOURCE")]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Generate KTX source YAML from a schema scan (JSON: {tables: [{name, db, columns:
    /// [{name, type, primary_key}]}], links: [{from_table, from_column, to_table, to_column,
    /// relationship_type}]}).
    GenerateSources {
        /// The schema scan file, or - for stdin.
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// Write one <source>.yaml per table here instead of printing them.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Overwrite existing files in --out.
        #[arg(long)]
        force: bool,
        /// The SQL dialect of the tables (default postgres).
        #[arg(long, value_name = "D")]
        dialect: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// A JSON query object ({measures, dimensions, filters, segments, order_by, limit,
    /// include_empty}) instead of the flags below.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["measures", "dimensions", "filters", "segments", "order_by", "limit", "include_empty"])]
    pub query_file: Option<PathBuf>,
    /// A measure: source.measure, or an aggregate such as "sum(orders.amount)" (repeatable).
    #[arg(
        long = "measure",
        value_name = "M",
        required_unless_present = "query_file"
    )]
    pub measures: Vec<String>,
    /// A dimension: source.column (repeatable).
    #[arg(long = "dimension", value_name = "D")]
    pub dimensions: Vec<String>,
    /// A filter, a SQL condition over fields: "customers.country = 'US'" (repeatable).
    #[arg(long = "filter", value_name = "F")]
    pub filters: Vec<String>,
    /// A segment to apply: source.segment (repeatable).
    #[arg(long = "segment", value_name = "S")]
    pub segments: Vec<String>,
    /// Order by a field: FIELD[:asc|desc] (repeatable).
    #[arg(long = "order-by", value_name = "FIELD[:asc|desc]")]
    pub order_by: Vec<String>,
    /// The most rows the query returns (default 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Keep dimension values that have no rows.
    #[arg(long)]
    pub include_empty: bool,
    /// Output: json (default: {connectionId, dialect, sql, headers, rows, totalRows, plan}),
    /// sql, or table.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Run the query on the connection (sqlite) and return its rows.
    #[arg(long)]
    pub execute: bool,
    /// The most rows to return with --execute (default: --limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rows: Option<u32>,
    /// The longest --execute may run, in seconds; past it SQLite is interrupted and the
    /// command exits 3.
    #[arg(long, value_name = "SECONDS", env = "KTX_EXECUTE_TIMEOUT",
          default_value_t = crate::sqlite::DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub execute_timeout: u32,
    /// Compile for another SQL dialect than the connection's (duckdb, postgres, snowflake,
    /// bigquery, tsql, ...); not with --execute.
    #[arg(long, value_name = "D")]
    pub dialect: Option<String>,
    /// Go through the managed daemon (started if needed, reused after): fast repeated queries.
    /// Beats KTX_DAEMON=never.
    #[arg(long)]
    pub daemon: bool,
}

#[derive(Subcommand, Debug)]
pub enum Sql {
    /// List the tables a SQL statement reads (catalog, schema, table).
    Tables {
        /// The SQL text, or - for stdin.
        sql: String,
        #[arg(long)]
        dialect: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum Runtime {
    /// Install the runtime (core, and local-embeddings when asked).
    Install {
        #[arg(long = "feature", value_name = "FEATURE", value_enum)]
        features: Vec<Feature>,
        /// Rebuild even if it is installed.
        #[arg(long)]
        force: bool,
    },
    /// Show the runtime: installed or not, version, features, python, uv, paths, the daemon
    /// and why it runs (never runs Python).
    Status {
        #[arg(long)]
        json: bool,
        /// The daemons of every installed version (pid, port, uptime, memory, idle time left).
        #[arg(long)]
        all: bool,
    },
    /// Start the managed daemon, or reuse the one that runs (prints its pid and port).
    Start {
        #[arg(long = "feature", value_name = "FEATURE", value_enum)]
        features: Vec<Feature>,
        /// Why the daemon is started (shown by `runtime status`); set by ktx itself.
        #[arg(long, hide = true, value_enum, default_value = "start")]
        reason: Reason,
    },
    /// Stop the managed daemon of this version (--all: of every version).
    Stop {
        #[arg(long)]
        all: bool,
    },
    /// Print the daemon's log (--follow: keep printing what it writes).
    Logs {
        #[arg(short, long)]
        follow: bool,
        /// How many of the last lines to print first.
        #[arg(short = 'n', long, default_value_t = 50, value_name = "N")]
        lines: usize,
    },
    /// Check the runtime and say how to fix each problem; --fix repairs what it can.
    Doctor {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        fix: bool,
    },
    /// Remove other versions' runtimes, old logs and unused downloaded uv versions. Deletes
    /// only with --yes; --dry-run shows what it would remove.
    Prune {
        #[arg(long)]
        dry_run: bool,
    },
}
