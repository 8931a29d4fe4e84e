//! Which columns of a write skip dictionary encoding.
//!
//! Parquet writers dictionary-encode every column by default and give up
//! per column chunk once the dictionary passes its page-size limit. For a
//! column whose values are (nearly) all distinct — event timestamps, ids,
//! free text — that attempt is pure cost: every row group interns values
//! into a growing hash table until the limit, then writes them again as
//! plain values. This module looks at the first rows of a write and names
//! the columns that would overflow, so their files are written plain from
//! the start.
//!
//! The estimate is Good–Turing's: in a sample of `n` values of which `f1`
//! occur exactly once, the chance that the next value is new is about
//! `f1 / n`. A column is written plain only when that chance is at least
//! one half (most values are singletons) *and* the projected dictionary of
//! a full row group passes the limit, so a column a dictionary serves
//! (a few thousand distinct readings, say) keeps it.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

/// Values looked at per column.
pub(crate) const SAMPLE_VALUES: usize = 32_768;
/// Fewer non-null values than this say too little to decide on.
pub(crate) const MIN_SAMPLE_VALUES: usize = 4_096;

/// What a sample says about one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cardinality {
    /// Non-null values sampled.
    pub sampled: usize,
    /// Distinct values among them.
    pub distinct: usize,
    /// Values seen exactly once.
    pub singletons: usize,
    /// Bytes one dictionary entry takes (plain encoding).
    pub entry_bytes: f64,
}

impl Cardinality {
    /// Whether a dictionary for `row_group_rows` rows would pass
    /// `dictionary_limit` bytes, so the column is better written plain.
    /// `None` when the sample is too small to say.
    pub fn overflows(&self, row_group_rows: usize, dictionary_limit: usize) -> Option<bool> {
        if self.sampled < MIN_SAMPLE_VALUES {
            return None;
        }
        let n = self.sampled as f64;
        let new_value_chance = self.singletons as f64 / n;
        let rest = row_group_rows.saturating_sub(self.sampled) as f64;
        let projected = (self.distinct as f64 + new_value_chance * rest) * self.entry_bytes;
        Some(new_value_chance >= 0.5 && projected > dictionary_limit as f64)
    }
}

/// Samples the first [`SAMPLE_VALUES`] non-null values of `array`; `None`
/// for types it does not sample (nested, boolean, dictionary-typed).
pub(crate) fn sample_cardinality(array: &dyn Array) -> Option<Cardinality> {
    // Owned here so fixed-width values can be borrowed from its buffer.
    let data = array.to_data();
    type Value<'a> = Box<dyn Fn(usize) -> Option<&'a [u8]> + 'a>;
    // Each type's value bytes, and what a plain-encoded dictionary entry
    // adds to them (the length prefix of variable-width values).
    let (value, entry_overhead): (Value<'_>, f64) = match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            (Box::new(move |i| Some(a.value(i).as_bytes())), 4.0)
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            (Box::new(move |i| Some(a.value(i).as_bytes())), 4.0)
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            (Box::new(move |i| Some(a.value(i).as_bytes())), 4.0)
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            (Box::new(move |i| Some(a.value(i))), 4.0)
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            (Box::new(move |i| Some(a.value(i))), 4.0)
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            (Box::new(move |i| Some(a.value(i))), 4.0)
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            (Box::new(move |i| Some(a.value(i))), 0.0)
        }
        t if t.is_primitive() => {
            let width = t.primitive_width()?;
            let values = data.buffers().first()?.as_slice();
            let offset = data.offset();
            (
                Box::new(move |i| values.get((offset + i) * width..(offset + i + 1) * width)),
                0.0,
            )
        }
        _ => return None,
    };
    let mut tally = Tally::with_capacity(SAMPLE_VALUES.min(array.len()));
    for i in (0..array.len())
        .filter(|&i| array.is_valid(i))
        .take(SAMPLE_VALUES)
    {
        tally.note(value(i)?);
    }
    Some(tally.cardinality(entry_overhead))
}

/// Occurrence counts of sampled values.
struct Tally<'a> {
    /// Keyed by a fast hash: SipHash, std's default, took most of the
    /// sampling's time, and the sampling holds up every encoder.
    counts: HashMap<&'a [u8], u32, ahash::RandomState>,
    sampled: usize,
    distinct_bytes: usize,
}

impl<'a> Tally<'a> {
    /// Room for `values` distinct values, so the table never grows (and
    /// rehashes every key) while sampling.
    fn with_capacity(values: usize) -> Self {
        Self {
            counts: HashMap::with_capacity_and_hasher(values, ahash::RandomState::new()),
            sampled: 0,
            distinct_bytes: 0,
        }
    }

