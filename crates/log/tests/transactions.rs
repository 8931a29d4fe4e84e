//! Transactions end to end on the in-memory store: create, append, rebase
//! over concurrent commits, conflicts by rule, idempotent application
//! transactions, in-commit timestamps, row tracking, refusals and faults.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;

use silt_log::actions::{Add, Metadata, Protocol, Remove, parse_action_line};
use silt_log::conflict::ConflictRule;
use silt_log::transaction::CommitOptions;
use silt_log::{Action, CommitOutcome, LogError, LogStore, Operation, Snapshot, Transaction};
use silt_testkit::{MemoryLogStore, PutFault};

fn metadata(config: &str, partitioned: bool) -> Metadata {
    let parts = if partitioned { r#"["p"]"# } else { "[]" };
    serde_json::from_str(&format!(
        r#"{{"id":"t","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{{\"type\":\"struct\",\"fields\":[{{\"name\":\"p\",\"type\":\"string\",\"nullable\":true,\"metadata\":{{}}}},{{\"name\":\"v\",\"type\":\"long\",\"nullable\":true,\"metadata\":{{}}}}]}}","partitionColumns":{parts},"configuration":{config}}}"#
    ))
    .unwrap()
}

fn protocol(json: &str) -> Protocol {
    serde_json::from_str(json).unwrap()
}

fn legacy() -> Protocol {
    protocol(r#"{"minReaderVersion":1,"minWriterVersion":2}"#)
}

fn add(path: &str, part: Option<&str>, records: i64) -> Add {
    let pv = part.map(|p| format!(r#""p":"{p}""#)).unwrap_or_default();
    let line = format!(
        r#"{{"add":{{"path":"{path}","partitionValues":{{{pv}}},"size":100,"modificationTime":1,"dataChange":true,"stats":"{{\"numRecords\":{records}}}"}}}}"#
    );
    match parse_action_line(line.as_bytes()).unwrap().unwrap() {
        Action::Add(a) => *a,
        _ => unreachable!(),
    }
}

fn remove(a: &Add) -> Remove {
    Remove {
        path: a.path.clone(),
        deletion_timestamp: Some(2),
        data_change: true,
        extended_file_metadata: Some(true),
        partition_values: Some(a.partition_values.clone()),
        size: Some(a.size),
        stats: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    }
}

async fn create(store: &Arc<MemoryLogStore>, p: Protocol, m: Metadata) -> Snapshot {
    let outcome = Transaction::create_table(store.clone(), p, m)
        .commit()
        .await
        .unwrap();
    assert_eq!(outcome.version(), Some(0));
    Snapshot::builder(store.clone()).load().await.unwrap()
}

fn committed(o: CommitOutcome) -> silt_log::Committed {
    match o {
        CommitOutcome::Committed(c) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn create_append_and_read_back() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", true)).await;
    let c = committed(
        s0.transaction(Operation::append())
            .add_files([add("p=a/1.parquet", Some("a"), 10)])
            .commit()
            .await
            .unwrap(),
    );
    assert_eq!((c.version, c.retries), (1, 0));
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(
        (s1.version(), s1.files().len(), s1.num_records()),
        (1, 1, Some(10))
    );
    let history = silt_log::read_history(store.as_ref(), None).await.unwrap();
    let info = history[0].commit_info.as_ref().unwrap();
    assert_eq!(info.operation.as_deref(), Some("WRITE"));
    assert_eq!(info.is_blind_append, Some(true));
    assert!(info.engine_info.as_deref().unwrap().starts_with("silt/"));
    // Creating again is refused.
    let again = Transaction::create_table(store.clone(), legacy(), metadata("{}", true))
        .commit()
        .await;
    assert!(matches!(again, Err(LogError::TableAlreadyExists { .. })));
}

#[tokio::test]
async fn blind_appends_rebase_over_each_other() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", true)).await;
    let t1 = s0
        .transaction(Operation::append())
        .add_files([add("1.parquet", Some("a"), 1)]);
    let t2 = s0
        .transaction(Operation::append())
        .add_files([add("2.parquet", Some("a"), 1)]);
    assert_eq!(committed(t1.commit().await.unwrap()).version, 1);
    let c2 = committed(t2.commit().await.unwrap());
    assert_eq!((c2.version, c2.retries), (2, 1));
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s.files().len(), 2);
}

#[tokio::test]
async fn conflicts_name_the_rule_and_winner() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", true)).await;
    let f = add("p=a/1.parquet", Some("a"), 5);
    committed(
        s0.transaction(Operation::append())
            .add_files([f.clone()])
            .commit()
            .await
            .unwrap(),
    );
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    let pa = f.partition_values.clone();

    // Two deletes of the same file: the second loses with a delete conflict.
    let d1 = s1
        .transaction(Operation::delete())
        .read_partitions([pa.clone()])
        .read_files([f.path.to_string()])
        .remove_files([remove(&f)]);
    let d2 = s1
        .transaction(Operation::delete())
        .read_partitions([pa.clone()])
        .read_files([f.path.to_string()])
        .remove_files([remove(&f)]);
    assert_eq!(committed(d1.commit().await.unwrap()).version, 2);
    match d2.commit().await.unwrap() {
        CommitOutcome::Conflict(c) => {
            assert_eq!(c.rule, ConflictRule::ConcurrentDeleteRead);
            assert_eq!(c.winning_version, 2);
        }
        other => panic!("{other:?}"),
    }

    // A read of partition a conflicts with a non-blind add into a, not b.
    let s2 = Snapshot::builder(store.clone()).load().await.unwrap();
    let reader = |s: &Snapshot| {
        s.transaction(Operation::update())
            .read_partitions([pa.clone()])
            .add_files([add("p=a/u.parquet", Some("a"), 1)])
    };
    let r = reader(&s2);
    let winner_b = s2
        .transaction(Operation::update())
        .read_whole_table()
        .add_files([add("p=b/x.parquet", Some("b"), 1)]);
    committed(winner_b.commit().await.unwrap());
    assert!(matches!(
        r.commit().await.unwrap(),
        CommitOutcome::Committed(_)
    ));
    let s4 = Snapshot::builder(store.clone()).load().await.unwrap();
    let r = reader(&s4);
    let winner_a = s4
        .transaction(Operation::merge())
        .read_whole_table()
        .add_files([add("p=a/m.parquet", Some("a"), 1)]);
    committed(winner_a.commit().await.unwrap());
    match r.commit().await.unwrap() {
        CommitOutcome::Conflict(c) => assert_eq!(c.rule, ConflictRule::ConcurrentAppend),
        other => panic!("{other:?}"),
    }

    // Two metadata changes.
    let s5 = Snapshot::builder(store.clone()).load().await.unwrap();
    let m1 = s5
        .transaction(Operation::set_table_properties())
        .update_metadata(metadata(r#"{"a":"1"}"#, true));
    let m2 = s5
        .transaction(Operation::set_table_properties())
        .update_metadata(metadata(r#"{"a":"2"}"#, true));
    committed(m1.commit().await.unwrap());
    match m2.commit().await.unwrap() {
        CommitOutcome::Conflict(c) => assert_eq!(c.rule, ConflictRule::MetadataChanged),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn app_transactions_are_idempotent() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", false)).await;
    let batch = |s: &Snapshot, n: i64| {
        s.transaction(Operation::append())
            .set_app_transaction("stream-1", n)
            .add_files([add(&format!("b{n}.parquet"), None, 1)])
    };
    committed(batch(&s0, 5).commit().await.unwrap());
    // A retry from a stale snapshot finds the batch in the winning commit.
    match batch(&s0, 5).commit().await.unwrap() {
        CommitOutcome::AlreadyApplied {
            app_id,
            app_version,
            table_version,
        } => {
            assert_eq!(
                (app_id.as_str(), app_version, table_version),
                ("stream-1", 5, 1)
            );
        }
        other => panic!("{other:?}"),
    }
    // A retry from a fresh snapshot is refused before writing.
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s1.txn_version("stream-1"), Some(5));
    assert!(matches!(
        batch(&s1, 5).commit().await.unwrap(),
        CommitOutcome::AlreadyApplied { .. }
    ));
    assert!(matches!(
        batch(&s1, 4).commit().await.unwrap(),
        CommitOutcome::AlreadyApplied { .. }
    ));
    assert_eq!(committed(batch(&s1, 6).commit().await.unwrap()).version, 2);
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s.files().len(), 2, "batch 5 written once");
}

#[tokio::test]
async fn in_commit_timestamps_are_monotonic() {
    let store = Arc::new(MemoryLogStore::default());
    let p = protocol(
        r#"{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["inCommitTimestamp","appendOnly","invariants"]}"#,
    );
    // A clock that stands still until the test moves it.
    let now = Arc::new(silt_log::SeededEnvironment::new(1, 4_000, 0));
    let opts = CommitOptions {
        env: now.clone(),
        ..Default::default()
    };
    let created = Transaction::create_table(
        store.clone(),
        p,
        metadata(r#"{"delta.enableInCommitTimestamps":"true"}"#, false),
    )
    .with_options(opts.clone())
    .commit()
    .await
    .unwrap();
    assert_eq!(created.version(), Some(0));
    now.set_now(5_000);
    let s0 = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s0.in_commit_timestamp(), Some(4_000));
    let t1 = s0
        .transaction(Operation::append())
        .with_options(opts.clone())
        .add_files([add("1", None, 1)]);
    let t2 = s0
        .transaction(Operation::append())
        .with_options(opts.clone())
        .add_files([add("2", None, 1)]);
    assert_eq!(
        committed(t1.commit().await.unwrap()).in_commit_timestamp,
        Some(5_000)
    );
    // The clock goes backwards; the rebased commit still gets a later time.
    now.set_now(1_000);
    let c2 = committed(t2.commit().await.unwrap());
    assert_eq!((c2.version, c2.in_commit_timestamp), (2, Some(5_001)));
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s.timestamp_ms(), 5_001);
    let at = Snapshot::builder(store.clone())
        .at_timestamp(5_000)
        .load()
        .await
        .unwrap();
    assert_eq!(at.version(), 1);
}

#[tokio::test]
async fn row_ids_are_reassigned_on_rebase() {
    let store = Arc::new(MemoryLogStore::default());
    let p = protocol(
        r#"{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["rowTracking","domainMetadata"]}"#,
    );
    let s0 = create(
        &store,
        p,
        metadata(r#"{"delta.enableRowTracking":"true"}"#, false),
    )
    .await;
    let t1 = s0
        .transaction(Operation::append())
        .add_files([add("1", None, 10)]);
    let t2 = s0
        .transaction(Operation::append())
        .add_files([add("2", None, 5), add("3", None, 1)]);
    committed(t1.commit().await.unwrap());
    committed(t2.commit().await.unwrap());
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    let mut ids: Vec<(String, i64, i64)> = s
        .files()
        .iter()
        .map(|f| {
            (
                f.path.to_string(),
                f.base_row_id.unwrap(),
                f.default_row_commit_version.unwrap(),
            )
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![("1".into(), 0, 1), ("2".into(), 10, 2), ("3".into(), 15, 2)]
    );
    let hwm = &s.domains()["delta.rowTracking"].configuration;
    assert_eq!(hwm, r#"{"rowIdHighWaterMark":15}"#);
}

#[tokio::test]
async fn refusals_write_nothing() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(
        &store,
        legacy(),
        metadata(r#"{"delta.appendOnly":"true"}"#, false),
    )
    .await;
    let f = add("1", None, 1);
    committed(
        s0.transaction(Operation::append())
            .add_files([f.clone()])
            .commit()
            .await
            .unwrap(),
    );
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    let err = s1
        .transaction(Operation::delete())
        .remove_files([remove(&f)])
        .commit()
        .await;
    assert!(
        matches!(err, Err(LogError::InvalidTransaction { .. })),
        "{err:?}"
    );

    let unknown = protocol(
        r#"{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["icebergCompatV2"]}"#,
    );
    let store2 = Arc::new(MemoryLogStore::default());
    let err = Transaction::create_table(store2.clone(), unknown, metadata("{}", false))
        .commit()
        .await;
    assert!(
        matches!(&err, Err(LogError::UnsupportedWriter { reason, .. }) if reason.contains("Iceberg field ids")),
        "the refusal names what is missing: {err:?}"
    );
    assert!(store2.paths().is_empty());

    // Adding a partitioned file without its partition value.
    let store3 = Arc::new(MemoryLogStore::default());
    let s = create(&store3, legacy(), metadata("{}", true)).await;
    let err = s
        .transaction(Operation::append())
        .add_files([add("x", None, 1)])
        .commit()
        .await;
    assert!(
        matches!(err, Err(LogError::InvalidTransaction { .. })),
        "{err:?}"
    );
    assert_eq!(store.paths().len(), 2);
}

#[tokio::test]
async fn lost_put_response_is_resolved_by_reading_back() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", false)).await;
    store.inject_put_fault(PutFault::FailAfterWrite);
    let c = committed(
        s0.transaction(Operation::append())
            .add_files([add("1", None, 1)])
            .commit()
            .await
            .unwrap(),
    );
    assert_eq!(c.version, 1);
    store.inject_put_fault(PutFault::FailBeforeWrite);
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    let c = committed(
        s1.transaction(Operation::append())
            .add_files([add("2", None, 1)])
            .commit()
            .await
            .unwrap(),
    );
    assert_eq!(c.version, 2);
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!((s.version(), s.files().len()), (2, 2));
}

#[tokio::test]
async fn garbage_winner_is_a_typed_error() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", false)).await;
    store.put("_delta_log/00000000000000000001.json", "{{{garbage");
    let err = s0
        .transaction(Operation::append())
        .add_files([add("1", None, 1)])
        .commit()
        .await;
    match err {
        Err(LogError::InvalidLogFile { version: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        store
            .read("_delta_log/00000000000000000002.json")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn refresh_equals_a_fresh_load() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", true)).await;
    let mut stale = s0.clone();
    let f1 = add("p=a/1.parquet", Some("a"), 1);
    let f2 = add("p=b/2.parquet", Some("b"), 2);
    committed(
        s0.transaction(Operation::append())
            .add_files([f1.clone(), f2.clone()])
            .commit()
            .await
            .unwrap(),
    );
    stale = stale.refresh().await.unwrap();
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    committed(
        s1.transaction(Operation::delete())
            .read_files([f1.path.to_string()])
            .remove_files([remove(&f1)])
            .add_files([add("p=a/3.parquet", Some("a"), 3)])
            .set_app_transaction("app", 1)
            .commit()
            .await
            .unwrap(),
    );
    committed(
        Snapshot::builder(store.clone())
            .load()
            .await
            .unwrap()
            .transaction(Operation::append())
            .add_files([f1.clone()])
            .commit()
            .await
            .unwrap(),
    );
    let refreshed = stale.refresh().await.unwrap();
    let fresh = Snapshot::builder(store.clone()).load().await.unwrap();
    let paths = |s: &Snapshot| {
        let mut p: Vec<String> = s.files().iter().map(|f| f.path.to_string()).collect();
        p.sort();
        p
    };
    assert_eq!(refreshed.version(), 3);
    assert_eq!(paths(&refreshed), paths(&fresh));
    assert_eq!(refreshed.tombstones().len(), fresh.tombstones().len());
    assert_eq!(refreshed.txn_version("app"), Some(1));
}

/// Loads and commits can be spawned onto a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_and_commits_are_send() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", false)).await;
    let store2 = store.clone();
    let loaded = tokio::spawn(assert_send(async move {
        Snapshot::builder(store2).load().await
    }))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(loaded.version(), 0);
    let commit = s0
        .transaction(Operation::append())
        .add_files([add("x", None, 1)])
        .commit();
    let outcome = tokio::spawn(assert_send(commit)).await.unwrap().unwrap();
    assert_eq!(outcome.version(), Some(1));
}

/// `remove_adds` removes live files and records them as read: the second
/// of two transactions removing the same file conflicts, as when the read
/// is recorded by hand.
#[tokio::test]
async fn removing_adds_records_their_read() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(&store, legacy(), metadata("{}", false)).await;
    let f = add("1.parquet", None, 5);
    committed(
        s0.transaction(Operation::append())
            .add_files([f.clone()])
            .commit()
            .await
            .unwrap(),
    );
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    let live = s1.files().to_vec();
    let first = s1.transaction(Operation::delete()).remove_adds(&live);
    let second = s1.transaction(Operation::delete()).remove_adds(&live);
    assert_eq!(committed(first.commit().await.unwrap()).version, 2);
    match second.commit().await.unwrap() {
        CommitOutcome::Conflict(c) => assert_eq!(c.rule, ConflictRule::ConcurrentDeleteRead),
        other => panic!("{other:?}"),
    }
    let s2 = Snapshot::builder(store.clone()).load().await.unwrap();
    assert!(s2.files().is_empty());
}

#[tokio::test]
async fn a_failed_post_commit_checkpoint_is_reported_and_the_commit_stands() {
    let store = Arc::new(MemoryLogStore::default());
    let s0 = create(
        &store,
        legacy(),
        metadata(r#"{"delta.checkpointInterval":"2"}"#, false),
    )
    .await;
    let c1 = committed(
        s0.transaction(Operation::append())
            .add_files([add("1", None, 1)])
            .commit()
            .await
            .unwrap(),
    );
    assert_eq!(
        (c1.version, c1.checkpointed, &c1.post_commit_error),
        (1, false, &None)
    );
    // The checkpoint of version 2 needs to read version 2 back: make that
    // read fail, after the commit itself has landed.
    store.fail_reads_of("_delta_log/00000000000000000002.json");
    let s1 = Snapshot::builder(store.clone()).load().await.unwrap();
    let c2 = committed(
        s1.transaction(Operation::append())
            .add_files([add("2", None, 1)])
            .commit()
            .await
            .unwrap(),
    );
    assert_eq!(c2.version, 2);
    assert!(!c2.checkpointed);
    let e = c2
        .post_commit_error
        .expect("the checkpoint failure is reported");
    assert_eq!(
        (e.version, e.hook),
        (2, silt_log::PostCommitHook::Checkpoint)
    );
    assert!(
        e.to_string()
            .contains("post-commit checkpoint of version 2 failed (the commit stands)"),
        "{e}"
    );
    assert!(
        store
            .list("_delta_log/", None)
            .await
            .unwrap()
            .iter()
            .all(|f| !f.path.contains("checkpoint")),
        "no checkpoint written"
    );
    assert!(
        store
            .list("_delta_log/", None)
            .await
            .unwrap()
            .iter()
            .any(|f| f.path.ends_with("00000000000000000002.json")),
        "the commit stands"
    );
}
