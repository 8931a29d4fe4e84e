//! AUTO CDC tombstones: the keys a flow deleted recently, with the
//! sequence of their delete, so a change older than a delete that arrives
//! in a later batch does not bring the key back. They live in a domain of
//! the target table, written in the same commit as the changes (so they
//! are exactly as durable as the deletes), and are forgotten after a
//! retention (`pipelines.cdc.tombstoneGCThresholdInSeconds` on the target,
//! 2 days by default).

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use silt_log::Snapshot;
use silt_log::actions::DomainMetadata;

use crate::error::{PipelineError, PipelineResult};

/// The column holding when a tombstone was written (ms since the epoch).
pub const DELETED_AT: &str = "__silt_deleted_ms";

/// The table property setting the retention, in seconds.
pub const RETENTION_PROPERTY: &str = "pipelines.cdc.tombstoneGCThresholdInSeconds";

/// The default retention: 2 days.
pub const DEFAULT_RETENTION_MS: i64 = 2 * 86_400_000;

/// The domain holding flow `flow`'s tombstones of pipeline `pipeline`.
pub fn domain_name(pipeline: &str, flow: &str) -> String {
    format!(
        "{}.tombstones",
        crate::progress::domain_name(pipeline, flow)
    )
}

/// The domain holding the sequence of the newest truncate flow `flow` of
/// pipeline `pipeline` applied (`APPLY AS TRUNCATE WHEN`): a change no newer
/// than it, arriving in a later batch, is dropped. Kept until a full refresh.
pub fn truncation_domain_name(pipeline: &str, flow: &str) -> String {
    format!("{}.truncated", crate::progress::domain_name(pipeline, flow))
}

/// The schema of tombstone rows: the keys and the sequence (as the change
/// rows have them), then [`DELETED_AT`].
pub fn schema(changes: &Schema, keys: &[String], seq: &str) -> PipelineResult<SchemaRef> {
    let mut fields = Vec::with_capacity(keys.len() + 2);
    for c in keys.iter().map(String::as_str).chain(std::iter::once(seq)) {
        if fields.iter().any(|f: &Field| f.name() == c) {
            continue; // the sequence may be one of the keys
        }
        let f = changes
            .field_with_name(c)
            .map_err(|e| PipelineError::flow("AUTO CDC", e.to_string()))?;
        fields.push(Field::new(c, f.data_type().clone(), true));
    }
    fields.push(Field::new(DELETED_AT, DataType::Int64, false));
    Ok(Arc::new(Schema::new(fields)))
}

/// The tombstones recorded in `snapshot` (none: an empty list).
pub fn read(
    snapshot: Option<&Snapshot>,
    domain: &str,
    schema: &SchemaRef,
    flow: &str,
) -> PipelineResult<Vec<RecordBatch>> {
    let Some(d) = snapshot.and_then(|s| s.domains().get(domain)) else {
        return Ok(Vec::new());
    };
    if d.removed || d.configuration.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = |e: String| {
        PipelineError::flow(
            flow,
            format!("the tombstones in domain {domain} are not readable: {e}"),
        )
    };
    let reader = arrow_json::ReaderBuilder::new(schema.clone())
        .build(Cursor::new(d.configuration.as_bytes()))
        .map_err(|e| bad(e.to_string()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))
}

/// The domain action recording `rows` (JSON lines; an empty list removes
/// the domain), or `None` when nothing was recorded and nothing is.
pub fn to_domain(
    rows: &[RecordBatch],
    domain: &str,
    before: Option<&Snapshot>,
    flow: &str,
) -> PipelineResult<Option<DomainMetadata>> {
    let count: usize = rows.iter().map(RecordBatch::num_rows).sum();
    let existed = before
        .and_then(|s| s.domains().get(domain))
        .is_some_and(|d| !d.removed);
    if count == 0 {
        return Ok(existed.then(|| DomainMetadata {
            domain: domain.to_string(),
            configuration: String::new(),
            removed: true,
        }));
    }
    let mut buf = Vec::new();
    {
        let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
        for b in rows {
            w.write(b)
                .map_err(|e| PipelineError::flow(flow, format!("writing tombstones: {e}")))?;
        }
        w.finish()
            .map_err(|e| PipelineError::flow(flow, format!("writing tombstones: {e}")))?;
    }
    Ok(Some(DomainMetadata {
        domain: domain.to_string(),
        // arrow_json writes UTF-8.
        configuration: String::from_utf8_lossy(&buf).into_owned(),
        removed: false,
    }))
}

/// Tombstones written before this time (ms) are forgotten now: the clock
/// less the retention.
pub fn cutoff_ms(
    properties: Option<&std::collections::BTreeMap<String, String>>,
    flow: &str,
) -> PipelineResult<i64> {
    let retention = retention_ms(properties, flow)?;
    Ok(chrono::Utc::now()
        .timestamp_millis()
        .saturating_sub(retention))
}

/// The retention of the target's tombstones (ms).
pub fn retention_ms(
    properties: Option<&std::collections::BTreeMap<String, String>>,
    flow: &str,
) -> PipelineResult<i64> {
    match properties.and_then(|p| p.get(RETENTION_PROPERTY)) {
        None => Ok(DEFAULT_RETENTION_MS),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .map(|s| s.saturating_mul(1000))
            .ok_or_else(|| {
                PipelineError::flow(
                    flow,
                    format!("{RETENTION_PROPERTY} must be a number of seconds, not {v:?}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    #[test]
    fn tombstones_round_trip_through_their_domain() {
        let changes = Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("seq", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]);
        let s = schema(&changes, &["k".into()], "seq").unwrap();
        assert_eq!(s.fields().len(), 3);
        let rows = RecordBatch::try_new(
            s.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b\"quote"])),
                Arc::new(Int64Array::from(vec![5, 7])),
                Arc::new(Int64Array::from(vec![1000, 2000])),
            ],
        )
        .unwrap();
        let d = to_domain(std::slice::from_ref(&rows), "x", None, "f")
            .unwrap()
            .unwrap();
        assert!(!d.removed);
        let back: Vec<RecordBatch> = arrow_json::ReaderBuilder::new(s.clone())
            .build(Cursor::new(d.configuration.as_bytes()))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![rows]);
        // Nothing recorded and nothing to record: no action.
        assert!(to_domain(&[], "x", None, "f").unwrap().is_none());
        assert_eq!(retention_ms(None, "f").unwrap(), DEFAULT_RETENTION_MS);
        let mut props = std::collections::BTreeMap::new();
        props.insert(RETENTION_PROPERTY.to_string(), "60".to_string());
        assert_eq!(retention_ms(Some(&props), "f").unwrap(), 60_000);
        props.insert(RETENTION_PROPERTY.to_string(), "soon".to_string());
        assert!(retention_ms(Some(&props), "f").is_err());
    }
}