    fn note(&mut self, value: &'a [u8]) {
        self.sampled += 1;
        let count = self.counts.entry(value).or_insert(0);
        if *count == 0 {
            self.distinct_bytes += value.len();
        }
        *count += 1;
    }

    /// `entry_overhead`: bytes a plain-encoded entry adds to its value (the
    /// length prefix of variable-width values).
    fn cardinality(&self, entry_overhead: f64) -> Cardinality {
        let distinct = self.counts.len();
        Cardinality {
            sampled: self.sampled,
            distinct,
            singletons: self.counts.values().filter(|&&c| c == 1).count(),
            entry_bytes: if distinct == 0 {
                0.0
            } else {
                self.distinct_bytes as f64 / distinct as f64 + entry_overhead
            },
        }
    }
}

/// The top-level columns of `batch` to write without a dictionary, or
/// `None` when no column has enough non-null values to decide on.
pub(crate) fn plain_columns(
    batch: &RecordBatch,
    row_group_rows: usize,
    dictionary_limit: usize,
) -> Option<Vec<String>> {
    let mut decided = false;
    let mut plain = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let verdict = sample_cardinality(column.as_ref())
            .and_then(|c| c.overflows(row_group_rows, dictionary_limit));
        match verdict {
            Some(true) => {
                decided = true;
                plain.push(field.name().clone());
            }
            Some(false) => decided = true,
            None => {}
        }
    }
    decided.then_some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use std::sync::Arc;

    const ROW_GROUP: usize = 1 << 20;
    const LIMIT: usize = 1 << 20;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    /// A small deterministic generator, so the tests need no RNG crate.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn unique_timestamps_and_strings_are_written_plain() {
        let n = 65_536;
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from_iter_values(
            (0..n as i64).map(|i| 1_700_000_000_000_000 + i * 17),
        ));
        let mut seed = 7;
        let text: ArrayRef =
            Arc::new(StringArray::from_iter_values((0..n).map(|_| {
                format!("{:016x}{:016x}", lcg(&mut seed), lcg(&mut seed))
            })));
        let b = batch(vec![("ts", ts), ("payload", text)]);
        assert_eq!(
            plain_columns(&b, ROW_GROUP, LIMIT),
            Some(vec!["ts".to_string(), "payload".to_string()])
        );
    }

    #[test]
    fn columns_a_dictionary_serves_keep_it() {
        let n = 65_536;
        let mut seed = 11;
        // 1,000 devices, 5 statuses, readings from ~20,000 values: all fit
        // a 1 MiB dictionary.
        let device: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|_| format!("dev-{:04}", lcg(&mut seed) % 1000)),
        ));
        let status: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| ["OK", "WARN", "ERR", "OFF", "MAINT"][i % 5]),
        ));
        let reading: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| (lcg(&mut seed) % 20_000) as f64 / 1000.0),
        ));
        let b = batch(vec![
            ("device", device),
            ("status", status),
            ("reading", reading),
        ]);
        assert_eq!(plain_columns(&b, ROW_GROUP, LIMIT), Some(vec![]));
    }

    #[test]
    fn unique_values_that_fit_the_dictionary_keep_it() {
        // 10,000 distinct ids in row groups of 10,000 rows: the dictionary
        // (80 KB) never overflows, so nothing is gained by skipping it.
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..10_000));
        let b = batch(vec![("id", ids)]);
        assert_eq!(plain_columns(&b, 10_000, LIMIT), Some(vec![]));
        assert_eq!(
            plain_columns(&b, ROW_GROUP, LIMIT),
            Some(vec!["id".to_string()])
        );
    }

    #[test]
    fn a_small_or_unsampled_batch_decides_nothing() {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100));
        assert_eq!(
            plain_columns(&batch(vec![("id", ids)]), ROW_GROUP, LIMIT),
            None
        );
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![true; 10_000]));
        assert_eq!(
            plain_columns(&batch(vec![("flag", flags)]), ROW_GROUP, LIMIT),
            None
        );
    }

    #[test]
    fn nulls_are_not_sampled_and_slices_read_their_own_rows() {
        // Mostly nulls: 2,000 non-null values are too few to decide on.
        let sparse: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..40_000i64).map(|i| (i % 20 == 0).then_some(i)),
        ));
        assert_eq!(
            plain_columns(&batch(vec![("s", sparse)]), ROW_GROUP, LIMIT),
            None
        );
        // A slice of a constant tail after a unique head samples the tail.
        let mixed = Int64Array::from_iter_values((0..10_000).chain(std::iter::repeat_n(5, 10_000)));
        let tail: ArrayRef = Arc::new(mixed.slice(10_000, 10_000));
        let c = sample_cardinality(tail.as_ref()).unwrap();
        assert_eq!((c.sampled, c.distinct, c.singletons), (10_000, 1, 0));
    }
}
