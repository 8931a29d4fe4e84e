//! `silt`: the command line over silt's Delta engine.
//!
//! `silt describe`, `silt history` and `silt files` inspect a table at any
//! version; `silt create`, `silt checkpoint` and `silt cleanup-log` change
//! it. `--json` prints machine-readable output. Errors go to stderr and exit
//! non-zero.

/// `print!` to stdout that ends the program quietly and successfully when
/// stdout is closed (`silt pipeline events | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*)
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => {
        out!("\n")
    };
    ($($arg:tt)*) => {
        out!("{}\n", format_args!($($arg)*))
    };
}

mod commands;
mod data;
mod demo;
mod error;
mod output;
mod pipeline_cmd;
mod progress;

use std::collections::HashMap;
use std::process::ExitCode;

use error::CliError;

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
    /// Declarative bronze/silver/gold pipelines (Spark Declarative
    /// Pipelines SQL): init, dry-run, run, status, graph, events.
    #[command(subcommand)]
    Pipeline(pipeline_cmd::PipelineCommand),
    /// The IoT lake end to end: generated landing data through bronze,
    /// silver and gold, triggered and then continuous while more lands.
    Demo {
        /// Where to put the project, landing files and lake (default: a
        /// new temporary directory).
        dir: Option<std::path::PathBuf>,
    },
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
    /// Create an empty table.
    Create {
        /// Table path or URI.
        table: String,
        /// Delta schema JSON, inline or `@file` / a path to a file.
        #[arg(long)]
        schema: String,
        /// Partition columns, comma-separated.
        #[arg(long, value_delimiter = ',')]
        partition_by: Vec<String>,
        /// Table property `key=value` (repeatable); `delta.feature.X=supported` enables a feature.
        #[arg(long = "property", value_name = "KEY=VALUE")]
        properties: Vec<String>,
        /// Table name in the metadata.
        #[arg(long)]
        name: Option<String>,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Read rows: projection, predicate, limit, output format.
    Scan {
        #[command(flatten)]
        table: TableArgs,
        /// Columns, comma-separated.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Row predicate, e.g. "part = 'a' AND value > 3".
        #[arg(long = "where")]
        predicate: Option<String>,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: data::OutputFormat,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<String>,
    },
    /// Append (or overwrite with) rows from Parquet, CSV or JSON-lines files.
    Append {
        /// Table path or URI.
        table: String,
        /// Input files (.parquet, .csv, .json/.jsonl).
        #[arg(required = true)]
        files: Vec<String>,
        /// Create the table (schema from the input) when it does not exist.
        #[arg(long)]
        create: bool,
        /// Partition columns when creating.
        #[arg(long, value_delimiter = ',')]
        partition_by: Vec<String>,
        /// `append` (default) or `overwrite`.
        #[arg(long, default_value = "append")]
        mode: String,
        /// Table property `key=value` when creating (repeatable).
        #[arg(long = "property", value_name = "KEY=VALUE")]
        properties: Vec<String>,
        /// Add input columns the table does not have yet.
        #[arg(long)]
        merge_schema: bool,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
    },
    /// Rows changed between two versions (change data feed), with
    /// _change_type, _commit_version and _commit_timestamp.
    Changes {
        #[command(flatten)]
        table: TableArgs,
        /// First version.
        #[arg(long)]
        from: u64,
        /// Last version (default: latest).
        #[arg(long)]
        to: Option<u64>,
        /// Output format (table or jsonl).
        #[arg(long, value_enum, default_value = "table")]
        format: data::OutputFormat,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<String>,
    },
    /// Run SQL (DataFusion dialect) over Delta tables: SELECT, INSERT,
    /// CREATE TABLE delta.'path' AS SELECT, DELETE, UPDATE, MERGE, RESTORE.
    /// Name tables by path as delta.'path' (delta.'path@v3' for a version)
    /// or register names with --table; several statements run in order,
    /// separated by `;`, and the last one's rows are printed.
    Sql {
        /// The statement(s).
        statement: String,
        /// Register a table under a name: `NAME=PATH_OR_URI` (repeatable).
        #[arg(long = "table", value_name = "NAME=URI")]
        tables: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: data::OutputFormat,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<String>,
        /// Storage option `key=value` (repeatable), for every table.
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
    },
    /// Change a table's definition in one commit, with the clauses of SQL
    /// ALTER TABLE: ADD COLUMNS (…), RENAME COLUMN a TO b, DROP COLUMN a,
    /// ALTER COLUMN c TYPE BIGINT, ALTER COLUMN c SET DEFAULT …, SET / UNSET
    /// TBLPROPERTIES (…), ADD CONSTRAINT n CHECK (…), DROP CONSTRAINT n,
    /// CLUSTER BY (…). Example: silt alter ./t "RENAME COLUMN v TO value".
    Alter {
        /// Table path or URI.
        table: String,
        /// The clause (several words are joined with spaces).
        #[arg(required = true, num_args = 1..)]
        clause: Vec<String>,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
    },
    /// Delete rows matching a predicate.
    Delete {
        /// Table path or URI.
        table: String,
        /// Row predicate (all rows when omitted).
        #[arg(long = "where")]
        predicate: Option<String>,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
    },
    /// Compact small files per partition (and purge deletion vectors).
    Optimize {
        /// Table path or URI.
        table: String,
        /// Target file size in MiB.
        #[arg(long, default_value_t = 128)]
        target_mib: usize,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
    },
    /// Remove unreferenced data files older than the retention.
    Vacuum {
        /// Table path or URI.
        table: String,
        /// Retention in hours (default: delta.deletedFileRetentionDuration, 7 days).
        #[arg(long)]
        retain_hours: Option<f64>,
        /// Allow a retention shorter than the table's.
        #[arg(long)]
        force: bool,
        /// List the files instead of deleting them.
        #[arg(long)]
        dry_run: bool,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
    },
    /// Write a checkpoint of the latest version.
    Checkpoint {
        /// Table path or URI.
        table: String,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove log files older than delta.logRetentionDuration (behind a checkpoint).
    CleanupLog {
        /// Table path or URI.
        table: String,
        /// List what would be removed without removing it.
        #[arg(long)]
        dry_run: bool,
        /// Storage option `key=value` (repeatable).
        #[arg(long = "storage-option", value_name = "KEY=VALUE")]
        storage_options: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `KEY=VALUE` pairs by key.
type KeyValues = HashMap<String, String>;

fn key_values(pairs: &[String], what: &str) -> Result<KeyValues, CliError> {
    pairs
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| CliError::from(format!("{what} {kv:?} is not KEY=VALUE")))
        })
        .collect()
}

