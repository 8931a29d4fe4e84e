//! Table features on write through SQL: CREATE TABLE with identity,
//! generated and default columns, NOT NULL, CHECK constraints and
//! clustering; INSERT / UPDATE / MERGE filling and checking them; ALTER
//! TABLE (columns through column mapping, type widening, properties and
//! feature upgrades, constraints validated against existing rows, in-commit
//! timestamp enablement); identity values unique under racing writers;
//! vector tables written by Databricks and Spark appended to; and the
//! Python `deltalake` package reading the results.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use silt_log::TableFeature;
use silt_log::column_rules::{IDENTITY_HIGH_WATER_MARK, IdentitySpec};
use silt_sql::{DdlError, SiltSession, SqlError, StatementError};
use silt_store::TableBuilder;
use silt_testkit::peer::run_peer_script;

mod common;
use common::rows;

async fn version(location: &str) -> u64 {
    TableBuilder::new(location).load().await.unwrap().version()
}

/// `columns` of the table as `deltalake` reads them, rows sorted, values
/// joined by commas (None as empty).
fn deltalake_rows(location: &str, columns: &str) -> Vec<String> {
    let out = run_peer_script(
        "import sys, json, pyarrow as pa\nfrom deltalake import DeltaTable, QueryBuilder\nr = QueryBuilder().register('t', DeltaTable(sys.argv[1])).execute('SELECT ' + sys.argv[2] + ' FROM t')\nt = pa.RecordBatchReader.from_stream(r).read_all()\ncols = [t.column(i).to_pylist() for i in range(t.num_columns)]\nrows = sorted(','.join('' if v is None else str(v) for v in r) for r in zip(*cols))\nprint(json.dumps(rows))",
        &[location, columns],
    );
    serde_json::from_str(out.trim()).unwrap()
}

