//! Writing checkpoints: classic single-file, multi-part for large tables, and
//! V2 (a top-level Parquet file with sidecars) for tables with the
//! `v2Checkpoint` feature; then the version checksum (`.crc`) and, last,
//! `_last_checkpoint`.
//!
//! Rows are the same JSON the commit files hold, decoded into the spec's
//! checkpoint schema by `arrow-json`, so a checkpoint can only contain what
//! the typed actions serialize to.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::actions::{Action, Add, CheckpointMetadata, Sidecar, action_to_json_line};
use crate::checkpoint_arrow::{add_type, deletion_vector, string_map};
use crate::environment::Environment;
use crate::error::{LogError, LogResult};
use crate::features::TableFeature;
use crate::file_list::FileList;
use crate::log_path::{LAST_CHECKPOINT, LOG_DIR, SIDECAR_DIR, checksum_path};
use crate::path::FilePath;
use crate::snapshot::Snapshot;
use crate::storage::StorageError;

pub use crate::checkpoint_error::CheckpointEncodeError;

/// Files per checkpoint part (and per sidecar) before a checkpoint is split.
pub const DEFAULT_ACTIONS_PER_FILE: usize = 1_000_000;

/// Default retention of tombstones in checkpoints (one week).
pub const DEFAULT_TOMBSTONE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// How to write a checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// Actions per Parquet file: more actions than this give a multi-part
    /// checkpoint (or several sidecars for V2).
    pub actions_per_file: usize,
    /// "Now", for tombstone expiry (ms since epoch).
    pub now_ms: i64,
    /// Where checkpoint and sidecar file names get their ids.
    pub env: Arc<dyn Environment>,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        let env = crate::environment::system_environment();
        Self {
            actions_per_file: DEFAULT_ACTIONS_PER_FILE,
            now_ms: env.now_ms(),
            env,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointWritten {
    /// The version checkpointed.
    pub version: u64,
    /// Files written (relative to the table root), checkpoint files first.
    pub files: Vec<String>,
    /// Actions in the checkpoint.
    pub num_actions: usize,
    /// Add actions in the checkpoint.
    pub num_add_files: usize,
    /// Whether a checkpoint for this version already existed (nothing written
    /// but `_last_checkpoint`).
    pub already_existed: bool,
}

fn string_list(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("element", DataType::Utf8, false))),
        nullable,
    )
}

fn file_action_fields() -> Vec<Field> {
    vec![
        Field::new("add", add_type(), true),
        Field::new(
            "remove",
            DataType::Struct(Fields::from(vec![
                Field::new("path", DataType::Utf8, false),
                Field::new("deletionTimestamp", DataType::Int64, true),
                Field::new("dataChange", DataType::Boolean, false),
                Field::new("extendedFileMetadata", DataType::Boolean, true),
                string_map("partitionValues", true),
                Field::new("size", DataType::Int64, true),
                string_map("tags", true),
                deletion_vector(),
                Field::new("baseRowId", DataType::Int64, true),
                Field::new("defaultRowCommitVersion", DataType::Int64, true),
            ])),
            true,
        ),
    ]
}

fn state_action_fields() -> Vec<Field> {
    vec![
        Field::new(
            "metaData",
            DataType::Struct(Fields::from(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("name", DataType::Utf8, true),
                Field::new("description", DataType::Utf8, true),
                Field::new(
                    "format",
                    DataType::Struct(Fields::from(vec![
                        Field::new("provider", DataType::Utf8, false),
                        string_map("options", true),
                    ])),
                    false,
                ),
                Field::new("schemaString", DataType::Utf8, false),
                string_list("partitionColumns", false),
                Field::new("createdTime", DataType::Int64, true),
                string_map("configuration", true),
            ])),
            true,
        ),
        Field::new(
            "protocol",
            DataType::Struct(Fields::from(vec![
                Field::new("minReaderVersion", DataType::Int32, false),
                Field::new("minWriterVersion", DataType::Int32, false),
                string_list("readerFeatures", true),
                string_list("writerFeatures", true),
            ])),
            true,
        ),
        Field::new(
            "txn",
            DataType::Struct(Fields::from(vec![
                Field::new("appId", DataType::Utf8, false),
                Field::new("version", DataType::Int64, false),
                Field::new("lastUpdated", DataType::Int64, true),
            ])),
            true,
        ),
        Field::new(
            "domainMetadata",
            DataType::Struct(Fields::from(vec![
                Field::new("domain", DataType::Utf8, false),
                Field::new("configuration", DataType::Utf8, false),
                Field::new("removed", DataType::Boolean, false),
            ])),
            true,
        ),
    ]
}

