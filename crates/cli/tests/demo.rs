//! The README's main job: `silt demo` runs the IoT lake end to end
//! (triggered, then continuous while two more days land) and leaves a lake
//! whose silver readings hold each (device, time) once and whose gold
//! table accounts for every silver reading of a live device.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

fn silt(args: &[&str]) -> String {
    silt_testkit::run_ok(env!("CARGO_BIN_EXE_silt"), args)
}

fn one_number(sql: &str) -> i64 {
    let out = silt(&["sql", sql, "--format", "csv"]);
    out.lines().last().unwrap().trim().parse().unwrap()
}

#[test]
fn the_demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = silt(&["demo", &dir.path().display().to_string()]);
    for expected in [
        "landed day 0",
        "silt pipeline run",
        "--continuous",
        "[landing] day 3",
        "silt pipeline status",
        "gold.site_daily",
        "demo finished",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let lake = dir.path().join("lake");
    // A continuous run stops at a batch boundary, which may fall between
    // silver and gold: a triggered update catches gold up.
    silt(&[
        "pipeline",
        "run",
        &dir.path().join("iot-lake").display().to_string(),
        "--conf",
        &format!("landing={}", dir.path().join("landing").display()),
        "--storage",
        &lake.display().to_string(),
    ]);
    let silver = format!("delta.'{}/silver/readings'", lake.display());
    let devices = format!("delta.'{}/silver/devices'", lake.display());
    let gold = format!("delta.'{}/gold/site_daily'", lake.display());
    let readings = one_number(&format!("SELECT count(*) FROM {silver}"));
    assert!(readings > 40_000, "four days of readings: {readings}");
    assert_eq!(
        one_number(&format!(
            "SELECT count(*) FROM (SELECT DISTINCT device_id, ts FROM {silver})"
        )),
        readings,
        "each (device, time) once"
    );
    assert_eq!(
        one_number(&format!("SELECT sum(readings) FROM {gold}")),
        one_number(&format!(
            "SELECT count(*) FROM {silver} r JOIN {devices} d ON r.device_id = d.device_id"
        )),
        "gold counts every reading of a live device"
    );
}
