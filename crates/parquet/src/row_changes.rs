//! Row-level changes committed as one transaction: rows removed from known
//! positions of files (a deletion vector where the table enables them, a
//! rewrite of the file's other rows otherwise), whole files removed, new
//! rows written (checked against the table's constraints), change data
//! recorded when the table keeps a change data feed. DELETE here and
//! UPDATE/MERGE in silt-sql all commit through [`commit_row_changes`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{BooleanArray, RecordBatch};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use silt_log::actions::{Add, PartitionValues, Remove};
use silt_log::deletion_vector::{DeletionVectorDescriptor, StorageType};
use silt_log::features::TableFeature;
use silt_log::{CommitOutcome, Operation, Snapshot};

use crate::arrow_values::ColumnMappingMode;
use crate::column_values::{ExpressionEvaluator, RowRules};
use crate::deletion_vector::{DeletedRows, write_file, z85_encode};
use crate::error::{ParquetError, ParquetResult};
use crate::row_tracking::{PRESERVED_TAG, RowTracking};
use crate::scan::Scan;
use crate::write::{WriteOptions, write_data_files};
use silt_log::column_rules::{IDENTITY_SCHEMA_UPDATE_TAG, with_high_water_marks};

/// Rows leaving one file.
#[derive(Debug, Clone)]
pub struct RemovedRows {
    /// The file, as in the snapshot.
    pub file: Add,
    /// Row indexes in the file (as the scanner reports them).
    pub positions: Vec<u64>,
    /// The file's other live rows when the caller already read them (saves
    /// reading the file again when it has to be rewritten).
    pub remaining: Option<Vec<RecordBatch>>,
}

/// A change-data change type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeType {
    /// `insert`
    Insert,
    /// `delete`
    Delete,
    /// `update_preimage`
    UpdatePreimage,
    /// `update_postimage`
    UpdatePostimage,
}

impl ChangeType {
    /// The `_change_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Insert => "insert",
            ChangeType::Delete => "delete",
            ChangeType::UpdatePreimage => "update_preimage",
            ChangeType::UpdatePostimage => "update_postimage",
        }
    }
}

/// Everything one row-level operation changes.
#[derive(Debug, Clone, Default)]
pub struct RowChanges {
    /// Files removed entirely.
    pub removed_files: Vec<Add>,
    /// Files losing some rows.
    pub removed_rows: Vec<RemovedRows>,
    /// New rows (inserted rows, updated rows' new values), table columns.
    pub added: Vec<RecordBatch>,
    /// For each batch of `added` (when the table records changes): each
    /// row's change type (`insert` or `update_postimage`). Their change rows
    /// are taken from the rows as written, with identity and generated
    /// columns filled.
    pub added_change_types: Vec<Vec<ChangeType>>,
    /// Change data (written only when the table records changes).
    pub change_data: Vec<(ChangeType, RecordBatch)>,
    /// The files the operation read, for conflict detection.
    pub read_files: Vec<Add>,
    /// The operation's reads depend on the whole table (otherwise only on
    /// the partitions of `read_files`).
    pub read_whole_table: bool,
    /// Evaluates generation expressions, defaults and SQL-only constraints
    /// for the added rows.
    pub evaluator: Option<Arc<dyn ExpressionEvaluator>>,
    /// Recorded in the commit beside the changes (an application
    /// transaction, domain metadata). With a stamp, a change of no rows
    /// still commits, so the stamp is recorded.
    pub stamp: silt_log::CommitStamp,
}

/// What a row-level commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChangeResult {
    /// The commit outcome (`None` when there was nothing to change).
    pub outcome: Option<CommitOutcome>,
    /// Files removed or replaced.
    pub files_removed: usize,
    /// Files added (new rows, rewrites, files with a new deletion vector).
    pub files_added: usize,
    /// Deletion vectors written.
    pub deletion_vectors: usize,
    /// Unchanged rows copied into rewritten files.
    pub rows_copied: u64,
}

/// Whether row deletes on this table write deletion vectors.
pub fn deletion_vectors_enabled(s: &Snapshot) -> bool {
    s.protocol().has_feature(&TableFeature::DeletionVectors)
        && s.metadata()
            .flag(silt_log::properties::ENABLE_DELETION_VECTORS)
}

