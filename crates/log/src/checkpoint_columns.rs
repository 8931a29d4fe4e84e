//! The fast path for the hot column of Parquet checkpoints: `add` actions
//! decoded straight from Arrow arrays, with the same validation as the JSON
//! parser. Rows this path does not cover (unexpected column types, struct-only
//! statistics) go through the generic Arrow→JSON→serde path instead.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, BooleanArray, Int64Array, MapArray, StringArray, StructArray};

use crate::actions::Add;
use crate::arrow_rows::json_at;
use crate::checkpoint_error::CheckpointRowError;
use crate::deletion_vector::DeletionVectorDescriptor;
use crate::path::FilePath;

/// Downcast columns of a checkpoint's `add` struct.
pub(crate) struct AddColumns<'a> {
    add: &'a StructArray,
    path: &'a StringArray,
    partition_values: Option<&'a MapArray>,
    size: &'a Int64Array,
    modification_time: &'a Int64Array,
    data_change: &'a BooleanArray,
    stats: Option<&'a StringArray>,
    tags: Option<&'a MapArray>,
    deletion_vector: Option<&'a StructArray>,
    base_row_id: Option<&'a Int64Array>,
    default_row_commit_version: Option<&'a Int64Array>,
    clustering_provider: Option<&'a StringArray>,
    stats_parsed: bool,
}

fn string_map(map: &MapArray, row: usize) -> Option<HashMap<String, Option<String>>> {
    // Index the flat key/value arrays through the offsets instead of slicing
    // a new entries array per row.
    let offsets = map.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let keys = map.keys().as_string_opt::<i32>()?;
    let values = map.values().as_string_opt::<i32>()?;
    let mut out = HashMap::with_capacity(end - start);
    for i in start..end {
        if keys.is_null(i) {
            continue;
        }
        let v = values.is_valid(i).then(|| values.value(i).to_string());
        out.insert(keys.value(i).to_string(), v);
    }
    Some(out)
}

impl<'a> AddColumns<'a> {
    /// `None` when the column does not have the usual checkpoint types.
    pub(crate) fn new(add: &'a dyn Array) -> Option<Self> {
        let add = add.as_struct_opt()?;
        let col = |name: &str| add.column_by_name(name);
        Some(Self {
            add,
            path: col("path")?.as_string_opt::<i32>()?,
            partition_values: match col("partitionValues") {
                Some(c) => Some(c.as_map_opt()?),
                None => None,
            },
            size: col("size")?.as_primitive_opt::<Int64Type>()?,
            modification_time: col("modificationTime")?.as_primitive_opt::<Int64Type>()?,
            data_change: col("dataChange")?.as_boolean_opt()?,
            stats: match col("stats") {
                Some(c) => Some(c.as_string_opt::<i32>()?),
                None => None,
            },
            tags: match col("tags") {
                Some(c) => Some(c.as_map_opt()?),
                None => None,
            },
            deletion_vector: match col("deletionVector") {
                Some(c) => Some(c.as_struct_opt()?),
                None => None,
            },
            base_row_id: match col("baseRowId") {
                Some(c) => Some(c.as_primitive_opt::<Int64Type>()?),
                None => None,
            },
            default_row_commit_version: match col("defaultRowCommitVersion") {
                Some(c) => Some(c.as_primitive_opt::<Int64Type>()?),
                None => None,
            },
            clustering_provider: match col("clusteringProvider") {
                Some(c) => Some(c.as_string_opt::<i32>()?),
                None => None,
            },
            stats_parsed: col("stats_parsed").is_some(),
        })
    }

    /// Whether row `row` holds an add action.
    pub(crate) fn is_valid(&self, row: usize) -> bool {
        self.add.is_valid(row)
    }

    /// The path of row `row` as written (rows that decoded have one).
    pub(crate) fn path_at(&self, row: usize) -> &'a str {
        self.path.value(row)
    }

    /// The size of row `row` (rows that decoded have one).
    pub(crate) fn size_at(&self, row: usize) -> i64 {
        self.size.value(row)
    }

    /// Decodes row `row`; `None` means "use the generic path".
    pub(crate) fn get(&self, row: usize) -> Option<Result<Add, CheckpointRowError>> {
        let opt_i64 =
            |a: Option<&Int64Array>| a.and_then(|a| a.is_valid(row).then(|| a.value(row)));
        let opt_str = |a: Option<&StringArray>| {
            a.and_then(|a| a.is_valid(row).then(|| a.value(row).to_string()))
        };
        let stats = opt_str(self.stats);
        if stats.is_none() && self.stats_parsed {
            return None;
        }
        if self.path.is_null(row)
            || self.size.is_null(row)
            || self.modification_time.is_null(row)
            || self.data_change.is_null(row)
        {
            return None; // let the generic path name the missing field
        }
        Some((|| {
            let path = FilePath::parse(self.path.value(row))?;
            let size = self.size.value(row);
            if size < 0 {
                return Err(CheckpointRowError::NegativeSize { size });
            }
            let deletion_vector = match self.deletion_vector {
                Some(dv) if dv.is_valid(row) => {
                    let value = json_at(dv, row).ok_or(CheckpointRowError::Malformed {
                        field: "deletionVector",
                    })?;
                    Some(
                        serde_json::from_value::<DeletionVectorDescriptor>(value)
                            .map_err(CheckpointRowError::DeletionVector)?,
                    )
                }
                _ => None,
            };
            let base_row_id = opt_i64(self.base_row_id);
            let default_row_commit_version = opt_i64(self.default_row_commit_version);
            if base_row_id.is_some_and(|v| v < 0)
                || default_row_commit_version.is_some_and(|v| v < 0)
            {
                return Err(CheckpointRowError::NegativeRowTracking);
            }
            Ok(Add {
                path,
                partition_values: match self.partition_values {
                    Some(m) if m.is_valid(row) => {
                        string_map(m, row).ok_or(CheckpointRowError::Malformed {
                            field: "partitionValues",
                        })?
                    }
                    _ => HashMap::new(),
                },
                size,
                modification_time: self.modification_time.value(row),
                data_change: self.data_change.value(row),
                stats,
                tags: match self.tags {
                    Some(m) if m.is_valid(row) => Some(
                        string_map(m, row)
                            .ok_or(CheckpointRowError::Malformed { field: "tags" })?,
                    ),
                    _ => None,
                },
                deletion_vector,
                base_row_id,
                default_row_commit_version,
                clustering_provider: opt_str(self.clustering_provider),
            })
        })())
    }
}
