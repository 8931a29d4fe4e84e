//! Why a checkpoint cannot be written or read: the error types of
//! `checkpoint_write`, `checkpoint_arrow`, `checkpoint_read` and
//! `checkpoint_columns`, kept below all of them (and below `error`, which
//! carries them as sources) so no module reaches itself back.

/// Why a checkpoint could not be encoded. The table's state does not fit
/// the checkpoint schema (a bug or a value Arrow refuses), so encoding
/// again gives the same result: never retryable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointEncodeError {
    /// Arrow refused the rows (JSON decoding, array or batch building).
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The Parquet writer failed.
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// `_last_checkpoint` did not serialize.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A sidecar name is not a valid log path.
    #[error(transparent)]
    Path(#[from] crate::path::PathError),
    /// The checkpoint schema lacks a column the writer fills.
    #[error("checkpoint schema has no {column}")]
    MissingColumn {
        /// The column (`add`, `add.deletionVector`, …).
        column: String,
    },
    /// A checkpoint schema column is not the type the writer builds.
    #[error("{column}: built {built} but the schema says {expected}")]
    TypeMismatch {
        /// The column (`add.tags`, …), or the schema type for a struct check.
        column: String,
        /// The Arrow type built.
        built: String,
        /// The schema's Arrow type.
        expected: String,
    },
}

/// A Parquet checkpoint (or sidecar) file that cannot be decoded into
/// actions. The file is damaged or not a checkpoint; rereading it cannot
/// help, so this is never retryable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointDecodeError {
    /// The footer or schema does not decode.
    #[error("not a readable Parquet file: {0}")]
    NotParquet(#[source] parquet::errors::ParquetError),
    /// The reader cannot be set up for the checkpoint's columns.
    #[error("cannot read Parquet: {0}")]
    Read(#[source] parquet::errors::ParquetError),
    /// A row group does not decode.
    #[error("cannot decode Parquet: {0}")]
    Decode(#[source] arrow_schema::ArrowError),
    /// A row is not a valid action.
    #[error("row {row}: {problem}")]
    Row {
        /// 0-based row in the file.
        row: usize,
        /// What is wrong with it.
        #[source]
        problem: CheckpointRowError,
    },
}

/// A checkpoint row that is not a valid action (see
/// [`CheckpointDecodeError::Row`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointRowError {
    /// The row, read as a JSON action, does not parse.
    #[error(transparent)]
    Action(#[from] crate::actions::ActionError),
    /// `add.path` is refused.
    #[error(transparent)]
    Path(#[from] crate::path::PathError),
    /// `add.size` below zero.
    #[error("add.size is negative ({size})")]
    NegativeSize {
        /// The size found.
        size: i64,
    },
    /// A field the fast path reads is not of the shape it should be.
    #[error("bad {field}")]
    Malformed {
        /// `deletionVector`, `partitionValues` or `tags`.
        field: &'static str,
    },
    /// `add.deletionVector` is not a valid descriptor.
    #[error("{0}")]
    DeletionVector(#[source] serde_json::Error),
    /// `baseRowId` or `defaultRowCommitVersion` below zero.
    #[error("row tracking fields must be non-negative")]
    NegativeRowTracking,
}
