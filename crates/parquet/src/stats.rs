//! Per-file statistics collected while writing: record count, and per leaf
//! column the null count and (for orderable types) min and max, merged
//! across batches. Strings are truncated to 32 characters with a max bound
//! that stays above every value; timestamps are kept at millisecond
//! precision (min rounded down, max rounded up), as other Delta readers
//! parse them. A data write takes string min/max from the Parquet
//! writer's own column-chunk statistics instead of a second pass.

use std::collections::BTreeMap;

use arrow_arith::aggregate;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, TimeUnit};
use chrono::DateTime;
use serde_json::{Map, Value};

use crate::min_max::{HasNan, min_max, min_max_f64};

/// Characters kept in string bounds.
pub const STRING_PREFIX: usize = 32;

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Bound {
    Int(i64),
    Float(f64),
    Str(String),
    Date(i32),
    /// Microseconds; `true` when the column has a time zone.
    Ts(i64, bool),
    /// Unscaled value and scale (one scale per column).
    Decimal(i128, i8),
}

/// A decimal as its exact text (`-12.340` for -12340 at scale 3).
fn decimal_text(unscaled: i128, scale: i8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale <= 0 {
        return format!(
            "{sign}{digits}{}",
            "0".repeat(scale.unsigned_abs() as usize)
        );
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// The decimal as a JSON number when a double holds it exactly (it prints
/// back to the same digits), so the bound is neither widened nor narrowed;
/// `None` otherwise (no bound rather than a wrong one).
fn exact_decimal_json(unscaled: i128, scale: i8) -> Option<Value> {
    let text = decimal_text(unscaled, scale);
    let f: f64 = text.parse().ok()?;
    let normalized = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.clone()
    };
    let printed = Value::from(f).to_string();
    let printed = printed.strip_suffix(".0").unwrap_or(&printed);
    let normalized = if normalized == "-0" {
        "0".to_string()
    } else {
        normalized
    };
    (printed == normalized).then(|| Value::from(f))
}

impl Bound {
    fn to_json(&self, is_max: bool) -> Option<Value> {
        Some(match self {
            Bound::Int(v) => Value::from(*v),
            Bound::Float(v) => serde_json::Number::from_f64(*v).map(Value::Number)?,
            Bound::Str(s) => Value::String(truncate(s, is_max)?),
            Bound::Decimal(v, scale) => exact_decimal_json(*v, *scale)?,
            Bound::Date(d) => {
                let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                    .checked_add_signed(chrono::Duration::days(*d as i64))?;
                Value::String(date.format("%Y-%m-%d").to_string())
            }
            Bound::Ts(micros, utc) => {
                let ms = if is_max {
                    micros.div_euclid(1000) + i64::from(micros.rem_euclid(1000) != 0)
                } else {
                    micros.div_euclid(1000)
                };
                let dt = DateTime::from_timestamp_millis(ms)?;
                Value::String(if *utc {
                    dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                } else {
                    dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
                })
            }
        })
    }
}

/// A string bound: the first 32 characters; for a max of a longer string,
/// the prefix with its last character incremented (so it is still greater
/// than the value), or no bound when that is impossible.
fn truncate(s: &str, is_max: bool) -> Option<String> {
    if s.chars().count() <= STRING_PREFIX {
        return Some(s.to_string());
    }
    let mut prefix: Vec<char> = s.chars().take(STRING_PREFIX).collect();
    if !is_max {
        return Some(prefix.into_iter().collect());
    }
    while let Some(last) = prefix.pop() {
        let mut next = last as u32 + 1;
        // Skip the surrogate range, which is not a char.
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            prefix.push(c);
            return Some(prefix.into_iter().collect());
        }
    }
    None
}

#[derive(Debug, Clone, Default)]
struct ColumnStats {
    nulls: i64,
    min: Option<Bound>,
    max: Option<Bound>,
    /// False once a value could not be ordered (e.g. NaN): no bounds then.
    unbounded: bool,
    /// String bounds come from the Parquet footer (see
    /// [`StatsCollector::with_string_bounds_from_footer`]).
    deferred: bool,
}

impl ColumnStats {
    fn widen(&mut self, lo: Bound, hi: Bound) {
        if self.min.as_ref().is_none_or(|m| lo < *m) {
            self.min = Some(lo);
        }
        if self.max.as_ref().is_none_or(|m| hi > *m) {
            self.max = Some(hi);
        }
    }

    fn drop_bounds(&mut self) {
        self.unbounded = true;
        self.min = None;
        self.max = None;
    }
}

