//! The example project `examples/iot-lake` over data from the peer
//! benchmark's generator (`peer_pipeline.py gen`), checked with its oracle
//! (`peer_pipeline.py compare`) after every round.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use silt_medallion::project::{ProjectOptions, load};
use silt_medallion::{RunOptions, run};

fn peer(args: &[&str]) -> String {
    let (ok, text) = silt_testkit::peer::run_peer_pipeline(args);
    assert!(ok, "peer_pipeline.py {args:?} failed:\n{text}");
    text
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/iot-lake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_lake_matches_the_oracle_round_after_round() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("iot");
    let lake = dir.path().join("lake");
    let landing = data.join("landing");
    let options = ProjectOptions {
        conf: [("landing".to_string(), landing.display().to_string())].into(),
        storage: Some(lake.display().to_string()),
        ..ProjectOptions::default()
    };
    for round in 0..3 {
        peer(&[
            "gen",
            "--out",
            &data.display().to_string(),
            "--readings",
            "20000",
            "--devices",
            "100",
            "--files",
            "3",
            "--seed",
            "7",
            "--round",
            &round.to_string(),
        ]);
        let project = load(&example(), &options).unwrap();
        let reports = run(&project.pipeline, &RunOptions::default())
            .await
            .unwrap();
        let report = &reports[0];
        assert!(report.succeeded(), "round {round}: {:?}", report.failure());
        let out = peer(&[
            "compare",
            "--lake",
            &lake.display().to_string(),
            "--landing",
            &landing.display().to_string(),
        ]);
        assert!(out.contains("OK"), "round {round}: {out}");
    }
    // Nothing new: every streaming flow is idle and gold is not recomputed.
    let project = load(&example(), &options).unwrap();
    let reports = run(&project.pipeline, &RunOptions::default())
        .await
        .unwrap();
    for f in &reports[0].flows {
        assert!(
            !matches!(f.status, silt_medallion::FlowStatus::Completed),
            "{} ran again: {:?}",
            f.flow,
            f.status
        );
    }
}