fn write_err(s: &Snapshot, file: &str, reason: String) -> ParquetError {
    ParquetError::Write {
        table: s.location().to_string(),
        file: file.to_string(),
        reason,
    }
}

/// Statistics of a file with a deletion vector are no longer tight.
fn loosen_bounds(stats: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stats) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert("tightBounds".into(), serde_json::Value::Bool(false));
            serde_json::Value::Object(m).to_string()
        }
        _ => stats.to_string(),
    }
}

/// Writes a deletion vector holding `rows` for `add`: the new `add`.
async fn with_deletion_vector(
    snapshot: &Snapshot,
    add: &Add,
    rows: &DeletedRows,
    now: i64,
) -> ParquetResult<Add> {
    let (bytes, offset, size) = write_file(rows);
    let id = uuid::Uuid::new_v4();
    let path = format!("deletion_vector_{id}.bin");
    snapshot
        .store()
        .put_if_absent(&path, Bytes::from(bytes))
        .await
        .map_err(|e| write_err(snapshot, &path, e.to_string()))?;
    // A UUID is 16 bytes, a multiple of 4: Z85 encoding cannot fail, and
    // would not be a storage failure if it did.
    let encoded = z85_encode(id.as_bytes()).map_err(|e| ParquetError::InvalidData {
        table: snapshot.location().to_string(),
        reason: format!("deletion vector id for {path}: {e}"),
    })?;
    let bad_size = |what: &str| write_err(snapshot, &path, format!("{what} exceeds 2 GiB"));
    let mut new = add.clone();
    new.deletion_vector = Some(DeletionVectorDescriptor {
        storage_type: StorageType::UuidRelative,
        path_or_inline_dv: encoded,
        offset: Some(i32::try_from(offset).map_err(|_| bad_size("offset"))?),
        size_in_bytes: i32::try_from(size).map_err(|_| bad_size("size"))?,
        cardinality: rows.len() as i64,
    });
    new.stats = new.stats.map(|s| loosen_bounds(&s));
    new.modification_time = now;
    Ok(new)
}

/// What becomes of a file losing some rows.
enum FileOutcome {
    /// Every live row goes: the file goes.
    Removed,
    /// The file stays with this deletion vector.
    WithDeletionVector(Add),
    /// The file's other rows, already read, to be rewritten.
    Kept(Vec<RecordBatch>),
    /// The file's other rows, still to be read, to be rewritten.
    Rewrite(RemovedRows),
}

async fn shrink_file(
    snapshot: &Snapshot,
    scan: &Scan,
    r: RemovedRows,
    use_dvs: bool,
    now: i64,
) -> ParquetResult<FileOutcome> {
    let existing = scan.deleted_rows(&r.file).await?;
    let already = existing.as_ref().map_or(0, DeletedRows::len);
    let records = r
        .file
        .parsed_stats()
        .ok()
        .flatten()
        .and_then(|s| s.num_records)
        .and_then(|n| u64::try_from(n).ok());
    if records.is_some_and(|n| n.saturating_sub(already) <= r.positions.len() as u64) {
        return Ok(FileOutcome::Removed);
    }
    if use_dvs {
        let mut all = r.positions;
        if let Some(old) = &existing {
            all.extend(old.iter());
        }
        let rows = DeletedRows::from_indexes(all);
        let add = with_deletion_vector(snapshot, &r.file, &rows, now).await?;
        return Ok(FileOutcome::WithDeletionVector(add));
    }
    Ok(match r.remaining {
        Some(kept) => FileOutcome::Kept(kept),
        None => FileOutcome::Rewrite(r),
    })
}

