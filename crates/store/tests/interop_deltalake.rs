//! Interoperability with the Python `deltalake` package (delta-rs): a table
//! and checkpoint written by silt are read by `deltalake` with the same state,
//! and a table and checkpoint written by `deltalake` are read by silt with the
//! same state. The interpreter comes from `SILT_PYTHON` (set by
//! scripts/test.sh, which installs `deltalake` into its own venv), else
//! `python3`; a missing `deltalake` fails the test rather than skipping it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use silt_log::actions::{Add, Metadata, Protocol, Remove, parse_action_line};
use silt_log::{Action, LogStore, Operation, Snapshot, Transaction};
use silt_store::TableBuilder;

fn run_python(script: &str, args: &[&str]) -> Value {
    let out = silt_testkit::peer::run_peer_script(script, args);
    serde_json::from_str(&out).expect("python prints JSON")
}

/// What deltalake sees: version, protocol, partition columns, and per file
/// its size, record count and partition values.
const DESCRIBE: &str = r#"
import json, sys
from deltalake import DeltaTable
dt = DeltaTable(sys.argv[1])
import pyarrow as pa
adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
files = {}
for a in adds:
    parts = {k[len("partition."):]: (None if v is None else str(v)) for k, v in a.items() if k.startswith("partition.")}
    files[a["path"]] = {"size": a["size_bytes"], "records": a.get("num_records"), "partitions": parts}
p = dt.protocol()
print(json.dumps({
    "version": dt.version(),
    "reader": p.min_reader_version, "writer": p.min_writer_version,
    "partition_columns": dt.metadata().partition_columns,
    "id": dt.metadata().id,
    "files": files,
}))
"#;

/// Per file path: size, record count, partition values.
type FileView = BTreeMap<String, (i64, Option<i64>, BTreeMap<String, Option<String>>)>;

fn silt_view(s: &Snapshot) -> FileView {
    s.files()
        .iter()
        .map(|f| {
            (
                silt_log::path::percent_decode(f.path.as_str()).unwrap(),
                (
                    f.size,
                    f.parsed_stats().unwrap().and_then(|st| st.num_records),
                    f.partition_values.clone().into_iter().collect(),
                ),
            )
        })
        .collect()
}

fn python_view(v: &Value) -> FileView {
    v["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, f)| {
            let parts = f["partitions"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                .collect();
            (
                silt_log::path::percent_decode(path).unwrap_or_else(|| path.clone()),
                (f["size"].as_i64().unwrap(), f["records"].as_i64(), parts),
            )
        })
        .collect()
}

fn add(i: usize) -> Add {
    let part = ["a", "b c", "d/e"][i % 3];
    let enc = part.replace(' ', "%20").replace('/', "%2F");
    let line = format!(
        r#"{{"add":{{"path":"part={enc}/f-{i}.parquet","partitionValues":{{"part":"{part}"}},"size":{},"modificationTime":1700000000000,"dataChange":true,"stats":"{{\"numRecords\":{i},\"minValues\":{{\"id\":0}},\"maxValues\":{{\"id\":{i}}},\"nullCount\":{{\"id\":0}}}}"}}}}"#,
        1000 + i
    );
    match parse_action_line(line.as_bytes()).unwrap().unwrap() {
        Action::Add(a) => *a,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltalake_reads_silt_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silt_table");
    let location = path.to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let protocol: Protocol =
        serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":2}"#).unwrap();
    let metadata: Metadata = serde_json::from_str(
        r#"{"id":"interop","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"part\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":["part"],"configuration":{},"createdTime":1}"#,
    )
    .unwrap();
    Transaction::create_table(store.clone(), protocol, metadata)
        .commit()
        .await
        .unwrap()
        .version()
        .unwrap();
    for i in 1..=12 {
        let s = Snapshot::builder(store.clone()).load().await.unwrap();
        let mut t = s.transaction(Operation::append()).add_files([add(i)]);
        if i == 7 {
            let old = add(2);
            t = t.read_files([old.path.to_string()]).remove_files([Remove {
                path: old.path.clone(),
                deletion_timestamp: Some(1_800_000_000_000),
                data_change: true,
                extended_file_metadata: Some(true),
                partition_values: Some(old.partition_values.clone()),
                size: Some(old.size),
                stats: None,
                tags: None,
                deletion_vector: None,
                base_row_id: None,
                default_row_commit_version: None,
            }]);
        }
        let c = t.commit().await.unwrap();
        assert_eq!(c.version(), Some(i as u64));
    }
    // Version 10 was checkpointed automatically; drop the commits it covers
    // so deltalake must read silt's checkpoint.
    assert!(
        store
            .read("_delta_log/00000000000000000010.checkpoint.parquet")
            .await
            .is_ok()
    );
    for v in 0..10u64 {
        store
            .delete(&format!("_delta_log/{v:020}.json"))
            .await
            .unwrap();
    }
    let silt = Snapshot::builder(store.clone()).load().await.unwrap();
    let py = run_python(DESCRIBE, &[&location]);
    assert_eq!(py["version"], 12);
    assert_eq!(py["id"], "interop");
    assert_eq!(py["partition_columns"], serde_json::json!(["part"]));
    assert_eq!(
        (py["reader"].as_i64(), py["writer"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(silt.files().len(), 11);
    assert_eq!(python_view(&py), silt_view(&silt));
}

const WRITE: &str = r#"
import sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
path = sys.argv[1]
for i in range(3):
    t = pa.table({"id": pa.array(range(i * 100, i * 100 + 50 + i), pa.int64()),
                  "part": pa.array([["x", "y z", "w/v"][j % 3] for j in range(50 + i)])})
    write_deltalake(path, t, mode="append", partition_by=["part"])
DeltaTable(path).create_checkpoint()
t = pa.table({"id": pa.array([7], pa.int64()), "part": pa.array(["x"])})
write_deltalake(path, t, mode="append", partition_by=["part"])
print("{}")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silt_reads_deltalake_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("py_table").to_string_lossy().to_string();
    run_python(WRITE, &[&location]);
    let silt = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(silt.version(), 3);
    assert_eq!(silt.checkpoint_version(), Some(2));
    let py = run_python(DESCRIBE, &[&location]);
    assert_eq!(python_view(&py), silt_view(&silt));
    assert_eq!(silt.num_records(), Some(50 + 51 + 52 + 1));
    let store: Arc<dyn LogStore> = silt.store().clone();
    let history = silt_log::read_history(store.as_ref(), None).await.unwrap();
    assert_eq!(history.len(), 4);
}
