//! # silt-medallion — declarative pipelines over Delta tables
//!
//! A project (a `spark-pipeline.yml` spec and SQL files in the Spark
//! Declarative Pipelines language) declares streaming tables, materialized
//! views, temporary views and flows; silt plans them into a dependency
//! graph and runs each flow in batches, every batch one Delta commit that
//! carries the flow's output and its source progress together
//! (exactly-once without a side checkpoint directory).

pub mod definition;
pub mod error;
pub mod parser;
pub mod pipeline;
pub mod query;
pub mod sources;
pub mod spec;

pub use error::{PipelineError, PipelineResult, SourcePos};
