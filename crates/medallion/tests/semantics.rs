//! Pipeline semantics end to end on small data: expectations (warn, drop,
//! fail) and their counts in the event log; full refresh; schema evolution
//! of landing files and the rescue mode; Delta streaming sources (change
//! commits refused or skipped); definitions that are wrong fail with their
//! position and write nothing; landing files that are not the declared
//! format fail clearly; `deltalake` reads every table the pipeline writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::Path;

use silt_medallion::{FlowStatus, Pipeline, PipelineError, RunOptions, run};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The rows of the Delta table at `t`.
async fn count_at(t: &Path) -> i64 {
    count(&format!("SELECT count(*) FROM delta.'{}'", t.display())).await
}

async fn count(sql: &str) -> i64 {
    let session = silt_sql::SiltSession::new();
    let b = session.run(sql).await.unwrap();
    b[0].column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0)
}

fn pipeline(lake: &Path, landing: &Path, sql: &str) -> Pipeline {
    Pipeline::builder("t", &lake.display().to_string())
        .conf("landing", &landing.display().to_string())
        .sql("t.sql", sql)
        .build()
        .unwrap()
}

const EXPECT: &str = "
CREATE OR REFRESH STREAMING TABLE raw AS SELECT * FROM STREAM read_files('${landing}', format => 'json');
CREATE OR REFRESH STREAMING TABLE checked (
  CONSTRAINT positive EXPECT (CAST(x AS INT) > 0),
  CONSTRAINT small EXPECT (CAST(x AS INT) < 100) ON VIOLATION DROP ROW
) AS SELECT x FROM STREAM(raw);
CREATE OR REFRESH STREAMING TABLE strict (
  CONSTRAINT not_seven EXPECT (x <> '7') ON VIOLATION FAIL UPDATE
) AS SELECT x FROM STREAM(raw);
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expectations_warn_drop_and_fail_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(
        &landing,
        "a.jsonl",
        "{\"x\":\"1\"}\n{\"x\":\"-5\"}\n{\"x\":\"500\"}\n{\"x\":\"3\"}\n",
    );
    let p = pipeline(&lake, &landing, EXPECT);
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    assert!(r.succeeded(), "{:?}", r.failure());
    let checked = r
        .flows
        .iter()
        .find(|f| f.target == "default.checked")
        .unwrap();
    let positive = checked
        .expectations
        .iter()
        .find(|e| e.name == "positive")
        .unwrap();
    let small = checked
        .expectations
        .iter()
        .find(|e| e.name == "small")
        .unwrap();
    assert_eq!((positive.passed_records, positive.failed_records), (3, 1));
    assert_eq!((small.passed_records, small.failed_records), (3, 1));
    // warn keeps -5, drop removes 500.
    let t = lake.join("default/checked");
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", t.display())).await,
        3
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}' WHERE x = '-5'",
            t.display()
        ))
        .await,
        1
    );
    // The event log has the counts.
    let events = silt_medallion::status::read_events(&p, None).await.unwrap();
    let logged = events.iter().any(|e| {
        e["event_type"] == "flow_progress"
            && e["details"]["expectations"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|x| x["name"] == "small" && x["failed_records"] == 1)
            })
    });
    assert!(logged, "no flow_progress event with the counts: {events:?}");
    // A violating row fails the strict flow: nothing of its batch commits,
    // the other flows still run, the update fails and names the record.
    write(&landing, "b.jsonl", "{\"x\":\"7\"}\n{\"x\":\"8\"}\n");
    let strict = lake.join("default/strict");
    let before = count(&format!(
        "SELECT count(*) FROM delta.'{}'",
        strict.display()
    ))
    .await;
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    let (flow, error) = r.failure().expect("the update fails");
    assert_eq!(flow, "default.strict");
    assert!(
        error.contains("not_seven") && error.contains("\"x\":\"7\""),
        "{error}"
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}'",
            strict.display()
        ))
        .await,
        before
    );
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", t.display())).await,
        5
    );
    // It fails again on the same data: the batch was not consumed.
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    assert!(r.failure().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_reprocesses_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(&landing, "a.jsonl", "{\"x\":\"1\"}\n{\"x\":\"2\"}\n");
    let p = pipeline(
        &lake,
        &landing,
        "CREATE OR REFRESH STREAMING TABLE raw AS SELECT x FROM STREAM read_files('${landing}', format => 'json');\nCREATE MATERIALIZED VIEW n AS SELECT count(*) AS c FROM raw;",
    );
    run(&p, &RunOptions::default()).await.unwrap();
    write(&landing, "b.jsonl", "{\"x\":\"3\"}\n");
    run(&p, &RunOptions::default()).await.unwrap();
    let raw = lake.join("default/raw");
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", raw.display())).await,
        3
    );
    let opts = RunOptions {
        full_refresh: vec!["raw".into()],
        ..RunOptions::default()
    };
    let r = &run(&p, &opts).await.unwrap()[0];
    assert!(r.succeeded(), "{:?}", r.failure());
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", raw.display())).await,
        3
    );
    assert_eq!(
        count(&format!(
            "SELECT c FROM delta.'{}'",
            lake.join("default/n").display()
        ))
        .await,
        3
    );
    let all = RunOptions {
        full_refresh_all: true,
        ..RunOptions::default()
    };
    run(&p, &all).await.unwrap();
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", raw.display())).await,
        3
    );
    let bad = RunOptions {
        full_refresh: vec!["nope".into()],
        ..RunOptions::default()
    };
    let e = run(&p, &bad).await.unwrap_err();
    assert!(e.to_string().contains("nope is not a dataset"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_schema_evolves_or_is_rescued() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(&landing, "day1/a.jsonl", "{\"a\":\"1\"}\n");
    let add = pipeline(
        &lake,
        &landing,
        "CREATE OR REFRESH STREAMING TABLE t AS SELECT * EXCEPT (_metadata) FROM STREAM read_files('${landing}', format => 'json');",
    );
    let rescue_lake = dir.path().join("lake2");
    let rescue = pipeline(
        &rescue_lake,
        &landing,
        "CREATE OR REFRESH STREAMING TABLE t AS SELECT * FROM STREAM read_files('${landing}', format => 'json', schemaEvolutionMode => 'rescue');",
    );
    let fail_lake = dir.path().join("lake3");
    let fail = pipeline(
        &fail_lake,
        &landing,
        "CREATE OR REFRESH STREAMING TABLE t AS SELECT * FROM STREAM read_files('${landing}', format => 'json', schemaEvolutionMode => 'failOnNewColumns');",
    );
    for p in [&add, &rescue, &fail] {
        assert!(run(p, &RunOptions::default()).await.unwrap()[0].succeeded());
    }
    // A new subdirectory with a new column.
    write(
        &landing,
        "day2/b.jsonl",
        "{\"a\":\"2\",\"b\":{\"n\":[1,2]}}\nnot json\n",
    );
    assert!(run(&add, &RunOptions::default()).await.unwrap()[0].succeeded());
    let t = lake.join("default/t");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}' WHERE b = '{{\"n\":[1,2]}}'",
            t.display()
        ))
        .await,
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}' WHERE _corrupt_record = 'not json'",
            t.display()
        ))
        .await,
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}' WHERE b IS NULL",
            t.display()
        ))
        .await,
        2
    );
    assert!(run(&rescue, &RunOptions::default()).await.unwrap()[0].succeeded());
    let r = rescue_lake.join("default/t");
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}' WHERE _rescued_data LIKE '%\"b\":%' AND _rescued_data LIKE '%[1,2]%' AND _rescued_data LIKE '%_file_path%'", r.display())).await,
        1
    );
    let f = &run(&fail, &RunOptions::default()).await.unwrap()[0];
    assert!(
        f.failure()
            .is_some_and(|(_, e)| e.contains("new columns b")),
        "{:?}",
        f.failure()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_sources_refuse_or_skip_change_commits() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let session = silt_sql::SiltSession::new();
    session
        .run(&format!(
            "CREATE TABLE delta.'{}' AS SELECT * FROM (VALUES (1), (2)) AS v(x)",
            src.display()
        ))
        .await
        .unwrap();
    let lake = dir.path().join("lake");
    let sql = format!(
        "CREATE OR REFRESH STREAMING TABLE copy AS SELECT x FROM STREAM delta.'{0}';\n\
         CREATE OR REFRESH STREAMING TABLE tolerant TBLPROPERTIES ('silt.stream.skipChangeCommits' = 'true') AS SELECT x FROM STREAM delta.'{0}';\n\
         CREATE OR REFRESH STREAMING TABLE tolerant_by_read AS SELECT s.x FROM STREAM(delta.'{0}') AS s WITH (skipChangeCommits = true);\n\
         CREATE OR REFRESH STREAMING TABLE strict_by_read TBLPROPERTIES ('silt.stream.skipChangeCommits' = 'true') AS SELECT x FROM STREAM delta.'{0}' WITH ('skipChangeCommits' = 'false');",
        src.display()
    );
    let p = pipeline(&lake, dir.path(), &sql);
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    session
        .run(&format!("INSERT INTO delta.'{}' VALUES (3)", src.display()))
        .await
        .unwrap();
    session
        .run(&format!(
            "DELETE FROM delta.'{}' WHERE x = 1",
            src.display()
        ))
        .await
        .unwrap();
    session
        .run(&format!("INSERT INTO delta.'{}' VALUES (4)", src.display()))
        .await
        .unwrap();
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    let copy = r.flows.iter().find(|f| f.target == "default.copy").unwrap();
    assert!(
        matches!(&copy.status, FlowStatus::Failed(e) if e.contains("changes existing rows") && e.contains("skipChangeCommits")),
        "{:?}",
        copy.status
    );
    let tolerant = r
        .flows
        .iter()
        .find(|f| f.target == "default.tolerant")
        .unwrap();
    assert_eq!(tolerant.status, FlowStatus::Completed);
    // Options given with the read: the same, and they override the
    // target's properties.
    let status = |t: &str| {
        r.flows
            .iter()
            .find(|f| f.target == t)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status("default.tolerant_by_read"), FlowStatus::Completed);
    assert!(
        matches!(status("default.strict_by_read"), FlowStatus::Failed(e) if e.contains("changes existing rows")),
        "{:?}",
        status("default.strict_by_read")
    );
    for t in ["tolerant", "tolerant_by_read"] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM delta.'{}'",
                lake.join("default").join(t).display()
            ))
            .await,
            4,
            "{t}"
        );
    }
    // A misspelt option is an analysis error naming it and its position,
    // found when the pipeline is defined.
    let err = Pipeline::builder("t", &dir.path().join("lake2").display().to_string())
        .sql(
            "t.sql",
            &format!(
                "CREATE STREAMING TABLE t AS SELECT x FROM STREAM delta.'{}' WITH (skipChangeCommit = true);",
                src.display()
            ),
        )
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("skipChangeCommit") && err.contains("t.sql:1"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_definitions_name_their_position_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let build = |sql: &str| {
        Pipeline::builder("t", &lake.display().to_string())
            .sql("bad.sql", sql)
            .build()
    };
    let e = build("CREATE STREAMING TABLE a AS SELECT 1 AS x;\n\nCREATE MATERIALIZED VIEW b\n  AS SELEC x FROM a").unwrap_err();
    assert!(
        matches!(e, PipelineError::Syntax { .. }) && e.to_string().starts_with("bad.sql:4:6"),
        "{e}"
    );
    let e = build("CREATE MATERIALIZED VIEW b AS SELECT x FROM missing").unwrap_err();
    assert!(
        e.to_string().contains("bad.sql:1:31") && e.to_string().contains("missing"),
        "{e}"
    );
    // A type error: found by dry-run, before anything is written.
    write(dir.path(), "x.jsonl", "{\"x\":\"1\"}\n");
    let p = Pipeline::builder("t", &lake.display().to_string())
        .conf("landing", &dir.path().display().to_string())
        .sql("ok.sql", "CREATE STREAMING TABLE a AS SELECT x FROM STREAM read_files('${landing}', format => 'json');\nCREATE MATERIALIZED VIEW b AS\n  SELECT nosuch + 1 FROM a;")
        .build()
        .unwrap();
    let e = silt_medallion::analysis::dry_run(&p).await.unwrap_err();
    assert!(
        e.to_string().starts_with("ok.sql:3:3") && e.to_string().contains("nosuch"),
        "{e}"
    );
    assert!(!lake.exists(), "dry-run wrote {lake:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landing_file_in_the_wrong_format_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(&landing, "a.parquet", "{\"x\": 1}\n");
    let p = pipeline(
        &lake,
        &landing,
        "CREATE STREAMING TABLE t AS SELECT * FROM STREAM read_files('${landing}', format => 'parquet');",
    );
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    let (_, e) = r.failure().expect("fails");
    assert!(
        e.contains("a.parquet") && e.contains("not a readable Parquet file"),
        "{e}"
    );
    assert!(!lake.join("default/t").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltalake_reads_every_table_the_pipeline_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(
        &landing,
        "a.jsonl",
        "{\"k\":\"a\",\"seq\":\"1\",\"v\":\"x\"}\n{\"k\":\"b\",\"seq\":\"2\",\"v\":\"y\"}\n{\"k\":\"a\",\"seq\":\"3\",\"v\":\"z\"}\n",
    );
    let p = pipeline(
        &lake,
        &landing,
        "CREATE STREAMING TABLE raw AS SELECT k, CAST(seq AS BIGINT) AS seq, v FROM STREAM read_files('${landing}', format => 'json');\nCREATE STREAMING TABLE s1;\nCREATE FLOW f AS AUTO CDC INTO s1 FROM STREAM(raw) KEYS (k) SEQUENCE BY seq;\nCREATE STREAMING TABLE s2;\nCREATE FLOW g AS AUTO CDC INTO s2 FROM STREAM(raw) KEYS (k) SEQUENCE BY seq STORED AS SCD TYPE 2;\nCREATE MATERIALIZED VIEW m AS SELECT k, max(seq) AS s FROM s1 GROUP BY k;",
    );
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    let script = "import sys, deltalake\nfor path, n in zip(sys.argv[1::2], sys.argv[2::2]):\n    t = deltalake.DeltaTable(path).to_pyarrow_table()\n    assert t.num_rows == int(n), (path, t.num_rows, n)\nprint('ok')\n";
    let mut args: Vec<String> = Vec::new();
    for (t, n) in [("raw", 3), ("s1", 2), ("s2", 3), ("m", 2)] {
        args.push(lake.join("default").join(t).display().to_string());
        args.push(n.to_string());
    }
    args.push(lake.join("_silt/event_log").display().to_string());
    args.push(
        count(&format!(
            "SELECT count(*) FROM delta.'{}'",
            lake.join("_silt/event_log").display()
        ))
        .await
        .to_string(),
    );
    // The peer runner fails the test when deltalake is missing.
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = silt_testkit::peer::run_peer_script(script, &args);
    assert!(out.contains("ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_columns_are_cast_and_stream_static_joins_see_the_current_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(
        &landing,
        "events/a.jsonl",
        "{\"id\":\"1\",\"kind\":\"a\",\"amount\":\"2.5\"}\n{\"id\":\"2\",\"kind\":\"b\",\"amount\":\"4\"}\n",
    );
    write(
        &landing,
        "kinds/k.jsonl",
        "{\"kind\":\"a\",\"label\":\"alpha\"}\n",
    );
    let sql = "CREATE STREAMING TABLE events (id BIGINT NOT NULL, amount DOUBLE) AS SELECT id, kind, amount FROM STREAM read_files('${landing}/events', format => 'json');\n\
               CREATE MATERIALIZED VIEW kinds AS SELECT kind, label FROM read_files('${landing}/kinds', format => 'json');\n\
               CREATE STREAMING TABLE labelled AS SELECT e.id, k.label FROM STREAM(events) e JOIN kinds k ON e.kind = k.kind;";
    let p = pipeline(&lake, &landing, sql);
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    assert!(r.succeeded(), "{:?}", r.failure());
    let events = lake.join("default/events");
    let session = silt_sql::SiltSession::new();
    let b = session
        .run(&format!(
            "SELECT id, amount FROM delta.'{}' ORDER BY id",
            events.display()
        ))
        .await
        .unwrap();
    assert_eq!(
        b[0].schema().field(0).data_type(),
        &arrow_schema::DataType::Int64
    );
    assert_eq!(
        b[0].schema().field(1).data_type(),
        &arrow_schema::DataType::Float64
    );
    let labelled = lake.join("default/labelled");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}'",
            labelled.display()
        ))
        .await,
        1
    );
    // The dimension grows: new events join its current version, old ones
    // are not reprocessed.
    write(
        &landing,
        "kinds/k2.jsonl",
        "{\"kind\":\"b\",\"label\":\"beta\"}\n",
    );
    write(
        &landing,
        "events/b.jsonl",
        "{\"id\":\"3\",\"kind\":\"b\",\"amount\":\"1\"}\n",
    );
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}' WHERE label = 'beta'",
            labelled.display()
        ))
        .await,
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM delta.'{}'",
            labelled.display()
        ))
        .await,
        2
    );
    // A declared NOT NULL column refuses a row without a value.
    write(
        &landing,
        "events/c.jsonl",
        "{\"kind\":\"a\",\"amount\":\"1\"}\n",
    );
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    assert!(
        r.failure().is_some_and(|(_, e)| e.contains("id_not_null")),
        "{:?}",
        r.failure()
    );
    let e = Pipeline::builder("t", "/tmp/x")
        .sql(
            "c.sql",
            "CREATE MATERIALIZED VIEW m CLUSTER BY (a) AS SELECT 1 AS a",
        )
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("CLUSTER BY is not supported"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_file_age_bounds_the_progress_and_ignores_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    let day = std::time::Duration::from_secs(86_400);
    let now = std::time::SystemTime::now();
    let land = |name: &str, text: &str, age_days: u32| {
        write(&landing, name, text);
        let f = std::fs::File::options()
            .write(true)
            .open(landing.join(name))
            .unwrap();
        f.set_modified(now - day * age_days).unwrap();
    };
    land("d1/a.jsonl", "{\"x\":\"1\"}\n", 10);
    land("d9/b.jsonl", "{\"x\":\"2\"}\n", 2);
    land("d10/c.jsonl", "{\"x\":\"3\"}\n", 0);
    let p = pipeline(
        &lake,
        &landing,
        "CREATE STREAMING TABLE t AS SELECT x FROM STREAM read_files('${landing}', format => 'json', maxFileAge => '7 days');",
    );
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    let t = lake.join("default/t");
    // Everything present at the start is ingested; the progress then keeps
    // only files within the age of the newest.
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", t.display())).await,
        3
    );
    // Old files arriving late stay ignored; the progress holds only recent ones.
    land("d0/old.jsonl", "{\"x\":\"0\"}\n", 30);
    land("d11/d.jsonl", "{\"x\":\"4\"}\n", 0);
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(
        count(&format!("SELECT count(*) FROM delta.'{}'", t.display())).await,
        4
    );
    let files = files_progress(&lake).await;
    assert_eq!(files.files.len(), 3, "{files:?}");
    assert!(files.cutoff_ms.is_some());
}

