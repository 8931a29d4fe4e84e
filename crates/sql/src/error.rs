//! silt-sql's error type. DataFusion carries silt's errors raised inside a
//! plan as external errors; converting into [`SqlError`] takes them out
//! again, so a caller matches a conflict or a log error by type.

use datafusion::error::DataFusionError;

use crate::statement_error::StatementError;

/// Errors of SQL over Delta tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// DataFusion refused or failed the statement (planning or execution).
    #[error(transparent)]
    DataFusion(DataFusionError),
    /// silt's own reading of the statement refuses it before DataFusion
    /// plans it: a `CREATE TABLE` or `ALTER TABLE` it cannot read or Delta
    /// does not allow, text that does not tokenize, a `delta.'path'` name
    /// or MERGE star form it cannot rewrite. Not retryable: the text is at
    /// fault.
    #[error("{problem} (in: {statement})")]
    InvalidStatement {
        /// The statement text (the whole script when it does not split
        /// into statements).
        statement: String,
        /// What is wrong with it, and where.
        #[source]
        problem: Box<StatementError>,
    },
    /// A concurrent commit conflicts with the statement's commit; nothing
    /// was written. Running the statement again plans it on the new version.
    #[error("table {table}: conflict with a concurrent commit: {conflict}")]
    Conflict {
        /// Table location.
        table: String,
        /// The rule, the winning version and what collided.
        conflict: silt_log::conflict::Conflict,
    },
    /// Opening the table failed.
    #[error(transparent)]
    Store(#[from] silt_store::StoreError),
    /// Reading or writing data files failed.
    #[error(transparent)]
    Parquet(silt_parquet::ParquetError),
    /// The log layer failed.
    #[error(transparent)]
    Log(silt_log::LogError),
    /// A predicate given as text does not parse. Not retryable.
    #[error(transparent)]
    Predicate(#[from] silt_log::expr::PredicateError),
    /// A schema does not convert. Not retryable.
    #[error(transparent)]
    Schema(#[from] silt_log::schema::SchemaError),
    /// Storage failed outside a table operation; retryable when the
    /// storage error is.
    #[error(transparent)]
    Storage(#[from] silt_log::StorageError),
}

impl SqlError {
    /// Whether running the statement again can succeed: a conflict (it is
    /// planned again on the new version), a lost commit race, or a storage
    /// failure that may be transient. Statement errors
    /// ([`Self::InvalidStatement`]), planning and data errors are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Conflict { .. } => true,
            Self::Store(e) => e.is_retryable(),
            Self::Parquet(e) => e.is_retryable(),
            Self::Log(e) => e.is_retryable(),
            Self::Storage(e) => e.is_retryable(),
            Self::DataFusion(DataFusionError::IoError(_)) => true,
            _ => false,
        }
    }

    /// The conflict, when this is one.
    pub fn conflict(&self) -> Option<&silt_log::conflict::Conflict> {
        match self {
            Self::Conflict { conflict, .. } => Some(conflict),
            _ => None,
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for SqlError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Self::DataFusion(e.into())
    }
}

impl From<silt_log::LogError> for SqlError {
    fn from(e: silt_log::LogError) -> Self {
        match e {
            silt_log::LogError::Conflict { table, conflict } => Self::Conflict { table, conflict },
            other => Self::Log(other),
        }
    }
}

impl From<silt_parquet::ParquetError> for SqlError {
    fn from(e: silt_parquet::ParquetError) -> Self {
        match e {
            silt_parquet::ParquetError::Log(log) => log.into(),
            other => Self::Parquet(other),
        }
    }
}

impl From<DataFusionError> for SqlError {
    /// Takes a silt error out of DataFusion's wrappers (external errors,
    /// context, shared errors); anything else stays a DataFusion error.
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => {
                let inner = match inner.downcast::<silt_log::LogError>() {
                    Ok(log) => return (*log).into(),
                    Err(other) => other,
                };
                let inner = match inner.downcast::<silt_parquet::ParquetError>() {
                    Ok(p) => return (*p).into(),
                    Err(other) => other,
                };
                match inner.downcast::<silt_store::StoreError>() {
                    Ok(s) => Self::Store(*s),
                    Err(other) => Self::DataFusion(DataFusionError::External(other)),
                }
            }
            DataFusionError::Context(context, inner) => match Self::from(*inner) {
                Self::DataFusion(d) => {
                    Self::DataFusion(DataFusionError::Context(context, Box::new(d)))
                }
                silt => silt,
            },
            DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(inner) => Self::from(inner),
                Err(shared) => Self::DataFusion(DataFusionError::Shared(shared)),
            },
            other => Self::DataFusion(other),
        }
    }
}

/// silt-sql's result type.
pub type SqlResult<T> = Result<T, SqlError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SqlResult<silt_log::expr::Expr> {
        Ok(silt_log::expr::parse_predicate(text)?)
    }

    fn read(e: silt_log::StorageError) -> SqlResult<()> {
        Err(e)?
    }

    #[test]
    fn the_lower_layers_errors_convert_with_their_retryability() {
        let e = parse("a = ").unwrap_err();
        assert!(
            matches!(e, SqlError::Predicate(_)) && !e.is_retryable(),
            "{e}"
        );
        let flaky = read(silt_log::StorageError::Other {
            path: "x".into(),
            message: "reset".into(),
        })
        .unwrap_err();
        assert!(flaky.is_retryable(), "{flaky}");
        let gone = read(silt_log::StorageError::NotFound { path: "x".into() }).unwrap_err();
        assert!(!gone.is_retryable(), "{gone}");
    }
}
