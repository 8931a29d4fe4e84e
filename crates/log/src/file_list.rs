//! The live files of a snapshot, held column-wise.
//!
//! A checkpoint's `add` rows stay in the Arrow arrays the checkpoint was
//! decoded into (path, size, partition values, statistics, deletion vector,
//! row tracking, …); an [`Add`] is built only while a caller iterates, so a
//! table of a million files costs its arrays, not a million structs with a
//! dozen heap allocations each. Files added by commits after the checkpoint
//! (and the rare checkpoint row only the generic decoder reads) are owned
//! `Add`s beside the arrays. Removing a file marks its row; nothing is
//! copied.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use arrow_array::{Array, BooleanArray, StructArray};
use arrow_schema::{Field, Fields};

use crate::actions::{Add, FileKey};
use crate::checkpoint_arrow::add_array;
use crate::checkpoint_columns::AddColumns;
use crate::path::canonical_str;
use crate::stats_text::StatsColumn;

/// The children of a checkpoint's `add` struct a chunk keeps: what
/// [`AddColumns`] decodes (typed statistics and partition values are not;
/// the statistics text is kept apart, in a [`StatsColumn`]).
const KEPT_COLUMNS: &[&str] = &[
    "path",
    "partitionValues",
    "size",
    "modificationTime",
    "dataChange",
    "tags",
    "deletionVector",
    "baseRowId",
    "defaultRowCommitVersion",
    "clusteringProvider",
];

/// Whether an optional child holds nothing for any row (all null, or, for
/// partition values, all empty maps): [`AddColumns`] reads a missing child
/// the same way, so it is not kept.
fn says_nothing(field: &Field, column: &arrow_array::ArrayRef) -> bool {
    if !OPTIONAL_COLUMNS.contains(&field.name().as_str()) {
        return false;
    }
    if column.null_count() == column.len() {
        return true;
    }
    field.name() == "partitionValues"
        && column
            .as_any()
            .downcast_ref::<arrow_array::MapArray>()
            .is_some_and(|m| {
                let offsets = m.value_offsets();
                offsets.first() == offsets.last()
            })
}

/// Kept children a chunk may leave out (see [`says_nothing`]).
const OPTIONAL_COLUMNS: &[&str] = &[
    "partitionValues",
    "tags",
    "deletionVector",
    "baseRowId",
    "defaultRowCommitVersion",
    "clusteringProvider",
];

/// Owned files (added by commits) beyond this many are moved into a chunk.
const TAIL_LIMIT: usize = 4096;

/// Rows of one checkpoint batch's `add` column, each a live file.
#[derive(Clone)]
pub(crate) struct AddChunk {
    /// Only kept columns and only rows that decoded (see [`Self::from_rows`]).
    add: StructArray,
    /// Each row's statistics text.
    stats: StatsColumn,
    /// A bit per row, set when a later commit removed the file.
    removed: Option<Vec<u64>>,
    /// Rows not removed.
    live: usize,
}

impl AddChunk {
    /// Keeps `rows` (ascending) of a checkpoint batch's `add` column. Every
    /// row must have decoded with [`AddColumns::get`] to `Some(Ok(_))`; the
    /// chunk's decoding relies on it. `None` when the column is not a struct.
    pub(crate) fn from_rows(add: &dyn Array, rows: &[u32]) -> Option<Self> {
        let add = add.as_any().downcast_ref::<StructArray>()?;
        let (&first, &last) = (rows.first()?, rows.last()?);
        // Rows of one kind are usually contiguous (state rows come first):
        // a slice shares the decoded buffers instead of copying them.
        let selected = if (last - first) as usize + 1 == rows.len() {
            add.slice(first as usize, rows.len())
        } else {
            let mut mask = vec![false; add.len()];
            for &r in rows {
                mask[r as usize] = true;
            }
            let filtered = arrow_select::filter::filter(add, &BooleanArray::from(mask)).ok()?;
            filtered.as_any().downcast_ref::<StructArray>()?.clone()
        };
        let (fields, columns): (Vec<_>, Vec<_>) = selected
            .fields()
            .iter()
            .zip(selected.columns())
            .filter(|(f, c)| KEPT_COLUMNS.contains(&f.name().as_str()) && !says_nothing(f, c))
            .map(|(f, c)| (f.clone(), c.clone()))
            .unzip();
        let fields: Fields = fields
            .into_iter()
            .collect::<Vec<std::sync::Arc<Field>>>()
            .into();
        let stats = match selected.column_by_name("stats") {
            Some(c) => Some(c.as_any().downcast_ref::<arrow_array::StringArray>()?),
            None => None,
        };
        let stats = StatsColumn::new(stats, selected.len());
        let add = StructArray::try_new(fields, columns, selected.nulls().cloned()).ok()?;
        AddColumns::new(&add)?;
        Some(Self {
            live: add.len(),
            add,
            stats,
            removed: None,
        })
    }

