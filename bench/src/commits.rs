//! Commit benchmarks: sequential small appends (each writing a real
//! 100-row Parquet file and committing it), contending writers, and
//! checkpoint writing.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use silt_log::actions::{Add, parse_action_line};
use silt_log::checkpoint_write::CheckpointOptions;
use silt_log::create::{new_metadata, protocol_for};
use silt_log::{Action, CommitOutcome, Operation, Snapshot, StructType, Transaction};

const SCHEMA: &str = r#"{"type":"struct","fields":[{"name":"device_id","type":"string","nullable":true,"metadata":{}},{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},{"name":"temperature","type":"double","nullable":true,"metadata":{}}]}"#;

fn add(path: &str, size: i64, records: i64, min_ts: i64, max_ts: i64) -> Add {
    let line = format!(
        r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":{size},"modificationTime":{min_ts},"dataChange":true,"stats":"{{\"numRecords\":{records},\"minValues\":{{\"ts\":{min_ts}}},\"maxValues\":{{\"ts\":{max_ts}}},\"nullCount\":{{\"device_id\":0,\"ts\":0,\"temperature\":0}}}}"}}}}"#
    );
    match parse_action_line(line.as_bytes()) {
        Ok(Some(Action::Add(a))) => *a,
        other => panic!("bench add did not parse: {other:?}"),
    }
}

/// Writes a 100-row Parquet file into the table (through its store, so
/// object stores work too); returns its add.
async fn write_batch(
    store: &Arc<dyn silt_log::LogStore>,
    writer: u64,
    i: u64,
) -> Result<Add, String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("temperature", DataType::Float64, true),
    ]));
    let base = 1_704_067_200_000_000i64 + (writer as i64 * 1_000_000 + i as i64) * 100;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..100).map(|r| format!("dev-{:04}", (i * 7 + r) % 1000)),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values((0..100).map(|r| base + r))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(
                (0..100).map(|r| 21.0 + (r % 13) as f64 * 0.5),
            )),
        ],
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, None).map_err(|e| e.to_string())?;
    w.write(&batch).map_err(|e| e.to_string())?;
    w.close().map_err(|e| e.to_string())?;
    let name = format!(
        "part-w{writer}-{i:06}-{}.snappy.parquet",
        uuid::Uuid::new_v4()
    );
    let size = buf.len() as i64;
    store
        .put(&name, bytes::Bytes::from(buf))
        .await
        .map_err(|e| e.to_string())?;
    Ok(add(&name, size, 100, base, base + 99))
}

/// Creates a table with `files` live (fake) files in 100 commits, checkpointed at the end.
pub async fn prepare(dir: &str, files: u64) -> Result<String, String> {
    let store = crate::table(dir)?
        .build_store()
        .map_err(|e| e.to_string())?;
    let schema = StructType::from_json(SCHEMA).map_err(|e| e.to_string())?;
    let props = Default::default();
    let protocol = protocol_for(&props, &[], &schema);
    let meta = new_metadata(schema, vec![], props, None, &silt_log::SystemEnvironment)
        .map_err(|e| e.to_string())?;
    Transaction::create_table(store.clone(), protocol, meta)
        .commit()
        .await
        .map_err(|e| e.to_string())?
        .version()
        .ok_or("create did not commit")?;
    let mut snapshot = Snapshot::builder(store.clone())
        .load()
        .await
        .map_err(|e| e.to_string())?;
    let per_commit = files.div_ceil(100).max(1);
    let mut made = 0;
    while made < files {
        let n = per_commit.min(files - made);
        let adds = (made..made + n).map(|k| add(&format!("seed/f-{k}.parquet"), 7000, 100, 0, 1));
        let outcome = snapshot
            .transaction(Operation::append())
            .with_options(silt_log::CommitOptions {
                auto_checkpoint: false,
                ..Default::default()
            })
            .add_files(adds)
            .commit()
            .await
            .map_err(|e| e.to_string())?;
        outcome.version().ok_or("prepare commit did not land")?;
        snapshot = snapshot.refresh().await.map_err(|e| e.to_string())?;
        made += n;
    }
    if files > 0 {
        snapshot
            .write_checkpoint(&CheckpointOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(format!(
        r#"{{"prepared":{files},"version":{}}}"#,
        snapshot.version()
    ))
}

/// Appends `commits` one-file commits as writer `writer`; prints timings.
pub async fn append(dir: &str, commits: u64, writer: u64) -> Result<String, String> {
    let mut snapshot = crate::table(dir)?.load().await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(commits as usize);
    let mut retries = 0usize;
    for i in 0..commits {
        let t = Instant::now();
        let add = write_batch(snapshot.store(), writer, i).await?;
        let outcome = snapshot
            .transaction(Operation::append())
            .add_files([add])
            .commit()
            .await
            .map_err(|e| e.to_string())?;
        match outcome {
            CommitOutcome::Committed(c) => retries += c.retries,
            other => return Err(format!("append did not commit: {other:?}")),
        }
        snapshot = snapshot.refresh().await.map_err(|e| e.to_string())?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let secs = start.elapsed().as_secs_f64();
    let first: f64 = latencies.iter().take(latencies.len() / 10 + 1).sum::<f64>()
        / (latencies.len() / 10 + 1) as f64;
    let tail = &latencies[latencies.len() - latencies.len() / 10 - 1..];
    let last: f64 = tail.iter().sum::<f64>() / tail.len() as f64;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(format!(
        r#"{{"engine":"silt","writer":{writer},"commits":{commits},"seconds":{secs:.3},"commits_per_s":{:.1},"p50_ms":{:.2},"p99_ms":{:.2},"first10pct_ms":{first:.2},"last10pct_ms":{last:.2},"retries":{retries},"files":{}}}"#,
        commits as f64 / secs,
        p(0.5),
        p(0.99),
        snapshot.files().len()
    ))
}

/// Loads the table and writes a checkpoint of its latest version.
pub async fn checkpoint(dir: &str) -> Result<String, String> {
    let start = Instant::now();
    let snapshot = crate::table(dir)?.load().await.map_err(|e| e.to_string())?;
    let loaded = start.elapsed().as_secs_f64() * 1000.0;
    let w = snapshot
        .write_checkpoint(&CheckpointOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        r#"{{"engine":"silt","load_ms":{loaded:.1},"total_ms":{:.1},"files":{},"version":{}}}"#,
        start.elapsed().as_secs_f64() * 1000.0,
        w.num_add_files,
        w.version
    ))
}
