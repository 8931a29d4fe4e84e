//! Deterministic simulation: concurrent writers on one single-threaded
//! runtime over an in-memory store with seeded faults (failed puts, lost put
//! responses, failed reads, slow operations) and writers that crash between
//! writing a data file and committing it. Time and ids come from a
//! `SeededEnvironment`, so one seed reproduces a run (checked: a seed run
//! twice writes the same commits byte for byte and the same log files):
//! `SILT_SIM_SEED=<n> cargo test -p silt-testkit --test simulation`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use silt_log::transaction::CommitOptions;
use silt_log::{
    CommitOutcome, Environment, LogStore, Operation, Protocol, SeededEnvironment, Snapshot,
    Transaction,
};
use silt_testkit::sim::{FaultRates, FaultyStore, SimRng};
use silt_testkit::{MemoryLogStore, add_action, metadata_line};

const WRITERS: u64 = 4;
const BATCHES: i64 = 8;

/// One simulated run; returns the log it left (file name → bytes).
async fn run(seed: u64) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let env: Arc<dyn Environment> = Arc::new(SeededEnvironment::new(seed, 1_700_000_000_000, 1));
    let options = CommitOptions {
        env,
        ..CommitOptions::default()
    };
    let memory = Arc::new(MemoryLogStore::default());
    let store: Arc<dyn LogStore> = Arc::new(FaultyStore::new(
        memory.clone(),
        seed,
        FaultRates::default(),
    ));
    let protocol: Protocol =
        serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":2}"#).unwrap();
    let meta = match silt_log::actions::parse_action_line(
        metadata_line("sim", r#"{"delta.checkpointInterval":"5"}"#).as_bytes(),
    ) {
        Ok(Some(silt_log::Action::Metadata(m))) => *m,
        other => panic!("{other:?}"),
    };
    // Creation itself may hit faults; retry until it lands.
    loop {
        match Transaction::create_table(store.clone(), protocol.clone(), meta.clone())
            .with_options(options.clone())
            .commit()
            .await
        {
            Ok(_) | Err(silt_log::LogError::TableAlreadyExists { .. }) => break,
            Err(_) => continue,
        }
    }
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let memory = memory.clone();
        let options = options.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut rng = SimRng::new(seed * 1000 + w);
            let mut acked: Vec<i64> = Vec::new();
            for batch in 0..BATCHES {
                let data = format!("data/w{w}-b{batch}.parquet");
                // Write the data file first (as a writer does) ...
                memory.put(&data, "parquet bytes");
                // ... and sometimes crash before committing it.
                if rng.chance(0.05) {
                    return acked;
                }
                loop {
                    let Ok(snapshot) = Snapshot::builder(store.clone()).load().await else {
                        continue;
                    };
                    let outcome = snapshot
                        .transaction(Operation::append())
                        .with_options(options.clone())
                        .set_app_transaction(format!("w{w}"), batch)
                        .add_files([add_action(&data, 10, 1)])
                        .commit()
                        .await;
                    match outcome {
                        Ok(CommitOutcome::Committed(_))
                        | Ok(CommitOutcome::AlreadyApplied { .. }) => {
                            acked.push(batch);
                            break;
                        }
                        // A listing that lagged behind (an injected
                        // truncated list) hid this writer's own previous
                        // batch; the winner carrying its app id is a
                        // conflict (as in Spark). Reload and retry.
                        Ok(CommitOutcome::Conflict(c))
                            if c.rule
                                == silt_log::conflict::ConflictRule::ConcurrentTransaction =>
                        {
                            continue;
                        }
                        Ok(CommitOutcome::Conflict(c)) => {
                            panic!("seed {seed}: blind append conflicted: {c}")
                        }
                        // Storage faults and uncertain outcomes: retry the same
                        // batch; the app transaction makes it idempotent.
                        Err(_) => continue,
                    }
                }
            }
            acked
        }));
    }
    let mut acked: HashMap<u64, Vec<i64>> = HashMap::new();
    for (w, t) in tasks.into_iter().enumerate() {
        acked.insert(w as u64, t.await.unwrap());
    }

    // The table opens (from its checkpoints and commits), through a clean store.
    let snapshot = Snapshot::builder(memory.clone())
        .load()
        .await
        .map_err(|e| format!("seed {seed}: {e}"))?;
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for f in snapshot.files() {
        *count.entry(f.path.to_string()).or_default() += 1;
        if memory.read(f.path.as_str()).await.is_err() {
            return Err(format!(
                "seed {seed}: committed file {} was never written",
                f.path
            ));
        }
    }
    for (w, batches) in &acked {
        for b in batches {
            let path = format!("data/w{w}-b{b}.parquet");
            if count.get(&path) != Some(&1) {
                return Err(format!(
                    "seed {seed}: acknowledged {path} appears {:?} times",
                    count.get(&path)
                ));
            }
        }
        let last = batches.last().copied();
        if snapshot.txn_version(&format!("w{w}")) != last {
            return Err(format!(
                "seed {seed}: writer {w} txn version {:?} != {last:?}",
                snapshot.txn_version(&format!("w{w}"))
            ));
        }
    }
    // Every commit version from 0 to latest exists exactly once (contiguous).
    let listed = memory.list("_delta_log/", None).await.unwrap();
    let commits: Vec<u64> = listed
        .iter()
        .filter_map(|f| silt_log::log_path::LogFileName::parse(&f.path))
        .filter(|n| n.kind == silt_log::log_path::LogFileKind::Commit)
        .map(|n| n.version)
        .collect();
    if commits != (0..=snapshot.version()).collect::<Vec<_>>() {
        return Err(format!("seed {seed}: commit versions {commits:?}"));
    }
    let mut log = BTreeMap::new();
    for f in listed {
        let bytes = memory.read(&f.path).await.unwrap();
        log.insert(f.path, bytes.to_vec());
    }
    Ok(log)
}

/// Runs `seed` on a fresh single-threaded runtime.
fn simulate(seed: u64) -> BTreeMap<String, Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    match local.block_on(&rt, run(seed)) {
        Ok(log) => log,
        Err(e) => panic!("{e}\nreproduce with SILT_SIM_SEED={seed}"),
    }
}

#[test]
fn seeded_simulation_of_concurrent_writers_with_faults() {
    let seeds: Vec<u64> = match std::env::var("SILT_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SILT_SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SILT_SIM_SEEDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(40);
            (0..n).collect()
        }
    };
    for seed in seeds {
        simulate(seed);
    }
}

#[test]
fn a_seed_reproduces_its_commits_byte_for_byte() {
    for seed in [3, 17] {
        let (a, b) = (simulate(seed), simulate(seed));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "seed {seed}: the same log files"
        );
        // A checkpoint's rows keep replay's order, which may differ.
        for (name, bytes) in a.iter().filter(|(n, _)| n.ends_with(".json")) {
            assert!(
                &b[name] == bytes,
                "seed {seed}: {name} differs between runs"
            );
        }
    }
}
