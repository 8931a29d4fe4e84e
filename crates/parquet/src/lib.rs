//! # silt-parquet — Delta data files
//!
//! Scans a [`silt_log::Snapshot`] into Arrow record batches — partition
//! pruning and file skipping with a [`silt_log::expr::Expr`], concurrent
//! file reads, column mapping resolved to logical names, partition columns
//! materialized, deletion vectors applied — and writes Arrow batches as
//! Delta data files committed through a silt-log transaction.
//!
//! ```no_run
//! # async fn example(snapshot: silt_log::Snapshot) -> Result<(), silt_parquet::ParquetError> {
//! use silt_log::expr::parse_predicate;
//! let batches = silt_parquet::Scan::new(&snapshot)
//!     .select(["device_id", "temperature"])
//!     .filter(parse_predicate("temperature > 30").unwrap())
//!     .collect()
//!     .await?;
//! # Ok(()) }
//! ```

pub mod alter;
pub mod arrow_values;
pub mod cdf;
pub mod clustering;
pub mod column_values;
mod column_writer;
pub mod delete;
pub mod deletion_vector;
mod dictionary_choice;
mod encoder_queue;
mod error;
mod file_pruning;
mod file_sink;
pub mod filter;
mod min_max;
mod page_bytes;
pub mod row_changes;
pub mod row_tracking;
pub mod scan;
mod scan_pieces;
mod shared_file;
pub mod stats;
pub mod vacuum;
pub mod write;

pub use alter::alter_table;
pub use column_values::ExpressionEvaluator;
pub use delete::{DeleteResult, OptimizeResult, delete_where, optimize};
pub use error::{ParquetError, ParquetResult};
pub use row_changes::{
    ChangeType, RemovedRows, RowChangeResult, RowChanges, commit_row_changes,
    deletion_vectors_enabled,
};
pub use scan::{Scan, ScanPlan};
pub use vacuum::{VacuumOptions, VacuumReport, vacuum};
pub use write::{
    DataCompression, WriteMode, WriteOptions, WriteResult, write_batches, write_batches_retrying,
};
