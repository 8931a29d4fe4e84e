//! The `silt` binary end to end on a local table: create from CSV, append
//! JSON lines whose text values take the table's column types, query with a
//! predicate, delete with deletion vectors, read the change feed, time travel,
//! and typed failures with a non-zero exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

fn silt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(args)
        .output()
        .expect("the silt binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = silt(args);
    assert!(
        out.status.success(),
        "silt {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// "name type" of each column, as `silt describe --json` reports them.
fn column_types(table: &str) -> Vec<String> {
    let detail: serde_json::Value =
        serde_json::from_str(&ok(&["describe", table, "--json"])).unwrap();
    detail["metadata"]["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["name"].as_str().unwrap(),
                f["type"].as_str().unwrap()
            )
        })
        .collect()
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn csv_and_json_inputs_share_one_typed_table() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        &dir.path().join("readings.csv"),
        "device,city,temp,ts\nd1,Zurich,3.5,2026-11-24T08:00:00\nd2,Bern,4.0,2026-11-24T08:00:00\nd3,Zurich,-1.5,2026-11-24T08:05:00\n",
    );
    let json = write(
        &dir.path().join("more.jsonl"),
        "{\"device\":\"d4\",\"city\":\"Bern\",\"temp\":5.5,\"ts\":\"2026-11-24T09:00:00\"}\n{\"device\":\"d5\",\"city\":\"Zurich\",\"temp\":-3,\"ts\":\"2026-11-24T09:30:00\"}\n",
    );
    let table = dir.path().join("readings");
    let table = table.to_str().unwrap();
    ok(&[
        "append",
        table,
        &csv,
        "--create",
        "--partition-by",
        "city",
        "--property",
        "delta.enableDeletionVectors=true",
        "--property",
        "delta.enableChangeDataFeed=true",
    ]);
    // The JSON file's timestamps are strings and its -3 is an integer: both
    // are read as the table's types.
    ok(&["append", table, &json]);

    let rows = jsonl(&ok(&[
        "scan",
        table,
        "--where",
        "ts >= '2026-11-24T09:00:00' AND temp < 0",
        "--format",
        "jsonl",
    ]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["device"], "d5");
    assert_eq!(rows[0]["temp"], -3.0);

    ok(&["delete", table, "--where", "temp < 0"]);
    let mut left: Vec<String> = jsonl(&ok(&["scan", table, "--format", "jsonl"]))
        .iter()
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["d1", "d2", "d4"]);

    let deleted: Vec<String> = jsonl(&ok(&["changes", table, "--from", "2", "--format", "jsonl"]))
        .iter()
        .filter(|r| r["_change_type"] == "delete")
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect();
    let mut deleted = deleted;
    deleted.sort();
    assert_eq!(deleted, ["d3", "d5"]);

    // Version 1 still has all five rows.
    let before = jsonl(&ok(&["scan", table, "--version", "1", "--format", "jsonl"]));
    assert_eq!(before.len(), 5);
}

#[test]
fn csv_timestamps_with_a_zone_are_instants() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        &dir.path().join("events.csv"),
        "id,at,local\n1,2026-11-24T08:00:00Z,2026-11-24T08:00:00\n2,2026-11-24T10:30:00+02:00,2026-11-24T09:00:00\n",
    );
    let table = dir.path().join("events");
    let table = table.to_str().unwrap();
    ok(&["append", table, &csv, "--create"]);
    assert_eq!(
        column_types(table),
        ["id long", "at timestamp", "local timestamp_ntz"]
    );
    // 10:30 at +02:00 is 08:30 UTC.
    let rows = jsonl(&ok(&[
        "scan",
        table,
        "--where",
        "at > '2026-11-24T08:15:00Z'",
        "--format",
        "jsonl",
    ]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], 2);
}

#[test]
fn json_timestamps_are_found_when_creating() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(
        &dir.path().join("events.jsonl"),
        "{\"id\":1,\"at\":\"2026-11-24T08:00:00Z\",\"local\":\"2026-11-24 08:00:00\",\"note\":\"2026-11-24\"}\n{\"id\":2,\"at\":\"2026-11-24T10:30:00.5+02:00\",\"local\":null,\"note\":\"later\"}\n",
    );
    let table = dir.path().join("events");
    let table = table.to_str().unwrap();
    ok(&["append", table, &json, "--create"]);
    // JSON inference orders the columns by name.
    let types = column_types(table);
    assert_eq!(
        types,
        [
            "at timestamp",
            "id long",
            "local timestamp_ntz",
            "note string"
        ]
    );
    let rows = jsonl(&ok(&[
        "scan",
        table,
        "--where",
        "at > '2026-11-24T08:15:00Z'",
        "--format",
        "jsonl",
    ]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], 2);
}

