//! silt-store's error type, and the typed reasons it carries: why a
//! location is refused ([`LocationError`]) and why storage options are
//! ([`ConfigError`], [`OptionValueError`], [`DurationError`]). A leaf: it
//! uses no other module of the crate.

use std::path::PathBuf;

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
        #[source]
        reason: LocationError,
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
        #[source]
        reason: ConfigError,
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

/// Why a table location is refused (see [`StoreError::InvalidLocation`]).
/// The location as written is at fault, so retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// The location is the empty string.
    #[error("empty location")]
    Empty,
    /// It looks like a URI but does not parse as one.
    #[error("{0}")]
    Url(#[from] url::ParseError),
    /// A relative path, and the current directory to resolve it against
    /// cannot be read (it was removed, or access is denied).
    #[error("cannot read the current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// The path, made absolute, is still not a path a `file://` URL takes.
    #[error("{} is not an absolute path", path.display())]
    NotAbsolute {
        /// The path after resolving.
        path: PathBuf,
    },
    /// The URI scheme is not one silt reads tables from.
    #[error("unsupported scheme {scheme:?}")]
    UnsupportedScheme {
        /// The scheme (`ftp`, …).
        scheme: String,
    },
    /// A `file://` URL that is not a local path (a host, for example).
    #[error("not a local path")]
    NotLocalPath,
}

/// Why the storage options for a location are refused (see
/// [`StoreError::Config`]). The options are at fault (or credentials are
/// missing), so retrying with the same options cannot help. Messages
/// name the option, never its value when it may be secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// One of silt's own options has a value it does not take.
    #[error("option {key:?}: {problem}")]
    BadValue {
        /// The option.
        key: String,
        /// What is wrong with its value.
        #[source]
        problem: OptionValueError,
    },
    /// The backend does not know the option.
    #[error("option {key:?}: {source}")]
    UnknownOption {
        /// The option.
        key: String,
        /// The backend's refusal (boxed: object_store's errors are large).
        #[source]
        source: Box<object_store::Error>,
    },
    /// The backend's builder refused the options as a whole (missing
    /// credentials, a malformed URL for the backend).
    #[error("option {backend:?}: {source}")]
    Backend {
        /// The backend (`s3`, `azure`, `gcs`).
        backend: &'static str,
        /// The builder's refusal (boxed: object_store's errors are large).
        #[source]
        source: Box<object_store::Error>,
    },
}

/// A value one of silt's own storage options does not take (see
/// [`ConfigError::BadValue`]). These options are not secret, so the value
/// is shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionValueError {
    /// A flag that is neither `true` nor `false`.
    #[error("{value:?} is not true or false")]
    NotBool {
        /// The value as given.
        value: String,
    },
    /// `max_retries` that is not a whole number.
    #[error("{value:?} is not a count")]
    NotCount {
        /// The value as given.
        value: String,
    },
    /// `retry_backoff_base` below 1 or not a number.
    #[error("{value:?} is not a multiplier ≥ 1")]
    NotMultiplier {
        /// The value as given.
        value: String,
    },
    /// A retry duration that does not read as one.
    #[error(transparent)]
    Duration(#[from] DurationError),
}

/// A duration option (`250ms`, `30s`, `2m`, or plain seconds) that does not
/// read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The number part is not a number.
    #[error("{value:?} is not a duration (e.g. 250ms, 30s, 2m)")]
    NotANumber {
        /// The value (trimmed).
        value: String,
    },
    /// Negative, infinite or NaN.
    #[error("{value:?} is not a duration")]
    OutOfRange {
        /// The value (trimmed).
        value: String,
    },
    /// Longer than a `Duration` holds.
    #[error("{value:?} is too long a duration")]
    TooLong {
        /// The value (trimmed).
        value: String,
    },
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