/// Statistics of one file being written, by physical column path.
#[derive(Debug, Clone, Default)]
pub struct StatsCollector {
    records: i64,
    columns: BTreeMap<Vec<String>, ColumnStats>,
    /// Leave string min/max to [`Self::add_footer_string_bounds`].
    strings_from_footer: bool,
}

/// A column's min and max (`Ok(None)` when it has no values to bound, or
/// a type without bounds), or [`HasNan`] when a double or float is NaN. A
/// null-free column takes one pass ([`crate::min_max`]); one with nulls
/// takes Arrow's kernels, which skip them.
fn bounds(array: &dyn Array) -> Result<Option<(Bound, Bound)>, HasNan> {
    macro_rules! prim {
        ($t:ty, $wrap:expr) => {{
            let a = array.as_primitive::<$t>();
            let found = if a.null_count() == 0 {
                min_max(a.values())
            } else {
                aggregate::min(a).zip(aggregate::max(a))
            };
            found.map(|(lo, hi)| ($wrap(lo), $wrap(hi)))
        }};
    }
    macro_rules! float {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            if a.iter().flatten().any(|v| v.is_nan()) {
                return Err(HasNan);
            }
            aggregate::min(a)
                .zip(aggregate::max(a))
                .map(|(lo, hi)| (Bound::Float(lo as f64), Bound::Float(hi as f64)))
        }};
    }
    Ok(match array.data_type() {
        ArrowType::Int8 => prim!(Int8Type, |v: i8| Bound::Int(v as i64)),
        ArrowType::Int16 => prim!(Int16Type, |v: i16| Bound::Int(v as i64)),
        ArrowType::Int32 => prim!(Int32Type, |v: i32| Bound::Int(v as i64)),
        ArrowType::Int64 => prim!(Int64Type, Bound::Int),
        ArrowType::Float32 => float!(Float32Type),
        ArrowType::Float64 if array.null_count() == 0 => {
            min_max_f64(array.as_primitive::<Float64Type>().values())?
                .map(|(lo, hi)| (Bound::Float(lo), Bound::Float(hi)))
        }
        ArrowType::Float64 => float!(Float64Type),
        ArrowType::Date32 => prim!(Date32Type, Bound::Date),
        ArrowType::Decimal128(_, scale) => {
            let scale = *scale;
            prim!(Decimal128Type, |v: i128| Bound::Decimal(v, scale))
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, tz) => {
            let utc = tz.is_some();
            prim!(TimestampMicrosecondType, |v: i64| Bound::Ts(v, utc))
        }
        ArrowType::Utf8 => {
            let a = array.as_string::<i32>();
            aggregate::min_string(a)
                .zip(aggregate::max_string(a))
                .map(|(lo, hi)| (Bound::Str(lo.to_string()), Bound::Str(hi.to_string())))
        }
        _ => None,
    })
}

/// Bytes of string min/max a Parquet writer must keep (untruncated) in
/// its footer statistics for [`StatsCollector::add_footer_string_bounds`]
/// to give the same bounds as collecting them: [`STRING_PREFIX`]
/// characters of up to four bytes.
pub const FOOTER_STRING_BOUND_BYTES: usize = STRING_PREFIX * 4;

/// What a column chunk's footer statistics say about its strings.
enum ChunkBounds<'a> {
    Bounded(&'a str, &'a str),
    /// Nulls only: nothing to bound.
    AllNull,
    /// Values without usable statistics.
    Unknown,
}

fn utf8(b: Option<&parquet::data_type::ByteArray>) -> Option<&str> {
    b.and_then(|b| b.as_utf8().ok())
}

fn chunk_string_bounds(chunk: &parquet::file::metadata::ColumnChunkMetaData) -> ChunkBounds<'_> {
    let Some(parquet::file::statistics::Statistics::ByteArray(v)) = chunk.statistics() else {
        return ChunkBounds::Unknown;
    };
    match (utf8(v.min_opt()), utf8(v.max_opt())) {
        (Some(lo), Some(hi)) => ChunkBounds::Bounded(lo, hi),
        _ if v.min_opt().is_none() && v.null_count_opt() == Some(chunk.num_values() as u64) => {
            ChunkBounds::AllNull
        }
        _ => ChunkBounds::Unknown,
    }
}

