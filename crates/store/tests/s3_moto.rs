//! silt on an S3 server (moto, serialized, started by scripts/test.sh with
//! scripts/moto.sh) through `s3://` URIs, commits by conditional put
//! (`If-None-Match: *`). Built only with the `s3` feature.

#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod cloud_suite;

use silt_store::TableBuilder;

fn table() -> TableBuilder {
    let endpoint = std::env::var("SILT_S3_URL")
        .expect("SILT_S3_URL: run the tests through scripts/test.sh, which starts the S3 server");
    TableBuilder::new(format!("s3://silt/{}/table", uuid::Uuid::new_v4()))
        .with_storage_option("aws_endpoint", endpoint)
        .with_storage_option("aws_allow_http", "true")
        .with_storage_option("aws_region", "us-east-1")
        .with_storage_option("aws_access_key_id", "test")
        .with_storage_option("aws_secret_access_key", "test")
        .with_storage_option("aws_virtual_hosted_style_request", "false")
        .with_storage_option("aws_conditional_put", "etag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_contract_on_s3() {
    cloud_suite::storage_contract(table().build_store().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_tables_on_s3() {
    cloud_suite::racing_tables(table()).await;
}

/// Without atomic create-if-absent (`aws_conditional_put=disabled`), reads
/// work and commits are refused with what to do; `silt_single_writer=true`
/// opts into check-then-write commits for a table with one writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_without_atomic_create_refuse_commits_unless_single_writer() {
    use bytes::Bytes;
    use silt_log::StorageError;
    let base = table();
    let store = base
        .clone()
        .with_storage_option("aws_conditional_put", "disabled")
        .build_store()
        .unwrap();
    let err = store
        .put_if_absent("_delta_log/00000000000000000000.json", Bytes::from("x"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StorageError::Other { .. })
            && text.contains("aws_conditional_put=etag")
            && text.contains("silt_single_writer=true"),
        "{text}"
    );
    assert!(
        store.list("_delta_log/", None).await.unwrap().is_empty(),
        "nothing written"
    );
    let single = base
        .with_storage_option("aws_conditional_put", "disabled")
        .with_storage_option("silt_single_writer", "true")
        .build_store()
        .unwrap();
    single
        .put_if_absent("_delta_log/00000000000000000000.json", Bytes::from("x"))
        .await
        .unwrap();
    assert!(matches!(
        single
            .put_if_absent("_delta_log/00000000000000000000.json", Bytes::from("y"))
            .await,
        Err(StorageError::AlreadyExists { .. })
    ));
    assert_eq!(
        single
            .read("_delta_log/00000000000000000000.json")
            .await
            .unwrap(),
        Bytes::from("x")
    );
}
