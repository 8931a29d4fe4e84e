//! `silt scan` and `silt append`: reading table rows out (table, JSON
//! lines, CSV or Parquet) and writing files in (JSON lines, CSV, Parquet).

use crate::error::CliError;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use silt_log::expr::parse_predicate;
use silt_parquet::{Scan, WriteMode, WriteOptions};
use silt_store::TableBuilder;

/// Output formats of `silt scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned text table.
    Table,
    /// One JSON object per row.
    Jsonl,
    /// CSV with a header.
    Csv,
    /// A Parquet file (needs --output).
    Parquet,
}

/// What `silt scan` does.
pub struct ScanRequest {
    /// Table location and version.
    pub builder: TableBuilder,
    /// Columns to return.
    pub columns: Vec<String>,
    /// Row predicate.
    pub predicate: Option<String>,
    /// Row limit.
    pub limit: Option<usize>,
    /// Output format.
    pub format: OutputFormat,
    /// Output file (stdout when absent).
    pub output: Option<String>,
}

fn sink(output: &Option<String>) -> Result<Box<dyn Write + Send>, CliError> {
    match output {
        Some(p) => {
            Ok(Box::new(File::create(p).map_err(|e| {
                CliError::from(format!("cannot create {p}: {e}"))
            })?))
        }
        None => Ok(Box::new(Stdout)),
    }
}

/// Standard output where a closed pipe (`silt sql … | head`) means the
/// reader has what it wants: later writes are dropped and [`Stdout::closed`]
/// says so, so a command stops early and succeeds instead of reporting a
/// broken pipe.
struct Stdout;

static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Stdout {
    /// Whether the reader has closed standard output.
    fn closed() -> bool {
        STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn absorb<T>(r: std::io::Result<T>, done: T) -> std::io::Result<T> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(done)
            }
            r => r,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if Self::closed() {
            return Ok(buf.len());
        }
        Self::absorb(std::io::stdout().write(buf), buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if Self::closed() {
            return Ok(());
        }
        Self::absorb(std::io::stdout().flush(), ())
    }
}

/// Runs `silt scan`.
pub async fn scan(req: ScanRequest) -> Result<(), CliError> {
    let snapshot = req.builder.load().await.map_err(CliError::from)?;
    let mut scan = Scan::new(&snapshot);
    if !req.columns.is_empty() {
        scan = scan.select(req.columns.clone());
    }
    if let Some(p) = &req.predicate {
        scan =
            scan.filter(parse_predicate(p).map_err(|e| CliError::from(format!("--where: {e}")))?);
    }
    let schema = scan.output_schema().map_err(CliError::from)?;
    let stream = scan.stream().map_err(CliError::from)?;
    // Progress only when the rows go to a file: a terminal shows the rows.
    let read = Arc::new(AtomicU64::new(0));
    let _ticker = req
        .output
        .as_ref()
        .and_then(|_| crate::progress::Ticker::start("scanning", read.clone()));
    let stream = stream.inspect_ok(move |b| {
        read.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
    });
    write_stream(
        schema,
        stream.map_err(CliError::from),
        req.format,
        &req.output,
        req.limit,
    )
    .await
}

/// Writes a stream of batches in `format` to `output` (stdout when
/// absent), stopping after `limit` rows.
pub async fn write_stream<S>(
    schema: arrow_schema::SchemaRef,
    stream: S,
    format: OutputFormat,
    output: &Option<String>,
    limit: Option<usize>,
) -> Result<(), CliError>
where
    S: futures::Stream<Item = Result<RecordBatch, CliError>>,
{
    let mut stream = Box::pin(stream);
    let mut out = sink(output)?;
    let mut remaining = limit.unwrap_or(usize::MAX);
    let mut table_rows: Vec<Vec<String>> = Vec::new();
    let mut csv =
        (format == OutputFormat::Csv).then(|| arrow_csv::WriterBuilder::new().with_header(true));
    let mut csv_writer = None;
    let mut json =
        (format == OutputFormat::Jsonl).then(|| arrow_json::LineDelimitedWriter::new(Vec::new()));
    let mut parquet = if format == OutputFormat::Parquet {
        if output.is_none() {
            return Err("--format parquet needs --output FILE".into());
        }
        Some(
            parquet::arrow::ArrowWriter::try_new(sink(output)?, schema.clone(), None)
                .map_err(CliError::from)?,
        )
    } else {
        None
    };
    while remaining > 0 && !Stdout::closed() {
        let Some(batch) = stream.next().await else {
            break;
        };
        let batch = batch?;
        let batch = batch.slice(0, batch.num_rows().min(remaining));
        remaining -= batch.num_rows();
        match format {
            OutputFormat::Table => table_rows.extend(render_rows(&batch)?),
            OutputFormat::Jsonl => {
                let w = json.as_mut().ok_or("json writer")?;
                w.write(&batch).map_err(CliError::from)?;
                let buf = std::mem::take(w.get_mut());
                out.write_all(&buf).map_err(CliError::from)?;
            }
            OutputFormat::Csv => {
                if csv_writer.is_none() {
                    let b = csv.take().ok_or("csv writer")?;
                    csv_writer = Some(b.build(sink(output)?));
                }
                csv_writer
                    .as_mut()
                    .ok_or("csv writer")?
                    .write(&batch)
                    .map_err(CliError::from)?;
            }
            OutputFormat::Parquet => {
                parquet
                    .as_mut()
                    .ok_or("parquet writer")?
                    .write(&batch)
                    .map_err(CliError::from)?;
            }
        }
    }
    if let Some(w) = json {
        let _ = w.into_inner();
    }
    if let Some(w) = parquet {
        w.close().map_err(CliError::from)?;
    }
    if format == OutputFormat::Table {
        write_table(&mut out, &schema, &table_rows)?;
    }
    Ok(())
}

