//! The newest row per key: one pass over a batch's rows, keys and sequence
//! values in arrow's row format (byte-comparable, any column types), a hash
//! map from key to the row with the greatest sequence so far (the first on
//! a tie), then a `take` of the chosen rows. AUTO CDC uses it instead of a
//! window function, which sorts the whole batch.

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{ArrowError, SchemaRef};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// Below this many rows one thread does the work.
const PARALLEL_ROWS: usize = 64 * 1024;

/// A batch's keys and sequence values as rows, and each key's hash.
struct Encoded {
    keys: Rows,
    seqs: Rows,
    hashes: Vec<u64>,
}

/// The rows of `batches` (one schema) that hold, for each distinct value of
/// the `keys` columns, the greatest `seq` (the earliest such row on a tie),
/// in their original order (one output batch per input batch that keeps a
/// row). A streaming read decodes its files in parallel, so which of two
/// changes with the same key and sequence comes first is unspecified: as
/// in SDP, a key's changes need distinct sequence values.
///
/// The work is split by key hash over the machine's cores: each thread
/// owns the keys whose hash falls in its shard, so no two threads ever
/// compare the same key and no merge step is needed.
pub fn newest_per_key(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    keys: &[usize],
    seq: usize,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    if total == 0 {
        return Ok(Vec::new());
    }
    if total > u32::MAX as usize {
        return Err(ArrowError::InvalidArgumentError(format!(
            "{total} changes in one batch: at most {} can be ordered at once",
            u32::MAX
        )));
    }
    let key_converter = RowConverter::new(
        keys.iter()
            .map(|&k| SortField::new(schema.field(k).data_type().clone()))
            .collect(),
    )?;
    let seq_converter =
        RowConverter::new(vec![SortField::new(schema.field(seq).data_type().clone())])?;
    let hasher = ahash::RandomState::new();
    let threads = if total < PARALLEL_ROWS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let encode = |b: &RecordBatch| -> Result<Encoded, ArrowError> {
        let key_columns: Vec<ArrayRef> = keys.iter().map(|&k| b.column(k).clone()).collect();
        let keys = key_converter.convert_columns(&key_columns)?;
        let seqs = seq_converter.convert_columns(&[b.column(seq).clone()])?;
        let hashes = (0..keys.num_rows())
            .map(|i| hasher.hash_one(keys.row(i).data()))
            .collect();
        Ok(Encoded { keys, seqs, hashes })
    };
    // Encode the batches, spread over the threads.
    let encoded: Vec<Encoded> = if threads == 1 {
        batches.iter().map(encode).collect::<Result<_, _>>()?
    } else {
        let mut slots: Vec<Option<Result<Encoded, ArrowError>>> =
            (0..batches.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let chunk = batches.len().div_ceil(threads).max(1);
            for (bs, out) in batches.chunks(chunk).zip(slots.chunks_mut(chunk)) {
                let encode = &encode;
                scope.spawn(move || {
                    for (b, o) in bs.iter().zip(out.iter_mut()) {
                        *o = Some(encode(b));
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|s| {
                s.unwrap_or_else(|| Err(ArrowError::ComputeError("a batch was not encoded".into())))
            })
            .collect::<Result<_, _>>()?
    };
    // Each shard keeps (batch, row) of its keys' newest rows.
    let shard = |s: usize| -> Vec<(u32, u32)> {
        let mut newest: HashTable<(u32, u32)> = HashTable::with_capacity(total / threads + 1);
        let row_of = |&(b, r): &(u32, u32)| encoded[b as usize].keys.row(r as usize);
        for (b, e) in encoded.iter().enumerate() {
            for (r, &h) in e.hashes.iter().enumerate() {
                if threads > 1 && (h % threads as u64) as usize != s {
                    continue;
                }
                let key = e.keys.row(r);
                let found = newest.entry(
                    h,
                    |held| row_of(held) == key,
                    |&(hb, hr)| encoded[hb as usize].hashes[hr as usize],
                );
                match found {
                    Entry::Vacant(v) => {
                        v.insert((b as u32, r as u32));
                    }
                    Entry::Occupied(mut o) => {
                        let (hb, hr) = *o.get();
                        if e.seqs.row(r) > encoded[hb as usize].seqs.row(hr as usize) {
                            *o.get_mut() = (b as u32, r as u32);
                        }
                    }
                }
            }
        }
        newest.into_iter().collect()
    };
    let mut chosen: Vec<(u32, u32)> = if threads == 1 {
        shard(0)
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|s| scope.spawn(move || shard(s)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    chosen.sort_unstable();
    let mut out = Vec::new();
    for (b, rows) in chosen.chunk_by(|x, y| x.0 == y.0).map(|g| (g[0].0, g)) {
        let batch = &batches[b as usize];
        let indices = UInt32Array::from_iter_values(rows.iter().map(|&(_, r)| r));
        let columns = batch
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(RecordBatch::try_new(batch.schema(), columns)?);
    }
    Ok(out)
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
        let out = newest_per_key(&schema, &[b1, b2], &[0], 1).unwrap();
        let out = arrow_select::concat::concat_batches(&schema, &out).unwrap();
        let v = out
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let got: Vec<&str> = (0..v.len()).map(|i| v.value(i)).collect();
        assert_eq!(got, vec!["b5", "n1", "a3"]);
    }

    #[test]
    fn many_batches_on_several_threads_equal_a_reference() {
        // Enough rows for the sharded path; keys repeat across batches,
        // sequences tie often.
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("seq", DataType::Int64, true),
            Field::new("id", DataType::Int64, false),
        ]));
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut batches = Vec::new();
        let mut id = 0i64;
        for _ in 0..40 {
            let n = 2000 + (next() % 3000) as usize;
            let k: Vec<Option<i64>> = (0..n)
                .map(|_| match next() % 50 {
                    0 => None,
                    _ => Some((next() % 30_000) as i64),
                })
                .collect();
            let seq: Vec<i64> = (0..n).map(|_| (next() % 5) as i64).collect();
            let ids: Vec<i64> = (0..n as i64).map(|i| id + i).collect();
            id += n as i64;
            batches.push(
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(k)),
                        Arc::new(Int64Array::from(seq)),
                        Arc::new(Int64Array::from(ids)),
                    ],
                )
                .unwrap(),
            );
        }
        let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
        assert!(all.num_rows() > PARALLEL_ROWS);
        let col = |c: usize| {
            all.column(c)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        let (k, seq, ids) = (col(0), col(1), col(2));
        let mut best: std::collections::BTreeMap<Option<i64>, (i64, i64)> = Default::default();
        for r in 0..all.num_rows() {
            let key = k.is_valid(r).then(|| k.value(r));
            let cand = (seq.value(r), ids.value(r));
            best.entry(key)
                .and_modify(|b| {
                    if cand.0 > b.0 {
                        *b = cand
                    }
                })
                .or_insert(cand);
        }
        let mut expected: Vec<i64> = best.values().map(|b| b.1).collect();
        expected.sort_unstable();
        let out = newest_per_key(&schema, &batches, &[0], 1).unwrap();
        let got: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                let a = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(got, expected, "in input order, one per key");
    }
}
