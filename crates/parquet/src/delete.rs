//! DELETE by predicate, and OPTIMIZE (bin-packing compaction).
//!
//! DELETE reads only the files the predicate cannot rule out. A file whose
//! rows all match is removed; a file with some matching rows gets a
//! deletion vector when the table allows them (`deletionVectors` feature and
//! `delta.enableDeletionVectors`), and is rewritten without those rows
//! otherwise. OPTIMIZE rewrites small files of each partition into files of
//! the target size, with `dataChange = false`, applying deletion vectors.

use std::collections::{BTreeMap, HashMap};

use arrow_array::{Array, BooleanArray, RecordBatch};
use bytes::Bytes;
use silt_log::actions::{Add, PartitionValues, Remove};
use silt_log::deletion_vector::{DeletionVectorDescriptor, StorageType};
use silt_log::expr::Expr;
use silt_log::features::TableFeature;
use silt_log::{CommitOutcome, Operation, Snapshot};

use crate::arrow_values::ColumnMappingMode;
use crate::deletion_vector::{DeletedRows, write_file, z85_encode};
use crate::error::{ParquetError, ParquetResult};
use crate::filter::evaluate;
use crate::scan::Scan;
use crate::write::{WriteOptions, remove_of, write_data_files};

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

fn dv_enabled(s: &Snapshot) -> bool {
    s.protocol().has_feature(&TableFeature::DeletionVectors)
        && s.metadata().flag("delta.enableDeletionVectors")
}

fn file_err(s: &Snapshot, file: &str, reason: String) -> ParquetError {
    ParquetError::Write {
        table: s.location().to_string(),
        file: file.to_string(),
        reason,
    }
}

