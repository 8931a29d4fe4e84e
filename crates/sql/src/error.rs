//! silt-sql's error type.

/// Errors of SQL over Delta tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// DataFusion refused or failed the statement (planning, execution,
    /// or a silt error raised inside a plan).
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// The statement cannot be run as written.
    #[error("{reason} (in: {statement})")]
    Statement {
        /// The statement text.
        statement: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Opening the table failed.
    #[error(transparent)]
    Store(#[from] silt_store::StoreError),
    /// Reading or writing data files failed.
    #[error(transparent)]
    Parquet(#[from] silt_parquet::ParquetError),
    /// The log layer failed.
    #[error(transparent)]
    Log(#[from] silt_log::LogError),
}

/// silt-sql's result type.
pub type SqlResult<T> = Result<T, SqlError>;