/// A file's rows other than the removed positions, as they are decoded.
fn kept_rows(
    snapshot: &Snapshot,
    scan: &Scan,
    tracking: Option<RowTracking>,
    r: RemovedRows,
) -> impl futures::Stream<Item = ParquetResult<RecordBatch>> + Send + 'static {
    let (table, path) = (snapshot.location().to_string(), r.file.path.to_string());
    let removed = Arc::new(r.positions);
    let file = r.file.clone();
    scan.stream_with_positions(r.file)
        .map(move |item| {
            let (batch, positions) = item?;
            // Kept rows carry their row ids into the new file.
            let batch = match &tracking {
                Some(t) => {
                    // Unresolvable row ids are a data problem, not a
                    // (retryable) storage failure.
                    t.resolve(&file, &batch, &positions)
                        .map_err(|e| ParquetError::InvalidData {
                            table: table.clone(),
                            reason: format!("rewriting {path}: {e}"),
                        })?
                }
                None => batch,
            };
            let keep: BooleanArray = positions
                .iter()
                .map(|p| Some(removed.binary_search(p).is_err()))
                .collect();
            arrow_select::filter::filter_record_batch(&batch, &keep).map_err(|e| {
                ParquetError::Write {
                    table: table.clone(),
                    file: path.clone(),
                    reason: e.to_string(),
                }
            })
        })
        .try_filter(|b| futures::future::ready(b.num_rows() > 0))
}

