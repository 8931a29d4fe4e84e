//! Invariants of silt-log's source, checked on the source itself: protocol
//! code reads no clock and makes no random ids except through
//! `environment` (so simulations control both), and touches no file
//! system (storage goes through `LogStore`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::Path;

fn sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(out.len() > 10, "read silt-log's sources from {dir:?}");
    out
}

#[test]
fn clock_and_ids_only_through_the_environment() {
    for (name, text) in sources() {
        if name == "environment.rs" {
            continue;
        }
        for banned in ["Utc::now", "SystemTime", "Instant::now", "new_v4", "rand::"] {
            assert!(
                !text.contains(banned),
                "{name} uses {banned}: take time and ids from silt_log::Environment"
            );
        }
    }
}

#[test]
fn no_file_system_access() {
    for (name, text) in sources() {
        for banned in ["std::fs", "tokio::fs", "File::open", "File::create"] {
            assert!(
                !text.contains(banned),
                "{name} uses {banned}: silt-log reads and writes through LogStore"
            );
        }
    }
}
