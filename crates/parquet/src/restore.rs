//! RESTORE: make the newest version hold exactly the files (and metadata)
//! of an earlier version, as one transaction that re-adds the files the
//! later versions removed and removes the files they added. Refused when a
//! file to bring back is gone (vacuumed). Log and storage work only, so it
//! lives below the SQL layer (silt-sql's `RESTORE TABLE` calls it).

use std::collections::HashSet;

use silt_log::actions::Add;
use silt_log::{CommitOutcome, Operation, Snapshot};

use crate::error::{ParquetError, ParquetResult};

/// What a RESTORE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreResult {
    /// The commit outcome (`None` when the table already matched); a
    /// conflict is the caller's to handle, as for every table operation.
    pub outcome: Option<CommitOutcome>,
    /// Files brought back.
    pub files_restored: usize,
    /// Files removed.
    pub files_removed: usize,
}

/// A file's identity: its path and deletion vector.
fn identity(a: &Add) -> String {
    match &a.deletion_vector {
        Some(dv) => format!(
            "{}|{:?}|{}|{:?}",
            a.path.as_str(),
            dv.storage_type,
            dv.path_or_inline_dv,
            dv.offset
        ),
        None => a.path.to_string(),
    }
}

/// Restores `current`'s table to the state of `target` (an earlier
/// snapshot of the same table).
pub async fn restore(current: &Snapshot, target: &Snapshot) -> ParquetResult<RestoreResult> {
    let table = current.location().to_string();
    if target.version() > current.version() {
        return Err(ParquetError::InvalidData {
            table,
            reason: format!(
                "cannot restore to version {}: it is newer than the table's {}",
                target.version(),
                current.version()
            ),
        });
    }
    let now_files: HashSet<String> = current.files().iter().map(|a| identity(&a)).collect();
    let then_files: HashSet<String> = target.files().iter().map(|a| identity(&a)).collect();
    let to_add: Vec<Add> = target
        .files()
        .iter()
        .filter(|a| !now_files.contains(&identity(a)))
        .map(|a| {
            let mut a = a.into_owned();
            a.data_change = true;
            a
        })
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    let to_remove: Vec<_> = current
        .files()
        .iter()
        .filter(|a| !then_files.contains(&identity(a)))
        .map(|a| a.to_remove(now))
        .collect();
    // Every file to bring back must still exist.
    if !to_add.is_empty() {
        let present: HashSet<String> = current
            .store()
            .list_recursive("")
            .await
            .map_err(|source| {
                ParquetError::Log(silt_log::LogError::Storage {
                    table: table.clone(),
                    source,
                })
            })?
            .into_iter()
            .map(|f| f.path)
            .collect();
        for a in &to_add {
            let key = silt_log::path::FilePath::parse(a.path.as_str())
                .ok()
                .and_then(|p| p.relative_decoded());
            if let Some(key) = key
                && !present.contains(&key)
            {
                return Err(ParquetError::InvalidData {
                    table,
                    reason: format!(
                        "file {} of version {} no longer exists (vacuumed?); the table cannot be restored to that version",
                        a.path.as_str(),
                        target.version()
                    ),
                });
            }
        }
    }
    let metadata_changed = target.metadata() != current.metadata();
    if to_add.is_empty() && to_remove.is_empty() && !metadata_changed {
        return Ok(RestoreResult {
            outcome: None,
            files_restored: 0,
            files_removed: 0,
        });
    }
    let (files_restored, files_removed) = (to_add.len(), to_remove.len());
    let size_after: i64 = target.files().iter().map(|a| a.size).sum();
    let op = Operation::restore()
        .with_parameter("version", target.version().to_string())
        .with_metric("numRestoredFiles", files_restored as u64)
        .with_metric("numRemovedFiles", files_removed as u64)
        .with_metric("numOfFilesAfterRestore", target.files().len() as u64)
        .with_metric("tableSizeAfterRestore", size_after.max(0) as u64);
    let mut txn = current
        .transaction(op)
        .read_whole_table()
        .add_files(to_add)
        .remove_files(to_remove);
    if metadata_changed {
        txn = txn.update_metadata(target.metadata().clone());
    }
    // The restored files satisfied the table's checks when first written.
    let outcome = txn.with_checks_enforced().commit().await?;
    Ok(RestoreResult {
        outcome: Some(outcome),
        files_restored,
        files_removed,
    })
}
