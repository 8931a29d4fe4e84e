//! Row tracking through rewrites: every row keeps a stable row id and the
//! version that last changed it. A row's id is the value of the table's
//! materialized row-id column in its file when not null, else the file's
//! `baseRowId` plus the row's position; its commit version likewise falls
//! back to `defaultRowCommitVersion`. Rewriting rows (OPTIMIZE, DML copying
//! a file's other rows, UPDATE and MERGE writing updated rows) writes those
//! values into the hidden materialized columns of the new files, so ids
//! survive; new and updated rows leave the commit version null (it becomes
//! the new file's default, the commit's version).

use std::sync::Arc;

use crate::arrow_values::append_column;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use silt_log::schema::{DataType, PrimitiveType, StructField, StructType};
use silt_log::{Add, Metadata, Snapshot, TableFeature};

pub use silt_log::create::{MATERIALIZED_ROW_COMMIT_VERSION, MATERIALIZED_ROW_ID};
/// commitInfo tag saying row ids were preserved.
pub const PRESERVED_TAG: &str = "delta.rowTracking.preserved";

/// Rows whose row ids or commit versions cannot be resolved. The file's
/// `add` or the rows are at fault, so retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowTrackingError {
    /// The scanned rows lack a hidden column.
    #[error("the scan lacks the row-tracking column {column}")]
    MissingColumn {
        /// The materialized column's name.
        column: String,
    },
    /// A file of a row-tracking table without `baseRowId`.
    #[error("{file} has no baseRowId on a row-tracking table")]
    NoBaseRowId {
        /// The file's path as in the log.
        file: String,
    },
    /// A file of a row-tracking table without `defaultRowCommitVersion`.
    #[error("{file} has no defaultRowCommitVersion on a row-tracking table")]
    NoDefaultRowCommitVersion {
        /// The file's path as in the log.
        file: String,
    },
    /// `baseRowId` plus a row position beyond 64 bits.
    #[error("row id overflow in {file}")]
    RowIdOverflow {
        /// The file's path as in the log.
        file: String,
    },
    /// Arrow refused the resolved columns.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// The hidden columns of a row-tracking table.
#[derive(Debug, Clone, PartialEq)]
pub struct RowTracking {
    /// Materialized row-id column (physical name).
    pub row_id: String,
    /// Materialized row-commit-version column (physical name).
    pub commit_version: String,
    /// The metadata to commit when the names were not set yet.
    pub new_metadata: Option<Metadata>,
}

impl RowTracking {
    /// The table's row tracking, when it is enabled (the feature and
    /// `delta.enableRowTracking=true`) and not suspended. Missing column
    /// names are derived from the table id (the same on every call) and
    /// returned as a metadata update to commit with the rewrite.
    pub fn of(snapshot: &Snapshot) -> Option<Self> {
        let m = snapshot.metadata();
        if !snapshot.protocol().has_feature(&TableFeature::RowTracking)
            || !m.flag(silt_log::properties::ENABLE_ROW_TRACKING)
            || m.flag(silt_log::properties::ROW_TRACKING_SUSPENDED)
        {
            return None;
        }
        let (id, version) = (
            m.property(MATERIALIZED_ROW_ID),
            m.property(MATERIALIZED_ROW_COMMIT_VERSION),
        );
        if let (Some(id), Some(version)) = (id, version) {
            return Some(Self {
                row_id: id.to_string(),
                commit_version: version.to_string(),
                new_metadata: None,
            });
        }
        let mut meta = m.clone();
        let names = silt_log::create::row_tracking_column_names(&m.id);
        let id = id.map_or(names.0, str::to_string);
        let version = version.map_or(names.1, str::to_string);
        meta.configuration
            .insert(MATERIALIZED_ROW_ID.into(), id.clone());
        meta.configuration
            .insert(MATERIALIZED_ROW_COMMIT_VERSION.into(), version.clone());
        Some(Self {
            row_id: id,
            commit_version: version,
            new_metadata: Some(meta),
        })
    }

