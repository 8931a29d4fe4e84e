//! Checkpoints written by silt (classic, multi-part, V2 with sidecars),
//! the automatic checkpoint every `delta.checkpointInterval` commits, `.crc`
//! files, tombstone expiry and log cleanup.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use silt_log::actions::{Add, Metadata, Protocol, Remove, parse_action_line};
use silt_log::checkpoint_write::CheckpointOptions;
use silt_log::{Action, LogError, LogStore, Operation, Snapshot, Transaction};
use silt_testkit::MemoryLogStore;

fn metadata(config: &str) -> Metadata {
    serde_json::from_str(&format!(
        r#"{{"id":"t","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{{\"type\":\"struct\",\"fields\":[{{\"name\":\"p\",\"type\":\"string\",\"nullable\":true,\"metadata\":{{}}}}]}}","partitionColumns":["p"],"configuration":{config}}}"#
    ))
    .unwrap()
}

fn add(i: usize) -> Add {
    let line = format!(
        r#"{{"add":{{"path":"p={}/f{i}.parquet","partitionValues":{{"p":"{}"}},"size":{},"modificationTime":1,"dataChange":true,"stats":"{{\"numRecords\":{i}}}","tags":{{"k":"v"}}}}}}"#,
        i % 3,
        i % 3,
        100 + i
    );
    match parse_action_line(line.as_bytes()).unwrap().unwrap() {
        Action::Add(a) => *a,
        _ => unreachable!(),
    }
}