fn render_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, CliError> {
    let opts = FormatOptions::default().with_null("NULL");
    let fmts: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).map_err(CliError::from))
        .collect::<Result<_, _>>()?;
    Ok((0..batch.num_rows())
        .map(|r| fmts.iter().map(|f| f.value(r).to_string()).collect())
        .collect())
}

fn write_table(
    out: &mut dyn Write,
    schema: &SchemaRef,
    rows: &[Vec<String>],
) -> Result<(), CliError> {
    let headers: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count()).min(60);
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(*w).collect();
                format!("{c:<w$}", w = *w)
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let mut text = format!("{}\n", line(&headers));
    text.push_str(&format!(
        "{}\n",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    ));
    for r in rows {
        text.push_str(&format!("{}\n", line(r)));
    }
    text.push_str(&format!("({} rows)\n", rows.len()));
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::from(e)),
        _ => Ok(()),
    }
}

/// Applies the table's column types to a schema inferred from a text file
/// (CSV, JSON lines): a column the table already has is parsed as the
/// table's type (so `"2026-11-24T08:00:00Z"` lands in a timestamp column),
/// a new column keeps its inferred type for `--merge-schema`.
fn with_table_types(
    inferred: arrow_schema::Schema,
    table: Option<&arrow_schema::Schema>,
) -> arrow_schema::Schema {
    let Some(table) = table else { return inferred };
    let fields: Vec<arrow_schema::Field> = inferred
        .fields()
        .iter()
        .map(|f| {
            let column = table
                .fields()
                .iter()
                .find(|t| t.name().eq_ignore_ascii_case(f.name()));
            match column {
                Some(t) => f.as_ref().clone().with_data_type(t.data_type().clone()),
                None => f.as_ref().clone(),
            }
        })
        .collect();
    arrow_schema::Schema::new(fields)
}

/// The timestamp type a column of sampled text values holds: `timestamp`
/// (UTC instants) when every value parses as a date-time with a zone (`Z`,
/// `+hh:mm`), `timestamp_ntz` when every value is a zone-less date-time,
/// `None` when any value is neither (or there are no values).
fn text_timestamp_type(values: &arrow_array::StringArray) -> Option<arrow_schema::DataType> {
    use arrow_schema::{DataType, TimeUnit};
    let zoned = |v: &str| chrono::DateTime::parse_from_rfc3339(v).is_ok();
    let naive = |v: &str| {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .any(|f| chrono::NaiveDateTime::parse_from_str(v, f).is_ok())
    };
    let sample: Vec<&str> = values.iter().flatten().collect();
    if sample.is_empty() {
        None
    } else if sample.iter().all(|v| zoned(v)) {
        Some(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ))
    } else if sample.iter().all(|v| naive(v)) {
        Some(DataType::Timestamp(TimeUnit::Microsecond, None))
    } else {
        None
    }
}

