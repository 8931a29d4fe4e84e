//! Expectations applied to a batch: each condition evaluated per row by
//! DataFusion (NULL counts as a violation), violations counted, rows
//! dropped for `DROP ROW`, and the batch refused with its first offending
//! record for `FAIL UPDATE`.

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use serde::Serialize;
use silt_sql::SiltSession;

use crate::definition::{ExpectAction, Expectation};
use crate::error::{PipelineError, PipelineResult};

/// Counts of one expectation over a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectationCount {
    /// The dataset declaring it.
    pub dataset: String,
    /// Its name.
    pub name: String,
    /// warn / drop / fail.
    pub action: &'static str,
    /// Rows satisfying it.
    pub passed_records: u64,
    /// Rows violating it.
    pub failed_records: u64,
}

/// A query's rows after the expectations.
pub struct Checked {
    /// The schema (the query's).
    pub schema: SchemaRef,
    /// The rows kept.
    pub batches: Vec<RecordBatch>,
    /// Per expectation.
    pub counts: Vec<ExpectationCount>,
    /// Rows the query produced.
    pub rows_in: u64,
}

const FLAG: &str = "__silt_expect_";

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs `sql` in `session` and applies `expectations` of `dataset`.
pub async fn run_checked(
    session: &SiltSession,
    sql: &str,
    expectations: &[Expectation],
    dataset: &str,
    flow: &str,
) -> PipelineResult<Checked> {
    let ctx = session.context();
    if expectations.is_empty() {
        let df = ctx.sql(sql).await.map_err(silt_sql::SqlError::from)?;
        let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(silt_sql::SqlError::from)?;
        let rows_in = batches.iter().map(|b| b.num_rows() as u64).sum();
        return Ok(Checked {
            schema,
            batches,
            counts: Vec::new(),
            rows_in,
        });
    }
    let base = ctx.sql(sql).await.map_err(silt_sql::SqlError::from)?;
    let schema: SchemaRef = std::sync::Arc::new(base.schema().as_arrow().clone());
    let columns: Vec<String> = schema.fields().iter().map(|f| quote(f.name())).collect();
    let flags: Vec<String> = expectations
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "coalesce(CAST(({}) AS BOOLEAN), false) AS {FLAG}{i}",
                e.condition
            )
        })
        .collect();
    let wrapped = format!(
        "SELECT {}, {} FROM ({sql}) AS __silt_expect_input",
        columns.join(", "),
        flags.join(", ")
    );
    let df = ctx
        .sql(&wrapped)
        .await
        .map_err(|e| PipelineError::Analysis {
            at: expectations[0].at.clone(),
            message: format!("expectations of {dataset}: {e}"),
        })?;
    let batches = df.collect().await.map_err(silt_sql::SqlError::from)?;
    let n = schema.fields().len();
    let mut counts: Vec<ExpectationCount> = expectations
        .iter()
        .map(|e| ExpectationCount {
            dataset: dataset.to_string(),
            name: e.name.clone(),
            action: e.action.label(),
            passed_records: 0,
            failed_records: 0,
        })
        .collect();
    let mut kept = Vec::with_capacity(batches.len());
    let mut rows_in = 0u64;
    for batch in &batches {
        rows_in += batch.num_rows() as u64;
        let mut keep = vec![true; batch.num_rows()];
        for (i, e) in expectations.iter().enumerate() {
            let Some(flag) = batch.column(n + i).as_any().downcast_ref::<BooleanArray>() else {
                return Err(PipelineError::flow(
                    flow,
                    format!("expectation {} is not a boolean", e.name),
                ));
            };
            let passed = flag.true_count() as u64;
            counts[i].passed_records += passed;
            counts[i].failed_records += batch.num_rows() as u64 - passed;
            match e.action {
                ExpectAction::Warn => {}
                ExpectAction::Drop => {
                    for (r, k) in keep.iter_mut().enumerate() {
                        *k &= flag.value(r);
                    }
                }
                ExpectAction::Fail if passed < batch.num_rows() as u64 => {
                    let row = (0..flag.len()).find(|&r| !flag.value(r)).unwrap_or(0);
                    let data = batch
                        .project(&(0..n).collect::<Vec<_>>())
                        .map_err(|e| PipelineError::flow(flow, e.to_string()))?;
                    return Err(PipelineError::ExpectationFailed {
                        flow: flow.to_string(),
                        dataset: dataset.to_string(),
                        expectation: e.name.clone(),
                        failed: counts[i].failed_records,
                        record: record_json(&data.slice(row, 1)),
                    });
                }
                ExpectAction::Fail => {}
            }
        }
        let data = batch
            .project(&(0..n).collect::<Vec<_>>())
            .map_err(|e| PipelineError::flow(flow, e.to_string()))?;
        let mask = BooleanArray::from(keep);
        let filtered = arrow_select::filter::filter_record_batch(&data, &mask)
            .map_err(|e| PipelineError::flow(flow, e.to_string()))?;
        if filtered.num_rows() > 0 {
            kept.push(filtered);
        }
    }
    Ok(Checked {
        schema,
        batches: kept,
        counts,
        rows_in,
    })
}

/// One row as a JSON object.
fn record_json(batch: &RecordBatch) -> String {
    let mut buf = Vec::new();
    {
        let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
        if w.write(batch).is_err() || w.finish().is_err() {
            return format!("{batch:?}");
        }
    }
    String::from_utf8_lossy(&buf).trim().to_string()
}
