//! Updates: a triggered update runs every selected flow, in dependency
//! order, batch after batch until it has processed what is available; a
//! continuous run repeats updates at a trigger interval until asked to stop
//! (it stops between batches). Full refresh truncates streaming tables and
//! clears their flows' progress first. Every update writes its events to
//! the event log. A flow that fails fails the update; flows reading its
//! table are skipped, others still run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::definition::{DatasetKind, DatasetName};
use crate::error::{PipelineError, PipelineResult};
use crate::event_log::EventLog;
use crate::expectations::ExpectationCount;
use crate::flow_batch::{BatchOutcome, BatchSettings, run_batch};
use crate::pipeline::{FlowPlan, Pipeline};
use crate::progress::domain_name;
use crate::sources::listing::FullListings;
use crate::tables;

/// A callback receiving progress lines.
pub type ProgressFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Only these datasets (`None`: all).
    pub refresh: Option<Vec<String>>,
    /// Truncate these streaming tables, clear their progress, reprocess.
    pub full_refresh: Vec<String>,
    /// Full refresh of every dataset.
    pub full_refresh_all: bool,
    /// Keep running updates until `stop` is set.
    pub continuous: bool,
    /// Pause between continuous updates.
    pub trigger_interval: Duration,
    /// Set to stop a continuous run at the next batch boundary.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop a continuous run after this many updates (tests, benchmarks).
    pub max_updates: Option<usize>,
    /// Called with a line of progress during long updates.
    pub progress: Option<ProgressFn>,
}

/// What happened to a flow in an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowStatus {
    /// Ran one or more batches.
    Completed,
    /// Nothing new.
    Idle,
    /// Not run: why.
    Skipped(String),
    /// Failed: the error.
    Failed(String),
}

/// A flow's part of an update.
#[derive(Debug, Clone)]
pub struct FlowReport {
    /// The flow.
    pub flow: String,
    /// Its target.
    pub target: String,
    /// Outcome.
    pub status: FlowStatus,
    /// Batches committed.
    pub batches: u64,
    /// Rows read (after the query).
    pub rows_in: u64,
    /// Rows written or changed.
    pub rows_out: u64,
    /// Expectation counts summed over the batches.
    pub expectations: Vec<ExpectationCount>,
    /// Target versions committed.
    pub versions: Vec<u64>,
    /// Wall time.
    pub seconds: f64,
}

/// One update.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    /// Its id (in the event log).
    pub update_id: String,
    /// Per flow, in the order they ran.
    pub flows: Vec<FlowReport>,
    /// Wall time.
    pub seconds: f64,
}

impl UpdateReport {
    /// Whether every flow succeeded.
    pub fn succeeded(&self) -> bool {
        !self
            .flows
            .iter()
            .any(|f| matches!(f.status, FlowStatus::Failed(_)))
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<(&str, &str)> {
        self.flows.iter().find_map(|f| match &f.status {
            FlowStatus::Failed(e) => Some((f.flow.as_str(), e.as_str())),
            _ => None,
        })
    }
}

fn selected(p: &Pipeline, names: &[String]) -> PipelineResult<BTreeSet<DatasetName>> {
    let mut out = BTreeSet::new();
    for n in names {
        let name = DatasetName::parse(n.trim())
            .map(|d| p.qualify(&d))
            .filter(|d| p.datasets.contains_key(d))
            .ok_or_else(|| PipelineError::Spec {
                path: "--refresh/--full-refresh".into(),
                message: format!(
                    "{n} is not a dataset of this pipeline ({})",
                    p.order
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        out.insert(name);
    }
    Ok(out)
}

/// Runs the pipeline: one update, or (continuous) updates until stopped.
pub async fn run(p: &Pipeline, options: &RunOptions) -> PipelineResult<Vec<UpdateReport>> {
    let mut reports = Vec::new();
    let mut full_refresh = true;
    let full_listings = FullListings::default();
    loop {
        let started = Instant::now();
        let report = run_update(p, options, full_refresh, &full_listings).await?;
        full_refresh = false;
        let failed = !report.succeeded();
        reports.push(report);
        let stop = options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst));
        if !options.continuous
            || stop
            || options.max_updates.is_some_and(|m| reports.len() >= m)
            || failed
        {
            return Ok(reports);
        }
        let wait = options.trigger_interval.saturating_sub(started.elapsed());
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst))
            {
                return Ok(reports);
            }
            tokio::time::sleep(Duration::from_millis(20).min(wait)).await;
        }
    }
}

