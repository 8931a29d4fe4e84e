//! SQL over silt tables through DataFusion: queries, INSERT, CREATE TABLE
//! AS SELECT, DELETE, UPDATE, MERGE (every clause kind, duplicate matches,
//! NULL keys), RESTORE, time travel, change data, conflicts with concurrent
//! writers, and the Python `deltalake` package reading what silt wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::physical_plan::collect;
use silt_log::expr::parse_predicate;
use silt_parquet::{WriteOptions, delete_where, write_batches};
use silt_sql::SiltSession;
use silt_store::TableBuilder;
use silt_testkit::peer::run_peer_script;

mod common;
use common::{affected, lines, rows, text};

fn batch(ids: &[Option<i64>], vals: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(vals.to_vec())),
        ],
    )
    .unwrap()
}

/// A table of `(id, v)` written by silt-parquet, one file per batch.
async fn table(props: &[(&str, &str)], batches: Vec<RecordBatch>) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    let properties: HashMap<String, String> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut first = true;
    for b in batches {
        let store = TableBuilder::new(&location).build_store().unwrap();
        let snapshot = if first {
            None
        } else {
            Some(TableBuilder::new(&location).load().await.unwrap())
        };
        let opts = WriteOptions {
            properties: properties.clone(),
            ..Default::default()
        };
        write_batches(store, snapshot, vec![b], opts).await.unwrap();
        first = false;
    }
    (dir, location)
}

/// The table's `(id, v)` rows as `deltalake` reads them, sorted.
fn deltalake_rows(location: &str) -> Vec<String> {
    let out = run_peer_script(
        "import sys, json, pyarrow as pa\nfrom deltalake import DeltaTable, QueryBuilder\nr = QueryBuilder().register('t', DeltaTable(sys.argv[1])).execute('SELECT id, v FROM t ORDER BY id NULLS LAST, v')\nt = pa.RecordBatchReader.from_stream(r).read_all()\nprint(json.dumps([f\"{'' if i is None else i},{'' if v is None else v}\" for i, v in zip(t.column('id').to_pylist(), t.column('v').to_pylist())]))",
        &[location],
    );
    serde_json::from_str(out.trim()).unwrap()
}

fn last_commit_info(location: &str) -> serde_json::Value {
    let log = std::path::Path::new(location).join("_delta_log");
    let mut files: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.last().unwrap()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|v| v.get("commitInfo").cloned())
        .unwrap()
}

