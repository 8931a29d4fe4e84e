//! Writing tables with silt-parquet and scanning them back: create-as-write,
//! append, replaceWhere, overwrite, partitions with special characters,
//! file rolling, statistics-based skipping, schema enforcement; and the
//! written tables read by the Python `deltalake` package with the same rows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use silt_log::expr::parse_predicate;
use silt_parquet::{Scan, WriteMode, WriteOptions, write_batches};
use silt_store::TableBuilder;

fn batch(ids: std::ops::Range<i64>, part: &str) -> RecordBatch {
    let n = ids.clone().count();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("part", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())) as ArrayRef,
            Arc::new(StringArray::from(vec![part; n])),
            Arc::new(Float64Array::from_iter_values(
                ids.clone().map(|i| i as f64 * 0.5),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(ids.map(|i| 1_700_000_000_000_000 + i))
                    .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap()
}

async fn scan_ids(location: &str, predicate: Option<&str>) -> Vec<i64> {
    let s = TableBuilder::new(location).load().await.unwrap();
    let mut scan = Scan::new(&s).select(["id"]);
    if let Some(p) = predicate {
        scan = scan.filter(parse_predicate(p).unwrap());
    }
    collect_ids(scan).await
}

/// The `id` values a scan (projected to `id` first) returns, in its order.
async fn ids_in_scan_order(scan: Scan) -> Vec<i64> {
    scan.collect()
        .await
        .unwrap()
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

/// The sorted `id` values a scan (projected to `id` first) returns.
async fn collect_ids(scan: Scan) -> Vec<i64> {
    let mut ids = ids_in_scan_order(scan).await;
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_modes_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    // Create as write, partitioned, with awkward partition values.
    let parts = ["a", "b c", "d/e:f", "100%"];
    let batches: Vec<RecordBatch> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| batch(i as i64 * 100..i as i64 * 100 + 50, p))
        .collect();
    let opts = WriteOptions {
        partition_by: vec!["part".into()],
        ..Default::default()
    };
    let r = write_batches(store.clone(), None, batches, opts)
        .await
        .unwrap();
    assert_eq!(r.outcome.version(), Some(0));
    assert_eq!(r.rows, 200);
    let all: Vec<i64> = (0..4).flat_map(|i| i * 100..i * 100 + 50).collect();
    assert_eq!(scan_ids(&location, None).await, all);
    // Partition pruning and stats skipping.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let plan = Scan::new(&s)
        .filter(parse_predicate("part = 'd/e:f'").unwrap())
        .plan()
        .unwrap();
    assert_eq!((plan.files, plan.skipped), (1, 3));
    assert_eq!(
        scan_ids(&location, Some("part = 'b c'")).await,
        (100..150).collect::<Vec<_>>()
    );
    assert_eq!(
        scan_ids(&location, Some("id >= 345 AND value < 174")).await,
        (345..348).collect::<Vec<_>>()
    );
    let plan = Scan::new(&s)
        .filter(parse_predicate("id > 1000").unwrap())
        .plan()
        .unwrap();
    assert_eq!(plan.files, 0, "stats prove no file matches");

    // Append, with small files to exercise rolling.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let small = WriteOptions {
        target_file_size: 1,
        row_group_rows: 10,
        ..Default::default()
    };
    let r = write_batches(
        store.clone(),
        Some(s),
        vec![batch(1000..1020, "a"), batch(1020..1040, "a")],
        small,
    )
    .await
    .unwrap();
    assert_eq!(r.outcome.version(), Some(1));
    assert!(r.files_added >= 2, "files rolled: {}", r.files_added);
    assert_eq!(scan_ids(&location, Some("part = 'a'")).await.len(), 90);

    // replaceWhere replaces one partition only.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let opts = WriteOptions {
        mode: WriteMode::ReplaceWhere(parse_predicate("part = 'a'").unwrap()),
        ..Default::default()
    };
    write_batches(store.clone(), Some(s), vec![batch(5000..5005, "a")], opts)
        .await
        .unwrap();
    assert_eq!(
        scan_ids(&location, Some("part = 'a'")).await,
        (5000..5005).collect::<Vec<_>>()
    );
    assert_eq!(scan_ids(&location, None).await.len(), 155);
    // Rows outside the predicate are refused and nothing is committed.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let v = s.version();
    let opts = WriteOptions {
        mode: WriteMode::ReplaceWhere(parse_predicate("part = 'a'").unwrap()),
        ..Default::default()
    };
    let err = write_batches(store.clone(), Some(s), vec![batch(1..2, "zzz")], opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("replaceWhere"), "{err}");
    assert_eq!(
        TableBuilder::new(&location).load().await.unwrap().version(),
        v
    );

    // Overwrite everything; time travel still sees the old rows.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let opts = WriteOptions {
        mode: WriteMode::Overwrite,
        ..Default::default()
    };
    let r = write_batches(store.clone(), Some(s), vec![batch(7..9, "z")], opts)
        .await
        .unwrap();
    assert!(r.files_removed > 0);
    assert_eq!(scan_ids(&location, None).await, vec![7, 8]);
    let old = TableBuilder::new(&location)
        .at_version(0)
        .load()
        .await
        .unwrap();
    assert_eq!(Scan::new(&old).count().await.unwrap(), 200);

    // The Python deltalake package reads the same rows.
    let text = silt_testkit::peer::run_peer_script(
        "import sys, pyarrow as pa\nfrom deltalake import DeltaTable\nfor v in (0, None):\n    t = pa.table(DeltaTable(sys.argv[1], version=v).to_pyarrow_table() if v is not None else DeltaTable(sys.argv[1]).to_pyarrow_table())\n    print(t.num_rows, sum(t.column('id').to_pylist()), sorted(set(t.column('part').to_pylist())))",
        &[&location],
    );
    let lines: Vec<&str> = text.lines().collect();
    let sum0: i64 = all.iter().sum();
    assert_eq!(
        lines[0],
        format!("200 {sum0} ['100%', 'a', 'b c', 'd/e:f']")
    );
    assert_eq!(lines[1], "2 15 ['z']");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    write_batches(
        store.clone(),
        None,
        vec![batch(0..3, "a")],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let s = || async { Some(TableBuilder::new(&location).load().await.unwrap()) };
    // Wrong type.
    let bad = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["x"])) as ArrayRef],
    )
    .unwrap();
    let err = write_batches(store.clone(), s().await, vec![bad], WriteOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"id\" has type Utf8"), "{err}");
    // Unknown column.
    let extra = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("nope", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            Arc::new(Int64Array::from(vec![1])),
        ],
    )
    .unwrap();
    let err = write_batches(
        store.clone(),
        s().await,
        vec![extra],
        WriteOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"nope\" is not in the table schema"),
        "{err}"
    );
    // NOT NULL column missing.
    let missing = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![1.0])) as ArrayRef],
    )
    .unwrap();
    let err = write_batches(
        store.clone(),
        s().await,
        vec![missing],
        WriteOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    assert_eq!(
        TableBuilder::new(&location).load().await.unwrap().version(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_schema_adds_columns() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    write_batches(
        store.clone(),
        None,
        vec![batch(0..3, "a")],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let wider = {
        let b = batch(3..5, "a");
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut cols = b.columns().to_vec();
        fields.push(Field::new("extra", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    };
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert!(
        write_batches(
            store.clone(),
            Some(s),
            vec![wider.clone()],
            WriteOptions::default()
        )
        .await
        .is_err()
    );
    let s = TableBuilder::new(&location).load().await.unwrap();
    let opts = WriteOptions {
        merge_schema: true,
        ..Default::default()
    };
    write_batches(store.clone(), Some(s), vec![wider], opts)
        .await
        .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert!(s.metadata().schema().field("extra").is_some());
    let batches = Scan::new(&s)
        .select(["id", "extra"])
        .collect()
        .await
        .unwrap();
    let mut rows: Vec<(i64, Option<String>)> = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let e = b.column(1).as_string::<i32>();
            rows.push((
                b.column(0).as_primitive::<Int64Type>().value(i),
                (!e.is_null(i)).then(|| e.value(i).to_string()),
            ));
        }
    }
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (0, None),
            (1, None),
            (2, None),
            (3, Some("x".into())),
            (4, Some("y".into()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_constraints_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        properties: [(
            "delta.constraints.small_ids".to_string(),
            "id < 100 OR part = 'big'".to_string(),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    write_batches(store.clone(), None, vec![batch(0..10, "a")], opts)
        .await
        .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert!(
        s.protocol()
            .has_feature(&silt_log::TableFeature::CheckConstraints)
    );
    // Rows that satisfy the constraint land; one violating row refuses the write.
    let s2 = TableBuilder::new(&location).load().await.unwrap();
    write_batches(
        store.clone(),
        Some(s2),
        vec![batch(500..502, "big")],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let s3 = TableBuilder::new(&location).load().await.unwrap();
    let err = write_batches(
        store.clone(),
        Some(s3),
        vec![batch(98..101, "a")],
        WriteOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("small_ids") && err.to_string().contains("1 rows"),
        "{err}"
    );
    assert_eq!(scan_ids(&location, None).await.len(), 12);
    // The log layer alone still refuses unchecked data writes to this table.
    let s4 = TableBuilder::new(&location).load().await.unwrap();
    let add = s4.files().to_vec()[0].clone();
    let mut fresh = add.clone();
    fresh.path = silt_log::path::FilePath::parse("other.parquet").unwrap();
    let err = s4
        .transaction(silt_log::Operation::append())
        .add_files([fresh])
        .commit()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHECK constraints"), "{err}");
}

/// Appends to column-mapped tables written by Spark (a temporary copy of
/// the public vectors): silt writes physical names (name mode) and field ids
/// (id mode), and both silt and deltalake read old and new rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_to_column_mapped_tables() {
    let src = silt_testkit::vectors_dir().join("delta-kernel-java/column-mapping-id");
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    silt_testkit::copy_dir(&src, &dst);
    let location = dst.to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(
        s.metadata().property("delta.columnMapping.mode"),
        Some("id")
    );
    let before = Scan::new(&s).count().await.unwrap();
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Int32,
            true,
        )])),
        vec![Arc::new(arrow_array::Int32Array::from(vec![1001, 1002])) as ArrayRef],
    )
    .unwrap();
    write_batches(store, Some(s), vec![b], WriteOptions::default())
        .await
        .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    let batches = Scan::new(&s).collect().await.unwrap();
    let mut values: Vec<i32> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<arrow_array::types::Int32Type>()
                .values()
                .to_vec()
        })
        .collect();
    values.sort();
    assert_eq!(values.len() as u64, before + 2);
    assert!(values.ends_with(&[1001, 1002]));
    // The file silt wrote uses the physical name and the field id.
    let new_file = s
        .files()
        .iter()
        .find(|f| f.path.as_str().starts_with("part-00001-") && f.path.as_str().contains("zstd"))
        .unwrap();
    let bytes = std::fs::read(dst.join(new_file.path.as_str())).unwrap();
    let meta = parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let field = &parquet::file::reader::FileReader::metadata(&meta)
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()[0];
    assert!(
        field.name().starts_with("col-"),
        "physical name: {}",
        field.name()
    );
    assert!(field.get_basic_info().has_id());
    // deltalake's pyarrow path returns NULLs for column-mapped tables (even
    // Spark's own); its DataFusion reader maps them.
    let text = silt_testkit::peer::run_peer_script(
        "import sys, pyarrow as pa\nfrom deltalake import DeltaTable, QueryBuilder\nr = QueryBuilder().register('t', DeltaTable(sys.argv[1])).execute('SELECT value FROM t')\nprint(sorted(pa.RecordBatchReader.from_stream(r).read_all().column('value').to_pylist()))",
        &[&location],
    );
    let theirs: Vec<i32> = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(theirs, values);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_group_pruning_keeps_results_exact() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        row_group_rows: 10,
        threads: 1,
        ..Default::default()
    };
    write_batches(store, None, vec![batch(0..100, "a")], opts)
        .await
        .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(s.files().len(), 1, "one file, ten row groups");
    for (pred, want) in [
        ("id >= 95", (95..100).collect::<Vec<_>>()),
        ("id = 42", vec![42]),
        ("id < 3 OR id > 97", vec![0, 1, 2, 98, 99]),
        ("value > 40.0 AND part = 'a'", (81..100).collect()),
        ("id > 1000", vec![]),
    ] {
        assert_eq!(scan_ids(&location, Some(pred)).await, want, "{pred}");
    }
}

