//! The crate's one error type: where a pipeline definition is wrong
//! (file:line:column), what a flow could not do, and whether retrying the
//! update can help.

use std::fmt;

/// A place in a pipeline source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcePos {
    /// The file, as the project names it.
    pub file: String,
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Everything a pipeline can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The pipeline spec (`spark-pipeline.yml`) or a command-line setting
    /// is wrong. Not retryable.
    #[error("pipeline spec {path}: {message}")]
    Spec {
        /// The spec file or setting.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A SQL file does not parse. Not retryable.
    #[error("{at}: syntax error: {message}")]
    Syntax {
        /// Where.
        at: SourcePos,
        /// What the parser expected or found.
        message: String,
    },
    /// A definition parses but is wrong: an unknown table, a cycle, a
    /// duplicate name, a query DataFusion cannot plan. Not retryable.
    #[error("{at}: {message}")]
    Analysis {
        /// The definition's position.
        at: SourcePos,
        /// What is wrong.
        message: String,
    },
    /// An expectation with `ON VIOLATION FAIL UPDATE` failed: nothing was
    /// committed for the flow. Not retryable until the data is fixed.
    #[error(
        "expectation {expectation} failed in flow {flow} (dataset {dataset}): {failed} row(s) violate it; first: {record}"
    )]
    ExpectationFailed {
        /// The flow whose batch failed.
        flow: String,
        /// The dataset that declares the expectation.
        dataset: String,
        /// The expectation's name.
        expectation: String,
        /// Rows violating it in the batch.
        failed: u64,
        /// The first offending record, as JSON.
        record: String,
    },
    /// A source cannot deliver what the flow needs: a landing file that is
    /// not the declared format, an upstream change commit, a version
    /// already cleaned up. `retryable` says whether the same update may
    /// succeed later (a storage fault) or never without a change (bad
    /// data, options).
    #[error("flow {flow}: source {source_name}: {message}")]
    Source {
        /// The flow reading the source.
        flow: String,
        /// The source (a path or dataset name).
        source_name: String,
        /// What is wrong.
        message: String,
        /// Whether trying again can help.
        retryable: bool,
    },
    /// A flow could not be run for another reason (its query failed).
    #[error("flow {flow}: {message}")]
    Flow {
        /// The flow.
        flow: String,
        /// What failed.
        message: String,
        /// Whether trying again can help.
        retryable: bool,
    },
    /// SQL planning or execution, or a DML commit.
    #[error(transparent)]
    Sql(#[from] silt_sql::SqlError),
    /// Writing or reading data files.
    #[error(transparent)]
    Parquet(#[from] silt_parquet::ParquetError),
    /// The Delta log.
    #[error(transparent)]
    Log(#[from] silt_log::LogError),
    /// Opening storage.
    #[error(transparent)]
    Store(#[from] silt_store::StoreError),
    /// A local file of the project.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
}

impl PipelineError {
    /// Whether running the update again may succeed without any change to
    /// the project or the data (a conflict with a concurrent writer, a
    /// storage fault).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Spec { .. }
            | Self::Syntax { .. }
            | Self::Analysis { .. }
            | Self::ExpectationFailed { .. } => false,
            Self::Source { retryable, .. } | Self::Flow { retryable, .. } => *retryable,
            Self::Sql(e) => e.is_retryable(),
            Self::Parquet(e) => e.is_retryable(),
            Self::Log(e) => e.is_retryable(),
            Self::Store(_) => false,
            Self::Io { .. } => false,
        }
    }

    /// Whether this is a commit conflict with a concurrent writer (the flow
    /// re-plans its batch from the new table state).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::Log(silt_log::LogError::Conflict { .. })
                | Self::Parquet(silt_parquet::ParquetError::Log(
                    silt_log::LogError::Conflict { .. }
                ))
                | Self::Sql(silt_sql::SqlError::Conflict { .. })
        )
    }

    pub(crate) fn flow(flow: &str, message: impl Into<String>) -> Self {
        Self::Flow {
            flow: flow.to_string(),
            message: message.into(),
            retryable: false,
        }
    }
}

/// An option (of `read_files`, of a streaming Delta read) or a recorded
/// progress that cannot be used: what is wrong with it. Callers turn it
/// into a [`PipelineError`] naming where it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl From<String> for InvalidInput {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for InvalidInput {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// The crate's result type.
pub type PipelineResult<T> = Result<T, PipelineError>;
