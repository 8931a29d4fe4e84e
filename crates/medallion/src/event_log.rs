//! The event log: what every update did, as a Delta table under the
//! storage root (`_silt/event_log`), in the spirit of SDP/Lakeflow's:
//! `id`, `timestamp`, `level`, `event_type` (`create_update`,
//! `update_progress`, `flow_progress`, `planning_information`, `post_commit`
//! when a commit's checkpoint failed), `origin`
//! (pipeline, update, flow, dataset), `message` and `details` (JSON: rows,
//! expectation counts, versions, durations). Queryable with `silt sql`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use silt_parquet::WriteOptions;

use crate::error::PipelineResult;
use crate::tables;

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// A unique id.
    pub id: String,
    /// When, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// INFO, WARN, ERROR or METRICS.
    pub level: &'static str,
    /// What kind of event.
    pub event_type: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The flow it concerns.
    pub flow: Option<String>,
    /// The dataset it concerns.
    pub dataset: Option<String>,
    /// Details as JSON.
    pub details: serde_json::Value,
}

/// Events of one update, written to the event-log table in batches.
#[derive(Debug)]
pub struct EventLog {
    uri: String,
    options: HashMap<String, String>,
    pipeline: String,
    update_id: String,
    pending: Vec<Event>,
    written: Vec<Event>,
}

/// The event table's schema.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("level", DataType::Utf8, true),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("origin", DataType::Struct(origin_fields()), true),
        Field::new("message", DataType::Utf8, true),
        Field::new("details", DataType::Utf8, true),
    ]))
}

fn origin_fields() -> Fields {
    Fields::from(vec![
        Field::new("pipeline_name", DataType::Utf8, true),
        Field::new("update_id", DataType::Utf8, true),
        Field::new("flow_name", DataType::Utf8, true),
        Field::new("dataset_name", DataType::Utf8, true),
    ])
}

impl EventLog {
    /// The event log at `uri` for one update of `pipeline`.
    pub fn new(
        uri: &str,
        options: HashMap<String, String>,
        pipeline: &str,
        update_id: &str,
    ) -> Self {
        Self {
            uri: uri.to_string(),
            options,
            pipeline: pipeline.to_string(),
            update_id: update_id.to_string(),
            pending: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Records an event (written by the next [`EventLog::flush`]).
    pub fn emit(
        &mut self,
        level: &'static str,
        event_type: &'static str,
        message: impl Into<String>,
        flow: Option<&str>,
        dataset: Option<&str>,
        details: serde_json::Value,
    ) {
        let message = message.into();
        match level {
            "ERROR" => tracing::error!(event_type, flow, dataset, "{message}"),
            "WARN" => tracing::warn!(event_type, flow, dataset, "{message}"),
            _ => tracing::info!(event_type, flow, dataset, "{message}"),
        }
        self.pending.push(Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
            level,
            event_type,
            message,
            flow: flow.map(str::to_string),
            dataset: dataset.map(str::to_string),
            details,
        });
    }

    /// Events of this update so far (written or not).
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.written.iter().chain(&self.pending)
    }

    /// Appends the pending events to the table (one commit).
    pub async fn flush(&mut self) -> PipelineResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.batch()?;
        let snapshot = tables::ensure(&self.uri, &self.options, &schema(), None).await?;
        let mut last = None;
        // A concurrent update's events may land first: appends never
        // conflict logically, so a retry suffices.
        for _ in 0..5 {
            let snapshot = match &last {
                None => snapshot.clone(),
                Some(()) => tables::load(&self.uri, &self.options)
                    .await?
                    .unwrap_or_else(|| snapshot.clone()),
            };
            match silt_parquet::append(&snapshot, vec![batch.clone()], WriteOptions::default())
                .await
            {
                Ok(_) => {
                    self.written.append(&mut self.pending);
                    return Ok(());
                }
                Err(e) if e.is_retryable() => last = Some(()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(
            silt_parquet::append(&snapshot, vec![batch], WriteOptions::default())
                .await
                .err()
                .map(Into::into)
                .unwrap_or_else(|| {
                    crate::error::PipelineError::flow("event log", "append kept conflicting")
                }),
        )
    }

    fn batch(&self) -> PipelineResult<RecordBatch> {
        let mut id = StringBuilder::new();
        let mut ts = TimestampMicrosecondBuilder::new();
        let mut level = StringBuilder::new();
        let mut kind = StringBuilder::new();
        let mut message = StringBuilder::new();
        let mut details = StringBuilder::new();
        let (mut pipeline, mut update, mut flow, mut dataset) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        for e in &self.pending {
            id.append_value(&e.id);
            ts.append_value(e.timestamp_ms * 1000);
            level.append_value(e.level);
            kind.append_value(e.event_type);
            message.append_value(&e.message);
            details.append_value(e.details.to_string());
            pipeline.append_value(&self.pipeline);
            update.append_value(&self.update_id);
            flow.append_option(e.flow.as_deref());
            dataset.append_option(e.dataset.as_deref());
        }
        let origin: Vec<ArrayRef> = vec![
            Arc::new(pipeline.finish()),
            Arc::new(update.finish()),
            Arc::new(flow.finish()),
            Arc::new(dataset.finish()),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(ts.finish().with_timezone("UTC")),
            Arc::new(level.finish()),
            Arc::new(kind.finish()),
            Arc::new(StructArray::new(origin_fields(), origin, None)),
            Arc::new(message.finish()),
            Arc::new(details.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
            .map_err(|e| crate::error::PipelineError::flow("event log", e.to_string()))
    }
}