/// Counts the store's whole-object reads and range reads of data files.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn silt_log::LogStore>,
    whole: std::sync::atomic::AtomicUsize,
    ranges: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl silt_log::LogStore for CountingStore {
    fn location(&self) -> &str {
        self.inner.location()
    }
    async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<silt_log::FileMeta>, silt_log::StorageError> {
        self.inner.list(dir, start_after).await
    }
    async fn read(&self, path: &str) -> Result<bytes::Bytes, silt_log::StorageError> {
        if path.ends_with(".parquet") {
            self.whole
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.read(path).await
    }
    async fn read_range(
        &self,
        path: &str,
        range: std::ops::Range<u64>,
    ) -> Result<bytes::Bytes, silt_log::StorageError> {
        self.ranges
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_range(path, range).await
    }
    async fn put_if_absent(
        &self,
        path: &str,
        data: bytes::Bytes,
    ) -> Result<(), silt_log::StorageError> {
        self.inner.put_if_absent(path, data).await
    }
    async fn list_recursive(
        &self,
        dir: &str,
    ) -> Result<Vec<silt_log::FileMeta>, silt_log::StorageError> {
        self.inner.list_recursive(dir).await
    }
    async fn put(&self, path: &str, data: bytes::Bytes) -> Result<(), silt_log::StorageError> {
        self.inner.put(path, data).await
    }
    async fn delete(&self, path: &str) -> Result<(), silt_log::StorageError> {
        self.inner.delete(path).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads_match_whole_reads_and_survive_a_wrong_size() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        row_group_rows: 10,
        threads: 1,
        ..Default::default()
    };
    write_batches(store, None, vec![batch(0..100, "a")], opts)
        .await
        .unwrap();
    let counting = Arc::new(CountingStore {
        inner: TableBuilder::new(&location).build_store().unwrap(),
        whole: Default::default(),
        ranges: Default::default(),
    });
    let s = silt_log::Snapshot::builder(counting.clone())
        .load()
        .await
        .unwrap();
    let ids = |batches: Vec<RecordBatch>| -> Vec<i64> {
        let mut v: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        v.sort();
        v
    };
    for pred in ["id >= 95", "id < 3 OR id > 97", "value > 40.0"] {
        let whole = Scan::new(&s)
            .select(["id", "value"])
            .filter(parse_predicate(pred).unwrap());
        let ranged = whole.clone().range_reads_from(0);
        let before = counting.whole.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            ids(ranged.collect().await.unwrap()),
            ids(whole.collect().await.unwrap()),
            "{pred}"
        );
        // One whole read (the default scan); the ranged scan fetched pieces.
        assert_eq!(
            counting.whole.load(std::sync::atomic::Ordering::Relaxed),
            before + 1
        );
    }
    assert!(counting.ranges.load(std::sync::atomic::Ordering::Relaxed) >= 3);
    // A log whose size for the file is wrong still reads (whole-object fallback).
    let mut files = s.files().to_vec();
    files[0].size += 1000;
    let wrong = Scan::of_files(&s, s.metadata().schema().clone(), files)
        .select(["id"])
        .range_reads_from(0);
    assert_eq!(
        ids(wrong.collect().await.unwrap()),
        (0..100).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_schema_widens_types_and_maps_new_columns() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let narrow = RecordBatch::try_from_iter([(
        "n",
        Arc::new(arrow_array::Int32Array::from(vec![1, 2])) as ArrayRef,
    )])
    .unwrap();
    let properties = [
        ("delta.columnMapping.mode", "name"),
        ("delta.enableTypeWidening", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    write_batches(
        store.clone(),
        None,
        vec![narrow],
        WriteOptions {
            properties,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let wide = RecordBatch::try_from_iter([
        (
            "n",
            Arc::new(Int64Array::from(vec![5_000_000_000i64])) as ArrayRef,
        ),
        ("extra", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
    ])
    .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    write_batches(
        store.clone(),
        Some(s),
        vec![wide],
        WriteOptions {
            merge_schema: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    let schema = &s.metadata().schema();
    let n = schema.field("n").unwrap();
    assert_eq!(n.data_type.simple_name(), "long");
    assert_eq!(
        n.metadata["delta.typeChanges"],
        serde_json::json!([{"fromType": "integer", "toType": "long"}])
    );
    let extra = schema.field("extra").unwrap();
    assert!(extra.physical_name().is_some_and(|p| p.starts_with("col-")));
    assert_eq!(extra.column_mapping_id(), Some(2));
    assert!(
        s.protocol()
            .has_feature(&silt_log::TableFeature::TypeWidening)
    );
    let mut got: Vec<(i64, Option<String>)> = Vec::new();
    for b in Scan::new(&s).collect().await.unwrap() {
        let e = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            got.push((
                b.column(0).as_primitive::<Int64Type>().value(i),
                (!e.is_null(i)).then(|| e.value(i).to_string()),
            ));
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![(1, None), (2, None), (5_000_000_000, Some("x".into()))]
    );
}

/// A Spark table with `variant` columns (top level, in arrays, structs and
/// maps): its rows, scanned by silt, append back unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_rows_round_trip_through_a_write() {
    let src = silt_testkit::vectors_dir().join("kernel/data/unshredded-variant");
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    silt_testkit::copy_dir(&src, &dst);
    let location = dst.to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    let before = Scan::new(&s).collect().await.unwrap();
    let n: usize = before.iter().map(RecordBatch::num_rows).sum();
    assert!(n > 0);
    write_batches(store, Some(s), before.clone(), WriteOptions::default())
        .await
        .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    let after = Scan::new(&s).collect().await.unwrap();
    assert_eq!(
        after.iter().map(RecordBatch::num_rows).sum::<usize>(),
        2 * n
    );
    // Every original row is there twice, byte for byte.
    let render = |batches: &[RecordBatch]| silt_testkit::text_rows(batches, &[]);
    let once = render(&before);
    let mut twice: Vec<Vec<String>> = once.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
    twice.sort();
    assert_eq!(render(&after), twice);
}

/// Decimal columns get min/max statistics, and scans skip files by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_statistics_skip_files() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let batch = |values: Vec<i128>| {
        let a = arrow_array::Decimal128Array::from(values)
            .with_precision_and_scale(12, 2)
            .unwrap();
        RecordBatch::try_from_iter([("price", Arc::new(a) as ArrayRef)]).unwrap()
    };
    write_batches(
        store.clone(),
        None,
        vec![batch(vec![100, 250])],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    write_batches(
        store,
        Some(s),
        vec![batch(vec![99_950, 123_456])],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let s = TableBuilder::new(&location).load().await.unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(s.files().to_vec()[0].stats.as_deref().unwrap()).unwrap();
    assert!(stats["minValues"]["price"].is_number(), "{stats}");
    let scan = Scan::new(&s).filter(parse_predicate("price > 500").unwrap());
    let plan = scan.plan().unwrap();
    assert_eq!((plan.files, plan.skipped), (1, 1));
    let rows: usize = scan
        .collect()
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_pruning_reads_only_matching_pages_and_keeps_results_exact() {
    // One file, one row group; `id` pages hold 20,480 rows, the long `note`
    // strings fill their 1 MiB pages after ~6,000, so the two columns' page
    // boundaries differ. `maybe` is null for ids 50,000..100,000.
    let n = 200_000i64;
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("maybe", DataType::Int64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    let note = |i: i64| format!("{i:06}-{}", "x".repeat(150));
    let maybe = |i: i64| (!(50_000..100_000).contains(&i)).then_some(i);
    let input = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
            Arc::new(StringArray::from_iter_values((0..n).map(note))),
            Arc::new(Int64Array::from_iter((0..n).map(maybe))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..n).map(|i| 1_700_000_000_000_000 + i),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        threads: 1,
        ..Default::default()
    };
    write_batches(store, None, vec![input], opts).await.unwrap();
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(snapshot.files().len(), 1);
    // Without a predicate the one row group is still decoded in pieces, one
    // per core, cut at `note` page starts: every row comes back once, in
    // file order.
    let in_order = ids_in_scan_order(Scan::new(&snapshot).select(["id"])).await;
    assert_eq!(in_order, (0..n).collect::<Vec<_>>());
    // parquet-rs checks its 20,000-row page limit after each 1,024-row
    // write batch, so an `id` page holds 20,480 rows.
    const PAGE: u64 = 20_480;
    type Rule = Box<dyn Fn(i64) -> bool>;
    let cases: Vec<(&str, Rule, u64)> = vec![
        ("id < 1000", Box::new(|i| i < 1000), PAGE),
        (
            "id < 1000 OR id >= 199000",
            Box::new(|i| !(1000..199_000).contains(&i)),
            2 * PAGE,
        ),
        (
            "note >= '150000' AND id < 160000",
            Box::new(|i| (150_000..160_000).contains(&i)),
            2 * PAGE,
        ),
        (
            "maybe IS NULL",
            Box::new(move |i| maybe(i).is_none()),
            3 * PAGE,
        ),
        (
            "maybe IS NOT NULL AND id >= 60000 AND id < 70000",
            Box::new(|_| false),
            PAGE,
        ),
        (
            "ts < '2023-11-14T22:13:20.001Z'",
            Box::new(|i| i < 1000),
            PAGE,
        ),
        // Not ruled out anywhere: everything is read.
        ("id >= 0", Box::new(|_| true), n as u64),
        (
            "maybe = 7 OR note < '000010'",
            Box::new(|i| i == 7 || i < 10),
            2 * PAGE,
        ),
    ];
    for (pred, rule, most) in cases {
        let scan = Scan::new(&snapshot)
            .select(["id"])
            .filter(parse_predicate(pred).unwrap());
        let ids = collect_ids(scan.clone()).await;
        let want: Vec<i64> = (0..n).filter(|i| rule(*i)).collect();
        assert_eq!(ids, want, "{pred}");
        assert!(
            scan.rows_decoded() <= most,
            "{pred}: decoded {} rows, expected at most {most}",
            scan.rows_decoded()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_row_groups_stay_within_their_budget() {
    // Five partitions, their batches interleaved: every partition's file
    // stays open through the write.
    let input: Vec<RecordBatch> = (0..20i64)
        .map(|i| batch(i * 1000..(i + 1) * 1000, &format!("p{}", i % 5)))
        .collect();
    let mut row_groups = Vec::new();
    for budget in [WriteOptions::default().open_row_groups_bytes, 1] {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("t").to_string_lossy().to_string();
        let store = TableBuilder::new(&location).build_store().unwrap();
        let opts = WriteOptions {
            partition_by: vec!["part".into()],
            threads: 1,
            open_row_groups_bytes: budget,
            ..Default::default()
        };
        write_batches(store, None, input.clone(), opts)
            .await
            .unwrap();
        assert_eq!(
            scan_ids(&location, None).await,
            (0..20_000).collect::<Vec<_>>()
        );
        let snapshot = TableBuilder::new(&location).load().await.unwrap();
        assert_eq!(snapshot.files().len(), 5);
        let groups: Vec<usize> = snapshot
            .files()
            .iter()
            .map(|f| footer(&dir.path().join("t"), &f).num_row_groups())
            .collect();
        row_groups.push(groups);
    }
    // Within the default budget each file is one row group; with a budget
    // of one byte each batch's rows are written out as they arrive.
    assert_eq!(row_groups[0], vec![1; 5]);
    assert_eq!(row_groups[1], vec![4; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_whose_put_fails_fails_the_write_and_commits_nothing() {
    // A failed put of a data file must surface, name the file, and leave no
    // commit: both for a file rolled at the target size mid-write (tiny
    // targets, many partitions) and for one finished at the end of input,
    // alone or among more files than land at once.
    for (parts, target) in [(8, 1usize), (3, 64 << 20), (20, 64 << 20)] {
        let store = Arc::new(silt_testkit::MemoryLogStore::default());
        store.inject_put_fault(silt_testkit::PutFault::FailBeforeWrite);
        let input: Vec<RecordBatch> = (0..24i64)
            .map(|i| batch(i * 100..(i + 1) * 100, &format!("p{}", i % parts)))
            .collect();
        let opts = WriteOptions {
            partition_by: vec!["part".into()],
            threads: 1,
            target_file_size: target,
            ..Default::default()
        };
        let err = write_batches(store.clone(), None, input, opts)
            .await
            .expect_err("the failed put must fail the write");
        match &err {
            silt_parquet::ParquetError::Write { file, .. } => {
                assert!(file.ends_with(".parquet"), "{err}")
            }
            other => panic!("expected a write error, got {other}"),
        }
        assert!(
            store.paths().iter().all(|p| !p.starts_with("_delta_log/")),
            "{:?}",
            store.paths()
        );
    }
}

/// The Parquet footer of data file `add` of the local table at `table_dir`.
fn footer(
    table_dir: &std::path::Path,
    add: &silt_log::actions::Add,
) -> parquet::file::metadata::ParquetMetaData {
    let path = table_dir.join(add.path.relative_decoded().unwrap());
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(path).unwrap())
            .unwrap();
    parquet::file::reader::FileReader::metadata(&reader).clone()
}

/// For each column of the table's only data file, whether its column chunks
/// carry a dictionary page.
async fn dictionary_pages(dir: &std::path::Path, location: &str) -> Vec<(String, bool)> {
    let snapshot = TableBuilder::new(location).load().await.unwrap();
    assert_eq!(snapshot.files().len(), 1);
    footer(dir, &snapshot.files().to_vec()[0])
        .row_group(0)
        .columns()
        .iter()
        .map(|c| {
            (
                c.column_path().string(),
                c.dictionary_page_offset().is_some(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_unique_columns_are_written_without_a_dictionary() {
    let expected_ids = |n: i64| (0..n).collect::<Vec<_>>();
    // A first batch large enough to judge: id, value and ts are unique and
    // would overflow a row group's dictionary, part has one value.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        threads: 1,
        ..Default::default()
    };
    write_batches(store, None, vec![batch(0..50_000, "p")], opts.clone())
        .await
        .unwrap();
    assert_eq!(scan_ids(&location, None).await, expected_ids(50_000));
    assert_eq!(
        dictionary_pages(&dir.path().join("t"), &location).await,
        vec![
            ("id".to_string(), false),
            ("part".to_string(), true),
            ("value".to_string(), false),
            ("ts".to_string(), false),
        ]
    );
    // A first batch too small to judge leaves every dictionary on.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    write_batches(
        store,
        None,
        vec![batch(0..100, "p"), batch(100..50_000, "p")],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(scan_ids(&location, None).await, expected_ids(50_000));
    assert!(
        dictionary_pages(&dir.path().join("t"), &location)
            .await
            .iter()
            .all(|(_, dictionary)| *dictionary)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_goes_quiet_has_its_row_group_written_out() {
    // Rows of `part`, each with 64 hex characters of noise so a partition's
    // unfinished row group grows past the few MiB worth writing out early.
    fn rows(ids: std::ops::Range<i64>, part: &str) -> RecordBatch {
        let n = ids.clone().count();
        let text = StringArray::from_iter_values(ids.clone().map(|i| {
            let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            (0..4)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{x:016x}")
                })
                .collect::<String>()
        }));
        RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(ids)) as ArrayRef,
            ),
            ("part", Arc::new(StringArray::from(vec![part; n]))),
            ("text", Arc::new(text)),
        ])
        .unwrap()
    }
    const BATCH: i64 = 20_000;
    // `a` for 10 batches, then `b` for `quiet` batches, then `a` once more.
    let row_groups = |quiet: i64| async move {
        let mut input = Vec::new();
        let mut next = 0i64;
        for part in std::iter::repeat_n("a", 10)
            .chain(std::iter::repeat_n("b", quiet as usize))
            .chain(["a"])
        {
            input.push(rows(next..next + BATCH, part));
            next += BATCH;
        }
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("t").to_string_lossy().to_string();
        let store = TableBuilder::new(&location).build_store().unwrap();
        let opts = WriteOptions {
            partition_by: vec!["part".into()],
            threads: 1,
            ..Default::default()
        };
        write_batches(store, None, input, opts).await.unwrap();
        assert_eq!(
            scan_ids(&location, None).await,
            (0..next).collect::<Vec<_>>()
        );
        let snapshot = TableBuilder::new(&location).load().await.unwrap();
        let mut groups: Vec<(String, usize)> = snapshot
            .files()
            .iter()
            .map(|f| {
                (
                    f.partition_values["part"].clone().unwrap(),
                    footer(&dir.path().join("t"), &f).num_row_groups(),
                )
            })
            .collect();
        groups.sort();
        groups
    };
    // Quiet for fewer rows than its row group holds: `a` is still one row
    // group. Quiet for more: its row group was written out, and its last
    // rows start another.
    assert_eq!(row_groups(5).await, vec![("a".into(), 1), ("b".into(), 1)]);
    assert_eq!(row_groups(12).await, vec![("a".into(), 2), ("b".into(), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_partitions_end_together_and_every_file_lands() {
    // More partitions than files land at once at the end of a write: every
    // file is committed, whole, with its rows.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let input: Vec<RecordBatch> = (0..60i64)
        .map(|i| batch(i * 100..(i + 1) * 100, &format!("p{}", i % 30)))
        .collect();
    let opts = WriteOptions {
        partition_by: vec!["part".into()],
        threads: 1,
        ..Default::default()
    };
    write_batches(store, None, input, opts).await.unwrap();
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(snapshot.files().len(), 30);
    for f in snapshot.files() {
        let path = dir
            .path()
            .join("t")
            .join(f.path.relative_decoded().unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), f.size as u64);
    }
    assert_eq!(
        scan_ids(&location, None).await,
        (0..6_000).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_statistics_from_the_footer_match_collected_ones() {
    use arrow_array::StructArray;
    // Strings of 0–70 characters from 1- to 4-byte characters and NUL,
    // some null, across several row groups; a column of nulls only; a
    // string inside a struct.
    let alphabet = ['a', 'b', 'z', 'é', '€', '𝄞', '\0', '~'];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut strings = |n: usize| -> StringArray {
        (0..n)
            .map(|_| {
                (next() % 10 != 0).then(|| {
                    let len = (next() % 71) as usize;
                    (0..len)
                        .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                        .collect::<String>()
                })
            })
            .collect()
    };
    let batches: Vec<RecordBatch> = (0..3i64)
        .map(|b| {
            let inner: ArrayRef = Arc::new(strings(1000));
            let nested = StructArray::from(vec![(
                Arc::new(Field::new("t", DataType::Utf8, true)),
                inner,
            )]);
            RecordBatch::try_from_iter(vec![
                (
                    "id",
                    Arc::new(Int64Array::from_iter_values(b * 1000..(b + 1) * 1000)) as ArrayRef,
                ),
                ("s", Arc::new(strings(1000))),
                (
                    "none",
                    Arc::new(StringArray::from(vec![None::<&str>; 1000])),
                ),
                ("st", Arc::new(nested)),
            ])
            .unwrap()
        })
        .collect();
    let mut expected = silt_parquet::stats::StatsCollector::default();
    for b in &batches {
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        expected.add(&names, b.columns());
    }
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        threads: 1,
        row_group_rows: 700,
        ..Default::default()
    };
    write_batches(store, None, batches, opts).await.unwrap();
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(snapshot.files().len(), 1);
    let got: serde_json::Value =
        serde_json::from_str(snapshot.files().to_vec()[0].stats.as_deref().unwrap()).unwrap();
    let want: serde_json::Value = serde_json::from_str(&expected.to_json()).unwrap();
    assert!(got["minValues"]["s"].is_string(), "{got}");
    assert!(got["minValues"]["st"]["t"].is_string(), "{got}");
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoders_share_one_file_per_partition() {
    // Batches of three partitions, interleaved and dealt to four encoders:
    // each partition still gets one file, holding row groups from several
    // encoders, with statistics over all of its rows.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let input: Vec<RecordBatch> = (0..48i64)
        .map(|i| batch(i * 50..(i + 1) * 50, &format!("p{}", i % 3)))
        .collect();
    let opts = WriteOptions {
        partition_by: vec!["part".into()],
        threads: 4,
        row_group_rows: 100,
        ..Default::default()
    };
    let r = write_batches(store, None, input, opts).await.unwrap();
    assert_eq!(r.files_added, 3);
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    for f in snapshot.files() {
        let part = f.partition_values["part"].as_deref().unwrap();
        let p: i64 = part[1..].parse().unwrap();
        let ids: Vec<i64> = (0..48i64)
            .filter(|i| i % 3 == p)
            .flat_map(|i| i * 50..(i + 1) * 50)
            .collect();
        let meta = footer(&dir.path().join("t"), &f);
        // 16 batches of 50 rows in row groups of at most 100 rows each,
        // from up to four encoders.
        assert!(meta.num_row_groups() >= 8, "{}", meta.num_row_groups());
        assert_eq!(meta.file_metadata().num_rows(), 800);
        let stats: serde_json::Value = serde_json::from_str(f.stats.as_deref().unwrap()).unwrap();
        assert_eq!(stats["numRecords"], 800);
        assert_eq!(stats["minValues"]["id"], ids[0]);
        assert_eq!(stats["maxValues"]["id"], *ids.last().unwrap());
        assert_eq!(stats["nullCount"]["value"], 0);
        let path = dir
            .path()
            .join("t")
            .join(f.path.relative_decoded().unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), f.size as u64);
        let s = TableBuilder::new(&location).load().await.unwrap();
        let scanned = collect_ids(
            Scan::new(&s)
                .select(["id"])
                .filter(parse_predicate(&format!("part = '{part}'")).unwrap()),
        )
        .await;
        assert_eq!(scanned, ids);
    }
    assert_eq!(
        scan_ids(&location, None).await,
        (0..2_400).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_scans_decode_row_groups_side_by_side_in_order() {
    // A single file of 20 row groups: a scan of it alone splits the row
    // groups among the cores, and returns every row once, in file order,
    // with and without a predicate that prunes row groups.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let opts = WriteOptions {
        threads: 1,
        row_group_rows: 10,
        ..Default::default()
    };
    let input: Vec<RecordBatch> = (0..4i64)
        .map(|i| batch(i * 50..(i + 1) * 50, "a"))
        .collect();
    write_batches(store, None, input, opts).await.unwrap();
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(snapshot.files().len(), 1);
    assert_eq!(
        footer(&dir.path().join("t"), &snapshot.files().to_vec()[0]).num_row_groups(),
        20
    );
    let in_order = |batches: Vec<RecordBatch>| -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect()
    };
    let all = Scan::new(&snapshot)
        .select(["id", "value"])
        .collect()
        .await
        .unwrap();
    assert_eq!(in_order(all), (0..200).collect::<Vec<_>>());
    let some = Scan::new(&snapshot)
        .select(["id"])
        .filter(parse_predicate("id >= 55 AND id < 121").unwrap())
        .collect()
        .await
        .unwrap();
    assert_eq!(in_order(some), (55..121).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_files_roll_before_a_row_group_would_pass_the_target() {
    // Two encoders appending row groups to one partition's file: a row
    // group that would take a file with rows past the target starts the
    // next file, so only a file of a single row group can be larger than
    // the target.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let target = 16 << 10;
    let opts = WriteOptions {
        partition_by: vec!["part".into()],
        threads: 2,
        row_group_rows: 200,
        target_file_size: target,
        ..Default::default()
    };
    let input: Vec<RecordBatch> = (0..60i64)
        .map(|i| batch(i * 100..(i + 1) * 100, "a"))
        .collect();
    let r = write_batches(store, None, input, opts).await.unwrap();
    assert!(r.files_added >= 3, "{}", r.files_added);
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    let mut several = 0;
    for f in snapshot.files() {
        let meta = footer(&dir.path().join("t"), &f);
        if meta.num_row_groups() > 1 {
            several += 1;
            // The magic number and the row groups, before the footer.
            let body: i64 = 4 + meta
                .row_groups()
                .iter()
                .map(|rg| rg.compressed_size())
                .sum::<i64>();
            assert!(body <= target as i64, "{body} bytes of row groups");
        }
    }
    assert!(several > 0, "some files hold several row groups");
    assert_eq!(
        scan_ids(&location, None).await,
        (0..6_000).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_partitions_each_encoder_writes_its_own_file() {
    // Unpartitioned files roll at the target anyway; one per encoder keeps
    // the encoders' output in separate streams.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let input: Vec<RecordBatch> = (0..20i64)
        .map(|i| batch(i * 100..(i + 1) * 100, "a"))
        .collect();
    let opts = WriteOptions {
        threads: 2,
        ..Default::default()
    };
    let r = write_batches(store, None, input, opts).await.unwrap();
    assert_eq!(r.files_added, 2);
    assert_eq!(
        scan_ids(&location, None).await,
        (0..2_000).collect::<Vec<_>>()
    );
}

/// Columns of every shape silt's own dictionary writer meets: strings with
/// few values, nulls and non-ASCII text, bounds longer than the footer
/// keeps, a column whose dictionary outgrows its page so the rest of each
/// chunk is written plain, and doubles with NaN, both zeros and nulls.
fn string_rows(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("long", DataType::Utf8, true),
        Field::new("pair", DataType::Utf8, false),
        Field::new("reading", DataType::Float64, true),
    ]));
    let tag = |i: i64| match i % 11 {
        0 => None,
        k => Some(["ok", "wärm", "кот", "🙂", "z"][(k % 5) as usize].to_string()),
    };
    let long = |i: i64| (i % 3 != 0).then(|| format!("{}{}", "é".repeat(80), i % 4));
    // Each value twice in a row: too repetitive to be written plain from
    // the start, too many distinct values for one dictionary page.
    let pair = |i: i64| format!("pair-{:024}", i / 2);
    let reading = |i: i64| match (i % 13, i % 17) {
        (_, 0) => None,
        (0, _) => Some(f64::NAN),
        (1, _) => Some(-0.0),
        _ => Some((i % 50) as f64 / 4.0 - 3.0),
    };
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())) as ArrayRef,
            Arc::new(StringArray::from_iter(ids.clone().map(tag))),
            Arc::new(StringArray::from_iter(ids.clone().map(long))),
            Arc::new(StringArray::from_iter_values(ids.clone().map(pair))),
            Arc::new(Float64Array::from_iter(ids.map(reading))),
        ],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionary_columns_read_back_alike_in_silt_pyarrow_and_deltalake() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let rows = 200_000;
    let input: Vec<RecordBatch> = (0..rows)
        .step_by(10_000)
        .map(|s| string_rows(s..s + 10_000))
        .collect();
    write_batches(store, None, input.clone(), WriteOptions::default())
        .await
        .unwrap();

    // silt reads every value back.
    let s = TableBuilder::new(&location).load().await.unwrap();
    let mut got = Scan::new(&s).collect().await.unwrap();
    got.sort_by_key(|b| b.column(0).as_primitive::<Int64Type>().value(0));
    let want = arrow_select::concat::concat_batches(&input[0].schema(), &input).unwrap();
    let got = arrow_select::concat::concat_batches(&got[0].schema(), &got).unwrap();
    let sorted = arrow_select::take::take_record_batch(
        &got,
        &arrow_ord::sort::sort_to_indices(got.column(0), None, None).unwrap(),
    )
    .unwrap();
    // (NaN != NaN: compared as the same data, bit for bit.)
    for (g, w) in sorted.columns().iter().zip(want.columns()) {
        assert_eq!(g.to_data(), w.to_data());
    }

    // The `pair` chunks hold both dictionary and plain pages.
    let footer = footer(&dir.path().join("t"), &s.files().to_vec()[0]);
    let pair = footer.row_group(0).column(3);
    assert!(pair.dictionary_page_offset().is_some());
    assert!(
        pair.encodings()
            .any(|e| e == parquet::basic::Encoding::PLAIN),
        "{:?}",
        pair.encodings().collect::<Vec<_>>()
    );

    // pyarrow reads each data file, its statistics bound its values, and
    // deltalake reads the table; both agree with the input.
    let text = silt_testkit::peer::run_peer_script(
        r#"
import sys, glob, struct, pyarrow as pa, pyarrow.parquet as pq
from deltalake import DeltaTable
files = glob.glob(sys.argv[1] + "/**/*.parquet", recursive=True)
parts = []
for f in files:
    pf = pq.ParquetFile(f)
    t = pf.read()
    for g in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(g)
        part = t.slice(sum(pf.metadata.row_group(k).num_rows for k in range(g)), rg.num_rows)
        for c in range(1, rg.num_columns):
            st = rg.column(c).statistics
            vals = [v for v in part.column(c).to_pylist() if v is not None]
            assert st.null_count == rg.num_rows - len(vals), (f, c)
            vals = [v for v in vals if v == v]
            if vals:
                assert st.min <= min(vals) and max(vals) <= st.max, (f, c, st.min, min(vals))
    parts.append(t)
a = pa.concat_tables(parts).sort_by("id")
b = DeltaTable(sys.argv[1]).to_pyarrow_table().sort_by("id")
b = b.select(a.column_names)
assert a.drop_columns(["reading"]).equals(b.drop_columns(["reading"]))
bits = lambda t: [None if v is None else struct.pack("<d", v) for v in t.column("reading").to_pylist()]
assert bits(a) == bits(b)
r = a.column("reading").to_pylist()
print("reading", a.column("reading").null_count, sum(1 for v in r if v is not None and v != v), sum(v for v in r if v is not None and v == v))
for name in ("tag", "long", "pair"):
    col = a.column(name).to_pylist()
    print(name, a.column(name).null_count, len(set(col)), col[0], col[7777], col[-1])
"#,
        &[&location],
    );
    let r = want
        .column(4)
        .as_primitive::<arrow_array::types::Float64Type>();
    let mut expected = format!(
        "reading {} {} {}\n",
        r.null_count(),
        r.iter().flatten().filter(|v| v.is_nan()).count(),
        r.iter().flatten().filter(|v| !v.is_nan()).sum::<f64>()
    );
    for (c, name) in [(1, "tag"), (2, "long"), (3, "pair")] {
        let col = want.column(c).as_string::<i32>();
        let distinct: std::collections::HashSet<Option<&str>> = col.iter().collect();
        let show = |i: usize| {
            if col.is_valid(i) {
                col.value(i)
            } else {
                "None"
            }
            .to_string()
        };
        expected += &format!(
            "{name} {} {} {} {} {}\n",
            col.null_count(),
            distinct.len(),
            show(0),
            show(7777),
            show(col.len() - 1)
        );
    }
    assert_eq!(text, expected);
}

fn parquet_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet")
                && !p.to_string_lossy().contains("_delta_log")
            {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_a_snapshot_return_the_new_table() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let partitioned = || WriteOptions {
        partition_by: vec!["part".into()],
        ..WriteOptions::default()
    };
    let created = silt_parquet::create_table(store.clone(), vec![batch(0..10, "a")], partitioned())
        .await
        .unwrap();
    assert_eq!(created.snapshot.version(), 0);
    assert_eq!(created.snapshot.metadata().partition_columns, vec!["part"]);
    // Creating again is refused.
    assert!(
        silt_parquet::create_table(store, vec![batch(0..1, "a")], partitioned())
            .await
            .is_err()
    );
    let appended = silt_parquet::append(&created.snapshot, vec![batch(10..15, "b")], partitioned())
        .await
        .unwrap();
    assert_eq!(appended.snapshot.version(), 1);
    assert_eq!(scan_ids(&location, None).await.len(), 15);

    // Partitioning that disagrees with the table is refused before anything
    // is written.
    let files = parquet_files(dir.path());
    let err = silt_parquet::append(
        &appended.snapshot,
        vec![batch(15..16, "c")],
        WriteOptions {
            partition_by: vec!["id".into()],
            ..WriteOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("partitioned by"), "{err}");
    assert_eq!(parquet_files(dir.path()), files);

    // A repeated application transaction encodes nothing.
    let job = || WriteOptions {
        app_transaction: Some(("ingest".into(), 7)),
        ..WriteOptions::default()
    };
    let first = silt_parquet::append(&appended.snapshot, vec![batch(20..25, "a")], job())
        .await
        .unwrap();
    let files = parquet_files(dir.path());
    let again = silt_parquet::append(&first.snapshot, vec![batch(20..25, "a")], job())
        .await
        .unwrap();
    assert!(
        matches!(
            again.result.outcome,
            silt_log::CommitOutcome::AlreadyApplied { .. }
        ),
        "{:?}",
        again.result.outcome
    );
    assert_eq!(again.snapshot.version(), first.snapshot.version());
    assert_eq!(parquet_files(dir.path()), files, "no data file written");

    let done = silt_parquet::overwrite(
        &first.snapshot,
        vec![batch(0..3, "a")],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(done.snapshot.version(), first.snapshot.version() + 1);
    assert_eq!(scan_ids(&location, None).await, vec![0, 1, 2]);
    // A second overwrite planned on the same, now stale, snapshot removes
    // files the first already removed: a typed, retryable conflict.
    let err = silt_parquet::overwrite(
        &first.snapshot,
        vec![batch(0..1, "a")],
        WriteOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(&err, silt_parquet::ParquetError::Log(e) if e.conflict().is_some()),
        "{err}"
    );
    assert_eq!(scan_ids(&location, None).await, vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_alter_is_typed_and_not_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    let created =
        silt_parquet::create_table(store, vec![batch(0..3, "a")], WriteOptions::default())
            .await
            .unwrap();
    // Renaming needs column mapping, which this table does not have.
    let err = silt_parquet::alter_table(
        &created.snapshot,
        &silt_log::alter::AlterTable::RenameColumn {
            path: vec!["value".into()],
            to: "v".into(),
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            silt_parquet::ParquetError::AlterRefused {
                source: silt_log::alter::AlterRefused::RenameNeedsColumnMapping { column },
                ..
            } if column == "value"
        ) && err.to_string().contains("column mapping"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

/// Data files are encoded by parquet-rs's column writers, so their footers
/// carry what parquet-rs writes: size statistics for strings and level
/// histograms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_carry_parquet_rs_size_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().display().to_string();
    let store = TableBuilder::new(&location).build_store().unwrap();
    write_batches(
        store,
        None,
        vec![batch(0..500, "x")],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        scan_ids(&location, Some("part = 'x'")).await,
        (0..500).collect::<Vec<_>>()
    );
    let snapshot = TableBuilder::new(&location).load().await.unwrap();
    let meta = footer(dir.path(), &snapshot.files().to_vec()[0]);
    let part = meta
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "part")
        .unwrap();
    assert_eq!(part.unencoded_byte_array_data_bytes(), Some(500));
    let levels = part.definition_level_histogram().unwrap();
    assert_eq!(levels.values().iter().sum::<i64>(), 500);
}
