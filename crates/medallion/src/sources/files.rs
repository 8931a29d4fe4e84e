//! Landing files, like Auto Loader: every file below a directory
//! (recursively; new subdirectories included) is ingested once. The
//! progress is the set of files ingested, kept in the target table's log
//! with the rows. JSON lines are read with every field as a string (a JSON
//! number keeps its text, nested values their JSON); a line that is not a
//! JSON object is kept in `_corrupt_record`; fields outside the schema go
//! to `_rescued_data` in `rescue` mode. `_metadata` gives each row's file
//! path, name, size, modification time and line. CSV (header, strings) and
//! Parquet (typed) files are read too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use silt_log::{FileMeta, LogStore};

use super::SourceBatch;
use crate::error::{PipelineError, PipelineResult};

/// The column holding a line that is not a JSON object (or a CSV row that
/// does not parse).
pub const CORRUPT_COLUMN: &str = "_corrupt_record";
/// The column holding fields that do not fit the schema, as a JSON object.
pub const RESCUED_COLUMN: &str = "_rescued_data";
/// The per-row file metadata column.
pub const METADATA_COLUMN: &str = "_metadata";

/// The file formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// JSON lines.
    Json,
    /// CSV with a header row.
    Csv,
    /// Parquet.
    Parquet,
}

/// What happens when files bring columns the schema lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaEvolution {
    /// New columns are added (the default).
    AddNewColumns,
    /// The schema stays; new fields go to `_rescued_data`.
    Rescue,
    /// The flow fails naming the new columns.
    FailOnNewColumns,
    /// New fields are ignored.
    None,
}

/// The options of `read_files(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOptions {
    /// The format.
    pub format: FileFormat,
    /// Schema evolution.
    pub evolution: SchemaEvolution,
    /// At most this many files per batch.
    pub max_files_per_trigger: usize,
    /// Files are read only once their modification time is this old
    /// (milliseconds), so a file still being written is left for later.
    pub min_file_age_ms: i64,
    /// Only file names ending so (e.g. `.jsonl`); empty: every file.
    pub suffix: Option<String>,
}

impl FileOptions {
    /// Parses `read_files` options (names as in Auto Loader, with or
    /// without the `cloudFiles.` prefix).
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut o = FileOptions {
            format: FileFormat::Json,
            evolution: SchemaEvolution::AddNewColumns,
            max_files_per_trigger: 1000,
            min_file_age_ms: 0,
            suffix: None,
        };
        let mut format_given = false;
        for (k, v) in options {
            let key = k
                .strip_prefix("cloudFiles.")
                .unwrap_or(k)
                .to_ascii_lowercase();
            match key.as_str() {
                "format" => {
                    format_given = true;
                    o.format = match v.to_ascii_lowercase().as_str() {
                        "json" => FileFormat::Json,
                        "csv" => FileFormat::Csv,
                        "parquet" => FileFormat::Parquet,
                        other => {
                            return Err(format!(
                                "format {other:?} is not supported (json, csv, parquet)"
                            ));
                        }
                    }
                }
                "schemaevolutionmode" => {
                    o.evolution = match v.to_ascii_lowercase().as_str() {
                        "addnewcolumns" => SchemaEvolution::AddNewColumns,
                        "rescue" => SchemaEvolution::Rescue,
                        "failonnewcolumns" => SchemaEvolution::FailOnNewColumns,
                        "none" => SchemaEvolution::None,
                        other => {
                            return Err(format!(
                                "schemaEvolutionMode {other:?} is not one of addNewColumns, rescue, failOnNewColumns, none"
                            ));
                        }
                    }
                }
                "maxfilespertrigger" => {
                    o.max_files_per_trigger = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or(
                        format!("maxFilesPerTrigger must be a positive integer, not {v:?}"),
                    )?
                }
                "minfileagems" => {
                    o.min_file_age_ms = v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(format!(
                        "minFileAgeMs must be a non-negative integer, not {v:?}"
                    ))?
                }
                "pathglobfilter" | "filesuffix" => {
                    o.suffix = Some(v.trim_start_matches('*').to_string());
                }
                "inferschema" | "infercolumntypes" if v.eq_ignore_ascii_case("false") => {}
                "header" if v.eq_ignore_ascii_case("true") => {}
                other => return Err(format!("unknown read_files option {other:?}")),
            }
        }
        if !format_given {
            return Err("read_files needs format => 'json' | 'csv' | 'parquet'".into());
        }
        Ok(o)
    }
}

