//! The LogStore contract (see silt_log::storage), checked on every backend
//! available without a server: local disk (direct listing), local disk
//! through object_store's listing, and memory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use silt_log::{LogStore, StorageError};
use silt_store::{ObjectLogStore, TableBuilder};

fn backends(dir: &std::path::Path) -> Vec<(&'static str, Arc<dyn LogStore>)> {
    let local = TableBuilder::new(dir.join("direct").to_string_lossy())
        .build_store()
        .unwrap();
    let via_object_store = {
        let root = dir.join("objstore");
        std::fs::create_dir_all(&root).unwrap();
        Arc::new(ObjectLogStore::new(
            Arc::new(object_store::local::LocalFileSystem::new()),
            Path::from_absolute_path(&root).unwrap(),
            "objstore",
        )) as Arc<dyn LogStore>
    };
    let memory = Arc::new(ObjectLogStore::new(
        Arc::new(object_store::memory::InMemory::new()),
        Path::from("tables/t"),
        "memory",
    )) as Arc<dyn LogStore>;
    vec![
        ("local", local),
        ("local-object-store", via_object_store),
        ("memory", memory),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(dir.path()) {
        // Missing directory: empty listing, not an error.
        assert!(
            store.list("_delta_log/", None).await.unwrap().is_empty(),
            "{name}"
        );
        assert!(matches!(
            store.read("_delta_log/00000000000000000000.json").await,
            Err(StorageError::NotFound { .. })
        ));
        // Written out of order; listed sorted, non-recursive, after the offset.
        for v in [3u64, 0, 2, 1] {
            store
                .put_if_absent(
                    &format!("_delta_log/{v:020}.json"),
                    Bytes::from(format!("v{v}")),
                )
                .await
                .unwrap();
        }
        store
            .put_if_absent("_delta_log/_sidecars/x.parquet", Bytes::from_static(b"s"))
            .await
            .unwrap();
        let all: Vec<String> = store
            .list("_delta_log/", None)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            all,
            (0..4)
                .map(|v| format!("_delta_log/{v:020}.json"))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let after: Vec<String> = store
            .list("_delta_log/", Some("_delta_log/00000000000000000002"))
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(after.len(), 2, "{name}: {after:?}");
        let listed = store.list("_delta_log/", None).await.unwrap();
        assert!(
            listed.iter().all(|f| f.size == 2 && f.last_modified > 0),
            "{name}"
        );
        // Read after write.
        assert_eq!(
            store
                .read("_delta_log/00000000000000000002.json")
                .await
                .unwrap(),
            Bytes::from_static(b"v2")
        );
        // put_if_absent never overwrites.
        assert!(matches!(
            store
                .put_if_absent(
                    "_delta_log/00000000000000000002.json",
                    Bytes::from_static(b"x")
                )
                .await,
            Err(StorageError::AlreadyExists { .. })
        ));
        assert_eq!(
            store
                .read("_delta_log/00000000000000000002.json")
                .await
                .unwrap(),
            Bytes::from_static(b"v2")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(dir.path()) {
        for round in 0..5u64 {
            let path = format!("_delta_log/{:020}.json", 10 + round);
            let tasks: Vec<_> = (0..16)
                .map(|w| {
                    let store = store.clone();
                    let path = path.clone();
                    tokio::spawn(async move {
                        store
                            .put_if_absent(&path, Bytes::from(format!("writer {w}")))
                            .await
                    })
                })
                .collect();
            let mut winners = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(()) => winners += 1,
                    Err(StorageError::AlreadyExists { .. }) => {}
                    Err(e) => panic!("{name}: {e}"),
                }
            }
            assert_eq!(winners, 1, "{name} round {round}");
        }
    }
}
