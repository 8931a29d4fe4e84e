//! # silt-sql — Delta tables in Apache DataFusion
//!
//! [`SiltSession`] is a DataFusion session over silt tables: SELECT with
//! partition pruning and file skipping pushed into silt-parquet, INSERT
//! INTO / INSERT OVERWRITE, `CREATE TABLE delta.'path' AS SELECT`, DELETE,
//! UPDATE, MERGE (every WHEN clause kind) and RESTORE, each write one Delta
//! transaction. Tables are registered by name or named by path in SQL.
//! The same DML is available programmatically: [`SiltSession::merge`],
//! [`SiltSession::update`], [`SiltSession::delete`].
//!
//! ```no_run
//! # async fn example() -> Result<(), silt_sql::SqlError> {
//! let session = silt_sql::SiltSession::new();
//! session.register("readings", "./lake/silver/readings").await?;
//! let rows = session
//!     .run("SELECT device, avg(temperature) FROM readings GROUP BY device")
//!     .await?;
//! session
//!     .run(
//!         "MERGE INTO delta.'./lake/gold/devices' AS t USING readings AS s \
//!          ON t.device = s.device \
//!          WHEN MATCHED THEN UPDATE SET temperature = s.temperature \
//!          WHEN NOT MATCHED THEN INSERT (device, temperature) VALUES (s.device, s.temperature)",
//!     )
//!     .await?;
//! # let _ = rows; Ok(()) }
//! ```

pub mod builders;
mod ddl;
mod dml;
mod dml_statement;
mod error;
pub mod evaluator;
mod exec;
pub mod filters;
mod merge_star;
mod metrics;
pub mod session;
mod sql_text;
mod statement_error;
mod table;

pub use builders::{DeleteBuilder, MergeBuilder, UpdateBuilder};
pub use datafusion;
pub use error::{SqlError, SqlResult};
pub use evaluator::DataFusionEvaluator;
pub use metrics::{DmlMetrics, METRIC_COLUMNS};
pub use session::{PATH_SCHEMA, SiltSession};
pub use silt_parquet::{RestoreResult, restore};
pub use statement_error::{DdlError, MergeStarError, StatementError, SyntaxError, TypeError};
pub use table::DeltaTable;
