//! How one data file's rows are shared among the threads that decode it.
//!
//! A file is cut into pieces of about equal row counts, one per thread.
//! Cuts fall on row-group boundaries and, where the file has an offset
//! index, also on the page boundaries of its largest column, so a row
//! group that holds most of the file (a partition's file written by two
//! encoders, say: 206,240 and 293,760 rows) is still decoded by every
//! core, and each piece decompresses only the pages it returns (plus, for
//! the other columns, the one page it shares with its neighbour).
//!
//! Pieces only choose which rows a thread decodes; the reader returns them
//! in file order, so the concatenated pieces are the file, and each piece
//! knows the file positions of its rows (for deletion vectors).

use std::ops::Range;

use parquet::arrow::arrow_reader::RowSelection;
use parquet::file::metadata::ParquetMetaData;

/// Rows `rows` of row group `group`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowSpan {
    pub group: usize,
    pub rows: Range<usize>,
}

/// The rows one thread decodes: spans in file order, at most one per row
/// group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    spans: Vec<RowSpan>,
    /// Rows in each row group of the file.
    group_rows: Vec<usize>,
}

impl Piece {
    /// The row groups the piece reads from.
    pub(crate) fn groups(&self) -> Vec<usize> {
        self.spans.iter().map(|s| s.group).collect()
    }

    /// Whether the piece reads from row group `group`.
    pub(crate) fn has_group(&self, group: usize) -> bool {
        self.spans.iter().any(|s| s.group == group)
    }

    /// The piece's rows within the rows of `groups` (row groups of this
    /// piece, in file order, as a reader returns them); `None` when it
    /// reads them whole.
    pub(crate) fn selection(&self, groups: &[usize]) -> Option<RowSelection> {
        let mut ranges = Vec::new();
        let mut base = 0;
        let mut partial = false;
        for &g in groups {
            let rows = self.group_rows.get(g).copied().unwrap_or(0);
            if let Some(span) = self.spans.iter().find(|s| s.group == g) {
                partial |= span.rows != (0..rows);
                ranges.push(base + span.rows.start..base + span.rows.end);
            }
            base += rows;
        }
        partial.then(|| RowSelection::from_consecutive_ranges(ranges.into_iter(), base))
    }

    /// The positions in the file (counted from its first row) of the rows
    /// the piece returns, in order, when nothing else prunes them.
    pub(crate) fn file_rows(&self) -> FileRows {
        let mut starts = Vec::with_capacity(self.group_rows.len());
        let mut base = 0u64;
        for &rows in &self.group_rows {
            starts.push(base);
            base += rows as u64;
        }
        FileRows {
            ranges: self
                .spans
                .iter()
                .map(|s| {
                    let start = starts.get(s.group).copied().unwrap_or(0);
                    start + s.rows.start as u64..start + s.rows.end as u64
                })
                .collect(),
            at: 0,
        }
    }

    #[cfg(test)]
    fn spans(&self) -> &[RowSpan] {
        &self.spans
    }
}

/// A cursor over the file positions of the rows a decode returns, batch
/// by batch.
#[derive(Debug, Clone)]
pub(crate) struct FileRows {
    ranges: Vec<Range<u64>>,
    at: usize,
}

impl FileRows {
    /// Every row of the file, from the first.
    pub(crate) fn whole_file() -> Self {
        Self {
            ranges: std::iter::once(0..u64::MAX).collect(),
            at: 0,
        }
    }

    /// The positions of the next `n` rows.
    pub(crate) fn next_rows(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(range) = self.ranges.get_mut(self.at) else {
                break;
            };
            let take = (n - out.len()).min((range.end - range.start) as usize);
            out.extend(range.start..range.start + take as u64);
            range.start += take as u64;
            if range.start == range.end {
                self.at += 1;
            }
        }
        out
    }
}

