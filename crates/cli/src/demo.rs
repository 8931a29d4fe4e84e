//! `silt demo [DIR]`: the IoT lake end to end. Generates landing data with
//! the defects real feeds have (malformed lines, resent duplicates,
//! non-numeric and out-of-range temperatures, late events, a device
//! registry change feed with moves, deletes and out-of-order changes), runs
//! the example project `examples/iot-lake` (built into the binary) as a
//! triggered update, then continuously while two more days of files land,
//! and prints the gold table, `status` and `graph`.

use crate::error::CliError;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use silt_medallion::project::{ProjectOptions, load};
use silt_medallion::{FlowStatus, RunOptions};

const SPEC: &str = include_str!("../../../examples/iot-lake/spark-pipeline.yml");
const BRONZE: &str = include_str!("../../../examples/iot-lake/transformations/bronze.sql");
const SILVER: &str = include_str!("../../../examples/iot-lake/transformations/silver.sql");
const GOLD: &str = include_str!("../../../examples/iot-lake/transformations/gold.sql");

const DAY_MS: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z.
const DAY0_MS: i64 = 1_793_491_200_000;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Writes `text` to `path` atomically (a hidden temporary file renamed),
/// as a landing process should, so no reader sees half a file.
fn land(path: &Path, text: &str) -> Result<(), CliError> {
    let dir = path.parent().ok_or("no parent")?;
    std::fs::create_dir_all(dir).map_err(|e| CliError::from(format!("{}: {e}", dir.display())))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| CliError::from(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| CliError::from(format!("{}: {e}", path.display())))
}

/// The registry: device → (site, model), replayed round by round.
fn registry_round(
    rng: &mut Rng,
    round: i64,
    devices: usize,
    state: &mut BTreeMap<String, (String, String, i64)>,
) -> Vec<String> {
    let sites = (devices / 25).max(2) as u64;
    let models = ["TH-100", "TH-200", "AQ-5"];
    let day = DAY0_MS + round * DAY_MS;
    let mut lines = Vec::new();
    let change = |d: &str, site: Option<&str>, model: Option<&str>, op: &str, at: i64| {
        serde_json::json!({"device_id": d, "site": site, "model": model, "op": op, "updated_at": iso(at)}).to_string()
    };
    if round == 0 {
        for d in 0..devices {
            let id = format!("dev-{d:05}");
            let site = format!("site-{:02}", rng.below(sites));
            let model = models[rng.below(3) as usize].to_string();
            let at = day + 2 * rng.below(DAY_MS as u64 / 2) as i64;
            lines.push(change(&id, Some(&site), Some(&model), "UPSERT", at));
            state.insert(id, (site, model, at));
        }
        return lines;
    }
    let live: Vec<String> = state.keys().cloned().collect();
    let moves = (devices / 20).max(1);
    let deletes = (devices / 200).max(1);
    for _ in 0..moves {
        let id = &live[rng.below(live.len() as u64) as usize];
        let Some((_, model, _)) = state.get(id).cloned() else {
            continue;
        };
        let site = format!("site-{:02}", rng.below(sites));
        let at = day + 2 * rng.below(DAY_MS as u64 / 2) as i64;
        lines.push(change(id, Some(&site), Some(&model), "UPSERT", at));
        // A stale change of the same device arrives after it: older, odd time.
        if rng.unit() < 0.2 {
            let stale = format!("site-{:02}", rng.below(sites));
            lines.push(change(
                id,
                Some(&stale),
                Some(&model),
                "UPSERT",
                at - 1 - 2 * rng.below(1000) as i64,
            ));
        }
        state.insert(id.clone(), (site, model, at));
    }
    for _ in 0..deletes {
        let id = live[rng.below(live.len() as u64) as usize].clone();
        if state.remove(&id).is_some() {
            let at = DAY0_MS + round * DAY_MS + DAY_MS - 1000 - 2 * rng.below(1000) as i64;
            lines.push(change(&id, None, None, "DELETE", at));
        }
    }
    lines
}

/// One day of readings (with defects) and registry changes, in `files` files.
fn generate_round(
    landing: &Path,
    round: i64,
    readings: usize,
    devices: usize,
    files: usize,
    state: &mut BTreeMap<String, (String, String, i64)>,
) -> Result<(usize, usize), CliError> {
    let mut rng = Rng(0x5EED ^ (round as u64).wrapping_mul(0x1000_0001));
    let changes = registry_round(&mut rng, round, devices, state);
    land(
        &landing.join(format!("devices/round-{round}/changes.jsonl")),
        &(changes.join("\n") + "\n"),
    )?;
    let per_device = readings.div_ceil(devices) as i64;
    let slot = DAY_MS / per_device.max(1);
    let mut lines: Vec<String> = Vec::with_capacity(readings + readings / 50);
    for i in 0..readings {
        let d = i % devices;
        let k = (i / devices) as i64;
        let late = if rng.unit() < 0.02 {
            1 + rng.below(2) as i64
        } else {
            0
        };
        let ts = DAY0_MS
            + (round - late) * DAY_MS
            + k * slot
            + rng.below(slot as u64 / 2) as i64 * 2
            + late % 2;
        let base = 15.0 + (d % 10) as f64;
        let u = rng.unit();
        let temp = if u < 0.005 {
            "\"n/a\"".to_string()
        } else if u < 0.015 {
            "999.0".to_string()
        } else {
            format!(
                "{:.2}",
                base + 6.0 * (ts as f64 / DAY_MS as f64 * std::f64::consts::TAU).sin() + rng.unit()
                    - 0.5
            )
        };
        let line = format!(
            "{{\"device_id\":\"dev-{d:05}\",\"ts\":\"{}\",\"temperature\":{temp},\"humidity\":{:.1},\"battery\":{:.3},\"fw\":\"1.5.0\"}}",
            iso(ts),
            40.0 + 20.0 * rng.unit(),
            1.0 - 0.01 * round as f64
        );
        lines.push(line.clone());
        if rng.unit() < 0.01 {
            lines.push(line); // resent
        }
        if rng.unit() < 0.005 {
            let cut = line_cut(&mut rng, lines.last().map_or(0, |l| l.len()));
            if let Some(last) = lines.last_mut() {
                last.truncate(cut);
            }
        }
    }
    let per_file = lines.len().div_ceil(files.max(1));
    for (f, chunk) in lines.chunks(per_file.max(1)).enumerate() {
        land(
            &landing.join(format!("readings/round-{round}/part-{f:05}.jsonl")),
            &(chunk.join("\n") + "\n"),
        )?;
    }
    Ok((lines.len(), changes.len()))
}

