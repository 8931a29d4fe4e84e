//! The `silt` binary on real object-store servers through `--storage-option`:
//! Azure Blob (Azurite) and S3 (moto, serialized), both started by
//! scripts/test.sh. Built only with the `emulator-tests` feature.

#![cfg(feature = "emulator-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::Path;
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

/// A TCP proxy on loopback in front of a storage server whose link can be
/// cut (open connections are shut down, new ones refused) and restored: a
/// storage outage.
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // refused while the link is cut
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut open = open2.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The example pipeline's tables and the columns holding ingestion times.
const PIPELINE_TABLES: &[(&str, &str)] = &[
    ("bronze/readings_raw", " EXCEPT (_ingested_at)"),
    ("bronze/readings_quarantine", " EXCEPT (_ingested_at)"),
    ("bronze/devices_changes", " EXCEPT (_ingested_at)"),
    ("silver/readings", ""),
    ("silver/devices", ""),
    ("silver/devices_history", ""),
    ("gold/site_daily", ""),
];

/// `silt pipeline run` of the example project over `landing` into `lake`.
fn pipeline_run(
    landing: &Path,
    lake: &str,
    options: &[(&str, String)],
    env: &[(&str, String)],
) -> Command {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/iot-lake");
    let landing = format!("landing={}", landing.display());
    let args = with_options(
        &[
            "pipeline",
            "run",
            example.to_str().unwrap(),
            "--conf",
            &landing,
            "--storage",
            lake,
        ],
        options,
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_silt"));
    c.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    c
}

/// Every pipeline table's rows as sorted JSON lines (floats to 12
/// significant digits: sums in another order differ in the last bits).
/// A table that does not exist yet has no rows; any other error fails.
fn pipeline_tables(
    lake: &str,
    options: &[(&str, String)],
    env: &[(&str, String)],
) -> Vec<(String, Vec<String>)> {
    PIPELINE_TABLES
        .iter()
        .map(|(table, except)| {
            let uri = format!("{lake}/{table}");
            let out = Command::new(env!("CARGO_BIN_EXE_silt"))
                .envs(env.iter().map(|(k, v)| (k, v)))
                .args(with_options(
                    &[
                        "sql",
                        &format!("SELECT *{except} FROM delta.'{uri}'"),
                        "--format",
                        "jsonl",
                    ],
                    options,
                ))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                assert!(stderr.contains("no Delta table"), "{uri}: {stderr}");
                return (table.to_string(), Vec::new());
            }
            let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| {
                    let mut v: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(l).unwrap();
                    for x in v.values_mut() {
                        if let Some(f) = x.as_f64().filter(|_| x.is_f64()) {
                            *x = serde_json::Value::String(format!("{f:.11e}"));
                        }
                    }
                    serde_json::Value::Object(v).to_string()
                })
                .collect();
            rows.sort();
            (table.to_string(), rows)
        })
        .collect()
}

/// Waits for `child`, at most `limit`.
fn wait_at_most(child: &mut std::process::Child, limit: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the pipeline did not end within {limit:?}");
}

/// The storage goes away in the middle of a pipeline update. A short
/// outage is retried and the update completes; a long one ends the update
/// with an error that says what failed, nothing half-visible is left
/// (every table reads, at a version whose rows are whole batches), and
/// the next update, once the storage is back, ends with exactly the tables
/// of an uninterrupted run.
#[test]
fn a_storage_outage_is_retried_then_fails_clearly_and_leaves_nothing_half_visible() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("data");
    let shape = silt_testkit::peer::GenRound {
        readings: 6000,
        devices: 60,
        files: 4,
        seed: 5,
    };
    for round in 0..2 {
        silt_testkit::peer::generate(&landing, shape, round);
    }
    let landing = landing.join("landing");
    // The uninterrupted run, on local disk.
    let local = dir.path().join("lake").display().to_string();
    assert!(
        pipeline_run(&landing, &local, &[], &[])
            .status()
            .unwrap()
            .success()
    );
    let want = pipeline_tables(&local, &[], &[]);
    assert!(want.iter().all(|(_, rows)| !rows.is_empty()));

    let azurite = std::env::var("SILT_AZURITE_URL")
        .expect("SILT_AZURITE_URL: run the tests through scripts/test.sh");
    let proxy = Proxy::start(azurite.trim_start_matches("http://").to_string());
    // With azure_storage_use_emulator the endpoint comes from this variable.
    let env = [(
        "AZURITE_BLOB_STORAGE_URL",
        format!("http://127.0.0.1:{}", proxy.port),
    )];
    let through_proxy = |extra: &[(&'static str, &str)]| {
        let mut o = vec![("azure_storage_use_emulator", "true".to_string())];
        o.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        o
    };

    // A two-second outage: the storage client retries and the update completes.
    let lake = format!("az://silt/{}/outage-short", uuid_like());
    let mut child = pipeline_run(&landing, &lake, &through_proxy(&[]), &env)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the update ended before the outage"
    );
    proxy.cut();
    std::thread::sleep(Duration::from_secs(2));
    proxy.restore();
    let succeeded = wait_at_most(&mut child, Duration::from_secs(300));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(succeeded, "a short outage is retried: {stderr}");
    assert_eq!(pipeline_tables(&lake, &through_proxy(&[]), &env), want);

    // Outages that outlast the retries, starting at different points.
    let few_retries = through_proxy(&[("max_retries", "2"), ("retry_timeout", "2s")]);
    let mut cut_while_running = 0;
    for (trial, at_ms) in [300u64, 1200, 2500].into_iter().enumerate() {
        let lake = format!("az://silt/{}/outage-{trial}", uuid_like());
        let mut child = pipeline_run(&landing, &lake, &few_retries, &env)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(at_ms));
        let running = child.try_wait().unwrap().is_none();
        proxy.cut();
        let succeeded = wait_at_most(&mut child, Duration::from_secs(300));
        proxy.restore();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        eprintln!("outage trial {trial} at {at_ms} ms: running {running}, succeeded {succeeded}");
        if running {
            cut_while_running += 1;
            assert!(
                !succeeded,
                "trial {trial}: the update cannot succeed without storage: {stderr}"
            );
            assert!(
                stderr.contains("retries") && stderr.contains(&format!("127.0.0.1:{}", proxy.port)),
                "trial {trial}: the error names the storage and the retries: {stderr}"
            );
        }
        // Whatever committed reads whole; the next update completes it.
        let partial = pipeline_tables(&lake, &few_retries, &env);
        for ((table, rows), (_, all)) in partial.iter().zip(&want) {
            assert!(
                rows.iter().all(|r| all.binary_search(r).is_ok())
                    || table.starts_with("silver/devices")
                    || table.starts_with("gold"),
                "trial {trial}: {table} holds rows the uninterrupted run does not"
            );
        }
        let out = pipeline_run(&landing, &lake, &few_retries, &env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "trial {trial}: the update after the outage: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            pipeline_tables(&lake, &few_retries, &env),
            want,
            "trial {trial}"
        );
    }
    assert!(
        cut_while_running >= 2,
        "the outages must hit running updates"
    );
}
