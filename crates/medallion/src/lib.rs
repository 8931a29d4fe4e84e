//! # silt-medallion — declarative pipelines over Delta tables
//!
//! A project (a `spark-pipeline.yml` spec and SQL files in the Spark
//! Declarative Pipelines language) declares streaming tables, materialized
//! views, temporary views and flows; silt plans them into a dependency
//! graph and runs each flow in batches, every batch one Delta commit that
//! carries the flow's output and its source progress together
//! (exactly-once without a side checkpoint directory).
//!
//! Modules, top down: [`project`] loads a directory; [`pipeline`] checks
//! definitions into a graph ([`parser`], [`query`], [`definition`]);
//! [`runner`] runs updates of [`flow_batch`]es, which read [`sources`],
//! apply [`expectations`], write through [`tables`] and [`cdc`], record
//! [`progress`] and write the [`event_log`].
//!
//! ```no_run
//! # async fn example() -> Result<(), silt_medallion::PipelineError> {
//! use silt_medallion::definition::DatasetKind;
//! use silt_sql::datafusion::prelude::col;
//! let pipeline = silt_medallion::Pipeline::builder("iot", "/data/lake")
//!     .conf("landing", "/data/landing")
//!     .sql("bronze.sql", "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files('${landing}', format => 'json')")
//!     // A dataset whose body is a DataFusion DataFrame over its inputs.
//!     .dataframe(DatasetKind::StreamingTable, "silver.readings", &["STREAM(raw)"], |inputs| {
//!         let raw = inputs.into_iter().next().expect("one input");
//!         raw.filter(col("device_id").is_not_null())
//!     })
//!     .build()?;
//! let reports = silt_medallion::run(&pipeline, &silt_medallion::RunOptions::default()).await?;
//! assert!(reports[0].succeeded());
//! # Ok(()) }
//! ```

pub mod analysis;
pub mod cdc;
pub mod definition;
pub mod error;
pub mod event_log;
pub mod expectations;
pub mod flow_batch;
pub mod graph;
pub mod newest;
pub mod parser;
pub mod pipeline;
pub mod progress;
pub mod project;
pub mod query;
pub mod runner;
pub mod session_rows;
pub mod sources;
pub mod spec;
pub mod status;
pub mod tables;
pub mod tombstones;

pub use error::{PipelineError, PipelineResult, SourcePos};
pub use pipeline::{Pipeline, PipelineBuilder};
pub use runner::{FlowReport, FlowStatus, RunOptions, UpdateReport, run};