fn remove(a: &Add, ts: i64) -> Remove {
    Remove {
        path: a.path.clone(),
        deletion_timestamp: Some(ts),
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn table_with_commits(protocol: &str, config: &str, commits: usize) -> Arc<MemoryLogStore> {
    let store = Arc::new(MemoryLogStore::default());
    let p: Protocol = serde_json::from_str(protocol).unwrap();
    Transaction::create_table(store.clone(), p, metadata(config))
        .commit()
        .await
        .unwrap()
        .version()
        .unwrap();
    for i in 1..=commits {
        let s = Snapshot::builder(store.clone()).load().await.unwrap();
        let mut t = s.transaction(Operation::append()).add_files([add(i)]);
        if i % 4 == 0 {
            // Remove an earlier file now and then (a tombstone).
            t = s
                .transaction(Operation::delete())
                .read_files([add(i - 1).path.to_string()])
                .remove_files([remove(&add(i - 1), now_ms())])
                .add_files([add(i)]);
        }
        let outcome = t.commit().await.unwrap();
        assert_eq!(outcome.version(), Some(i as u64));
    }
    store
}

fn file_set(s: &Snapshot) -> BTreeSet<(String, i64, String)> {
    s.files()
        .iter()
        .map(|f| {
            (
                f.path.to_string(),
                f.size,
                format!("{:?}{:?}{:?}", f.partition_values, f.stats, f.tags),
            )
        })
        .collect()
}

/// Loads with and without checkpoints (by deleting them from a copy).
async fn assert_checkpoint_matches_replay(store: &Arc<MemoryLogStore>) {
    let with = Snapshot::builder(store.clone()).load().await.unwrap();
    assert!(with.checkpoint_version().is_some(), "a checkpoint was used");
    let copy = Arc::new(MemoryLogStore::default());
    for p in store.paths() {
        if p.contains(".json") && !p.contains(".checkpoint.") {
            copy.put(&p, store.read(&p).await.unwrap());
        }
    }
    let without = Snapshot::builder(copy).load().await.unwrap();
    assert!(without.checkpoint_version().is_none());
    assert_eq!(with.version(), without.version());
    assert_eq!(file_set(&with), file_set(&without));
    assert_eq!(with.metadata(), without.metadata());
    assert_eq!(with.protocol(), without.protocol());
    assert_eq!(with.tombstones().len(), without.tombstones().len());
}

const LEGACY: &str = r#"{"minReaderVersion":1,"minWriterVersion":2}"#;

#[tokio::test]
async fn automatic_classic_checkpoints_every_interval() {
    let store = table_with_commits(LEGACY, "{}", 25).await;
    let paths = store.paths();
    for v in [10, 20] {
        assert!(
            paths.contains(&format!("_delta_log/{v:020}.checkpoint.parquet")),
            "{paths:?}"
        );
        assert!(paths.contains(&format!("_delta_log/{v:020}.crc")));
    }
    let hint = store.read("_delta_log/_last_checkpoint").await.unwrap();
    let hint: serde_json::Value = serde_json::from_slice(&hint).unwrap();
    assert_eq!(hint["version"], 20);
    assert_checkpoint_matches_replay(&store).await;
    // The .crc of version 20 is verified when version 20 is loaded.
    let s20 = Snapshot::builder(store.clone())
        .at_version(20)
        .load()
        .await
        .unwrap();
    assert_eq!(s20.checkpoint_version(), Some(20));
}

#[tokio::test]
async fn checkpoint_interval_property_is_honoured() {
    let store = table_with_commits(LEGACY, r#"{"delta.checkpointInterval":"3"}"#, 7).await;
    let cps: Vec<String> = store
        .paths()
        .into_iter()
        .filter(|p| p.contains(".checkpoint."))
        .collect();
    assert_eq!(cps.len(), 2, "{cps:?}");
}

#[tokio::test]
async fn multi_part_checkpoint() {
    let store = table_with_commits(LEGACY, r#"{"delta.checkpointInterval":"1000"}"#, 9).await;
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    let written = s
        .write_checkpoint(&CheckpointOptions {
            actions_per_file: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(written.files.len() >= 3, "{:?}", written.files);
    assert!(written.files[0].ends_with(&format!(
        ".checkpoint.0000000001.{:010}.parquet",
        written.files.len()
    )));
    assert_checkpoint_matches_replay(&store).await;
    // A missing part makes the checkpoint incomplete: replay falls back to commits.
    store.delete(&written.files[1]);
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!((s.version(), s.checkpoint_version()), (9, None));
}

#[tokio::test]
async fn v2_checkpoint_with_sidecars() {
    let v2 = r#"{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint"]}"#;
    let store = table_with_commits(
        v2,
        r#"{"delta.checkpointInterval":"1000","delta.checkpointPolicy":"v2"}"#,
        8,
    )
    .await;
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    let written = s
        .write_checkpoint(&CheckpointOptions {
            actions_per_file: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(written.files[0].starts_with("_delta_log/00000000000000000008.checkpoint."));
    assert!(
        written
            .files
            .iter()
            .skip(1)
            .all(|f| f.starts_with("_delta_log/_sidecars/"))
    );
    assert!(written.files.len() >= 3);
    assert_checkpoint_matches_replay(&store).await;
}

#[tokio::test]
async fn expired_tombstones_leave_the_checkpoint() {
    let store = table_with_commits(LEGACY, r#"{"delta.checkpointInterval":"1000"}"#, 8).await;
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s.tombstones().len(), 2);
    // Removes were stamped now; a week later they are gone.
    let later = now_ms() + 7 * 86_400_000 + 60_000;
    s.write_checkpoint(&CheckpointOptions {
        now_ms: later,
        ..Default::default()
    })
    .await
    .unwrap();
    let reloaded = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(reloaded.checkpoint_version(), Some(8));
    assert_eq!(reloaded.tombstones().len(), 0);
    assert_eq!(file_set(&reloaded), file_set(&s));
}

#[tokio::test]
async fn log_cleanup_keeps_retained_versions_reconstructable() {
    let store = table_with_commits(LEGACY, "{}", 25).await;
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    let far_future = i64::MAX / 2;
    let dry = s.cleanup_log(far_future, true).await.unwrap();
    assert_eq!(dry.earliest_version, Some(20));
    assert!(
        store
            .paths()
            .contains(&"_delta_log/00000000000000000000.json".to_string())
    );
    let report = s.cleanup_log(far_future, false).await.unwrap();
    assert_eq!(report.files, dry.files);
    assert!(
        report
            .files
            .contains(&"_delta_log/00000000000000000010.checkpoint.parquet".to_string())
    );
    let paths = store.paths();
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with("00000000000000000019.json"))
    );
    assert!(paths.contains(&"_delta_log/00000000000000000020.checkpoint.parquet".to_string()));
    let latest = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(file_set(&latest), file_set(&s));
    assert!(
        Snapshot::builder(store.clone())
            .at_version(20)
            .load()
            .await
            .is_ok()
    );
    assert!(matches!(
        Snapshot::builder(store.clone()).at_version(19).load().await,
        Err(LogError::VersionCleanedUp { earliest: 20, .. })
    ));
    // Nothing expired: nothing removed.
    let none = latest.cleanup_log(0, false).await.unwrap();
    assert!(none.files.is_empty());
}
