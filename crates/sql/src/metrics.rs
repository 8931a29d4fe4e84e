//! [`DmlMetrics`]: what a DELETE, UPDATE or MERGE did, returned as the
//! statement's one result row and by the programmatic builders.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};

/// What a DELETE, UPDATE or MERGE did, as delta-rs and Spark report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DmlMetrics {
    /// Rows inserted (MERGE's NOT MATCHED inserts).
    pub inserted: u64,
    /// Target rows updated.
    pub updated: u64,
    /// Target rows deleted.
    pub deleted: u64,
    /// Unchanged rows rewritten with changed ones (0 with deletion vectors).
    pub copied: u64,
    /// Data files the commit added.
    pub files_added: u64,
    /// Data files the commit removed (a file given a deletion vector counts).
    pub files_removed: u64,
}

/// The result columns of a DML statement, affected rows first.
pub const METRIC_COLUMNS: [&str; 7] = [
    "num_affected_rows",
    "num_inserted_rows",
    "num_updated_rows",
    "num_deleted_rows",
    "num_copied_rows",
    "num_files_added",
    "num_files_removed",
];

impl DmlMetrics {
    /// Rows inserted, updated or deleted.
    pub fn affected(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }

    /// The schema of [`DmlMetrics::batch`].
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(
            METRIC_COLUMNS
                .iter()
                .map(|n| Field::new(*n, DataType::UInt64, false))
                .collect::<Vec<_>>(),
        ))
    }

    /// One row of the metrics.
    pub fn batch(&self) -> Result<RecordBatch> {
        let values = [
            self.affected(),
            self.inserted,
            self.updated,
            self.deleted,
            self.copied,
            self.files_added,
            self.files_removed,
        ];
        let cols: Vec<ArrayRef> = values
            .iter()
            .map(|v| Arc::new(UInt64Array::from(vec![*v])) as ArrayRef)
            .collect();
        Ok(RecordBatch::try_new(Self::schema(), cols)?)
    }
}

impl DmlMetrics {
    /// Reads the metrics row a DML statement returned.
    pub fn from_batch(batch: &RecordBatch) -> Result<Self> {
        let value = |name: &str| -> Result<u64> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .filter(|c| !c.is_empty() && c.is_valid(0))
                .map(|c| c.value(0))
                .ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "the statement's result has no {name} value"
                    ))
                })
        };
        Ok(Self {
            inserted: value("num_inserted_rows")?,
            updated: value("num_updated_rows")?,
            deleted: value("num_deleted_rows")?,
            copied: value("num_copied_rows")?,
            files_added: value("num_files_added")?,
            files_removed: value("num_files_removed")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    #[test]
    fn metrics_read_back_from_their_row() {
        let m = DmlMetrics {
            inserted: 1,
            updated: 2,
            deleted: 3,
            copied: 4,
            files_added: 5,
            files_removed: 6,
        };
        let b = m.batch().unwrap();
        assert_eq!(b.num_columns(), METRIC_COLUMNS.len());
        assert_eq!(DmlMetrics::from_batch(&b).unwrap(), m);
        assert_eq!(m.affected(), 6);
        assert!(DmlMetrics::from_batch(&b.project(&[0]).unwrap()).is_err());
    }
}
