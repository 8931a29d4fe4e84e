//! Reading checkpoints back into actions: classic and multi-part Parquet
//! checkpoints, V2 checkpoints (JSON or Parquet top-level file) and their
//! sidecar files.

use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use serde_json::Value;

use crate::actions::{Action, parse_action_value, parse_log_file};
use crate::arrow_rows::json_at;
use crate::checkpoint_columns::AddColumns;
use crate::error::{LogError, LogResult};
use crate::file_list::{AddChunk, FileList};
use crate::log_path::{LogFileKind, SIDECAR_DIR, V2Format};
use crate::segment::CheckpointFiles;
use crate::storage::{LogStore, StorageError};

/// Top-level checkpoint columns that carry table state.
const STATE_COLUMNS: &[&str] = &[
    "add",
    "remove",
    "metaData",
    "protocol",
    "txn",
    "domainMetadata",
    "sidecar",
    "checkpointMetadata",
];

pub use crate::checkpoint_error::{CheckpointDecodeError, CheckpointRowError};

/// How many files are fetched at once.
const READ_CONCURRENCY: usize = 16;

/// What a checkpoint holds: its live files (mostly column-wise, as
/// decoded) and every other action.
#[derive(Debug, Default)]
pub struct CheckpointContents {
    /// Every action but the `add`s kept in `files`, in file order.
    pub actions: Vec<Action>,
    /// The checkpoint's `add` actions.
    pub files: FileList,
}

impl CheckpointContents {
    fn extend(&mut self, part: Decoded) {
        self.actions.extend(part.actions);
        self.files.add_chunks(part.chunks);
    }
}

/// Reads every action of a checkpoint, including its sidecars, in file order.
pub async fn read_checkpoint(
    store: &dyn LogStore,
    cp: &CheckpointFiles,
) -> LogResult<CheckpointContents> {
    let table = store.location();
    let json_v2 = matches!(
        cp.kind,
        LogFileKind::V2Checkpoint {
            format: V2Format::Json,
            ..
        }
    );
    // Owned items: closures over borrowed items make the future lose `Send`
    // (a higher-ranked lifetime limitation), and callers spawn loads.
    let parts: Vec<Decoded> = futures::stream::iter(cp.files.iter().cloned())
        .map(|f| async move {
            let bytes = read_required(store, &f.path, cp.version).await?;
            if json_v2 {
                parse_log_file(table, cp.version, &f.path, &bytes).map(Decoded::of_actions)
            } else {
                parquet_decoded(table, cp.version, &f.path, bytes)
            }
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    let mut contents = CheckpointContents::default();
    for part in parts {
        contents.extend(part);
    }
    let actions = &contents.actions;

    // V2 checkpoints (and classic-named checkpoints of V2 tables) may keep
    // their file actions in sidecars.
    let sidecars: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Sidecar(s) => Some(s.path.clone()),
            _ => None,
        })
        .map(|p| {
            p.relative_decoded()
                .map(|name| format!("{SIDECAR_DIR}{name}"))
                .ok_or_else(|| LogError::InvalidLogFile {
                    table: table.to_string(),
                    version: cp.version,
                    file: cp.files[0].path.clone(),
                    line: None,
                    message: format!("sidecar path {p} is absolute; silt reads sidecars only from _delta_log/_sidecars"),
                })
        })
        .collect::<LogResult<_>>()?;
    let sidecar_parts: Vec<Decoded> = futures::stream::iter(sidecars.iter().cloned())
        .map(|path| async move {
            let bytes = read_required(store, &path, cp.version).await?;
            parquet_decoded(table, cp.version, &path, bytes)
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for part in sidecar_parts {
        contents.extend(part);
    }
    Ok(contents)
}

async fn read_required(store: &dyn LogStore, path: &str, version: u64) -> LogResult<Bytes> {
    store.read(path).await.map_err(|e| match e {
        StorageError::NotFound { .. } => LogError::IncompleteCheckpoint {
            table: store.location().to_string(),
            version,
            message: format!("{path} is missing"),
        },
        other => LogError::Storage {
            table: store.location().to_string(),
            source: other,
        },
    })
}

/// Decodes a Parquet checkpoint (or sidecar) file into its contents.
///
/// Struct statistics (`add.stats_parsed`) and typed partition values are
/// skipped when the JSON forms are there; a file whose adds lack JSON
/// statistics is read again with the struct statistics.
pub fn parquet_actions(
    table: &str,
    version: u64,
    file: &str,
    bytes: Bytes,
) -> LogResult<CheckpointContents> {
    let mut contents = CheckpointContents::default();
    contents.extend(parquet_decoded(table, version, file, bytes)?);
    Ok(contents)
}

fn parquet_decoded(table: &str, version: u64, file: &str, bytes: Bytes) -> LogResult<Decoded> {
    // The Parquet and Arrow decoders can panic on corrupt input (asserts on
    // offsets, for one); a corrupt checkpoint must be a typed error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parquet_actions_unguarded(table, version, file, bytes)
    }))
    .unwrap_or_else(|_| {
        Err(LogError::InvalidLogFile {
            table: table.to_string(),
            version,
            file: file.to_string(),
            line: None,
            message: "the Parquet decoder failed on corrupt input".into(),
        })
    })
}

