//! Property test: N transactions start from the same snapshot and commit in
//! a random order. Checked against a serial model: versions are contiguous
//! with exactly one writer each, every committed transaction's actions are
//! in the log exactly once, and every verdict (commit, conflict rule,
//! already applied) equals the model's rule table (WriteSerializable).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use silt_log::actions::{Add, Metadata, PartitionValues, Protocol, Remove, parse_action_line};
use silt_log::conflict::ConflictRule;
use silt_log::{Action, CommitOutcome, Operation, Snapshot, Transaction};
use silt_testkit::MemoryLogStore;

/// What a generated transaction does.
#[derive(Debug, Clone)]
enum Kind {
    /// Adds a file to partition p without reading anything.
    BlindAppend(u8),
    /// Reads partition p (and its files), adds a file to p.
    ReadAndAppend(u8),
    /// Reads partition of file f and f itself, removes f.
    Delete(u8),
    /// Changes a table property.
    SetProperty,
    /// Streaming batch: application `app`, batch version v, one file.
    AppBatch(u8, i64),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (0u8..3).prop_map(Kind::BlindAppend),
        (0u8..3).prop_map(Kind::ReadAndAppend),
        (0u8..4).prop_map(Kind::Delete),
        Just(Kind::SetProperty),
        ((0u8..2), (0i64..3)).prop_map(|(a, v)| Kind::AppBatch(a, v)),
    ]
}

fn part(p: u8) -> PartitionValues {
    [("p".to_string(), Some(format!("{p}")))]
        .into_iter()
        .collect()
}

/// Base files: file f lives in partition f % 3.
fn base_file(f: u8) -> Add {
    add(&format!("p={}/base-{f}.parquet", f % 3), f % 3)
}

fn add(path: &str, p: u8) -> Add {
    let line = format!(
        r#"{{"add":{{"path":"{path}","partitionValues":{{"p":"{p}"}},"size":10,"modificationTime":1,"dataChange":true,"stats":"{{\"numRecords\":1}}"}}}}"#
    );
    match parse_action_line(line.as_bytes()).unwrap().unwrap() {
        Action::Add(a) => *a,
        _ => unreachable!(),
    }
}

fn metadata(config: &str) -> Metadata {
    serde_json::from_str(&format!(
        r#"{{"id":"t","schemaString":"{{\"type\":\"struct\",\"fields\":[{{\"name\":\"p\",\"type\":\"string\",\"nullable\":true,\"metadata\":{{}}}}]}}","partitionColumns":["p"],"configuration":{config}}}"#
    ))
    .unwrap()
}

