//! The CLI's error: what failed, from which layer of silt, printed once as
//! `silt: …` with a non-zero exit.

/// Why a `silt` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The Delta log (conflicts, unreadable or missing tables).
    #[error(transparent)]
    Log(Box<silt_log::LogError>),
    /// Data files: writing, scanning, table operations.
    #[error(transparent)]
    Parquet(Box<silt_parquet::ParquetError>),
    /// SQL.
    #[error(transparent)]
    Sql(Box<silt_sql::SqlError>),
    /// Opening a store or table location.
    #[error(transparent)]
    Store(Box<silt_store::StoreError>),
    /// Pipelines.
    #[error(transparent)]
    Pipeline(Box<silt_medallion::PipelineError>),
    /// A new table's definition is refused.
    #[error(transparent)]
    Create(#[from] silt_log::create::CreateError),
    /// A schema does not convert.
    #[error(transparent)]
    Schema(#[from] silt_log::schema::SchemaError),
    /// A Parquet input or output file.
    #[error(transparent)]
    ParquetFile(#[from] parquet::errors::ParquetError),
    /// A background task failed.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// Reading an input or writing the output.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Arrow could not build or convert rows (input files, output formats).
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// DataFusion (SQL planning and execution outside silt-sql's wrappers).
    #[error(transparent)]
    DataFusion(Box<silt_sql::datafusion::error::DataFusionError>),
    /// JSON input or output.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The command line or an input it names is wrong (a bad option value,
    /// an unreadable input file, output that cannot be written).
    #[error("{0}")]
    Input(String),
}

/// The layers' errors are large; boxed, a `Result<_, CliError>` stays small.
macro_rules! boxed_from {
    ($($variant:ident: $ty:ty),* $(,)?) => {$(
        impl From<$ty> for CliError {
            fn from(e: $ty) -> Self {
                Self::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    Log: silt_log::LogError,
    Parquet: silt_parquet::ParquetError,
    Sql: silt_sql::SqlError,
    Store: silt_store::StoreError,
    Pipeline: silt_medallion::PipelineError,
    DataFusion: silt_sql::datafusion::error::DataFusionError,
);

impl From<String> for CliError {
    fn from(message: String) -> Self {
        Self::Input(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        Self::Input(message.to_string())
    }
}