impl StatsCollector {
    /// A collector that leaves string min/max to the Parquet writer, which
    /// computes them anyway for its own statistics: the bounds are read
    /// from the file's row groups with [`Self::add_footer_string_bounds`]
    /// once they are written, instead of a second pass over every string.
    /// The writer must keep [`FOOTER_STRING_BOUND_BYTES`] of each bound.
    pub fn with_string_bounds_from_footer() -> Self {
        Self {
            strings_from_footer: true,
            ..Self::default()
        }
    }

    /// Takes the min/max of the string columns left to the footer from the
    /// column-chunk statistics of `row_groups` (all of the file's). A chunk
    /// with values but no usable statistics leaves its column unbounded.
    pub fn add_footer_string_bounds(
        &mut self,
        row_groups: &[parquet::file::metadata::RowGroupMetaData],
    ) {
        for (path, entry) in self.columns.iter_mut() {
            if !entry.deferred || entry.unbounded {
                continue;
            }
            let chunks = row_groups.iter().map(|rg| {
                rg.columns()
                    .iter()
                    .find(|c| c.column_path().parts() == path)
            });
            for chunk in chunks {
                match chunk.map(chunk_string_bounds) {
                    Some(ChunkBounds::Bounded(lo, hi)) => {
                        entry.widen(Bound::Str(lo.to_string()), Bound::Str(hi.to_string()))
                    }
                    Some(ChunkBounds::AllNull) => {}
                    Some(ChunkBounds::Unknown) | None => {
                        entry.drop_bounds();
                        break;
                    }
                }
            }
        }
    }

    /// Adds a batch's columns (already named by physical names).
    pub fn add(&mut self, names: &[String], columns: &[ArrayRef]) {
        if let Some(c) = columns.first() {
            self.records += c.len() as i64;
        }
        for (name, column) in names.iter().zip(columns) {
            self.add_column(vec![name.clone()], column.as_ref());
        }
    }

    fn add_column(&mut self, path: Vec<String>, array: &dyn Array) {
        if let Some(s) = array.as_struct_opt() {
            for (f, child) in s.fields().iter().zip(s.columns()) {
                let mut p = path.clone();
                p.push(f.name().clone());
                self.add_column(p, child.as_ref());
            }
            return;
        }
        if matches!(
            array.data_type(),
            ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::Map(_, _)
        ) {
            return; // Delta does not keep statistics for nested collections.
        }
        let entry = self.columns.entry(path).or_default();
        entry.nulls += array.logical_null_count() as i64;
        if entry.unbounded {
            return;
        }
        if self.strings_from_footer && array.data_type() == &ArrowType::Utf8 {
            entry.deferred = true;
            return;
        }
        match bounds(array) {
            Err(HasNan) => entry.drop_bounds(),
            Ok(Some((lo, hi))) => entry.widen(lo, hi),
            Ok(None) => {}
        }
    }

    /// Adds the statistics `other` collected over more rows of the same
    /// file.
    pub fn merge(&mut self, other: StatsCollector) {
        self.records += other.records;
        self.strings_from_footer |= other.strings_from_footer;
        for (path, theirs) in other.columns {
            let ours = self.columns.entry(path).or_default();
            ours.nulls += theirs.nulls;
            ours.deferred |= theirs.deferred;
            if ours.unbounded || theirs.unbounded {
                ours.drop_bounds();
            } else if let (Some(lo), Some(hi)) = (theirs.min, theirs.max) {
                ours.widen(lo, hi);
            }
        }
    }

    /// Rows added so far.
    pub fn records(&self) -> i64 {
        self.records
    }

    /// The `stats` JSON of the file.
    pub fn to_json(&self) -> String {
        let mut min = Map::new();
        let mut max = Map::new();
        let mut nulls = Map::new();
        for (path, c) in &self.columns {
            insert(&mut nulls, path, Value::from(c.nulls));
            if let Some(v) = c.min.as_ref().and_then(|b| b.to_json(false)) {
                insert(&mut min, path, v);
            }
            if let Some(v) = c.max.as_ref().and_then(|b| b.to_json(true)) {
                insert(&mut max, path, v);
            }
        }
        serde_json::json!({
            "numRecords": self.records,
            "minValues": min,
            "maxValues": max,
            "nullCount": nulls,
        })
        .to_string()
    }
}

fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let (last, parents) = match path.split_last() {
        Some(x) => x,
        None => return,
    };
    let mut current = map;
    for p in parents {
        let entry = current
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = entry else { return };
        current = next;
    }
    current.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn merges_batches_and_truncates_strings() {
        let mut s = StatsCollector::default();
        let long = "x".repeat(40);
        s.add(
            &["n".into(), "s".into()],
            &[
                Arc::new(Int64Array::from(vec![Some(5), None])),
                Arc::new(StringArray::from(vec![Some("b"), Some(long.as_str())])),
            ],
        );
        s.add(
            &["n".into(), "s".into()],
            &[
                Arc::new(Int64Array::from(vec![Some(-1), Some(3)])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        );
        let v: Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["numRecords"], 4);
        assert_eq!(v["minValues"]["n"], -1);
        assert_eq!(v["maxValues"]["n"], 5);
        assert_eq!(v["nullCount"]["n"], 1);
        assert_eq!(v["minValues"]["s"], "a");
        let max = v["maxValues"]["s"].as_str().unwrap();
        assert_eq!(max.chars().count(), 32);
        assert!(max > long.as_str(), "max bound stays above the value");
    }

    #[test]
    fn merging_collectors_equals_collecting_everything() {
        let names = ["n".to_string(), "f".to_string(), "e".to_string()];
        let parts: [[ArrayRef; 3]; 3] = [
            [
                Arc::new(Int64Array::from(vec![Some(5), None])),
                Arc::new(Float64Array::from(vec![1.0, 2.0])),
                Arc::new(Int64Array::from(vec![None, None])),
            ],
            [
                Arc::new(Int64Array::from(vec![Some(-1), Some(3)])),
                Arc::new(Float64Array::from(vec![f64::NAN, 0.5])),
                Arc::new(Int64Array::from(vec![None, Some(7)])),
            ],
            [
                Arc::new(Int64Array::from(vec![None, Some(9)])),
                Arc::new(Float64Array::from(vec![3.0, 4.0])),
                Arc::new(Int64Array::from(vec![Some(-2), None])),
            ],
        ];
        let mut whole = StatsCollector::default();
        let mut merged = StatsCollector::default();
        for part in &parts {
            whole.add(&names, part);
            let mut one = StatsCollector::default();
            one.add(&names, part);
            merged.merge(one);
        }
        assert_eq!(merged.to_json(), whole.to_json());
        let v: Value = serde_json::from_str(&merged.to_json()).unwrap();
        assert_eq!(v["numRecords"], 6);
        assert_eq!(
            (&v["minValues"]["n"], &v["maxValues"]["n"]),
            (&(-1).into(), &9.into())
        );
        assert_eq!(
            (&v["minValues"]["e"], &v["maxValues"]["e"]),
            (&(-2).into(), &7.into())
        );
        assert_eq!(v["nullCount"]["e"], 4);
        assert!(
            v["minValues"].get("f").is_none(),
            "a NaN in one part drops the bounds"
        );
    }

    #[test]
    fn nan_drops_bounds() {
        let mut s = StatsCollector::default();
        s.add(
            &["f".into()],
            &[Arc::new(Float64Array::from(vec![1.0, f64::NAN]))],
        );
        let v: Value = serde_json::from_str(&s.to_json()).unwrap();
        assert!(v["minValues"].get("f").is_none());
        assert_eq!(v["nullCount"]["f"], 0);
    }

    #[test]
    fn decimal_bounds_are_exact_or_absent() {
        assert_eq!(decimal_text(-12340, 3), "-12.340");
        assert_eq!(decimal_text(5, 2), "0.05");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(
            Bound::Decimal(12345, 2).to_json(false),
            Some(serde_json::json!(123.45))
        );
        assert_eq!(
            Bound::Decimal(-500, 2).to_json(true),
            Some(serde_json::json!(-5.0))
        );
        // 20 significant digits do not fit a double: no bound.
        assert_eq!(Bound::Decimal(12345678901234567891, 2).to_json(true), None);
        let mut s = StatsCollector::default();
        let a = arrow_array::Decimal128Array::from(vec![Some(1999), None, Some(-250)])
            .with_precision_and_scale(10, 2)
            .unwrap();
        s.add(&["d".into()], &[Arc::new(a)]);
        let v: Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["minValues"]["d"], serde_json::json!(-2.5));
        assert_eq!(v["maxValues"]["d"], serde_json::json!(19.99));
        assert_eq!(v["nullCount"]["d"], 1);
    }

    #[test]
    fn timestamp_bounds_round_outwards() {
        assert_eq!(
            Bound::Ts(1_500, true).to_json(true).unwrap(),
            Value::String("1970-01-01T00:00:00.002Z".into())
        );
        assert_eq!(
            Bound::Ts(1_500, true).to_json(false).unwrap(),
            Value::String("1970-01-01T00:00:00.001Z".into())
        );
    }
}