    fn columns(&self) -> AddColumns<'_> {
        // `from_rows` checked that the kept columns have the types
        // `AddColumns` reads.
        AddColumns::new(&self.add).expect("a chunk's columns were checked when it was made")
    }

    fn is_removed(&self, row: usize) -> bool {
        self.removed
            .as_ref()
            .is_some_and(|bits| bits[row / 64] & (1 << (row % 64)) != 0)
    }

    fn mark_removed(&mut self, row: usize) {
        let len = self.add.len();
        let bits = self
            .removed
            .get_or_insert_with(|| vec![0; len.div_ceil(64)]);
        if bits[row / 64] & (1 << (row % 64)) == 0 {
            bits[row / 64] |= 1 << (row % 64);
            self.live -= 1;
        }
    }

    /// Whether some live row has no JSON statistics.
    pub(crate) fn lacks_stats(&self) -> bool {
        (0..self.add.len()).any(|row| !self.is_removed(row) && !self.stats.has(row))
    }

    fn decode(&self, cols: &AddColumns<'_>, row: usize) -> Add {
        // Every row of a chunk decoded when the chunk was made (`from_rows`),
        // and decoding is a pure function of the arrays.
        let mut add = cols
            .get(row)
            .expect("a chunk row takes the fast path")
            .expect("a chunk row decoded when the chunk was made");
        add.stats = self.stats.get(row);
        add
    }
}

/// A snapshot's live files: checkpoint rows column-wise, later files owned.
/// In no particular order.
#[derive(Clone, Default)]
pub struct FileList {
    chunks: Vec<AddChunk>,
    tail: Vec<Add>,
    len: usize,
}

impl fmt::Debug for FileList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileList")
            .field("len", &self.len)
            .field("columnar", &self.columnar_len())
            .field("owned", &self.tail.len())
            .finish()
    }
}

impl FileList {
    /// Adds checkpoint chunks (whose keys no file here has).
    pub(crate) fn add_chunks(&mut self, chunks: Vec<AddChunk>) {
        self.len += chunks.iter().map(|c| c.live).sum::<usize>();
        self.chunks.extend(chunks);
    }

    /// How many live files.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no live files.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of the files are held in Arrow arrays rather than as `Add`s.
    pub fn columnar_len(&self) -> usize {
        self.chunks.iter().map(|c| c.live).sum()
    }