/// Refines a schema inferred from a text file with the timestamp type of the
/// `candidates` columns, judged from the first rows. CSV inference calls every
/// timestamp-like column zone-less and JSON inference never finds
/// timestamps; a column whose values all carry a zone is an instant (Delta
/// `timestamp`), one whose values are all zone-less date-times is
/// `timestamp_ntz`, anything else keeps its inferred type.
fn with_sampled_timestamps(
    inferred: arrow_schema::Schema,
    candidates: &[usize],
    read_sample: impl FnOnce(Arc<arrow_schema::Schema>) -> Result<Option<RecordBatch>, CliError>,
) -> Result<arrow_schema::Schema, CliError> {
    use arrow_schema::{DataType, Field, Schema};
    if candidates.is_empty() {
        return Ok(inferred);
    }
    // Read the sample with the candidate columns as text.
    let as_text: Vec<Field> = inferred
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match candidates.contains(&i) {
            true => f.as_ref().clone().with_data_type(DataType::Utf8),
            false => f.as_ref().clone(),
        })
        .collect();
    let Some(batch) = read_sample(Arc::new(Schema::new(as_text)))? else {
        return Ok(inferred);
    };
    let mut fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for &i in candidates {
        let text = batch
            .column(i)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>();
        if let Some(t) = text.and_then(text_timestamp_type) {
            fields[i] = fields[i].clone().with_data_type(t);
        }
    }
    Ok(Schema::new(fields))
}

/// Indexes of the top-level columns of `schema` that satisfy `pick`.
fn columns_where(
    schema: &arrow_schema::Schema,
    pick: impl Fn(&arrow_schema::DataType) -> bool,
) -> Vec<usize> {
    (0..schema.fields().len())
        .filter(|i| pick(schema.field(*i).data_type()))
        .collect()
}

/// Reads input files as record batches (format from the extension); text
/// formats are parsed with the table's column types when `table` is given.
fn read_inputs(
    files: &[String],
    table: Option<&arrow_schema::Schema>,
) -> Result<Vec<RecordBatch>, CliError> {
    let mut out = Vec::new();
    for f in files {
        let lower = f.to_ascii_lowercase();
        let open = || File::open(f).map_err(|e| CliError::from(format!("cannot open {f}: {e}")));
        if lower.ends_with(".parquet") {
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(open()?)
                    .and_then(|b| b.build())
                    .map_err(|e| CliError::from(format!("{f}: {e}")))?;
            for b in reader {
                out.push(b.map_err(|e| CliError::from(format!("{f}: {e}")))?);
            }
        } else if lower.ends_with(".csv") {
            let (schema, _) = arrow_csv::reader::Format::default()
                .with_header(true)
                .infer_schema(BufReader::new(open()?), Some(10_000))
                .map_err(|e| CliError::from(format!("{f}: {e}")))?;
            let candidates = columns_where(&schema, |t| {
                matches!(t, arrow_schema::DataType::Timestamp(_, None))
            });
            let schema = with_sampled_timestamps(schema, &candidates, |text| {
                let mut rows = arrow_csv::ReaderBuilder::new(text)
                    .with_header(true)
                    .with_batch_size(1000)
                    .build(BufReader::new(open()?))
                    .map_err(|e| CliError::from(format!("{f}: {e}")))?;
                rows.next()
                    .transpose()
                    .map_err(|e| CliError::from(format!("{f}: {e}")))
            })?;
            let schema = with_table_types(schema, table);
            let reader = arrow_csv::ReaderBuilder::new(Arc::new(schema))
                .with_header(true)
                .build(BufReader::new(open()?))
                .map_err(|e| CliError::from(format!("{f}: {e}")))?;
            for b in reader {
                out.push(b.map_err(|e| CliError::from(format!("{f}: {e}")))?);
            }
        } else if lower.ends_with(".json")
            || lower.ends_with(".jsonl")
            || lower.ends_with(".ndjson")
        {
            let (schema, _) =
                arrow_json::reader::infer_json_schema(BufReader::new(open()?), Some(10_000))
                    .map_err(|e| CliError::from(format!("{f}: {e}")))?;
            let candidates = columns_where(&schema, |t| *t == arrow_schema::DataType::Utf8);
            let schema = with_sampled_timestamps(schema, &candidates, |text| {
                let mut rows = arrow_json::ReaderBuilder::new(text)
                    .with_batch_size(1000)
                    .build(BufReader::new(open()?))
                    .map_err(|e| CliError::from(format!("{f}: {e}")))?;
                rows.next()
                    .transpose()
                    .map_err(|e| CliError::from(format!("{f}: {e}")))
            })?;
            let schema = with_table_types(schema, table);
            let reader = arrow_json::ReaderBuilder::new(Arc::new(schema))
                .build(BufReader::new(open()?))
                .map_err(|e| CliError::from(format!("{f}: {e}")))?;
            for b in reader {
                out.push(b.map_err(|e| CliError::from(format!("{f}: {e}")))?);
            }
        } else {
            return Err(
                format!("{f}: unknown input format (use .parquet, .csv, .json/.jsonl)").into(),
            );
        }
    }
    Ok(out)
}

