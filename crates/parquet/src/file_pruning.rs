//! Pruning inside one data file with its own Parquet statistics: the row
//! groups whose column-chunk statistics rule a predicate out, and — with
//! the page index (column index + offset index) — the runs of rows inside
//! the remaining row groups whose pages rule it out. Both are expressed as
//! Delta [`FileStats`] so the one rule set of [`Expr::can_skip_file`]
//! decides; a skipped range is one no row of which can match, so the
//! predicate is still applied to what is read.

use arrow_schema::TimeUnit;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::basic::LogicalType;
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescriptor;
use serde_json::{Map, Value};
use silt_log::expr::Expr;
use silt_log::schema::{DataType, PrimitiveType, StructType};
use silt_log::stats::FileStats;

use crate::arrow_values::{ColumnMappingMode, physical_name};

/// One physical value out of a Parquet statistic.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bytes(&'a [u8]),
}

/// A predicate column resolved to a top-level leaf of the file.
struct PredicateColumn {
    /// The physical name (the key in the stats maps).
    name: String,
    ty: PrimitiveType,
    leaf: usize,
    /// The timestamp unit the file stores, for timestamp columns.
    unit: Option<TimeUnit>,
}

/// Prunes the row groups and pages of one file for a predicate.
pub(crate) struct FilePruner<'a> {
    metadata: &'a ParquetMetaData,
    predicate: &'a Expr,
    schema: &'a StructType,
    mode: ColumnMappingMode,
    columns: Vec<PredicateColumn>,
}

impl<'a> FilePruner<'a> {
    /// Resolves the predicate's columns against the file's leaves (top-level
    /// primitive columns only; others never prune).
    pub(crate) fn new(
        predicate: &'a Expr,
        schema: &'a StructType,
        mode: ColumnMappingMode,
        metadata: &'a ParquetMetaData,
    ) -> Self {
        let descr = metadata.file_metadata().schema_descr();
        let mut columns = Vec::new();
        for c in predicate.columns() {
            let Some(field) = schema
                .fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(c))
            else {
                continue;
            };
            let DataType::Primitive(ty) = &field.data_type else {
                continue;
            };
            let name = physical_name(field, mode).to_string();
            if columns.iter().any(|p: &PredicateColumn| p.name == name) {
                continue;
            }
            let Some(leaf) = (0..descr.num_columns()).find(|i| {
                let column = descr.column(*i);
                let parts = column.path().parts();
                parts.len() == 1 && parts[0] == name
            }) else {
                continue;
            };
            let unit = timestamp_unit(&descr.column(leaf));
            columns.push(PredicateColumn {
                name,
                ty: *ty,
                leaf,
                unit,
            });
        }
        Self {
            metadata,
            predicate,
            schema,
            mode,
            columns,
        }
    }

    fn rules_out(&self, stats: &FileStats) -> bool {
        let physical = |c: &str| -> String {
            self.schema
                .fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(c))
                .map_or(c.to_string(), |f| physical_name(f, self.mode).to_string())
        };
        let no_partitions = std::collections::HashMap::new();
        self.predicate
            .can_skip_file(self.schema, &no_partitions, Some(stats), &physical)
    }

    /// The row groups whose column-chunk statistics do not rule the
    /// predicate out.
    pub(crate) fn row_groups(&self) -> Vec<usize> {
        (0..self.metadata.num_row_groups())
            .filter(|rg| !self.rules_out(&self.row_group_stats(self.metadata.row_group(*rg))))
            .collect()
    }

    fn row_group_stats(&self, group: &RowGroupMetaData) -> FileStats {
        let mut stats = FileStats {
            num_records: Some(group.num_rows()),
            min_values: Map::new(),
            max_values: Map::new(),
            null_count: Map::new(),
            tight_bounds: None,
        };
        for c in &self.columns {
            let Some(s) = group.column(c.leaf).statistics() else {
                continue;
            };
            let (lo, hi) = chunk_bounds(s);
            insert_bounds(&mut stats, c, lo, hi);
            if let Some(n) = s.null_count_opt() {
                stats.null_count.insert(c.name.clone(), Value::from(n));
            }
        }
        stats
    }

    /// With the page index loaded: the rows of `row_groups` (in that order,
    /// as the reader counts them) that pages do not rule out, or `None` when
    /// every row must be read.
    pub(crate) fn row_selection(&self, row_groups: &[usize]) -> Option<RowSelection> {
        let metadata = self.metadata;
        let (Some(column_index), Some(offset_index)) =
            (metadata.column_index(), metadata.offset_index())
        else {
            return None;
        };
        let mut selectors: Vec<RowSelector> = Vec::new();
        let mut skipped = false;
        for &rg in row_groups {
            let rows = metadata.row_group(rg).num_rows().max(0) as usize;
            let (Some(ci), Some(oi)) = (column_index.get(rg), offset_index.get(rg)) else {
                push(&mut selectors, RowSelector::select(rows));
                continue;
            };
            // Page row ranges per predicate column that has an index.
            let mut pages: Vec<(&PredicateColumn, &ColumnIndexMetaData, Vec<usize>)> = Vec::new();
            for c in &self.columns {
                let (Some(index), Some(offsets)) = (ci.get(c.leaf), oi.get(c.leaf)) else {
                    continue;
                };
                let starts: Vec<usize> = offsets
                    .page_locations()
                    .iter()
                    .map(|p| p.first_row_index.max(0) as usize)
                    .collect();
                let indexed = !matches!(index, ColumnIndexMetaData::NONE)
                    && index.num_pages() as usize == starts.len()
                    && starts.first() == Some(&0)
                    && starts.windows(2).all(|w| w[0] <= w[1])
                    && starts.last().is_some_and(|s| *s <= rows);
                if indexed {
                    pages.push((c, index, starts));
                }
            }
            if pages.is_empty() {
                push(&mut selectors, RowSelector::select(rows));
                continue;
            }
            // Every page boundary of any column: within one run, each column
            // is inside a single page.
            let mut cuts: Vec<usize> = pages
                .iter()
                .flat_map(|(_, _, s)| s.iter().copied())
                .collect();
            cuts.push(rows);
            cuts.sort_unstable();
            cuts.dedup();
            for run in cuts.windows(2) {
                let (start, end) = (run[0], run[1]);
                if start >= end {
                    continue;
                }
                let stats = self.run_stats(&pages, start, end, rows);
                if self.rules_out(&stats) {
                    skipped = true;
                    push(&mut selectors, RowSelector::skip(end - start));
                } else {
                    push(&mut selectors, RowSelector::select(end - start));
                }
            }
        }
        skipped.then(|| RowSelection::from(selectors))
    }

    /// Statistics of rows `start..end`, which lie inside one page of every
    /// column in `pages`.
    fn run_stats(
        &self,
        pages: &[(&PredicateColumn, &ColumnIndexMetaData, Vec<usize>)],
        start: usize,
        end: usize,
        rows: usize,
    ) -> FileStats {
        let len = end - start;
        let mut stats = FileStats {
            num_records: Some(len as i64),
            min_values: Map::new(),
            max_values: Map::new(),
            null_count: Map::new(),
            tight_bounds: None,
        };
        for (c, index, starts) in pages {
            // The page holding `start`: the last one starting at or before it.
            let page = starts.partition_point(|s| *s <= start).saturating_sub(1);
            let page_rows = starts.get(page + 1).copied().unwrap_or(rows) - starts[page];
            // A page's null count describes the run only when it is 0 or
            // the whole page (the run has the same ratio then).
            match index.null_count(page) {
                Some(0) => {
                    stats.null_count.insert(c.name.clone(), Value::from(0));
                }
                Some(n) if n as usize == page_rows => {
                    stats
                        .null_count
                        .insert(c.name.clone(), Value::from(len as i64));
                }
                _ if index.is_null_page(page) => {
                    stats
                        .null_count
                        .insert(c.name.clone(), Value::from(len as i64));
                }
                _ => {}
            }
            if index.is_null_page(page) {
                continue;
            }
            let (lo, hi) = page_bounds(index, page);
            insert_bounds(&mut stats, c, lo, hi);
        }
        stats
    }
}

