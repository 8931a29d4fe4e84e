//! DELETE by predicate, and OPTIMIZE (bin-packing compaction).
//!
//! DELETE reads only the files the predicate cannot rule out. A file whose
//! rows all match is removed; a file with some matching rows gets a
//! deletion vector when the table allows them (`deletionVectors` feature and
//! `delta.enableDeletionVectors`), and is rewritten without those rows
//! otherwise. OPTIMIZE rewrites small files of each partition into files of
//! the target size, with `dataChange = false`, applying deletion vectors.

use crate::clustering::{CLUSTERING_PROVIDER, clustering_columns, z_order};
use crate::row_tracking::{PRESERVED_TAG, RowTracking};
use std::collections::HashMap;

use arrow_array::{Array, BooleanArray, RecordBatch};
use silt_log::actions::Add;
use silt_log::expr::Expr;
use silt_log::{CommitOutcome, Operation, Snapshot};

use crate::arrow_values::ColumnMappingMode;
use crate::error::{ParquetError, ParquetResult};
use crate::filter::evaluate;
use crate::row_changes::{ChangeType, RemovedRows, RowChanges, commit_row_changes};
use crate::scan::Scan;
use crate::write::{WriteOptions, write_data_files};

/// What a DELETE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteResult {
    /// The commit outcome (`None` when nothing matched: no commit).
    pub outcome: Option<CommitOutcome>,
    /// Rows deleted.
    pub rows_deleted: u64,
    /// Files removed entirely or rewritten.
    pub files_removed: usize,
    /// Files added by rewrites.
    pub files_added: usize,
    /// Deletion vectors written.
    pub deletion_vectors: usize,
}

/// Deletes the rows matching `predicate` (all rows when `None`).
pub async fn delete_where(
    snapshot: &Snapshot,
    predicate: Option<Expr>,
) -> ParquetResult<DeleteResult> {
    let schema = snapshot.metadata().schema().clone();
    let partition_columns = &snapshot.metadata().partition_columns;
    let mut scan = Scan::new(snapshot);
    if let Some(p) = &predicate {
        scan = scan.filter(p.clone());
    }
    let candidates = scan.candidates()?;
    let record_changes = crate::cdf::enabled(snapshot);
    let mut changes = RowChanges {
        read_whole_table: predicate.is_none() || partition_columns.is_empty(),
        ..RowChanges::default()
    };
    let mut rows_deleted = 0u64;
    // Evaluating the predicate or splitting rows in memory: a failure is
    // bad data, not a (retryable) storage failure.
    let file_err = |file: &str, reason: String| ParquetError::InvalidData {
        table: snapshot.location().to_string(),
        reason: format!("file {file}: {reason}"),
    };
    for add in &candidates {
        // Whole-file decisions from partition values alone.
        if let Some(p) = scan.predicate()
            && p.columns()
                .iter()
                .all(|c| partition_columns.iter().any(|pc| pc == c))
            && p.eval_partition(&schema, &add.partition_values) == Some(true)
        {
            let stats = add
                .parsed_stats()
                .ok()
                .flatten()
                .and_then(|s| s.num_records);
            let dv = add.deletion_vector.as_ref().map_or(0, |d| d.cardinality);
            rows_deleted += stats.map_or(0, |n| (n - dv).max(0) as u64);
            changes.removed_files.push(add.clone());
            if record_changes {
                let batches = scan.read_with_positions(add).await?;
                changes
                    .change_data
                    .extend(batches.into_iter().map(|(b, _)| (ChangeType::Delete, b)));
            }
            continue;
        }
        let batches = scan.read_with_positions(add).await?;
        let mut matched: Vec<u64> = Vec::new();
        let mut kept: Vec<RecordBatch> = Vec::new();
        for (batch, positions) in &batches {
            let mask = match scan.predicate() {
                Some(p) => evaluate(p, &schema, batch)
                    .map_err(|e| file_err(add.path.as_str(), e.to_string()))?,
                None => BooleanArray::from(vec![true; batch.num_rows()]),
            };
            let hit = |i: usize| mask.is_valid(i) && mask.value(i);
            matched.extend(
                positions
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| hit(*i))
                    .map(|(_, p)| *p),
            );
            let split = |want: bool| {
                let m: BooleanArray = (0..mask.len()).map(|i| Some(hit(i) == want)).collect();
                arrow_select::filter::filter_record_batch(batch, &m)
                    .map_err(|e| file_err(add.path.as_str(), e.to_string()))
            };
            if record_changes {
                let gone = split(true)?;
                if gone.num_rows() > 0 {
                    changes.change_data.push((ChangeType::Delete, gone));
                }
            }
            let rest = split(false)?;
            if rest.num_rows() > 0 {
                kept.push(rest);
            }
        }
        if matched.is_empty() {
            continue;
        }
        rows_deleted += matched.len() as u64;
        changes.removed_rows.push(RemovedRows {
            file: add.clone(),
            positions: matched,
            remaining: Some(kept),
        });
    }
    changes.read_files = candidates;
    let mut op = Operation::delete()
        .with_parameter("numDeletedRows", rows_deleted.to_string())
        .with_metric("numDeletedRows", rows_deleted);
    if let Some(p) = &predicate {
        op = op.with_parameter("predicate", p.to_string());
    }
    let r = commit_row_changes(snapshot, changes, op).await?;
    Ok(DeleteResult {
        rows_deleted: if r.outcome.is_some() { rows_deleted } else { 0 },
        outcome: r.outcome,
        files_removed: r.files_removed,
        files_added: r.files_added,
        deletion_vectors: r.deletion_vectors,
    })
}

