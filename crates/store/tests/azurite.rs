//! silt on a real Azure Blob server (Azurite, started by scripts/test.sh
//! with scripts/azurite.sh): the storage contract (sorted listing, racing
//! put-if-absent with one winner), and tables created, committed to by
//! racing writers, checkpointed, time-travelled and reopened through
//! `az://` URIs. Built only with the `azure` feature.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;

use bytes::Bytes;
use silt_log::{Protocol, Snapshot, StorageError, Transaction};
use silt_store::TableBuilder;

fn table_uri() -> (String, TableBuilder) {
    let endpoint = std::env::var("SILT_AZURITE_URL")
        .expect("SILT_AZURITE_URL: run the tests through scripts/test.sh, which starts Azurite");
    let uri = format!("az://silt/{}/table", uuid::Uuid::new_v4());
    let builder = TableBuilder::new(&uri)
        .with_storage_option("azure_storage_use_emulator", "true")
        .with_storage_option(
            "azure_storage_endpoint",
            format!("{endpoint}/devstoreaccount1"),
        );
    (uri, builder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_contract_on_azurite() {
    let (_, b) = table_uri();
    let store = b.build_store().unwrap();
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
    assert!(matches!(
        store
            .put_if_absent("_delta_log/00000000000000000001.json", Bytes::from("y"))
            .await,
        Err(StorageError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.read("_delta_log/nope").await,
        Err(StorageError::NotFound { .. })
    ));
    // 16 racing creates, 5 rounds: exactly one winner each.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_on_azurite() {
    let (uri, b) = table_uri();
    let store = b.build_store().unwrap();
    let protocol: Protocol =
        serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":2}"#).unwrap();
    let meta = match silt_log::actions::parse_action_line(
        silt_testkit::metadata_line("az", "{}").as_bytes(),
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
    // Four writers race 6 appends each from stale snapshots.
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
        "automatic checkpoints on Azure"
    );
    let at_5 = b.clone().at_version(5).load().await.unwrap();
    assert_eq!(at_5.files().len(), 5);
    // Reopened by URI from scratch.
    let again = TableBuilder::new(&uri)
        .with_storage_option("azure_storage_use_emulator", "true")
        .with_storage_option(
            "azure_storage_endpoint",
            format!(
                "{}/devstoreaccount1",
                std::env::var("SILT_AZURITE_URL").unwrap()
            ),
        )
        .load()
        .await
        .unwrap();
    assert_eq!(again.version(), 24);
}
