//! Runs a Python script against the peer implementation (`deltalake`, i.e.
//! delta-rs) for interoperability tests.
//!
//! The interpreter is `$SILT_PYTHON` (set by scripts/test.sh to a venv that
//! has `deltalake` installed), else `python3`. A missing `deltalake` fails the
//! test rather than skipping it.
//!
//! `deltalake` keeps native runtime threads alive past the end of a script and
//! now and then aborts during interpreter shutdown ("terminate called without
//! an active exception") after the script's work is done and printed. The
//! runner therefore flushes stdout and leaves with `os._exit(0)` once the
//! script body has finished, so a clean result is never reported as a crash;
//! an exception in the body still exits non-zero with its traceback.

use std::process::Command;

/// The Python interpreter the peer tests use.
pub fn python() -> String {
    std::env::var("SILT_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs `script` with `args` as `sys.argv[1..]` and returns its stdout.
/// Panics with the script's stderr when it fails.
pub fn run_peer_script(script: &str, args: &[&str]) -> String {
    let wrapped = format!(
        "{script}\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n"
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(wrapped)
        .args(args)
        .output()
        .expect("the Python interpreter starts");
    assert!(
        out.status.success(),
        "peer script failed (is deltalake installed? scripts/test.sh installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `peer_pipeline.py`, the peer medallion pipeline (generator, polars +
/// deltalake pipeline, gold oracle): `$SILT_PEER_PIPELINE` (set by
/// scripts/test.sh through scripts/peer.sh), else `../shared/bench/` beside
/// the repository or beside the repository this clone came from. Panics
/// when it is nowhere.
pub fn peer_pipeline() -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    if let Ok(p) = std::env::var("SILT_PEER_PIPELINE") {
        return PathBuf::from(p);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = vec![repo.join("../shared/bench/peer_pipeline.py")];
    if let Ok(out) = Command::new("git")
        .args(["config", "--get", "remote.origin.url"])
        .current_dir(&repo)
        .output()
    {
        let origin = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !origin.is_empty() {
            candidates.push(Path::new(&origin).join("../shared/bench/peer_pipeline.py"));
        }
    }
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .expect("peer_pipeline.py not found: set SILT_PEER_PIPELINE (scripts/peer.sh)")
}

/// Runs `peer_pipeline.py` with `args`: whether it succeeded, and its
/// stdout followed by its stderr.
pub fn run_peer_pipeline(args: &[&str]) -> (bool, String) {
    let out = Command::new(python())
        .arg(peer_pipeline())
        .args(args)
        .output()
        .expect("the Python interpreter starts");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The shape of one `peer_pipeline.py gen` round.
#[derive(Debug, Clone, Copy)]
pub struct GenRound {
    /// Landing lines in the round.
    pub readings: u64,
    /// Devices.
    pub devices: u64,
    /// Landing files the readings are split into.
    pub files: u64,
    /// The seed (the same for every round of one data set).
    pub seed: u64,
}

/// Generates round `round` of `shape` below `out` (landing files in
/// `out/landing`); panics with the generator's output when it fails.
pub fn generate(out: &std::path::Path, shape: GenRound, round: u32) {
    let (ok, text) = run_peer_pipeline(&[
        "gen",
        "--out",
        &out.display().to_string(),
        "--readings",
        &shape.readings.to_string(),
        "--devices",
        &shape.devices.to_string(),
        "--files",
        &shape.files.to_string(),
        "--seed",
        &shape.seed.to_string(),
        "--round",
        &round.to_string(),
    ]);
    assert!(ok, "peer_pipeline.py gen: {text}");
}
