//! A flow's inputs registered under a name in a DataFusion session: rows
//! held in memory (AUTO CDC's intermediate tables, a change feed) or a
//! table read lazily (a Delta input, or just its new files); a name
//! registered again is replaced.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use silt_sql::SiltSession;
use silt_sql::datafusion::datasource::{MemTable, TableProvider};

use crate::error::PipelineResult;

/// Registers `batches` (or, when there are none, an empty table of
/// `schema`) as `name` in `session`.
pub fn register_rows(
    session: &SiltSession,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PipelineResult<()> {
    // Batches carry the schema they were made with (nullability, metadata
    // may differ from a planned schema).
    let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
    let table = MemTable::try_new(schema, vec![batches]).map_err(silt_sql::SqlError::from)?;
    register_table(session, name, Arc::new(table))
}

/// Registers `table` as `name` in `session`.
pub fn register_table(
    session: &SiltSession,
    name: &str,
    table: Arc<dyn TableProvider>,
) -> PipelineResult<()> {
    let ctx = session.context();
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, table)
        .map_err(silt_sql::SqlError::from)?;
    Ok(())
}
