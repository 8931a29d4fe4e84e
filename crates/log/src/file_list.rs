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
    /// These files and the chunks' (whose keys none of these files has).
    pub(crate) fn with_chunks(mut self, chunks: Vec<AddChunk>) -> Self {
        self.len += chunks.iter().map(|c| c.live).sum::<usize>();
        self.chunks.extend(chunks);
        self
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
    }

    /// Adds files (the caller knows no live file has their keys).
    pub(crate) fn extend(&mut self, adds: impl IntoIterator<Item = Add>) {
        let before = self.tail.len();
        self.tail.extend(adds);
        self.len += self.tail.len() - before;
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