fn line_cut(rng: &mut Rng, len: usize) -> usize {
    5 + rng.below(len.saturating_sub(7).max(1) as u64) as usize
}

/// Runs the demo in `dir` (default: a fresh directory under the system's
/// temporary directory).
pub async fn run(dir: Option<PathBuf>) -> Result<(), CliError> {
    let started = Instant::now();
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("silt-demo-{}", std::process::id())),
    };
    let project = dir.join("iot-lake");
    let landing = dir.join("landing");
    let lake = dir.join("lake");
    for (rel, text) in [
        ("spark-pipeline.yml", SPEC),
        ("transformations/bronze.sql", BRONZE),
        ("transformations/silver.sql", SILVER),
        ("transformations/gold.sql", GOLD),
    ] {
        let path = project.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::from(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| CliError::from(format!("{}: {e}", path.display())))?;
    }
    outln!(
        "silt demo in {}\n  project  {}\n  landing  {}\n  lake     {}",
        dir.display(),
        project.display(),
        landing.display(),
        lake.display()
    );
    let (readings, devices, files) = (20_000, 200, 4);
    let mut state = BTreeMap::new();
    for round in 0..2 {
        let (lines, changes) =
            generate_round(&landing, round, readings, devices, files, &mut state)?;
        outln!(
            "landed day {round}: {lines} reading lines in {files} files, {changes} registry changes"
        );
    }
    let options = ProjectOptions {
        conf: [("landing".to_string(), landing.display().to_string())].into(),
        storage: Some(lake.display().to_string()),
        ..ProjectOptions::default()
    };
    let p = load(&project, &options).map_err(CliError::from)?.pipeline;
    outln!(
        "\n$ silt pipeline run {} --conf landing={} --storage {}",
        project.display(),
        landing.display(),
        lake.display()
    );
    let reports = silt_medallion::run(&p, &RunOptions::default())
        .await
        .map_err(CliError::from)?;
    for r in &reports {
        summarize(r);
    }
    outln!(
        "\n$ silt pipeline run … --continuous --trigger-interval 500ms   (two more days land meanwhile)"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let landing_task = {
        let landing = landing.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut state = state;
            let mut result = Ok(());
            for round in 2..4 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                match generate_round(&landing, round, readings, devices, files, &mut state) {
                    Ok((lines, changes)) => outln!(
                        "  [landing] day {round}: {lines} reading lines, {changes} registry changes"
                    ),
                    Err(e) => result = Err(e),
                }
            }
            tokio::time::sleep(Duration::from_millis(4000)).await;
            stop.store(true, Ordering::SeqCst);
            result
        })
    };
    let continuous = RunOptions {
        continuous: true,
        trigger_interval: Duration::from_millis(500),
        stop: Some(stop.clone()),
        progress: Some(Arc::new(|line: &str| outln!("  {line}"))),
        ..RunOptions::default()
    };
    let runs = silt_medallion::run(&p, &continuous)
        .await
        .map_err(CliError::from)?;
    landing_task.await.map_err(CliError::from)??;
    if let Some((flow, e)) = runs.iter().find_map(|r| r.failure()) {
        return Err(format!("flow {flow} failed: {e}").into());
    }
    outln!("  stopped after {} updates", runs.len());
    let gold = p.dataset_uri(
        &silt_medallion::definition::DatasetName::parse("gold.site_daily").ok_or("name")?,
    );
    outln!("\n$ silt sql \"SELECT * FROM delta.'{gold}' ORDER BY site, day LIMIT 12\"");
    crate::data::sql(
        &format!("SELECT * FROM delta.'{gold}' ORDER BY site, day LIMIT 12"),
        Default::default(),
        Default::default(),
        crate::data::OutputFormat::Table,
        None,
    )
    .await?;
    outln!("\n$ silt pipeline status");
    crate::pipeline_cmd::print_status(&p).await?;
    outln!("\n$ silt pipeline graph");
    out!(
        "{}",
        silt_medallion::graph::mermaid(&p, &Default::default())
    );
    outln!(
        "\ndemo finished in {:.1}s; the lake stays in {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

fn summarize(r: &silt_medallion::UpdateReport) {
    for f in &r.flows {
        if let FlowStatus::Completed = f.status {
            outln!(
                "  {:<16} -> {:<26} {} batch(es), {} rows in, {} out",
                f.flow,
                f.target,
                f.batches,
                f.rows_in,
                f.rows_out
            );
            for e in f.expectations.iter().filter(|e| e.failed_records > 0) {
                outln!(
                    "      expectation {} ({}): {} rows failed",
                    e.name,
                    e.action,
                    e.failed_records
                );
            }
        }
    }
}
