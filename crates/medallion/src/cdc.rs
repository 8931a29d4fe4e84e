//! AUTO CDC: a change feed applied to a streaming table by key, ordered
//! by the `SEQUENCE BY` column so changes may arrive in any order.
//! SCD type 1 keeps the newest version of each key (a MERGE guarded by
//! the sequence, deletes by `APPLY AS DELETE WHEN`, a truncate by `APPLY
//! AS TRUNCATE WHEN`); SCD type 2 keeps every version with `__START_AT` /
//! `__END_AT`, recomputing the history of the keys a batch touches so
//! late changes land in the right place. Either way one MERGE commits the
//! changes with the flow's progress.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use silt_log::CommitStamp;
use silt_sql::SiltSession;

use crate::definition::{AutoCdc, ScdType};
use crate::error::{PipelineError, PipelineResult};
use crate::expectations::Checked;
use crate::pipeline::{Pipeline, PlannedFlow};
use crate::progress::app_id;
use crate::session_rows::{register_rows, register_table};
use crate::{tables, tombstones};

/// The SCD type 2 validity columns.
pub const START_AT: &str = "__START_AT";
/// See [`START_AT`].
pub const END_AT: &str = "__END_AT";

/// What applying a batch of changes did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The commit: `Ok(version)`, or `Err(())` when another process had
    /// committed this batch.
    pub version: Result<u64, ()>,
    /// Rows inserted, updated or deleted in the target.
    pub rows_changed: u64,
    /// MERGE metrics and change counts.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Post-commit work that failed after an append commit (a MERGE's
    /// commit reports it through `tracing` only).
    pub post_commit_error: Option<silt_log::PostCommitError>,
}

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `a.k = b.k AND …` over the key columns.
fn keys_equal(keys: &[String], a: &str, b: &str) -> String {
    keys.iter()
        .map(|k| format!("{a}.{k} = {b}.{k}", k = q(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn sql_err(flow: &str, what: &str, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::flow(flow, format!("{what}: {e}"))
}

async fn collect(
    session: &SiltSession,
    sql: &str,
    flow: &str,
    what: &str,
) -> PipelineResult<(SchemaRef, Vec<RecordBatch>)> {
    let df = session
        .context()
        .sql(sql)
        .await
        .map_err(|e| sql_err(flow, what, e))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|e| sql_err(flow, what, e))?;
    Ok((schema, batches))
}

/// Applies `changes` (the new rows of the source stream) to the target.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    p: &Pipeline,
    flow: &PlannedFlow,
    spec: &AutoCdc,
    session: &SiltSession,
    changes: Checked,
    target: Option<silt_log::Snapshot>,
    uri: &str,
    mut stamp: CommitStamp,
) -> PipelineResult<Applied> {
    let f = flow.name.as_str();
    let source_columns: Vec<String> = changes
        .schema
        .fields()
        .iter()
        .map(|c| c.name().clone())
        .collect();
    let find = |c: &str| {
        source_columns
            .iter()
            .find(|s| s.eq_ignore_ascii_case(c))
            .cloned()
    };
    let mut keys = Vec::new();
    for k in &spec.keys {
        keys.push(find(k).ok_or_else(|| PipelineError::Analysis {
            at: flow.at.clone(),
            message: format!(
                "KEYS column {k} is not a column of {} ({})",
                spec.source,
                source_columns.join(", ")
            ),
        })?);
    }
    let seq = find(&spec.sequence_by).ok_or_else(|| PipelineError::Analysis {
        at: flow.at.clone(),
        message: format!(
            "SEQUENCE BY column {} is not a column of {}",
            spec.sequence_by, spec.source
        ),
    })?;
    let mut stored = spec
        .columns
        .select(source_columns.iter().map(String::as_str));
    for c in keys.iter().chain(std::iter::once(&seq)) {
        if !stored.contains(c) {
            stored.push(c.clone());
        }
    }
    stored.sort_by_key(|c| source_columns.iter().position(|s| s == c));
    // Changes without a sequence value cannot be ordered.
    let null_seq: u64 = match changes.schema.index_of(&seq) {
        Ok(i) => changes
            .batches
            .iter()
            .map(|b| b.column(i).null_count() as u64)
            .sum(),
        Err(_) => 0,
    };
    register_rows(
        session,
        "__silt_changes",
        changes.schema.clone(),
        changes.batches,
    )?;
    if null_seq > 0 {
        return Err(PipelineError::Source {
            flow: f.to_string(),
            source_name: spec.source.to_string(),
            message: format!(
                "{null_seq} change row(s) have a NULL {seq} (SEQUENCE BY column): a change needs a sequence value"
            ),
            retryable: false,
        });
    }
    let dataset = p.datasets.get(&flow.target);
    let deleted = spec.delete_when.clone().unwrap_or_else(|| "false".into());
    let mut details = serde_json::Map::new();
    details.insert("changes".into(), changes.rows_in.into());
    let merge = match spec.scd {
        ScdType::Type1 => {
            // A truncate wipes the table: only changes after the newest
            // truncate survive it — of this batch, and of earlier batches
            // (their watermark is kept in a domain of the target, so a late
            // change sequenced before a truncate stays wiped).
            let trunc_domain = tombstones::truncation_domain_name(&p.name, &flow.name);
            let seq_field = changes
                .schema
                .field_with_name(&seq)
                .map_err(|e| PipelineError::flow(f, e.to_string()))?
                .clone()
                .with_nullable(true);
            let trunc_schema = Arc::new(Schema::new(vec![seq_field]));
            let old_watermark = tombstones::read(target.as_ref(), &trunc_domain, &trunc_schema, f)?;
            let mut conditions: Vec<String> = Vec::new();
            if !old_watermark.is_empty() {
                register_rows(
                    session,
                    "__silt_truncated",
                    trunc_schema.clone(),
                    old_watermark.clone(),
                )?;
                conditions.push(format!(
                    "{seq} > (SELECT max({seq}) FROM __silt_truncated)",
                    seq = q(&seq)
                ));
            }
            let (truncate, new_watermark) = match &spec.truncate_when {
                None => (false, None),
                Some(cond) => {
                    let is_truncate = format!("coalesce(CAST(({cond}) AS BOOLEAN), false)");
                    let (_, b) = collect(
                        session,
                        &format!("SELECT count(*) FROM __silt_changes WHERE {is_truncate}"),
                        f,
                        "looking for truncates",
                    )
                    .await?;
                    let any = b
                        .first()
                        .and_then(|b| {
                            b.column(0)
                                .as_any()
                                .downcast_ref::<arrow_array::Int64Array>()
                                .map(|a| a.value(0) > 0)
                        })
                        .unwrap_or(false);
                    let mut watermark = None;
                    if any {
                        let batch_max = format!(
                            "(SELECT max({seq}) FROM __silt_changes WHERE {is_truncate})",
                            seq = q(&seq)
                        );
                        conditions.push(format!("{} > {batch_max}", q(&seq)));
                        let older = if old_watermark.is_empty() {
                            String::new()
                        } else {
                            format!(" UNION ALL SELECT {} FROM __silt_truncated", q(&seq))
                        };
                        let (_, rows) = collect(
                            session,
                            &format!(
                                "SELECT max({seq}) AS {seq} FROM (SELECT {seq} FROM __silt_changes WHERE {is_truncate}{older})",
                                seq = q(&seq)
                            ),
                            f,
                            "recording the truncate",
                        )
                        .await?;
                        watermark = Some(rows);
                    }
                    (any, watermark)
                }
            };
            let after_truncate = if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            };
            // The newest change per key (the sequence decides; the first
            // of a tie), by silt's own one-pass hash over the rows: a
            // window function would sort the whole batch.
            let flagged_sql = format!(
                "SELECT {cols}, coalesce(CAST(({deleted}) AS BOOLEAN), false) AS __silt_delete \
                 FROM __silt_changes {after_truncate}",
                cols = stored.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
            );
            let (schema, flagged) = collect(session, &flagged_sql, f, "flagging deletes").await?;
            let position = |c: &str| {
                schema
                    .index_of(c)
                    .map_err(|e| PipelineError::flow(f, e.to_string()))
            };
            let key_positions = keys
                .iter()
                .map(|k| position(k))
                .collect::<PipelineResult<Vec<_>>>()?;
            let latest: Vec<RecordBatch> =
                crate::newest::newest_per_key(&schema, &flagged, &key_positions, position(&seq)?)
                    .map_err(|e| {
                    PipelineError::flow(f, format!("choosing the newest change per key: {e}"))
                })?;
            // Tombstones: a change no newer than a recorded delete of its
            // key is dropped; this batch's deletes are recorded.
            let tomb_domain = tombstones::domain_name(&p.name, &flow.name);
            let tomb_schema = tombstones::schema(&schema, &keys, &seq)?;
            let old_tombs = tombstones::read(target.as_ref(), &tomb_domain, &tomb_schema, f)?;
            let latest = if old_tombs.is_empty() {
                latest
            } else {
                register_rows(session, "__silt_latest_all", schema.clone(), latest)?;
                register_rows(
                    session,
                    "__silt_tombstones",
                    tomb_schema.clone(),
                    old_tombs.clone(),
                )?;
                let (_, kept) = collect(
                    session,
                    &format!(
                        "SELECT s.* FROM __silt_latest_all s LEFT ANTI JOIN __silt_tombstones d                          ON {on} AND d.{seq} >= s.{seq}",
                        on = keys_equal(&keys, "d", "s"),
                        seq = q(&seq)
                    ),
                    f,
                    "dropping changes older than recorded deletes",
                )
                .await?;
                kept
            };
            let record_deletes = spec.delete_when.is_some() || !old_tombs.is_empty();
            details.insert(
                "latest_per_key".into(),
                latest
                    .iter()
                    .map(|b| b.num_rows() as u64)
                    .sum::<u64>()
                    .into(),
            );
            let table_schema = Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .filter(|f| !f.name().starts_with("__silt_"))
                    .cloned()
                    .collect::<Vec<_>>(),
            ));
            let snapshot = match target {
                Some(s) => s,
                None => tables::ensure(uri, &p.storage_options, &table_schema, dataset).await?,
            };
            register_rows(session, "__silt_latest", schema, latest)?;
            if let Some(rows) = new_watermark {
                let rows: Vec<RecordBatch> = rows
                    .into_iter()
                    .map(|b| {
                        RecordBatch::try_new(trunc_schema.clone(), b.columns().to_vec()).map_err(
                            |e| PipelineError::flow(f, format!("recording the truncate: {e}")),
                        )
                    })
                    .collect::<PipelineResult<_>>()?;
                if let Some(d) = tombstones::to_domain(&rows, &trunc_domain, Some(&snapshot), f)? {
                    stamp.domains.push(d);
                }
            }
            if record_deletes {
                if old_tombs.is_empty() {
                    register_rows(
                        session,
                        "__silt_tombstones",
                        tomb_schema.clone(),
                        Vec::new(),
                    )?;
                }
                let cutoff = tombstones::cutoff_ms(dataset.map(|d| &d.properties), f)?;
                // This batch's deletes (after the filter above), and the
                // recorded ones no newer change superseded.
                let sql = format!(
                    "SELECT {cols}, CAST({now} AS BIGINT) AS {at} FROM __silt_latest s \
                     WHERE s.__silt_delete \
                     UNION ALL SELECT d.* FROM __silt_tombstones d LEFT ANTI JOIN __silt_latest s \
                     ON {on} AND s.{seq} > d.{seq} WHERE d.{at} >= {cutoff}",
                    cols = tombstone_columns(&tomb_schema, "s."),
                    now = chrono::Utc::now().timestamp_millis(),
                    at = q(tombstones::DELETED_AT),
                    on = keys_equal(&keys, "d", "s"),
                    seq = q(&seq),
                );
                record_tombstones(
                    session,
                    &sql,
                    &tomb_domain,
                    &snapshot,
                    f,
                    &mut details,
                    &mut stamp,
                )
                .await?;
            }
            let on = keys_equal(&keys, "t", "s");
            // No MERGE is needed when a change can only insert: into a
            // table with no rows, or when the sequence is one of the keys
            // (equal on both sides of a match, so never newer: only the
            // keys the table lacks are inserted).
            let seq_in_key = keys.contains(&seq);
            let empty = snapshot.files().is_empty();
            if same_columns(&snapshot, &table_schema) && (empty || (seq_in_key && !truncate)) {
                let cols = table_schema
                    .fields()
                    .iter()
                    .map(|c| format!("s.{}", q(c.name())))
                    .collect::<Vec<_>>()
                    .join(", ");
                let (sql, mode) = if empty {
                    (
                        format!("SELECT {cols} FROM __silt_latest s WHERE NOT s.__silt_delete"),
                        tables::CommitMode::Append,
                    )
                } else {
                    let target = silt_sql::DeltaTable::new(snapshot.clone(), true)
                        .map_err(silt_sql::SqlError::from)?;
                    register_table(session, "__silt_target", Arc::new(target))?;
                    (
                        format!(
                            "SELECT {cols} FROM __silt_latest s LEFT ANTI JOIN __silt_target t \
                             ON {on} WHERE NOT s.__silt_delete"
                        ),
                        tables::CommitMode::AppendAfterReading,
                    )
                };
                let (_, rows) = collect(session, &sql, f, "choosing the rows to insert").await?;
                return append_changes(snapshot, f, uri, rows, stamp, details, mode).await;
            }
            let newer = if truncate {
                "true".to_string()
            } else {
                format!("s.{s} > t.{s}", s = q(&seq))
            };
            let sets = stored
                .iter()
                .filter(|c| !keys.contains(c))
                .map(|c| {
                    if spec.ignore_null_updates {
                        format!("{c} = coalesce(s.{c}, t.{c})", c = q(c))
                    } else {
                        format!("{c} = s.{c}", c = q(c))
                    }
                })
                .collect::<Vec<_>>();
            let cols = stored.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            let values = stored
                .iter()
                .map(|c| format!("s.{}", q(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let mut sql = format!(
                "MERGE INTO delta.'{uri}' AS t USING __silt_latest AS s ON {on} ",
                uri = snapshot.location().replace('\'', "''"),
            );
            if truncate || !seq_in_key {
                sql.push_str(&format!(
                    "WHEN MATCHED AND s.__silt_delete AND {newer} THEN DELETE "
                ));
                if !sets.is_empty() {
                    sql.push_str(&format!(
                        "WHEN MATCHED AND NOT s.__silt_delete AND {newer} THEN UPDATE SET {} ",
                        sets.join(", ")
                    ));
                }
            }
            sql.push_str(&format!(
                "WHEN NOT MATCHED AND NOT s.__silt_delete THEN INSERT ({cols}) VALUES ({values})"
            ));
            if truncate {
                sql.push_str(" WHEN NOT MATCHED BY SOURCE THEN DELETE");
            }
            sql
        }
        ScdType::Type2 => {
            let tracked: Vec<String> = spec
                .track_history
                .select(stored.iter().map(String::as_str))
                .into_iter()
                .filter(|c| !keys.contains(c) && *c != seq)
                .collect();
            let seq_type = changes
                .schema
                .field_with_name(&seq)
                .map(|f| f.data_type().clone())
                .map_err(|e| PipelineError::flow(f, e.to_string()))?;
            let mut fields: Vec<Field> = stored
                .iter()
                .filter_map(|c| changes.schema.field_with_name(c).ok().cloned())
                .collect();
            fields.push(Field::new(START_AT, seq_type.clone(), true));
            fields.push(Field::new(END_AT, seq_type, true));
            let table_schema = Arc::new(Schema::new(fields));
            let snapshot = match target {
                Some(s) => s,
                None => tables::ensure(uri, &p.storage_options, &table_schema, dataset).await?,
            };
            let history = silt_sql::DeltaTable::new(snapshot.clone(), false)
                .map_err(silt_sql::SqlError::from)?;
            register_table(session, "__silt_history", Arc::new(history))?;
            let cols = stored.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            let hcols = stored
                .iter()
                .map(|c| format!("h.{}", q(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let keys_sql = keys.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            let join = |a: &str, b: &str| keys_equal(&keys, a, b);
            let same = if tracked.is_empty() {
                "true".to_string()
            } else {
                tracked
                    .iter()
                    .map(|c| format!("({c} IS NOT DISTINCT FROM (LAG({c}) OVER (PARTITION BY {keys_sql} ORDER BY __seq)))", c = q(c)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            // Deletes recorded in earlier batches (which may have left no
            // row behind) take part in the history as delete events.
            let tomb_domain = tombstones::domain_name(&p.name, &flow.name);
            let tomb_schema = tombstones::schema(&changes.schema, &keys, &seq)?;
            let old_tombs = tombstones::read(Some(&snapshot), &tomb_domain, &tomb_schema, f)?;
            let record_deletes = spec.delete_when.is_some() || !old_tombs.is_empty();
            register_rows(session, "__silt_tombstones", tomb_schema.clone(), old_tombs)?;
            let tomb_cols = stored
                .iter()
                .map(|c| {
                    if keys.contains(c) || *c == seq {
                        format!("d.{}", q(c))
                    } else {
                        format!("NULL AS {}", q(c))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            // Columns outside TRACK HISTORY open no new version: a change
            // to them alone updates the version in place, so a version
            // carries the newest values of its run of events.
            let untracked: Vec<&String> = stored
                .iter()
                .filter(|c| !keys.contains(c) && **c != seq && !tracked.contains(c))
                .collect();
            let kept = if untracked.is_empty() {
                "kept AS (SELECT * FROM marked WHERE NOT __same),".to_string()
            } else {
                let filled = stored
                    .iter()
                    .map(|c| {
                        if untracked.contains(&c) {
                            format!(
                                "LAST_VALUE({c}) OVER (PARTITION BY {keys_sql}, __grp ORDER BY __seq \
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS {c}",
                                c = q(c)
                            )
                        } else {
                            q(c)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "grouped AS (SELECT *, SUM(CASE WHEN __same THEN 0 ELSE 1 END) OVER (PARTITION BY {keys_sql} \
                     ORDER BY __seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __grp FROM marked), \
                     filled AS (SELECT {filled}, __seq, __del, __same FROM grouped), \
                     kept AS (SELECT * FROM filled WHERE NOT __same),"
                )
            };
            let new_history = format!(
                "WITH new_events AS (SELECT {cols}, {seq} AS __seq, coalesce(CAST(({deleted}) AS BOOLEAN), false) AS __del FROM __silt_changes \
                   UNION ALL SELECT {tomb_cols}, d.{seq} AS __seq, true AS __del FROM __silt_tombstones d \
                   JOIN (SELECT DISTINCT {keys_sql} FROM __silt_changes) c ON {dc}), \
                 touched AS (SELECT DISTINCT {keys_sql} FROM new_events), \
                 hist AS (SELECT h.* FROM __silt_history h JOIN touched k ON {hk}), \
                 old_deletes AS (SELECT {hcols}, h.{end} AS __seq, true AS __del FROM hist h LEFT JOIN hist h2 ON {hh2} AND h2.{start} = h.{end} WHERE h.{end} IS NOT NULL AND h2.{start} IS NULL), \
                 events AS (SELECT {hcols}, h.{start} AS __seq, false AS __del FROM hist h UNION ALL SELECT * FROM old_deletes UNION ALL SELECT * FROM new_events), \
                 ranked AS (SELECT *, row_number() OVER (PARTITION BY {keys_sql}, __seq ORDER BY __del DESC) AS __rn FROM events), \
                 ev AS (SELECT * FROM ranked WHERE __rn = 1), \
                 marked AS (SELECT *, ((NOT __del) AND coalesce((LAG(__del) OVER (PARTITION BY {keys_sql} ORDER BY __seq)) = false, false) AND {same}) AS __same FROM ev), \
                 {kept} \
                 versions AS (SELECT {cols}, __seq AS {start}, LEAD(__seq) OVER (PARTITION BY {keys_sql} ORDER BY __seq) AS {end}, __del FROM kept) \
                 SELECT {cols}, {start}, {end} FROM versions WHERE NOT __del",
                seq = q(&seq),
                dc = join("d", "c"),
                hk = join("h", "k"),
                hh2 = join("h", "h2"),
                start = q(START_AT),
                end = q(END_AT),
            );
            let (schema, rows) = collect(
                session,
                &new_history,
                f,
                "recomputing the history of the changed keys",
            )
            .await?;
            details.insert(
                "history_rows".into(),
                rows.iter().map(|b| b.num_rows() as u64).sum::<u64>().into(),
            );
            register_rows(session, "__silt_new_history", schema, rows)?;
            if record_deletes {
                let cutoff = tombstones::cutoff_ms(dataset.map(|d| &d.properties), f)?;
                // Every delete of this batch (SCD2 keeps each one: a late
                // change between two deletes needs both), and the recorded
                // ones within the retention.
                let sql = format!(
                    "SELECT {k}, max({at}) AS {at} FROM ( \
                       SELECT {k}, CAST({now} AS BIGINT) AS {at} FROM __silt_changes \
                       WHERE coalesce(CAST(({deleted}) AS BOOLEAN), false) \
                       UNION ALL SELECT * FROM __silt_tombstones WHERE {at} >= {cutoff}) \
                     GROUP BY {k}",
                    k = tombstone_columns(&tomb_schema, ""),
                    now = chrono::Utc::now().timestamp_millis(),
                    at = q(tombstones::DELETED_AT),
                );
                record_tombstones(
                    session,
                    &sql,
                    &tomb_domain,
                    &snapshot,
                    f,
                    &mut details,
                    &mut stamp,
                )
                .await?;
            }
            let source = format!(
                "SELECT {cols}, {start}, {end}, 'upsert' AS __silt_op FROM __silt_new_history \
                 UNION ALL SELECT {hcols}, h.{start}, h.{end}, 'delete' AS __silt_op FROM __silt_history h \
                 JOIN (SELECT DISTINCT {keys_sql} FROM __silt_changes) k ON {hk} \
                 LEFT JOIN __silt_new_history n ON {hn} AND n.{start} = h.{start} WHERE n.{start} IS NULL",
                start = q(START_AT),
                end = q(END_AT),
                hk = join("h", "k"),
                hn = join("h", "n"),
            );
            let (schema, rows) =
                collect(session, &source, f, "planning the history changes").await?;
            register_rows(session, "__silt_scd2", schema, rows)?;
            let all: Vec<String> = stored
                .iter()
                .cloned()
                .chain([START_AT.to_string(), END_AT.to_string()])
                .collect();
            let differs = all
                .iter()
                .map(|c| format!("(t.{c} IS DISTINCT FROM s.{c})", c = q(c)))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sets = all
                .iter()
                .map(|c| format!("{c} = s.{c}", c = q(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let cols_all = all.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            let values = all
                .iter()
                .map(|c| format!("s.{}", q(c)))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "MERGE INTO delta.'{uri}' AS t USING __silt_scd2 AS s ON {on} AND t.{start} = s.{start} \
                 WHEN MATCHED AND s.__silt_op = 'delete' THEN DELETE \
                 WHEN MATCHED AND ({differs}) THEN UPDATE SET {sets} \
                 WHEN NOT MATCHED AND s.__silt_op = 'upsert' THEN INSERT ({cols_all}) VALUES ({values})",
                uri = snapshot.location().replace('\'', "''"),
                on = join("t", "s"),
                start = q(START_AT),
            )
        }
    };
    session.set_commit_stamp(Some(stamp.clone()));
    let result = session.run(&merge).await;
    session.set_commit_stamp(None);
    let metrics = result?;
    let mut changed = 0u64;
    if let Some(b) = metrics.first() {
        for (i, field) in b.schema().fields().iter().enumerate() {
            if let Some(a) = b
                .column(i)
                .as_any()
                .downcast_ref::<arrow_array::UInt64Array>()
                && !a.is_empty()
            {
                details.insert(field.name().clone(), a.value(0).into());
            } else if let Some(a) = b
                .column(i)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                && !a.is_empty()
            {
                details.insert(field.name().clone(), a.value(0).into());
            }
        }
        changed = ["num_inserted_rows", "num_updated_rows", "num_deleted_rows"]
            .iter()
            .filter_map(|k| details.get(*k).and_then(|v| v.as_u64()))
            .sum();
    }
    // The MERGE committed the stamp, or found the batch applied already.
    let after = tables::load(uri, &p.storage_options)
        .await?
        .ok_or_else(|| PipelineError::flow(f, "the target vanished after MERGE"))?;
    let app = app_id(&p.name, &flow.name);
    let (_, batch) = stamp.app_transaction.clone().unwrap_or_default();
    let ours =
        after.txn_version(&app).is_some_and(|v| v >= batch) && changed_or_committed(&after, &stamp);
    Ok(Applied {
        version: if ours { Ok(after.version()) } else { Err(()) },
        rows_changed: changed,
        details,
        post_commit_error: None,
    })
}

/// The key and sequence columns of tombstone rows, quoted, each after
/// `prefix` (`s.`, or nothing).
fn tombstone_columns(tomb_schema: &Schema, prefix: &str) -> String {
    tomb_schema
        .fields()
        .iter()
        .filter(|c| c.name() != tombstones::DELETED_AT)
        .map(|c| format!("{prefix}{}", q(c.name())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `sql` (the tombstones after this batch) and puts their domain in
/// the batch's commit.
async fn record_tombstones(
    session: &SiltSession,
    sql: &str,
    domain: &str,
    snapshot: &silt_log::Snapshot,
    flow: &str,
    details: &mut serde_json::Map<String, serde_json::Value>,
    stamp: &mut CommitStamp,
) -> PipelineResult<()> {
    let (_, rows) = collect(session, sql, flow, "recording deletes").await?;
    let count: u64 = rows.iter().map(|b| b.num_rows() as u64).sum();
    details.insert("tombstones".into(), count.into());
    if let Some(d) = tombstones::to_domain(&rows, domain, Some(snapshot), flow)? {
        stamp.domains.push(d);
    }
    Ok(())
}

/// Whether `snapshot`'s columns are `schema`'s, in order.
fn same_columns(snapshot: &silt_log::Snapshot, schema: &Schema) -> bool {
    let table = &snapshot.metadata().schema().fields;
    table.len() == schema.fields().len()
        && table
            .iter()
            .zip(schema.fields())
            .all(|(t, f)| t.name == *f.name())
}

/// Appends `rows` (the table's columns) with the stamp: AUTO CDC's inserts
/// when no MERGE is needed.
async fn append_changes(
    snapshot: silt_log::Snapshot,
    flow: &str,
    uri: &str,
    rows: Vec<RecordBatch>,
    stamp: CommitStamp,
    mut details: serde_json::Map<String, serde_json::Value>,
    mode: tables::CommitMode,
) -> PipelineResult<Applied> {
    let inserted: u64 = rows.iter().map(|b| b.num_rows() as u64).sum();
    let outcome = tables::commit_rows(snapshot, flow, rows, stamp, mode).await?;
    for (k, v) in [
        ("num_affected_rows", inserted),
        ("num_inserted_rows", inserted),
        ("num_updated_rows", 0),
        ("num_deleted_rows", 0),
    ] {
        details.insert(k.into(), v.into());
    }
    let mut post_commit_error = None;
    let version = match outcome {
        silt_log::CommitOutcome::Committed(c) => {
            post_commit_error = c.post_commit_error;
            Ok(c.version)
        }
        silt_log::CommitOutcome::AlreadyApplied { .. } => Err(()),
        silt_log::CommitOutcome::Conflict(conflict) => {
            return Err(PipelineError::Log(silt_log::LogError::Conflict {
                table: uri.to_string(),
                conflict,
            }));
        }
    };
    Ok(Applied {
        version,
        rows_changed: inserted,
        details,
        post_commit_error,
    })
}

/// Whether the table's progress domain is the one `stamp` wrote.
fn changed_or_committed(after: &silt_log::Snapshot, stamp: &CommitStamp) -> bool {
    stamp.domains.iter().all(|d| {
        after
            .domains()
            .get(&d.domain)
            .is_some_and(|now| now.configuration == d.configuration)
    })
}
