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
pub mod delete;
pub mod deletion_vector;
mod dictionary_choice;
mod encoder_queue;
mod error;
mod file_pruning;
mod file_sink;
pub mod filter;
mod min_max;
pub mod restore;
pub mod row_changes;
pub mod row_tracking;
pub mod scan;
mod scan_pieces;
mod shared_file;
pub mod stats;
pub mod table_write;
pub mod vacuum;
pub mod write;

/// The Arrow crates silt's API speaks (batches, arrays, schemas), re-exported
/// so a user's program uses the same versions without naming them.
pub mod arrow {
    pub use arrow_array as array;
    pub use arrow_array::{ArrayRef, RecordBatch};
    pub use arrow_schema as schema;
    pub use arrow_schema::{DataType, Field, Schema, SchemaRef};
}

pub use alter::alter_table;
pub use column_values::{EvaluationError, ExpressionEvaluator};
pub use delete::{DeleteResult, OptimizeResult, delete_where, optimize};
pub use error::{ParquetError, ParquetResult};
pub use restore::{RestoreResult, restore};
pub use row_changes::{
    ChangeType, RemovedRows, RowChangeResult, RowChanges, commit_row_changes,
    deletion_vectors_enabled,
};
pub use scan::{Scan, ScanPlan};
pub use table_write::{Written, append, create_table, overwrite};
pub use vacuum::{VacuumOptions, VacuumReport, vacuum};
pub use write::{
    DataCompression, WriteMode, WriteOptions, WriteResult, write_batches, write_batches_retrying,
};
