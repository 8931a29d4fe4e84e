//! The checks every object-store backend must pass, shared by the
//! per-server test files: the storage contract (sorted listing, list after an
//! offset, recursive listing, put-if-absent never overwriting, 16 racing
//! creates with one winner per round), and racing table writers with
//! automatic checkpoints, time travel and reopening by URI.

use std::sync::Arc;

use bytes::Bytes;
use silt_log::{LogStore, Protocol, Snapshot, StorageError, Transaction};
use silt_store::TableBuilder;

/// The storage contract on a fresh, empty table location.
pub async fn storage_contract(store: Arc<dyn LogStore>) {
    assert!(store.list("_delta_log/", None).await.unwrap().is_empty());
    for v in [2u64, 0, 1] {
        store
            .put_if_absent(&format!("_delta_log/{v:020}.json"), Bytes::from("x"))
            .await
            .unwrap();
    }
    store
        .put("_delta_log/_sidecars/s.parquet", Bytes::from("s"))
        .await
        .unwrap();
    let listed: Vec<String> = store
        .list("_delta_log/", None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(
        listed,
        (0..3)
            .map(|v| format!("_delta_log/{v:020}.json"))
            .collect::<Vec<_>>()
    );
    let after = store
        .list("_delta_log/", Some("_delta_log/00000000000000000001"))
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(store.list_recursive("_delta_log").await.unwrap().len(), 4);
    // One level at a time: files and subdirectories, sorted.
    let level = store.list_dir("_delta_log").await.unwrap();
    assert_eq!(
        level
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        (0..3)
            .map(|v| format!("_delta_log/{v:020}.json"))
            .collect::<Vec<_>>()
    );
    assert_eq!(level.dirs, vec!["_delta_log/_sidecars".to_string()]);
    let root = store.list_dir("").await.unwrap();
    assert!(root.files.is_empty());
    assert_eq!(root.dirs, vec!["_delta_log".to_string()]);
    let sidecars = store.list_dir("_delta_log/_sidecars/").await.unwrap();
    assert_eq!(sidecars.files.len(), 1);
    assert!(sidecars.dirs.is_empty());
    assert_eq!(
        store.list_dir("no/such/dir").await.unwrap(),
        silt_log::DirEntries::default()
    );
    let sizes: Vec<u64> = store
        .list("_delta_log/", None)
        .await
        .unwrap()
        .iter()
        .map(|f| f.size)
        .collect();
    assert!(sizes.iter().all(|s| *s == 1), "{sizes:?}");
    assert!(matches!(
        store
            .put_if_absent("_delta_log/00000000000000000001.json", Bytes::from("y"))
            .await,
        Err(StorageError::AlreadyExists { .. })
    ));
    assert_eq!(
        store
            .read("_delta_log/00000000000000000001.json")
            .await
            .unwrap(),
        Bytes::from("x")
    );
    assert!(matches!(
        store.read("_delta_log/nope").await,
        Err(StorageError::NotFound { .. })
    ));
    // Byte ranges (data files are read this way): inside, at the end, past it.
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    store
        .put("part-00000-range.parquet", Bytes::from(data.clone()))
        .await
        .unwrap();
    let got = store
        .read_range("part-00000-range.parquet", 1000..1100)
        .await
        .unwrap();
    assert_eq!(&got[..], &data[1000..1100]);
    let tail = store
        .read_range("part-00000-range.parquet", 299_992..300_000)
        .await
        .unwrap();
    assert_eq!(&tail[..], &data[299_992..]);
    assert!(
        store
            .read_range("part-00000-range.parquet", 299_990..300_010)
            .await
            .is_err(),
        "a range past the end is an error"
    );
    assert!(store.read_range("nope.parquet", 0..1).await.is_err());
    store.delete("part-00000-range.parquet").await.unwrap();
    // Piece-by-piece uploads (large data files), into a directory that does
    // not exist yet: complete and durable on finish, gone on abort.
    if let Some(mut upload) = store
        .start_upload("d=1/part-00001-big.parquet")
        .await
        .unwrap()
    {
        let pieces: Vec<Vec<u8>> = [6 << 20, 6 << 20, 1234]
            .iter()
            .enumerate()
            .map(|(i, n)| (0..*n).map(|b| (b % 251 + i) as u8).collect())
            .collect();
        for p in &pieces {
            upload.write(Bytes::from(p.clone())).await.unwrap();
        }
        upload.finish().await.unwrap();
        let all = store.read("d=1/part-00001-big.parquet").await.unwrap();
        assert_eq!(all.to_vec(), pieces.concat());
        let listed = store.list("d=1/", None).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].size, pieces.concat().len() as u64);
        let mut aborted = store
            .start_upload("d=1/part-00002-gone.parquet")
            .await
            .unwrap()
            .expect("the store streamed before");
        aborted
            .write(Bytes::from(vec![7u8; 6 << 20]))
            .await
            .unwrap();
        aborted.abort().await;
        assert!(matches!(
            store.read("d=1/part-00002-gone.parquet").await,
            Err(StorageError::NotFound { .. })
        ));
        store.delete("d=1/part-00001-big.parquet").await.unwrap();
    }
    for round in 0..5u64 {
        let path = format!("_delta_log/{:020}.json", 100 + round);
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let store = store.clone();
                let path = path.clone();
                tokio::spawn(async move {
                    store
                        .put_if_absent(&path, Bytes::from(format!("{w}")))
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => winners += 1,
                Err(StorageError::AlreadyExists { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

/// Four writers race six appends each from one stale snapshot.
pub async fn racing_tables(b: TableBuilder) {
    let store = b.build_store().unwrap();
    let protocol: Protocol =
        serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":2}"#).unwrap();
    let meta = match silt_log::actions::parse_action_line(
        silt_testkit::metadata_line("cloud", "{}").as_bytes(),
    ) {
        Ok(Some(silt_log::Action::Metadata(m))) => *m,
        other => panic!("{other:?}"),
    };
    Transaction::create_table(store.clone(), protocol, meta)
        .commit()
        .await
        .unwrap()
        .version()
        .unwrap();
    let base = Arc::new(Snapshot::builder(store.clone()).load().await.unwrap());
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let base = base.clone();
            tokio::spawn(async move {
                for i in 0..6 {
                    let add = silt_testkit::add_action(&format!("w{w}-{i}.parquet"), 10, 1);
                    let outcome = base
                        .transaction(silt_log::Operation::append())
                        .add_files([add])
                        .commit()
                        .await
                        .unwrap();
                    assert!(outcome.version().is_some(), "{outcome:?}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let latest = b.clone().load().await.unwrap();
    assert_eq!((latest.version(), latest.files().len()), (24, 24));
    assert_eq!(
        latest.checkpoint_version(),
        Some(20),
        "automatic checkpoints"
    );
    assert_eq!(
        b.clone().at_version(5).load().await.unwrap().files().len(),
        5
    );
}
