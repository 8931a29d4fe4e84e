//! The `silt` binary on real object-store servers through `--storage-option`:
//! Azure Blob (Azurite) and S3 (moto, serialized), both started by
//! scripts/test.sh. Built only with the `emulator-tests` feature.

#![cfg(feature = "emulator-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::process::Command;

fn silt(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(args)
        .output()
        .expect("the silt binary runs");
    assert!(
        out.status.success(),
        "silt {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `args` followed by `--storage-option k=v` for each option.
fn with_options(args: &[&str], options: &[(&str, String)]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    for (k, v) in options {
        all.extend(["--storage-option".to_string(), format!("{k}={v}")]);
    }
    all
}

/// Creates, appends, deletes, checkpoints and reads back one table at `uri`
/// with `options` passed as `--storage-option` on every command.
fn workflow(uri: &str, options: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    std::fs::write(&a, "id,city\n1,Zurich\n2,Bern\n3,Basel\n").unwrap();
    let b = dir.path().join("b.jsonl");
    std::fs::write(&b, "{\"id\":4,\"city\":\"Bern\"}\n").unwrap();
    let run = |args: &[&str]| silt(&with_options(args, options));
    run(&[
        "append",
        uri,
        a.to_str().unwrap(),
        "--create",
        "--partition-by",
        "city",
    ]);
    run(&["append", uri, b.to_str().unwrap()]);
    run(&["delete", uri, "--where", "id = 2"]);
    run(&["checkpoint", uri]);
    let ids = |text: String| {
        let mut ids: Vec<i64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(run(&["scan", uri, "--format", "jsonl"])), [1, 3, 4]);
    assert_eq!(
        ids(run(&[
            "scan",
            uri,
            "--where",
            "city = 'Bern'",
            "--format",
            "jsonl"
        ])),
        [4]
    );
    assert_eq!(
        ids(run(&["scan", uri, "--version", "1", "--format", "jsonl"])),
        [1, 2, 3, 4]
    );
    let history = run(&["history", uri]);
    assert!(history.contains("DELETE"), "{history}");
    // SQL on the same table in blob storage: UPDATE moves a row to another
    // partition, MERGE deletes a match and inserts a new key.
    let out = run(&[
        "sql",
        &format!(
            "UPDATE delta.'{uri}' SET city = 'Geneva' WHERE id = 3; \
             MERGE INTO delta.'{uri}' AS t \
               USING (SELECT 4 AS id, 'Bern' AS city UNION ALL SELECT 5, 'Chur') AS s ON t.id = s.id \
               WHEN MATCHED THEN DELETE \
               WHEN NOT MATCHED THEN INSERT (id, city) VALUES (s.id, s.city); \
             SELECT id, city FROM delta.'{uri}' ORDER BY id"
        ),
        "--format",
        "jsonl",
    ]);
    assert_eq!(ids(out.clone()), [1, 3, 5]);
    assert!(out.contains("Geneva") && out.contains("Chur"), "{out}");
    let history = run(&["history", uri]);
    assert!(
        history.contains("MERGE") && history.contains("UPDATE"),
        "{history}"
    );
}

/// 8 writer threads, each running `silt append` as a separate OS process
/// 25 times (4 rows per commit, ids unique per writer and commit), against
/// one table at `uri`: 200 contiguous commits after the creation, every row
/// exactly once — as silt scans it and as `deltalake` reads it through the
/// same server.
fn racing_processes(uri: &str, options: &[(&str, String)], peer_options: &str) {
    let dir = tempfile::tempdir().unwrap();
    let with_opts = |args: &[&str]| with_options(args, options);
    silt(&with_opts(&[
        "create",
        uri,
        "--schema",
        r#"{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"writer","type":"long","nullable":true,"metadata":{}}]}"#,
    ]));
    let (writers, commits, rows) = (8u64, 25u64, 4u64);
    std::thread::scope(|scope| {
        for w in 0..writers {
            let dir = dir.path().to_path_buf();
            let with_opts = &with_opts;
            scope.spawn(move || {
                for c in 0..commits {
                    let file = dir.join(format!("w{w}-{c}.csv"));
                    let body: String = (0..rows)
                        .map(|r| format!("{},{w}\n", (w * commits + c) * rows + r))
                        .collect();
                    std::fs::write(&file, format!("id,writer\n{body}")).unwrap();
                    silt(&with_opts(&["append", uri, file.to_str().unwrap()]));
                }
            });
        }
    });
    let history = silt(&with_opts(&["history", uri, "--json"]));
    let versions: Vec<u64> = history
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["version"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..=writers * commits).collect::<Vec<_>>(),
        "contiguous"
    );
    let total = writers * commits * rows;
    let out = silt(&with_opts(&[
        "sql",
        &format!(
            "SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM delta.'{uri}'"
        ),
        "--format",
        "csv",
    ]));
    assert_eq!(out, format!("n,d,lo,hi\n{total},{total},0,{}\n", total - 1));
    let peer = silt_testkit::peer::run_peer_script(
        "import sys, json\nfrom deltalake import DeltaTable\nt = DeltaTable(sys.argv[1], storage_options=json.loads(sys.argv[2]))\nids = t.to_pyarrow_table(columns=['id']).column('id').to_pylist()\nprint(t.version(), len(ids), len(set(ids)))",
        &[uri, peer_options],
    );
    assert_eq!(
        peer.trim(),
        format!("{} {total} {total}", writers * commits),
        "deltalake reads the same table"
    );
}

fn azurite_options() -> Vec<(&'static str, String)> {
    let endpoint = std::env::var("SILT_AZURITE_URL")
        .expect("SILT_AZURITE_URL: run the tests through scripts/test.sh, which starts Azurite");
    vec![
        ("azure_storage_use_emulator", "true".into()),
        (
            "azure_storage_endpoint",
            format!("{endpoint}/devstoreaccount1"),
        ),
    ]
}

fn s3_options() -> Vec<(&'static str, String)> {
    let endpoint = std::env::var("SILT_S3_URL")
        .expect("SILT_S3_URL: run the tests through scripts/test.sh, which starts the S3 server");
    vec![
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true".into()),
        ("aws_region", "us-east-1".into()),
        ("aws_access_key_id", "test".into()),
        ("aws_secret_access_key", "test".into()),
        ("aws_virtual_hosted_style_request", "false".into()),
        ("aws_conditional_put", "etag".into()),
    ]
}

/// The same options as JSON for `deltalake` (it takes object_store keys).
fn peer_options(options: &[(&str, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = options
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[test]
fn cli_on_azurite() {
    let uri = format!("az://silt/{}/cli", uuid_like());
    workflow(&uri, &azurite_options());
}

#[test]
fn cli_on_s3() {
    let uri = format!("s3://silt/{}/cli", uuid_like());
    workflow(&uri, &s3_options());
}

#[test]
fn racing_processes_on_azurite() {
    let uri = format!("az://silt/{}/race", uuid_like());
    let options = azurite_options();
    racing_processes(&uri, &options, &peer_options(&options));
}

#[test]
fn racing_processes_on_s3() {
    let uri = format!("s3://silt/{}/race", uuid_like());
    let options = s3_options();
    racing_processes(&uri, &options, &peer_options(&options));
}

/// A fresh prefix per run (nanoseconds and process id).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}-{}", std::process::id())
}
