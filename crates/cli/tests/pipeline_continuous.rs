//! A continuous run while the world moves: new days of landing files
//! arrive, another process compacts (OPTIMIZE) the silver table and
//! appends (resent) rows to a bronze table the pipeline streams from. No
//! flow may fail, nothing may be duplicated, gold must equal the peer's
//! oracle, and SIGTERM stops the run cleanly at a batch boundary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn peer(args: &[&str]) -> (bool, String) {
    silt_testkit::peer::run_peer_pipeline(args)
}

fn silt(args: &[&str]) -> String {
    silt_testkit::run_ok(env!("CARGO_BIN_EXE_silt"), args)
}

fn generate(data: &Path, round: u32) {
    let shape = silt_testkit::peer::GenRound {
        readings: 8000,
        devices: 80,
        files: 3,
        seed: 5,
    };
    silt_testkit::peer::generate(data, shape, round);
}

fn compare(lake: &Path, landing: &Path) -> (bool, String) {
    peer(&[
        "compare",
        "--lake",
        &lake.display().to_string(),
        "--landing",
        &landing.display().to_string(),
    ])
}

/// Waits until gold matches the oracle (the pipeline caught up).
fn wait_for_gold(lake: &Path, landing: &Path, limit: Duration) {
    let start = Instant::now();
    loop {
        if lake.join("gold/site_daily/_delta_log").exists() && compare(lake, landing).0 {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "gold did not catch up in {limit:?}: {}",
            compare(lake, landing).1
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[cfg(unix)]
#[test]
fn continuous_run_survives_compaction_and_foreign_appends_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let landing = data.join("landing");
    let lake = dir.path().join("lake");
    generate(&data, 0);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/iot-lake");
    let child = Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(["pipeline", "run"])
        .arg(&example)
        .arg("--conf")
        .arg(format!("landing={}", landing.display()))
        .arg("--storage")
        .arg(&lake)
        .args(["--continuous", "--trigger-interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_gold(&lake, &landing, Duration::from_secs(120));
    let silver = lake.join("silver/readings").display().to_string();
    let bronze = lake.join("bronze/readings_raw").display().to_string();
    for round in 1..3 {
        generate(&data, round);
        for _ in 0..2 {
            silt(&["optimize", &silver]);
            // Resent readings appended by someone else: silver must not
            // change, the quarantine must not grow.
            silt(&[
                "sql",
                &format!(
                    "INSERT INTO delta.'{bronze}' SELECT * FROM delta.'{bronze}' WHERE _corrupt_record IS NULL LIMIT 50"
                ),
            ]);
            std::thread::sleep(Duration::from_millis(150));
        }
        wait_for_gold(&lake, &landing, Duration::from_secs(120));
    }
    // SIGTERM: the run stops at a batch boundary and exits cleanly.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the continuous run failed: {stderr}");
    assert!(
        stderr.contains("stopping at the next batch boundary"),
        "{stderr}"
    );
    let (ok, text) = compare(&lake, &landing);
    assert!(ok, "{text}");
    // No duplicates in silver: one row per (device_id, ts).
    let dup = silt(&[
        "sql",
        &format!("SELECT count(*) - count(DISTINCT (device_id, ts)) AS dup FROM delta.'{silver}'"),
        "--format",
        "csv",
    ]);
    assert!(dup.trim().ends_with("\n0"), "{dup}");
}
