//! Data benchmarks: bulk writes of an input Parquet file (optionally
//! partitioned by the day of `ts`), full scans and selective scans.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use silt_parquet::{DataCompression, Scan, WriteOptions, write_batches};
use silt_store::TableBuilder;

/// CPU seconds (user and system, every thread, those ended included) this
/// process has used, from `/proc/self/stat` (in Linux's fixed user-visible
/// tick of 1/100 s); 0 where that file cannot be read.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold
    // spaces): state is field 3, utime 14 and stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let field = |n: usize| -> f64 {
        after
            .split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0) as f64
    };
    (field(14) + field(15)) / 100.0
}

pub(crate) fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Reads the input and (optionally) adds `date = cast(ts as date)`.
pub(crate) fn read_input(path: &str, with_date: bool) -> Result<Vec<RecordBatch>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| e.to_string())?;
        // Views come out of some writers; the table schema uses plain strings.
        let mut fields: Vec<Field> = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for (f, c) in b.schema().fields().iter().zip(b.columns()) {
            let c = match c.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => {
                    arrow_cast::cast(c, &DataType::Utf8).map_err(|e| e.to_string())?
                }
                _ => c.clone(),
            };
            fields.push(Field::new(f.name(), c.data_type().clone(), f.is_nullable()));
            cols.push(c);
        }
        if with_date {
            let ts = b.column_by_name("ts").ok_or("input has no ts column")?;
            let naive = arrow_cast::cast(
                ts,
                &DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
            )
            .map_err(|e| e.to_string())?;
            let date = arrow_cast::cast(&naive, &DataType::Date32).map_err(|e| e.to_string())?;
            fields.push(Field::new("date", DataType::Date32, true));
            cols.push(date);
        }
        out.push(
            RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// `silt-bench write <dir> <input.parquet> [--partition-by-date] [--snappy] [--repeat N]`
pub async fn write(
    dir: &str,
    input: &str,
    partitioned: bool,
    snappy: bool,
    repeat: u64,
) -> Result<String, String> {
    let batches = read_input(input, partitioned)?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let (mut times, mut cpu) = (Vec::new(), Vec::new());
    let mut files = 0;
    for i in 0..repeat.max(1) {
        let location = format!("{dir}/rep{i}");
        let store = TableBuilder::new(&location)
            .build_store()
            .map_err(|e| e.to_string())?;
        let opts = WriteOptions {
            partition_by: if partitioned {
                vec!["date".into()]
            } else {
                vec![]
            },
            compression: if snappy {
                DataCompression::Snappy
            } else {
                DataCompression::Zstd
            },
            ..Default::default()
        };
        let input = batches.clone();
        let (t, c) = (Instant::now(), cpu_seconds());
        let r = write_batches(store, None, input, opts)
            .await
            .map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        files = r.files_added;
    }
    let (med, lo, hi) = median(times);
    let (cpu, _, _) = median(cpu);
    let (_, peak) = crate::memory_kb();
    Ok(format!(
        r#"{{"engine":"silt","workload":"write","partitioned":{partitioned},"rows":{rows},"files":{files},"median_s":{med:.3},"min_s":{lo:.3},"max_s":{hi:.3},"cpu_s":{cpu:.3},"peak_kb":{peak}}}"#
    ))
}

/// `silt-bench scan <table> [--where PRED] [--repeat N]`
pub async fn scan(location: &str, predicate: Option<&str>, repeat: u64) -> Result<String, String> {
    let (mut times, mut cpu) = (Vec::new(), Vec::new());
    let mut rows = 0;
    let mut files = 0;
    for _ in 0..repeat.max(1) {
        let (t, c) = (Instant::now(), cpu_seconds());
        let s = TableBuilder::new(location)
            .load()
            .await
            .map_err(|e| e.to_string())?;
        let mut scan = Scan::new(&s);
        if let Some(p) = predicate {
            scan = scan.filter(silt_log::expr::parse_predicate(p).map_err(|e| e.to_string())?);
        }
        files = scan.plan().map_err(|e| e.to_string())?.files;
        let batches = scan.collect().await.map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    let (med, lo, hi) = median(times);
    let (cpu, _, _) = median(cpu);
    let (_, peak) = crate::memory_kb();
    Ok(format!(
        r#"{{"engine":"silt","workload":"scan","rows":{rows},"files_read":{files},"median_s":{med:.3},"min_s":{lo:.3},"max_s":{hi:.3},"cpu_s":{cpu:.3},"peak_kb":{peak}}}"#
    ))
}
