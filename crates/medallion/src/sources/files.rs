//! Landing files, like Auto Loader: every file below a directory
//! (recursively; new subdirectories included) is ingested once. The
//! progress is the set of files ingested, kept in the target table's log
//! with the rows; it stays bounded: files older than `maxFileAge` (7 days
//! by default) before the newest are forgotten and ignored, and with
//! `cleanSource` ingested files leave the directory (deleted or moved)
//! and the progress. JSON lines are read with every field as a string (a JSON
//! number keeps its text, nested values their JSON); a line that is not a
//! JSON object is kept in `_corrupt_record`; fields outside the schema go
//! to `_rescued_data` in `rescue` mode. `_metadata` gives each row's file
//! path, name, size, modification time and line. CSV (header, strings) and
//! Parquet (typed) files are read too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use silt_log::{FileMeta, LogStore};

use super::listing::IncrementalListing;
use super::{SourceBatch, json_line};
use crate::error::InvalidInput;
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
    /// `maxFileAge`: files modified this long (ms) before the newest file
    /// ingested are ignored, and the progress forgets them, so it does not
    /// grow with the files ingested. 7 days unless set (the default of
    /// Spark's file stream source); `none` keeps every file forever.
    pub max_file_age_ms: Option<i64>,
    /// `cleanSource`: what happens to a file once its batch committed.
    pub clean_source: CleanSource,
    /// `useIncrementalListing`: list only what sorts after the watermark.
    pub incremental_listing: IncrementalListing,
    /// `backfillInterval`: how often (ms) an incremental source is listed
    /// in full anyway.
    pub backfill_interval_ms: Option<i64>,
}

/// `cleanSource` (Spark's `off | delete | archive`, Auto Loader's `OFF |
/// DELETE | MOVE`): ingested files leave the landing directory, so listing
/// it costs only the files not read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanSource {
    /// Files stay (the default).
    Off,
    /// Files are deleted.
    Delete,
    /// Files are moved below this URI or path, keeping their relative path.
    Move(String),
}

impl FileOptions {
    /// Parses `read_files` options (names as in Auto Loader, with or
    /// without the `cloudFiles.` prefix).
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self, InvalidInput> {
        let mut o = FileOptions {
            format: FileFormat::Json,
            evolution: SchemaEvolution::AddNewColumns,
            max_files_per_trigger: 1000,
            min_file_age_ms: 0,
            suffix: None,
            max_file_age_ms: Some(DEFAULT_MAX_FILE_AGE_MS),
            clean_source: CleanSource::Off,
            incremental_listing: IncrementalListing::Auto,
            backfill_interval_ms: None,
        };
        let mut format_given = false;
        let (mut clean, mut archive_dir, mut age_given) = (None, None, false);
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
                            )
                            .into());
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
                            ).into());
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
                "cleansource" => clean = Some(v.to_ascii_lowercase()),
                "sourcearchivedir" | "cleansource.movedestination" => archive_dir = Some(v.clone()),
                "maxfileage"
                    if ["none", "unbounded"].contains(&v.to_ascii_lowercase().as_str()) =>
                {
                    age_given = true;
                    o.max_file_age_ms = None
                }
                "maxfileage" => {
                    age_given = true;
                    o.max_file_age_ms = Some(parse_age(v).ok_or(format!(
                        "maxFileAge must be a duration such as '14 days', '12 hours' or '30m', or 'none', not {v:?}"
                    ))?)
                }
                "useincrementallisting" => {
                    o.incremental_listing = match v.to_ascii_lowercase().as_str() {
                        "auto" => IncrementalListing::Auto,
                        "true" => IncrementalListing::On,
                        "false" => IncrementalListing::Off,
                        other => {
                            return Err(format!(
                                "useIncrementalListing {other:?} is not one of auto, true, false"
                            )
                            .into());
                        }
                    }
                }
                "backfillinterval" => {
                    o.backfill_interval_ms = Some(parse_age(v).ok_or(format!(
                        "backfillInterval must be a duration such as '1 day' or '6 hours', not {v:?}"
                    ))?)
                }
                "pathglobfilter" | "filesuffix" => {
                    o.suffix = Some(v.trim_start_matches('*').to_string());
                }
                "inferschema" | "infercolumntypes" if v.eq_ignore_ascii_case("false") => {}
                "header" if v.eq_ignore_ascii_case("true") => {}
                other => return Err(format!("unknown read_files option {other:?}").into()),
            }
        }
        if !format_given {
            return Err("read_files needs format => 'json' | 'csv' | 'parquet'".into());
        }
        o.clean_source = match (clean.as_deref().unwrap_or("off"), archive_dir) {
            ("off", None) => CleanSource::Off,
            ("delete", None) => CleanSource::Delete,
            ("move" | "archive", Some(dir)) => CleanSource::Move(dir),
            ("move" | "archive", None) => {
                return Err(
                    "cleanSource 'move' needs sourceArchiveDir (or cleanSource.moveDestination)"
                        .into(),
                );
            }
            ("off" | "delete", Some(_)) => {
                return Err("sourceArchiveDir is only used with cleanSource 'move'".into());
            }
            (other, _) => {
                return Err(
                    format!("cleanSource {other:?} is not one of off, delete, move").into(),
                );
            }
        };
        if o.clean_source != CleanSource::Off && !age_given {
            // Cleaned files leave the progress once gone; forgetting by age
            // would forget files before they are cleaned.
            o.max_file_age_ms = None;
        }
        Ok(o)
    }
}

