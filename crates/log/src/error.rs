//! silt-log's error type. Every variant names the table and, where there is
//! one, the version and file involved.

use crate::storage::StorageError;

/// Errors from reading (and later writing) the Delta log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// There is no `_delta_log` (or it holds no commit or checkpoint).
    #[error("no Delta table at {table}: {reason}")]
    TableNotFound {
        /// Table location.
        table: String,
        /// What was missing.
        reason: String,
    },
    /// Storage failed.
    #[error("table {table}: {source}")]
    Storage {
        /// Table location.
        table: String,
        /// The storage error.
        #[source]
        source: StorageError,
    },
    /// A log file's content is invalid.
    #[error("table {table}, version {version}, file {file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    InvalidLogFile {
        /// Table location.
        table: String,
        /// Version of the file.
        version: u64,
        /// File path relative to the table root.
        file: String,
        /// 1-based line, for JSON files.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// Commits are missing between two versions (or before the first).
    #[error(
        "table {table}: log is not contiguous: expected version {expected}, found {found:?} ({detail})"
    )]
    NonContiguousLog {
        /// Table location.
        table: String,
        /// The version that should exist.
        expected: u64,
        /// The versions found instead (listing order).
        found: Vec<u64>,
        /// Context.
        detail: String,
    },
    /// A checkpoint could not be encoded. Not retryable: the same state
    /// encodes the same way.
    #[error("table {table}, version {version}: cannot encode checkpoint: {source}")]
    CheckpointEncode {
        /// Table location.
        table: String,
        /// Checkpoint version.
        version: u64,
        /// What failed.
        #[source]
        source: crate::checkpoint_error::CheckpointEncodeError,
    },
    /// A checkpoint named by the log or `_last_checkpoint` is incomplete.
    #[error("table {table}, version {version}: incomplete checkpoint: {message}")]
    IncompleteCheckpoint {
        /// Table location.
        table: String,
        /// Checkpoint version.
        version: u64,
        /// Details.
        message: String,
    },
    /// The requested version is newer than the latest one.
    #[error("table {table}: version {requested} does not exist (latest is {latest})")]
    VersionNotFound {
        /// Table location.
        table: String,
        /// Requested version.
        requested: u64,
        /// Latest version.
        latest: u64,
    },
    /// The requested version's commits were removed by log cleanup.
    #[error(
        "table {table}: version {requested} can no longer be reconstructed (earliest is {earliest})"
    )]
    VersionCleanedUp {
        /// Table location.
        table: String,
        /// Requested version.
        requested: u64,
        /// Earliest reconstructable version.
        earliest: u64,
    },
    /// The requested timestamp precedes the table's earliest version.
    #[error(
        "table {table}: timestamp {requested_ms} ms is before the earliest available commit ({earliest_ms} ms, version {earliest_version})"
    )]
    TimestampTooEarly {
        /// Table location.
        table: String,
        /// Requested time (ms since epoch).
        requested_ms: i64,
        /// Timestamp of the earliest version.
        earliest_ms: i64,
        /// Earliest version.
        earliest_version: u64,
    },
    /// Log replay ended without a protocol or metadata action.
    #[error("table {table}, version {version}: no {what} action found in the log")]
    MissingAction {
        /// Table location.
        table: String,
        /// Snapshot version.
        version: u64,
        /// `protocol` or `metaData`.
        what: &'static str,
    },
    /// The table needs a reader version silt does not implement.
    #[error("table {table}, version {version}: unsupported reader protocol version {reader_version} (silt reads up to {max})", max = crate::features::MAX_READER_VERSION)]
    UnsupportedReaderVersion {
        /// Table location.
        table: String,
        /// Snapshot version.
        version: u64,
        /// The table's minReaderVersion.
        reader_version: i32,
    },
    /// The table needs a reader feature silt does not support.
    #[error("table {table}, version {version}: unsupported reader feature {feature:?}")]
    UnsupportedReaderFeature {
        /// Table location.
        table: String,
        /// Snapshot version.
        version: u64,
        /// The feature name.
        feature: String,
    },
    /// The version checksum (`.crc`) file disagrees with the replayed state,
    /// or does not parse.
    #[error("table {table}, version {version}, file {file}: checksum mismatch: {message}")]
    ChecksumMismatch {
        /// Table location.
        table: String,
        /// Version.
        version: u64,
        /// The `.crc` file.
        file: String,
        /// What differs.
        message: String,
    },
    /// silt cannot write this table (a writer version or feature it does
    /// not implement, or a data rule it cannot enforce yet).
    #[error("table {table}, version {version}: silt cannot write this table: {reason}")]
    UnsupportedWriter {
        /// Table location.
        table: String,
        /// Version read.
        version: u64,
        /// What is unsupported.
        reason: String,
    },
    /// The staged transaction is not valid; nothing was written.
    #[error("table {table}: invalid transaction: {reason}")]
    InvalidTransaction {
        /// Table location.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// Creating a table where one exists.
    #[error("table {table} already exists")]
    TableAlreadyExists {
        /// Table location.
        table: String,
    },
    /// The transaction did not conflict but lost the race too many times.
    #[error(
        "table {table}: commit gave up after {retries} rebases (last version seen {last_version})"
    )]
    CommitRetriesExhausted {
        /// Table location.
        table: String,
        /// The retry budget.
        retries: usize,
        /// The newest version seen.
        last_version: u64,
    },
    /// Storage failed during the commit write and reading back could not
    /// tell whether the commit landed: the caller must check the version.
    #[error("table {table}, version {version}: commit outcome unknown: {message}")]
    CommitUncertain {
        /// Table location.
        table: String,
        /// The version being written.
        version: u64,
        /// The storage errors.
        message: String,
    },
    /// A caller passed an invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A concurrent commit conflicts with this transaction by Delta's
    /// rules; nothing was written. Redo the work on the new version.
    #[error("table {table}: conflict with a concurrent commit: {conflict}")]
    Conflict {
        /// Table location.
        table: String,
        /// The rule, the winning version and what collided.
        conflict: crate::conflict::Conflict,
    },
}