fn v2_fields() -> Vec<Field> {
    vec![
        Field::new(
            "checkpointMetadata",
            DataType::Struct(Fields::from(vec![
                Field::new("version", DataType::Int64, false),
                string_map("tags", true),
            ])),
            true,
        ),
        Field::new(
            "sidecar",
            DataType::Struct(Fields::from(vec![
                Field::new("path", DataType::Utf8, false),
                Field::new("sizeInBytes", DataType::Int64, false),
                Field::new("modificationTime", DataType::Int64, false),
                string_map("tags", true),
            ])),
            true,
        ),
    ]
}

/// The schema of classic and multi-part checkpoints (and of V2 checkpoints
/// without sidecars).
pub fn classic_schema() -> SchemaRef {
    let mut f = file_action_fields();
    f.extend(state_action_fields());
    Arc::new(Schema::new(f))
}

fn v2_top_schema() -> SchemaRef {
    let mut f = state_action_fields();
    f.extend(v2_fields());
    Arc::new(Schema::new(f))
}

fn sidecar_schema() -> SchemaRef {
    Arc::new(Schema::new(file_action_fields()))
}

/// Decodes JSON lines into record batches of the schema.
fn decode_lines(
    schema: &SchemaRef,
    lines: &[String],
) -> Result<Vec<RecordBatch>, CheckpointEncodeError> {
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(8192)
        .build_decoder()?;
    let mut out = Vec::new();
    for chunk in lines.chunks(8192) {
        let text = chunk.join("\n");
        let mut buf = text.as_bytes();
        while !buf.is_empty() {
            let read = decoder.decode(buf)?;
            if read == 0 {
                break;
            }
            buf = &buf[read..];
        }
        if let Some(batch) = decoder.flush()? {
            out.push(batch);
        }
    }
    Ok(out)
}

/// Encodes action rows (their JSON lines) as one Parquet file. Lines are
/// decoded into Arrow on all cores; the Parquet encoding itself is serial.
pub fn encode_parquet(
    schema: &SchemaRef,
    lines: &[String],
) -> Result<Bytes, CheckpointEncodeError> {
    encode_rows(schema, &AddSource::Slice(&[]), lines)
}

/// Encodes `adds` (built straight into Arrow) and other rows (JSON lines) as
/// one Parquet file.
fn encode_rows(
    schema: &SchemaRef,
    adds: &AddSource<'_>,
    lines: &[String],
) -> Result<Bytes, CheckpointEncodeError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = lines.len().div_ceil(threads).max(8192);
    let parts: Vec<Result<Vec<RecordBatch>, CheckpointEncodeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per_thread)
            .map(|part| scope.spawn(move || decode_lines(schema, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(props))?;
    let mut wrote = false;
    adds.for_each_window(|window| {
        for batch in crate::checkpoint_arrow::add_batches(schema, window)? {
            writer.write(&batch)?;
            wrote = true;
        }
        Ok(())
    })?;
    for part in parts {
        for batch in part? {
            writer.write(&batch)?;
            wrote = true;
        }
    }
    if !wrote {
        writer.write(&RecordBatch::new_empty(schema.clone()))?;
    }
    writer.close()?;
    Ok(Bytes::from(out))
}

/// `_last_checkpoint` as silt writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LastCheckpointJson {
    version: u64,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<usize>,
    size_in_bytes: usize,
    num_of_add_files: usize,
}

/// The `.crc` content silt writes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChecksumJson<'a> {
    table_size_bytes: i64,
    num_files: usize,
    num_metadata: u8,
    num_protocol: u8,
    metadata: &'a crate::actions::Metadata,
    protocol: &'a crate::actions::Protocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_commit_timestamp_opt: Option<i64>,
}

impl Snapshot {
    /// Writes this version's `.crc` file (if none exists yet).
    pub async fn write_checksum(&self) -> LogResult<()> {
        let crc = ChecksumJson {
            table_size_bytes: self.size_in_bytes(),
            num_files: self.files().len(),
            num_metadata: 1,
            num_protocol: 1,
            metadata: self.metadata(),
            protocol: self.protocol(),
            in_commit_timestamp_opt: self.in_commit_timestamp(),
        };
        let text =
            serde_json::to_string(&crc).map_err(|e| LogError::InvalidArgument(e.to_string()))?;
        match self
            .store()
            .put_if_absent(&checksum_path(self.version()), Bytes::from(text))
            .await
        {
            Ok(()) | Err(StorageError::AlreadyExists { .. }) => Ok(()),
            Err(source) => Err(LogError::Storage {
                table: self.location().to_string(),
                source,
            }),
        }
    }