/// The landing progress of table `t` (flow `default.t`) in `lake`.
async fn files_progress(lake: &std::path::Path) -> silt_medallion::sources::files::FilesProgress {
    let snapshot = silt_store::TableBuilder::new(lake.join("default/t").display().to_string())
        .load()
        .await
        .unwrap();
    let progress =
        silt_medallion::progress::FlowProgress::read(Some(&snapshot), "t", "default.t").unwrap();
    progress.files.into_values().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_stays_bounded_by_default_and_a_backlog_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    let day = std::time::Duration::from_secs(86_400);
    let now = std::time::SystemTime::now();
    let land = |name: &str, x: u32, age_days: u32| {
        write(&landing, name, &format!("{{\"x\":\"{x}\"}}\n"));
        let f = std::fs::File::options()
            .write(true)
            .open(landing.join(name))
            .unwrap();
        f.set_modified(now - day * age_days).unwrap();
    };
    // A backlog over 40 days, named so that old and new files interleave,
    // read one file per batch: the cutoff must not pass a file still to read.
    for (i, age) in [0u32, 40, 3, 30, 9, 20, 1, 10].iter().enumerate() {
        land(&format!("d{i}/f.jsonl"), i as u32, *age);
    }
    let sql = |age: &str| {
        format!(
            "CREATE STREAMING TABLE t AS SELECT x FROM STREAM read_files('${{landing}}', format => 'json', maxFilesPerTrigger => '1'{age});"
        )
    };
    let p = pipeline(&lake, &landing, &sql(""));
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    let t = lake.join("default/t");
    let rows = |t: std::path::PathBuf| async move {
        count(&format!("SELECT count(*) FROM delta.'{}'", t.display())).await
    };
    assert_eq!(rows(t.clone()).await, 8, "every file of the backlog");
    // More files: the progress keeps only the last 7 days' files, whatever
    // was ingested before.
    for i in 8..40 {
        land(&format!("e{i}/f.jsonl"), i, 0);
    }
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(rows(t.clone()).await, 40);
    let files = files_progress(&lake).await;
    assert_eq!(files.files.len(), 32 + 3, "{files:?}"); // ages 0, 3, 1 days and the new ones
    assert!(files.cutoff_ms.is_some());
    // maxFileAge 'none' keeps every file (and ignores none).
    let lake2 = dir.path().join("lake2");
    let p = pipeline(&lake2, &landing, &sql(", maxFileAge => 'none'"));
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    let files = files_progress(&lake2).await;
    assert_eq!((files.files.len(), files.cutoff_ms), (40, None));
}