fn metric(info: &serde_json::Value, key: &str) -> String {
    info["operationMetrics"][key]
        .as_str()
        .unwrap_or("missing")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_insert_create_as_select_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t").to_string_lossy().to_string();
    let s = SiltSession::new();
    let created = rows(
        &s,
        &format!(
            "CREATE TABLE delta.'{p}' AS SELECT * FROM (VALUES (1, 'a', 10.0), (2, 'b', 20.0), (3, 'a', 30.5)) AS v(id, grp, val)"
        ),
    )
    .await;
    assert_eq!(created, vec!["3"]);
    assert_eq!(
        rows(
            &s,
            &format!("SELECT grp, sum(val) FROM delta.'{p}' GROUP BY grp ORDER BY grp")
        )
        .await,
        vec!["a,40.5", "b,20.0"]
    );
    assert_eq!(
        rows(
            &s,
            &format!("INSERT INTO delta.'{p}' VALUES (4, 'c', 40.0), (5, NULL, 1.0)")
        )
        .await,
        vec!["2"]
    );
    assert_eq!(
        rows(&s, &format!("SELECT count(*) FROM delta.'{p}'")).await,
        vec!["5"]
    );
    assert_eq!(
        rows(&s, &format!("SELECT count(*) FROM delta.`{p}@v0`")).await,
        vec!["3"]
    );
    assert_eq!(
        rows(
            &s,
            &format!("SELECT id FROM delta.'{p}' WHERE grp IS NULL OR id > 3 ORDER BY id")
        )
        .await,
        vec!["4", "5"]
    );
    // A registered name sees the same table, and later writes.
    s.register("t", &p).await.unwrap();
    assert_eq!(rows(&s, "SELECT max(id) FROM t").await, vec!["5"]);
    s.run("INSERT INTO t SELECT id + 10, grp, val FROM t WHERE id < 3")
        .await
        .unwrap();
    assert_eq!(
        rows(&s, "SELECT count(*), max(id) FROM t").await,
        vec!["7,12"]
    );
    assert_eq!(
        rows(&s, &format!("SELECT count(*) FROM delta.'{p}'")).await,
        vec!["7"]
    );
    // Joins across two names of the same table at different versions.
    assert_eq!(
        rows(
            &s,
            &format!("SELECT count(*) FROM t JOIN delta.'{p}@v1' AS old ON t.id = old.id")
        )
        .await,
        vec!["5"]
    );
    // Time travel is read-only; creating over an existing table is refused.
    let err = s
        .run(&format!("INSERT INTO delta.'{p}@v0' VALUES (9, 'z', 0.0)"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("time travel"), "{err}");
    let err = s
        .run(&format!("CREATE TABLE delta.'{p}' AS SELECT 1 AS x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // deltalake reads what SQL wrote.
    let out = run_peer_script(
        "import sys\nfrom deltalake import DeltaTable\nprint(DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows)",
        &[&p],
    );
    assert_eq!(out.trim(), "7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_prune_files_and_partitions_are_exact() {
    let batches: Vec<RecordBatch> = (0..5)
        .map(|f| {
            let ids: Vec<Option<i64>> = (f * 10..f * 10 + 10).map(Some).collect();
            batch(&ids, &["x"; 10])
        })
        .collect();
    let (_d, p) = table(&[], batches).await;
    let s = SiltSession::new();
    s.register("t", &p).await.unwrap();
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE id >= 43").await,
        vec!["7"]
    );
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE id BETWEEN 5 AND 14").await,
        vec!["10"]
    );
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE id IN (1, 22, 49, 77)").await,
        vec!["3"]
    );
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE id + 1 = 50").await,
        vec!["1"]
    );
    // The plan reads only the files whose statistics allow a match: the
    // scan reports one partition per file group, and id >= 43 leaves one.
    let df = s.sql("SELECT id FROM t WHERE id >= 43").await.unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(shown.contains("partition_sizes=1"), "{shown}");
    let out = collect(plan, s.context().task_ctx()).await.unwrap();
    assert_eq!(out.iter().map(RecordBatch::num_rows).sum::<usize>(), 7);
    // LIMIT without ORDER BY stops early and still returns the right count.
    assert_eq!(
        rows(&s, "SELECT count(*) FROM (SELECT id FROM t LIMIT 12)").await,
        vec!["12"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_update_with_and_without_deletion_vectors() {
    for dv in [false, true] {
        let props: &[(&str, &str)] = if dv {
            &[("delta.enableDeletionVectors", "true")]
        } else {
            &[]
        };
        let ids: Vec<Option<i64>> = (0..50).map(Some).collect();
        let vals: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
        let vals: Vec<&str> = vals.iter().map(String::as_str).collect();
        let (_d, p) = table(
            props,
            vec![
                batch(&ids[..25], &vals[..25]),
                batch(&ids[25..], &vals[25..]),
            ],
        )
        .await;
        let s = SiltSession::new();
        s.register("t", &p).await.unwrap();
        // A predicate silt cannot translate (arithmetic) runs in DataFusion.
        assert_eq!(
            affected(&s, "DELETE FROM t WHERE id % 10 = 0").await,
            vec!["5"],
            "dv={dv}"
        );
        assert_eq!(metric(&last_commit_info(&p), "numTargetRowsDeleted"), "5");
        assert_eq!(
            affected(&s, "UPDATE t SET v = upper(v), id = id + 1000 WHERE id < 5").await,
            vec!["4"]
        );
        let info = last_commit_info(&p);
        assert_eq!(info["operation"], "UPDATE");
        assert_eq!(metric(&info, "numTargetRowsUpdated"), "4");
        assert_eq!(
            rows(&s, "SELECT count(*), min(id), max(id) FROM t").await,
            vec!["45,5,1004"]
        );
        assert_eq!(
            rows(&s, "SELECT v FROM t WHERE id = 1003").await,
            vec!["V3"]
        );
        let snapshot = TableBuilder::new(&p).load().await.unwrap();
        let with_dv = snapshot
            .files()
            .iter()
            .filter(|f| f.deletion_vector.is_some())
            .count();
        if dv {
            assert!(with_dv > 0, "deletion vectors expected");
            assert_eq!(metric(&info, "numCopiedRows"), "0");
        } else {
            assert_eq!(with_dv, 0);
        }
        let mut expected: Vec<String> = (0..50)
            .filter(|i| i % 10 != 0)
            .map(|i| {
                if i < 5 {
                    format!("{},V{i}", i + 1000)
                } else {
                    format!("{i},v{i}")
                }
            })
            .collect();
        expected.sort_by_key(|r| r.split(',').next().unwrap().parse::<i64>().unwrap());
        assert_eq!(deltalake_rows(&p), expected, "dv={dv}");
        // DELETE without WHERE empties the table.
        assert_eq!(affected(&s, "DELETE FROM t").await, vec!["45"]);
        assert_eq!(rows(&s, "SELECT count(*) FROM t").await, vec!["0"]);
    }
}

async fn merge_case(props: &[(&str, &str)], merge: &str) -> Result<Vec<String>, String> {
    let (_d, p) = table(
        props,
        vec![
            batch(&[Some(1), Some(2), Some(3)], &["t1", "t2", "t3"]),
            batch(&[Some(4), Some(5), None], &["t4", "t5", "tnull"]),
        ],
    )
    .await;
    let s = SiltSession::new();
    s.register("target", &p).await.unwrap();
    let src = s
        .context()
        .read_batch(batch(
            &[Some(3), Some(4), Some(6), None],
            &["s3", "s4", "s6", "snull"],
        ))
        .unwrap();
    s.context()
        .register_table("source", src.into_view())
        .unwrap();
    s.run(merge).await.map_err(|e| e.to_string())?;
    let got = rows(&s, "SELECT id, v FROM target ORDER BY id NULLS LAST, v").await;
    let peer: Vec<String> = deltalake_rows(&p);
    assert_eq!(got, peer, "{merge}");
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_every_clause_kind() {
    for props in [&[][..], &[("delta.enableDeletionVectors", "true")][..]] {
        // Upsert; the NULL-keyed source row matches nothing and is inserted,
        // the NULL-keyed target row is untouched.
        let got = merge_case(
            props,
            "MERGE INTO target t USING source s ON t.id = s.id \
             WHEN MATCHED THEN UPDATE SET v = s.v \
             WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            [
                "1,t1", "2,t2", "3,s3", "4,s4", "5,t5", "6,s6", ",snull", ",tnull"
            ]
        );
        // Conditional clauses in order: the first that holds wins.
        let got = merge_case(
            props,
            "MERGE INTO target t USING source s ON t.id = s.id \
             WHEN MATCHED AND s.id = 3 THEN DELETE \
             WHEN MATCHED THEN UPDATE SET v = concat(t.v, '+', s.v) \
             WHEN NOT MATCHED AND s.id IS NOT NULL THEN INSERT VALUES (s.id, 'new')",
        )
        .await
        .unwrap();
        assert_eq!(got, ["1,t1", "2,t2", "4,t4+s4", "5,t5", "6,new", ",tnull"]);
        // NOT MATCHED BY SOURCE: target rows without a source row.
        let got = merge_case(
            props,
            "MERGE INTO target t USING source s ON t.id = s.id \
             WHEN NOT MATCHED BY SOURCE AND t.id < 2 THEN DELETE \
             WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = 'orphan'",
        )
        .await
        .unwrap();
        assert_eq!(got, ["2,orphan", "3,t3", "4,t4", "5,orphan", ",orphan"]);
        // Insert-only and delete-only merges.
        let got = merge_case(props, "MERGE INTO target USING source ON target.id = source.id WHEN NOT MATCHED THEN INSERT (id) VALUES (source.id)")
            .await
            .unwrap();
        assert_eq!(
            got,
            ["1,t1", "2,t2", "3,t3", "4,t4", "5,t5", "6,", ",tnull", ","]
        );
        let got = merge_case(props, "MERGE INTO target t USING (SELECT id FROM source WHERE id > 3) s ON t.id = s.id WHEN MATCHED THEN DELETE")
            .await
            .unwrap();
        assert_eq!(got, ["1,t1", "2,t2", "3,t3", "5,t5", ",tnull"]);
        // Two source rows for one target row: refused, nothing written.
        let err = merge_case(
            props,
            "MERGE INTO target t USING (SELECT id, v FROM source UNION ALL SELECT 4, 'again') s ON t.id = s.id \
             WHEN MATCHED THEN UPDATE SET v = s.v",
        )
        .await
        .unwrap_err();
        assert!(err.contains("more than one source row"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_records_metrics_and_change_data() {
    let (_d, p) = table(
        &[
            ("delta.enableChangeDataFeed", "true"),
            ("delta.enableDeletionVectors", "true"),
        ],
        vec![batch(&[Some(1), Some(2), Some(3)], &["a", "b", "c"])],
    )
    .await;
    let s = SiltSession::new();
    s.register("t", &p).await.unwrap();
    let n = rows(
        &s,
        "MERGE INTO t USING (VALUES (1, 'x'), (2, 'gone'), (9, 'n')) AS s(id, v) ON t.id = s.id \
         WHEN MATCHED AND s.v = 'gone' THEN DELETE \
         WHEN MATCHED THEN UPDATE SET v = s.v \
         WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
    )
    .await;
    // affected, inserted, updated, deleted, copied; then files added and
    // removed (how many files the new rows take depends on the batches).
    assert!(n[0].starts_with("3,1,1,1,0,"), "{n:?}");
    assert!(n[0].ends_with(",1"), "{n:?}");
    let info = last_commit_info(&p);
    assert_eq!(info["operation"], "MERGE");
    for (k, v) in [
        ("numTargetRowsInserted", "1"),
        ("numTargetRowsUpdated", "1"),
        ("numTargetRowsDeleted", "1"),
        ("numSourceRows", "3"),
        ("numDeletionVectorsAdded", "1"),
    ] {
        assert_eq!(metric(&info, k), v, "{k}");
    }
    let snapshot = TableBuilder::new(&p).load().await.unwrap();
    let changes = silt_parquet::cdf::read_changes(&snapshot, 1, None)
        .await
        .unwrap();
    let text = pretty_format_batches(&changes).unwrap().to_string();
    let mut got: Vec<String> = lines(&text)
        .into_iter()
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "1,a,update_preimage",
            "1,x,update_postimage",
            "2,b,delete",
            "9,n,insert"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_to_a_version_and_refuse_vacuumed_files() {
    let (_d, p) = table(&[], vec![batch(&[Some(1), Some(2)], &["a", "b"])]).await;
    let s = SiltSession::new();
    s.register("t", &p).await.unwrap();
    s.run("INSERT INTO t VALUES (3, 'c')").await.unwrap();
    s.run("DELETE FROM t WHERE id = 1").await.unwrap();
    assert_eq!(rows(&s, "SELECT count(*) FROM t").await, vec!["2"]);
    let r = rows(&s, "RESTORE TABLE t TO VERSION AS OF 0").await;
    assert_eq!(r, vec!["0,1,2"]);
    assert_eq!(
        rows(&s, "SELECT id, v FROM t ORDER BY id").await,
        vec!["1,a", "2,b"]
    );
    assert_eq!(last_commit_info(&p)["operation"], "RESTORE");
    assert_eq!(deltalake_rows(&p), vec!["1,a", "2,b"]);
    // By path and by time; a future version is refused.
    let r = rows(&s, &format!("RESTORE delta.'{p}' TO VERSION AS OF 1")).await;
    assert_eq!(r, vec!["1,1,0"]);
    assert_eq!(rows(&s, "SELECT count(*) FROM t").await, vec!["3"]);
    let err = s
        .run("RESTORE TABLE t TO VERSION AS OF 99")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
    let err = s.run("RESTORE TABLE t TO VERSION 1").await.unwrap_err();
    assert!(err.to_string().contains("expected RESTORE"), "{err}");
    // A file removed from storage cannot come back.
    let snapshot = TableBuilder::new(&p).load().await.unwrap();
    let v0 = silt_log::Snapshot::builder(snapshot.store().clone())
        .at_version(0)
        .load()
        .await
        .unwrap();
    s.run("DELETE FROM t").await.unwrap();
    for f in v0.files() {
        std::fs::remove_file(std::path::Path::new(&p).join(f.path.as_str())).unwrap();
    }
    let err = s
        .run("RESTORE TABLE t TO VERSION AS OF 0")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no longer exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_conflict_by_the_rules() {
    let ids: Vec<Option<i64>> = (0..10).map(Some).collect();
    let (_d, p) = table(&[], vec![batch(&ids, &["x"; 10])]).await;
    let s = SiltSession::new();
    s.register("t", &p).await.unwrap();

    // UPDATE read the file that a concurrent DELETE removed: conflict.
    let plan = s
        .sql("UPDATE t SET v = 'u' WHERE id = 1")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let other = TableBuilder::new(&p).load().await.unwrap();
    delete_where(&other, Some(parse_predicate("id = 2").unwrap()))
        .await
        .unwrap();
    let err = collect(plan, s.context().task_ctx()).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("conflict"), "{err}");
    // The conflict is typed: a caller matches the rule and retries.
    let err = silt_sql::SqlError::from(err);
    let conflict = err.conflict().expect("a typed conflict");
    // The DELETE rewrote the file the UPDATE read: its new file lands in
    // the data read (checked first), its remove on the file read.
    assert!(
        matches!(
            conflict.rule,
            silt_log::conflict::ConflictRule::ConcurrentAppend
                | silt_log::conflict::ConflictRule::ConcurrentDeleteRead
        ),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE v = 'u'").await,
        vec!["0"]
    );

    // A concurrent blind append does not invalidate an UPDATE (WriteSerializable).
    let plan = s
        .sql("UPDATE t SET v = 'u' WHERE id = 1")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let other = TableBuilder::new(&p).load().await.unwrap();
    write_batches(
        other.store().clone(),
        Some(other),
        vec![batch(&[Some(100)], &["app"])],
        WriteOptions::default(),
    )
    .await
    .unwrap();
    collect(plan, s.context().task_ctx()).await.unwrap();
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE v = 'u' OR v = 'app'").await,
        vec!["2"]
    );

    // MERGE against a concurrent MERGE that rewrote the same file: conflict.
    let merge = "MERGE INTO t USING (VALUES (3, 'm')) AS s(id, v) ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v";
    let plan = s
        .sql(merge)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let other = SiltSession::new();
    other.register("t", &p).await.unwrap();
    other.run("MERGE INTO t USING (VALUES (4, 'o')) AS s(id, v) ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v").await.unwrap();
    let err = collect(plan, s.context().task_ctx()).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("conflict"), "{err}");
    assert_eq!(
        rows(&s, "SELECT v FROM t WHERE id IN (3, 4) ORDER BY id").await,
        vec!["x", "o"]
    );

    // UPDATE against a concurrent OPTIMIZE that compacted the files it read: conflict.
    let plan = s
        .sql("UPDATE t SET v = 'late' WHERE id = 5")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let other = TableBuilder::new(&p).load().await.unwrap();
    let compacted = silt_parquet::optimize(&other, 1 << 30, 1 << 30)
        .await
        .unwrap();
    assert!(compacted.files_removed >= 2, "{compacted:?}");
    let err = collect(plan, s.context().task_ctx()).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("conflict"), "{err}");
    assert_eq!(
        rows(&s, "SELECT count(*) FROM t WHERE v = 'late'").await,
        vec!["0"]
    );
    // Planned again on the new version, it commits.
    assert_eq!(
        affected(&s, "UPDATE t SET v = 'late' WHERE id = 5").await,
        vec!["1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_tables_through_sql() {
    // Deletion vectors, column mapping, every partition type, escaped
    // partition values: SQL sees exactly the rows silt's scanner returns.
    let s = SiltSession::new();
    for t in [
        "kernel/data/table-with-dv-small",
        "golden/table-with-columnmapping-mode-name",
        "golden/data-reader-partition-values",
        "kernel/data/basic_partitioned",
        "golden/dv-partitioned-with-checkpoint",
        "dat/reader_tests/generated/multi_partitioned/delta",
    ] {
        let path = silt_testkit::vectors_dir()
            .join(t)
            .to_string_lossy()
            .to_string();
        let snapshot = TableBuilder::new(&path).load().await.unwrap();
        let expected = silt_parquet::Scan::new(&snapshot).count().await.unwrap();
        let counted = rows(&s, &format!("SELECT count(*) FROM delta.'{path}'")).await;
        assert_eq!(counted, vec![expected.to_string()], "{t}");
        let all = s
            .run(&format!("SELECT * FROM delta.'{path}'"))
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(RecordBatch::num_rows).sum::<usize>() as u64,
            expected,
            "{t}"
        );
    }
    // kernel's table-with-dv-small holds 0..9 with 0 and 9 deleted.
    let dv = silt_testkit::vectors_dir()
        .join("kernel/data/table-with-dv-small")
        .to_string_lossy()
        .to_string();
    assert_eq!(
        rows(
            &s,
            &format!("SELECT min(value), max(value), sum(value) FROM delta.'{dv}'")
        )
        .await,
        vec!["1,8,36"]
    );
    // A copy of a Spark-written DV table takes a DELETE and an UPDATE.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("t");
    silt_testkit::copy_dir(std::path::Path::new(&dv), &copy);
    let copy = copy.to_string_lossy().to_string();
    assert_eq!(
        affected(&s, &format!("DELETE FROM delta.'{copy}' WHERE value > 6")).await,
        vec!["2"]
    );
    assert_eq!(
        affected(
            &s,
            &format!("UPDATE delta.'{copy}' SET value = value * 10 WHERE value = 1")
        )
        .await,
        vec!["1"]
    );
    assert_eq!(
        rows(
            &s,
            &format!("SELECT value FROM delta.'{copy}' ORDER BY value")
        )
        .await,
        vec!["2", "3", "4", "5", "6", "10"]
    );
    let out = run_peer_script(
        "import sys, pyarrow as pa\nfrom deltalake import DeltaTable, QueryBuilder\nr = QueryBuilder().register('t', DeltaTable(sys.argv[1])).execute('SELECT value FROM t ORDER BY value')\nprint(pa.RecordBatchReader.from_stream(r).read_all().column('value').to_pylist())",
        &[&copy],
    );
    assert_eq!(out.trim(), "[2, 3, 4, 5, 6, 10]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builders_run_the_same_dml() {
    let (_d, p) = table(
        &[("delta.enableDeletionVectors", "true")],
        vec![batch(&[Some(1), Some(2), Some(3)], &["a", "b", "c"])],
    )
    .await;
    let s = SiltSession::new();
    let source = s
        .context()
        .read_batch(batch(&[Some(2), Some(4)], &["B", "D"]))
        .unwrap();
    let n = s
        .merge(&p, source)
        .aliases("t", "s")
        .on("t.id = s.id")
        .when_matched_update(None, &[("v", "s.v")])
        .when_not_matched_insert(None, &[("id", "s.id"), ("v", "s.v")])
        .when_not_matched_by_source_update(Some("t.id = 3"), &[("v", "'orphan'")])
        .execute()
        .await
        .unwrap();
    assert_eq!((n.inserted, n.updated, n.deleted), (1, 2, 0));
    assert_eq!(n.affected(), 3);
    assert_eq!(
        s.update(&p)
            .set("v", "upper(v)")
            .predicate("id = 1")
            .execute()
            .await
            .unwrap()
            .updated,
        1
    );
    assert_eq!(
        s.delete(&p)
            .predicate("v = 'orphan'")
            .execute()
            .await
            .unwrap()
            .deleted,
        1
    );
    // The star forms: every column by name.
    let source = s
        .context()
        .read_batch(batch(&[Some(2), Some(7)], &["two", "seven"]))
        .unwrap();
    let n = s
        .merge(&p, source)
        .aliases("t", "s")
        .on("t.id = s.id")
        .when_matched_update_all(None)
        .when_not_matched_insert_all(Some("s.id > 5"))
        .execute()
        .await
        .unwrap();
    assert_eq!((n.inserted, n.updated, n.deleted), (1, 1, 0));
    s.run(
        "DELETE FROM delta.'PATH' WHERE id = 7"
            .replace("PATH", &p)
            .as_str(),
    )
    .await
    .unwrap();
    s.update(&p)
        .set("v", "'B'")
        .predicate("id = 2")
        .execute()
        .await
        .unwrap();
    s.register("t", &p).await.unwrap();
    assert_eq!(
        rows(&s, "SELECT id, v FROM t ORDER BY id").await,
        vec!["1,A", "2,B", "4,D"]
    );
    assert_eq!(deltalake_rows(&p), vec!["1,A", "2,B", "4,D"]);
    // Missing pieces are refused before anything runs.
    let err = s.update("t").execute().await.unwrap_err();
    assert!(err.to_string().contains("at least one SET"), "{err}");
    let source = s.context().read_batch(batch(&[Some(2)], &["x"])).unwrap();
    let err = s
        .merge("t", source)
        .when_matched_delete(None)
        .execute()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ON condition"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_as_select_takes_partitions_and_properties() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t").to_string_lossy().to_string();
    let s = SiltSession::new();
    s.run(&format!(
        "CREATE TABLE delta.'{p}' PARTITIONED BY (grp) \
         TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.appendOnly' = 'false') \
         AS SELECT * FROM (VALUES (1, 'a'), (2, 'a'), (3, 'b')) AS v(id, grp)"
    ))
    .await
    .unwrap();
    let snapshot = TableBuilder::new(&p).load().await.unwrap();
    assert_eq!(
        snapshot.metadata().partition_columns,
        vec!["grp".to_string()]
    );
    assert!(silt_parquet::deletion_vectors_enabled(&snapshot));
    assert_eq!(
        snapshot.metadata().property("delta.appendOnly"),
        Some("false")
    );
    // Deleting one row of a partition writes a deletion vector.
    assert_eq!(
        affected(&s, &format!("DELETE FROM delta.'{p}' WHERE id = 1")).await,
        vec!["1"]
    );
    assert_eq!(
        metric(&last_commit_info(&p), "numDeletionVectorsAdded"),
        "1"
    );
    // A column list with AS SELECT is refused.
    let err = s
        .run(&format!(
            "CREATE TABLE delta.'{p}_2' (x INT) AS SELECT 1 AS x"
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("column list"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_some_files_reads_only_those_and_refuses_writes() {
    let (_dir, location) = table(
        &[],
        vec![
            batch(&[Some(1), Some(2)], &["a", "b"]),
            batch(&[Some(3)], &["c"]),
            batch(&[Some(4), Some(5)], &["d", "e"]),
        ],
    )
    .await;
    let first = TableBuilder::new(&location)
        .at_version(0)
        .load()
        .await
        .unwrap();
    let latest = TableBuilder::new(&location).load().await.unwrap();
    // The files versions 1 and 2 added: a streaming read's new files.
    let new: Vec<silt_log::Add> = latest
        .files()
        .iter()
        .filter(|f| !first.files().iter().any(|o| o.path == f.path))
        .map(std::borrow::Cow::into_owned)
        .collect();
    assert_eq!(new.len(), 2);
    let s = SiltSession::new();
    let t = silt_sql::DeltaTable::of_files(latest, new).unwrap();
    s.context().register_table("t", Arc::new(t)).unwrap();
    assert_eq!(
        rows(&s, "SELECT id, v FROM t ORDER BY id").await,
        ["3,c", "4,d", "5,e"]
    );
    assert_eq!(rows(&s, "SELECT count(*) FROM t").await, ["3"]);
    assert_eq!(
        rows(&s, "SELECT v FROM t WHERE id > 3 ORDER BY v").await,
        ["d", "e"]
    );
    let refused = s.run("INSERT INTO t VALUES (9, 'z')").await;
    assert!(refused.is_err(), "a table of some files is read-only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_build_their_hash_table_on_the_smaller_table() {
    let ids: Vec<Option<i64>> = (0..2000).map(|i| Some(i % 7)).collect();
    let vals: Vec<String> = (0..2000).map(|i| format!("r{i}")).collect();
    let vals: Vec<&str> = vals.iter().map(String::as_str).collect();
    let (_big_dir, big) = table(
        &[],
        vec![
            batch(&ids[..1000], &vals[..1000]),
            batch(&ids[1000..], &vals[1000..]),
        ],
    )
    .await;
    let (_small_dir, small) = table(
        &[],
        vec![batch(&[Some(1), Some(2), Some(3)], &["a", "b", "c"])],
    )
    .await;
    let s = SiltSession::new();
    let sql = format!(
        "SELECT d.v, count(*) FROM delta.'{big}' f JOIN delta.'{small}' d ON f.id = d.id GROUP BY d.v ORDER BY d.v"
    );
    let plan = text(&s, &format!("EXPLAIN {sql}")).await;
    let physical = &plan[plan.find("physical_plan").unwrap()..];
    let small_at = physical
        .find("rows=Exact(3)")
        .expect("the small scan's size is known");
    let big_at = physical
        .find("rows=Exact(2000)")
        .expect("the big scan's size is known");
    assert!(
        small_at < big_at,
        "the small table is the join's build (first) side:\n{physical}"
    );
    // 2000 rows with ids 0..6: ids 1, 2 and 3 hold 286 rows each.
    assert_eq!(rows(&s, &sql).await, ["a,286", "b,286", "c,286"]);
}
