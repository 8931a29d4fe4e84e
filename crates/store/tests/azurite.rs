//! silt on a real Azure Blob server (Azurite, started by scripts/test.sh
//! with scripts/azurite.sh) through `az://` URIs. Built only with the
//! `azure` feature.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod cloud_suite;

use silt_store::TableBuilder;

fn table() -> TableBuilder {
    let endpoint = std::env::var("SILT_AZURITE_URL")
        .expect("SILT_AZURITE_URL: run the tests through scripts/test.sh, which starts Azurite");
    TableBuilder::new(format!("az://silt/{}/table", uuid::Uuid::new_v4()))
        .with_storage_option("azure_storage_use_emulator", "true")
        .with_storage_option(
            "azure_storage_endpoint",
            format!("{endpoint}/devstoreaccount1"),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_contract_on_azurite() {
    cloud_suite::storage_contract(table().build_store().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_tables_on_azurite() {
    cloud_suite::racing_tables(table()).await;
}
