//! Per-file statistics (`add.stats`): record count, min/max values and null
//! counts per column, kept as JSON values keyed by (physical) column name.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An `add.stats` string that is not valid statistics (not retryable: the
/// log is at fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// Not JSON, or a field has the wrong type.
    #[error("stats do not parse: {0}")]
    Json(#[source] serde_json::Error),
    /// `numRecords` below zero.
    #[error("stats numRecords is negative ({num_records})")]
    NegativeRecordCount {
        /// The value found.
        num_records: i64,
    },
}

/// Parsed file statistics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStats {
    /// Number of records in the file (before deletion vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_records: Option<i64>,
    /// Minimum value per column (nested columns as nested objects).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub min_values: Map<String, Value>,
    /// Maximum value per column.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub max_values: Map<String, Value>,
    /// Null count per column.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub null_count: Map<String, Value>,
    /// Whether min/max are exact (false after deletion vectors were added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tight_bounds: Option<bool>,
}

impl FileStats {
    /// Parses a `stats` string.
    pub fn from_json(text: &str) -> Result<Self, StatsError> {
        let stats: FileStats = serde_json::from_str(text).map_err(StatsError::Json)?;
        if let Some(num_records) = stats.num_records.filter(|n| *n < 0) {
            return Err(StatsError::NegativeRecordCount { num_records });
        }
        Ok(stats)
    }

    /// The min/max/null-count entry for a column path (`["a", "b"]` for `a.b`).
    pub fn column<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
        let (last, parents) = path.split_last()?;
        let mut current = map;
        for p in parents {
            current = current.get(*p)?.as_object()?;
        }
        current.get(*last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_stats() {
        let s = FileStats::from_json(
            r#"{"numRecords":5,"minValues":{"a":1,"s":{"x":"q"}},"maxValues":{"a":9},"nullCount":{"a":0},"tightBounds":true,"other":1}"#,
        )
        .unwrap();
        assert_eq!(s.num_records, Some(5));
        assert_eq!(
            FileStats::column(&s.min_values, &["s", "x"]),
            Some(&Value::from("q"))
        );
        assert!(FileStats::from_json(r#"{"numRecords":-1}"#).is_err());
        assert!(FileStats::from_json("nope").is_err());
    }
}
