//! Facts stated in the vectors' MANIFEST.md that index.json does not carry
//! (live-file sets, tombstones, txn versions, domain metadata, timestamps),
//! checked through silt's public API. Tables come from DELTA_VECTORS_DIR.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use silt_spec_tests::vectors_dir;
use silt_store::TableBuilder;

async fn open(path: &str, version: Option<u64>) -> silt_log::Snapshot {
    let location = vectors_dir().join(path);
    let mut b = TableBuilder::new(location.to_string_lossy());
    if let Some(v) = version {
        b = b.at_version(v);
    }
    b.load().await.unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn paths(s: &silt_log::Snapshot) -> Vec<String> {
    let mut p: Vec<String> = s.files().iter().map(|f| f.path.to_string()).collect();
    p.sort();
    p
}

#[tokio::test]
async fn canonicalized_paths_cancel_out() {
    for t in ["normal-a", "normal-b", "special-a", "special-b"] {
        let s = open(&format!("golden/canonicalized-paths-{t}"), None).await;
        assert_eq!((s.version(), s.files().len()), (1, 0), "{t}");
    }
}

#[tokio::test]
async fn checkpoint_then_commits() {
    // 15 commits, each adding "i" and removing "i-1"; checkpoint at 10.
    let s = open("golden/checkpoint", None).await;
    assert_eq!(s.version(), 14);
    assert_eq!(s.checkpoint_version(), Some(10));
    assert_eq!(paths(&s), vec!["15"]);
}

#[tokio::test]
async fn re_added_file_keeps_the_latest_add() {
    let s = open(
        "golden/delete-re-add-same-file-different-transactions",
        None,
    )
    .await;
    assert_eq!(paths(&s), vec!["bar", "foo"]);
    let foo = s.files().iter().find(|f| f.path.as_str() == "foo").unwrap();
    assert_eq!(foo.modification_time, 1_700_000_000_000);
}

#[tokio::test]
async fn delta_0_2_0_live_files_and_tombstones_per_version() {
    let s = open("delta-rs/data/delta-0.2.0", None).await;
    assert_eq!(s.version(), 3);
    let live = paths(&s);
    assert_eq!(live.len(), 3);
    assert!(live[0].starts_with("part-00000-7c2deba3"), "{live:?}");
    assert!(live[1].starts_with("part-00000-cb6b150b"), "{live:?}");
    assert!(live[2].starts_with("part-00001-c373a5bd"), "{live:?}");
    assert_eq!(s.tombstones().len(), 4);
    let v0 = paths(&open("delta-rs/data/delta-0.2.0", Some(0)).await);
    assert!(v0[0].starts_with("part-00000-b44fcdb0") && v0[1].starts_with("part-00001-185eca06"));
}

#[tokio::test]
async fn repartition_leaves_two_files() {
    let s = open("golden/snapshot-repartitioned", None).await;
    assert_eq!((s.version(), s.files().len()), (5, 2));
}

#[tokio::test]
async fn empty_last_checkpoint_falls_back_to_listing() {
    let s = open("golden/corrupted-last-checkpoint-kernel", None).await;
    assert_eq!(s.version(), 11);
}

#[tokio::test]
async fn lone_checkpoint_with_domain_metadata() {
    let s = open("delta-rs/data/table-with-domain-metadata", None).await;
    assert_eq!(s.version(), 108);
    assert!(
        s.domains().contains_key("delta.rowTracking"),
        "{:?}",
        s.domains().keys()
    );
}

#[tokio::test]
async fn app_txn_versions_survive_checkpoints() {
    let s = open("kernel/data/app-txn-checkpoint", None).await;
    assert!(!s.txns().is_empty());
    let getchanges = open("golden/deltalog-getChanges", None).await;
    assert_eq!(getchanges.txn_version("fakeAppId"), Some(3));
    assert_eq!(getchanges.txn_version("unknown"), None);
}

#[tokio::test]
async fn v2_checkpoint_with_sidecars() {
    // Files come from the manifest, the sidecars and the commit after it.
    let s = open("kernel/data/v2-checkpoints-json-with-sidecars", None).await;
    assert_eq!(s.version(), 6);
    assert_eq!(s.checkpoint_version(), Some(6));
    assert_eq!(s.files().len(), 101);
}

#[tokio::test]
async fn deletion_vectors_reduce_record_counts() {
    let s = open("kernel/data/table-with-dv-small", None).await;
    let dv = s.files()[0].deletion_vector.as_ref().expect("a DV");
    assert_eq!(dv.cardinality, 2);
    assert_eq!(s.num_records(), Some(8));
}