fn build(s: &Snapshot, i: usize, k: &Kind) -> Transaction {
    let new_file = |p: u8| add(&format!("p={p}/txn-{i}.parquet"), p);
    match k {
        Kind::BlindAppend(p) => s.transaction(Operation::append()).add_files([new_file(*p)]),
        Kind::ReadAndAppend(p) => s
            .transaction(Operation::merge())
            .read_partitions([part(*p)])
            .read_files(
                (0..4u8)
                    .filter(|f| f % 3 == *p)
                    .map(|f| base_file(f).path.to_string()),
            )
            .add_files([new_file(*p)]),
        Kind::Delete(f) => {
            let b = base_file(*f);
            s.transaction(Operation::delete())
                .read_partitions([part(f % 3)])
                .read_files([b.path.to_string()])
                .remove_files([Remove {
                    path: b.path.clone(),
                    deletion_timestamp: Some(1),
                    data_change: true,
                    extended_file_metadata: None,
                    partition_values: Some(b.partition_values.clone()),
                    size: Some(10),
                    stats: None,
                    tags: None,
                    deletion_vector: None,
                    base_row_id: None,
                    default_row_commit_version: None,
                }])
        }
        Kind::SetProperty => s
            .transaction(Operation::set_table_properties())
            .update_metadata(metadata(&format!(r#"{{"owner":"txn-{i}"}}"#))),
        Kind::AppBatch(app, v) => s
            .transaction(Operation::append())
            .set_app_transaction(format!("app-{app}"), *v)
            .add_files([new_file(0)]),
    }
}

/// The expected verdict of `k` given the transactions committed before it
/// (in commit order), per the rule table (WriteSerializable).
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Commit,
    Conflict(ConflictRule),
    AlreadyApplied,
}

fn model(k: &Kind, winners: &[&Kind]) -> Verdict {
    for w in winners {
        // Application transactions: same app id.
        if let (Kind::AppBatch(a, v), Kind::AppBatch(wa, wv)) = (k, w)
            && a == wa
        {
            return if wv >= v {
                Verdict::AlreadyApplied
            } else {
                Verdict::Conflict(ConflictRule::ConcurrentTransaction)
            };
        }
        // Metadata: a property change is not adoptable by anyone.
        if matches!(w, Kind::SetProperty) {
            return Verdict::Conflict(ConflictRule::MetadataChanged);
        }
        let (read_part, read_file): (Option<u8>, Option<u8>) = match k {
            Kind::ReadAndAppend(p) => (Some(*p), None),
            Kind::Delete(f) => (Some(f % 3), Some(*f)),
            _ => (None, None),
        };
        // Concurrent non-blind appends into a read partition.
        if let (Some(p), Kind::ReadAndAppend(wp)) = (read_part, w)
            && p == *wp
        {
            return Verdict::Conflict(ConflictRule::ConcurrentAppend);
        }
        // Deletes of files read (ReadAndAppend reads all files of its partition).
        if let Kind::Delete(wf) = w {
            let read_it = match k {
                Kind::ReadAndAppend(p) => wf % 3 == *p,
                Kind::Delete(f) => f == wf,
                _ => false,
            };
            if read_it {
                return Verdict::Conflict(ConflictRule::ConcurrentDeleteRead);
            }
        }
        let _ = read_file;
    }
    Verdict::Commit
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_transactions_match_the_serial_model(
        kinds in proptest::collection::vec(kind(), 1..7),
        order_seed in any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async move {
            let store = Arc::new(MemoryLogStore::default());
            let p: Protocol = serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":2}"#).unwrap();
            Transaction::create_table(store.clone(), p, metadata("{}")).commit().await.unwrap().version().unwrap();
            let s0 = Snapshot::builder(store.clone()).load().await.unwrap();
            s0.transaction(Operation::append()).add_files((0..4u8).map(base_file)).commit().await.unwrap().version().unwrap();
            let base = Snapshot::builder(store.clone()).load().await.unwrap();

            // All transactions start from `base`; they commit in a shuffled order.
            let txns: Vec<Transaction> = kinds.iter().enumerate().map(|(i, k)| build(&base, i, k)).collect();
            let mut order: Vec<usize> = (0..kinds.len()).collect();
            let mut x = order_seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut txns: Vec<Option<Transaction>> = txns.into_iter().map(Some).collect();
            let mut committed_kinds: Vec<&Kind> = Vec::new();
            let mut committed_ids: Vec<usize> = Vec::new();
            for i in order {
                let expected = model(&kinds[i], &committed_kinds);
                let outcome = txns[i].take().unwrap().commit().await.unwrap();
                let got = match &outcome {
                    CommitOutcome::Committed(c) => {
                        prop_assert_eq!(c.version, 2 + committed_ids.len() as u64, "contiguous versions");
                        Verdict::Commit
                    }
                    CommitOutcome::Conflict(c) => Verdict::Conflict(c.rule),
                    CommitOutcome::AlreadyApplied { .. } => Verdict::AlreadyApplied,
                };
                prop_assert_eq!(&got, &expected, "txn {} {:?} after {:?}", i, kinds[i], committed_kinds);
                if got == Verdict::Commit {
                    committed_kinds.push(&kinds[i]);
                    committed_ids.push(i);
                }
            }
            // Every committed transaction's file is in the log exactly once.
            let latest = Snapshot::builder(store.clone()).load().await.unwrap();
            prop_assert_eq!(latest.version(), 1 + committed_ids.len() as u64);
            let mut seen: HashMap<String, usize> = HashMap::new();
            for v in 2..=latest.version() {
                let bytes = silt_log::LogStore::read(store.as_ref(), &silt_log::log_path::commit_path(v)).await.unwrap();
                for a in silt_log::actions::parse_action_lines(&bytes).unwrap() {
                    if let Action::Add(a) = a {
                        *seen.entry(a.path.to_string()).or_default() += 1;
                    }
                }
            }
            prop_assert!(seen.values().all(|n| *n == 1), "{:?}", seen);
            let expected_files: HashSet<String> = committed_ids.iter()
                .filter(|i| !matches!(kinds[**i], Kind::Delete(_) | Kind::SetProperty))
                .map(|i| format!("txn-{i}.parquet"))
                .collect();
            let got_files: HashSet<String> = seen.keys().map(|p| p.rsplit('/').next().unwrap().to_string()).collect();
            prop_assert_eq!(got_files, expected_files);
            Ok(())
        })?;
    }
}