/// What `silt append` does.
pub struct AppendRequest {
    /// Table location.
    pub builder: TableBuilder,
    /// Input files.
    pub files: Vec<String>,
    /// Create the table when it does not exist.
    pub create: bool,
    /// Partition columns (creation only).
    pub partition_by: Vec<String>,
    /// Overwrite instead of append.
    pub overwrite: bool,
    /// Table properties (creation only).
    pub properties: HashMap<String, String>,
    /// Add new input columns to the table.
    pub merge_schema: bool,
}

/// Runs `silt append`; returns (version, rows, files).
pub async fn append(req: AppendRequest) -> Result<(u64, u64, usize), CliError> {
    let store = req.builder.build_store().map_err(CliError::from)?;
    let snapshot = match req.builder.clone().load().await {
        Ok(s) => Some(s),
        Err(silt_store::StoreError::Log(silt_log::LogError::TableNotFound { .. }))
            if req.create =>
        {
            None
        }
        Err(e) => return Err(e.into()),
    };
    // Appends and overwrites both keep the table's schema.
    let table_schema = match &snapshot {
        Some(s) => Some(s.metadata().schema().to_arrow().map_err(CliError::from)?),
        None => None,
    };
    let batches = read_inputs(&req.files, table_schema.as_ref())?;
    let options = WriteOptions {
        mode: if req.overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        },
        partition_by: req.partition_by,
        properties: req.properties,
        merge_schema: req.merge_schema,
        evaluator: Some(silt_sql::DataFusionEvaluator::shared()),
        progress: Some(Arc::new(AtomicU64::new(0))),
        ..Default::default()
    };
    let _ticker = options
        .progress
        .clone()
        .and_then(|c| crate::progress::Ticker::start("writing", c));
    // Racing identity writers conflict; the loser redoes its write.
    let r = silt_parquet::write_batches_retrying(store, snapshot, batches, options, 16)
        .await
        .map_err(CliError::from)?;
    let c = crate::output::committed(r.outcome, "the write")?;
    Ok((c.version, r.rows, r.files_added))
}

/// Runs `silt changes`.
pub async fn changes(
    builder: TableBuilder,
    from: u64,
    to: Option<u64>,
    format: OutputFormat,
    output: Option<String>,
) -> Result<(), CliError> {
    let snapshot = builder.load().await.map_err(CliError::from)?;
    let batches = silt_parquet::cdf::read_changes(&snapshot, from, to)
        .await
        .map_err(CliError::from)?;
    let mut out = sink(&output)?;
    match format {
        OutputFormat::Table => {
            let Some(first) = batches.first() else {
                return write_table(&mut out, &Arc::new(arrow_schema::Schema::empty()), &[]);
            };
            let schema = first.schema();
            let mut rows = Vec::new();
            for b in &batches {
                rows.extend(render_rows(b)?);
            }
            write_table(&mut out, &schema, &rows)
        }
        OutputFormat::Jsonl => {
            let mut w = arrow_json::LineDelimitedWriter::new(out);
            for b in &batches {
                w.write(b).map_err(CliError::from)?;
            }
            w.finish().map_err(CliError::from)
        }
        _ => Err("silt changes prints table or jsonl".into()),
    }
}

/// Runs `silt sql`: the statements in order, printing the last one's rows.
/// `silt alter`: one ALTER TABLE clause on the table at `uri`; prints the
/// new version.
pub async fn alter(
    uri: &str,
    clause: &str,
    storage_options: HashMap<String, String>,
) -> Result<(), CliError> {
    let session = silt_sql::SiltSession::with_storage_options(storage_options.clone());
    let statement = format!("ALTER TABLE delta.'{}' {clause}", uri.replace('\'', "''"));
    session.run(&statement).await.map_err(CliError::from)?;
    let snapshot = silt_store::TableBuilder::new(uri)
        .with_storage_options(storage_options)
        .load()
        .await
        .map_err(CliError::from)?;
    outln!("committed version {}", snapshot.version());
    Ok(())
}

pub async fn sql(
    statements: &str,
    tables: HashMap<String, String>,
    storage_options: HashMap<String, String>,
    format: OutputFormat,
    output: Option<String>,
) -> Result<(), CliError> {
    let session = silt_sql::SiltSession::with_storage_options(storage_options);
    for (name, uri) in &tables {
        session
            .register(name, uri)
            .await
            .map_err(|e| CliError::from(format!("--table {name}={uri}: {e}")))?;
    }
    let mut frames = session.sql_all(statements).await.map_err(CliError::from)?;
    let Some(last) = frames.pop() else {
        return Err("no SQL statement given".into());
    };
    let stream = last.execute_stream().await.map_err(CliError::from)?;
    let schema = stream.schema();
    write_stream(
        schema,
        stream.map_err(CliError::from),
        format,
        &output,
        None,
    )
    .await
}
