//! Writing through a table's snapshot: create a table from batches, append
//! or overwrite, each one transaction that returns the table's new
//! snapshot. A conflict with a concurrent writer is the typed
//! [`silt_log::LogError::Conflict`] (retryable); an application
//! transaction that already committed writes nothing and returns the
//! current snapshot.

use std::sync::Arc;

use arrow_array::RecordBatch;
use silt_log::{CommitOutcome, LogError, LogStore, Snapshot};

use crate::error::{ParquetError, ParquetResult};
use crate::write::{WriteMode, WriteOptions, WriteResult, write_batches};

/// A finished write: the table after it, and what it did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The table's snapshot after the write (the version it committed, or
    /// the current one when the write was already applied).
    pub snapshot: Snapshot,
    /// Files and rows written, and the commit outcome.
    pub result: WriteResult,
}

async fn finish(
    store: Arc<dyn LogStore>,
    before: Option<&Snapshot>,
    result: WriteResult,
) -> ParquetResult<Written> {
    let table = store.location().to_string();
    let snapshot = match &result.outcome {
        CommitOutcome::Conflict(conflict) => {
            return Err(ParquetError::Log(LogError::Conflict {
                table,
                conflict: conflict.clone(),
            }));
        }
        CommitOutcome::Committed(c) => match before {
            // Only the commits after it are read.
            Some(s) if s.version() < c.version => Snapshot::clone(s).refresh().await?,
            _ => {
                Snapshot::builder(store)
                    .at_version(c.version)
                    .load()
                    .await?
            }
        },
        CommitOutcome::AlreadyApplied { .. } => match before {
            Some(s) => Snapshot::clone(s).refresh().await?,
            None => Snapshot::builder(store).load().await?,
        },
    };
    Ok(Written { snapshot, result })
}

/// Creates a table at `store` from `batches` (their schema is the table's;
/// `options` give partitioning and properties). Refused when a table is
/// already there.
pub async fn create_table(
    store: Arc<dyn LogStore>,
    batches: Vec<RecordBatch>,
    options: WriteOptions,
) -> ParquetResult<Written> {
    let result = write_batches(store.clone(), None, batches, options).await?;
    finish(store, None, result).await
}

/// Appends `batches` to the table at `snapshot`.
pub async fn append(
    snapshot: &Snapshot,
    batches: Vec<RecordBatch>,
    options: WriteOptions,
) -> ParquetResult<Written> {
    write(snapshot, batches, WriteMode::Append, options).await
}

/// Replaces every row of the table at `snapshot` with `batches`.
pub async fn overwrite(
    snapshot: &Snapshot,
    batches: Vec<RecordBatch>,
    options: WriteOptions,
) -> ParquetResult<Written> {
    write(snapshot, batches, WriteMode::Overwrite, options).await
}

async fn write(
    snapshot: &Snapshot,
    batches: Vec<RecordBatch>,
    mode: WriteMode,
    options: WriteOptions,
) -> ParquetResult<Written> {
    let store = snapshot.store().clone();
    let options = WriteOptions { mode, ..options };
    let result = write_batches(store.clone(), Some(snapshot.clone()), batches, options).await?;
    finish(store, Some(snapshot), result).await
}
