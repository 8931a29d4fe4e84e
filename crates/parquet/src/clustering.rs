//! Liquid clustering: the clustering columns a table keeps in its
//! `delta.clustering` domain, and the Z-order (a space-filling curve) that
//! OPTIMIZE sorts rows by before writing, so each new file covers a compact
//! range of every clustering column and file skipping works on all of them.
//! Each column's values are ranked (nulls first), the ranks scaled to 32
//! bits, and the bits of all columns interleaved into one key.

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::SortOptions;
use silt_log::Snapshot;
use silt_log::alter::CLUSTERING_DOMAIN;
use silt_log::schema::StructType;

/// Why a table's clustering cannot be read or applied. The table's
/// clustering domain, its schema or the rows are at fault, so retrying
/// cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusteringError {
    /// The clustering domain's configuration is not JSON.
    #[error("the {CLUSTERING_DOMAIN} domain is not JSON: {0}")]
    DomainNotJson(#[source] serde_json::Error),
    /// The clustering domain has no list of column paths.
    #[error("the {CLUSTERING_DOMAIN} domain has no column list: {0}")]
    NoColumnList(#[source] serde_json::Error),
    /// A nested clustering column (not supported yet).
    #[error("clustering on the nested column {column} is not supported yet")]
    Nested {
        /// The physical column path, dotted.
        column: String,
    },
    /// A clustering column the schema does not have.
    #[error("clustering column {column} is not in the schema")]
    NotInSchema {
        /// The physical column name.
        column: String,
    },
    /// A clustering column the rows do not have.
    #[error("clustering column {column} is missing from the rows")]
    NotInRows {
        /// The logical column name.
        column: String,
    },
    /// Arrow cannot order a clustering column's values.
    #[error("clustering column {column}: {source}")]
    Order {
        /// The logical column name.
        column: String,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// The `clusteringProvider` silt writes on clustered files.
pub const CLUSTERING_PROVIDER: &str = "liquid";

/// The table's clustering columns as logical top-level names, when it is
/// clustered (`Ok(None)` otherwise).
pub fn clustering_columns(snapshot: &Snapshot) -> Result<Option<Vec<String>>, ClusteringError> {
    let Some(d) = snapshot
        .domains()
        .get(CLUSTERING_DOMAIN)
        .filter(|d| !d.removed)
    else {
        return Ok(None);
    };
    let parsed: serde_json::Value =
        serde_json::from_str(&d.configuration).map_err(ClusteringError::DomainNotJson)?;
    let paths: Vec<Vec<String>> =
        serde_json::from_value(parsed.get("clusteringColumns").cloned().unwrap_or_default())
            .map_err(ClusteringError::NoColumnList)?;
    if paths.is_empty() {
        return Ok(None);
    }
    let schema = &snapshot.metadata().schema();
    paths
        .iter()
        .map(|p| logical_name(schema, p))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn logical_name(schema: &StructType, path: &[String]) -> Result<String, ClusteringError> {
    let [physical] = path else {
        return Err(ClusteringError::Nested {
            column: path.join("."),
        });
    };
    schema
        .fields
        .iter()
        .find(|f| f.physical_name().unwrap_or(&f.name) == physical)
        .map(|f| f.name.clone())
        .ok_or_else(|| ClusteringError::NotInSchema {
            column: physical.clone(),
        })
}

/// Row order of `batch` along the Z-order curve of `columns`.
pub fn z_order(batch: &RecordBatch, columns: &[String]) -> Result<UInt32Array, ClusteringError> {
    let n = batch.num_rows();
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| {
            batch
                .column_by_name(c)
                .cloned()
                .ok_or_else(|| ClusteringError::NotInRows { column: c.clone() })
        })
        .collect::<Result<_, _>>()?;
    let k = arrays.len().max(1);
    let bits = (128 / k).min(32) as u32;
    // Each column's rank of every row, scaled to 32 bits.
    let mut scaled: Vec<Vec<u32>> = Vec::with_capacity(k);
    for (a, column) in arrays.iter().zip(columns) {
        let order_err = |source| ClusteringError::Order {
            column: column.clone(),
            source,
        };
        // Row-format encodings compare like the values (nulls first).
        let converter = RowConverter::new(vec![SortField::new_with_options(
            a.data_type().clone(),
            SortOptions {
                descending: false,
                nulls_first: true,
            },
        )])
        .map_err(order_err)?;
        let rows = converter
            .convert_columns(std::slice::from_ref(a))
            .map_err(order_err)?;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by(|&x, &y| rows.row(x).cmp(&rows.row(y)));
        let mut rank = vec![0u32; n];
        let mut current = 0u32;
        for (j, &idx) in order.iter().enumerate() {
            // Equal values share a rank, so ties do not split a value.
            if j > 0 && rows.row(order[j - 1]) != rows.row(idx) {
                current = ((j as u128 * (1u128 << 32)) / n as u128) as u32;
            }
            rank[idx] = current;
        }
        scaled.push(rank);
    }
    let mut keys: Vec<(u128, u32)> = (0..n)
        .map(|row| {
            let mut key = 0u128;
            for bit in (32 - bits..32).rev() {
                for col in &scaled {
                    key = (key << 1) | u128::from((col[row] >> bit) & 1);
                }
            }
            (key, row as u32)
        })
        .collect();
    keys.sort_unstable();
    Ok(keys.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn z_order_keeps_neighbours_together_in_both_columns() {
        // A 4×4 grid: x in 0..4, y in 0..4, rows in row-major order.
        let xs: Vec<i64> = (0..16).map(|i| i % 4).collect();
        let ys: Vec<String> = (0..16).map(|i| format!("y{}", i / 4)).collect();
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(Int64Array::from(xs.clone())) as ArrayRef),
            ("y", Arc::new(StringArray::from(ys.clone())) as ArrayRef),
        ])
        .expect("batch");
        let order = z_order(&batch, &["x".into(), "y".into()]).expect("order");
        let cells: Vec<(i64, &str)> = order
            .values()
            .iter()
            .map(|&r| (xs[r as usize], ys[r as usize].as_str()))
            .collect();
        // The first quarter of the curve is the 2×2 corner x<2, y<2.
        let mut first: Vec<(i64, &str)> = cells[..4].to_vec();
        first.sort();
        assert_eq!(first, vec![(0, "y0"), (0, "y1"), (1, "y0"), (1, "y1")]);
        // Every quarter is a 2×2 block.
        for q in cells.chunks(4) {
            let (xmin, xmax) = (q.iter().map(|c| c.0).min(), q.iter().map(|c| c.0).max());
            assert_eq!(xmax.zip(xmin).map(|(a, b)| a - b), Some(1));
        }
    }

    #[test]
    fn ties_share_a_rank_and_nulls_come_first() {
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from(vec![Some(5), None, Some(5), Some(1)])) as ArrayRef,
        )])
        .expect("batch");
        let order = z_order(&batch, &["x".into()]).expect("order");
        assert_eq!(order.value(0), 1, "null first");
        assert_eq!(order.value(1), 3);
        let mut rest = vec![order.value(2), order.value(3)];
        rest.sort();
        assert_eq!(rest, vec![0, 2]);
    }
}
