//! Time travel by version and by timestamp (file times and in-commit
//! timestamps), and the errors for versions that do not exist or were
//! cleaned up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;

use silt_log::{LogError, Snapshot};
use silt_testkit::{
    MemoryLogStore, PROTOCOL_1_2, RawLog, add_line, commit_info_line, metadata_line, remove_line,
};

fn three_versions(store: &MemoryLogStore) {
    RawLog::new(store)
        .commit_at(
            0,
            &[
                PROTOCOL_1_2.into(),
                metadata_line("t", "{}"),
                add_line("a", 10, 1),
            ],
            10_000,
        )
        .commit_at(1, &[add_line("b", 20, 2)], 20_000)
        // A clock that went backwards: Delta makes commit times increasing.
        .commit_at(2, &[remove_line("a"), add_line("c", 30, 3)], 15_000);
}

#[tokio::test]
async fn by_version() {
    let store = Arc::new(MemoryLogStore::default());
    three_versions(&store);
    for (v, files, bytes) in [(0, 1, 10), (1, 2, 30), (2, 2, 50)] {
        let s = Snapshot::builder(store.clone())
            .at_version(v)
            .load()
            .await
            .unwrap();
        assert_eq!(s.version(), v);
        assert_eq!(s.files().len(), files);
        assert_eq!(s.size_in_bytes(), bytes);
    }
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(s.num_records(), Some(5));
    assert_eq!(s.tombstones().len(), 1);
    match Snapshot::builder(store).at_version(9).load().await {
        Err(LogError::VersionNotFound {
            requested: 9,
            latest: 2,
            ..
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn by_file_timestamp() {
    let store = Arc::new(MemoryLogStore::default());
    three_versions(&store);
    let at = |ts| {
        let store = store.clone();
        async move { Snapshot::builder(store).at_timestamp(ts).load().await }
    };
    assert_eq!(at(10_000).await.unwrap().version(), 0);
    assert_eq!(at(19_999).await.unwrap().version(), 0);
    assert_eq!(at(20_000).await.unwrap().version(), 1);
    // Version 2's time is monotonized to 20_001.
    assert_eq!(at(20_001).await.unwrap().version(), 2);
    assert_eq!(at(i64::MAX).await.unwrap().version(), 2);
    match at(9_999).await {
        Err(LogError::TimestampTooEarly {
            earliest_ms: 10_000,
            earliest_version: 0,
            ..
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn by_in_commit_timestamp() {
    let store = Arc::new(MemoryLogStore::default());
    let ict_on = r#"{"delta.enableInCommitTimestamps":"true","delta.inCommitTimestampEnablementVersion":"1","delta.inCommitTimestampEnablementTimestamp":"500"}"#;
    RawLog::new(&store)
        .commit_at(
            0,
            &[
                PROTOCOL_1_2.into(),
                metadata_line("t", "{}"),
                add_line("a", 1, 1),
            ],
            100,
        )
        .commit_at(
            1,
            &[
                commit_info_line("SET TBLPROPERTIES", 999, Some(500)),
                metadata_line("t", ict_on),
            ],
            900_000,
        )
        .commit_at(
            2,
            &[
                commit_info_line("WRITE", 999, Some(700)),
                add_line("b", 1, 1),
            ],
            1,
        )
        .commit_at(
            3,
            &[
                commit_info_line("WRITE", 999, Some(900)),
                add_line("c", 1, 1),
            ],
            2,
        );
    let at = |ts| {
        let store = store.clone();
        async move {
            Snapshot::builder(store)
                .at_timestamp(ts)
                .load()
                .await
                .map(|s| s.version())
        }
    };
    // Before ICT: file times. From version 1 on: in-commit timestamps, even
    // though the files' own times disagree.
    assert_eq!(at(100).await.unwrap(), 0);
    assert_eq!(at(499).await.unwrap(), 0);
    assert_eq!(at(500).await.unwrap(), 1);
    assert_eq!(at(750).await.unwrap(), 2);
    assert_eq!(at(900).await.unwrap(), 3);
    let latest = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(latest.in_commit_timestamp(), Some(900));
    assert_eq!(latest.timestamp_ms(), 900);
}

#[tokio::test]
async fn cleaned_up_versions_are_reported() {
    // Commits 0 and 1 were removed by log cleanup; a checkpoint at 2 stays
    // (a JSON V2 checkpoint keeps this test free of Parquet).
    let store = Arc::new(MemoryLogStore::default());
    let cp = [
        r#"{"checkpointMetadata":{"version":2}}"#.to_string(),
        PROTOCOL_1_2.to_string(),
        metadata_line("t", "{}"),
        add_line("a", 1, 1),
    ]
    .join("\n");
    RawLog::new(&store)
        .file(
            "00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json",
            cp,
        )
        .commit(2, &[add_line("x", 1, 1)])
        .commit(3, &[add_line("b", 1, 1)]);
    let s = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(
        (s.version(), s.files().len(), s.checkpoint_version()),
        (3, 2, Some(2))
    );
    match Snapshot::builder(store).at_version(1).load().await {
        Err(LogError::VersionCleanedUp {
            requested: 1,
            earliest: 2,
            ..
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn history_dates_commits_like_time_travel() {
    let store = Arc::new(MemoryLogStore::default());
    three_versions(&store);
    let history = silt_log::read_history(store.as_ref(), None).await.unwrap();
    let dated: Vec<(u64, i64)> = history
        .iter()
        .map(|r| (r.version, r.timestamp_ms))
        .collect();
    assert_eq!(dated, vec![(2, 20_001), (1, 20_000), (0, 10_000)]);
    let limited = silt_log::read_history(store.as_ref(), Some(1))
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].timestamp_ms, 20_001);
}

#[tokio::test]
async fn refresh_and_load_give_a_version_one_timestamp() {
    // No in-commit timestamps: a version's time is its commit file's
    // modification time, whether the snapshot was loaded or refreshed to it.
    let store = Arc::new(MemoryLogStore::default());
    RawLog::new(&store).commit_at(
        0,
        &[
            PROTOCOL_1_2.into(),
            metadata_line("t", "{}"),
            add_line("a", 10, 1),
        ],
        10_000,
    );
    let first = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(first.timestamp_ms(), 10_000);
    RawLog::new(&store)
        .commit_at(1, &[add_line("b", 20, 2)], 20_000)
        .commit_at(2, &[add_line("c", 30, 3)], 30_000);
    let refreshed = first.refresh().await.unwrap();
    let loaded = Snapshot::builder(store.clone()).load().await.unwrap();
    assert_eq!(refreshed.version(), 2);
    assert_eq!(loaded.version(), 2);
    assert_eq!(refreshed.timestamp_ms(), 30_000);
    assert_eq!(refreshed.timestamp_ms(), loaded.timestamp_ms());
    assert_eq!(
        refreshed.segment().last_commit,
        loaded.segment().last_commit
    );
}
