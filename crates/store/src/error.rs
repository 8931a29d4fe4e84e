//! silt-store's error type.

/// Errors opening a store or loading a table through it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The table URI or path is not usable.
    #[error("invalid table location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given (credentials removed).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The URI scheme needs a cargo feature this build does not have.
    #[error(
        "table location {location:?} needs silt-store's `{feature}` feature, which this build does not include"
    )]
    FeatureNotEnabled {
        /// The location as given.
        location: String,
        /// The missing feature.
        feature: &'static str,
    },
    /// The store could not be configured (bad option, missing credentials).
    #[error("cannot configure storage for {location:?}: {reason}")]
    Config {
        /// The location.
        location: String,
        /// What is wrong (never includes secret values).
        reason: String,
    },
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] silt_log::LogError),
}

impl StoreError {
    /// Whether trying again can succeed: only a retryable log error (a
    /// transient storage failure). Locations and configuration are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Log(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// A local file-system error as the log's storage error (`NotFound` and
/// `AlreadyExists` kept as such; the rest described without secrets).
pub(crate) fn io_error(path: &str, e: std::io::Error) -> silt_log::StorageError {
    use silt_log::StorageError;
    match e.kind() {
        std::io::ErrorKind::NotFound => StorageError::NotFound { path: path.into() },
        std::io::ErrorKind::AlreadyExists => StorageError::AlreadyExists { path: path.into() },
        _ => StorageError::Other {
            path: path.into(),
            message: e.to_string(),
        },
    }
}
