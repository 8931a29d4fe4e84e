//! # silt-store — where Delta tables live
//!
//! Implements silt-log's [`LogStore`] contract on
//! [`object_store`](https://docs.rs/object_store): the local file system
//! (the default, with atomic create through hard links), memory, and — behind
//! the `s3`, `azure` and `gcs` features — Amazon S3, Azure Blob/ADLS and
//! Google Cloud Storage. [`TableBuilder`] opens a table from a URI or a plain
//! path:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let table = dir.path().join("events");
//! # std::fs::create_dir_all(table.join("_delta_log"))?;
//! # std::fs::write(table.join("_delta_log/00000000000000000000.json"), concat!(
//! #   r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#, "\n",
//! #   r#"{"metaData":{"id":"e","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{}}}"#, "\n",
//! #   r#"{"add":{"path":"part-0.parquet","partitionValues":{},"size":512,"modificationTime":0,"dataChange":true,"stats":"{\"numRecords\":7}"}}"#))?;
//! # let table = table.to_str().unwrap();
//! // `table` is a plain path here; `s3://`, `az://`, `abfss://`, `gs://` and
//! // `file://` URIs work the same way, with `.with_storage_option(k, v)`.
//! let snapshot = silt_store::TableBuilder::new(table).at_version(0).load().await?;
//! assert_eq!(snapshot.version(), 0);
//! assert_eq!(snapshot.files().len(), 1);
//! assert_eq!(snapshot.num_records(), Some(7));
//! # Ok(()) }
//! ```

mod append_file;
mod durable;
mod error;
mod local_log_store;
mod location;
mod object_log_store;
mod table_builder;
mod upload;

pub use error::{ConfigError, DurationError, LocationError, OptionValueError, StoreError};
pub use local_log_store::LocalLogStore;
pub use location::{TableLocation, redact};
pub use object_log_store::{ObjectLogStore, SINGLE_WRITER_OPTION};
pub use silt_log::{LogStore, Snapshot};
pub use table_builder::TableBuilder;
