//! The command line of `ktx` (ARCHITECTURE.md section 3).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ktx",
    version,
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
    /// Install what a command needs without asking.
    #[arg(long, global = true, env = "KTX_YES")]
    pub yes: bool,
    /// Never ask; fail with exit 4 and the command to run when something must be installed.
    #[arg(long, global = true, env = "KTX_NO_INPUT")]
    pub no_input: bool,
    /// The runtime root (default: the platform's data directory; or KTX_RUNTIME_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// Show the commands ktx runs (uv, ktx-daemon).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Set up something: `ktx setup demo` writes the demo project.
    #[command(subcommand)]
    Setup(Setup),
    /// The semantic layer: compile and run queries over YAML sources.
    #[command(subcommand)]
    Sl(Sl),
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
    /// Manage the Python runtime: install, status, start, stop, doctor, prune.
    #[command(subcommand)]
    Runtime(Runtime),
}

#[derive(Subcommand, Debug)]
pub enum Setup {
    /// Write the demo project (a SQLite database and its semantic model).
    Demo {
        /// Where to write it.
        #[arg(long, default_value = "ktx-demo")]
        dir: PathBuf,
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

#[derive(Subcommand, Debug)]
pub enum Sl {
    /// Compile a query of measures by dimensions into SQL, and optionally run it.
    Query(QueryArgs),
    /// Check a semantic model for errors.
    Validate {
        #[arg(long, value_name = "DIR")]
        project_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Generate YAML sources from a schema description (JSON: tables, columns, keys, links).
    GenerateSources {
        /// The schema description file, or - for stdin.
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// Write one <source>.yaml per table here instead of printing them.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Overwrite existing files in --out.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The project directory (holds ktx.yaml and sources/).
    #[arg(long, value_name = "DIR")]
    pub project_dir: PathBuf,
    /// A measure, as source.measure (repeatable).
    #[arg(long = "measure", value_name = "M", required = true)]
    pub measures: Vec<String>,
    /// A dimension, as source.dimension (repeatable).
    #[arg(long = "dimension", value_name = "D")]
    pub dimensions: Vec<String>,
    /// A filter, a SQL condition over fields: "customers.country = 'US'" (repeatable).
    #[arg(long = "filter", value_name = "F")]
    pub filters: Vec<String>,
    /// Order by a field: FIELD[:asc|desc] (repeatable).
    #[arg(long = "order-by", value_name = "FIELD[:asc|desc]")]
    pub order_by: Vec<String>,
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// SQL dialect of the output (default: the project's): duckdb, postgres, sqlite, snowflake, bigquery, tsql, ...
    #[arg(long, value_name = "D")]
    pub dialect: Option<String>,
    /// Run the query against the project's connection and print rows.
    #[arg(long)]
    pub execute: bool,
    /// The most rows to return with --execute.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,
    /// Output: sql (default), table (default with --execute) or json.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Go through the managed daemon (started if needed, reused after): fast repeated queries.
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
        #[arg(long = "feature", value_name = "core|local-embeddings", value_parser = ["core", "local-embeddings"])]
        features: Vec<String>,
        /// Rebuild even if it is installed.
        #[arg(long)]
        force: bool,
    },
    /// Show the runtime: installed or not, version, features, python, uv, paths (never runs Python).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Start the managed daemon, or reuse the one that runs (prints its pid and port).
    Start {
        #[arg(long = "feature", value_name = "core|local-embeddings", value_parser = ["core", "local-embeddings"])]
        features: Vec<String>,
    },
    /// Stop the managed daemon of this version.
    Stop,
    /// Check the runtime and say how to fix each problem; --fix repairs what it can.
    Doctor {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        fix: bool,
    },
    /// Remove other versions' runtimes, old logs and unused downloaded uv versions.
    Prune {
        #[arg(long)]
        dry_run: bool,
    },
}