    /// Bytes the column-wise part holds (Arrow buffers, by capacity).
    pub fn columnar_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| {
                c.add.get_array_memory_size()
                    + c.stats.memory_size()
                    + c.removed.as_ref().map_or(0, |b| b.len() * 8)
            })
            .sum()
    }

    /// The files, each decoded as it is reached (borrowed when held as an
    /// `Add` already).
    pub fn iter(&self) -> Files<'_> {
        Files {
            list: self,
            chunk: 0,
            row: 0,
            cols: None,
            tail: self.tail.iter(),
            remaining: self.len,
        }
    }

    /// Every file as an owned `Add`.
    pub fn to_vec(&self) -> Vec<Add> {
        self.iter().map(Cow::into_owned).collect()
    }

    /// The `i`-th file in iteration order.
    pub fn get(&self, i: usize) -> Option<Cow<'_, Add>> {
        let mut i = i;
        for chunk in &self.chunks {
            if i >= chunk.live {
                i -= chunk.live;
                continue;
            }
            let row = (0..chunk.add.len())
                .filter(|r| !chunk.is_removed(*r))
                .nth(i)?;
            return Some(Cow::Owned(chunk.decode(&chunk.columns(), row)));
        }
        self.tail.get(i).map(Cow::Borrowed)
    }

    /// The first file in iteration order.
    pub fn first(&self) -> Option<Cow<'_, Add>> {
        self.get(0)
    }

    /// The sum of the files' sizes, read from the size column without
    /// decoding files.
    pub fn total_size(&self) -> i64 {
        let columnar: i64 = self
            .chunks
            .iter()
            .map(|c| {
                let cols = c.columns();
                (0..c.add.len())
                    .filter(|r| !c.is_removed(*r))
                    .map(|r| cols.size_at(r))
                    .sum::<i64>()
            })
            .sum();
        columnar + self.tail.iter().map(|a| a.size).sum::<i64>()
    }

    /// Adds a file (the caller knows no live file has its key).
    pub(crate) fn push(&mut self, add: Add) {
        self.tail.push(add);
        self.len += 1;
        if self.tail.len() >= TAIL_LIMIT {
            self.compact_tail();
        }
    }

    /// Adds files (the caller knows no live file has their keys), kept
    /// owned: replay's last step, where moving them into columns would cost
    /// more than the rest of a load from commits alone.
    pub(crate) fn extend(&mut self, adds: impl IntoIterator<Item = Add>) {
        let before = self.tail.len();
        self.tail.extend(adds);
        self.len += self.tail.len() - before;
    }

    /// Moves the owned files into a column-wise chunk, so a snapshot kept up
    /// to date by `refresh` for hours holds its files as compactly as one
    /// loaded from a checkpoint.
    pub(crate) fn compact_tail(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let refs: Vec<&Add> = self.tail.iter().collect();
        let Ok(array) = add_array(&refs) else {
            return;
        };
        // Typed `Add`s were validated when parsed, and their columns decode
        // back to them (`owned_files_moved_into_columns_come_back_equal`).
        debug_assert!(AddColumns::new(array.as_ref()).is_some_and(|cols| {
            (0..refs.len()).all(|row| matches!(cols.get(row), Some(Ok(_))))
        }));
        let rows: Vec<u32> = (0..refs.len() as u32).collect();
        if let Some(chunk) = AddChunk::from_rows(array.as_ref(), &rows) {
            self.chunks.push(chunk);
            self.tail = Vec::new();
        }
    }

    /// Removes the live files whose key is in `keys`. A file is decoded only
    /// when its path matches one of the keys'.
    pub(crate) fn remove_keys(&mut self, keys: &HashSet<FileKey>) {
        if keys.is_empty() || self.len == 0 {
            return;
        }
        let paths: HashSet<&str> = keys.iter().map(|k| k.path.as_str()).collect();
        let mut removed = 0;
        for chunk in &mut self.chunks {
            let hits: Vec<usize> = {
                let cols = chunk.columns();
                (0..chunk.add.len())
                    .filter(|&row| {
                        !chunk.is_removed(row)
                            && paths.contains(canonical_str(cols.path_at(row)).as_ref())
                            && keys.contains(&chunk.decode(&cols, row).key())
                    })
                    .collect()
            };
            for row in hits {
                chunk.mark_removed(row);
                removed += 1;
            }
        }
        self.chunks.retain(|c| c.live > 0);
        let before = self.tail.len();
        self.tail.retain(|a| {
            !(paths.contains(canonical_str(a.path.as_str()).as_ref()) && keys.contains(&a.key()))
        });
        removed += before - self.tail.len();
        self.len -= removed;
    }
}

/// Iterator over a [`FileList`].
pub struct Files<'a> {
    list: &'a FileList,
    chunk: usize,
    row: usize,
    cols: Option<AddColumns<'a>>,
    tail: std::slice::Iter<'a, Add>,
    remaining: usize,
}

impl<'a> Iterator for Files<'a> {
    type Item = Cow<'a, Add>;

    fn next(&mut self) -> Option<Cow<'a, Add>> {
        let list = self.list;
        while let Some(chunk) = list.chunks.get(self.chunk) {
            if self.row >= chunk.add.len() {
                self.chunk += 1;
                self.row = 0;
                self.cols = None;
                continue;
            }
            let row = self.row;
            self.row += 1;
            if chunk.is_removed(row) {
                continue;
            }
            let cols = self.cols.get_or_insert_with(|| chunk.columns());
            self.remaining -= 1;
            return Some(Cow::Owned(chunk.decode(cols, row)));
        }
        let add = self.tail.next()?;
        self.remaining -= 1;
        Some(Cow::Borrowed(add))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Files<'_> {}

impl<'a> IntoIterator for &'a FileList {
    type Item = Cow<'a, Add>;
    type IntoIter = Files<'a>;

    fn into_iter(self) -> Files<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{Action, parse_action_line};

