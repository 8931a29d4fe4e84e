//! A tour of silt from Rust: create a partitioned table from Arrow batches,
//! append to it, read it with a predicate, MERGE into it with SQL, and read
//! an earlier version. Every error is a `silt_sql::SqlError`; Arrow comes
//! from silt's own re-export. Run: `cargo run -p silt-sql --example tour`.

use std::sync::Arc;

use silt_log::expr_builder::col;
use silt_parquet::arrow::array::{Float64Array, StringArray};
use silt_parquet::arrow::{DataType, Field, RecordBatch, Schema};
use silt_parquet::{Scan, WriteOptions, append, create_table};
use silt_sql::{SiltSession, SqlError};
use silt_store::TableBuilder;

fn readings(rows: &[(&str, &str, f64)]) -> Result<RecordBatch, SqlError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("device", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("temp", DataType::Float64, true),
    ]));
    let device: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let city: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let temp: Vec<f64> = rows.iter().map(|r| r.2).collect();
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(device)),
            Arc::new(StringArray::from(city)),
            Arc::new(Float64Array::from(temp)),
        ],
    )?)
}

#[tokio::main]
async fn main() -> Result<(), SqlError> {
    let dir = std::env::temp_dir().join(format!("silt-tour-{}", std::process::id()));
    let path = dir.join("readings").to_string_lossy().to_string();

    // Create a table partitioned by city (version 0), then append (version 1).
    let store = TableBuilder::new(&path).build_store()?;
    let created = create_table(
        store,
        vec![readings(&[("d1", "Bern", 21.5), ("d2", "Basel", 18.0)])?],
        WriteOptions {
            partition_by: vec!["city".into()],
            ..WriteOptions::default()
        },
    )
    .await?;
    let appended = append(
        &created.snapshot,
        vec![readings(&[("d3", "Bern", 25.0), ("d4", "Zurich", 12.5)])?],
        WriteOptions::default(),
    )
    .await?;
    println!(
        "version {}: {} files",
        appended.snapshot.version(),
        appended.snapshot.files().len()
    );

    // Read with a predicate: partition pruning and file skipping happen here.
    let warm = Scan::new(&appended.snapshot)
        .filter(col("temp").gt(20.0).and(col("city").eq("Bern")))
        .collect()
        .await?;
    let warm_rows: usize = warm.iter().map(RecordBatch::num_rows).sum();
    println!("warm readings in Bern: {warm_rows}");
    assert_eq!(warm_rows, 2);

    // MERGE with SQL: update matching devices, insert new ones.
    let session = SiltSession::new();
    session.register("readings", &path).await?;
    let merged = session
        .merge(
            "readings",
            session
                .context()
                .read_batch(readings(&[("d1", "Bern", 30.0), ("d5", "Chur", 9.5)])?)?,
        )
        .aliases("t", "s")
        .on("t.device = s.device")
        .when_matched_update_all(None)
        .when_not_matched_insert_all(None)
        .execute()
        .await?;
    println!(
        "merge: {} updated, {} inserted",
        merged.updated, merged.inserted
    );
    assert_eq!((merged.updated, merged.inserted), (1, 1));

    // Time travel: version 1, before the MERGE, by API and by SQL.
    let before = TableBuilder::new(&path).at_version(1).load().await?;
    let rows_then = Scan::new(&before).count().await?;
    let now = session.run("SELECT count(*) AS n FROM readings").await?;
    let then = session
        .run(&format!(
            "SELECT max(temp) AS t FROM delta.'{path}@v1' WHERE device = 'd1'"
        ))
        .await?;
    println!(
        "rows at version 1: {rows_then}; now:\n{}\nd1 then:\n{}",
        silt_sql::datafusion::arrow::util::pretty::pretty_format_batches(&now)?,
        silt_sql::datafusion::arrow::util::pretty::pretty_format_batches(&then)?
    );
    assert_eq!(rows_then, 4);

    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
