//! Change data feed: writing `_change_data` files for the rows a commit
//! deletes, and reading the changes between two versions — from `cdc`
//! actions where a commit has them, otherwise from its `add`s (inserts) and
//! data-changing `remove`s (deletes), where a remove and an add of the same
//! file (a deletion-vector update) change only the rows whose DV bit
//! differs — with `_change_type`, `_commit_version` and `_commit_timestamp`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType as ArrowType, Field, TimeUnit};
use silt_log::actions::{Action, Add, Cdc, parse_log_file};
use silt_log::log_path::commit_path;
use silt_log::schema::{DataType, PrimitiveType, StructField, StructType};
use silt_log::{LogError, Snapshot};

use crate::arrow_values::{ColumnMappingMode, append_column};
use crate::error::{ParquetError, ParquetResult};
use crate::scan::Scan;
use crate::write::{WriteOptions, write_data_files};

/// The change-type column.
pub const CHANGE_TYPE: &str = "_change_type";

/// Whether the table records its changes.
pub fn enabled(snapshot: &Snapshot) -> bool {
    snapshot
        .metadata()
        .flag(silt_log::properties::ENABLE_CHANGE_DATA_FEED)
}

fn with_change_type(schema: &StructType) -> StructType {
    let mut s = schema.clone();
    s.fields.push(StructField::new(
        CHANGE_TYPE,
        DataType::Primitive(PrimitiveType::String),
        true,
    ));
    s
}

/// Writes `rows` (table columns) as change-data files of `change_type`;
/// returns their `cdc` actions.
pub async fn write_changes(
    snapshot: &Snapshot,
    rows: Vec<RecordBatch>,
    change_type: &str,
) -> ParquetResult<Vec<Cdc>> {
    let metadata = snapshot.metadata();
    let schema = with_change_type(metadata.schema());
    let mut batches = Vec::with_capacity(rows.len());
    for b in rows {
        let n = b.num_rows();
        let with_type = append_column(
            &b,
            Field::new(CHANGE_TYPE, ArrowType::Utf8, true),
            Arc::new(StringArray::from(vec![change_type; n])),
        )
        .map_err(|e| ParquetError::InvalidData {
            table: snapshot.location().to_string(),
            reason: e.to_string(),
        })?;
        batches.push(with_type);
    }
    let options = WriteOptions {
        directory: "_change_data".into(),
        threads: 1,
        ..Default::default()
    };
    let mode = ColumnMappingMode::from_property(
        metadata.property(silt_log::properties::COLUMN_MAPPING_MODE),
    );
    let (adds, _) = write_data_files(
        snapshot.store().clone(),
        &schema,
        &metadata.partition_columns,
        mode,
        batches.into_iter(),
        &options,
        crate::column_values::RowRules::none(),
    )
    .await?;
    Ok(adds
        .into_iter()
        .map(|a| Cdc {
            path: a.path,
            partition_values: a.partition_values,
            size: a.size,
            data_change: false,
            tags: None,
        })
        .collect())
}

