//! Row content comparison: a scan's rows against expected rows stored as
//! Parquet (kernel golden `expected/`, DAT `table_content.parquet`),
//! order-independently, column by column by name, values rendered as text
//! after normalizing timestamps to microseconds without a zone label.

use std::path::Path;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn normalize(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Timestamp(_, _) => {
            arrow_cast::cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .unwrap_or_else(|_| array.clone())
        }
        DataType::Utf8View | DataType::LargeUtf8 => {
            arrow_cast::cast(array, &DataType::Utf8).unwrap_or_else(|_| array.clone())
        }
        _ => array.clone(),
    }
}

/// Rows as sorted text lines over the given columns.
fn rows(batches: &[RecordBatch], columns: &[String]) -> Result<Vec<String>, String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|c| {
                let i = b
                    .schema()
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(c))
                    .ok_or_else(|| format!("column {c} missing"))?;
                Ok(normalize(b.column(i)))
            })
            .collect::<Result<_, String>>()?;
        let fmts: Vec<ArrayFormatter> = arrays
            .iter()
            .map(|a| ArrayFormatter::try_new(a.as_ref(), &opts).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        for r in 0..b.num_rows() {
            let cells: Vec<String> = fmts.iter().map(|f| f.value(r).to_string()).collect();
            out.push(cells.join(" | "));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every Parquet file under `dir` (or the file itself).
pub fn read_expected(path: &Path) -> Result<Vec<RecordBatch>, String> {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        let mut stack = vec![path.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
                let p = e.map_err(|e| e.to_string())?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    files.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        let file = std::fs::File::open(&f).map_err(|e| e.to_string())?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| format!("{}: {e}", f.display()))?;
        for b in reader {
            out.push(b.map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// Compares scanned rows with expected rows on the expected columns.
pub fn compare(scanned: &[RecordBatch], expected: &[RecordBatch]) -> Result<usize, String> {
    let Some(first) = expected.first() else {
        let n: usize = scanned.iter().map(|b| b.num_rows()).sum();
        return if n == 0 {
            Ok(0)
        } else {
            Err(format!("expected no rows, scanned {n}"))
        };
    };
    let columns: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let want = rows(expected, &columns)?;
    let got = rows(scanned, &columns)?;
    if want == got {
        return Ok(want.len());
    }
    let missing = want.iter().find(|r| got.binary_search(r).is_err());
    let extra = got.iter().find(|r| want.binary_search(r).is_err());
    Err(format!(
        "rows differ ({} expected, {} scanned); e.g. expected {:?}, scanned {:?}",
        want.len(),
        got.len(),
        missing,
        extra
    ))
}