/// Splits a file of row groups with `group_rows` rows into at most
/// `pieces` pieces of about equal rows. `page_starts[g]`, when given, are
/// rows of group `g` where a page of the file's largest column begins
/// (other cut points inside a group); without them pieces are whole row
/// groups. Empty pieces are left out, so fewer may come back.
pub(crate) fn plan(
    group_rows: &[usize],
    page_starts: Option<&[Vec<usize>]>,
    pieces: usize,
) -> Vec<Piece> {
    let total: usize = group_rows.iter().sum();
    // Every row where a piece may begin, in file order: each row group's
    // first row, then its page starts.
    let mut candidates = Vec::new();
    let mut base = 0;
    for (g, &rows) in group_rows.iter().enumerate() {
        candidates.push(base);
        if let Some(starts) = page_starts.and_then(|p| p.get(g)) {
            candidates.extend(
                starts
                    .iter()
                    .filter(|&&s| s > 0 && s < rows)
                    .map(|s| base + s),
            );
        }
        base += rows;
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut cuts = vec![0];
    for k in 1..pieces.max(1) {
        let target = (k as u128 * total as u128 / pieces as u128) as usize;
        let nearest = nearest(&candidates, target);
        if let Some(&last) = cuts.last()
            && nearest > last
            && nearest < total
        {
            cuts.push(nearest);
        }
    }
    cuts.push(total);
    let make = |range: Range<usize>| {
        let mut spans = Vec::new();
        let mut base = 0;
        for (group, &rows) in group_rows.iter().enumerate() {
            let (start, end) = (range.start.max(base), range.end.min(base + rows));
            if start < end || (rows == 0 && range.contains(&base)) {
                spans.push(RowSpan {
                    group,
                    rows: start - base..end.max(start) - base,
                });
            }
            base += rows;
        }
        Piece {
            spans,
            group_rows: group_rows.to_vec(),
        }
    };
    if total == 0 {
        return vec![make(0..1)];
    }
    cuts.windows(2).map(|w| make(w[0]..w[1])).collect()
}

/// The candidate closest to `target` (candidates sorted, never empty when
/// there are rows).
fn nearest(candidates: &[usize], target: usize) -> usize {
    let i = candidates.partition_point(|&c| c < target);
    let after = candidates.get(i).copied();
    let before = i.checked_sub(1).and_then(|j| candidates.get(j)).copied();
    match (before, after) {
        (Some(b), Some(a)) => {
            if target - b <= a - target {
                b
            } else {
                a
            }
        }
        (Some(b), None) => b,
        (None, Some(a)) => a,
        (None, None) => 0,
    }
}

/// The rows where pages of the file's largest column (by compressed
/// bytes, over the whole file) begin, per row group, from the offset index;
/// `None` when the file has none for that column in every row group.
pub(crate) fn page_starts(metadata: &ParquetMetaData) -> Option<Vec<Vec<usize>>> {
    let offsets = metadata.offset_index()?;
    let groups = metadata.row_groups();
    let columns = groups.first()?.num_columns();
    let largest = (0..columns).max_by_key(|&c| {
        groups
            .iter()
            .map(|g| g.column(c).compressed_size().max(0) as u64)
            .sum::<u64>()
    })?;
    (0..groups.len())
        .map(|g| {
            let index = offsets.get(g)?.get(largest)?;
            Some(
                index
                    .page_locations()
                    .iter()
                    .map(|p| usize::try_from(p.first_row_index).unwrap_or(0))
                    .collect(),
            )
        })
        .collect()
}

/// Whether the file's offset index is whole and consistent with its
/// footer: for every row group and column, pages that start at row 0 and
/// at strictly increasing rows below the group's row count, and lie inside
/// the column chunk's bytes in increasing order. The reader trusts the
/// index to find and skip pages, so an index that fails this is not used.
pub(crate) fn offset_index_is_sound(metadata: &ParquetMetaData) -> bool {
    let Some(offsets) = metadata.offset_index() else {
        return true;
    };
    let groups = metadata.row_groups();
    offsets.len() == groups.len()
        && groups.iter().zip(offsets).all(|(group, columns)| {
            let rows = group.num_rows();
            columns.len() == group.num_columns()
                && group.columns().iter().zip(columns).all(|(chunk, index)| {
                    let (start, len) = chunk.byte_range();
                    let end = start.saturating_add(len);
                    let pages = index.page_locations();
                    pages.first().is_some_and(|p| p.first_row_index == 0)
                        && pages.windows(2).all(|w| {
                            w[0].first_row_index < w[1].first_row_index && w[0].offset < w[1].offset
                        })
                        && pages.iter().all(|p| {
                            let (Ok(at), Ok(size)) = (
                                u64::try_from(p.offset),
                                u64::try_from(p.compressed_page_size),
                            ) else {
                                return false;
                            };
                            (p.first_row_index < rows || rows == 0)
                                && at >= start
                                && at.saturating_add(size) <= end
                        })
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every row of every group, each once, in file order.
    fn covered(pieces: &[Piece]) -> Vec<(usize, usize)> {
        pieces
            .iter()
            .flat_map(|p| p.spans().iter())
            .flat_map(|s| s.rows.clone().map(move |r| (s.group, r)))
            .collect()
    }

    #[test]
    fn a_large_row_group_is_split_at_page_starts() {
        let rows = [206_240, 293_760];
        let pages = vec![
            (0..206_240).step_by(25_000).collect::<Vec<_>>(),
            (0..293_760).step_by(25_000).collect::<Vec<_>>(),
        ];
        let pieces = plan(&rows, Some(&pages), 2);
        assert_eq!(pieces.len(), 2);
        // The fair cut is file row 250,000 (group 1's row 43,760, not a page
        // start); the nearest page start is group 1's row 50,000 (file row
        // 256,240), so the pieces hold 256,240 and 243,760 rows.
        assert_eq!(
            pieces[0].spans(),
            &[
                RowSpan {
                    group: 0,
                    rows: 0..206_240
                },
                RowSpan {
                    group: 1,
                    rows: 0..50_000
                }
            ]
        );
        assert_eq!(
            pieces[1].spans(),
            &[RowSpan {
                group: 1,
                rows: 50_000..293_760
            }]
        );
        // Piece 1 reads the tail of group 1 only.
        let sel = pieces[1].selection(&[1]).unwrap();
        assert_eq!(sel.row_count(), 243_760);
        // Piece 0 reads group 0 whole and the head of group 1.
        let sel = pieces[0].selection(&[0, 1]).unwrap();
        assert_eq!(sel.row_count(), 256_240);
        // Without page starts the cut stays on the row-group boundary.
        let whole = plan(&rows, None, 2);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].groups(), vec![0]);
        assert_eq!(whole[1].groups(), vec![1]);
        assert!(whole[0].selection(&[0]).is_none());
    }

    /// A one-column file of 10,000 rows in pages of 1,000.
    fn file_with_pages() -> bytes::Bytes {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch};
        let column: ArrayRef = std::sync::Arc::new(Int64Array::from_iter_values(0..10_000));
        let batch = RecordBatch::try_from_iter([("v", column)]).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_data_page_row_count_limit(1_000)
            .set_write_batch_size(1_000)
            .build();
        let mut buf = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        bytes::Bytes::from(buf)
    }

    #[test]
    fn an_offset_index_that_does_not_fit_the_footer_is_not_sound() {
        use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
        use parquet::file::metadata::PageIndexPolicy;
        use parquet::file::page_index::offset_index::PageLocation;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let meta = ArrowReaderMetadata::load(&file_with_pages(), options).unwrap();
        let meta = meta.metadata().as_ref().clone();
        assert!(offset_index_is_sound(&meta));
        let starts = page_starts(&meta).unwrap();
        assert_eq!(starts, vec![(0..10_000).step_by(1_000).collect::<Vec<_>>()]);
        type Change<'a> = &'a dyn Fn(&mut Vec<PageLocation>);
        let tampered = |change: Change<'_>| {
            let mut index = meta.offset_index().unwrap().clone();
            change(&mut index[0][0].page_locations);
            meta.clone()
                .into_builder()
                .set_offset_index(Some(index))
                .build()
        };
        let cases: [(&str, Change<'_>); 5] = [
            ("a page past its chunk", &|p| p[1].offset += 1 << 20),
            ("pages out of order", &|p| p.swap(1, 2)),
            ("a first page not at row 0", &|p| p[0].first_row_index = 5),
            ("a page past the last row", &|p| {
                p[9].first_row_index = 10_000
            }),
            ("no pages", &|p| p.clear()),
        ];
        for (what, change) in cases {
            assert!(!offset_index_is_sound(&tampered(change)), "{what}");
        }
    }

    #[test]
    fn file_rows_follow_the_pieces_spans() {
        let rows = [100, 50, 80];
        let pages: Vec<Vec<usize>> = rows.iter().map(|&r| (0..r).step_by(10).collect()).collect();
        let pieces = plan(&rows, Some(&pages), 3);
        let mut all = Vec::new();
        for p in &pieces {
            let mut cursor = p.file_rows();
            let spanned: usize = p.spans().iter().map(|s| s.rows.len()).sum();
            // Handed out in uneven batches, then nothing once used up.
            let mut got = cursor.next_rows(7);
            while got.len() < spanned {
                got.extend(cursor.next_rows(33));
            }
            assert!(cursor.next_rows(5).is_empty());
            all.extend(got);
        }
        assert_eq!(all, (0..230).collect::<Vec<u64>>());
        assert_eq!(FileRows::whole_file().next_rows(3), vec![0, 1, 2]);
    }

    #[test]
    fn an_empty_file_is_one_piece() {
        let pieces = plan(&[0], None, 4);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].groups(), vec![0]);
        assert!(plan(&[], None, 2).len() == 1);
    }

    proptest! {
        #[test]
        fn pieces_cover_every_row_once_in_order(
            rows in prop::collection::vec(1usize..5_000, 1..6),
            page in 1usize..2_000,
            pieces in 1usize..6,
            with_pages in any::<bool>(),
        ) {
            let pages: Vec<Vec<usize>> = rows.iter().map(|&r| (0..r).step_by(page).collect()).collect();
            let planned = plan(&rows, with_pages.then_some(pages.as_slice()), pieces);
            prop_assert!(!planned.is_empty() && planned.len() <= pieces);
            let expected: Vec<(usize, usize)> = rows
                .iter()
                .enumerate()
                .flat_map(|(g, &r)| (0..r).map(move |i| (g, i)))
                .collect();
            prop_assert_eq!(covered(&planned), expected);
            let total: usize = rows.iter().sum();
            for p in &planned {
                let groups = p.groups();
                let n: usize = match p.selection(&groups) {
                    Some(s) => s.row_count(),
                    None => groups.iter().map(|&g| rows[g]).sum(),
                };
                let spanned: usize = p.spans().iter().map(|s| s.rows.len()).sum();
                prop_assert_eq!(n, spanned);
                // No piece is more than one cut unit past its fair share.
                let unit = if with_pages { page } else { *rows.iter().max().unwrap_or(&0) };
                prop_assert!(spanned <= total / pieces + unit + 1);
            }
        }
    }
}