/// A files source's progress: files ingested and the columns found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesProgress {
    /// Paths relative to the source directory.
    pub files: BTreeSet<String>,
    /// Data columns, in order (strings for JSON and CSV).
    pub columns: Vec<String>,
}

/// Lists the files not yet ingested (oldest name first), at most `max`.
pub async fn pending_files(
    store: &dyn LogStore,
    progress: &FilesProgress,
    options: &FileOptions,
    now_ms: i64,
) -> Result<Vec<FileMeta>, silt_log::StorageError> {
    let mut all = store.list_recursive("").await?;
    all.retain(|f| {
        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
        !f.path
            .split('/')
            .any(|p| p.starts_with('.') || p.starts_with('_'))
            && !progress.files.contains(&f.path)
            && now_ms - f.last_modified >= options.min_file_age_ms
            && options
                .suffix
                .as_ref()
                .is_none_or(|s| name.ends_with(s.as_str()))
            && !name.is_empty()
    });
    all.sort_by_key(|f| natural_key(&f.path));
    all.truncate(options.max_files_per_trigger);
    Ok(all)
}

/// A sort key in which digit runs compare as numbers (`round-10` after
/// `round-9`).
fn natural_key(path: &str) -> Vec<(u8, u128, String)> {
    let mut out = Vec::new();
    let mut chars = path.chars().peekable();
    while let Some(&c) = chars.peek() {
        let mut run = String::new();
        let digits = c.is_ascii_digit();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() != digits {
                break;
            }
            run.push(d);
            chars.next();
        }
        if digits {
            out.push((0, run.parse().unwrap_or(u128::MAX), run));
        } else {
            out.push((1, 0, run));
        }
    }
    out
}

/// One file's records before the schema is settled.
struct ParsedFile {
    meta: FileMeta,
    /// Per record: fields (name → value as text), or the corrupt line.
    records: Vec<Record>,
    /// Typed batches (Parquet files).
    typed: Vec<RecordBatch>,
}

enum Record {
    Fields {
        line: u64,
        values: Vec<(String, Option<String>)>,
    },
    Corrupt {
        line: u64,
        text: String,
    },
}

fn parse_json_lines(data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    for (i, raw) in data.split(|b| *b == b'\n').enumerate() {
        let line = (i + 1) as u64;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| serde_json::from_str::<HashMap<String, &RawValue>>(s).ok());
        match parsed {
            Some(map) => {
                let mut values = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let text = v.get();
                    let value = if text == "null" {
                        None
                    } else if text.starts_with('"') {
                        serde_json::from_str::<String>(text).ok()
                    } else {
                        Some(text.to_string())
                    };
                    values.push((k, value));
                }
                out.push(Record::Fields { line, values });
            }
            None => out.push(Record::Corrupt {
                line,
                text: String::from_utf8_lossy(raw).into_owned(),
            }),
        }
    }
    out
}

fn parse_csv(data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut reader = csv_lines(data);
    let Some(header) = reader.next() else {
        return out;
    };
    let header: Vec<String> = header.1;
    for (line, fields) in reader {
        if fields.len() != header.len() {
            out.push(Record::Corrupt {
                line,
                text: fields.join(","),
            });
            continue;
        }
        let values = header
            .iter()
            .cloned()
            .zip(
                fields
                    .into_iter()
                    .map(|f| if f.is_empty() { None } else { Some(f) }),
            )
            .collect();
        out.push(Record::Fields { line, values });
    }
    out
}

/// RFC 4180 records: (first line number, fields).
fn csv_lines(data: &[u8]) -> impl Iterator<Item = (u64, Vec<String>)> + '_ {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1u64;
    let mut start = 1u64;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                let f = std::mem::take(&mut fields);
                if !(f.len() == 1 && f[0].trim().is_empty()) {
                    records.push((start, f));
                }
                line += 1;
                start = line;
                any = false;
            }
            (false, '\r') => {}
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if any {
        fields.push(field);
        if !(fields.len() == 1 && fields[0].trim().is_empty()) {
            records.push((start, fields));
        }
    }
    records.into_iter()
}