/// Deletes the rows matching `predicate` (all rows when `None`).
pub async fn delete_where(
    snapshot: &Snapshot,
    predicate: Option<Expr>,
) -> ParquetResult<DeleteResult> {
    let schema = snapshot.metadata().schema.clone();
    let mut scan = Scan::new(snapshot);
    if let Some(p) = &predicate {
        scan = scan.filter(p.clone());
    }
    let candidates = scan.candidates()?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut removes: Vec<Remove> = Vec::new();
    let mut adds: Vec<Add> = Vec::new();
    let mut rewrite: Vec<RecordBatch> = Vec::new();
    let mut rewrite_partitions: Vec<PartitionValues> = Vec::new();
    let mut rows_deleted = 0u64;
    let mut dvs = 0usize;
    let use_dvs = dv_enabled(snapshot);
    let record_changes = crate::cdf::enabled(snapshot);
    let mut deleted_rows: Vec<RecordBatch> = Vec::new();
    for add in &candidates {
        // Whole-file decisions from partition values alone.
        if let Some(p) = scan.predicate()
            && p.columns().iter().all(|c| {
                snapshot
                    .metadata()
                    .partition_columns
                    .iter()
                    .any(|pc| pc == c)
            })
            && p.eval_partition(&schema, &add.partition_values) == Some(true)
        {
            let stats = add
                .parsed_stats()
                .ok()
                .flatten()
                .and_then(|s| s.num_records);
            let dv = add.deletion_vector.as_ref().map_or(0, |d| d.cardinality);
            rows_deleted += stats.map_or(0, |n| (n - dv).max(0) as u64);
            removes.push(remove_of(add, now));
            if record_changes {
                let (batches, _) = scan.read_with_positions(add).await?;
                deleted_rows.extend(batches.into_iter().map(|(b, _)| b));
            }
            continue;
        }
        let (batches, existing) = scan.read_with_positions(add).await?;
        let mut matched: Vec<u64> = Vec::new();
        let mut kept: Vec<RecordBatch> = Vec::new();
        let mut total = 0usize;
        for (batch, positions) in &batches {
            total += batch.num_rows();
            let mask = match scan.predicate() {
                Some(p) => evaluate(p, &schema, batch)
                    .map_err(|e| file_err(snapshot, add.path.as_str(), e))?,
                None => BooleanArray::from(vec![true; batch.num_rows()]),
            };
            for (i, pos) in positions.iter().enumerate() {
                if mask.is_valid(i) && mask.value(i) {
                    matched.push(*pos);
                }
            }
            if record_changes {
                let hit: BooleanArray = (0..mask.len())
                    .map(|i| Some(mask.is_valid(i) && mask.value(i)))
                    .collect();
                let gone = arrow_select::filter::filter_record_batch(batch, &hit)
                    .map_err(|e| file_err(snapshot, add.path.as_str(), e.to_string()))?;
                if gone.num_rows() > 0 {
                    deleted_rows.push(gone);
                }
            }
            let keep: BooleanArray = (0..mask.len())
                .map(|i| Some(!(mask.is_valid(i) && mask.value(i))))
                .collect();
            let rest = arrow_select::filter::filter_record_batch(batch, &keep)
                .map_err(|e| file_err(snapshot, add.path.as_str(), e.to_string()))?;
            if rest.num_rows() > 0 {
                kept.push(rest);
            }
        }
        if matched.is_empty() {
            continue;
        }
        rows_deleted += matched.len() as u64;
        removes.push(remove_of(add, now));
        if matched.len() == total {
            continue; // every remaining row goes: the file goes
        }
        if use_dvs {
            let mut all: Vec<u64> = matched;
            if let Some(old) = &existing {
                all.extend(positions_of(old));
            }
            let rows = DeletedRows::from_indexes(all);
            let (bytes, offset, size) = write_file(&rows);
            let id = uuid::Uuid::new_v4();
            let path = format!("deletion_vector_{id}.bin");
            snapshot
                .store()
                .put_if_absent(&path, Bytes::from(bytes))
                .await
                .map_err(|e| file_err(snapshot, &path, e.to_string()))?;
            let encoded = z85_encode(id.as_bytes()).map_err(|e| file_err(snapshot, &path, e))?;
            let mut new = add.clone();
            new.deletion_vector = Some(DeletionVectorDescriptor {
                storage_type: StorageType::UuidRelative,
                path_or_inline_dv: encoded,
                offset: Some(offset as i32),
                size_in_bytes: size as i32,
                cardinality: rows.len() as i64,
            });
            new.stats = new.stats.map(|s| loosen_bounds(&s));
            new.modification_time = now;
            adds.push(new);
            dvs += 1;
        } else {
            rewrite.extend(kept);
            rewrite_partitions.push(add.partition_values.clone());
        }
    }
    if removes.is_empty() {
        return Ok(DeleteResult {
            outcome: None,
            rows_deleted: 0,
            files_removed: 0,
            files_added: 0,
            deletion_vectors: 0,
        });
    }
    let metadata = snapshot.metadata();
    if !rewrite.is_empty() {
        if snapshot.protocol().has_feature(&TableFeature::RowTracking) {
            return Err(ParquetError::InvalidData {
                table: snapshot.location().to_string(),
                reason: "deleting by rewriting files would not preserve row ids on this row-tracking table; enable deletion vectors".into(),
            });
        }
        let mode = ColumnMappingMode::from_property(metadata.property("delta.columnMapping.mode"));
        let (new_files, _) = write_data_files(
            snapshot.store().clone(),
            &schema,
            &metadata.partition_columns,
            mode,
            rewrite.into_iter(),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await?;
        adds.extend(new_files);
    }
    let files_removed = removes.len();
    let files_added = adds.len();
    let mut op =
        Operation::new("DELETE").with_parameter("numDeletedRows", rows_deleted.to_string());
    if let Some(p) = &predicate {
        op = op.with_parameter("predicate", p.to_string());
    }
    let mut txn = snapshot
        .transaction(op)
        .read_files(candidates.iter().map(|a| a.path.to_string()));
    txn = if predicate.is_none() || metadata.partition_columns.is_empty() {
        txn.read_whole_table()
    } else {
        let mut parts: Vec<PartitionValues> = candidates
            .iter()
            .map(|a| a.partition_values.clone())
            .collect();
        parts.extend(rewrite_partitions);
        parts.sort_by_key(|p| format!("{:?}", p.iter().collect::<BTreeMap<_, _>>()));
        parts.dedup();
        txn.read_partitions(parts)
    };
    if record_changes && !deleted_rows.is_empty() {
        // A commit with cdc actions is read through them alone, so they
        // must cover every deleted row, whole files included.
        let cdc = crate::cdf::write_changes(snapshot, deleted_rows, "delete").await?;
        txn = txn.add_change_files(cdc);
    }
    // Rewritten rows are rows that already satisfied the table's checks.
    let outcome = txn
        .remove_files(removes)
        .add_files(adds)
        .with_checks_enforced()
        .commit()
        .await?;
    Ok(DeleteResult {
        outcome: Some(outcome),
        rows_deleted,
        files_removed,
        files_added,
        deletion_vectors: dvs,
    })
}

fn positions_of(rows: &DeletedRows) -> Vec<u64> {
    rows.iter().collect()
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
    if snapshot.protocol().has_feature(&TableFeature::RowTracking) {
        return Err(ParquetError::InvalidData {
            table: snapshot.location().to_string(),
            reason: "OPTIMIZE on a row-tracking table would not preserve row ids yet".into(),
        });
    }
    let mut groups: HashMap<Vec<(String, Option<String>)>, Vec<Add>> = HashMap::new();
    for a in snapshot.files() {
        if (a.size as usize) < min_file_size || a.deletion_vector.is_some() {
            let mut key: Vec<(String, Option<String>)> =
                a.partition_values.clone().into_iter().collect();
            key.sort();
            groups.entry(key).or_default().push(a.clone());
        }
    }
    groups.retain(|_, files| files.len() > 1 || files.iter().any(|f| f.deletion_vector.is_some()));
    if groups.is_empty() {
        return Ok(OptimizeResult {
            outcome: None,
            files_removed: 0,
            files_added: 0,
        });
    }
    let scan = Scan::new(snapshot);
    let now = chrono::Utc::now().timestamp_millis();
    let mode = ColumnMappingMode::from_property(metadata.property("delta.columnMapping.mode"));
    let mut removes = Vec::new();
    let mut adds = Vec::new();
    for files in groups.values() {
        let mut batches = Vec::new();
        for f in files {
            let (b, _) = scan.read_with_positions(f).await?;
            batches.extend(b.into_iter().map(|(b, _)| b));
            let mut r = remove_of(f, now);
            r.data_change = false;
            removes.push(r);
        }
        // One encoder, so each partition compacts into as few files as the
        // target size allows.
        let options = WriteOptions {
            target_file_size,
            threads: 1,
            ..Default::default()
        };
        let (new_files, _) = write_data_files(
            snapshot.store().clone(),
            &metadata.schema,
            &metadata.partition_columns,
            mode,
            batches.into_iter(),
            &options,
            Vec::new(),
        )
        .await?;
        adds.extend(new_files.into_iter().map(|mut a| {
            a.data_change = false;
            a
        }));
    }
    let files_removed = removes.len();
    let files_added = adds.len();
    let outcome = snapshot
        .transaction(
            Operation::new("OPTIMIZE")
                .with_parameter("targetFileSize", target_file_size.to_string()),
        )
        .read_files(removes.iter().map(|r| r.path.to_string()))
        .remove_files(removes)
        .add_files(adds)
        .commit()
        .await?;
    Ok(OptimizeResult {
        outcome: Some(outcome),
        files_removed,
        files_added,
    })
}
