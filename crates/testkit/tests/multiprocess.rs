//! Many OS processes writing one local table, and writers killed with
//! SIGKILL at random points: the table always opens, versions are
//! contiguous, nothing partial is visible, and every acknowledged commit is
//! there exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use silt_log::{Protocol, Transaction};
use silt_store::TableBuilder;
use silt_testkit::metadata_line;

fn writer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silt-stress-writer"))
}

async fn create(location: &str) {
    let store = TableBuilder::new(location).build_store().unwrap();
    let protocol: Protocol =
        serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":2}"#).unwrap();
    let meta = match silt_log::actions::parse_action_line(metadata_line("stress", "{}").as_bytes())
    {
        Ok(Some(silt_log::Action::Metadata(m))) => *m,
        other => panic!("{other:?}"),
    };
    Transaction::create_table(store, protocol, meta)
        .commit()
        .await
        .unwrap()
        .version()
        .unwrap();
}

fn acks(stdout: &[u8]) -> Vec<i64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

async fn check_table(location: &str, acked: &BTreeMap<u64, Vec<i64>>) -> u64 {
    let s = TableBuilder::new(location).load().await.unwrap();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for f in s.files() {
        *count.entry(f.path.to_string()).or_default() += 1;
    }
    assert!(count.values().all(|n| *n == 1), "duplicate files");
    for (w, batches) in acked {
        for b in batches {
            assert_eq!(
                count.get(&format!("w{w}-{b}.parquet")),
                Some(&1),
                "writer {w} batch {b}"
            );
        }
    }
    // Every version loads (no gaps, nothing half-written).
    for v in [0, s.version() / 2, s.version()] {
        TableBuilder::new(location)
            .at_version(v)
            .load()
            .await
            .unwrap();
    }
    s.version()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_fifty_commits_each() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    create(&location).await;
    let children: Vec<_> = (0..8)
        .map(|w| {
            writer()
                .args([&location, &w.to_string(), "50"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut acked = BTreeMap::new();
    for (w, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "writer {w} failed");
        let a = acks(&out.stdout);
        assert_eq!(a, (0..50).collect::<Vec<_>>(), "writer {w}");
        acked.insert(w as u64, a);
    }
    let version = check_table(&location, &acked).await;
    assert_eq!(version, 400, "8 x 50 commits after version 0");
    let s = TableBuilder::new(&location).load().await.unwrap();
    assert_eq!(s.files().len(), 400);
    for w in 0..8 {
        assert_eq!(s.txn_version(&format!("writer-{w}")), Some(49));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_killed_at_random_points() {
    let trials: u64 = std::env::var("SILT_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().to_string();
    create(&location).await;
    let mut acked: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    let mut x: u64 = 0x5eed;
    for trial in 0..trials {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_millis(5 + x % 120);
        // Each trial is a new writer id continuing no earlier batches.
        let mut child = writer()
            .args([&location, &trial.to_string(), "1000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(delay).await;
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        acked.insert(trial, acks(&out.stdout));
        // The table opens after every crash, with every acknowledged commit.
        check_table(&location, &acked).await;
    }
    assert!(
        acked.values().map(Vec::len).sum::<usize>() > 0,
        "some commits landed"
    );
}
