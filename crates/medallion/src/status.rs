//! `status`: per dataset, what the tables and the event log say: kind,
//! last version, rows, the last update touching it and its outcome, the
//! upstream versions and files each flow has consumed, how far behind its
//! inputs it is, and expectation pass rates.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::definition::DatasetKind;
use crate::error::PipelineResult;
use crate::pipeline::Pipeline;
use crate::progress::FlowProgress;
use crate::query::InputSource;
use crate::sources::files::FileOptions;
use crate::sources::listing::pending_files;
use crate::tables;

/// One dataset's state.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetStatus {
    /// Qualified name.
    pub name: String,
    /// streaming table / materialized view / temporary view.
    pub kind: &'static str,
    /// Where it lives (views: nowhere).
    pub uri: Option<String>,
    /// Last version (`None`: not created yet).
    pub version: Option<u64>,
    /// Rows, from file statistics when every file has them.
    pub rows: Option<i64>,
    /// Last commit time, ms since the epoch.
    pub last_commit_ms: Option<i64>,
    /// Per flow writing it: batches, consumed inputs, lag.
    pub flows: Vec<Value>,
    /// The last update that committed to it or failed: id, status, time.
    pub last_update: Option<Value>,
    /// Expectations: passed and failed rows over the event log.
    pub expectations: Vec<Value>,
}

/// The status of every dataset of `p`.
pub async fn status(p: &Pipeline) -> PipelineResult<Vec<DatasetStatus>> {
    let events = read_events(p, None).await.unwrap_or_default();
    let mut out = Vec::new();
    for name in &p.order {
        let Some(d) = p.datasets.get(name) else {
            continue;
        };
        let kind = d.kind.label();
        let display = name.to_string();
        if d.kind == DatasetKind::TemporaryView {
            out.push(DatasetStatus {
                name: display,
                kind,
                uri: None,
                version: None,
                rows: None,
                last_commit_ms: None,
                flows: Vec::new(),
                last_update: None,
                expectations: expectation_totals(&events, &name.to_string()),
            });
            continue;
        }
        let uri = p.dataset_uri(name);
        let snapshot = tables::load(&uri, &p.storage_options).await?;
        let mut flows = Vec::new();
        for f in p.flows.iter().filter(|f| &f.target == name) {
            let progress =
                FlowProgress::read(snapshot.as_ref(), &p.name, &f.name).unwrap_or_default();
            let mut lag = BTreeMap::new();
            for input in &f.query().inputs {
                let key = match &input.source {
                    InputSource::Dataset(x) => p.qualify(x).to_string(),
                    other => other.to_string(),
                };
                match &input.source {
                    InputSource::Dataset(_) | InputSource::Path(_) if input.streaming => {
                        let up_uri = match &input.source {
                            InputSource::Dataset(x) => p.dataset_uri(x),
                            InputSource::Path(u) => u.clone(),
                            InputSource::Files { .. } => continue,
                        };
                        if let Some(up) = tables::load(&up_uri, &p.storage_options).await? {
                            let behind = progress
                                .delta
                                .get(&key)
                                .map_or(up.version() + 1, |v| up.version().saturating_sub(*v));
                            lag.insert(key, json!({ "versions_behind": behind }));
                        }
                    }
                    InputSource::Files { path, options } if input.streaming => {
                        if let (Ok(opts), Ok(store)) = (
                            FileOptions::parse(options),
                            tables::store_for(&p.source_uri(path), &p.storage_options),
                        ) {
                            let done = progress.files.get(&key).cloned().unwrap_or_default();
                            if let Ok(pending) =
                                pending_files(store.as_ref(), &done, &opts, i64::MAX).await
                            {
                                lag.insert(key, json!({ "files_pending": pending.len() }));
                            }
                        }
                    }
                    _ => {}
                }
            }
            flows.push(json!({
                "flow": f.name,
                "batches": progress.batches,
                "consumed": crate::runner::consumed(&progress),
                "lag": lag,
            }));
        }
        let last_update = events
            .iter()
            // The last update that did something (ran batches or failed).
            .filter(|e| {
                e["event_type"] == "flow_progress"
                    && e["dataset"] == display.as_str()
                    && (e["details"]["status"] == "COMPLETED" || e["details"]["status"] == "FAILED")
            })
            .max_by_key(|e| e["timestamp_ms"].as_i64().unwrap_or(0))
            .map(|e| json!({"update_id": e["update_id"], "status": e["details"]["status"], "timestamp_ms": e["timestamp_ms"], "message": e["message"]}));
        out.push(DatasetStatus {
            name: display.clone(),
            kind,
            uri: Some(uri),
            version: snapshot.as_ref().map(|s| s.version()),
            rows: snapshot.as_ref().and_then(|s| s.num_records()),
            last_commit_ms: snapshot.as_ref().map(|s| s.timestamp_ms()),
            flows,
            last_update,
            expectations: expectation_totals(&events, &display),
        });
    }
    Ok(out)
}

fn expectation_totals(events: &[Value], dataset: &str) -> Vec<Value> {
    let mut totals: BTreeMap<String, (String, u64, u64)> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["event_type"] == "flow_progress" && e["details"]["status"] == "RUNNING")
    {
        if let Some(list) = e["details"]["expectations"].as_array() {
            for x in list.iter().filter(|x| x["dataset"] == dataset) {
                let entry = totals
                    .entry(x["name"].as_str().unwrap_or_default().to_string())
                    .or_insert((x["action"].as_str().unwrap_or_default().to_string(), 0, 0));
                entry.1 += x["passed_records"].as_u64().unwrap_or(0);
                entry.2 += x["failed_records"].as_u64().unwrap_or(0);
            }
        }
    }
    totals
        .into_iter()
        .map(|(name, (action, passed, failed))| {
            let rate = if passed + failed == 0 { 1.0 } else { passed as f64 / (passed + failed) as f64 };
            json!({"name": name, "action": action, "passed_records": passed, "failed_records": failed, "pass_rate": rate})
        })
        .collect()
}

/// The event log as JSON objects (`id`, `timestamp_ms`, `level`,
/// `event_type`, `update_id`, `flow`, `dataset`, `message`, `details`),
/// oldest first; the newest `limit` when given.
pub async fn read_events(p: &Pipeline, limit: Option<usize>) -> PipelineResult<Vec<Value>> {
    let Some(snapshot) = tables::load(&p.event_log_uri(), &p.storage_options).await? else {
        return Ok(Vec::new());
    };
    let batches = silt_parquet::Scan::new(&snapshot).collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let rows = arrow_json_rows(b);
        for r in rows {
            let origin = &r["origin"];
            let details: Value = r["details"]
                .as_str()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            out.push(json!({
                "id": r["id"],
                "timestamp_ms": timestamp_ms(&r["timestamp"]),
                "level": r["level"],
                "event_type": r["event_type"],
                "update_id": origin["update_id"],
                "flow": origin["flow_name"],
                "dataset": origin["dataset_name"],
                "message": r["message"],
                "details": details,
            }));
        }
    }
    out.sort_by_key(|e| e["timestamp_ms"].as_i64().unwrap_or(0));
    if let Some(l) = limit {
        let skip = out.len().saturating_sub(l);
        out.drain(..skip);
    }
    Ok(out)
}

fn timestamp_ms(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp_millis())
}

fn arrow_json_rows(b: &arrow_array::RecordBatch) -> Vec<serde_json::Map<String, Value>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow_json::ArrayWriter::new(&mut buf);
        if w.write(b).is_err() || w.finish().is_err() {
            return Vec::new();
        }
    }
    serde_json::from_slice(&buf).unwrap_or_default()
}