/// The default `maxFileAge`: 7 days.
pub const DEFAULT_MAX_FILE_AGE_MS: i64 = 7 * 86_400_000;

/// `14 days`, `12 hours`, `30m`, `90s`, `500ms`, `2 weeks` in milliseconds.
fn parse_age(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms: i64 = match unit.trim() {
        "ms" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        "y" | "year" | "years" => 365 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|v| *v > 0)
}

/// A files source's progress: files ingested and the columns found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesProgress {
    /// Paths relative to the source directory → modification time (ms).
    pub files: BTreeMap<String, i64>,
    /// With `maxFileAge`: files modified before this (ms) count as
    /// ingested and are no longer listed in `files`.
    #[serde(default)]
    pub cutoff_ms: Option<i64>,
    /// Data columns, in order (strings for JSON and CSV).
    pub columns: Vec<String>,
    /// Every file whose path sorts at or before this one is ingested (or
    /// ignored as too old): incremental listings start after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
    /// When the source was last listed in full (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_listed_ms: Option<i64>,
    /// A full listing found files that landed out of path order: `auto`
    /// lists this source in full from then on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_order: bool,
    /// Full listings in a row that found newly landed files only after the
    /// watermark: `auto` lists incrementally once there are enough.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_order: u32,
    /// The last batch left no file unread behind it, so what the next
    /// listing finds landed since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drained: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl FilesProgress {
    /// Forgets the files modified more than `max_age_ms` before the newest
    /// one ingested and ignores such files from then on (`cutoff_ms`), so
    /// the progress holds only recent files. The cutoff never passes a file
    /// listed but not read yet (`held_back_ms`, the oldest of them), and
    /// never moves back.
    pub fn forget_old(&mut self, max_age_ms: Option<i64>, held_back_ms: Option<i64>) {
        let (Some(age), Some(newest)) = (max_age_ms, self.files.values().max().copied()) else {
            return;
        };
        let mut cutoff = newest.saturating_sub(age);
        if let Some(h) = held_back_ms {
            cutoff = cutoff.min(h);
        }
        let cutoff = self.cutoff_ms.map_or(cutoff, |c| c.max(cutoff));
        self.cutoff_ms = Some(cutoff);
        self.files.retain(|_, modified| *modified >= cutoff);
    }
}