#[test]
fn failures_are_reported_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let table = table.to_str().unwrap();
    let csv = write(&dir.path().join("a.csv"), "id,temp\n1,2.5\n");
    ok(&["append", table, &csv, "--create"]);

    // A value that cannot be read as the table's type names the input file.
    let bad = write(
        &dir.path().join("bad.jsonl"),
        "{\"id\":\"x\",\"temp\":1.0}\n",
    );
    let out = silt(&["append", table, &bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl"), "{err}");

    // Nothing was committed by the failed append.
    let rows = jsonl(&ok(&["scan", table, "--format", "jsonl"]));
    assert_eq!(rows.len(), 1);

    // A version that does not exist.
    let out = silt(&["scan", table, "--version", "7"]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());

    // Not a table at all.
    let out = silt(&["describe", dir.path().join("nothing").to_str().unwrap()]);
    assert!(!out.status.success());
}

#[test]
fn sql_queries_and_changes_tables_by_path_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let readings = dir.path().join("readings").to_string_lossy().to_string();
    let devices = dir.path().join("devices").to_string_lossy().to_string();
    let input = write(
        &dir.path().join("r.csv"),
        "device,temp\na,20.5\nb,18.0\na,22.5\nc,30.0\n",
    );
    ok(&["append", &readings, &input, "--create"]);
    // Aggregate by path, as JSON lines.
    let out = ok(&[
        "sql",
        &format!(
            "SELECT device, avg(temp) AS t FROM delta.'{readings}' GROUP BY device ORDER BY device"
        ),
        "--format",
        "jsonl",
    ]);
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["device"], "a");
    assert_eq!(rows[0]["t"], 21.5);
    // A script: CTAS, then MERGE from a registered name, then a query.
    let out = ok(&[
        "sql",
        &format!(
            "CREATE TABLE delta.'{devices}' AS SELECT device, max(temp) AS peak FROM r WHERE device <> 'c' GROUP BY device; \
             MERGE INTO delta.'{devices}' AS d USING (SELECT device, max(temp) AS peak FROM r GROUP BY device) AS s \
               ON d.device = s.device \
               WHEN MATCHED AND s.peak > d.peak THEN UPDATE SET peak = s.peak \
               WHEN NOT MATCHED THEN INSERT (device, peak) VALUES (s.device, s.peak); \
             SELECT device, peak FROM delta.'{devices}' ORDER BY device"
        ),
        "--table",
        &format!("r={readings}"),
        "--format",
        "csv",
    ]);
    assert_eq!(out, "device,peak\na,22.5\nb,18.0\nc,30.0\n");
    // The merge is a commit with its metrics; time travel reads before it.
    let history = jsonl(&ok(&["history", &devices, "--json"]));
    assert_eq!(history[0]["operation"], "MERGE");
    let out = ok(&[
        "sql",
        &format!("SELECT count(*) AS n FROM delta.'{devices}@v0'"),
        "--format",
        "csv",
    ]);
    assert_eq!(out, "n\n2\n");
    // A bad statement fails with a message and a non-zero exit.
    let out = silt(&["sql", "SELECT nope FROM delta.'/definitely/not/a/table'"]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
}

#[test]
fn alter_evolves_a_table_and_appends_fill_identity_and_generated_columns() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t").to_string_lossy().to_string();
    ok(&[
        "sql",
        &format!(
            "CREATE TABLE delta.'{table}' (id BIGINT GENERATED ALWAYS AS IDENTITY, temp DOUBLE, \
             f DOUBLE GENERATED ALWAYS AS (temp * 9 / 5 + 32))"
        ),
    ]);
    // `silt append` fills the identity and generated columns.
    let input = write(&dir.path().join("a.csv"), "temp\n20.0\n-40.0\n");
    ok(&["append", &table, &input]);
    let out = ok(&["scan", &table, "--format", "csv"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["1,20.0,68.0", "2,-40.0,-40.0", "id,temp,f"]);
    // `silt alter` takes ALTER TABLE clauses, one commit each.
    let out = ok(&[
        "alter",
        &table,
        "SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')",
    ]);
    assert!(out.contains("committed version"), "{out}");
    ok(&["alter", &table, "ADD", "COLUMNS", "(site STRING)"]);
    ok(&["alter", &table, "RENAME COLUMN site TO location"]);
    assert_eq!(
        column_types(&table),
        vec!["id long", "temp double", "f double", "location string"]
    );
    // describe shows the column rules as DDL would declare them.
    let text = ok(&["describe", &table]);
    assert!(
        text.contains(
            "GENERATED ALWAYS AS IDENTITY (START WITH 1 INCREMENT BY 1; high-water mark 2)"
        ) && text.contains("GENERATED ALWAYS AS (temp * 9 / 5 + 32)"),
        "{text}"
    );
    // A clause that would break the table fails with a message.
    let out = silt(&["alter", &table, "DROP COLUMN temp"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the expression of column \"f\""), "{err}");
}

#[test]
fn a_wrong_checksum_file_is_shown_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(&dir.path().join("r.csv"), "device,temp\nd1,3.5\nd2,4.0\n");
    let table = dir.path().join("t");
    let table = table.to_str().unwrap();
    ok(&["append", table, &csv, "--create"]);
    // A `.crc` that claims ten files where the log has one.
    std::fs::write(
        dir.path().join("t/_delta_log/00000000000000000000.crc"),
        r#"{"tableSizeBytes":1,"numFiles":10,"numMetadata":1,"numProtocol":1}"#,
    )
    .unwrap();
    let text = ok(&["describe", table]);
    assert!(
        text.contains("checksum") && text.contains("numFiles is 10 but replay found 1"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["describe", table, "--json"])).unwrap();
    assert_eq!(json["numFiles"], 1);
    assert!(
        json["checksumDiscrepancy"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("numFiles is 10")),
        "{json}"
    );
    // The table is still read and written.
    assert_eq!(jsonl(&ok(&["scan", table, "--format", "jsonl"])).len(), 2);
    ok(&["append", table, &csv]);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::Read;
    for format in ["csv", "jsonl", "table"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_silt"))
            .args([
                "sql",
                "SELECT * FROM generate_series(1, 2000000)",
                "--format",
                format,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head -c 100`: read a little, then close the pipe.
        let mut first = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {err}");
        assert!(!err.contains("pipe"), "{format}: {err}");
    }
    // Commands that print line by line (here the demo's report) end
    // quietly too instead of panicking on the closed pipe.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(["demo", dir.path().join("demo").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo: {err}");
    assert!(!err.contains("panicked"), "demo: {err}");
}
