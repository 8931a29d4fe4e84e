//! AUTO CDC against a reference computed here: random change feeds (keys,
//! distinct sequence numbers, upserts and deletes) land in random batches
//! and arrival orders; after every batch, the SCD type 1 table must equal
//! the newest change per key (deleted keys absent) and the SCD type 2
//! table the full history with `__START_AT` / `__END_AT`. Changes older
//! than a delete may arrive in later batches than the delete.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use silt_medallion::{Pipeline, RunOptions, run};

#[derive(Debug, Clone)]
struct Change {
    key: u8,
    seq: i64,
    delete: bool,
    /// Unique per change, so no two versions are alike (no collapsing).
    value: String,
}

const SQL: &str = "
CREATE OR REFRESH STREAMING TABLE raw AS
  SELECT * FROM STREAM read_files('${landing}', format => 'json');
CREATE TEMPORARY VIEW feed AS
  SELECT k, CAST(seq AS BIGINT) AS seq, op, v FROM STREAM(raw);
CREATE OR REFRESH STREAMING TABLE scd1;
CREATE FLOW f1 AS AUTO CDC INTO scd1 FROM STREAM(feed) KEYS (k)
  APPLY AS DELETE WHEN op = 'D' SEQUENCE BY seq COLUMNS * EXCEPT (op) STORED AS SCD TYPE 1;
CREATE OR REFRESH STREAMING TABLE scd2;
CREATE FLOW f2 AS AUTO CDC INTO scd2 FROM STREAM(feed) KEYS (k)
  APPLY AS DELETE WHEN op = 'D' SEQUENCE BY seq COLUMNS * EXCEPT (op) STORED AS SCD TYPE 2;
";

fn land(dir: &Path, batch: usize, changes: &[Change]) {
    let text: String = changes
        .iter()
        .map(|c| {
            format!(
                "{{\"k\":\"k{}\",\"seq\":{},\"op\":\"{}\",\"v\":{}}}\n",
                c.key,
                c.seq,
                if c.delete { "D" } else { "U" },
                if c.delete {
                    "null".to_string()
                } else {
                    format!("\"{}\"", c.value)
                }
            )
        })
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("batch-{batch:03}.jsonl")), text).unwrap();
}

fn scd1_reference(all: &[Change]) -> Vec<String> {
    let mut newest: BTreeMap<u8, &Change> = BTreeMap::new();
    for c in all {
        if newest.get(&c.key).is_none_or(|n| n.seq < c.seq) {
            newest.insert(c.key, c);
        }
    }
    newest
        .values()
        .filter(|c| !c.delete)
        .map(|c| format!("k{}|{}|{}", c.key, c.seq, c.value))
        .collect()
}

fn scd2_reference(all: &[Change]) -> Vec<String> {
    let mut by_key: BTreeMap<u8, Vec<&Change>> = BTreeMap::new();
    for c in all {
        by_key.entry(c.key).or_default().push(c);
    }
    let mut out = Vec::new();
    for (k, mut list) in by_key {
        list.sort_by_key(|c| c.seq);
        for (i, c) in list.iter().enumerate() {
            if c.delete {
                continue;
            }
            let end = list
                .get(i + 1)
                .map_or("null".to_string(), |n| n.seq.to_string());
            out.push(format!("k{k}|{}|{}|{}|{end}", c.seq, c.value, c.seq));
        }
    }
    out.sort();
    out
}

async fn rows(sql: &str) -> Vec<String> {
    let session = silt_sql::SiltSession::new();
    let batches = session.run(sql).await.unwrap();
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<_> = (0..b.num_columns())
            .map(|i| arrow_cast::cast(b.column(i), &arrow_schema::DataType::Utf8).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let vals: Vec<String> = cols
                .iter()
                .map(|c| {
                    let s = c
                        .as_any()
                        .downcast_ref::<arrow_array::StringArray>()
                        .unwrap();
                    if s.is_null(r) {
                        "null".to_string()
                    } else {
                        s.value(r).to_string()
                    }
                })
                .collect();
            out.push(vals.join("|"));
        }
    }
    out.sort();
    out
}

use arrow_array::Array;

/// A feed: per key, changes with distinct sequences, in any batch: a
/// change older than a delete may arrive batches after it (the delete's
/// tombstone must keep the key deleted).
fn feed() -> impl Strategy<Value = (Vec<Change>, Vec<usize>)> {
    (
        proptest::collection::vec((0u8..4, any::<bool>()), 1..24),
        proptest::collection::vec(0usize..3, 24),
        any::<u64>(),
    )
        .prop_map(|(spec, batch_of, salt)| {
            let mut changes: Vec<Change> = spec
                .iter()
                .enumerate()
                .map(|(i, (key, delete))| Change {
                    key: *key,
                    // Distinct, in an order unrelated to arrival.
                    seq: ((i as u64 * 7919 + salt % 1000) % 10_007) as i64 * 10 + i as i64 % 10,
                    delete: *delete && i % 2 == 0,
                    value: format!("v{i}"),
                })
                .collect();
            let batches: Vec<usize> = changes
                .iter()
                .enumerate()
                .map(|(i, _)| batch_of[i])
                .collect();
            changes
                .iter_mut()
                .for_each(|c| c.value = format!("{}-{}", c.value, c.key));
            (changes, batches)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, .. ProptestConfig::default() })]

    #[test]
    fn scd1_and_scd2_equal_the_reference_after_every_batch((changes, batches) in feed()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let landing = dir.path().join("landing");
            let lake = dir.path().join("lake");
            let p = Pipeline::builder("cdc", &lake.display().to_string())
                .conf("landing", &landing.display().to_string())
                .sql("cdc.sql", SQL)
                .build()
                .unwrap();
            let mut seen: Vec<Change> = Vec::new();
            for b in 0..3 {
                let now: Vec<Change> = changes.iter().zip(&batches).filter(|(_, x)| **x == b).map(|(c, _)| c.clone()).collect();
                if now.is_empty() {
                    continue;
                }
                land(&landing, b, &now);
                seen.extend(now);
                let reports = run(&p, &RunOptions::default()).await.unwrap();
                assert!(reports[0].succeeded(), "{:?}", reports[0].failure());
                let got1 = rows(&format!("SELECT k, seq, v FROM delta.'{}/default/scd1'", lake.display())).await;
                assert_eq!(got1, scd1_reference(&seen), "SCD1 after batch {b}: {seen:?}");
                let got2 = rows(&format!("SELECT k, seq, v, \"__START_AT\", \"__END_AT\" FROM delta.'{}/default/scd2'", lake.display())).await;
                assert_eq!(got2, scd2_reference(&seen), "SCD2 after batch {b}: {seen:?}");
            }
        });
    }
}