/// The rows of `to_read` (minus their removed positions) after `ready`, as
/// a blocking iterator for the encoder: a task reads two files at a time
/// and hands batches over a bounded channel, so reading overlaps encoding
/// and memory holds a few files, not all of them. A read error ends the
/// iterator and is left in the returned slot; the flag says the reader
/// task delivered every row (a task that died early must not pass for a
/// complete rewrite).
fn rewrite_rows(
    snapshot: &Snapshot,
    scan: &Scan,
    tracking: Option<RowTracking>,
    ready: Vec<RecordBatch>,
    to_read: Vec<RemovedRows>,
) -> (
    impl Iterator<Item = RecordBatch> + Send + 'static,
    RewriteProgress,
) {
    let failure: Arc<Mutex<Option<ParquetError>>> = Arc::new(Mutex::new(None));
    let copied = Arc::new(AtomicU64::new(
        ready.iter().map(|b| b.num_rows() as u64).sum(),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ParquetResult<RecordBatch>>(16);
    let (snapshot, scan) = (snapshot.clone(), scan.clone());
    let counter = copied.clone();
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    tokio::spawn(async move {
        // Two files decode at once; each streams its kept rows batch by
        // batch, so memory holds batches, not files.
        let mut kept = futures::stream::iter(to_read)
            .map(|r| Box::pin(kept_rows(&snapshot, &scan, tracking.clone(), r)))
            .flatten_unordered(2);
        while let Some(batch) = kept.next().await {
            let b = match batch {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            counter.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            if tx.send(Ok(b)).await.is_err() {
                return; // the encoder stopped
            }
        }
        done.store(true, Ordering::Release);
    });
    let slot = failure.clone();
    // The encoder consumes this on a blocking thread (write_data_files).
    let streamed = std::iter::from_fn(move || match rx.blocking_recv() {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            None
        }
        None => None,
    });
    let progress = RewriteProgress {
        failure,
        copied,
        finished,
    };
    (ready.into_iter().chain(streamed), progress)
}

/// What the rewrite reader task reports back.
struct RewriteProgress {
    /// The first read error.
    failure: Arc<Mutex<Option<ParquetError>>>,
    /// Rows handed to the encoder.
    copied: Arc<AtomicU64>,
    /// Every row was handed over.
    finished: Arc<AtomicBool>,
}

/// Commits `changes` as one transaction recorded as `operation` (with
/// file metrics added).
pub async fn commit_row_changes(
    snapshot: &Snapshot,
    changes: RowChanges,
    operation: Operation,
) -> ParquetResult<RowChangeResult> {
    let metadata = snapshot.metadata();
    let schema = metadata.schema().clone();
    let table = snapshot.location().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let use_dvs = deletion_vectors_enabled(snapshot);
    // On row-tracking tables rewritten and updated rows keep their row ids
    // (hidden materialized columns); the write schema includes them.
    let tracking = RowTracking::of(snapshot);
    let schema = match &tracking {
        Some(t) => t.extended_schema(&schema),
        None => schema,
    };
    let scan = Scan::of_files(snapshot, schema.clone(), Vec::new());
    let mut removes: Vec<Remove> = changes
        .removed_files
        .iter()
        .map(|a| a.to_remove(now))
        .collect();
    let mut adds: Vec<Add> = Vec::new();
    let mut rewrite: Vec<RecordBatch> = Vec::new();
    let mut to_read: Vec<RemovedRows> = Vec::new();
    let mut dvs = 0usize;
    let mut rows_copied = 0u64;
    // Files are handled two at a time: reading and filtering one file
    // overlaps with the next one's I/O.
    let mut pending = Vec::new();
    for mut r in changes.removed_rows {
        if tracking.is_some() {
            // Rows the caller read lack positions: read them again.
            r.remaining = None;
        }
        r.positions.sort_unstable();
        r.positions.dedup();
        if !r.positions.is_empty() {
            removes.push(r.file.to_remove(now));
            pending.push(r);
        }
    }
    let outcomes: Vec<FileOutcome> = futures::stream::iter(pending)
        .map(|r| shrink_file(snapshot, &scan, r, use_dvs, now))
        .buffered(2)
        .try_collect()
        .await?;
    for outcome in outcomes {
        match outcome {
            FileOutcome::Removed => {}
            FileOutcome::WithDeletionVector(add) => {
                adds.push(add);
                dvs += 1;
            }
            FileOutcome::Kept(kept) => rewrite.extend(kept),
            FileOutcome::Rewrite(r) => to_read.push(r),
        }
    }
    let stamp = changes.stamp;
    if removes.is_empty() && changes.added.iter().all(|b| b.num_rows() == 0) && stamp.is_empty() {
        return Ok(RowChangeResult {
            outcome: None,
            files_removed: 0,
            files_added: 0,
            deletion_vectors: 0,
            rows_copied: 0,
        });
    }
    let mode = ColumnMappingMode::from_property(
        metadata.property(silt_log::properties::COLUMN_MAPPING_MODE),
    );
    if !rewrite.is_empty() || !to_read.is_empty() {
        let (rows, progress) = rewrite_rows(snapshot, &scan, tracking.clone(), rewrite, to_read);
        // Copied rows already satisfied the table's checks.
        let written = write_data_files(
            snapshot.store().clone(),
            &schema,
            &metadata.partition_columns,
            mode,
            rows,
            &WriteOptions::default(),
            RowRules::none(),
        )
        .await;
        if let Some(e) = progress
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e);
        }
        adds.extend(written?.0);
        if !progress.finished.load(Ordering::Acquire) {
            return Err(write_err(
                snapshot,
                "(rewritten files)",
                "reading the rows to rewrite stopped before the end".into(),
            ));
        }
        rows_copied = progress.copied.load(Ordering::Relaxed);
    }
    let mut marks = Vec::new();
    let kinds = changes.added_change_types;
    let mut added: Vec<(RecordBatch, Option<Vec<ChangeType>>)> = changes
        .added
        .into_iter()
        .enumerate()
        .map(|(i, b)| (b, kinds.get(i).cloned()))
        .filter(|(b, _)| b.num_rows() > 0)
        .collect();
    let mut derived_changes: Vec<(ChangeType, RecordBatch)> = Vec::new();
    if let Some(t) = &tracking {
        // New rows without row ids get the new file's defaults.
        for (b, _) in &mut added {
            if b.schema().index_of(&t.row_id).is_err() {
                let nulls =
                    arrow_array::new_null_array(&arrow_schema::DataType::Int64, b.num_rows());
                *b = t
                    .with_hidden(b, nulls)
                    .map_err(|e| ParquetError::InvalidData {
                        table: table.clone(),
                        reason: e.to_string(),
                    })?;
            }
        }
    }
    if !added.is_empty() {
        let rules = RowRules::for_table(
            snapshot.protocol(),
            metadata,
            &schema,
            changes.evaluator.clone(),
            false,
        )
        .map_err(|e| ParquetError::InvalidData {
            table: table.clone(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| ParquetError::InvalidData {
            table: table.clone(),
            reason,
        };
        // The rules fill and check the rows here, so the change rows below
        // hold what is written.
        let table_columns = metadata.schema().fields.len();
        let mut filled = Vec::with_capacity(added.len());
        for (b, kinds) in added {
            let (mut columns, present) =
                crate::write::conform_input(&b, &schema).map_err(|e| invalid(e.to_string()))?;
            rules
                .apply(&schema, &mut columns, &present)
                .map_err(|e| invalid(e.to_string()))?;
            let full = crate::column_values::logical_batch(&schema, &columns)
                .map_err(|e| invalid(e.to_string()))?;
            if let Some(kinds) = kinds.filter(|k| k.len() == full.num_rows()) {
                let visible = full
                    .project(&(0..table_columns).collect::<Vec<_>>())
                    .map_err(|e| invalid(e.to_string()))?;
                for kind in [ChangeType::Insert, ChangeType::UpdatePostimage] {
                    let mask: BooleanArray = kinds.iter().map(|k| Some(*k == kind)).collect();
                    let rows = arrow_select::filter::filter_record_batch(&visible, &mask)
                        .map_err(|e| invalid(e.to_string()))?;
                    if rows.num_rows() > 0 {
                        derived_changes.push((kind, rows));
                    }
                }
            }
            filled.push(full);
        }
        let (files, _) = write_data_files(
            snapshot.store().clone(),
            &schema,
            &metadata.partition_columns,
            mode,
            filled.into_iter(),
            &WriteOptions::default(),
            RowRules::none(),
        )
        .await?;
        adds.extend(files);
        marks = rules.high_water_marks();
    }
    let files_removed = removes.len();
    let files_added = adds.len();
    let mut operation = operation;
    if !marks.is_empty() {
        operation = operation.with_tag(IDENTITY_SCHEMA_UPDATE_TAG, "true");
    }
    if tracking.is_some() {
        operation = operation.with_tag(PRESERVED_TAG, "true");
    }
    let operation = operation
        .with_metric("numRemovedFiles", files_removed as u64)
        .with_metric("numAddedFiles", files_added as u64)
        .with_metric("numDeletionVectorsAdded", dvs as u64)
        .with_metric("numCopiedRows", rows_copied);
    let mut txn = snapshot
        .transaction(operation)
        .read_files(changes.read_files.iter().map(|a| a.path.to_string()));
    txn = if changes.read_whole_table || metadata.partition_columns.is_empty() {
        txn.read_whole_table()
    } else {
        let mut parts: BTreeMap<String, PartitionValues> = BTreeMap::new();
        for a in changes.read_files.iter().chain(&changes.removed_files) {
            let key = format!(
                "{:?}",
                a.partition_values.iter().collect::<BTreeMap<_, _>>()
            );
            parts.insert(key, a.partition_values.clone());
        }
        txn.read_partitions(parts.into_values())
    };
    if crate::cdf::enabled(snapshot) {
        // A commit with cdc actions is read through them alone, so they
        // must cover every changed row.
        let mut by_type: BTreeMap<ChangeType, Vec<RecordBatch>> = BTreeMap::new();
        for (t, b) in changes.change_data.into_iter().chain(derived_changes) {
            if b.num_rows() > 0 {
                by_type.entry(t).or_default().push(b);
            }
        }
        for (t, rows) in by_type {
            let cdc = crate::cdf::write_changes(snapshot, rows, t.as_str()).await?;
            txn = txn.add_change_files(cdc);
        }
    }
    let named = tracking.and_then(|t| t.new_metadata);
    if !marks.is_empty() || named.is_some() {
        let mut meta = named.unwrap_or_else(|| metadata.clone());
        let schema = with_high_water_marks(meta.schema(), &marks);
        meta.set_schema(schema);
        txn = txn.update_metadata(meta);
    }
    // New rows were checked above; copied rows were valid already.
    let outcome = txn
        .stamped(&stamp)
        .remove_files(removes)
        .add_files(adds)
        .with_checks_enforced()
        .commit()
        .await?;
    Ok(RowChangeResult {
        outcome: Some(outcome),
        files_removed,
        files_added,
        deletion_vectors: dvs,
        rows_copied,
    })
}
