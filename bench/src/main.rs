//! `silt-bench`: generates benchmark tables and times silt on them.
//!
//! * `silt-bench gen <dir> --commits N --files-per-commit K [--append]`
//!   writes a table log shaped like the ones delta-rs writes for the peer
//!   benchmark's appends (commitInfo + add with full statistics; the data
//!   files are not needed for snapshot loads). `--append` continues an
//!   existing log.
//! * `silt-bench load <dir> --repeat R` loads the latest snapshot R times and
//!   prints one JSON line: median/min/max milliseconds and memory.
//!
//! `bench/snapshot_load.py` drives both beside the `deltalake` package.
//! `merge` and `sql` (see the `sql` module) time SQL workloads;
//! `bench/sql_bench.py` drives them beside the same workloads in `deltalake`.

mod commits;
mod data;
mod sql;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn arg_value(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

const SCHEMA: &str = r#"{\"type\":\"struct\",\"fields\":[{\"name\":\"device_id\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":true,\"metadata\":{}},{\"name\":\"temperature\",\"type\":\"double\",\"nullable\":true,\"metadata\":{}},{\"name\":\"humidity\",\"type\":\"double\",\"nullable\":true,\"metadata\":{}},{\"name\":\"status\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},{\"name\":\"payload\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}"#;

fn add_line(version: u64, i: u64) -> String {
    let id = uuid::Uuid::new_v4();
    let ts = 1_704_067_200_000i64 + (version * 1000 + i) as i64;
    format!(
        concat!(
            r#"{{"add":{{"path":"part-00001-{id}-c000.snappy.parquet","partitionValues":{{}},"size":{size},"modificationTime":{ts},"dataChange":true,"#,
            r#""stats":"{{\"numRecords\":100,\"minValues\":{{\"device_id\":\"dev-0001\",\"ts\":\"2024-01-01T00:00:00.000000Z\",\"temperature\":9.123,\"humidity\":20.5,\"status\":\"ERROR\",\"payload\":\"0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p\"}},"#,
            r#"\"maxValues\":{{\"device_id\":\"dev-0998\",\"ts\":\"2024-01-01T00:00:17.100000Z\",\"temperature\":33.871,\"humidity\":79.84,\"status\":\"WARN\",\"payload\":\"zz9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k\"}},"#,
            r#"\"nullCount\":{{\"device_id\":0,\"ts\":0,\"temperature\":0,\"humidity\":0,\"status\":0,\"payload\":0}}}}","#,
            r#""tags":null,"deletionVector":null,"baseRowId":null,"defaultRowCommitVersion":null,"clusteringProvider":null}}}}"#
        ),
        id = id,
        size = 7000 + i,
        ts = ts
    )
}

fn gen_table(dir: &Path, commits: u64, files_per_commit: u64, append: bool) -> std::io::Result<()> {
    let log = dir.join("_delta_log");
    std::fs::create_dir_all(&log)?;
    let start = if append {
        std::fs::read_dir(&log)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_suffix(".json")?.parse::<u64>().ok()
            })
            .max()
            .map_or(0, |v| v + 1)
    } else {
        0
    };
    for v in start..start + commits {
        let mut text = format!(
            r#"{{"commitInfo":{{"timestamp":{},"operation":"WRITE","operationParameters":{{"mode":"Append"}},"clientVersion":"silt-bench","operationMetrics":{{"num_added_files":{files_per_commit},"num_added_rows":{}}}}}}}"#,
            1_704_067_200_000u64 + v,
            files_per_commit * 100
        );
        text.push('\n');
        if v == 0 {
            text.push_str(r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#);
            text.push('\n');
            text.push_str(&format!(
                r#"{{"metaData":{{"id":"{}","name":null,"description":null,"format":{{"provider":"parquet","options":{{}}}},"schemaString":"{SCHEMA}","partitionColumns":[],"createdTime":1704067200000,"configuration":{{}}}}}}"#,
                uuid::Uuid::new_v4()
            ));
            text.push('\n');
        }
        for i in 0..files_per_commit {
            text.push_str(&add_line(v, i));
            text.push('\n');
        }
        let mut f = std::fs::File::create_new(log.join(format!("{v:020}.json")))?;
        f.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Resident-set figures from /proc (kB): (current, peak).
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A table builder for `uri` with the storage options in the
/// `SILT_STORAGE_OPTIONS` environment variable (a JSON object), so the same
/// commands run against object-store servers.
pub fn table(uri: &str) -> Result<silt_store::TableBuilder, String> {
    let mut b = silt_store::TableBuilder::new(uri);
    if let Ok(text) = std::env::var("SILT_STORAGE_OPTIONS") {
        let map: std::collections::HashMap<String, String> = serde_json::from_str(&text)
            .map_err(|e| format!("SILT_STORAGE_OPTIONS is not a JSON object of strings: {e}"))?;
        b = b.with_storage_options(map);
    }
    Ok(b)
}

fn load(dir: &str, repeat: u64) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (rss_before, _) = memory_kb();
    let mut times = Vec::new();
    let mut last = None;
    let mut columnar_bytes = 0;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let snapshot = rt.block_on(table(dir)?.load()).map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        last = Some((snapshot.version(), snapshot.files().len()));
        columnar_bytes = snapshot.files().columnar_bytes();
        drop(snapshot);
    }
    let (_, peak) = memory_kb();
    times.sort_by(|a, b| a.total_cmp(b));
    let (version, files) = last.unwrap_or_default();
    Ok(format!(
        r#"{{"engine":"silt","median_ms":{:.2},"min_ms":{:.2},"max_ms":{:.2},"n":{},"version":{version},"files":{files},"columnar_bytes":{columnar_bytes},"rss_before_kb":{rss_before},"peak_kb":{peak}}}"#,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("gen"), Some(dir)) => gen_table(
            Path::new(dir),
            arg_value(&args, "--commits").unwrap_or(1000),
            arg_value(&args, "--files-per-commit").unwrap_or(1),
            args.iter().any(|a| a == "--append"),
        )
        .map(|_| String::new())
        .map_err(|e| e.to_string()),
        (Some("load"), Some(dir)) => load(dir, arg_value(&args, "--repeat").unwrap_or(5)),
        (Some(cmd @ ("write" | "scan")), Some(dir)) => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build();
            let value_of = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
                    .cloned()
            };
            let repeat = arg_value(&args, "--repeat").unwrap_or(3);
            match rt {
                Ok(rt) => rt.block_on(async {
                    if cmd == "write" {
                        let input = args.get(3).cloned().unwrap_or_default();
                        data::write(
                            dir,
                            &input,
                            args.iter().any(|a| a == "--partition-by-date"),
                            args.iter().any(|a| a == "--snappy"),
                            repeat,
                        )
                        .await
                    } else {
                        data::scan(dir, value_of("--where").as_deref(), repeat).await
                    }
                }),
                Err(e) => Err(e.to_string()),
            }
        }
        (Some(cmd @ ("merge" | "sql")), Some(dir)) => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build();
            let repeat = arg_value(&args, "--repeat").unwrap_or(3);
            let third = args.get(3).cloned().unwrap_or_default();
            match rt {
                Ok(rt) => rt.block_on(async {
                    if cmd == "merge" {
                        let dv = args.iter().any(|a| a == "--deletion-vectors");
                        sql::merge(dir, &third, dv, repeat).await
                    } else {
                        sql::query(dir, &third, repeat).await
                    }
                }),
                Err(e) => Err(e.to_string()),
            }
        }
        (Some(cmd @ ("prepare" | "append" | "checkpoint")), Some(dir)) => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build();
            match rt {
                Ok(rt) => rt.block_on(async {
                    match cmd {
                        "prepare" => commits::prepare(dir, arg_value(&args, "--files").unwrap_or(0)).await,
                        "append" => {
                            commits::append(
                                dir,
                                arg_value(&args, "--commits").unwrap_or(100),
                                arg_value(&args, "--writer").unwrap_or(0),
                            )
                            .await
                        }
                        _ => commits::checkpoint(dir).await,
                    }
                }),
                Err(e) => Err(e.to_string()),
            }
        }
        _ => Err("usage: silt-bench gen <dir> --commits N --files-per-commit K [--append] | load <dir> --repeat R | prepare <dir> --files F | append <dir> --commits N --writer W | checkpoint <dir> | merge <base> <source.parquet> [--deletion-vectors] --repeat N | sql <table> <query> --repeat N".into()),
    };
    match result {
        Ok(out) if out.is_empty() => {}
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("silt-bench: {e}");
            std::process::exit(1);
        }
    }
}