fn parquet_actions_unguarded(
    table: &str,
    version: u64,
    file: &str,
    bytes: Bytes,
) -> LogResult<Decoded> {
    let bad = |e: CheckpointDecodeError| LogError::InvalidLogFile {
        table: table.to_string(),
        version,
        file: file.to_string(),
        line: None,
        message: e.to_string(),
    };
    let first = decode_parallel(&bytes, false).map_err(&bad)?;
    if first.has_skipped_stats
        && (first
            .actions
            .iter()
            .any(|a| matches!(a, Action::Add(add) if add.stats.is_none()))
            || first.chunks.iter().any(AddChunk::lacks_stats))
    {
        return decode_parallel(&bytes, true).map_err(bad);
    }
    Ok(first)
}

/// Rows decoded at a time: the `add` arrays of each batch are kept, the rest
/// of the batch is transient, so smaller batches lower a load's peak memory.
const DECODE_BATCH_ROWS: usize = 2048;

/// Below this many rows a checkpoint is decoded on one thread.
const PARALLEL_ROWS: i64 = 32_768;

/// Decodes a checkpoint on all cores by giving each thread a contiguous
/// range of rows. A checkpoint holds reconciled state (no two rows act on
/// the same file), so the order of the ranges does not matter to replay;
/// they are still concatenated in file order.
fn decode_parallel(
    bytes: &Bytes,
    with_struct_stats: bool,
) -> Result<Decoded, CheckpointDecodeError> {
    let rows = ParquetRecordBatchReaderBuilder::try_new_with_options(
        bytes.clone(),
        ArrowReaderOptions::new().with_skip_arrow_metadata(true),
    )
    .map_err(CheckpointDecodeError::NotParquet)?
    .metadata()
    .file_metadata()
    .num_rows();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if threads < 2 || rows < PARALLEL_ROWS {
        return decode_parquet(bytes.clone(), with_struct_stats, None);
    }
    let chunk = (rows as u64).div_ceil(threads as u64) as usize;
    let ranges: Vec<(usize, usize)> = (0..threads as usize)
        .map(|i| {
            (
                i * chunk,
                chunk.min((rows as usize).saturating_sub(i * chunk)),
            )
        })
        .filter(|(_, len)| *len > 0)
        .collect();
    let parts: Vec<Result<Decoded, CheckpointDecodeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|range| {
                let bytes = bytes.clone();
                scope.spawn(move || decode_parquet(bytes, with_struct_stats, Some(*range)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Decoded::of_actions(Vec::new());
    for part in parts {
        let part = part?;
        out.has_skipped_stats |= part.has_skipped_stats;
        out.actions.extend(part.actions);
        out.chunks.extend(part.chunks);
    }
    Ok(out)
}

/// One checkpoint file (or row range of one) decoded.
struct Decoded {
    /// Actions decoded one by one (all but the fast-path adds).
    actions: Vec<Action>,
    /// Fast-path adds, kept in their Arrow arrays.
    chunks: Vec<AddChunk>,
    has_skipped_stats: bool,
}

impl Decoded {
    fn of_actions(actions: Vec<Action>) -> Self {
        Self {
            actions,
            chunks: Vec::new(),
            has_skipped_stats: false,
        }
    }
}

fn decode_parquet(
    bytes: Bytes,
    with_struct_stats: bool,
    rows: Option<(usize, usize)>,
) -> Result<Decoded, CheckpointDecodeError> {
    // The embedded Arrow schema is not needed (the Parquet schema is enough)
    // and is one more untrusted structure to decode.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
        .map_err(CheckpointDecodeError::NotParquet)?;
    let mut has_skipped_stats = false;
    let leaves: Vec<usize> = builder
        .parquet_schema()
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let parts = c.path().parts();
            if !STATE_COLUMNS.contains(&parts[0].as_str()) {
                return false;
            }
            let skipped = parts[0] == "add"
                && parts.get(1).is_some_and(|p| {
                    p == "partitionValues_parsed" || (p == "stats_parsed" && !with_struct_stats)
                });
            has_skipped_stats |= skipped && parts.get(1).is_some_and(|p| p == "stats_parsed");
            !skipped
        })
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), leaves);
    let builder = match rows {
        Some((start, len)) => builder.with_row_selection(RowSelection::from(vec![
            RowSelector::skip(start),
            RowSelector::select(len),
        ])),
        None => builder,
    };
    let reader = builder
        .with_projection(mask)
        .with_batch_size(DECODE_BATCH_ROWS)
        .build()
        .map_err(CheckpointDecodeError::Read)?;
    let mut out = Decoded::of_actions(Vec::new());
    out.has_skipped_stats = has_skipped_stats;
    let mut row_base = 0usize;
    for batch in reader {
        let batch = batch.map_err(CheckpointDecodeError::Decode)?;
        batch_actions(&batch, &mut out).map_err(|(row, problem)| CheckpointDecodeError::Row {
            row: row_base + row,
            problem,
        })?;
        row_base += batch.num_rows();
    }
    Ok(out)
}