/// Landing directories named in order (`round-1` … `round-10`) are listed
/// incrementally (`useIncrementalListing` `true`; `auto` once it has seen
/// files land in order) after the first run: the progress keeps the
/// watermark and the time of the one full listing. A late file in an old
/// directory is found by the next full listing (`backfillInterval`),
/// ingested once, and the source is marked out of order (`auto` then lists
/// it in full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_directories_are_listed_incrementally_and_late_files_are_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    let mut x = 0;
    let mut land = |name: &str| {
        x += 1;
        write(&landing, name, &format!("{{\"x\":\"{x}\"}}\n"));
    };
    for r in 1..=3 {
        land(&format!("round-{r}/a.jsonl"));
        land(&format!("round-{r}/b.jsonl"));
    }
    let sql = |extra: &str| {
        format!(
            "CREATE STREAMING TABLE t AS SELECT x FROM STREAM read_files('${{landing}}', format => 'json', maxFilesPerTrigger => '2', useIncrementalListing => 'true'{extra});"
        )
    };
    let p = pipeline(&lake, &landing, &sql(""));
    update_ok(&p).await;
    let t = lake.join("default/t");
    assert_eq!(count_at(&t).await, 6);
    let first = files_progress(&lake).await;
    assert_eq!(first.watermark.as_deref(), Some("round-3/b.jsonl"));
    let full_at = first.full_listed_ms.expect("the first listing is full");
    land("round-10/a.jsonl");
    update_ok(&p).await;
    assert_eq!(count_at(&t).await, 7);
    let second = files_progress(&lake).await;
    assert_eq!(second.watermark.as_deref(), Some("round-10/a.jsonl"));
    assert_eq!(second.full_listed_ms, Some(full_at), "listed incrementally");
    // A late file in an old directory waits for a full listing.
    land("round-2/late.jsonl");
    update_ok(&p).await;
    assert_eq!(count_at(&t).await, 7);
    let p = pipeline(&lake, &landing, &sql(", backfillInterval => '1 ms'"));
    update_ok(&p).await;
    assert_eq!(count_at(&t).await, 8, "found by the backfill, once");
    let third = files_progress(&lake).await;
    assert!(third.out_of_order);
    update_ok(&p).await;
    assert_eq!(count_at(&t).await, 8);
    let distinct = count(&format!(
        "SELECT count(DISTINCT x) FROM delta.'{}'",
        t.display()
    ))
    .await;
    assert_eq!(distinct, 8);
}

