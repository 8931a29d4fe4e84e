//! # silt-store — where Delta tables live
//!
//! Implements silt-log's [`LogStore`] contract on
//! [`object_store`](https://docs.rs/object_store): the local file system
//! (the default, with atomic create through hard links), memory, and — behind
//! the `s3`, `azure` and `gcs` features — Amazon S3, Azure Blob/ADLS and
//! Google Cloud Storage. [`TableBuilder`] opens a table from a URI or a plain
//! path:
//!
//! ```no_run
//! # async fn example() -> Result<(), silt_store::StoreError> {
//! let snapshot = silt_store::TableBuilder::new("./lake/bronze/events")
//!     .at_version(3)
//!     .load()
//!     .await?;
//! println!("{} files at version {}", snapshot.files().len(), snapshot.version());
//! # Ok(()) }
//! ```

mod error;
mod location;
mod object_log_store;
mod table_builder;

pub use error::StoreError;
pub use location::TableLocation;
pub use object_log_store::ObjectLogStore;
pub use silt_log::{LogStore, Snapshot};
pub use table_builder::TableBuilder;
