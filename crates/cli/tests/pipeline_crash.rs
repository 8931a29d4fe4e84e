//! Exactly-once under crashes and races: the example pipeline is killed
//! with SIGKILL at random points (triggered and continuous runs), then run
//! again, and every table must equal the uninterrupted run's (no lost, no
//! duplicated rows); two processes running the same pipeline at once give
//! the same tables too. Landing data comes from `peer_pipeline.py gen`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TABLES: &[(&str, &str)] = &[
    ("bronze/readings_raw", "_ingested_at"),
    ("bronze/readings_quarantine", "_ingested_at"),
    ("bronze/devices_changes", "_ingested_at"),
    ("silver/readings", ""),
    ("silver/devices", ""),
    ("silver/devices_history", ""),
    ("gold/site_daily", ""),
];

fn generate(out: &Path, round: u32) {
    let shape = silt_testkit::peer::GenRound {
        readings: 6000,
        devices: 60,
        files: 4,
        seed: 11,
    };
    silt_testkit::peer::generate(out, shape, round);
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/iot-lake")
}

fn pipeline_cmd(landing: &Path, lake: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_silt"));
    c.args(["pipeline", "run"])
        .arg(example())
        .arg("--conf")
        .arg(format!("landing={}", landing.display()))
        .arg("--storage")
        .arg(lake)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn run_to_end(landing: &Path, lake: &Path) {
    let out = pipeline_cmd(landing, lake, &[])
        .output()
        .expect("silt runs");
    assert!(
        out.status.success(),
        "pipeline run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every table's rows (without columns that hold the ingestion time), as
/// sorted JSON lines.
fn dump(lake: &Path) -> BTreeMap<String, Vec<String>> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let session = silt_sql::SiltSession::new();
        let mut out = BTreeMap::new();
        for (table, skip) in TABLES {
            let path = lake.join(table);
            let except = if skip.is_empty() {
                String::new()
            } else {
                format!(" EXCEPT ({skip})")
            };
            let batches = session
                .run(&format!("SELECT *{except} FROM delta.'{}'", path.display()))
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
            let mut buf = Vec::new();
            {
                let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
                for b in &batches {
                    w.write(b).expect("json");
                }
                w.finish().expect("json");
            }
            // Floats to 12 significant digits: an average summed in another
            // order differs in its last bits.
            let mut lines: Vec<String> = String::from_utf8_lossy(&buf)
                .lines()
                .map(|l| {
                    let mut v: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(l).expect("row json");
                    for x in v.values_mut() {
                        if let Some(f) = x.as_f64().filter(|_| x.is_f64()) {
                            *x = serde_json::Value::String(format!("{f:.11e}"));
                        }
                    }
                    serde_json::Value::Object(v).to_string()
                })
                .collect();
            lines.sort();
            out.insert(table.to_string(), lines);
        }
        out
    })
}

fn assert_same(
    got: &BTreeMap<String, Vec<String>>,
    want: &BTreeMap<String, Vec<String>>,
    what: &str,
) {
    for (table, rows) in want {
        let g = &got[table];
        if g != rows {
            let missing = rows
                .iter()
                .filter(|r| !g.contains(r))
                .take(3)
                .collect::<Vec<_>>();
            let extra = g
                .iter()
                .filter(|r| !rows.contains(r))
                .take(3)
                .collect::<Vec<_>>();
            panic!(
                "{what}: {table} has {} rows, the uninterrupted run {}; missing e.g. {missing:?}; unexpected e.g. {extra:?}",
                g.len(),
                rows.len()
            );
        }
    }
}

fn trials() -> usize {
    std::env::var("SILT_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// A cheap deterministic sequence of kill delays.
fn delays(n: usize, max: Duration, seed: u64) -> Vec<Duration> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            max.mul_f64((x % 10_000) as f64 / 10_000.0)
        })
        .collect()
}

#[cfg(unix)]
fn kill_after(mut child: std::process::Child, after: Duration) -> bool {
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    true
}

#[cfg(unix)]
#[test]
fn sigkill_at_any_point_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    generate(&data, 0);
    generate(&data, 1);
    let landing = data.join("landing");
    let reference = dir.path().join("reference");
    let started = Instant::now();
    run_to_end(&landing, &reference);
    // Kill delays spread over an uninterrupted run's time: the shorter of
    // two runs, so a first run slowed by cold caches or a busy machine does
    // not push most delays past the end of the runs.
    let mut full = started.elapsed();
    let scratch = dir.path().join("scratch");
    let started = Instant::now();
    run_to_end(&landing, &scratch);
    full = full.min(started.elapsed());
    let _ = std::fs::remove_dir_all(&scratch);
    let want = dump(&reference);
    assert!(want["silver/readings"].len() > 5000);
    let n = trials();
    let mut killed = 0;
    for (i, delay) in delays(n, full, 0x9E37_79B9).into_iter().enumerate() {
        let lake = dir.path().join(format!("triggered-{i}"));
        let child = pipeline_cmd(&landing, &lake, &[])
            .spawn()
            .expect("silt runs");
        killed += usize::from(kill_after(child, delay));
        // A second crash in the restarted run, then a clean run.
        if i % 3 == 0 {
            let child = pipeline_cmd(&landing, &lake, &[])
                .spawn()
                .expect("silt runs");
            kill_after(child, delay / 2);
        }
        run_to_end(&landing, &lake);
        assert_same(
            &dump(&lake),
            &want,
            &format!("triggered trial {i} (killed after {delay:?})"),
        );
        let _ = std::fs::remove_dir_all(&lake);
    }
    assert!(
        killed >= n / 2,
        "only {killed} of {n} runs were killed before they ended"
    );
    let mut killed = 0;
    for (i, delay) in delays(n, full + full / 2, 0xC0FF_EE11)
        .into_iter()
        .enumerate()
    {
        let lake = dir.path().join(format!("continuous-{i}"));
        let child = pipeline_cmd(
            &landing,
            &lake,
            &["--continuous", "--trigger-interval", "50ms"],
        )
        .spawn()
        .expect("silt runs");
        killed += usize::from(kill_after(child, delay));
        run_to_end(&landing, &lake);
        assert_same(
            &dump(&lake),
            &want,
            &format!("continuous trial {i} (killed after {delay:?})"),
        );
        let _ = std::fs::remove_dir_all(&lake);
    }
    assert_eq!(killed, n, "a continuous run ended by itself");
}

#[test]
fn two_processes_running_the_same_pipeline_write_each_batch_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    generate(&data, 0);
    generate(&data, 1);
    let landing = data.join("landing");
    let reference = dir.path().join("reference");
    run_to_end(&landing, &reference);
    let want = dump(&reference);
    for trial in 0..3 {
        let lake = dir.path().join(format!("race-{trial}"));
        let a = pipeline_cmd(&landing, &lake, &[])
            .spawn()
            .expect("silt runs");
        let b = pipeline_cmd(&landing, &lake, &[])
            .spawn()
            .expect("silt runs");
        for (name, child) in [("first", a), ("second", b)] {
            let out = child.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "trial {trial}: the {name} process failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Whatever either left undone, a third run finishes.
        run_to_end(&landing, &lake);
        assert_same(&dump(&lake), &want, &format!("race trial {trial}"));
    }
}
