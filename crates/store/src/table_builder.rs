//! [`TableBuilder`]: open a table from a URI or path with storage options and
//! a version, timestamp or latest.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use silt_log::{LogStore, Snapshot, VersionSpec};

use crate::error::{ConfigError, LocationError, OptionValueError, StoreError};
use crate::local_log_store::LocalLogStore;
use crate::location::{StoreKind, TableLocation};
use crate::object_log_store::ObjectLogStore;

/// Opens a Delta table.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `load` or `build_store` is called"]
pub struct TableBuilder {
    location: String,
    options: HashMap<String, String>,
    spec: VersionSpec,
}

impl TableBuilder {
    /// A table at a URI (`file://`, `s3://`, `az://`, `abfss://`, `gs://`,
    /// `memory://`) or a plain path.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            options: HashMap::new(),
            spec: VersionSpec::Latest,
        }
    }

    /// Adds one storage option (credentials, endpoint, `allow_http`, ...).
    pub fn with_storage_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    /// Adds storage options.
    pub fn with_storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.options.extend(options);
        self
    }

    /// Loads this version.
    pub fn at_version(mut self, version: u64) -> Self {
        self.spec = VersionSpec::Version(version);
        self
    }

    /// Loads the version current at this time (ms since epoch).
    pub fn at_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.spec = VersionSpec::Timestamp(timestamp_ms);
        self
    }

    /// Builds the store for the table root without reading anything.
    pub fn build_store(&self) -> Result<Arc<dyn LogStore>, StoreError> {
        let location = TableLocation::parse(&self.location)?;
        let display = location.display();
        // silt's own option; the rest go to the backend.
        let mut options = self.options.clone();
        let single_writer = match options.remove(crate::object_log_store::SINGLE_WRITER_OPTION) {
            None => false,
            Some(v) => v.trim().parse::<bool>().map_err(|_| StoreError::Config {
                location: display.clone(),
                reason: ConfigError::BadValue {
                    key: crate::object_log_store::SINGLE_WRITER_OPTION.to_string(),
                    problem: OptionValueError::NotBool { value: v.clone() },
                },
            })?,
        };
        let (store, root): (Arc<dyn ObjectStore>, Path) = match location.kind {
            StoreKind::Local => {
                let dir = location
                    .url
                    .to_file_path()
                    .map_err(|_| StoreError::InvalidLocation {
                        location: display.clone(),
                        reason: LocationError::NotLocalPath,
                    })?;
                return Ok(Arc::new(LocalLogStore::new(dir, display)));
            }
            StoreKind::Memory => (
                Arc::new(object_store::memory::InMemory::new()),
                Path::from(location.url.path()),
            ),
            StoreKind::S3 => cloud::s3(&location, &options)?,
            StoreKind::Azure => cloud::azure(&location, &options)?,
            StoreKind::Gcs => cloud::gcs(&location, &options)?,
        };
        Ok(Arc::new(
            ObjectLogStore::new(store, root, display).with_single_writer(single_writer),
        ))
    }

    /// Opens the table and loads the requested snapshot.
    pub async fn load(self) -> Result<Snapshot, StoreError> {
        let store = self.build_store()?;
        Ok(Snapshot::builder(store).at(self.spec).load().await?)
    }
}

/// Cloud backends; each compiles only with its feature.
mod cloud {
    use super::*;

    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    use crate::error::DurationError;

    /// Storage options as (key, value) pairs.
    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    type KeyValues = Vec<(String, String)>;

    /// A duration option: `250ms`, `30s`, `2m`, or plain seconds.
    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    pub(crate) fn parse_duration(v: &str) -> Result<std::time::Duration, DurationError> {
        let v = v.trim();
        let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('m') {
            (n, 60.0)
        } else {
            (v, 1.0)
        };
        let value = || v.to_string();
        let x: f64 = num
            .trim()
            .parse()
            .map_err(|_| DurationError::NotANumber { value: value() })?;
        if !x.is_finite() || x < 0.0 {
            return Err(DurationError::OutOfRange { value: value() });
        }
        std::time::Duration::try_from_secs_f64(x * scale)
            .map_err(|_| DurationError::TooLong { value: value() })
    }