/// Deletes or moves (to `archive`, same relative path) files whose batch
/// has committed. A move writes the copy before deleting the original, so
/// a crash leaves a file in both places, never in neither; a file already
/// gone is not an error.
pub async fn clean_ingested(
    store: &dyn LogStore,
    archive: Option<&dyn LogStore>,
    paths: &[&str],
) -> Result<(), silt_log::StorageError> {
    for &path in paths {
        if let Some(to) = archive {
            let bytes = match store.read(path).await {
                Ok(b) => b,
                Err(silt_log::StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            to.put(path, bytes).await?;
        }
        match store.delete(path).await {
            Ok(()) | Err(silt_log::StorageError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One file's rows before the schema is settled: its own columns.
struct ParsedFile {
    meta: FileMeta,
    /// JSON and CSV files: string columns as the file had them.
    columns: FileColumns,
    /// Typed batches (Parquet files).
    typed: Vec<RecordBatch>,
}

/// One file's string columns, built row by row: a column first seen at
/// row n starts with n nulls; a row without it gets a null.
#[derive(Default)]
struct FileColumns {
    names: Vec<String>,
    index: HashMap<String, usize>,
    builders: Vec<StringBuilder>,
    /// The row each column was last set in (a repeated key keeps its
    /// first value).
    set_in: Vec<usize>,
    /// The column of each field position in the previous record: records
    /// usually list their fields in one order, so a name is compared
    /// once instead of hashed.
    order: Vec<usize>,
    rows: usize,
    corrupt: StringBuilder,
    lines: Int64Builder,
}

impl FileColumns {
    fn column(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let mut b = StringBuilder::new();
        b.append_nulls(self.rows);
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.builders.len());
        self.builders.push(b);
        self.set_in.push(usize::MAX);
        self.builders.len() - 1
    }

    /// Appends one record of `(name, value)` fields.
    fn record<'v>(&mut self, line: u64, fields: impl Iterator<Item = (&'v str, Option<&'v str>)>) {
        let row = self.rows;
        for (position, (name, value)) in fields.enumerate() {
            let i = match self.order.get(position) {
                Some(&i) if self.names[i] == name => i,
                _ => {
                    let i = self.column(name);
                    if position < self.order.len() {
                        self.order[position] = i;
                    } else {
                        self.order.push(i);
                    }
                    i
                }
            };
            if self.set_in[i] != row {
                self.set_in[i] = row;
                self.builders[i].append_option(value);
            }
        }
        for (i, b) in self.builders.iter_mut().enumerate() {
            if self.set_in[i] != row {
                b.append_null();
            }
        }
        self.corrupt.append_null();
        self.lines.append_value(line as i64);
        self.rows += 1;
    }

    fn corrupt_record(&mut self, line: u64, text: &str) {
        for b in &mut self.builders {
            b.append_null();
        }
        self.corrupt.append_value(text);
        self.lines.append_value(line as i64);
        self.rows += 1;
    }
}

fn parse_json_lines(data: &[u8]) -> FileColumns {
    let mut out = FileColumns::default();
    let mut fields = Vec::new();
    for (i, raw) in data.split(|b| *b == b'\n').enumerate() {
        let line = (i + 1) as u64;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if json_line::object_fields(raw, &mut fields) {
            out.record(line, fields.iter().map(|(k, v)| (k.as_ref(), v.as_deref())));
        } else {
            out.corrupt_record(line, &String::from_utf8_lossy(raw));
        }
    }
    out
}

fn parse_csv(data: &[u8]) -> FileColumns {
    let mut out = FileColumns::default();
    let mut reader = csv_lines(data);
    let Some((_, header)) = reader.next() else {
        return out;
    };
    for (line, fields) in reader {
        if fields.len() != header.len() {
            out.corrupt_record(line, &fields.join(","));
            continue;
        }
        out.record(
            line,
            header
                .iter()
                .map(String::as_str)
                .zip(fields.iter().map(|f| (!f.is_empty()).then_some(f.as_str()))),
        );
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

/// Why one landing file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileReadError {
    /// Reading its bytes failed; retryable when the storage error is (a
    /// file that vanished is not).
    #[error("{0}")]
    Storage(#[from] silt_log::StorageError),
    /// A file declared Parquet is not readable as Parquet. Not retryable.
    #[error("{path}: not a readable Parquet file: {source}")]
    NotParquet {
        /// The file, relative to the source directory.
        path: String,
        /// The decoder's error.
        source: parquet::errors::ParquetError,
    },
    /// A Parquet file's rows do not decode. Not retryable.
    #[error("{path}: {source}")]
    Decode {
        /// The file, relative to the source directory.
        path: String,
        /// The decoder's error.
        source: arrow_schema::ArrowError,
    },
    /// The parsing task panicked or was cancelled. Not retryable.
    #[error("reading {path}: {source}")]
    Task {
        /// The file, relative to the source directory.
        path: String,
        /// The task's failure.
        source: tokio::task::JoinError,
    },
}

impl FileReadError {
    /// Whether reading the file again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Storage(e) if e.is_retryable())
    }
}

async fn read_one(
    store: Arc<dyn LogStore>,
    meta: FileMeta,
    format: FileFormat,
) -> Result<ParsedFile, FileReadError> {
    let data = store.read(&meta.path).await?;
    let path = meta.path.clone();
    let task_path = path.clone();
    tokio::task::spawn_blocking(move || {
        let mut file = ParsedFile {
            meta,
            columns: FileColumns::default(),
            typed: Vec::new(),
        };
        match format {
            FileFormat::Json => file.columns = parse_json_lines(&data),
            FileFormat::Csv => file.columns = parse_csv(&data),
            FileFormat::Parquet => {
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(data)
                        .and_then(|b| b.build())
                        .map_err(|source| FileReadError::NotParquet {
                            path: path.clone(),
                            source,
                        })?;
                for b in reader {
                    file.typed.push(b.map_err(|source| FileReadError::Decode {
                        path: path.clone(),
                        source,
                    })?);
                }
            }
        }
        Ok(file)
    })
    .await
    .map_err(|source| FileReadError::Task {
        path: task_path,
        source,
    })?
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
    let parsed: Vec<Result<ParsedFile, FileReadError>> = futures::stream::iter(files.clone())
        .map(|m| read_one(store.clone(), m, options.format))
        .buffered(threads.max(2))
        .collect()
        .await;
    let mut parsed_files = Vec::with_capacity(parsed.len());
    for p in parsed {
        parsed_files.push(p.map_err(|e| source_err(e.to_string(), e.is_retryable()))?);
    }
    let mut next = progress.clone();
    for f in &files {
        next.files.insert(f.path.clone(), f.last_modified);
    }
    if options.format == FileFormat::Parquet {
        return typed_rows(parsed_files, root, with_metadata, next, flow);
    }
    // Settle the columns: known ones first, then new ones by name.
    let known: BTreeSet<&str> = progress.columns.iter().map(String::as_str).collect();
    let mut found: BTreeSet<String> = BTreeSet::new();
    for f in &parsed_files {
        for k in &f.columns.names {
            if !known.contains(k.as_str()) {
                found.insert(k.clone());
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
    let n = next.columns.len();
    let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); n + 3];
    let (mut corrupt_count, mut rescued_count, mut records) = (0u64, 0u64, 0u64);
    for f in parsed_files {
        let mut cols = f.columns;
        let rows = cols.rows;
        records += rows as u64;
        let mut arrays: Vec<Option<ArrayRef>> = cols
            .builders
            .iter_mut()
            .map(|b| Some(Arc::new(b.finish()) as ArrayRef))
            .collect();
        for (i, name) in next.columns.iter().enumerate() {
            let a = cols
                .index
                .get(name)
                .and_then(|&j| arrays[j].take())
                .unwrap_or_else(|| arrow_array::new_null_array(&DataType::Utf8, rows));
            parts[i].push(a);
        }
        // Fields outside the schema: rescued (rescue mode) or dropped.
        let extra: Vec<(String, ArrayRef)> = cols
            .names
            .iter()
            .zip(arrays)
            .filter_map(|(name, a)| a.map(|a| (name.clone(), a)))
            .collect();
        let rescued: ArrayRef = if rescue && !extra.is_empty() {
            let mut rescued = StringBuilder::new();
            for r in 0..rows {
                let mut obj = serde_json::Map::new();
                for (name, a) in &extra {
                    let s = a.as_any().downcast_ref::<arrow_array::StringArray>();
                    if let Some(s) = s.filter(|s| s.is_valid(r)) {
                        obj.insert(
                            name.clone(),
                            serde_json::Value::String(s.value(r).to_string()),
                        );
                    }
                }
                if obj.is_empty() {
                    rescued.append_null();
                } else {
                    rescued_count += 1;
                    obj.insert(
                        "_file_path".into(),
                        serde_json::Value::String(f.meta.path.clone()),
                    );
                    rescued.append_value(serde_json::Value::Object(obj).to_string());
                }
            }
            Arc::new(rescued.finish())
        } else {
            arrow_array::new_null_array(&DataType::Utf8, rows)
        };
        let corrupt = cols.corrupt.finish();
        corrupt_count += corrupt.len() as u64 - corrupt.null_count() as u64;
        parts[n].push(rescued);
        parts[n + 1].push(Arc::new(corrupt));
        if with_metadata {
            parts[n + 2].push(file_metadata(
                root,
                &f.meta,
                rows,
                Some(cols.lines.finish()),
            ));
        }
    }
    let columns: Vec<(String, DataType)> = next
        .columns
        .iter()
        .map(|c| (c.clone(), DataType::Utf8))
        .collect();
    let schema = row_schema(&columns, with_metadata);
    // One batch per file (no copy of the whole input into one batch).
    let width = if with_metadata { n + 3 } else { n + 2 };
    let files_read = parts.first().map_or(0, Vec::len);
    let mut batches = Vec::with_capacity(files_read);
    for f in 0..files_read {
        let arrays: Vec<ArrayRef> = parts.iter().take(width).map(|p| p[f].clone()).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| source_err(e.to_string(), false))?;
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
    }
    drop(parts);
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
            batches,
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
                arrays.push(file_metadata(root, &f.meta, b.num_rows(), None));
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

/// `_metadata` for `rows` rows of one file: its path, name, size and
/// modification time (the same on every row), and each row's line.
fn file_metadata(
    root: &str,
    meta: &FileMeta,
    rows: usize,
    lines: Option<arrow_array::Int64Array>,
) -> ArrayRef {
    let path = format!("{}/{}", root.trim_end_matches('/'), meta.path);
    let name = meta.path.rsplit('/').next().unwrap_or(&meta.path);
    let lines = lines.unwrap_or_else(|| arrow_array::Int64Array::new_null(rows));
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::StringArray::from_iter_values(
            std::iter::repeat_n(path.as_str(), rows),
        )),
        Arc::new(arrow_array::StringArray::from_iter_values(
            std::iter::repeat_n(name, rows),
        )),
        Arc::new(arrow_array::Int64Array::from_value(meta.size as i64, rows)),
        Arc::new(
            arrow_array::TimestampMicrosecondArray::from_value(meta.last_modified * 1000, rows)
                .with_timezone("UTC"),
        ),
        Arc::new(lines),
    ];
    Arc::new(StructArray::new(metadata_fields(), arrays, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(c: &mut FileColumns, name: &str) -> Vec<Option<String>> {
        let i = c.index[name];
        let a = c.builders[i].finish_cloned();
        (0..a.len())
            .map(|r| a.is_valid(r).then(|| a.value(r).to_string()))
            .collect()
    }

    #[test]
    fn json_lines_keep_text_and_corrupt_lines() {
        let mut c = parse_json_lines(
            b"{\"a\":\"x\",\"n\":21.50,\"o\":{\"k\":[1]},\"z\":null}\n{\"a\":\"tru\n\n[1,2]\n{\"a\":\"\\u00e9\",\"a\":\"dup\",\"n\":1} \r\n",
        );
        assert_eq!(c.rows, 4);
        assert_eq!(
            strings(&mut c, "a"),
            vec![Some("x".into()), None, None, Some("é".into())]
        );
        assert_eq!(
            strings(&mut c, "n"),
            vec![Some("21.50".into()), None, None, Some("1".into())]
        );
        assert_eq!(strings(&mut c, "o")[0].as_deref(), Some("{\"k\":[1]}"));
        assert_eq!(strings(&mut c, "z"), vec![None; 4]);
        let corrupt = c.corrupt.finish();
        assert_eq!(corrupt.value(1), "{\"a\":\"tru");
        assert_eq!(corrupt.value(2), "[1,2]");
        assert!(corrupt.is_null(0) && corrupt.is_null(3));
        let lines = c.lines.finish();
        assert_eq!(lines.values().to_vec(), vec![1, 2, 4, 5]);
    }

    #[test]
    fn csv_quotes_and_ragged_rows() {
        let mut c = parse_csv(b"a,b\n1,\"x,\"\"y\"\"\"\n2\n3,\n");
        assert_eq!(c.rows, 3);
        assert_eq!(
            strings(&mut c, "b"),
            vec![Some("x,\"y\"".into()), None, None]
        );
        assert!(c.corrupt.finish().is_valid(1));
    }

    #[test]
    fn ages_parse_in_auto_loader_spellings() {
        assert_eq!(parse_age("14 days"), Some(14 * 86_400_000));
        assert_eq!(parse_age("12 hours"), Some(12 * 3_600_000));
        assert_eq!(parse_age("30m"), Some(1_800_000));
        assert_eq!(parse_age("500ms"), Some(500));
        assert_eq!(parse_age("1 week"), Some(7 * 86_400_000));
        assert_eq!(parse_age("soon"), None);
        assert_eq!(parse_age("0 days"), None);
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
        assert!(o(&[]).unwrap_err().0.contains("format"));
        assert!(o(&[("format", "xml")]).is_err());
        assert!(
            o(&[("format", "json"), ("bogus", "1")])
                .unwrap_err()
                .0
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
        assert_eq!(ok.max_file_age_ms, Some(DEFAULT_MAX_FILE_AGE_MS));
        let keep_all = o(&[("format", "json"), ("maxFileAge", "none")]).unwrap();
        assert_eq!(keep_all.max_file_age_ms, None);
        assert!(o(&[("format", "json"), ("maxFileAge", "soon")]).is_err());
        let moved = o(&[
            ("format", "json"),
            ("cloudFiles.cleanSource", "MOVE"),
            ("cloudFiles.cleanSource.moveDestination", "/a"),
        ])
        .unwrap();
        assert_eq!(moved.clean_source, CleanSource::Move("/a".into()));
        assert_eq!(
            moved.max_file_age_ms, None,
            "cleaned files are not forgotten by age"
        );
        let deleted = o(&[("format", "json"), ("cleanSource", "delete")]).unwrap();
        assert_eq!(deleted.clean_source, CleanSource::Delete);
        assert!(o(&[("format", "json"), ("cleanSource", "move")]).is_err());
        assert!(o(&[("format", "json"), ("cleanSource", "shred")]).is_err());
        assert!(o(&[("format", "json"), ("sourceArchiveDir", "/a")]).is_err());
    }

    proptest::proptest! {
        /// Over any run of batches, the progress forgets only files older
        /// than the age before the newest, the cutoff never moves back and
        /// never passes a file listed but not read yet, and the progress
        /// holds no more files than were modified within the age.
        #[test]
        fn forgetting_old_files_never_passes_a_pending_one(
            batches in proptest::collection::vec(
                (proptest::collection::vec(0i64..1000, 0..6), proptest::option::of(0i64..1000)),
                1..12,
            ),
            age in 1i64..400,
        ) {
            let mut p = FilesProgress::default();
            let mut n = 0;
            for (read, held_back) in batches {
                let before = p.cutoff_ms;
                for m in read {
                    if p.cutoff_ms.is_some_and(|c| m < c) {
                        continue; // listing never offers files below the cutoff
                    }
                    p.files.insert(format!("f{n}"), m);
                    n += 1;
                }
                let held_back = held_back.filter(|h| p.cutoff_ms.is_none_or(|c| *h >= c));
                p.forget_old(Some(age), held_back);
                let newest = p.files.values().max().copied();
                if let Some(c) = p.cutoff_ms {
                    proptest::prop_assert!(before.is_none_or(|b| c >= b));
                    proptest::prop_assert!(held_back.is_none_or(|h| c <= h));
                    proptest::prop_assert!(p.files.values().all(|m| *m >= c));
                    if let (Some(newest), None) = (newest, held_back) {
                        proptest::prop_assert!(c >= newest - age);
                    }
                }
            }
        }
    }

    #[test]
    fn forgetting_without_an_age_keeps_every_file() {
        let mut p = FilesProgress::default();
        p.files.insert("a".into(), 0);
        p.files.insert("b".into(), 1_000_000_000);
        p.forget_old(None, None);
        assert_eq!((p.files.len(), p.cutoff_ms), (2, None));
        p.forget_old(Some(1000), Some(5));
        assert_eq!(p.cutoff_ms, Some(5), "a file listed at 5 is not read yet");
        assert_eq!(p.files.len(), 1);
        p.forget_old(Some(1000), None);
        assert_eq!(p.cutoff_ms, Some(1_000_000_000 - 1000));
        assert_eq!(p.files.len(), 1);
    }
}
