//! silt-parquet's error type: every variant names the table, and the file
//! and version where there is one.

/// Errors reading or writing data files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParquetError {
    /// A data file (or its deletion vector) is missing, truncated or invalid.
    #[error("table {table}, version {version}, file {file}: {reason}")]
    File {
        /// Table location.
        table: String,
        /// Snapshot version.
        version: u64,
        /// The file as named in the log.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The scan request is invalid (unknown column, bad predicate).
    #[error("table {table}: {reason}")]
    InvalidScan {
        /// Table location.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// Data does not fit the table (schema mismatch, constraint violation).
    #[error("table {table}: {reason}")]
    InvalidData {
        /// Table location.
        table: String,
        /// What is wrong, naming the column.
        reason: String,
    },
    /// Storage failed while writing.
    #[error("table {table}: writing {file}: {reason}")]
    Write {
        /// Table location.
        table: String,
        /// The object being written.
        file: String,
        /// The failure.
        reason: String,
    },
    /// The log layer failed.
    #[error(transparent)]
    Log(#[from] silt_log::LogError),
    /// An ALTER TABLE this table cannot take (not retryable).
    #[error("table {table}: ALTER TABLE refused: {source}")]
    AlterRefused {
        /// Table location.
        table: String,
        /// Why.
        #[source]
        source: silt_log::alter::AlterRefused,
    },
}

impl ParquetError {
    /// Whether redoing the operation can succeed: a storage failure while
    /// writing (possibly transient) or a retryable log error (a conflict, a
    /// lost race, a transient storage failure). Invalid data, scans and
    /// damaged files are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Write { .. } => true,
            Self::Log(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// silt-parquet's result type.
pub type ParquetResult<T> = Result<T, ParquetError>;