fn as_add(path: silt_log::path::FilePath, pv: HashMap<String, Option<String>>, size: i64) -> Add {
    Add {
        path,
        partition_values: pv,
        size,
        modification_time: 0,
        data_change: false,
        stats: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// The rows a deletion-vector update of one file changes: live before and
/// not after (`delete`), or the other way round (`insert`).
async fn dv_changes(
    snapshot: &Snapshot,
    old: &Add,
    new: &Add,
) -> ParquetResult<Vec<(RecordBatch, &'static str)>> {
    let scan = Scan::of_files(snapshot, snapshot.metadata().schema().clone(), Vec::new());
    let (before, after) = (scan.deleted_rows(old).await?, scan.deleted_rows(new).await?);
    let gone = |p: u64, d: &Option<crate::deletion_vector::DeletedRows>| {
        d.as_ref().is_some_and(|d| d.contains(p))
    };
    let mut plain = new.clone();
    plain.deletion_vector = None;
    let mut out = Vec::new();
    for (batch, positions) in scan.read_with_positions(&plain).await? {
        for (kind, wanted) in [("delete", (false, true)), ("insert", (true, false))] {
            let mask: arrow_array::BooleanArray = positions
                .iter()
                .map(|p| Some((gone(*p, &before), gone(*p, &after)) == wanted))
                .collect();
            let rows = arrow_select::filter::filter_record_batch(&batch, &mask).map_err(|e| {
                ParquetError::InvalidData {
                    table: snapshot.location().to_string(),
                    reason: e.to_string(),
                }
            })?;
            if rows.num_rows() > 0 {
                out.push((rows, kind));
            }
        }
    }
    Ok(out)
}

/// The changes of versions `start..=end` (end: `snapshot`'s version), in
/// version order, read with `snapshot`'s schema.
pub async fn read_changes(
    snapshot: &Snapshot,
    start: u64,
    end: Option<u64>,
) -> ParquetResult<Vec<RecordBatch>> {
    let table = snapshot.location().to_string();
    let end = end.unwrap_or(snapshot.version()).min(snapshot.version());
    if start > end {
        return Err(ParquetError::InvalidScan {
            table,
            reason: format!("--from {start} is after --to {end}"),
        });
    }
    let store = snapshot.store().clone();
    let history = silt_log::read_history(store.as_ref(), None).await?;
    let times: HashMap<u64, i64> = history
        .iter()
        .map(|r| (r.version, r.timestamp_ms))
        .collect();
    let schema = with_change_type(snapshot.metadata().schema());
    let mut out = Vec::new();
    for v in start..=end {
        let path = commit_path(v);
        let bytes = store
            .read(&path)
            .await
            .map_err(|source| LogError::Storage {
                table: table.clone(),
                source,
            })?;
        let actions = parse_log_file(&table, v, &path, &bytes)?;
        let cdc: Vec<Add> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Cdc(c) => Some(as_add(c.path.clone(), c.partition_values.clone(), c.size)),
                _ => None,
            })
            .collect();
        let mut parts: Vec<(Vec<Add>, Option<&str>)> = Vec::new();
        let mut derived: Vec<(RecordBatch, &'static str)> = Vec::new();
        if !cdc.is_empty() {
            parts.push((cdc, None));
        } else {
            let mut inserts: Vec<Add> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Add(a) if a.data_change => Some((**a).clone()),
                    _ => None,
                })
                .collect();
            let mut deletes: Vec<Add> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Remove(r) if r.data_change => {
                        let mut add = as_add(
                            r.path.clone(),
                            r.partition_values.clone().unwrap_or_default(),
                            r.size.unwrap_or(0),
                        );
                        add.deletion_vector = r.deletion_vector.clone();
                        Some(add)
                    }
                    _ => None,
                })
                .collect();
            // A remove and an add of one file: a DV update.
            let mut pairs = Vec::new();
            inserts.retain(|a| match deletes.iter().position(|d| d.path == a.path) {
                Some(i) => {
                    pairs.push((deletes.remove(i), a.clone()));
                    false
                }
                None => true,
            });
            for (old, new) in pairs {
                derived.extend(dv_changes(snapshot, &old, &new).await?);
            }
            parts.push((inserts, Some("insert")));
            parts.push((deletes, Some("delete")));
        }
        let ts = times.get(&v).copied().unwrap_or(0) * 1000;
        let mut read: Vec<(RecordBatch, Option<&str>)> =
            derived.into_iter().map(|(b, k)| (b, Some(k))).collect();
        for (files, kind) in parts {
            if files.is_empty() {
                continue;
            }
            let scan_schema = if kind.is_none() {
                schema.clone()
            } else {
                snapshot.metadata().schema().clone()
            };
            let batches = Scan::of_files(snapshot, scan_schema, files)
                .collect()
                .await?;
            read.extend(batches.into_iter().map(|b| (b, kind)));
        }
        {
            for (b, kind) in read {
                let n = b.num_rows();
                let mut b = b;
                let mut add = |field: Field, column: ArrayRef| -> ParquetResult<()> {
                    b = append_column(&b, field, column).map_err(|e| {
                        ParquetError::InvalidData {
                            table: table.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    Ok(())
                };
                if let Some(k) = kind {
                    add(
                        Field::new(CHANGE_TYPE, ArrowType::Utf8, true),
                        Arc::new(StringArray::from(vec![k; n])),
                    )?;
                }
                add(
                    Field::new("_commit_version", ArrowType::Int64, false),
                    Arc::new(Int64Array::from(vec![v as i64; n])),
                )?;
                add(
                    Field::new(
                        "_commit_timestamp",
                        ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                        false,
                    ),
                    Arc::new(TimestampMicrosecondArray::from(vec![ts; n]).with_timezone("UTC")),
                )?;
                out.push(b);
            }
        }
    }
    Ok(out)
}
