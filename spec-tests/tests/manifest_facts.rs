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
    let file = s.files().first().expect("a file");
    let dv = file.deletion_vector.as_ref().expect("a DV");
    assert_eq!(dv.cardinality, 2);
    assert_eq!(s.num_records(), Some(8));
}

async fn scan_rows(path: &str, columns: &[&str]) -> Vec<String> {
    let s = open(path, None).await;
    let batches = silt_parquet::Scan::new(&s)
        .select(columns.iter().copied())
        .collect()
        .await
        .unwrap();
    let opts = arrow_cast::display::FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in &batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn partition_values_of_every_type_scan_as_stated() {
    // MANIFEST: as_timestamp = 2021-09-08 11:11:11 UTC; the third row has all
    // partition columns NULL; as_string_lit_null is the string "null".
    let rows = scan_rows(
        "golden/data-reader-partition-values",
        &[
            "as_int",
            "as_boolean",
            "as_string_lit_null",
            "as_date",
            "as_timestamp",
            "as_big_decimal",
        ],
    )
    .await;
    assert_eq!(
        rows,
        vec![
            "0 | true | null | 2021-09-08 | 2021-09-08T11:11:11Z | 0",
            "1 | false | null | 2021-09-08 | 2021-09-08T11:11:11Z | 1",
            "NULL | NULL | NULL | NULL | NULL | NULL",
        ]
    );
}

#[tokio::test]
async fn column_mapping_nested_arrays_scan_as_stated() {
    for mode in ["name", "id"] {
        let rows = scan_rows(
            &format!("golden/table-with-columnmapping-mode-{mode}"),
            &["array_of_structs"],
        )
        .await;
        assert_eq!(rows.len(), 6, "{mode}");
        assert!(
            rows.contains(&"[{ab: 0}, {ab: 0}]".to_string()),
            "{mode}: {rows:?}"
        );
        assert!(
            rows.contains(&"NULL".to_string()),
            "{mode}: the all-NULL row"
        );
    }
}

#[tokio::test]
async fn deletion_vectors_hide_deleted_rows() {
    // MANIFEST: 7 rows, ids 3..9 (a DV on the first of two 5-row files).
    let rows = scan_rows("kernel/data/with-short-dv", &["id"]).await;
    assert_eq!(rows, (3..10).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn predicates_skip_files_and_filter_rows() {
    // MANIFEST (table-with-dv-large): v0 holds value 0..1999 in 20 files.
    // (The table's later versions need DV files the public snapshot lacks:
    // silt reports them as missing files.)
    let s = open("delta-spark/table-with-dv-large", Some(0)).await;
    let pred = silt_log::expr::parse_predicate("value IN (300, 787, 239)").unwrap();
    assert_eq!(
        silt_parquet::Scan::new(&s)
            .filter(pred)
            .count()
            .await
            .unwrap(),
        3
    );
    // Values are spread over files; only files whose minimum is below 10
    // can hold `value < 10`.
    let pred = silt_log::expr::parse_predicate("value < 10").unwrap();
    let scan = silt_parquet::Scan::new(&s).filter(pred);
    let plan = scan.plan().unwrap();
    assert!(plan.skipped > 0, "stats skip files: {plan:?}");
    assert_eq!(scan.count().await.unwrap(), 10);
    let latest = open("delta-spark/table-with-dv-large", None).await;
    let err = silt_parquet::Scan::new(&latest).count().await.unwrap_err();
    assert!(err.to_string().contains("deletion_vector_"), "{err}");
}

/// The change data feed of every `kernel/data/cdf-*` table equals the rows
/// kernel-rs expects (kernel/EXPECTED-FROM-TESTS.md): commits with `cdc`
/// files, commits of whole-file adds and removes, and deletion-vector
/// updates (only the rows whose DV bit changed), as a multiset of rows.
#[tokio::test]
async fn change_data_feed_matches_the_kernel_expectations() {
    let text =
        std::fs::read_to_string(vectors_dir().join("kernel/EXPECTED-FROM-TESTS.md")).unwrap();
    let mut checked = Vec::new();
    for section in text.split("\n## ").skip(1) {
        let header = section.lines().next().unwrap_or_default();
        let Some((name, range)) = header.split_once(" — change data feed, versions ") else {
            continue;
        };
        let name = name.trim().trim_start_matches("data/");
        let (from, to) = range.trim().split_once("..").unwrap();
        let table: Vec<Vec<String>> = section
            .lines()
            .filter(|l| l.starts_with("| "))
            .map(|l| {
                l.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect();
        let (columns, expected) = table.split_first().unwrap();
        let s = open(&format!("kernel/data/{name}"), None).await;
        let to = (to != "latest").then(|| to.parse::<u64>().unwrap());
        let batches = silt_parquet::cdf::read_changes(&s, from.parse().unwrap(), to)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = Vec::new();
        for b in &batches {
            let cells: Vec<_> = columns
                .iter()
                .map(|c| {
                    let col = b
                        .column_by_name(c)
                        .unwrap_or_else(|| panic!("{name}: no column {c}"));
                    arrow_cast::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())
                        .unwrap()
                })
                .collect();
            for r in 0..b.num_rows() {
                got.push(
                    cells
                        .iter()
                        .map(|f| f.value(r).to_string())
                        .collect::<Vec<_>>(),
                );
            }
        }
        let mut want = expected.to_vec();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name} versions {range}");
        checked.push(name.to_string());
    }
    assert!(
        checked.iter().any(|n| n == "cdf-table-with-dv"),
        "{checked:?}"
    );
}