    /// The retry configuration the options ask for (silt's own keys, which
    /// object_store has no string keys for: `max_retries`, `retry_timeout`,
    /// `retry_init_backoff`, `retry_max_backoff`, `retry_backoff_base`),
    /// and the other options.
    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    fn split_retry(
        location: &TableLocation,
        options: &HashMap<String, String>,
    ) -> Result<(Option<object_store::RetryConfig>, KeyValues), StoreError> {
        let mut retry = object_store::RetryConfig::default();
        let mut set = false;
        let mut rest = Vec::new();
        for (k, v) in options {
            let bad = |problem: OptionValueError| StoreError::Config {
                location: location.display(),
                reason: ConfigError::BadValue {
                    key: k.clone(),
                    problem,
                },
            };
            let duration = |v: &str| parse_duration(v).map_err(|e| bad(e.into()));
            let value = || v.clone();
            match k.as_str() {
                "max_retries" => {
                    retry.max_retries = v
                        .trim()
                        .parse()
                        .map_err(|_| bad(OptionValueError::NotCount { value: value() }))?
                }
                "retry_timeout" => retry.retry_timeout = duration(v)?,
                "retry_init_backoff" => retry.backoff.init_backoff = duration(v)?,
                "retry_max_backoff" => retry.backoff.max_backoff = duration(v)?,
                "retry_backoff_base" => {
                    retry.backoff.base = v
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|b| *b >= 1.0)
                        .ok_or_else(|| bad(OptionValueError::NotMultiplier { value: value() }))?
                }
                _ => {
                    rest.push((k.clone(), v.clone()));
                    continue;
                }
            }
            set = true;
        }
        Ok((set.then_some(retry), rest))
    }

    /// The backend does not know option `key`.
    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    fn unknown_option(location: &TableLocation, key: &str, e: object_store::Error) -> StoreError {
        StoreError::Config {
            location: location.display(),
            reason: ConfigError::UnknownOption {
                key: key.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// The `backend` builder refused the options.
    #[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
    fn backend_error(
        location: &TableLocation,
        backend: &'static str,
        e: object_store::Error,
    ) -> StoreError {
        StoreError::Config {
            location: location.display(),
            reason: ConfigError::Backend {
                backend,
                source: Box::new(e),
            },
        }
    }

    #[cfg(feature = "s3")]
    pub fn s3(
        location: &TableLocation,
        options: &HashMap<String, String>,
    ) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let mut b = AmazonS3Builder::from_env().with_url(location.url.as_str());
        let (retry, options) = split_retry(location, options)?;
        if let Some(r) = retry {
            b = b.with_retry(r);
        }
        for (k, v) in &options {
            let key: AmazonS3ConfigKey = k.parse().map_err(|e| unknown_option(location, k, e))?;
            b = b.with_config(key, v);
        }
        let store = b.build().map_err(|e| backend_error(location, "s3", e))?;
        Ok((Arc::new(store), Path::from(location.url.path())))
    }

    #[cfg(feature = "azure")]
    pub fn azure(
        location: &TableLocation,
        options: &HashMap<String, String>,
    ) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        let mut b = MicrosoftAzureBuilder::from_env().with_url(location.url.as_str());
        let (retry, options) = split_retry(location, options)?;
        if let Some(r) = retry {
            b = b.with_retry(r);
        }
        for (k, v) in &options {
            let key: AzureConfigKey = k.parse().map_err(|e| unknown_option(location, k, e))?;
            b = b.with_config(key, v);
        }
        let store = b.build().map_err(|e| backend_error(location, "azure", e))?;
        // az://container/path and abfss://container@account.../path both
        // keep the path inside the container in the URL path.
        Ok((Arc::new(store), Path::from(location.url.path())))
    }

    #[cfg(feature = "gcs")]
    pub fn gcs(
        location: &TableLocation,
        options: &HashMap<String, String>,
    ) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let mut b = GoogleCloudStorageBuilder::from_env().with_url(location.url.as_str());
        let (retry, options) = split_retry(location, options)?;
        if let Some(r) = retry {
            b = b.with_retry(r);
        }
        for (k, v) in &options {
            let key: GoogleConfigKey = k.parse().map_err(|e| unknown_option(location, k, e))?;
            b = b.with_config(key, v);
        }
        let store = b.build().map_err(|e| backend_error(location, "gcs", e))?;
        Ok((Arc::new(store), Path::from(location.url.path())))
    }

    #[cfg(not(feature = "s3"))]
    pub fn s3(
        location: &TableLocation,
        _: &HashMap<String, String>,
    ) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        Err(StoreError::FeatureNotEnabled {
            location: location.display(),
            feature: "s3",
        })
    }

    #[cfg(not(feature = "azure"))]
    pub fn azure(
        location: &TableLocation,
        _: &HashMap<String, String>,
    ) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        Err(StoreError::FeatureNotEnabled {
            location: location.display(),
            feature: "azure",
        })
    }

    #[cfg(not(feature = "gcs"))]
    pub fn gcs(
        location: &TableLocation,
        _: &HashMap<String, String>,
    ) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        Err(StoreError::FeatureNotEnabled {
            location: location.display(),
            feature: "gcs",
        })
    }
}