/// The latest snapshot of `table`, for the commands that change it.
async fn load_latest(
    table: &str,
    storage_options: &[String],
) -> Result<silt_log::Snapshot, CliError> {
    store_for(table, storage_options)?
        .load()
        .await
        .map_err(CliError::from)
}

fn store_for(table: &str, storage_options: &[String]) -> Result<TableBuilder, CliError> {
    Ok(TableBuilder::new(table)
        .with_storage_options(key_values(storage_options, "--storage-option")?))
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
    fn builder(&self) -> Result<TableBuilder, CliError> {
        let mut b = store_for(&self.table, &self.storage_options)?;
        if let Some(v) = self.version {
            b = b.at_version(v);
        }
        if let Some(t) = &self.timestamp {
            b = b.at_timestamp(output::parse_timestamp(t)?);
        }
        Ok(b)
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Pipeline(cmd) => pipeline_cmd::run(cmd).await,
        Command::Demo { dir } => demo::run(dir).await,
        Command::Describe(args) => {
            let snapshot = args.builder()?.load().await.map_err(CliError::from)?;
            output::describe(&snapshot, args.json)
        }
        Command::Files(args) => {
            let snapshot = args.builder()?.load().await.map_err(CliError::from)?;
            output::files(&snapshot, args.json)
        }
        Command::Create {
            table,
            schema,
            partition_by,
            properties,
            name,
            storage_options,
            json,
        } => {
            let store = store_for(&table, &storage_options)?
                .build_store()
                .map_err(CliError::from)?;
            let version = commands::create(
                store,
                &schema,
                partition_by,
                key_values(&properties, "--property")?,
                name,
            )
            .await?;
            output::created(&table, version, json)
        }
        Command::Scan {
            table,
            columns,
            predicate,
            limit,
            format,
            output,
        } => {
            data::scan(data::ScanRequest {
                builder: table.builder()?,
                columns,
                predicate,
                limit,
                format,
                output,
            })
            .await
        }
        Command::Append {
            table,
            files,
            create,
            partition_by,
            mode,
            properties,
            merge_schema,
            storage_options,
        } => {
            let overwrite = match mode.as_str() {
                "append" => false,
                "overwrite" => true,
                other => return Err(format!("--mode {other:?}: use append or overwrite").into()),
            };
            let (version, rows, files) = data::append(data::AppendRequest {
                builder: store_for(&table, &storage_options)?,
                files,
                create,
                partition_by,
                overwrite,
                properties: key_values(&properties, "--property")?,
                merge_schema,
            })
            .await?;
            outln!("wrote {rows} rows in {files} files as version {version} of {table}");
            Ok(())
        }
        Command::Changes {
            table,
            from,
            to,
            format,
            output,
        } => data::changes(table.builder()?, from, to, format, output).await,
        Command::Sql {
            statement,
            tables,
            format,
            output,
            storage_options,
        } => {
            data::sql(
                &statement,
                key_values(&tables, "--table")?,
                key_values(&storage_options, "--storage-option")?,
                format,
                output,
            )
            .await
        }
        Command::Alter {
            table,
            clause,
            storage_options,
        } => {
            data::alter(
                &table,
                &clause.join(" "),
                key_values(&storage_options, "--storage-option")?,
            )
            .await
        }
        Command::Delete {
            table,
            predicate,
            storage_options,
        } => {
            let snapshot = load_latest(&table, &storage_options).await?;
            let predicate = predicate
                .map(|p| {
                    silt_log::expr::parse_predicate(&p)
                        .map_err(|e| CliError::from(format!("--where: {e}")))
                })
                .transpose()?;
            let r = silt_parquet::delete_where(&snapshot, predicate)
                .await
                .map_err(CliError::from)?;
            match r.outcome {
                None => outln!("no rows matched; nothing committed"),
                Some(outcome) => {
                    let c = output::committed(outcome, "delete")?;
                    outln!(
                        "deleted {} rows as version {} ({} files removed, {} added, {} deletion vectors)",
                        r.rows_deleted,
                        c.version,
                        r.files_removed,
                        r.files_added,
                        r.deletion_vectors
                    )
                }
            }
            Ok(())
        }
        Command::Optimize {
            table,
            target_mib,
            storage_options,
        } => {
            let snapshot = load_latest(&table, &storage_options).await?;
            let target = target_mib.max(1) << 20;
            let r = silt_parquet::optimize(&snapshot, target, target / 2)
                .await
                .map_err(CliError::from)?;
            match r.outcome {
                None => outln!("nothing to compact"),
                Some(outcome) => {
                    let c = output::committed(outcome, "optimize")?;
                    outln!(
                        "compacted {} files into {} as version {}",
                        r.files_removed,
                        r.files_added,
                        c.version
                    )
                }
            }
            Ok(())
        }
        Command::Vacuum {
            table,
            retain_hours,
            force,
            dry_run,
            storage_options,
        } => {
            let snapshot = load_latest(&table, &storage_options).await?;
            let r = silt_parquet::vacuum(
                &snapshot,
                &silt_parquet::VacuumOptions {
                    retention_hours: retain_hours,
                    force,
                    dry_run,
                    now_ms: None,
                },
            )
            .await
            .map_err(CliError::from)?;
            let verb = if dry_run { "would remove" } else { "removed" };
            outln!("{verb} {} files ({} bytes)", r.files.len(), r.bytes);
            for f in &r.files {
                outln!("  {f}");
            }
            Ok(())
        }
        Command::Checkpoint {
            table,
            storage_options,
            json,
        } => {
            let snapshot = load_latest(&table, &storage_options).await?;
            let written = snapshot
                .write_checkpoint(&silt_log::checkpoint_write::CheckpointOptions::default())
                .await
                .map_err(CliError::from)?;
            output::checkpoint(&written, json)
        }
        Command::CleanupLog {
            table,
            dry_run,
            storage_options,
            json,
        } => {
            let snapshot = load_latest(&table, &storage_options).await?;
            let now = chrono::Utc::now().timestamp_millis();
            let report = snapshot
                .cleanup_log(now, dry_run)
                .await
                .map_err(CliError::from)?;
            output::cleanup(&report, json)
        }
        Command::History { table, limit } => {
            let store = table.builder()?.build_store().map_err(CliError::from)?;
            let records = silt_log::read_history(store.as_ref(), limit)
                .await
                .map_err(CliError::from)?;
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