/// `TRACK HISTORY ON (site)`: a change to another column alone opens no
/// version but updates the version it falls in, even when it arrives late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untracked_columns_update_their_version_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let p = Pipeline::builder("track", &lake.display().to_string())
        .conf("landing", &landing.display().to_string())
        .sql(
            "t.sql",
            "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files('${landing}', format => 'json');
             CREATE TEMPORARY VIEW feed AS SELECT k, CAST(seq AS BIGINT) AS seq, site, note FROM STREAM(raw);
             CREATE STREAMING TABLE hist;
             CREATE FLOW f AS AUTO CDC INTO hist FROM STREAM(feed) KEYS (k) SEQUENCE BY seq
               STORED AS SCD TYPE 2 TRACK HISTORY ON (site);",
        )
        .build()
        .unwrap();
    let event = |seq: u32, site: &str| {
        format!("{{\"k\":\"a\",\"seq\":{seq},\"site\":\"{site}\",\"note\":\"n{seq}\"}}\n")
    };
    let land = |name: &str, events: &[(u32, &str)]| {
        std::fs::create_dir_all(&landing).unwrap();
        let text: String = events.iter().map(|(s, site)| event(*s, site)).collect();
        std::fs::write(landing.join(name), text).unwrap();
    };
    let sql = format!(
        "SELECT k, site, note, seq, \"__START_AT\", \"__END_AT\" FROM delta.'{}/default/hist'",
        lake.display()
    );
    let history = || rows(&sql);
    land("1.jsonl", &[(10, "s1"), (20, "s1"), (30, "s2")]);
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(
        history().await,
        ["a|s1|n20|10|10|30", "a|s2|n30|30|30|null"]
    );
    // A late change inside the first version, one inside the second, and
    // a tracked change.
    land("2.jsonl", &[(25, "s1"), (40, "s2"), (50, "s1")]);
    assert!(run(&p, &RunOptions::default()).await.unwrap()[0].succeeded());
    assert_eq!(
        history().await,
        [
            "a|s1|n25|10|10|30",
            "a|s1|n50|50|50|null",
            "a|s2|n40|30|30|50"
        ]
    );
}

/// Readings deduplicated by AUTO CDC with the sequence among the keys (the
/// example's silver table): resent readings (within a batch or batches
/// later) and late ones (older than what the table holds) land in random
/// batches; after every batch the table holds each `(device, ts)` once,
/// with its values.
const DEDUP_SQL: &str = "
CREATE OR REFRESH STREAMING TABLE raw AS
  SELECT * FROM STREAM read_files('${landing}', format => 'json');
CREATE TEMPORARY VIEW readings AS
  SELECT d, CAST(ts AS BIGINT) AS ts, v FROM STREAM(raw);
CREATE OR REFRESH STREAMING TABLE dedup;
CREATE FLOW f AS AUTO CDC INTO dedup FROM STREAM(readings) KEYS (d, ts)
  SEQUENCE BY ts STORED AS SCD TYPE 1;
";

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn readings_keyed_by_their_sequence_are_kept_once(
        readings in proptest::collection::vec((0u8..3, 0i64..40, 0usize..4), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let landing = dir.path().join("landing");
            let lake = dir.path().join("lake");
            let p = Pipeline::builder("dedup", &lake.display().to_string())
                .conf("landing", &landing.display().to_string())
                .sql("dedup.sql", DEDUP_SQL)
                .build()
                .unwrap();
            let mut seen = std::collections::BTreeSet::new();
            for b in 0..4 {
                let now: Vec<_> = readings.iter().filter(|r| r.2 == b).collect();
                if now.is_empty() {
                    continue;
                }
                let text: String = now
                    .iter()
                    .map(|(d, ts, _)| format!("{{\"d\":\"d{d}\",\"ts\":{ts},\"v\":\"{d}-{ts}\"}}\n"))
                    .collect();
                std::fs::create_dir_all(&landing).unwrap();
                std::fs::write(landing.join(format!("batch-{b}.jsonl")), text).unwrap();
                seen.extend(now.iter().map(|(d, ts, _)| format!("d{d}|{ts}|{d}-{ts}")));
                let reports = run(&p, &RunOptions::default()).await.unwrap();
                assert!(reports[0].succeeded(), "{:?}", reports[0].failure());
                let got = rows(&format!("SELECT d, ts, v FROM delta.'{}/default/dedup'", lake.display())).await;
                let expected: Vec<String> = seen.iter().cloned().collect();
                assert_eq!(got, expected, "after batch {b}");
            }
        });
    }
}