/// What OPTIMIZE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizeResult {
    /// The commit outcome (`None` when nothing needed compaction).
    pub outcome: Option<CommitOutcome>,
    /// Files compacted away.
    pub files_removed: usize,
    /// Files written.
    pub files_added: usize,
}

/// Compacts files smaller than `min_file_size` in each partition (at least
/// two per partition) into files of about `target_file_size`.
pub async fn optimize(
    snapshot: &Snapshot,
    target_file_size: usize,
    min_file_size: usize,
) -> ParquetResult<OptimizeResult> {
    let metadata = snapshot.metadata();
    // Row ids and commit versions move into the new files' hidden columns.
    let tracking = RowTracking::of(snapshot);
    let schema = match &tracking {
        Some(t) => t.extended_schema(metadata.schema()),
        None => metadata.schema().clone(),
    };
    let invalid = |reason: String| ParquetError::InvalidData {
        table: snapshot.location().to_string(),
        reason,
    };
    // A clustered table rewrites every file not yet clustered into one
    // Z-ordered sequence of files; others compact small files per partition.
    let clustered = clustering_columns(snapshot).map_err(|e| invalid(e.to_string()))?;
    let mut groups: HashMap<Vec<(String, Option<String>)>, Vec<Add>> = HashMap::new();
    for a in snapshot.files() {
        let candidate = match &clustered {
            // Files another clusterer marked are left to it.
            Some(_) => a.clustering_provider.is_none() || a.deletion_vector.is_some(),
            None => (a.size as usize) < min_file_size || a.deletion_vector.is_some(),
        };
        if candidate {
            let mut key: Vec<(String, Option<String>)> =
                a.partition_values.clone().into_iter().collect();
            key.sort();
            groups.entry(key).or_default().push(a.into_owned());
        }
    }
    groups.retain(|_, files| {
        clustered.is_some() || files.len() > 1 || files.iter().any(|f| f.deletion_vector.is_some())
    });
    if groups.is_empty() {
        return Ok(OptimizeResult {
            outcome: None,
            files_removed: 0,
            files_added: 0,
        });
    }
    let scan = Scan::of_files(snapshot, schema.clone(), Vec::new());
    let now = chrono::Utc::now().timestamp_millis();
    let mode = ColumnMappingMode::from_property(
        metadata.property(silt_log::properties::COLUMN_MAPPING_MODE),
    );
    let mut removes = Vec::new();
    let mut adds = Vec::new();
    for files in groups.values() {
        let mut batches = Vec::new();
        for f in files {
            for (b, positions) in scan.read_with_positions(f).await? {
                batches.push(match &tracking {
                    Some(t) => {
                        t.resolve(f, &b, &positions)
                            .map_err(|e| ParquetError::InvalidData {
                                table: snapshot.location().to_string(),
                                reason: e.to_string(),
                            })?
                    }
                    None => b,
                });
            }
            let mut r = f.to_remove(now);
            r.data_change = false;
            removes.push(r);
        }
        if let Some(columns) = &clustered {
            if !batches.is_empty() {
                let one = arrow_select::concat::concat_batches(&batches[0].schema(), &batches)
                    .map_err(|e| invalid(e.to_string()))?;
                let order = z_order(&one, columns).map_err(|e| invalid(e.to_string()))?;
                let sorted = arrow_select::take::take_record_batch(&one, &order)
                    .map_err(|e| invalid(e.to_string()))?;
                // Slices keep the encoder's batches small; order is kept.
                let step = 1024;
                batches = (0..sorted.num_rows())
                    .step_by(step)
                    .map(|o| sorted.slice(o, step.min(sorted.num_rows() - o)))
                    .collect();
            }
        }
        // One encoder, so each partition compacts into as few files as the
        // target size allows (and clustered rows stay in curve order).
        let options = WriteOptions {
            target_file_size,
            threads: 1,
            ..Default::default()
        };
        let (new_files, _) = write_data_files(
            snapshot.store().clone(),
            &schema,
            &metadata.partition_columns,
            mode,
            batches.into_iter(),
            &options,
            crate::column_values::RowRules::none(),
        )
        .await?;
        adds.extend(new_files.into_iter().map(|mut a| {
            a.data_change = false;
            if clustered.is_some() {
                a.clustering_provider = Some(CLUSTERING_PROVIDER.into());
            }
            a
        }));
    }
    let files_removed = removes.len();
    let files_added = adds.len();
    let mut operation =
        Operation::optimize().with_parameter("targetFileSize", target_file_size.to_string());
    if tracking.is_some() {
        operation = operation.with_tag(PRESERVED_TAG, "true");
    }
    if let Some(columns) = &clustered {
        operation = operation.with_parameter(
            "clusterBy",
            serde_json::to_string(columns).unwrap_or_default(),
        );
    }
    let mut txn = snapshot
        .transaction(operation)
        .read_files(removes.iter().map(|r| r.path.to_string()))
        .remove_files(removes)
        .add_files(adds);
    if let Some(meta) = tracking.and_then(|t| t.new_metadata) {
        txn = txn.update_metadata(meta);
    }
    let outcome = txn.commit().await?;
    Ok(OptimizeResult {
        outcome: Some(outcome),
        files_removed,
        files_added,
    })
}
