//! Where a flow's rows come from. Each source reads "what is new since this
//! progress" and returns the rows with the progress after them; the runner
//! commits that progress with the flow's output. Landing files
//! ([`files`]) and Delta tables ([`delta`]) are here; databases and
//! brokers plug in through the same shape later.

pub mod delta;
pub mod files;
mod json_line;
pub mod listing;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

/// Rows a source delivers for one batch.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    /// The rows' schema.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// What was read (files, versions, malformed records), for the event log.
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

impl SourceBatch {
    /// Rows in the batch.
    pub fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}
