//! # silt-log — the Delta Lake transaction log protocol
//!
//! Typed actions, schemas and table features; log listing, segment selection
//! and replay into immutable [`Snapshot`]s; time travel by version and by
//! timestamp. silt-log does no I/O of its own: every byte goes through the
//! [`LogStore`] trait, whose contract is written in [`storage`].
//! `silt-store` implements it for local disk, memory and cloud stores.
//!
//! ```
//! use silt_log::actions::{Action, parse_action_line};
//!
//! let line = br#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#;
//! let Some(Action::Protocol(p)) = parse_action_line(line).unwrap() else { unreachable!() };
//! assert_eq!(p.min_writer_version, 2);
//! ```

pub mod actions;
pub mod alter;
mod arrow_rows;
mod checkpoint_arrow;
mod checkpoint_columns;
mod checkpoint_error;
pub mod checkpoint_read;
pub mod checkpoint_write;
mod checksum;
pub mod cleanup;
mod column_mapping;
pub mod column_rules;
pub mod conflict;
pub mod constraints;
pub mod create;
pub mod deletion_vector;
mod environment;
mod error;
pub mod expr;
pub mod expr_builder;
pub mod features;
mod file_list;
mod history;
pub mod interval;
mod last_checkpoint;
pub mod log_path;
pub mod partition;
pub mod path;
pub mod properties;
mod replay;
pub mod schema;
mod segment;
pub mod snapshot;
pub mod stats;
mod stats_text;
pub mod storage;
mod timetravel;
pub mod transaction;
pub mod writable;

pub use actions::{Action, Add, CommitInfo, Metadata, Protocol, Remove};
pub use environment::{Environment, SeededEnvironment, SystemEnvironment, system_environment};
pub use error::{LogError, LogResult};
pub use features::TableFeature;
pub use file_list::{FileList, Files};
pub use history::{CommitRecord, read_history};
pub use schema::{DataType, StructField, StructType};
pub use segment::{CheckpointFiles, LogFile, LogListing, LogSegment};
pub use snapshot::{ChecksumDiscrepancy, Snapshot, SnapshotBuilder, VersionSpec};
pub use storage::{DirEntries, FileMeta, LogStore, ObjectUpload, StorageError};
pub use transaction::{
    CommitOptions, CommitOutcome, CommitStamp, Committed, Operation, PostCommitError,
    PostCommitHook, Transaction,
};
