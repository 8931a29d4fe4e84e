//! `silt pipeline …`: init, dry-run, run (triggered or continuous), status,
//! graph and events over a pipeline project.

use crate::error::CliError;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use silt_medallion::project::{Project, ProjectOptions, load};
use silt_medallion::{FlowStatus, RunOptions, UpdateReport};

/// Where the project is and what to set beside its spec.
#[derive(Debug, Args, Clone)]
pub struct ProjectArgs {
    /// The project directory (holding spark-pipeline.yml) or the spec file.
    #[arg(default_value = ".")]
    pub project: PathBuf,
    /// A configuration value `key=value` for `${key}` (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub conf: Vec<String>,
    /// The storage root (overrides the spec's `storage`).
    #[arg(long)]
    pub storage: Option<String>,
    /// A storage option `key=value` (repeatable; credentials, endpoints).
    #[arg(long = "storage-option", value_name = "KEY=VALUE")]
    pub storage_options: Vec<String>,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// SVG (needs Graphviz's `dot`).
    Svg,
}

/// The pipeline subcommands.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Create a runnable skeleton project in DIR.
    Init {
        /// The directory to create.
        dir: PathBuf,
        /// The pipeline's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Parse, resolve and plan every definition without reading table data
    /// or writing anything.
    DryRun(ProjectArgs),
    /// Run an update: every flow processes what is available and stops, or
    /// (--continuous) micro-batches until SIGINT/SIGTERM.
    Run {
        #[command(flatten)]
        project: ProjectArgs,
        /// Keep running updates until interrupted (stops at a batch boundary).
        #[arg(long)]
        continuous: bool,
        /// Pause between continuous updates (e.g. 500ms, 2s).
        #[arg(long, default_value = "500ms")]
        trigger_interval: String,
        /// Only these datasets, comma-separated.
        #[arg(long, value_delimiter = ',')]
        refresh: Vec<String>,
        /// Truncate these streaming tables, clear their progress and reprocess.
        #[arg(long, value_delimiter = ',')]
        full_refresh: Vec<String>,
        /// Full refresh of every dataset.
        #[arg(long)]
        full_refresh_all: bool,
        /// Stop a continuous run after this many updates.
        #[arg(long, hide = true)]
        max_updates: Option<usize>,
        /// Print the update report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per dataset: kind, version, rows, last update, consumed inputs, lag,
    /// expectation pass rates.
    Status {
        #[command(flatten)]
        project: ProjectArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The dependency graph.
    Graph {
        #[command(flatten)]
        project: ProjectArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormat,
    },
    /// The event log, newest last.
    Events {
        #[command(flatten)]
        project: ProjectArgs,
        /// At most this many events.
        #[arg(long, default_value = "50")]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn pairs(list: &[String], what: &str) -> Result<Vec<(String, String)>, CliError> {
    list.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| CliError::from(format!("{what} {kv:?} is not key=value")))
        })
        .collect()
}

fn open(args: &ProjectArgs) -> Result<Project, CliError> {
    let options = ProjectOptions {
        conf: pairs(&args.conf, "--conf")?
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        storage: args.storage.clone(),
        storage_options: pairs(&args.storage_options, "--storage-option")?
            .into_iter()
            .collect::<HashMap<_, _>>(),
    };
    load(&args.project, &options).map_err(CliError::from)
}

/// Parses `500ms`, `2s`, `1m`, or plain milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, CliError> {
    let t = text.trim();
    let (num, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| CliError::from(format!("{text:?} is not a duration (500ms, 2s, 1m)")))?;
    let ms = match unit {
        "" | "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return Err(format!("{text:?} is not a duration (500ms, 2s, 1m)").into()),
    };
    Ok(Duration::from_millis(ms as u64))
}

