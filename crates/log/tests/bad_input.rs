//! Broken logs give typed errors naming the table, version and file — never a
//! panic, never a half-read snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;

use silt_log::{LogError, Snapshot};
use silt_testkit::{MemoryLogStore, PROTOCOL_1_2, RawLog, add_line, metadata_line};

async fn load(store: MemoryLogStore) -> Result<Snapshot, LogError> {
    Snapshot::builder(Arc::new(store)).load().await
}

#[tokio::test]
async fn truncated_line_names_file_and_line() {
    let store = MemoryLogStore::default();
    RawLog::new(&store).create_table().commit(
        1,
        &[
            add_line("a.parquet", 1, 1),
            r#"{"add":{"path":"b.par"#.to_string(),
        ],
    );
    match load(store).await {
        Err(LogError::InvalidLogFile {
            table,
            version,
            file,
            line,
            ..
        }) => {
            assert_eq!(table, "memory:///test-table");
            assert_eq!(version, 1);
            assert_eq!(file, "_delta_log/00000000000000000001.json");
            assert_eq!(line, Some(2));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn non_json_line_is_rejected() {
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .commit(1, &["this is not json".to_string()]);
    let err = load(store).await.unwrap_err();
    assert!(
        matches!(err, LogError::InvalidLogFile { version: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn missing_commit_in_the_middle() {
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .commit(1, &[add_line("a.parquet", 1, 1)])
        .commit(3, &[add_line("c.parquet", 1, 1)]);
    let err = load(store).await.unwrap_err();
    match err {
        LogError::NonContiguousLog {
            expected, found, ..
        } => {
            assert_eq!(expected, 2);
            assert_eq!(found, vec![0, 1, 3]);
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn missing_checkpoint_part_is_ignored_and_log_replayed() {
    // Part 2 of 2 is missing: the incomplete checkpoint is not used, and the
    // commits (all still present) give the right state.
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .commit(1, &[add_line("a.parquet", 1, 1)])
        .file(
            "00000000000000000001.checkpoint.0000000001.0000000002.parquet",
            "garbage",
        )
        .file("_last_checkpoint", r#"{"version":1,"size":3,"parts":2}"#);
    let s = load(store).await.unwrap();
    assert_eq!(s.version(), 1);
    assert_eq!(s.files().len(), 2);
    assert_eq!(s.checkpoint_version(), None);
}

#[tokio::test]
async fn last_checkpoint_pointing_at_nothing_falls_back_to_listing() {
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .commit(1, &[add_line("a.parquet", 1, 1)])
        .file("_last_checkpoint", r#"{"version":7,"size":3}"#);
    let s = load(store).await.unwrap();
    assert_eq!(s.version(), 1);
    assert_eq!(s.files().len(), 2);
}

#[tokio::test]
async fn corrupt_last_checkpoint_falls_back_to_listing() {
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .file("_last_checkpoint", "{not json");
    assert_eq!(load(store).await.unwrap().version(), 0);
}

#[tokio::test]
async fn corrupt_checkpoint_file_is_a_typed_error() {
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .file("00000000000000000000.checkpoint.parquet", "not parquet");
    let err = load(store).await.unwrap_err();
    match err {
        LogError::InvalidLogFile { version, file, .. } => {
            assert_eq!(version, 0);
            assert_eq!(file, "_delta_log/00000000000000000000.checkpoint.parquet");
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn add_path_escaping_the_table_is_refused() {
    let store = MemoryLogStore::default();
    RawLog::new(&store)
        .create_table()
        .commit(1, &[add_line("../../etc/passwd", 1, 1)]);
    let err = load(store).await.unwrap_err();
    assert!(
        err.to_string().contains("climbs out of the table root"),
        "{err}"
    );
    assert!(matches!(err, LogError::InvalidLogFile { version: 1, .. }));
}

#[tokio::test]
async fn unparseable_schema_is_refused() {
    let store = MemoryLogStore::default();
    let bad_meta = r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"nonsense\"}]}","partitionColumns":[],"configuration":{}}}"#;
    RawLog::new(&store).commit(0, &[PROTOCOL_1_2.to_string(), bad_meta.to_string()]);
    let err = load(store).await.unwrap_err();
    assert!(err.to_string().contains("nonsense"), "{err}");
    assert!(matches!(err, LogError::InvalidLogFile { version: 0, .. }));
}

#[tokio::test]
async fn unknown_reader_feature_is_named() {
    let store = MemoryLogStore::default();
    let p = r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors","quantumStorage"],"writerFeatures":["deletionVectors"]}}"#;
    RawLog::new(&store).commit(0, &[p.to_string(), metadata_line("t", "{}")]);
    match load(store).await.unwrap_err() {
        LogError::UnsupportedReaderFeature { feature, .. } => assert_eq!(feature, "quantumStorage"),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn malformed_checksum_at_the_snapshot_version_is_reported() {
    let store = Arc::new(MemoryLogStore::default());
    RawLog::new(&store)
        .create_table()
        .file("00000000000000000000.crc", "malformed");
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert!(
        s.checksum_discrepancy()
            .is_some_and(|d| d.message.contains("does not parse")),
        "{:?}",
        s.checksum_discrepancy()
    );
    assert!(matches!(
        Snapshot::builder(store)
            .strict_checksum(true)
            .load()
            .await
            .unwrap_err(),
        LogError::ChecksumMismatch { version: 0, .. }
    ));
}

#[tokio::test]
async fn checksum_disagreeing_with_replay_is_reported() {
    let store = Arc::new(MemoryLogStore::default());
    RawLog::new(&store).create_table().file(
        "00000000000000000000.crc",
        r#"{"tableSizeBytes":10,"numFiles":2,"numMetadata":1,"numProtocol":1}"#,
    );
    // The log is the source of truth: the table opens, carrying the
    // discrepancy, as delta-rs and delta-kernel-rs open it.
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s.files().len(), 1);
    let d = s.checksum_discrepancy().expect("the discrepancy is kept");
    assert_eq!(d.file, "_delta_log/00000000000000000000.crc");
    assert!(
        d.message.contains("numFiles is 2 but replay found 1"),
        "{d}"
    );
    // Strict readers refuse it.
    let err = Snapshot::builder(store)
        .strict_checksum(true)
        .load()
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogError::ChecksumMismatch { .. })
            && err.to_string().contains("numFiles is 2 but replay found 1"),
        "{err}"
    );
}

#[tokio::test]
async fn storage_failure_is_typed() {
    let store = MemoryLogStore::default();
    RawLog::new(&store).create_table();
    store.fail_reads_of("_delta_log/00000000000000000000.json");
    assert!(matches!(
        load(store).await.unwrap_err(),
        LogError::Storage { .. }
    ));
}

#[tokio::test]
async fn empty_log_is_table_not_found() {
    let store = MemoryLogStore::default();
    store.put("_delta_log/readme.txt", "x");
    assert!(matches!(
        load(store).await.unwrap_err(),
        LogError::TableNotFound { .. }
    ));
}