    /// Writes a checkpoint of this version (classic, multi-part or V2 as the
    /// table and its size call for), its `.crc`, then `_last_checkpoint`.
    pub async fn write_checkpoint(
        &self,
        options: &CheckpointOptions,
    ) -> LogResult<CheckpointWritten> {
        let store = self.store().clone();
        let table = self.location().to_string();
        let version = self.version();
        crate::writable::check_writable(&table, version, self.protocol())?;
        let storage = |source| LogError::Storage {
            table: table.clone(),
            source,
        };
        let encode_err = |source: CheckpointEncodeError| LogError::CheckpointEncode {
            table: table.clone(),
            version,
            source,
        };
        let retention = self
            .metadata()
            .property(crate::properties::DELETED_FILE_RETENTION_DURATION)
            .and_then(crate::interval::parse_interval_ms)
            .unwrap_or(DEFAULT_TOMBSTONE_RETENTION_MS);
        let cutoff = options.now_ms - retention;

        // State rows and file rows, as log lines.
        let mut state_lines = vec![
            action_to_json_line(&Action::Protocol(self.protocol().clone())),
            action_to_json_line(&Action::Metadata(Box::new(self.metadata().clone()))),
        ];
        let mut txns: Vec<_> = self.txns().values().cloned().collect();
        txns.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        state_lines.extend(
            txns.into_iter()
                .map(|t| action_to_json_line(&Action::Txn(t))),
        );
        let mut domains: Vec<_> = self.domains().values().cloned().collect();
        domains.sort_by(|a, b| a.domain.cmp(&b.domain));
        state_lines.extend(
            domains
                .into_iter()
                .map(|d| action_to_json_line(&Action::DomainMetadata(d))),
        );
        let files = self.files();
        let mut file_lines: Vec<String> = Vec::new();
        file_lines.extend(
            self.tombstones()
                .iter()
                .filter(|r| r.deletion_timestamp.unwrap_or(0) > cutoff)
                .map(|r| {
                    let mut r = r.clone();
                    r.data_change = false;
                    r.stats = None;
                    action_to_json_line(&Action::Remove(Box::new(r)))
                }),
        );
        let num_actions = state_lines.len() + files.len() + file_lines.len();
        let num_add_files = self.files().len();
        let per_file = options.actions_per_file.max(1);
        let v2 = self.protocol().has_feature(&TableFeature::V2Checkpoint);
        // One file is written from the file list as it is held (decoded a
        // window at a time); a split needs every file decoded, and sorted.
        let rows_in_files = files.len() + file_lines.len() + if v2 { 0 } else { state_lines.len() };
        let split_needed = rows_in_files > per_file;
        let owned: Vec<Cow<'_, Add>> = if split_needed {
            files.iter().collect()
        } else {
            Vec::new()
        };
        let mut adds: Vec<&Add> = owned.iter().map(|a| a.as_ref()).collect();