/// Runs a pipeline subcommand.
pub async fn run(cmd: PipelineCommand) -> Result<(), CliError> {
    match cmd {
        PipelineCommand::Init { dir, name } => init(&dir, name),
        PipelineCommand::DryRun(args) => {
            let project = open(&args)?;
            let p = &project.pipeline;
            let plan = silt_medallion::analysis::dry_run(p)
                .await
                .map_err(CliError::from)?;
            outln!(
                "pipeline {}: {} SQL files, {} datasets, {} flows; storage {}",
                p.name,
                project.files.len(),
                p.datasets.len(),
                p.flows.len(),
                silt_store::redact(&p.storage)
            );
            for (name, schema) in &plan.schemas {
                let kind = p.datasets.get(name).map_or("", |d| d.kind.label());
                let cols: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| format!("{} {}", f.name(), f.data_type()))
                    .collect();
                outln!("  {name} ({kind}): {}", cols.join(", "));
            }
            outln!("dry run passed: nothing was read or written");
            Ok(())
        }
        PipelineCommand::Run {
            project,
            continuous,
            trigger_interval,
            refresh,
            full_refresh,
            full_refresh_all,
            max_updates,
            json,
        } => {
            let project = open(&project)?;
            let stop = Arc::new(AtomicBool::new(false));
            if continuous {
                let s = stop.clone();
                tokio::spawn(async move {
                    wait_for_signal().await;
                    eprintln!("silt: stopping at the next batch boundary");
                    s.store(true, Ordering::SeqCst);
                });
            }
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let options = RunOptions {
                refresh: (!refresh.is_empty()).then_some(refresh),
                full_refresh,
                full_refresh_all,
                continuous,
                trigger_interval: parse_duration(&trigger_interval)?,
                stop: Some(stop),
                max_updates,
                progress: Some(Arc::new(move |line: &str| {
                    if tty || continuous {
                        eprintln!("  {line}");
                    }
                })),
            };
            let reports = silt_medallion::run(&project.pipeline, &options)
                .await
                .map_err(CliError::from)?;
            let last = reports.last();
            if json {
                let all: Vec<serde_json::Value> = reports.iter().map(report_json).collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&all).map_err(CliError::from)?
                );
            } else {
                for r in &reports {
                    print_report(r, continuous);
                }
            }
            match last.and_then(|r| r.failure()) {
                Some((flow, e)) => Err(format!("the update failed in flow {flow}: {e}").into()),
                None => Ok(()),
            }
        }
        PipelineCommand::Status { project, json } => {
            let project = open(&project)?;
            if json {
                let status = silt_medallion::status::status(&project.pipeline)
                    .await
                    .map_err(CliError::from)?;
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&status).map_err(CliError::from)?
                );
                return Ok(());
            }
            print_status(&project.pipeline).await
        }
        PipelineCommand::Graph { project, format } => {
            let project = open(&project)?;
            let p = &project.pipeline;
            let mut fresh = silt_medallion::graph::Freshness::new();
            if let Ok(status) = silt_medallion::status::status(p).await {
                let now = chrono::Utc::now().timestamp_millis();
                for s in status {
                    if let (Some(v), Some(t)) = (s.version, s.last_commit_ms) {
                        fresh.insert(s.name, format!("v{v}, {} ago", human_age(now - t)));
                    }
                }
            }
            match format {
                GraphFormat::Mermaid => out!("{}", silt_medallion::graph::mermaid(p, &fresh)),
                GraphFormat::Dot => out!("{}", silt_medallion::graph::dot(p, &fresh)),
                GraphFormat::Svg => {
                    let dot = silt_medallion::graph::dot(p, &fresh);
                    let mut child = std::process::Command::new("dot")
                        .arg("-Tsvg")
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::inherit())
                        .spawn()
                        .map_err(|e| CliError::from(format!("--format svg needs Graphviz's `dot` on PATH ({e}); use --format dot or mermaid")))?;
                    if let Some(mut stdin) = child.stdin.take() {
                        use std::io::Write;
                        stdin.write_all(dot.as_bytes()).map_err(CliError::from)?;
                    }
                    let status = child.wait().map_err(CliError::from)?;
                    if !status.success() {
                        return Err("dot -Tsvg failed".into());
                    }
                }
            }
            Ok(())
        }
        PipelineCommand::Events {
            project,
            limit,
            json,
        } => {
            let project = open(&project)?;
            let events = silt_medallion::status::read_events(&project.pipeline, Some(limit))
                .await
                .map_err(CliError::from)?;
            for e in events {
                if json {
                    outln!("{e}");
                } else {
                    let t = chrono::DateTime::from_timestamp_millis(
                        e["timestamp_ms"].as_i64().unwrap_or(0),
                    )
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                    .unwrap_or_default();
                    outln!(
                        "{t}  {:<7} {:<20} {}",
                        e["level"].as_str().unwrap_or(""),
                        e["event_type"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}

/// Prints `status` as text.
pub async fn print_status(p: &silt_medallion::Pipeline) -> Result<(), CliError> {
    let status = silt_medallion::status::status(p)
        .await
        .map_err(CliError::from)?;
    let now = chrono::Utc::now().timestamp_millis();
    outln!(
        "pipeline {}  storage {}",
        p.name,
        silt_store::redact(&p.storage)
    );
    for s in &status {
        let version = s.version.map_or("-".to_string(), |v| format!("v{v}"));
        let rows = s.rows.map_or("-".to_string(), |r| r.to_string());
        let age = s.last_commit_ms.map_or("never".to_string(), |t| {
            format!("{} ago", human_age(now - t))
        });
        // Views have no table and no update of their own.
        let last = match (&s.last_update, s.uri.is_some()) {
            (_, false) => String::new(),
            (None, true) => "  last update: none yet".to_string(),
            (Some(u), true) => format!(
                "  last update: {} {} ago",
                u["status"].as_str().unwrap_or("?").to_lowercase(),
                human_age(now - u["timestamp_ms"].as_i64().unwrap_or(now))
            ),
        };
        outln!(
            "{:<28} {:<18} {:>6} {:>10} rows  committed {:<10}{last}",
            s.name,
            s.kind,
            version,
            rows,
            age
        );
        for f in &s.flows {
            let lag = &f["lag"];
            let lag_text = lag
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let n = v
                                .get("versions_behind")
                                .map(|n| format!("{n} versions behind"))
                                .or_else(|| {
                                    v.get("files_pending").map(|n| format!("{n} files pending"))
                                })
                                .unwrap_or_default();
                            format!("{k}: {n}")
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            outln!(
                "    flow {:<24} {} batches{}",
                f["flow"].as_str().unwrap_or("?"),
                f["batches"],
                if lag_text.is_empty() {
                    String::new()
                } else {
                    format!("  ({lag_text})")
                }
            );
        }
        for e in &s.expectations {
            outln!(
                "    expectation {} ({}): {:.2}% pass ({} failed of {})",
                e["name"].as_str().unwrap_or("?"),
                e["action"].as_str().unwrap_or("?"),
                e["pass_rate"].as_f64().unwrap_or(1.0) * 100.0,
                e["failed_records"],
                e["passed_records"].as_u64().unwrap_or(0)
                    + e["failed_records"].as_u64().unwrap_or(0)
            );
        }
    }
    Ok(())
}

fn human_age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s < 172_800 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn report_json(r: &UpdateReport) -> serde_json::Value {
    serde_json::json!({
        "update_id": r.update_id,
        "succeeded": r.succeeded(),
        "seconds": r.seconds,
        "flows": r.flows.iter().map(|f| serde_json::json!({
            "flow": f.flow,
            "target": f.target,
            "status": match &f.status {
                FlowStatus::Completed => "completed".to_string(),
                FlowStatus::Idle => "idle".to_string(),
                FlowStatus::Skipped(w) => format!("skipped: {w}"),
                FlowStatus::Failed(e) => format!("failed: {e}"),
            },
            "batches": f.batches,
            "rows_in": f.rows_in,
            "rows_out": f.rows_out,
            "versions": f.versions,
            "expectations": f.expectations,
            "seconds": f.seconds,
        })).collect::<Vec<_>>(),
    })
}

fn print_report(r: &UpdateReport, continuous: bool) {
    let active: Vec<_> = r
        .flows
        .iter()
        .filter(|f| !continuous || !matches!(f.status, FlowStatus::Idle | FlowStatus::Skipped(_)))
        .collect();
    if continuous && active.is_empty() {
        return;
    }
    outln!(
        "update {} {} in {:.2}s",
        &r.update_id[..8],
        if r.succeeded() { "completed" } else { "FAILED" },
        r.seconds
    );
    for f in active {
        let status = match &f.status {
            FlowStatus::Completed => format!(
                "{} batch(es), {} rows in, {} out, versions {:?}",
                f.batches, f.rows_in, f.rows_out, f.versions
            ),
            FlowStatus::Idle => "idle (nothing new)".into(),
            FlowStatus::Skipped(w) => format!("skipped ({w})"),
            FlowStatus::Failed(e) => format!("FAILED: {e}"),
        };
        outln!("  {:<22} -> {:<28} {status}", f.flow, f.target);
        for e in &f.expectations {
            if e.failed_records > 0 {
                outln!(
                    "      expectation {} ({}): {} of {} rows failed",
                    e.name,
                    e.action,
                    e.failed_records,
                    e.passed_records + e.failed_records
                );
            }
        }
    }
}

fn init(dir: &Path, name: Option<String>) -> Result<(), CliError> {
    if dir.join("spark-pipeline.yml").exists() {
        return Err(format!("{} already holds a pipeline", dir.display()).into());
    }
    let name = name.unwrap_or_else(|| {
        dir.file_name()
            .and_then(|n| n.to_str())
            .map(|n| {
                n.chars()
                    .map(|c| if c.is_alphanumeric() { c } else { '_' })
                    .collect()
            })
            .unwrap_or_else(|| "pipeline".into())
    });
    let write = |rel: &str, text: &str| -> Result<(), CliError> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::from(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text).map_err(|e| CliError::from(format!("{}: {e}", path.display())))
    };
    write(
        "spark-pipeline.yml",
        &format!(
            "name: {name}\nstorage: lake\nlibraries:\n  - glob:\n      include: transformations/**\nconfiguration:\n  landing: landing\n"
        ),
    )?;
    write(
        "transformations/bronze.sql",
        "-- Raw events as they land: every JSON field a string.\nCREATE OR REFRESH STREAMING TABLE bronze.events\nAS SELECT *, _metadata.file_path AS _source_file\nFROM STREAM read_files('${landing}', format => 'json');\n",
    )?;
    write(
        "transformations/silver.sql",
        "-- Typed and checked.\nCREATE OR REFRESH STREAMING TABLE silver.events (\n  CONSTRAINT has_id EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW\n)\nAS SELECT TRY_CAST(id AS BIGINT) AS id, kind, TRY_CAST(amount AS DOUBLE) AS amount\nFROM STREAM(bronze.events)\nWHERE _corrupt_record IS NULL;\n",
    )?;
    write(
        "transformations/gold.sql",
        "-- Totals per kind, recomputed when silver changes.\nCREATE MATERIALIZED VIEW gold.totals\nAS SELECT kind, count(*) AS events, sum(amount) AS amount FROM silver.events GROUP BY kind;\n",
    )?;
    write(
        "landing/2026-01-01/events.jsonl",
        "{\"id\": 1, \"kind\": \"click\", \"amount\": 0.5}\n{\"id\": 2, \"kind\": \"buy\", \"amount\": 12.25}\n{\"id\": null, \"kind\": \"click\", \"amount\": 1}\nnot json\n",
    )?;
    outln!(
        "created pipeline {name} in {}: run it with\n  silt pipeline run {}",
        dir.display(),
        dir.display()
    );
    Ok(())
}