/// Decodes one batch: `add` rows the fast path reads are checked and kept
/// column-wise in `out.chunks`, every other row becomes an action.
fn batch_actions(
    batch: &RecordBatch,
    out: &mut Decoded,
) -> Result<(), (usize, CheckpointRowError)> {
    let schema = batch.schema();
    let add_column = batch.column_by_name("add");
    let adds = add_column.and_then(|a| AddColumns::new(a.as_ref()));
    let mut fast_rows: Vec<u32> = Vec::new();
    for row in 0..batch.num_rows() {
        if let Some(adds) = &adds
            && adds.is_valid(row)
            && batch.columns().iter().filter(|c| c.is_valid(row)).count() == 1
            && let Some(add) = adds.get(row)
        {
            add.map_err(|e| (row, e))?;
            fast_rows.push(row as u32);
            continue;
        }
        let mut obj = serde_json::Map::new();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let Some(mut value) = json_at(column.as_ref(), row) else {
                continue;
            };
            if field.name() == "add"
                && let Value::Object(add) = &mut value
            {
                // Struct statistics stand in for missing JSON statistics.
                if let Some(parsed) = add.remove("stats_parsed")
                    && !add.contains_key("stats")
                {
                    add.insert("stats".into(), Value::String(parsed.to_string()));
                }
                add.remove("partitionValues_parsed");
            }
            obj.insert(field.name().clone(), value);
        }
        if obj.is_empty() {
            continue;
        }
        if let Some(action) = parse_action_value(Value::Object(obj)).map_err(|e| (row, e.into()))? {
            out.actions.push(action);
        }
    }
    if let Some(column) = add_column
        && !fast_rows.is_empty()
    {
        match AddChunk::from_rows(column.as_ref(), &fast_rows) {
            Some(chunk) => out.chunks.push(chunk),
            // Not expected (the rows decoded from these very columns); decode
            // them one by one rather than lose them.
            None => {
                let adds = adds
                    .as_ref()
                    .ok_or((0, CheckpointRowError::Malformed { field: "add" }))?;
                for &row in &fast_rows {
                    if let Some(add) = adds.get(row as usize) {
                        let add = add.map_err(|e| (row as usize, e))?;
                        out.actions.push(Action::Add(Box::new(add)));
                    }
                }
            }
        }
    }
    Ok(())
}