/// One update (with the run's full refresh on the first).
async fn run_update(
    p: &Pipeline,
    options: &RunOptions,
    first: bool,
    full_listings: &FullListings,
) -> PipelineResult<UpdateReport> {
    let update_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let mut log = EventLog::new(
        &p.event_log_uri(),
        p.storage_options.clone(),
        &p.name,
        &update_id,
    );
    let only = match &options.refresh {
        Some(names) => Some(selected(p, names)?),
        None => None,
    };
    let refresh_full: BTreeSet<DatasetName> = if !first {
        BTreeSet::new()
    } else if options.full_refresh_all {
        p.datasets.keys().cloned().collect()
    } else {
        selected(p, &options.full_refresh)?
    };
    log.emit(
        "INFO",
        "create_update",
        format!("update {update_id} of pipeline {} started", p.name),
        None,
        None,
        json!({
            "continuous": options.continuous,
            "refresh_selection": options.refresh,
            "full_refresh_selection": refresh_full.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        }),
    );
    log.emit(
        "INFO",
        "planning_information",
        format!("{} datasets, {} flows", p.datasets.len(), p.flows.len()),
        None,
        None,
        json!({
            "order": p.order.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "flows": p.flows.iter().map(|f| json!({"flow": f.name, "target": f.target.to_string(), "once": f.once})).collect::<Vec<_>>(),
        }),
    );
    for name in &refresh_full {
        if p.datasets
            .get(name)
            .is_some_and(|d| d.kind == DatasetKind::StreamingTable)
            && let Some(s) = tables::load(&p.dataset_uri(name), &p.storage_options).await?
        {
            let domains = p
                .flows
                .iter()
                .filter(|f| &f.target == name)
                .flat_map(|f| {
                    [
                        domain_name(&p.name, &f.name),
                        crate::tombstones::domain_name(&p.name, &f.name),
                        crate::tombstones::truncation_domain_name(&p.name, &f.name),
                    ]
                })
                .collect();
            tables::truncate(&s, domains).await?;
            log.emit(
                "INFO",
                "full_refresh",
                format!("{name} truncated, its flows' progress cleared"),
                None,
                Some(&name.to_string()),
                json!({"version_before": s.version()}),
            );
        }
    }
    let mut failed: BTreeSet<DatasetName> = BTreeSet::new();
    let mut reports = Vec::new();
    for flow in &p.flows {
        if options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
        {
            break;
        }
        if only.as_ref().is_some_and(|o| !o.contains(&flow.target)) {
            continue;
        }
        let target = flow.target.to_string();
        let blocked = p
            .upstream(&flow.target)
            .into_iter()
            .map(|(d, _)| d)
            .chain(view_upstream(p, &flow.target))
            .find(|d| failed.contains(d));
        let flow_started = Instant::now();
        let mut report = FlowReport {
            flow: flow.name.clone(),
            target: target.clone(),
            status: FlowStatus::Idle,
            batches: 0,
            rows_in: 0,
            rows_out: 0,
            expectations: Vec::new(),
            versions: Vec::new(),
            seconds: 0.0,
        };
        if let Some(up) = blocked {
            report.status = FlowStatus::Skipped(format!("upstream {up} failed"));
            failed.insert(flow.target.clone());
            log.emit(
                "WARN",
                "flow_progress",
                format!("flow {} skipped: upstream {up} failed", flow.name),
                Some(&flow.name),
                Some(&target),
                json!({"status": "SKIPPED"}),
            );
            reports.push(report);
            continue;
        }
        let settings = BatchSettings {
            force_recompute: refresh_full.contains(&flow.target),
            min_file_age_ms: options.continuous.then_some(250),
            full_listings: full_listings.clone(),
        };
        let mut conflicts = 0u32;
        loop {
            if options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst))
            {
                break;
            }
            let batch_started = Instant::now();
            match run_batch(p, flow, &settings).await {
                Ok(BatchOutcome::Committed(b)) => {
                    conflicts = 0;
                    report.status = FlowStatus::Completed;
                    report.batches += 1;
                    report.rows_in += b.rows_in;
                    report.rows_out += b.rows_out;
                    report.versions.push(b.version);
                    for c in &b.expectations {
                        match report
                            .expectations
                            .iter_mut()
                            .find(|e| e.dataset == c.dataset && e.name == c.name)
                        {
                            Some(e) => {
                                e.passed_records += c.passed_records;
                                e.failed_records += c.failed_records;
                            }
                            None => report.expectations.push(c.clone()),
                        }
                    }
                    if let Some(cb) = &options.progress {
                        cb(&format!(
                            "{}: batch {} → {} v{} ({} rows in, {} out)",
                            flow.name, b.batch, target, b.version, b.rows_in, b.rows_out
                        ));
                    }
                    log.emit(
                        "METRICS",
                        "flow_progress",
                        format!(
                            "flow {} committed batch {} to {target} version {}",
                            flow.name, b.batch, b.version
                        ),
                        Some(&flow.name),
                        Some(&target),
                        json!({
                            "status": "RUNNING",
                            "batch": b.batch,
                            "version": b.version,
                            "rows_in": b.rows_in,
                            "rows_out": b.rows_out,
                            "sources": b.sources,
                            "expectations": b.expectations,
                            "metrics": b.details,
                            "seconds": batch_started.elapsed().as_secs_f64(),
                        }),
                    );
                    if let Some(e) = &b.post_commit_error {
                        log.emit(
                            "WARN",
                            "post_commit",
                            e.to_string(),
                            Some(&flow.name),
                            Some(&target),
                            json!({
                                "version": e.version,
                                "hook": e.hook.to_string(),
                                "retryable": e.is_retryable(),
                            }),
                        );
                    }
                    if matches!(flow.plan, FlowPlan::Recompute(_)) {
                        break;
                    }
                }
                Ok(BatchOutcome::Idle) => break,
                Ok(BatchOutcome::Skipped(why)) => {
                    if report.batches == 0 {
                        report.status = FlowStatus::Skipped(why);
                    }
                    break;
                }
                Ok(BatchOutcome::Raced) => {
                    conflicts += 1;
                    if conflicts > 20 {
                        report.status = FlowStatus::Failed(
                            "another process keeps committing the same batches".into(),
                        );
                        break;
                    }
                }
                Err(e) if e.is_retryable() && conflicts < 20 => {
                    conflicts += 1;
                    tracing::info!(flow = %flow.name, "retrying after: {e}");
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(conflicts))).await;
                }
                Err(e) => {
                    report.status = FlowStatus::Failed(e.to_string());
                    break;
                }
            }
        }
        report.seconds = flow_started.elapsed().as_secs_f64();
        let (level, status) = match &report.status {
            FlowStatus::Completed => ("INFO", "COMPLETED"),
            FlowStatus::Idle => ("INFO", "IDLE"),
            FlowStatus::Skipped(_) => ("INFO", "SKIPPED"),
            FlowStatus::Failed(_) => ("ERROR", "FAILED"),
        };
        let message = match &report.status {
            FlowStatus::Failed(e) => format!("flow {} failed: {e}", flow.name),
            FlowStatus::Skipped(why) => format!("flow {} skipped: {why}", flow.name),
            _ => format!("flow {} {}", flow.name, status.to_lowercase()),
        };
        if matches!(report.status, FlowStatus::Failed(_)) {
            failed.insert(flow.target.clone());
        }
        log.emit(
            level,
            "flow_progress",
            message,
            Some(&flow.name),
            Some(&target),
            json!({
                "status": status,
                "batches": report.batches,
                "rows_in": report.rows_in,
                "rows_out": report.rows_out,
                "versions": report.versions,
                "expectations": report.expectations,
                "seconds": report.seconds,
            }),
        );
        reports.push(report);
    }
    let report = UpdateReport {
        update_id,
        flows: reports,
        seconds: started.elapsed().as_secs_f64(),
    };
    let (level, state) = if report.succeeded() {
        ("INFO", "COMPLETED")
    } else {
        ("ERROR", "FAILED")
    };
    log.emit(
        level,
        "update_progress",
        format!("update {} {}", report.update_id, state.to_lowercase()),
        None,
        None,
        json!({"state": state, "seconds": report.seconds, "failure": report.failure().map(|(f, e)| json!({"flow": f, "error": e}))}),
    );
    // A continuous run's idle updates leave no events: the log would grow
    // by two commits a second while nothing happens.
    let idle = report
        .flows
        .iter()
        .all(|f| matches!(f.status, FlowStatus::Idle | FlowStatus::Skipped(_)));
    if !(options.continuous && idle && !first) {
        log.flush().await?;
    }
    Ok(report)
}

/// Datasets a target reads through temporary views (a failed view source
/// blocks it too).
fn view_upstream(p: &Pipeline, target: &DatasetName) -> Vec<DatasetName> {
    let mut out = Vec::new();
    let mut stack: Vec<DatasetName> = p.upstream(target).into_iter().map(|(d, _)| d).collect();
    let mut seen = BTreeSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        out.push(d.clone());
        if p.views.contains_key(&d) {
            stack.extend(p.upstream(&d).into_iter().map(|(x, _)| x));
        }
    }
    out
}

/// Upstream versions a flow has consumed, per input (for `status`).
pub fn consumed(progress: &crate::progress::FlowProgress) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for (k, v) in &progress.delta {
        out.insert(k.clone(), json!({ "version": v }));
    }
    for (k, v) in &progress.upstream {
        out.insert(k.clone(), json!({ "version_read": v }));
    }
    for (k, v) in &progress.files {
        out.insert(
            k.clone(),
            json!({ "files": v.files.len(), "columns": v.columns.len() }),
        );
    }
    out
}