async fn read_one(
    store: Arc<dyn LogStore>,
    meta: FileMeta,
    format: FileFormat,
) -> Result<ParsedFile, String> {
    let data = store.read(&meta.path).await.map_err(|e| e.to_string())?;
    let path = meta.path.clone();
    tokio::task::spawn_blocking(move || {
        let mut file = ParsedFile {
            meta,
            records: Vec::new(),
            typed: Vec::new(),
        };
        match format {
            FileFormat::Json => file.records = parse_json_lines(&data),
            FileFormat::Csv => file.records = parse_csv(&data),
            FileFormat::Parquet => {
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(data)
                        .and_then(|b| b.build())
                        .map_err(|e| format!("{path}: not a readable Parquet file: {e}"))?;
                for b in reader {
                    file.typed.push(b.map_err(|e| format!("{path}: {e}"))?);
                }
            }
        }
        Ok(file)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The schema of file rows: the data columns, then `_rescued_data`,
/// `_corrupt_record` and (when asked) `_metadata`.
pub fn row_schema(columns: &[(String, DataType)], with_metadata: bool) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|(c, t)| Field::new(c, t.clone(), true))
        .collect();
    fields.push(Field::new(RESCUED_COLUMN, DataType::Utf8, true));
    fields.push(Field::new(CORRUPT_COLUMN, DataType::Utf8, true));
    if with_metadata {
        fields.push(Field::new(
            METADATA_COLUMN,
            DataType::Struct(metadata_fields()),
            false,
        ));
    }
    Arc::new(Schema::new(fields))
}

fn metadata_fields() -> Fields {
    Fields::from(vec![
        Field::new("file_path", DataType::Utf8, false),
        Field::new("file_name", DataType::Utf8, false),
        Field::new("file_size", DataType::Int64, false),
        Field::new(
            "file_modification_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("line_number", DataType::Int64, true),
    ])
}

/// Reads the `files` below `root` into rows: the whole ingestion of one
/// batch. Returns the rows and the progress after them.
pub async fn read_files(
    store: Arc<dyn LogStore>,
    root: &str,
    files: Vec<FileMeta>,
    options: &FileOptions,
    progress: &FilesProgress,
    with_metadata: bool,
    flow: &str,
) -> PipelineResult<(SourceBatch, FilesProgress)> {
    let source_err = |message: String, retryable: bool| PipelineError::Source {
        flow: flow.to_string(),
        source_name: root.to_string(),
        message,
        retryable,
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parsed: Vec<Result<ParsedFile, String>> = futures::stream::iter(files.clone())
        .map(|m| read_one(store.clone(), m, options.format))
        .buffered(threads.max(2))
        .collect()
        .await;
    let mut parsed_files = Vec::with_capacity(parsed.len());
    for p in parsed {
        parsed_files.push(p.map_err(|m| source_err(m, false))?);
    }
    let mut next = progress.clone();
    for f in &files {
        next.files.insert(f.path.clone());
    }
    if options.format == FileFormat::Parquet {
        return typed_rows(parsed_files, root, with_metadata, next, flow);
    }
    // Settle the columns: known ones first, then new ones by name.
    let known: BTreeSet<&str> = progress.columns.iter().map(String::as_str).collect();
    let mut found: BTreeSet<String> = BTreeSet::new();
    for f in &parsed_files {
        for r in &f.records {
            if let Record::Fields { values, .. } = r {
                for (k, _) in values {
                    if !known.contains(k.as_str()) {
                        found.insert(k.clone());
                    }
                }
            }
        }
    }
    let schema_fixed = !progress.columns.is_empty();
    match options.evolution {
        SchemaEvolution::AddNewColumns => next.columns.extend(found.iter().cloned()),
        SchemaEvolution::FailOnNewColumns if schema_fixed && !found.is_empty() => {
            return Err(source_err(
                format!(
                    "new columns {} (schemaEvolutionMode failOnNewColumns)",
                    found.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                false,
            ));
        }
        _ if !schema_fixed => next.columns.extend(found.iter().cloned()),
        _ => {}
    }
    let rescue = options.evolution == SchemaEvolution::Rescue;
    let index: HashMap<&str, usize> = next
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let n = next.columns.len();
    let mut builders: Vec<StringBuilder> = (0..n).map(|_| StringBuilder::new()).collect();
    let mut rescued = StringBuilder::new();
    let mut corrupt = StringBuilder::new();
    let mut meta = MetadataBuilder::default();
    let (mut corrupt_count, mut rescued_count, mut records) = (0u64, 0u64, 0u64);
    let mut row: Vec<Option<String>> = vec![None; n];
    for f in parsed_files {
        for r in f.records {
            records += 1;
            match r {
                Record::Fields { line, values } => {
                    let mut extra = serde_json::Map::new();
                    for (k, v) in values {
                        match index.get(k.as_str()) {
                            Some(&i) => row[i] = v,
                            None if rescue => {
                                extra.insert(
                                    k,
                                    v.map_or(serde_json::Value::Null, serde_json::Value::String),
                                );
                            }
                            None => {}
                        }
                    }
                    for (b, v) in builders.iter_mut().zip(row.iter_mut()) {
                        b.append_option(v.take());
                    }
                    if extra.is_empty() {
                        rescued.append_null();
                    } else {
                        rescued_count += 1;
                        extra.insert(
                            "_file_path".into(),
                            serde_json::Value::String(f.meta.path.clone()),
                        );
                        rescued.append_value(serde_json::Value::Object(extra).to_string());
                    }
                    corrupt.append_null();
                    meta.push(root, &f.meta, Some(line));
                }
                Record::Corrupt { line, text } => {
                    corrupt_count += 1;
                    for b in &mut builders {
                        b.append_null();
                    }
                    rescued.append_null();
                    corrupt.append_value(text);
                    meta.push(root, &f.meta, Some(line));
                }
            }
        }
    }
    let columns: Vec<(String, DataType)> = next
        .columns
        .iter()
        .map(|c| (c.clone(), DataType::Utf8))
        .collect();
    let schema = row_schema(&columns, with_metadata);
    let mut arrays: Vec<ArrayRef> = builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    arrays.push(Arc::new(rescued.finish()));
    arrays.push(Arc::new(corrupt.finish()));
    if with_metadata {
        arrays.push(meta.finish());
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| source_err(e.to_string(), false))?;
    let mut metrics = serde_json::Map::new();
    metrics.insert("files".into(), files.len().into());
    metrics.insert("records".into(), records.into());
    metrics.insert("corrupt_records".into(), corrupt_count.into());
    metrics.insert("rescued_records".into(), rescued_count.into());
    metrics.insert(
        "bytes".into(),
        files.iter().map(|f| f.size).sum::<u64>().into(),
    );
    Ok((
        SourceBatch {
            schema,
            batches: vec![batch],
            metrics,
        },
        next,
    ))
}

fn typed_rows(
    files: Vec<ParsedFile>,
    root: &str,
    with_metadata: bool,
    mut next: FilesProgress,
    flow: &str,
) -> PipelineResult<(SourceBatch, FilesProgress)> {
    // Columns: the union, first seen first; a column's type is its first
    // file's.
    let mut columns: Vec<(String, DataType)> = Vec::new();
    for f in &files {
        for b in f.typed.iter().take(1) {
            for field in b.schema().fields() {
                if !columns.iter().any(|(c, _)| c == field.name()) {
                    columns.push((field.name().clone(), field.data_type().clone()));
                }
            }
        }
    }
    next.columns = columns.iter().map(|(c, _)| c.clone()).collect();
    let schema = row_schema(&columns, with_metadata);
    let mut out = Vec::new();
    let mut rows = 0u64;
    for f in files {
        for b in f.typed {
            let mut arrays: Vec<ArrayRef> = Vec::new();
            for (c, t) in &columns {
                let a = match b.column_by_name(c) {
                    Some(a) if a.data_type() == t => a.clone(),
                    Some(a) => arrow_cast::cast(a, t).map_err(|e| PipelineError::Source {
                        flow: flow.to_string(),
                        source_name: f.meta.path.clone(),
                        message: format!("column {c}: {e}"),
                        retryable: false,
                    })?,
                    None => arrow_array::new_null_array(t, b.num_rows()),
                };
                arrays.push(a);
            }
            arrays.push(arrow_array::new_null_array(&DataType::Utf8, b.num_rows()));
            arrays.push(arrow_array::new_null_array(&DataType::Utf8, b.num_rows()));
            if with_metadata {
                let mut m = MetadataBuilder::default();
                for _ in 0..b.num_rows() {
                    m.push(root, &f.meta, None);
                }
                arrays.push(m.finish());
            }
            rows += b.num_rows() as u64;
            out.push(
                RecordBatch::try_new(schema.clone(), arrays)
                    .map_err(|e| PipelineError::flow(flow, e.to_string()))?,
            );
        }
    }
    let mut metrics = serde_json::Map::new();
    metrics.insert("records".into(), rows.into());
    Ok((
        SourceBatch {
            schema,
            batches: out,
            metrics,
        },
        next,
    ))
}

#[derive(Default)]
struct MetadataBuilder {
    path: StringBuilder,
    name: StringBuilder,
    size: Int64Builder,
    modified: TimestampMicrosecondBuilder,
    line: Int64Builder,
}

impl MetadataBuilder {
    fn push(&mut self, root: &str, meta: &FileMeta, line: Option<u64>) {
        let root = root.trim_end_matches('/');
        self.path.append_value(format!("{root}/{}", meta.path));
        self.name
            .append_value(meta.path.rsplit('/').next().unwrap_or(&meta.path));
        self.size.append_value(meta.size as i64);
        self.modified.append_value(meta.last_modified * 1000);
        self.line.append_option(line.map(|l| l as i64));
    }

    fn finish(mut self) -> ArrayRef {
        let modified = self.modified.finish().with_timezone("UTC");
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.path.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.size.finish()),
            Arc::new(modified),
            Arc::new(self.line.finish()),
        ];
        Arc::new(StructArray::new(metadata_fields(), arrays, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_text_and_corrupt_lines() {
        let recs = parse_json_lines(
            b"{\"a\":\"x\",\"n\":21.50,\"o\":{\"k\":[1]},\"z\":null}\n{\"a\":\"tru\n\n[1,2]\n{\"a\":\"\\u00e9\"}\r\n",
        );
        assert_eq!(recs.len(), 4);
        let Record::Fields { values, line } = &recs[0] else {
            panic!()
        };
        assert_eq!(*line, 1);
        let m: HashMap<_, _> = values.iter().cloned().collect();
        assert_eq!(m["n"].as_deref(), Some("21.50"));
        assert_eq!(m["o"].as_deref(), Some("{\"k\":[1]}"));
        assert_eq!(m["z"], None);
        assert!(matches!(&recs[1], Record::Corrupt { line: 2, text } if text == "{\"a\":\"tru"));
        assert!(matches!(&recs[2], Record::Corrupt { line: 4, .. }));
        let Record::Fields { values, .. } = &recs[3] else {
            panic!()
        };
        assert_eq!(values[0].1.as_deref(), Some("é"));
    }

    #[test]
    fn csv_quotes_and_ragged_rows() {
        let recs = parse_csv(b"a,b\n1,\"x,\"\"y\"\"\"\n2\n3,\n");
        assert_eq!(recs.len(), 3);
        let Record::Fields { values, .. } = &recs[0] else {
            panic!()
        };
        assert_eq!(values[1].1.as_deref(), Some("x,\"y\""));
        assert!(matches!(&recs[1], Record::Corrupt { line: 3, .. }));
        let Record::Fields { values, .. } = &recs[2] else {
            panic!()
        };
        assert_eq!(values[1].1, None);
    }

    #[test]
    fn natural_order_puts_round_10_after_round_9() {
        let mut v = vec!["round-10/a", "round-9/b", "round-9/a"];
        v.sort_by_key(|p| natural_key(p));
        assert_eq!(v, vec!["round-9/a", "round-9/b", "round-10/a"]);
    }

    #[test]
    fn options_are_checked() {
        let o = |pairs: &[(&str, &str)]| {
            FileOptions::parse(
                &pairs
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        assert!(o(&[]).unwrap_err().contains("format"));
        assert!(o(&[("format", "xml")]).is_err());
        assert!(
            o(&[("format", "json"), ("bogus", "1")])
                .unwrap_err()
                .contains("bogus")
        );
        let ok = o(&[
            ("format", "json"),
            ("cloudFiles.maxFilesPerTrigger", "3"),
            ("schemaEvolutionMode", "rescue"),
        ])
        .unwrap();
        assert_eq!(ok.max_files_per_trigger, 3);
        assert_eq!(ok.evolution, SchemaEvolution::Rescue);
    }
}
