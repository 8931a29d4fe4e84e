//! The LogStore contract (see silt_log::storage), checked with the same
//! suite the object-store servers run (`cloud_suite`) on every backend
//! available without a server: local disk (silt's own file I/O), local disk
//! through object_store, and memory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod cloud_suite;

use std::sync::Arc;

use object_store::path::Path;
use silt_log::LogStore;
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
    // The test doubles the rest of the workspace relies on keep the same
    // contract: silt-testkit's in-memory store, and its fault-injecting
    // store with every fault off (faults are the simulations' business).
    let testkit_memory =
        Arc::new(silt_testkit::MemoryLogStore::new("testkit")) as Arc<dyn LogStore>;
    let quiet = silt_testkit::sim::FaultRates {
        put_fails_before_write: 0.0,
        put_fails_after_write: 0.0,
        read_fails: 0.0,
        put_reports_conflict: 0.0,
        list_fails: 0.0,
        list_truncated: 0.0,
        yields: 0.5,
    };
    let testkit_faulty = Arc::new(silt_testkit::sim::FaultyStore::new(
        Arc::new(silt_testkit::MemoryLogStore::new("faulty")),
        7,
        quiet,
    )) as Arc<dyn LogStore>;
    vec![
        ("local", local),
        ("local-object-store", via_object_store),
        ("memory", memory),
        ("testkit-memory", testkit_memory),
        ("testkit-faulty-quiet", testkit_faulty),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_on_every_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(dir.path()) {
        eprintln!("backend {name}");
        cloud_suite::storage_contract(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_tables_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    cloud_suite::racing_tables(TableBuilder::new(dir.path().join("t").to_string_lossy())).await;
}