/// The files below `dir`, relative, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_source_moves_or_deletes_ingested_files_and_the_progress_forgets_them() {
    for mode in ["move", "delete"] {
        let dir = tempfile::tempdir().unwrap();
        let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
        let archive = dir.path().join("archive");
        for i in 0..5 {
            write(
                &landing,
                &format!("r{}/f{i}.jsonl", i % 2),
                &format!("{{\"x\":\"{i}\"}}\n"),
            );
        }
        let clean = if mode == "move" {
            format!(
                "cleanSource => 'move', sourceArchiveDir => '{}'",
                archive.display()
            )
        } else {
            "cleanSource => 'delete'".to_string()
        };
        let p = pipeline(
            &lake,
            &landing,
            &format!(
                "CREATE STREAMING TABLE t AS SELECT x FROM STREAM read_files('${{landing}}', format => 'json', maxFilesPerTrigger => '2', {clean});"
            ),
        );
        let t = lake.join("default/t");
        let rows = || count_at(&t);
        for round in 0..3 {
            assert!(
                run(&p, &RunOptions::default()).await.unwrap()[0].succeeded(),
                "{mode}"
            );
            assert_eq!(rows().await, 5 + round * 2, "{mode} round {round}");
            // At most the last batch's files are still in the landing
            // directory and in the progress.
            assert!(
                files_below(&landing).len() <= 2,
                "{mode}: {:?}",
                files_below(&landing)
            );
            assert!(files_progress(&lake).await.files.len() <= 2, "{mode}");
            for i in 0..2 {
                let n = 5 + round * 2 + i;
                write(
                    &landing,
                    &format!("r{round}/g{n}.jsonl"),
                    &format!("{{\"x\":\"{n}\"}}\n"),
                );
            }
        }
        assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
        assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
        assert_eq!(rows().await, 11, "{mode}: each file once");
        assert_eq!(files_below(&landing), Vec::<String>::new(), "{mode}");
        let archived = files_below(&archive);
        assert_eq!(
            archived.len(),
            if mode == "move" { 11 } else { 0 },
            "{mode}: {archived:?}"
        );
        if mode == "move" {
            assert!(
                archived.contains(&"r0/f0.jsonl".to_string()),
                "{archived:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_source_refuses_an_archive_that_would_be_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(&landing, "a.jsonl", "{\"x\":\"1\"}\n");
    write(&landing, "b.jsonl", "{\"x\":\"2\"}\n");
    let sql = |to: &str| {
        format!(
            "CREATE STREAMING TABLE t AS SELECT x FROM STREAM read_files('${{landing}}', format => 'json', maxFilesPerTrigger => '1', cleanSource => 'move', sourceArchiveDir => '{to}');"
        )
    };
    let p = pipeline(
        &lake,
        &landing,
        &sql(&landing.join("done").display().to_string()),
    );
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    let (_, e) = r
        .failure()
        .expect("an archive inside the landing directory fails");
    assert!(e.contains("inside the landing directory"), "{e}");
    // A hidden directory inside it is not listed: allowed.
    let lake2 = dir.path().join("lake2");
    let p = pipeline(
        &lake2,
        &landing,
        &sql(&landing.join("_done").display().to_string()),
    );
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(count_at(&lake2.join("default/t")).await, 2);
    assert_eq!(files_below(&landing.join("_done")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_a_sequence_fails_its_flow_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(
        &landing,
        "a.jsonl",
        "{\"k\":\"a\",\"seq\":\"1\"}\n{\"k\":\"b\"}\n",
    );
    let p = pipeline(
        &lake,
        &landing,
        "CREATE STREAMING TABLE raw AS SELECT k, CAST(seq AS BIGINT) AS seq FROM STREAM read_files('${landing}', format => 'json');\nCREATE STREAMING TABLE s;\nCREATE FLOW f AS AUTO CDC INTO s FROM STREAM(raw) KEYS (k) SEQUENCE BY seq;",
    );
    let r = &run(&p, &RunOptions::default()).await.unwrap()[0];
    let (flow, e) = r.failure().expect("fails");
    assert_eq!(flow, "f");
    assert!(e.contains("1 change row(s) have a NULL seq"), "{e}");
    assert!(!lake.join("default/s").exists());
}

/// Runs a triggered update that must succeed.
async fn update_ok(p: &Pipeline) {
    let r = run(p, &RunOptions::default()).await.unwrap();
    assert!(r.iter().all(|r| r.succeeded()), "{:?}", r[0].failure());
}

/// The rows of `t` as `k=v` strings, by key.
async fn key_values(t: &Path) -> Vec<String> {
    let session = silt_sql::SiltSession::new();
    let batches = session
        .run(&format!(
            "SELECT k || '=' || CAST(v AS VARCHAR) AS kv FROM delta.'{}' ORDER BY k",
            t.display()
        ))
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in batches {
        let c = arrow_cast::cast(b.column(0), &arrow_schema::DataType::Utf8).unwrap();
        let c = c
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        out.extend((0..arrow_array::Array::len(c)).map(|i| c.value(i).to_string()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncate_keeps_wiping_changes_sequenced_before_it_that_arrive_later() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    let p = pipeline(
        &lake,
        &landing,
        "CREATE STREAMING TABLE raw AS SELECT k, CAST(v AS BIGINT) AS v, CAST(seq AS BIGINT) AS seq, op \
         FROM STREAM read_files('${landing}', format => 'json');\n\
         CREATE STREAMING TABLE s;\n\
         CREATE FLOW f AS AUTO CDC INTO s FROM STREAM(raw) KEYS (k) \
         APPLY AS DELETE WHEN op = 'D' APPLY AS TRUNCATE WHEN op = 'T' \
         SEQUENCE BY seq COLUMNS * EXCEPT (op);",
    );
    let s = lake.join("default/s");
    write(
        &landing,
        "1.jsonl",
        "{\"k\":\"a\",\"v\":\"1\",\"seq\":\"1\",\"op\":\"U\"}\n{\"k\":\"b\",\"v\":\"1\",\"seq\":\"2\",\"op\":\"U\"}\n",
    );
    update_ok(&p).await;
    assert_eq!(key_values(&s).await, ["a=1", "b=1"]);
    // A truncate at 5: the table is wiped, c (sequenced before it) never
    // lands, d (after it) does.
    write(
        &landing,
        "2.jsonl",
        "{\"k\":\"c\",\"v\":\"1\",\"seq\":\"3\",\"op\":\"U\"}\n{\"op\":\"T\",\"seq\":\"5\"}\n{\"k\":\"d\",\"v\":\"1\",\"seq\":\"6\",\"op\":\"U\"}\n",
    );
    update_ok(&p).await;
    assert_eq!(key_values(&s).await, ["d=1"]);
    // Late: e sequenced before the truncate stays wiped; a after it lands.
    write(
        &landing,
        "3.jsonl",
        "{\"k\":\"e\",\"v\":\"1\",\"seq\":\"4\",\"op\":\"U\"}\n{\"k\":\"a\",\"v\":\"2\",\"seq\":\"7\",\"op\":\"U\"}\n",
    );
    update_ok(&p).await;
    assert_eq!(key_values(&s).await, ["a=2", "d=1"]);
    // A full refresh reprocesses everything in one batch: the same table.
    let opts = RunOptions {
        full_refresh: vec!["s".into()],
        ..RunOptions::default()
    };
    let r = run(&p, &opts).await.unwrap();
    assert!(r.iter().all(|r| r.succeeded()), "{:?}", r[0].failure());
    assert_eq!(key_values(&s).await, ["a=2", "d=1"]);
}

/// A pipeline with DataFrame datasets (SQL bronze, a DataFrame streaming
/// table, a SQL-declared table with an expectation whose body is a
/// DataFrame, a DataFrame materialized view over it).
fn frame_pipeline(lake: &Path, landing: &Path) -> Pipeline {
    use silt_medallion::definition::DatasetKind;
    use silt_sql::datafusion::arrow::datatypes::DataType;
    use silt_sql::datafusion::functions_aggregate::expr_fn::{count, sum};
    use silt_sql::datafusion::logical_expr::try_cast;
    use silt_sql::datafusion::prelude::{col, lit};
    Pipeline::builder("frames", &lake.display().to_string())
        .conf("landing", &landing.display().to_string())
        .sql(
            "t.sql",
            "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files('${landing}', format => 'json');
             CREATE STREAMING TABLE checked (CONSTRAINT small EXPECT (n < 100) ON VIOLATION DROP ROW);",
        )
        .dataframe(DatasetKind::StreamingTable, "typed", &["STREAM(raw)"], |inputs| {
            let raw = inputs.into_iter().next().expect("one input");
            raw.select(vec![
                col("k"),
                try_cast(col("n"), DataType::Int64).alias("n"),
            ])?
            .filter(col("n").is_not_null())
        })
        .dataframe(DatasetKind::StreamingTable, "checked", &["STREAM(typed)"], |inputs| {
            Ok(inputs.into_iter().next().expect("one input"))
        })
        .dataframe(DatasetKind::MaterializedView, "gold.per_key", &["checked"], |inputs| {
            inputs
                .into_iter()
                .next()
                .expect("one input")
                .aggregate(
                    vec![col("k")],
                    vec![sum(col("n")).alias("total"), count(lit(1)).alias("rows")],
                )
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataframe_datasets_run_incrementally_beside_sql_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    write(
        &landing,
        "a.jsonl",
        "{\"k\":\"a\",\"n\":1}\n{\"k\":\"b\",\"n\":2}\n{\"k\":\"a\",\"n\":500}\n{\"k\":\"a\",\"n\":\"x\"}\n",
    );
    let p = frame_pipeline(&lake, &landing);
    let dry = silt_medallion::analysis::dry_run(&p).await.unwrap();
    assert!(format!("{dry:?}").contains("per_key"), "{dry:?}");
    let report = run(&p, &RunOptions::default()).await.unwrap();
    assert!(report[0].succeeded(), "{report:?}");
    let per_key = |lake: std::path::PathBuf| async move {
        let session = silt_sql::SiltSession::new();
        let b = session
            .run(&format!(
                "SELECT k || ':' || CAST(total AS VARCHAR) || ':' || CAST(\"rows\" AS VARCHAR) AS r FROM delta.'{}' ORDER BY k",
                lake.join("gold/per_key").display()
            ))
            .await
            .unwrap();
        let mut out = Vec::new();
        for batch in &b {
            let a = silt_sql::datafusion::arrow::array::AsArray::as_string_view_opt(
                batch.column(0).as_ref(),
            )
            .map(|a| a.iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|| {
                silt_sql::datafusion::arrow::array::AsArray::as_string::<i32>(
                    batch.column(0).as_ref(),
                )
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect()
            });
            out.extend(a);
        }
        out
    };
    // 500 is dropped by the expectation, "x" by the body's filter.
    assert_eq!(per_key(lake.clone()).await, ["a:1:1", "b:2:1"]);
    write(
        &landing,
        "b.jsonl",
        "{\"k\":\"a\",\"n\":10}\n{\"k\":\"c\",\"n\":3}\n",
    );
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(per_key(lake.clone()).await, ["a:11:2", "b:2:1", "c:3:1"]);
    // Each streaming table read each row once.
    assert_eq!(count_at(&lake.join("default/typed")).await, 5);
    assert_eq!(count_at(&lake.join("default/checked")).await, 4);
    // A body that does not fit its inputs fails the dry run, naming it.
    let bad = Pipeline::builder("bad", &lake.display().to_string())
        .sql("t.sql", "CREATE MATERIALIZED VIEW v AS SELECT 1 AS a;")
        .dataframe(
            silt_medallion::definition::DatasetKind::MaterializedView,
            "w",
            &["v"],
            |inputs| {
                inputs
                    .into_iter()
                    .next()
                    .expect("one input")
                    .select_columns(&["nope"])
            },
        )
        .build()
        .unwrap();
    let e = silt_medallion::analysis::dry_run(&bad).await.unwrap_err();
    assert!(
        e.to_string().contains("<dataframe w>") && e.to_string().contains("nope"),
        "{e}"
    );
}

/// A materialized view over landing files read whole is skipped without
/// reading them while they are unchanged: here an unchanged file whose
/// bytes went bad does not fail the update, and the next change, which
/// needs them read, does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_landing_input_is_not_read_to_skip_a_view() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("in"), dir.path().join("lake"));
    std::fs::create_dir_all(&landing).unwrap();
    let file = landing.join("a.parquet");
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "x",
        std::sync::Arc::new(arrow_array::Int64Array::from(vec![1, 2, 3])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let p = pipeline(
        &lake,
        &landing,
        "CREATE MATERIALIZED VIEW v AS SELECT sum(x) AS s FROM read_files('${landing}', format => 'parquet');",
    );
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(
        count(&format!(
            "SELECT s FROM delta.'{}'",
            lake.join("default/v").display()
        ))
        .await,
        6
    );
    // Same path, size and modification time, unreadable bytes.
    let meta = std::fs::metadata(&file).unwrap();
    std::fs::write(&file, vec![b'x'; meta.len() as usize]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    let r = run(&p, &RunOptions::default()).await.unwrap();
    assert!(
        matches!(&r[0].flows[0].status, FlowStatus::Skipped(why) if why.contains("unchanged")),
        "{r:?}"
    );
    // A new file changes the input: now every file is read.
    std::fs::write(landing.join("b.parquet"), std::fs::read(&file).unwrap()).unwrap();
    let r = run(&p, &RunOptions::default()).await.unwrap();
    let (_, e) = r[0].failure().expect("reading the bad file fails the view");
    assert!(e.contains("not a readable Parquet file"), "{e}");
}
