//! `silt`: the command line over silt's Delta engine.
//!
//! `silt describe`, `silt history` and `silt files` inspect a table at any
//! version; `--json` prints machine-readable output. Errors go to stderr and
//! exit non-zero.

mod output;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use silt_store::TableBuilder;

/// silt: a Delta Lake engine.
#[derive(Debug, Parser)]
#[command(name = "silt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Version, protocol, metadata and size of a table.
    Describe(TableArgs),
    /// One line per commit, newest first.
    History {
        #[command(flatten)]
        table: TableArgs,
        /// Show at most this many commits.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Live data files.
    Files(TableArgs),
}

#[derive(Debug, Args)]
struct TableArgs {
    /// Table path or URI (file://, s3://, az://, abfss://, gs://).
    table: String,
    /// Load this version.
    #[arg(long, conflicts_with = "timestamp")]
    version: Option<u64>,
    /// Load the version current at this time (RFC 3339, `YYYY-MM-DD[ HH:MM:SS]`, or epoch ms).
    #[arg(long)]
    timestamp: Option<String>,
    /// Storage option `key=value` (repeatable).
    #[arg(long = "storage-option", value_name = "KEY=VALUE")]
    storage_options: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl TableArgs {
    fn builder(&self) -> Result<TableBuilder, String> {
        let mut options = HashMap::new();
        for kv in &self.storage_options {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--storage-option {kv:?} is not KEY=VALUE"))?;
            options.insert(k.to_string(), v.to_string());
        }
        let mut b = TableBuilder::new(&self.table).with_storage_options(options);
        if let Some(v) = self.version {
            b = b.at_version(v);
        }
        if let Some(t) = &self.timestamp {
            b = b.at_timestamp(output::parse_timestamp(t)?);
        }
        Ok(b)
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Describe(args) => {
            let snapshot = args.builder()?.load().await.map_err(|e| e.to_string())?;
            output::describe(&snapshot, args.json)
        }
        Command::Files(args) => {
            let snapshot = args.builder()?.load().await.map_err(|e| e.to_string())?;
            output::files(&snapshot, args.json)
        }
        Command::History { table, limit } => {
            let store = table.builder()?.build_store().map_err(|e| e.to_string())?;
            let records = silt_log::read_history(store.as_ref(), limit)
                .await
                .map_err(|e| e.to_string())?;
            output::history(&records, table.json)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("silt: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("silt: {e}");
            ExitCode::FAILURE
        }
    }
}
