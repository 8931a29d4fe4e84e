//! The newest row per key: one pass over a batch's rows, keys and sequence
//! values in arrow's row format (byte-comparable, any column types), a hash
//! map from key to the row with the greatest sequence so far (the first on
//! a tie), then a `take` of the chosen rows. AUTO CDC uses it instead of a
//! window function, which sorts the whole batch.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, SchemaRef};

/// The rows of `batches` (one schema) that hold, for each distinct value of
/// the `keys` columns, the greatest `seq` (the earliest such row on a tie),
/// in their original order.
pub fn newest_per_key(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    keys: &[usize],
    seq: usize,
) -> Result<Option<RecordBatch>, ArrowError> {
    let all = arrow_select::concat::concat_batches(schema, batches)?;
    if all.num_rows() == 0 {
        return Ok(None);
    }
    let key_columns: Vec<ArrayRef> = keys.iter().map(|&k| all.column(k).clone()).collect();
    let key_fields = key_columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let key_rows = RowConverter::new(key_fields)?.convert_columns(&key_columns)?;
    let seq_column = all.column(seq).clone();
    let seq_rows = RowConverter::new(vec![SortField::new(seq_column.data_type().clone())])?
        .convert_columns(&[seq_column])?;
    let mut newest: HashMap<&[u8], u32> = HashMap::with_capacity(all.num_rows());
    for i in 0..all.num_rows() {
        match newest.entry(key_rows.row(i).data()) {
            Entry::Vacant(v) => {
                v.insert(i as u32);
            }
            Entry::Occupied(mut o) => {
                if seq_rows.row(i) > seq_rows.row(*o.get() as usize) {
                    o.insert(i as u32);
                }
            }
        }
    }
    let mut chosen: Vec<u32> = newest.into_values().collect();
    chosen.sort_unstable();
    let indices = UInt32Array::from(chosen);
    let columns = all
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(RecordBatch::try_new(all.schema(), columns)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn keeps_the_newest_and_the_first_of_a_tie() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("seq", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]));
        let b1 = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    None,
                    Some("a"),
                ])),
                Arc::new(Int64Array::from(vec![Some(1), Some(5), Some(1), Some(3)])),
                Arc::new(StringArray::from(vec!["a1", "b5", "n1", "a3"])),
            ],
        )
        .unwrap();
        let b2 = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
                Arc::new(Int64Array::from(vec![Some(2), Some(5), Some(0)])),
                Arc::new(StringArray::from(vec!["a2", "b5-tie", "n0"])),
            ],
        )
        .unwrap();
        let out = newest_per_key(&schema, &[b1, b2], &[0], 1)
            .unwrap()
            .unwrap();
        let v = out
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let got: Vec<&str> = (0..v.len()).map(|i| v.value(i)).collect();
        assert_eq!(got, vec!["b5", "n1", "a3"]);
    }
}