    /// `schema` plus the two hidden columns (nullable longs).
    pub fn extended_schema(&self, schema: &StructType) -> StructType {
        let mut s = schema.clone();
        for name in [&self.row_id, &self.commit_version] {
            s.fields.push(StructField::new(
                name.clone(),
                DataType::Primitive(PrimitiveType::Long),
                true,
            ));
        }
        s
    }

    /// Resolves the hidden columns of `batch` (read from `add` with the
    /// extended schema; `positions` are the rows' indexes in the file): a
    /// null materialized value becomes the file's default.
    pub fn resolve(
        &self,
        add: &Add,
        batch: &RecordBatch,
        positions: &[u64],
    ) -> Result<RecordBatch, RowTrackingError> {
        let schema = batch.schema();
        let idx = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| RowTrackingError::MissingColumn {
                    column: name.to_string(),
                })
        };
        let (id_at, version_at) = (idx(&self.row_id)?, idx(&self.commit_version)?);
        let file = || add.path.to_string();
        let base = add
            .base_row_id
            .ok_or_else(|| RowTrackingError::NoBaseRowId { file: file() })?;
        let default_version = add
            .default_row_commit_version
            .ok_or_else(|| RowTrackingError::NoDefaultRowCommitVersion { file: file() })?;
        let ids = batch.column(id_at).as_primitive::<Int64Type>();
        let versions = batch.column(version_at).as_primitive::<Int64Type>();
        let mut new_ids = Vec::with_capacity(ids.len());
        for (k, p) in positions.iter().enumerate() {
            new_ids.push(if ids.is_null(k) {
                base.checked_add(*p as i64)
                    .ok_or_else(|| RowTrackingError::RowIdOverflow { file: file() })?
            } else {
                ids.value(k)
            });
        }
        let new_versions: Int64Array = (0..versions.len())
            .map(|k| {
                Some(if versions.is_null(k) {
                    default_version
                } else {
                    versions.value(k)
                })
            })
            .collect();
        let mut columns = batch.columns().to_vec();
        columns[id_at] = Arc::new(Int64Array::from(new_ids));
        columns[version_at] = Arc::new(new_versions);
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// `batch` (table columns) with the hidden columns appended: row ids
    /// as given (null for new rows), commit versions null (the new file's
    /// default: this commit).
    pub fn with_hidden(
        &self,
        batch: &RecordBatch,
        row_ids: ArrayRef,
    ) -> Result<RecordBatch, RowTrackingError> {
        let ids = arrow_cast::cast(&row_ids, &ArrowType::Int64)?;
        let with_ids = append_column(batch, Field::new(&self.row_id, ArrowType::Int64, true), ids)?;
        Ok(append_column(
            &with_ids,
            Field::new(&self.commit_version, ArrowType::Int64, true),
            arrow_array::new_null_array(&ArrowType::Int64, batch.num_rows()),
        )?)
    }
}

/// Every live row's table columns plus `row_id` and `row_commit_version`
/// (stable ids and the version that last changed each row).
pub async fn scan_with_row_ids(snapshot: &Snapshot) -> crate::ParquetResult<Vec<RecordBatch>> {
    use futures::TryStreamExt;
    let invalid = |reason: String| crate::ParquetError::InvalidData {
        table: snapshot.location().to_string(),
        reason,
    };
    let rt = RowTracking::of(snapshot)
        .ok_or_else(|| invalid("the table does not track row ids".into()))?;
    let schema = rt.extended_schema(snapshot.metadata().schema());
    let scan = crate::Scan::of_files(snapshot, schema, Vec::new());
    let mut out = Vec::new();
    for add in snapshot.files() {
        let read: Vec<(RecordBatch, Vec<u64>)> = scan
            .stream_with_positions(add.clone().into_owned())
            .try_collect()
            .await?;
        for (b, p) in read {
            let b = rt
                .resolve(&add, &b, &p)
                .map_err(|e| invalid(e.to_string()))?;
            let n = b.num_columns();
            let mut fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields[n - 2] = Field::new("row_id", ArrowType::Int64, false);
            fields[n - 1] = Field::new("row_commit_version", ArrowType::Int64, false);
            out.push(
                RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec())
                    .map_err(|e| invalid(e.to_string()))?,
            );
        }
    }
    Ok(out)
}