impl LogError {
    /// Whether redoing the operation (for a write: reading the table again
    /// and recomputing the commit) can succeed.
    ///
    /// Retryable: a conflict with a concurrent commit, a commit that lost
    /// the race too many times, and storage failures that may be transient.
    /// Not retryable: bad or unsupported tables, versions or arguments, and
    /// [`LogError::CommitUncertain`] (check whether the commit landed first;
    /// an idempotent app transaction makes a blind retry safe).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Conflict { .. } | Self::CommitRetriesExhausted { .. } => true,
            Self::Storage { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The conflict, when this is one.
    pub fn conflict(&self) -> Option<&crate::conflict::Conflict> {
        match self {
            Self::Conflict { conflict, .. } => Some(conflict),
            _ => None,
        }
    }
}

/// silt-log's result type.
pub type LogResult<T> = Result<T, LogError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conflict::{Conflict, ConflictRule};

    #[test]
    fn retryable_errors_are_the_transient_ones() {
        let table = || "t".to_string();
        let conflict = LogError::Conflict {
            table: table(),
            conflict: Conflict {
                rule: ConflictRule::ConcurrentAppend,
                winning_version: 3,
                detail: "f".into(),
            },
        };
        assert!(conflict.is_retryable());
        assert_eq!(conflict.conflict().map(|c| c.winning_version), Some(3));
        let storage = |source| LogError::Storage {
            table: table(),
            source,
        };
        assert!(
            storage(StorageError::Other {
                path: "p".into(),
                message: "timeout".into()
            })
            .is_retryable()
        );
        assert!(!storage(StorageError::NotFound { path: "p".into() }).is_retryable());
        assert!(
            !LogError::CommitUncertain {
                table: table(),
                version: 1,
                message: "m".into()
            }
            .is_retryable()
        );
        assert!(!LogError::TableAlreadyExists { table: table() }.is_retryable());
        assert!(
            LogError::CommitRetriesExhausted {
                table: table(),
                retries: 3,
                last_version: 9
            }
            .is_retryable()
        );
    }
}