/// A (min, max) pair of one statistic as raw values.
type RawBounds<'a> = (Option<Raw<'a>>, Option<Raw<'a>>);

fn pair<'a, T: Copy>(lo: Option<&T>, hi: Option<&T>, wrap: fn(T) -> Raw<'a>) -> RawBounds<'a> {
    (lo.map(|v| wrap(*v)), hi.map(|v| wrap(*v)))
}

/// The bounds of a column chunk's statistics.
fn chunk_bounds(s: &Statistics) -> RawBounds<'_> {
    match s {
        Statistics::Boolean(v) => pair(v.min_opt(), v.max_opt(), Raw::Bool),
        Statistics::Int32(v) => pair(v.min_opt(), v.max_opt(), Raw::I32),
        Statistics::Int64(v) => pair(v.min_opt(), v.max_opt(), Raw::I64),
        Statistics::Float(v) => pair(v.min_opt(), v.max_opt(), Raw::F32),
        Statistics::Double(v) => pair(v.min_opt(), v.max_opt(), Raw::F64),
        Statistics::ByteArray(v) => (
            v.min_opt().map(|x| Raw::Bytes(x.data())),
            v.max_opt().map(|x| Raw::Bytes(x.data())),
        ),
        _ => (None, None),
    }
}

/// The bounds of one page in a column index.
fn page_bounds(index: &ColumnIndexMetaData, page: usize) -> RawBounds<'_> {
    match index {
        ColumnIndexMetaData::BOOLEAN(i) => pair(i.min_value(page), i.max_value(page), Raw::Bool),
        ColumnIndexMetaData::INT32(i) => pair(i.min_value(page), i.max_value(page), Raw::I32),
        ColumnIndexMetaData::INT64(i) => pair(i.min_value(page), i.max_value(page), Raw::I64),
        ColumnIndexMetaData::FLOAT(i) => pair(i.min_value(page), i.max_value(page), Raw::F32),
        ColumnIndexMetaData::DOUBLE(i) => pair(i.min_value(page), i.max_value(page), Raw::F64),
        ColumnIndexMetaData::BYTE_ARRAY(i) => (
            i.min_value(page).map(Raw::Bytes),
            i.max_value(page).map(Raw::Bytes),
        ),
        _ => (None, None),
    }
}