    /// An add with a mix of the optional fields, varying with `i`.
    fn add(i: usize) -> Add {
        let dv = if i % 5 == 0 {
            format!(
                r#","deletionVector":{{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}}K{{vb[*k^","offset":{i},"sizeInBytes":36,"cardinality":{}}}"#,
                i % 7 + 1
            )
        } else {
            String::new()
        };
        let tags = match i % 3 {
            0 => r#","tags":{}"#.to_string(),
            1 => format!(r#","tags":{{"k":"v{i}","n":null}}"#),
            _ => String::new(),
        };
        let stats = if i % 4 == 0 {
            String::new()
        } else {
            format!(
                r#","stats":"{{\"numRecords\":{i},\"minValues\":{{\"x\":{i}}},\"maxValues\":{{\"x\":\"z{i}\"}},\"nullCount\":{{\"x\":0}}}}""#
            )
        };
        let row_tracking = if i % 2 == 0 {
            format!(r#","baseRowId":{},"defaultRowCommitVersion":3"#, i * 10)
        } else {
            String::new()
        };
        let clustering = if i % 6 == 0 {
            r#","clusteringProvider":"liquid""#
        } else {
            ""
        };
        let path = if i % 9 == 0 {
            format!("d%3D{i}/part%20{i}.parquet")
        } else {
            format!("part-{i}.parquet")
        };
        let line = format!(
            r#"{{"add":{{"path":"{path}","partitionValues":{{"d":"{}"}},"size":{},"modificationTime":{i},"dataChange":{}{stats}{tags}{dv}{row_tracking}{clustering}}}}}"#,
            i % 3,
            i * 100,
            i % 2 == 0
        );
        match parse_action_line(line.as_bytes()) {
            Ok(Some(Action::Add(a))) => *a,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn sorted(files: impl IntoIterator<Item = Add>) -> Vec<Add> {
        let mut v: Vec<Add> = files.into_iter().collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// Asserts two file lists are equal, showing only the first difference.
    fn assert_same(got: Vec<Add>, want: Vec<Add>) {
        assert_eq!(got.len(), want.len());
        for (g, w) in sorted(got).into_iter().zip(sorted(want)) {
            assert_eq!(g, w);
        }
    }

    #[test]
    fn owned_files_moved_into_columns_come_back_equal() {
        let n = TAIL_LIMIT + 10;
        let adds: Vec<Add> = (0..n).map(add).collect();
        let mut list = FileList::default();
        for a in adds.clone() {
            list.push(a);
        }
        assert_eq!(list.len(), n);
        assert_eq!(list.columnar_len(), TAIL_LIMIT, "one chunk, ten owned");
        assert_eq!(list.iter().len(), n);
        assert_same(list.to_vec(), adds.clone());
        assert_eq!(list.total_size(), adds.iter().map(|a| a.size).sum::<i64>());
        for i in [0, 1, TAIL_LIMIT - 1, TAIL_LIMIT, n - 1] {
            assert_eq!(
                list.get(i).map(Cow::into_owned),
                list.iter().nth(i).map(Cow::into_owned)
            );
        }
        assert!(list.get(n).is_none());
    }

    #[test]
    fn removing_keys_reaches_columns_and_owned_files() {
        let n = TAIL_LIMIT + 10;
        let adds: Vec<Add> = (0..n).map(add).collect();
        let mut list = FileList::default();
        for a in adds.clone() {
            list.push(a);
        }
        assert_eq!(list.columnar_len(), TAIL_LIMIT);
        // Chunk rows (plain, percent-encoded, with a DV) and an owned one;
        // a key whose path matches but whose DV does not is not removed.
        let gone = [1usize, 9, 10, n - 1];
        let mut keys: HashSet<FileKey> = gone.iter().map(|&i| adds[i].key()).collect();
        keys.insert(FileKey {
            path: adds[20].key().path,
            dv_id: Some("other".into()),
        });
        list.remove_keys(&keys);
        assert_eq!(list.len(), n - gone.len());
        let expected: Vec<Add> = adds
            .iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(i))
            .map(|(_, a)| a.clone())
            .collect();
        assert_same(list.to_vec(), expected.clone());
        assert_eq!(
            list.total_size(),
            expected.iter().map(|a| a.size).sum::<i64>()
        );
        assert_eq!(
            list.get(1).map(Cow::into_owned),
            list.iter().nth(1).map(Cow::into_owned)
        );
    }
}
