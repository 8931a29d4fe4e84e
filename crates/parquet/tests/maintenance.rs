//! DELETE (file removal, rewrites, deletion vectors), OPTIMIZE and VACUUM,
//! with the results read back by silt and by the Python `deltalake` package.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use silt_testkit::peer::run_peer_script;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use silt_log::expr::parse_predicate;
use silt_parquet::{
    Scan, VacuumOptions, WriteOptions, delete_where, optimize, vacuum, write_batches,
};
use silt_store::TableBuilder;

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("part", DataType::Utf8, true),
    ]));
    let parts: Vec<String> = ids.clone().map(|i| format!("p{}", i % 2)).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids)) as ArrayRef,
            Arc::new(StringArray::from(parts)),
        ],
    )
    .unwrap()
}

/// The table's `id` values in scan order.
async fn ids_in_scan_order(location: &str) -> Vec<i64> {
    let s = TableBuilder::new(location).load().await.unwrap();
    Scan::new(&s)
        .select(["id"])
        .collect()
        .await
        .unwrap()
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

async fn ids(location: &str) -> Vec<i64> {
    let mut v = ids_in_scan_order(location).await;
    v.sort();
    v
}

fn deltalake_ids(location: &str) -> Vec<i64> {
    // The DataFusion-based reader applies deletion vectors; the pyarrow
    // dataset path refuses tables that use them.
    let text = run_peer_script(
        "import sys, pyarrow as pa\nfrom deltalake import DeltaTable, QueryBuilder\nr = QueryBuilder().register('t', DeltaTable(sys.argv[1])).execute('SELECT id FROM t')\nt = pa.RecordBatchReader.from_stream(r).read_all()\nprint(sorted(t.column('id').to_pylist()))",
        &[location],
    );
    serde_json::from_str(text.trim()).unwrap()
}

async fn table(props: &[(&str, &str)], batches: Vec<RecordBatch>) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        partition_by: vec!["part".into()],
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        ..Default::default()
    };
    write_batches(store, None, batches, opts).await.unwrap();
    (dir, location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_rewrites_files_without_deletion_vectors() {
    let (_d, location) = table(&[], vec![batch(0..100)]).await;
    let s = TableBuilder::new(&location).load().await.unwrap();
    let r = delete_where(&s, Some(parse_predicate("id < 10 OR id = 55").unwrap()))
        .await
        .unwrap();
    assert_eq!(r.rows_deleted, 11);
    assert_eq!(r.deletion_vectors, 0);
    assert!(r.files_added > 0);
    let want: Vec<i64> = (10..100).filter(|i| *i != 55).collect();
    assert_eq!(ids(&location).await, want);
    assert_eq!(deltalake_ids(&location), want);
    // A whole partition by its partition value: files removed unread.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let r = delete_where(&s, Some(parse_predicate("part = 'p1'").unwrap()))
        .await
        .unwrap();
    assert_eq!(r.files_added, 0);
    assert!(ids(&location).await.iter().all(|i| i % 2 == 0));
    // Nothing matches: no commit.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let r = delete_where(&s, Some(parse_predicate("id > 1000").unwrap()))
        .await
        .unwrap();
    assert!(r.outcome.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_writes_deletion_vectors_when_enabled() {
    let (_d, location) = table(
        &[("delta.enableDeletionVectors", "true")],
        vec![batch(0..100)],
    )
    .await;
    let s = TableBuilder::new(&location).load().await.unwrap();
    let r = delete_where(&s, Some(parse_predicate("id >= 20 AND id < 30").unwrap()))
        .await
        .unwrap();
    assert_eq!((r.rows_deleted, r.files_added), (10, 2));
    assert_eq!(r.deletion_vectors, 2);
    // A second delete adds to the existing vectors.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let r = delete_where(&s, Some(parse_predicate("id IN (0, 1, 99)").unwrap()))
        .await
        .unwrap();
    assert_eq!(r.rows_deleted, 3);
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert!(s.files().iter().all(|f| f.deletion_vector.is_some()));
    assert_eq!(s.num_records(), Some(87));
    let want: Vec<i64> = (0..100)
        .filter(|i| !(20..30).contains(i) && ![0, 1, 99].contains(i))
        .collect();
    assert_eq!(ids(&location).await, want);
    assert_eq!(
        deltalake_ids(&location),
        want,
        "deltalake applies silt's deletion vectors"
    );

    // OPTIMIZE purges the deletion vectors and compacts.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let o = optimize(&s, 128 << 20, 64 << 20).await.unwrap();
    assert!(o.outcome.is_some());
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert!(
        s.files()
            .iter()
            .all(|f| f.deletion_vector.is_none() && !f.data_change)
    );
    assert_eq!(ids(&location).await, want);
    assert_eq!(deltalake_ids(&location), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_a_deletion_vector_is_scanned_in_pieces() {
    // One file of 200,000 rows in row groups of 30,000 (the last 20,000),
    // scanned in one piece per core, cut at row-group boundaries: deleted
    // rows on either side of the cuts, in the first and the last row.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        threads: 1,
        row_group_rows: 30_000,
        properties: HashMap::from([("delta.enableDeletionVectors".into(), "true".into())]),
        ..Default::default()
    };
    write_batches(store, None, vec![batch(0..200_000)], opts)
        .await
        .unwrap();
    let deleted = "id < 3 OR (id >= 89990 AND id < 90010) OR (id >= 119995 AND id < 120005) \
                   OR id IN (29999, 30000, 150001, 199999)";
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(s.files().len(), 1);
    let r = delete_where(&s, Some(parse_predicate(deleted).unwrap()))
        .await
        .unwrap();
    assert_eq!((r.rows_deleted, r.deletion_vectors), (37, 1));
    let gone = |i: i64| {
        i < 3
            || (89_990..90_010).contains(&i)
            || (119_995..120_005).contains(&i)
            || [29_999, 30_000, 150_001, 199_999].contains(&i)
    };
    // In scan order, not sorted: the pieces come back in file order.
    assert_eq!(
        ids_in_scan_order(&location).await,
        (0..200_000).filter(|i| !gone(*i)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_and_vacuum_removes_unreferenced_files() {
    let (_d, location) = table(&[], (0..6).map(|k| batch(k * 10..k * 10 + 10)).collect()).await;
    let store = TableBuilder::new(&location).build_store().unwrap();
    for k in 6..10 {
        let s = TableBuilder::new(&location).load().await.unwrap();
        write_batches(
            store.clone(),
            Some(s),
            vec![batch(k * 10..k * 10 + 10)],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    }
    let before = TableBuilder::new(&location).load().await.unwrap();
    let files_before = before.files().len();
    let o = optimize(&before, 128 << 20, 64 << 20).await.unwrap();
    let after = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(after.files().len(), 2, "one file per partition");
    assert_eq!(o.files_removed, files_before);
    assert_eq!(ids(&location).await, (0..100).collect::<Vec<_>>());

    // VACUUM: the default retention keeps everything (files are new).
    let report = vacuum(
        &after,
        &VacuumOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(report.files.is_empty());
    // A short retention is refused unless forced.
    let short = VacuumOptions {
        retention_hours: Some(0.0),
        ..Default::default()
    };
    assert!(vacuum(&after, &short).await.is_err());
    let forced = VacuumOptions {
        retention_hours: Some(0.0),
        force: true,
        dry_run: true,
        now_ms: Some(chrono_now() + 1000),
    };
    let listed = vacuum(&after, &forced).await.unwrap();
    assert_eq!(
        listed.files.len(),
        files_before,
        "the compacted-away files: {:?}",
        listed.files
    );
    assert!(listed.files.iter().all(|f| !f.starts_with("_delta_log")));
    let done = vacuum(
        &after,
        &VacuumOptions {
            dry_run: false,
            ..forced
        },
    )
    .await
    .unwrap();
    assert_eq!(done.files, listed.files);
    assert_eq!(ids(&location).await, (0..100).collect::<Vec<_>>());
    assert_eq!(deltalake_ids(&location), (0..100).collect::<Vec<_>>());
    // Time travel to before OPTIMIZE now lacks its files: a typed error.
    let old = TableBuilder::new(&location)
        .at_version(before.version())
        .load()
        .await
        .unwrap();
    assert!(Scan::new(&old).count().await.is_err());
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_data_feed_records_deletes_and_reads_changes() {
    let (_d, location) = table(
        &[("delta.enableChangeDataFeed", "true")],
        vec![batch(0..10)],
    )
    .await;
    let store = TableBuilder::new(&location).build_store().unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    write_batches(
        store.clone(),
        Some(s),
        vec![batch(10..15)],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    delete_where(
        &s,
        Some(parse_predicate("id < 3 OR part = 'p1' AND id > 11").unwrap()),
    )
    .await
    .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    let changes = silt_parquet::cdf::read_changes(&s, 0, None).await.unwrap();
    let mut summary: std::collections::BTreeMap<(String, i64), Vec<i64>> = Default::default();
    for b in &changes {
        let schema = b.schema();
        let col = |n: &str| b.column(schema.index_of(n).unwrap()).clone();
        let ids = col("id");
        let kinds = col("_change_type");
        let versions = col("_commit_version");
        for i in 0..b.num_rows() {
            summary
                .entry((
                    kinds.as_string::<i32>().value(i).to_string(),
                    versions.as_primitive::<Int64Type>().value(i),
                ))
                .or_default()
                .push(ids.as_primitive::<Int64Type>().value(i));
        }
    }
    for v in summary.values_mut() {
        v.sort();
    }
    let expected: std::collections::BTreeMap<(String, i64), Vec<i64>> = [
        (("insert".to_string(), 0), (0..10).collect()),
        (("insert".to_string(), 1), (10..15).collect()),
        (("delete".to_string(), 2), vec![0, 1, 2, 13]),
    ]
    .into_iter()
    .collect();
    assert_eq!(summary, expected);
    // deltalake reads the same change feed.
    let text = run_peer_script(
        "import sys, pyarrow as pa\nfrom deltalake import DeltaTable\nt = pa.RecordBatchReader.from_stream(DeltaTable(sys.argv[1]).load_cdf(starting_version=0)).read_all()\nrows = sorted(zip(t.column('_change_type').to_pylist(), t.column('_commit_version').to_pylist(), t.column('id').to_pylist()))\nprint(rows)",
        &[&location],
    );
    let mut tuples: Vec<(String, i64, i64)> = Vec::new();
    for ((k, v), ids) in &expected {
        for id in ids {
            tuples.push((k.clone(), *v, *id));
        }
    }
    tuples.sort();
    let want: Vec<String> = tuples
        .iter()
        .map(|(k, v, id)| format!("('{k}', {v}, {id})"))
        .collect();
    assert_eq!(text.trim(), format!("[{}]", want.join(", ")));
}