/// Appends a selector, merging it into the last one of the same kind.
fn push(selectors: &mut Vec<RowSelector>, s: RowSelector) {
    if s.row_count == 0 {
        return;
    }
    match selectors.last_mut() {
        Some(last) if last.skip == s.skip => last.row_count += s.row_count,
        _ => selectors.push(s),
    }
}

fn insert_bounds(
    stats: &mut FileStats,
    c: &PredicateColumn,
    lo: Option<Raw<'_>>,
    hi: Option<Raw<'_>>,
) {
    if let (Some(lo), Some(hi)) = (
        lo.and_then(|v| bound_json(&c.ty, c.unit, v, false)),
        hi.and_then(|v| bound_json(&c.ty, c.unit, v, true)),
    ) {
        stats.min_values.insert(c.name.clone(), lo);
        stats.max_values.insert(c.name.clone(), hi);
    }
}

/// The unit of a Parquet timestamp column (`None` for INT96 or anything
/// else, which then never prunes).
fn timestamp_unit(descr: &ColumnDescriptor) -> Option<TimeUnit> {
    match descr.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => Some(match t.unit {
            parquet::basic::TimeUnit::MILLIS => TimeUnit::Millisecond,
            parquet::basic::TimeUnit::MICROS => TimeUnit::Microsecond,
            parquet::basic::TimeUnit::NANOS => TimeUnit::Nanosecond,
        }),
        _ => None,
    }
}

/// A Parquet statistic as the Delta statistics JSON for the column's type,
/// or `None` when it cannot be stated exactly (a max is rounded up, a min
/// down, where units are lost).
fn bound_json(
    ty: &PrimitiveType,
    unit: Option<TimeUnit>,
    v: Raw<'_>,
    is_max: bool,
) -> Option<Value> {
    use PrimitiveType as P;
    Some(match (ty, v) {
        (P::Boolean, Raw::Bool(b)) => Value::Bool(b),
        (P::Byte | P::Short | P::Integer, Raw::I32(x)) => Value::from(x),
        (P::Long, Raw::I64(x)) => Value::from(x),
        (P::Long, Raw::I32(x)) => Value::from(x),
        (P::Float, Raw::F32(x)) => Value::Number(serde_json::Number::from_f64(f64::from(x))?),
        (P::Double, Raw::F64(x)) => Value::Number(serde_json::Number::from_f64(x)?),
        (P::String, Raw::Bytes(b)) => Value::String(std::str::from_utf8(b).ok()?.to_string()),
        (P::Date, Raw::I32(days)) => {
            let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::Duration::days(i64::from(days)))?;
            Value::String(d.format("%Y-%m-%d").to_string())
        }
        (P::Timestamp | P::TimestampNtz, Raw::I64(x)) => {
            let micros = match unit? {
                TimeUnit::Second => x.checked_mul(1_000_000)?,
                TimeUnit::Millisecond => x.checked_mul(1000)?,
                TimeUnit::Microsecond => x,
                TimeUnit::Nanosecond if is_max => {
                    x.div_euclid(1000) + i64::from(x.rem_euclid(1000) != 0)
                }
                TimeUnit::Nanosecond => x.div_euclid(1000),
            };
            let dt = chrono::DateTime::from_timestamp_micros(micros)?;
            Value::String(dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_outward_when_units_are_lost() {
        let ty = PrimitiveType::Timestamp;
        let lo = bound_json(&ty, Some(TimeUnit::Nanosecond), Raw::I64(1_500), false);
        let hi = bound_json(&ty, Some(TimeUnit::Nanosecond), Raw::I64(1_500), true);
        assert_eq!(
            lo,
            Some(Value::String("1970-01-01T00:00:00.000001Z".into()))
        );
        assert_eq!(
            hi,
            Some(Value::String("1970-01-01T00:00:00.000002Z".into()))
        );
        // INT96 and other encodings without a unit never prune.
        assert_eq!(bound_json(&ty, None, Raw::I64(1), false), None);
        // A value of another physical type than the column's is no bound.
        assert_eq!(
            bound_json(&PrimitiveType::String, None, Raw::I32(1), false),
            None
        );
        assert_eq!(
            bound_json(&PrimitiveType::Double, None, Raw::F64(f64::NAN), false),
            None
        );
    }

    #[test]
    fn selectors_merge_and_drop_empty_runs() {
        let mut s = Vec::new();
        push(&mut s, RowSelector::select(3));
        push(&mut s, RowSelector::select(2));
        push(&mut s, RowSelector::skip(0));
        push(&mut s, RowSelector::skip(4));
        push(&mut s, RowSelector::skip(1));
        assert_eq!(s, vec![RowSelector::select(5), RowSelector::skip(5)]);
    }
}
