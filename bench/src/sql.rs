//! SQL workloads: MERGE (upsert) into a copy of a table, and queries.
//!
//! * `silt-bench merge <base> <source.parquet> [--deletion-vectors] --repeat N`
//!   copies `<base>` for each repeat (untimed), optionally enables deletion
//!   vectors on the copy (untimed), loads the source into memory (untimed, as
//!   the peer benchmark holds it in a pyarrow table), then times the MERGE
//!   of the peer benchmark's W7: update every column of matched rows, insert
//!   the others, matching on `(device_id, ts)`.
//! * `silt-bench sql <table> <query> --repeat N` times a query to completion.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use silt_log::Operation;
use silt_log::actions::Protocol;
use silt_log::features::legacy_writer_features;
use silt_sql::SiltSession;
use silt_sql::datafusion::datasource::MemTable;

use crate::data::{median, read_input};

const MERGE: &str = "MERGE INTO t USING s ON t.device_id = s.device_id AND t.ts = s.ts \
    WHEN MATCHED THEN UPDATE SET temperature = s.temperature, humidity = s.humidity, \
        status = s.status, payload = s.payload \
    WHEN NOT MATCHED THEN INSERT (device_id, ts, temperature, humidity, status, payload) \
        VALUES (s.device_id, s.ts, s.temperature, s.humidity, s.status, s.payload)";

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

async fn enable_deletion_vectors(location: &str) -> Result<(), String> {
    let s = silt_store::TableBuilder::new(location)
        .load()
        .await
        .map_err(|e| e.to_string())?;
    let p = s.protocol();
    let mut writer: Vec<String> = legacy_writer_features(p.min_writer_version)
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    writer.extend(p.writer_features.clone().unwrap_or_default());
    writer.push("deletionVectors".into());
    writer.sort();
    writer.dedup();
    let protocol = Protocol {
        min_reader_version: 3,
        min_writer_version: 7,
        reader_features: Some(vec!["deletionVectors".into()]),
        writer_features: Some(writer),
    };
    let mut metadata = s.metadata().clone();
    metadata
        .configuration
        .insert("delta.enableDeletionVectors".into(), "true".into());
    match s
        .transaction(Operation::new("SET TBLPROPERTIES"))
        .update_protocol(protocol)
        .update_metadata(metadata)
        .commit()
        .await
        .map_err(|e| e.to_string())?
    {
        silt_log::CommitOutcome::Committed(_) => Ok(()),
        other => Err(format!(
            "enabling deletion vectors did not commit: {other:?}"
        )),
    }
}

fn last_metrics(location: &str) -> String {
    let log = Path::new(location).join("_delta_log");
    let mut commits: Vec<_> = std::fs::read_dir(&log)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    commits
        .last()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| {
            text.lines().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                Some(v.get("commitInfo")?.get("operationMetrics")?.to_string())
            })
        })
        .unwrap_or_else(|| "null".into())
}

/// `silt-bench merge`.
pub async fn merge(base: &str, source: &str, dv: bool, repeat: u64) -> Result<String, String> {
    let batches = read_input(source, false)?;
    let schema = batches.first().ok_or("empty source")?.schema();
    let source_rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let work = tempfile_dir(base)?;
    let mut times = Vec::new();
    let mut metrics = String::new();
    for i in 0..repeat {
        let copy = work.join(format!("merge{i}"));
        copy_dir(Path::new(base), &copy).map_err(|e| e.to_string())?;
        let location = copy.to_string_lossy().to_string();
        if dv {
            enable_deletion_vectors(&location).await?;
        }
        let session = SiltSession::new();
        session
            .register("t", &location)
            .await
            .map_err(|e| e.to_string())?;
        let mem =
            MemTable::try_new(schema.clone(), vec![batches.clone()]).map_err(|e| e.to_string())?;
        session
            .context()
            .register_table("s", Arc::new(mem))
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        session.run(MERGE).await.map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64());
        metrics = last_metrics(&location);
        std::fs::remove_dir_all(&copy).map_err(|e| e.to_string())?;
    }
    let _ = std::fs::remove_dir_all(&work);
    let (med, lo, hi) = median(times);
    let (_, peak) = crate::memory_kb();
    Ok(format!(
        r#"{{"engine":"silt","workload":"merge","deletion_vectors":{dv},"source_rows":{source_rows},"median_s":{med:.3},"min_s":{lo:.3},"max_s":{hi:.3},"peak_kb":{peak},"metrics":{metrics}}}"#
    ))
}

fn tempfile_dir(base: &str) -> Result<std::path::PathBuf, String> {
    let parent = Path::new(base).parent().unwrap_or(Path::new("."));
    let dir = parent.join(format!("silt-merge-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// `silt-bench sql`.
pub async fn query(table: &str, sql: &str, repeat: u64) -> Result<String, String> {
    let mut times = Vec::new();
    let mut rows = 0usize;
    for _ in 0..repeat {
        let start = Instant::now();
        let session = SiltSession::new();
        session
            .register("t", table)
            .await
            .map_err(|e| e.to_string())?;
        let out = session.run(sql).await.map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64());
        rows = out.iter().map(|b| b.num_rows()).sum();
    }
    let (med, lo, hi) = median(times);
    let (_, peak) = crate::memory_kb();
    Ok(format!(
        r#"{{"engine":"silt","workload":"sql","rows":{rows},"median_s":{med:.3},"min_s":{lo:.3},"max_s":{hi:.3},"peak_kb":{peak}}}"#
    ))
}