fn commit_json(location: &str, version: u64) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(location)
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_with_identity_generated_and_default_columns() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("events").to_string_lossy().to_string();
    let s = SiltSession::new();
    s.run(&format!(
        "CREATE TABLE delta.'{loc}' (
            id BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 5),
            kind STRING NOT NULL DEFAULT 'reading',
            ts TIMESTAMP,
            day DATE GENERATED ALWAYS AS (CAST(ts AS DATE)),
            amount INT CHECK (amount >= 0)
        ) PARTITIONED BY (day) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')"
    ))
    .await
    .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let p = snap.protocol();
    for f in [
        TableFeature::IdentityColumns,
        TableFeature::GeneratedColumns,
        TableFeature::AllowColumnDefaults,
        TableFeature::CheckConstraints,
        TableFeature::ChangeDataFeed,
    ] {
        assert!(p.has_feature(&f), "{f:?} in {p:?}");
    }
    assert_eq!(snap.metadata().partition_columns, vec!["day"]);

    // INSERT with a column list: identity, default and generated filled.
    let t = format!("delta.'{loc}'");
    s.run(&format!(
        "INSERT INTO {t} (ts, amount) VALUES (TIMESTAMP '2026-01-02 10:00:00', 1), (TIMESTAMP '2026-01-03 11:00:00', 2)"
    ))
    .await
    .unwrap();
    s.run(&format!(
        "INSERT INTO {t} (kind, ts, amount) VALUES ('alarm', TIMESTAMP '2026-01-03 12:00:00', 3)"
    ))
    .await
    .unwrap();
    assert_eq!(
        rows(
            &s,
            &format!("SELECT id, kind, day, amount FROM {t} ORDER BY id")
        )
        .await,
        vec![
            "10,reading,2026-01-02,1",
            "15,reading,2026-01-03,2",
            "20,alarm,2026-01-03,3"
        ]
    );
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let id = IdentitySpec::of_field(snap.metadata().schema().field("id").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(id.high_water_mark, Some(20));
    let info = &commit_json(&loc, snap.version())[0]["commitInfo"];
    assert_eq!(info["tags"]["delta.identity.schemaUpdate"], "true");

    // Refusals commit nothing.
    let v = version(&loc).await;
    for (bad, why) in [
        (
            format!(
                "INSERT INTO {t} (id, ts, amount) VALUES (99, TIMESTAMP '2026-01-01 00:00:00', 1)"
            ),
            "GENERATED ALWAYS AS IDENTITY",
        ),
        (
            format!(
                "INSERT INTO {t} (ts, day, amount) VALUES (TIMESTAMP '2026-01-01 00:00:00', DATE '2020-01-01', 1)"
            ),
            "generated column \"day\"",
        ),
        (
            format!("INSERT INTO {t} (ts, amount) VALUES (TIMESTAMP '2026-01-01 00:00:00', -5)"),
            "constraint amount_check",
        ),
        (
            format!(
                "INSERT INTO {t} (kind, ts, amount) VALUES (NULL, TIMESTAMP '2026-01-01 00:00:00', 5)"
            ),
            "NOT NULL",
        ),
    ] {
        let err = s.run(&bad).await.unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
    assert_eq!(version(&loc).await, v, "refused writes commit nothing");
    let err = s
        .run(&format!("UPDATE {t} SET id = 1 WHERE amount = 1"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("identity column"), "{err}");
    assert_eq!(version(&loc).await, v);
    // A generated value that matches is accepted.
    s.run(&format!(
        "INSERT INTO {t} (ts, day, amount) VALUES (TIMESTAMP '2026-01-04 08:00:00', DATE '2026-01-04', 4)"
    ))
    .await
    .unwrap();

    // UPDATE of a source column recomputes the generated column (and moves
    // the row to its new partition); MERGE inserts get identity values.
    s.run(&format!(
        "UPDATE {t} SET ts = TIMESTAMP '2026-02-01 09:00:00' WHERE id = 10"
    ))
    .await
    .unwrap();
    s.run(&format!(
        "MERGE INTO {t} AS t USING (SELECT 15 AS id, 7 AS amount UNION ALL SELECT 0, 8) AS s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET amount = s.amount \
         WHEN NOT MATCHED THEN INSERT (ts, amount) VALUES (TIMESTAMP '2026-03-01 00:00:00', s.amount)"
    ))
    .await
    .unwrap();
    let expect = vec![
        "10,reading,2026-02-01,1",
        "15,reading,2026-01-03,7",
        "20,alarm,2026-01-03,3",
        "25,reading,2026-01-04,4",
        "30,reading,2026-03-01,8",
    ];
    assert_eq!(
        rows(
            &s,
            &format!("SELECT id, kind, day, amount FROM {t} ORDER BY id")
        )
        .await,
        expect
    );
    assert_eq!(deltalake_rows(&loc, "id,kind,day,amount"), expect);
    // The change feed shows the values as written: the UPDATE's
    // post-image has the recomputed day, the MERGE insert its identity.
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let changes = silt_parquet::cdf::read_changes(&snap, snap.version() - 1, None)
        .await
        .unwrap();
    let got: Vec<String> = silt_testkit::text_rows(&changes, &["id", "day", "_change_type"])
        .into_iter()
        .map(|r| r.join(","))
        .collect();
    assert!(got.contains(&"30,2026-03-01,insert".to_string()), "{got:?}");
    assert!(
        got.contains(&"15,2026-01-03,update_postimage".to_string()),
        "{got:?}"
    );
    assert!(
        got.iter().all(|r| !r.starts_with(",")),
        "no NULL ids: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_table_evolves_columns_types_properties_and_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    let s = SiltSession::new();
    s.run(&format!(
        "CREATE TABLE {t} (id INT, name STRING, score INT)"
    ))
    .await
    .unwrap();
    s.run(&format!(
        "INSERT INTO {t} VALUES (1, 'a', 10), (2, 'b', 20)"
    ))
    .await
    .unwrap();

    // Rename needs column mapping; the error says how to turn it on.
    let err = s
        .run(&format!("ALTER TABLE {t} RENAME COLUMN name TO label"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("delta.columnMapping.mode"), "{err}");
    s.run(&format!(
        "ALTER TABLE {t} SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')"
    ))
    .await
    .unwrap();
    s.run(&format!("ALTER TABLE {t} RENAME COLUMN name TO label"))
        .await
        .unwrap();
    s.run(&format!(
        "ALTER TABLE {t} ADD COLUMNS (note STRING COMMENT 'free text')"
    ))
    .await
    .unwrap();
    s.run(&format!("INSERT INTO {t} VALUES (3, 'c', 30, 'new')"))
        .await
        .unwrap();
    s.run(&format!("ALTER TABLE {t} DROP COLUMN note"))
        .await
        .unwrap();
    // deltalake reads the renamed and dropped columns through column
    // mapping.
    assert_eq!(
        deltalake_rows(&loc, "*"),
        vec!["1,a,10", "2,b,20", "3,c,30"]
    );

    // Widen INT to BIGINT: refused until type widening is enabled.
    let err = s
        .run(&format!("ALTER TABLE {t} ALTER COLUMN score TYPE BIGINT"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("delta.enableTypeWidening"), "{err}");
    s.run(&format!(
        "ALTER TABLE {t} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')"
    ))
    .await
    .unwrap();
    s.run(&format!("ALTER TABLE {t} ALTER COLUMN score TYPE BIGINT"))
        .await
        .unwrap();
    let err = s
        .run(&format!("ALTER TABLE {t} ALTER COLUMN score TYPE INT"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a type widening"), "{err}");
    s.run(&format!("INSERT INTO {t} VALUES (4, 'd', 5000000000)"))
        .await
        .unwrap();
    let expect = vec!["1,a,10", "2,b,20", "3,c,30", "4,d,5000000000"];
    assert_eq!(
        rows(&s, &format!("SELECT id, label, score FROM {t} ORDER BY id")).await,
        expect
    );
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let score = snap.metadata().schema().field("score").unwrap();
    assert_eq!(
        score.metadata["delta.typeChanges"],
        serde_json::json!([{"fromType": "integer", "toType": "long"}])
    );
    assert!(snap.protocol().has_feature(&TableFeature::TypeWidening));
    assert!(snap.protocol().has_feature(&TableFeature::ColumnMapping));

    // A constraint the existing rows break is refused; one they meet is
    // added and then enforced.
    let v = version(&loc).await;
    let err = s
        .run(&format!(
            "ALTER TABLE {t} ADD CONSTRAINT small CHECK (score < 100)"
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("existing rows violate"), "{err}");
    assert_eq!(version(&loc).await, v);
    s.run(&format!(
        "ALTER TABLE {t} ADD CONSTRAINT named CHECK (label IS NOT NULL AND length(label) = 1)"
    ))
    .await
    .unwrap();
    let err = s
        .run(&format!("INSERT INTO {t} VALUES (5, 'long', 1)"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("constraint named"), "{err}");
    s.run(&format!("ALTER TABLE {t} DROP CONSTRAINT named"))
        .await
        .unwrap();
    s.run(&format!("INSERT INTO {t} VALUES (5, 'long', 1)"))
        .await
        .unwrap();

    // Turning in-commit timestamps on records where they start.
    s.run(&format!(
        "ALTER TABLE {t} SET TBLPROPERTIES ('delta.enableInCommitTimestamps' = 'true')"
    ))
    .await
    .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let m = snap.metadata();
    assert_eq!(
        m.property("delta.inCommitTimestampEnablementVersion"),
        Some(snap.version().to_string().as_str())
    );
    let ict = commit_json(&loc, snap.version())[0]["commitInfo"]["inCommitTimestamp"]
        .as_i64()
        .unwrap();
    assert_eq!(
        m.property("delta.inCommitTimestampEnablementTimestamp"),
        Some(ict.to_string().as_str())
    );
    s.run(&format!(
        "ALTER TABLE {t} UNSET TBLPROPERTIES IF EXISTS ('delta.appendOnly', 'nope')"
    ))
    .await
    .unwrap();
    // Writer features the table stops using can be dropped; reader-writer
    // features cannot (yet).
    s.run(&format!("ALTER TABLE {t} DROP FEATURE inCommitTimestamp"))
        .await
        .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(
        !snap
            .protocol()
            .has_feature(&TableFeature::InCommitTimestamp)
    );
    assert_eq!(
        snap.metadata().property("delta.enableInCommitTimestamps"),
        None
    );
    let err = s
        .run(&format!("ALTER TABLE {t} DROP FEATURE columnMapping"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("reader-writer"), "{err}");
    // A clause silt does not read is a typed, non-retryable refusal naming
    // the whole statement; the table is untouched.
    let before = version(&loc).await;
    let text = format!("ALTER TABLE {t} ALTER COLUMN s.x SET DEFAULT 1");
    let err = s.run(&text).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    match &err {
        SqlError::InvalidStatement { statement, problem } => match problem.as_ref() {
            StatementError::Ddl(DdlError::DefaultOnNestedField { column }) => {
                assert_eq!(statement, &text);
                assert_eq!(column, &["s", "x"]);
            }
            other => panic!("{other}"),
        },
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .starts_with("defaults are set on top-level columns, not s.x (in: ALTER TABLE"),
        "{err}"
    );
    assert_eq!(version(&loc).await, before);

    // deltalake 1.x does not read typeWidening tables; silt reads the old
    // INT files as BIGINT.
    assert_eq!(
        rows(&s, &format!("SELECT sum(score) FROM {t}")).await,
        vec!["5000000061"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clustering_columns_live_in_domain_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("c").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    let s = SiltSession::new();
    s.run(&format!(
        "CREATE TABLE {t} (device STRING, ts BIGINT, v DOUBLE) CLUSTER BY (device, ts)"
    ))
    .await
    .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(snap.protocol().has_feature(&TableFeature::Clustering));
    assert_eq!(
        snap.domains()["delta.clustering"].configuration,
        r#"{"clusteringColumns":[["device"],["ts"]]}"#
    );
    s.run(&format!("INSERT INTO {t} VALUES ('a', 1, 1.5)"))
        .await
        .unwrap();
    s.run(&format!("ALTER TABLE {t} CLUSTER BY (ts)"))
        .await
        .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert_eq!(
        snap.domains()["delta.clustering"].configuration,
        r#"{"clusteringColumns":[["ts"]]}"#
    );
    assert_eq!(deltalake_rows(&loc, "device,ts,v"), vec!["a,1,1.5"]);
}

/// (min, max) of a column in each live file's statistics.
async fn file_ranges(location: &str, column: &str) -> Vec<(i64, i64)> {
    let snap = TableBuilder::new(location).load().await.unwrap();
    snap.files()
        .iter()
        .map(|a| {
            let stats: serde_json::Value =
                serde_json::from_str(a.stats.as_deref().unwrap()).unwrap();
            (
                stats["minValues"][column].as_i64().unwrap(),
                stats["maxValues"][column].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_z_orders_a_clustered_table() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("z").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    let s = SiltSession::new();
    s.run(&format!(
        "CREATE TABLE {t} (x BIGINT, y BIGINT) CLUSTER BY (x, y)"
    ))
    .await
    .unwrap();
    // A 64×64 grid written row by row: each file spans every x.
    for band in 0..4 {
        s.run(&format!(
            "INSERT INTO {t} SELECT a.v AS x, b.v AS y FROM unnest(range(0, 64)) AS a(v), unnest(range({}, {})) AS b(v)",
            band * 16,
            band * 16 + 16
        ))
        .await
        .unwrap();
    }
    let widest = |r: &[(i64, i64)]| r.iter().map(|(a, b)| b - a).max().unwrap();
    let before = widest(&file_ranges(&loc, "x").await);
    assert!(before >= 60, "row-major files span x: {before}");
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let r = silt_parquet::optimize(&snap, 512, 0).await.unwrap();
    assert_eq!(r.files_removed, snap.files().len());
    assert!(r.files_added >= 4, "{} files", r.files_added);
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(
        snap.files()
            .iter()
            .all(|a| a.clustering_provider.as_deref() == Some("liquid"))
    );
    // Each new file covers a block of the grid, narrow in x and in y.
    let (xs, ys) = (file_ranges(&loc, "x").await, file_ranges(&loc, "y").await);
    assert!(widest(&xs) <= 40 && widest(&ys) <= 40, "x {xs:?} y {ys:?}");
    assert_eq!(
        rows(&s, &format!("SELECT count(*), sum(x * 64 + y) FROM {t}")).await,
        vec!["4096,8386560"]
    );
    // Clustered files are not rewritten again.
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(
        silt_parquet::optimize(&snap, 512, 0)
            .await
            .unwrap()
            .outcome
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_values_stay_unique_under_racing_writers() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("ids").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    SiltSession::new()
        .run(&format!(
            "CREATE TABLE {t} (id BIGINT GENERATED ALWAYS AS IDENTITY, writer INT, n INT)"
        ))
        .await
        .unwrap();
    let writers = 8;
    let rounds = 3;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let s = SiltSession::new();
            let mut conflicts = 0;
            for n in 0..rounds {
                // Identity writers move the high-water mark, so two racing
                // writers conflict; INSERT redoes a lost write with fresh
                // values (up to 16 times), so a conflict here is rare.
                loop {
                    match s
                        .run(&format!(
                            "INSERT INTO {t} (writer, n) VALUES ({w}, {n}), ({w}, {n})"
                        ))
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if e.to_string().to_lowercase().contains("conflict") => {
                            conflicts += 1
                        }
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let s = SiltSession::new();
    let ids = rows(&s, &format!("SELECT id FROM {t} ORDER BY id")).await;
    let total = (writers * rounds * 2) as usize;
    assert_eq!(ids.len(), total);
    let unique: std::collections::BTreeSet<i64> = ids.iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(unique.len(), total, "identity values are unique");
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    let hwm = snap.metadata().schema().field("id").unwrap().metadata[IDENTITY_HIGH_WATER_MARK]
        .as_i64()
        .unwrap();
    assert_eq!(
        Some(&hwm),
        unique.iter().next_back(),
        "the mark is the highest value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_tables_with_identity_and_generated_columns_take_appends() {
    let tmp = tempfile::tempdir().unwrap();
    // Databricks: identity column (high-water mark 44), V2 checkpoints.
    let ident = tmp.path().join("identity");
    silt_testkit::copy_dir(
        &silt_testkit::vectors_dir().join("delta-rs/data/checkpoint-v2-table"),
        &ident,
    );
    let ident = ident.to_string_lossy().to_string();
    let s = SiltSession::new();
    let t = format!("delta.'{ident}'");
    let before: u64 = rows(&s, &format!("SELECT count(*) FROM {t}")).await[0]
        .parse()
        .unwrap();
    s.run(&format!(
        "INSERT INTO {t} (name, created_at) VALUES ('silt-1', TIMESTAMP '2026-11-25 00:00:00'), ('silt-2', NULL)"
    ))
    .await
    .unwrap();
    assert_eq!(
        rows(
            &s,
            &format!("SELECT id, name FROM {t} WHERE name LIKE 'silt%' ORDER BY id")
        )
        .await,
        vec!["45,silt-1", "46,silt-2"]
    );
    let peer = deltalake_rows(&ident, "id,name");
    assert_eq!(peer.len() as u64, before + 2);
    assert!(peer.contains(&"45,silt-1".to_string()) && peer.contains(&"46,silt-2".to_string()));

    // Spark (DBR 8.1): c2 GENERATED ALWAYS AS (c1 + 1).
    let generated = tmp.path().join("generated");
    silt_testkit::copy_dir(
        &silt_testkit::vectors_dir().join("delta-spark/dbr_8_1_generated_columns"),
        &generated,
    );
    let generated = generated.to_string_lossy().to_string();
    let t = format!("delta.'{generated}'");
    s.run(&format!("INSERT INTO {t} (c1) VALUES (41), (NULL)"))
        .await
        .unwrap();
    let err = s
        .run(&format!("INSERT INTO {t} VALUES (1, 5)"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("c1 + 1"), "{err}");
    let got = rows(
        &s,
        &format!("SELECT c1, c2 FROM {t} WHERE c1 = 41 OR c1 IS NULL"),
    )
    .await;
    assert!(got.contains(&"41,42".to_string()), "{got:?}");
    assert!(deltalake_rows(&generated, "c1,c2").contains(&"41,42".to_string()));
}

/// (id, v, row_id, row_commit_version) of every row, sorted by id.
async fn row_ids(location: &str) -> Vec<(i64, String, i64, i64)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    let snap = TableBuilder::new(location).load().await.unwrap();
    let mut out = Vec::new();
    for b in silt_parquet::row_tracking::scan_with_row_ids(&snap)
        .await
        .unwrap()
    {
        let id = b.column_by_name("id").unwrap().as_primitive::<Int32Type>();
        let v = b.column_by_name("v").unwrap().as_string::<i32>();
        let rid = b
            .column_by_name("row_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let ver = b
            .column_by_name("row_commit_version")
            .unwrap()
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.push((
                id.value(i) as i64,
                v.value(i).to_string(),
                rid.value(i),
                ver.value(i),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_ids_survive_update_merge_delete_and_optimize() {
    for dvs in ["false", "true"] {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("rt").to_string_lossy().to_string();
        let t = format!("delta.'{loc}'");
        let s = SiltSession::new();
        s.run(&format!(
            "CREATE TABLE {t} (id INT, v STRING) TBLPROPERTIES ('delta.enableRowTracking' = 'true', 'delta.enableDeletionVectors' = '{dvs}')"
        ))
        .await
        .unwrap();
        let snap = TableBuilder::new(&loc).load().await.unwrap();
        assert!(
            snap.metadata()
                .property("delta.rowTracking.materializedRowIdColumnName")
                .is_some()
        );
        s.run(&format!(
            "INSERT INTO {t} VALUES (1, 'a'), (2, 'b'), (3, 'c')"
        ))
        .await
        .unwrap();
        s.run(&format!("INSERT INTO {t} VALUES (4, 'd'), (5, 'e')"))
            .await
            .unwrap();
        let before = row_ids(&loc).await;
        assert_eq!(
            before.iter().map(|r| (r.2, r.3)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)],
            "fresh ids: baseRowId + position, version of the commit"
        );
        s.run(&format!("UPDATE {t} SET v = 'B' WHERE id = 2"))
            .await
            .unwrap();
        let update_version = version(&loc).await as i64;
        s.run(&format!(
            "MERGE INTO {t} AS t USING (SELECT 4 AS id, 'D' AS v UNION ALL SELECT 6, 'f') AS s ON t.id = s.id \
             WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)"
        ))
        .await
        .unwrap();
        let merge_version = version(&loc).await as i64;
        s.run(&format!("DELETE FROM {t} WHERE id = 5"))
            .await
            .unwrap();
        let snap = TableBuilder::new(&loc).load().await.unwrap();
        silt_parquet::optimize(&snap, 1 << 20, 1 << 20)
            .await
            .unwrap();
        let after = row_ids(&loc).await;
        let expect_kept = |id: i64, v: &str, version: i64| {
            let old = before.iter().find(|r| r.0 == id).unwrap();
            (id, v.to_string(), old.2, version)
        };
        assert_eq!(after[0], expect_kept(1, "a", 1), "{dvs}: untouched row");
        assert_eq!(
            after[1],
            expect_kept(2, "B", update_version),
            "{dvs}: updated row"
        );
        assert_eq!(after[2], expect_kept(3, "c", 1), "{dvs}: copied row");
        assert_eq!(
            after[3],
            expect_kept(4, "D", merge_version),
            "{dvs}: merged row"
        );
        assert_eq!(after[4].0, 6);
        assert!(after[4].2 > 4, "{dvs}: an inserted row gets a fresh id");
        assert_eq!(after[4].3, merge_version);
        assert_eq!(after.len(), 5);
        let info = &commit_json(&loc, version(&loc).await)[0]["commitInfo"];
        assert_eq!(info["operation"], "OPTIMIZE");
        assert_eq!(info["tags"]["delta.rowTracking.preserved"], "true");
        assert_eq!(
            deltalake_rows(&loc, "id,v"),
            vec!["1,a", "2,B", "3,c", "4,D", "6,f"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_row_tracking_backfills_row_ids() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("bf").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    let s = SiltSession::new();
    s.run(&format!("CREATE TABLE {t} (id INT, v STRING)"))
        .await
        .unwrap();
    s.run(&format!("INSERT INTO {t} VALUES (1, 'a'), (2, 'b')"))
        .await
        .unwrap();
    s.run(&format!("INSERT INTO {t} VALUES (3, 'c')"))
        .await
        .unwrap();
    s.run(&format!(
        "ALTER TABLE {t} SET TBLPROPERTIES ('delta.enableRowTracking' = 'true')"
    ))
    .await
    .unwrap();
    let backfill = version(&loc).await as i64;
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(snap.protocol().has_feature(&TableFeature::RowTracking));
    assert!(snap.files().iter().all(|a| a.base_row_id.is_some()));
    let ids = row_ids(&loc).await;
    let mut rids: Vec<i64> = ids.iter().map(|r| r.2).collect();
    rids.sort();
    assert_eq!(rids, vec![0, 1, 2], "every row got a unique id");
    assert!(ids.iter().all(|r| r.3 == backfill));
    s.run(&format!("UPDATE {t} SET v = 'x' WHERE id = 3"))
        .await
        .unwrap();
    let after = row_ids(&loc).await;
    assert_eq!(after[2].2, ids[2].2, "the updated row keeps its id");
    assert_eq!(deltalake_rows(&loc, "id,v"), vec!["1,a", "2,b", "3,x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_tables_with_ict_column_mapping_and_cdf_take_dml() {
    let tmp = tempfile::tempdir().unwrap();
    let s = SiltSession::new();

    // delta-rs: in-commit timestamps + change data feed, partitioned.
    let ict = tmp.path().join("ict");
    silt_testkit::copy_dir(
        &silt_testkit::vectors_dir().join("delta-rs/data/cdc_ict_table"),
        &ict,
    );
    let ict = ict.to_string_lossy().to_string();
    let t = format!("delta.'{ict}'");
    let v0 = version(&ict).await;
    let last_ict = |v: u64| commit_json(&ict, v)[0]["commitInfo"]["inCommitTimestamp"].as_i64();
    let before = last_ict(v0).expect("the vector has in-commit timestamps");
    s.run(&format!("INSERT INTO {t} VALUES ('silt', 2001, 24)"))
        .await
        .unwrap();
    s.run(&format!("UPDATE {t} SET age = age + 1 WHERE name = 'silt'"))
        .await
        .unwrap();
    let (a, b) = (last_ict(v0 + 1).unwrap(), last_ict(v0 + 2).unwrap());
    assert!(
        before < a && a < b,
        "ICT strictly increasing: {before} {a} {b}"
    );
    // The update's change data, as deltalake reads it.
    let cdf = run_peer_script(
        "import sys, json, pyarrow as pa\nfrom deltalake import DeltaTable\nr = DeltaTable(sys.argv[1]).load_cdf(starting_version=int(sys.argv[2]))\nt = pa.RecordBatchReader.from_stream(r).read_all() if not isinstance(r, pa.Table) else r\nprint(json.dumps(sorted(f'{n},{a},{c}' for n, a, c in zip(t.column('name').to_pylist(), t.column('age').to_pylist(), t.column('_change_type').to_pylist()))))",
        &[&ict, &(v0 + 2).to_string()],
    );
    let cdf: Vec<String> = serde_json::from_str(cdf.trim()).unwrap();
    assert_eq!(
        cdf,
        vec!["silt,24,update_preimage", "silt,25,update_postimage"]
    );

    // delta-rs: column mapping (name) with a renamed partition column and
    // deletion vectors.
    let cm = tmp.path().join("cm");
    silt_testkit::copy_dir(
        &silt_testkit::vectors_dir().join("delta-rs/data/table_with_partitioning_mapping"),
        &cm,
    );
    let cm = cm.to_string_lossy().to_string();
    let t = format!("delta.'{cm}'");
    let original = deltalake_rows(&cm, "newid,description");
    s.run(&format!("INSERT INTO {t} VALUES (77, 'from silt')"))
        .await
        .unwrap();
    s.run(&format!(
        "UPDATE {t} SET description = 'updated' WHERE newid = 77"
    ))
    .await
    .unwrap();
    let first = original[0].split(',').next().unwrap().to_string();
    s.run(&format!("DELETE FROM {t} WHERE newid = {first}"))
        .await
        .unwrap();
    let mut expect: Vec<String> = original
        .iter()
        .filter(|r| r.split(',').next() != Some(first.as_str()))
        .cloned()
        .collect();
    expect.push("77,updated".into());
    expect.sort();
    assert_eq!(deltalake_rows(&cm, "newid,description"), expect);
    let mut ours = rows(&s, &format!("SELECT newid, description FROM {t}")).await;
    ours.sort();
    assert_eq!(ours, expect);

    // Databricks' pre-release clustering feature `liquid`: silt reads the
    // table but refuses to write it, naming the feature.
    let liquid = silt_testkit::vectors_dir().join("delta-rs/data/table_with_liquid_clustering");
    let copy = tmp.path().join("liquid");
    silt_testkit::copy_dir(&liquid, &copy);
    let t = format!("delta.'{}'", copy.to_string_lossy());
    assert!(
        !rows(&s, &format!("SELECT count(*) FROM {t}"))
            .await
            .is_empty()
    );
    let err = s
        .run(&format!("DELETE FROM {t} WHERE id = 1"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("liquid"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_follow_alter_quotes_survive_and_merge_respects_identity() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("d").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    let s = SiltSession::new();
    s.run(&format!(
        "CREATE TABLE {t} (id BIGINT GENERATED ALWAYS AS IDENTITY, a INT, b INT DEFAULT 5, name STRING)"
    ))
    .await
    .unwrap();
    s.run(&format!("INSERT INTO {t} (a) VALUES (1)"))
        .await
        .unwrap();
    // The same session sees a changed default at once.
    s.run(&format!("ALTER TABLE {t} ALTER COLUMN b SET DEFAULT 7"))
        .await
        .unwrap();
    s.run(&format!("INSERT INTO {t} (a) VALUES (2)"))
        .await
        .unwrap();
    assert_eq!(
        rows(&s, &format!("SELECT a, b FROM {t} ORDER BY a")).await,
        vec!["1,5", "2,7"]
    );
    // Doubled quotes in a constraint survive the round trip.
    s.run(&format!(
        "ALTER TABLE {t} ADD CONSTRAINT not_him CHECK (name IS NULL OR name <> 'O''Brien')"
    ))
    .await
    .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert_eq!(
        snap.metadata().property("delta.constraints.not_him"),
        Some("name IS NULL OR name <> 'O''Brien'")
    );
    s.run(&format!("INSERT INTO {t} (a, name) VALUES (3, 'Byrne')"))
        .await
        .unwrap();
    let err = s
        .run(&format!("INSERT INTO {t} (a, name) VALUES (4, 'O''Brien')"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not_him"), "{err}");
    // MERGE may not give a GENERATED ALWAYS identity column a value.
    let err = s
        .run(&format!(
            "MERGE INTO {t} AS t USING (SELECT 99 AS id, 5 AS a) AS s ON t.a = s.a \
             WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a)"
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("GENERATED ALWAYS AS IDENTITY"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_tracking_supported_before_it_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("r").to_string_lossy().to_string();
    let t = format!("delta.'{loc}'");
    let s = SiltSession::new();
    s.run(&format!("CREATE TABLE {t} (id INT, v STRING)"))
        .await
        .unwrap();
    s.run(&format!("INSERT INTO {t} VALUES (1, 'a')"))
        .await
        .unwrap();
    s.run(&format!(
        "ALTER TABLE {t} SET TBLPROPERTIES ('delta.feature.rowTracking' = 'supported')"
    ))
    .await
    .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(
        snap.protocol().has_feature(&TableFeature::DomainMetadata),
        "row tracking needs it"
    );
    // Supported but not enabled: new files get row ids, DML works.
    s.run(&format!("INSERT INTO {t} VALUES (2, 'b')"))
        .await
        .unwrap();
    s.run(&format!("UPDATE {t} SET v = 'x' WHERE id = 1"))
        .await
        .unwrap();
    // Enabling backfills the files that still lack row ids.
    s.run(&format!(
        "ALTER TABLE {t} SET TBLPROPERTIES ('delta.enableRowTracking' = 'true')"
    ))
    .await
    .unwrap();
    let snap = TableBuilder::new(&loc).load().await.unwrap();
    assert!(snap.files().iter().all(|a| a.base_row_id.is_some()));
    let ids = row_ids(&loc).await;
    let unique: std::collections::BTreeSet<i64> = ids.iter().map(|r| r.2).collect();
    assert_eq!(unique.len(), 2);
    s.run(&format!("UPDATE {t} SET v = 'y' WHERE id = 2"))
        .await
        .unwrap();
    let after = row_ids(&loc).await;
    assert_eq!(after[1].2, ids[1].2, "the enabled table keeps row ids");
}