        let mut written = Vec::new();
        let mut total_bytes = 0usize;
        let mut parts_count = None;
        let mut already_existed = false;
        if v2 {
            let schema = sidecar_schema();
            let parts = if split_needed {
                split(&adds, &file_lines, per_file)
            } else {
                vec![(AddSource::List(files), file_lines.as_slice())]
            };
            let encoded = encode_all(&schema, parts);
            let mut sidecars = Vec::new();
            for bytes in encoded {
                let bytes = bytes.map_err(encode_err)?;
                let name = format!("{}.parquet", options.env.new_id());
                let path = format!("{SIDECAR_DIR}{name}");
                total_bytes += bytes.len();
                let size = bytes.len() as i64;
                store.put_if_absent(&path, bytes).await.map_err(storage)?;
                written.push(path);
                sidecars.push(Sidecar {
                    path: FilePath::parse(name).map_err(|e| encode_err(e.into()))?,
                    size_in_bytes: size,
                    modification_time: options.now_ms,
                    tags: None,
                });
            }
            let mut top = vec![action_to_json_line(&Action::CheckpointMetadata(
                CheckpointMetadata {
                    version: version as i64,
                    tags: None,
                },
            ))];
            top.extend(state_lines);
            top.extend(
                sidecars
                    .into_iter()
                    .map(|s| action_to_json_line(&Action::Sidecar(s))),
            );
            let bytes = encode_parquet(&v2_top_schema(), &top).map_err(encode_err)?;
            total_bytes += bytes.len();
            let path = format!(
                "{LOG_DIR}{version:020}.checkpoint.{}.parquet",
                options.env.new_id()
            );
            store.put_if_absent(&path, bytes).await.map_err(storage)?;
            written.insert(0, path);
        } else {
            let mut rows = state_lines;
            rows.extend(file_lines);
            // A multi-part checkpoint is split in a deterministic order, so a
            // writer retrying after a crash produces the same parts. (One
            // file keeps replay's order: sorting 100,000 paths costs about a
            // third of writing it.)
            if adds.len() + rows.len() > per_file {
                adds.sort_unstable_by(|a, b| a.path.cmp(&b.path));
                rows[2..].sort_unstable();
            }
            let parts = if split_needed {
                split(&adds, &rows, per_file)
            } else {
                vec![(AddSource::List(files), rows.as_slice())]
            };
            let n = parts.len();
            let encoded = encode_all(&classic_schema(), parts);
            let names: Vec<String> = if n == 1 {
                vec![format!("{LOG_DIR}{version:020}.checkpoint.parquet")]
            } else {
                parts_count = Some(n);
                (1..=n)
                    .map(|i| format!("{LOG_DIR}{version:020}.checkpoint.{i:010}.{n:010}.parquet"))
                    .collect()
            };
            for (bytes, path) in encoded.into_iter().zip(names) {
                let bytes = bytes.map_err(encode_err)?;
                total_bytes += bytes.len();
                match store.put_if_absent(&path, bytes).await {
                    Ok(()) => written.push(path),
                    // Another writer checkpointed this version: same content.
                    Err(StorageError::AlreadyExists { .. }) => already_existed = true,
                    Err(e) => return Err(storage(e)),
                }
            }
        }
        self.write_checksum().await?;
        let hint = LastCheckpointJson {
            version,
            size: num_actions,
            parts: parts_count,
            size_in_bytes: total_bytes,
            num_of_add_files: num_add_files,
        };
        let hint = serde_json::to_vec(&hint).map_err(|e| encode_err(e.into()))?;
        store
            .put(LAST_CHECKPOINT, Bytes::from(hint))
            .await
            .map_err(storage)?;
        Ok(CheckpointWritten {
            version,
            files: written,
            num_actions,
            num_add_files,
            already_existed,
        })
    }
}

/// Splits adds and other rows into files of at most `per_file` rows (at
/// least one file, possibly empty).
fn split<'a>(
    adds: &'a [&'a Add],
    lines: &'a [String],
    per_file: usize,
) -> Vec<(AddSource<'a>, &'a [String])> {
    let mut parts = Vec::new();
    let (mut a, mut l) = (adds, lines);
    while !a.is_empty() || !l.is_empty() {
        let take_lines = l.len().min(per_file);
        let take_adds = a.len().min(per_file - take_lines);
        parts.push((AddSource::Slice(&a[..take_adds]), &l[..take_lines]));
        a = &a[take_adds..];
        l = &l[take_lines..];
    }
    if parts.is_empty() {
        parts.push((AddSource::Slice(adds), lines));
    }
    parts
}

/// The `add` rows of one checkpoint file.
enum AddSource<'a> {
    /// Decoded (and perhaps sorted) adds.
    Slice(&'a [&'a Add]),
    /// A snapshot's whole file list, decoded a window at a time as it is
    /// encoded, so writing a checkpoint never holds every file as an `Add`.
    List(&'a FileList),
}

/// Adds decoded at once while a checkpoint is encoded from a file list.
const ADD_WINDOW: usize = 65_536;

impl AddSource<'_> {
    /// Calls `f` with consecutive windows of the adds.
    fn for_each_window(
        &self,
        mut f: impl FnMut(&[&Add]) -> Result<(), CheckpointEncodeError>,
    ) -> Result<(), CheckpointEncodeError> {
        match self {
            AddSource::Slice(adds) => adds.chunks(ADD_WINDOW).try_for_each(f),
            AddSource::List(list) => {
                let mut files = list.iter();
                loop {
                    let window: Vec<Cow<'_, Add>> = files.by_ref().take(ADD_WINDOW).collect();
                    if window.is_empty() {
                        return Ok(());
                    }
                    let refs: Vec<&Add> = window.iter().map(|a| a.as_ref()).collect();
                    f(&refs)?;
                }
            }
        }
    }
}

/// Encodes each part as one Parquet file. A part is encoded on all cores
/// (its rows are decoded in parallel); parts follow one another.
fn encode_all(
    schema: &SchemaRef,
    parts: Vec<(AddSource<'_>, &[String])>,
) -> Vec<Result<Bytes, CheckpointEncodeError>> {
    parts
        .into_iter()
        .map(|(adds, lines)| encode_rows(schema, &adds, lines))
        .collect()
}
