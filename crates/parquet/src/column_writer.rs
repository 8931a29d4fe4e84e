//! silt's own column writer for top-level strings and 32- and 64-bit
//! integers and floats. For a column that keeps its dictionary: one hash
//! lookup per value into the column chunk's dictionary, page and chunk
//! bounds taken over the distinct entries a page uses instead of comparing
//! every value, and indices bit-packed a word at a time. parquet-rs's
//! writer interns each value, compares it against the running min/max,
//! then re-encodes every index one by one at page end. A string column
//! written plain (the dictionary choice turned its dictionary off) takes
//! the same path as the values after an outgrown dictionary, strings
//! ordered by their first eight bytes as one word before their bytes are
//! compared; numbers written plain stay with parquet-rs.
//!
//! A chunk is laid out as parquet-rs lays it out (data page v1, a plain
//! dictionary page first, `RLE_DICTIONARY` data pages, the same page size
//! and row limits, chunk statistics, column and offset index), so readers
//! see no difference. Like parquet-rs, a dictionary that outgrows its page
//! limit is closed and the rest of the chunk is written plain.
//!
//! What differs by type (how a value is stored, hashed, ordered and
//! encoded, and what its statistics look like) is a [`Kind`]; the pages,
//! levels and metadata are shared.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, OffsetSizeTrait};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, PageType, Type as PhysicalType};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError as EncodeError, Result as EncodeResult};
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;

use crate::page_bytes::{self, PageCompressor, encoding};

/// A column writer of silt's own, as the row group builder holds it.
pub(crate) trait OwnColumnWriter: Send {
    /// Encodes `array` (of the column's Arrow type).
    fn write(&mut self, array: &dyn Array) -> EncodeResult<()>;
    /// Bytes held in memory.
    fn memory_size(&self) -> usize;
    /// Bytes the chunk is expected to take in the file.
    fn estimated_total_bytes(&self) -> usize;
    /// The chunk's pages (dictionary page first) and what the file writer
    /// needs to append them.
    fn close(self: Box<Self>) -> EncodeResult<(ChunkPages, ColumnCloseResult)>;
}

/// A finished column chunk as its pages (each its header and body), read
/// back in order by the file writer without first joining them.
#[derive(Clone, Default)]
pub(crate) struct ChunkPages(Vec<Bytes>);

impl ChunkPages {
    fn push(&mut self, header: &[u8], body: &[u8]) {
        let mut page = Vec::with_capacity(header.len() + body.len());
        page.extend_from_slice(header);
        page.extend_from_slice(body);
        self.0.push(Bytes::from(page));
    }
}

impl parquet::file::reader::Length for ChunkPages {
    fn len(&self) -> u64 {
        self.0.iter().map(|p| p.len() as u64).sum()
    }
}

impl parquet::file::reader::ChunkReader for ChunkPages {
    type T = PagesRead;

    fn get_read(&self, start: u64) -> EncodeResult<PagesRead> {
        let mut read = PagesRead(self.0.iter().cloned().collect());
        let mut skip = start as usize;
        while skip > 0 {
            let Some(page) = read.0.front_mut() else {
                break;
            };
            let n = skip.min(page.len());
            *page = page.slice(n..);
            skip -= n;
            if page.is_empty() {
                read.0.pop_front();
            }
        }
        Ok(read)
    }

    fn get_bytes(&self, start: u64, length: usize) -> EncodeResult<Bytes> {
        let mut out = vec![0; length];
        std::io::Read::read_exact(&mut self.get_read(start)?, &mut out)?;
        Ok(out.into())
    }
}

/// Reads [`ChunkPages`] from some offset on.
pub(crate) struct PagesRead(std::collections::VecDeque<Bytes>);

impl std::io::Read for PagesRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(page) = self.0.front_mut() {
            if page.is_empty() {
                self.0.pop_front();
                continue;
            }
            let n = buf.len().min(page.len());
            buf[..n].copy_from_slice(&page[..n]);
            *page = page.slice(n..);
            return Ok(n);
        }
        Ok(0)
    }
}

/// Makes silt's own writer for one column (see [`own_writer`]).
pub(crate) type MakeWriter =
    fn(ColumnDescPtr, &WriterProperties) -> EncodeResult<Box<dyn OwnColumnWriter>>;

fn make<K: Kind + 'static>(
    descr: ColumnDescPtr,
    props: &WriterProperties,
) -> EncodeResult<Box<dyn OwnColumnWriter>> {
    Ok(Box::new(ChunkWriter::<K>::new(descr, props)?))
}

/// How to make silt's own writer for leaf `descr` of an Arrow column of
/// type `data_type` under `props`, where it takes that column.
pub(crate) fn own_writer(
    descr: &ColumnDescPtr,
    data_type: &DataType,
    props: &WriterProperties,
) -> Option<MakeWriter> {
    let path = descr.path();
    // Only the exact properties this writer implements: version 1 data
    // pages, its own choice of encodings (dictionary, else plain), no page
    // header statistics, an offset index, no bloom filter.
    let eligible = path.parts().len() == 1
        && descr.max_rep_level() == 0
        && props.writer_version() == WriterVersion::PARQUET_1_0
        && props.encoding(path).is_none()
        && !props.write_page_header_statistics(path)
        && !props.offset_index_disabled()
        && props.bloom_filter_properties(path).is_none()
        && PageCompressor::supports(props.compression(path));
    let strings = matches!(data_type, DataType::Utf8 | DataType::LargeUtf8);
    // Numbers written plain stay with parquet-rs, whose loops over a whole
    // slice of them beat this writer's value-at-a-time path.
    if !eligible || (!strings && !props.dictionary_enabled(path)) {
        return None;
    }
    let physical = descr.physical_type();
    Some(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 if physical == PhysicalType::BYTE_ARRAY => {
            make::<Strings>
        }
        DataType::Int32 if physical == PhysicalType::INT32 => make::<Int32s>,
        DataType::Int64 if physical == PhysicalType::INT64 => make::<Int64s>,
        DataType::Float32 if physical == PhysicalType::FLOAT => make::<Float32s>,
        DataType::Float64 if physical == PhysicalType::DOUBLE => make::<Float64s>,
        _ => return None,
    })
}

/// One physical kind of value: how the writer stores, hashes, orders and
/// encodes it, and what its statistics look like. Values are handed
/// around as raw bytes where they leave the hot path (bounds).
trait Kind: Send {
    /// A value as the writer holds it while encoding.
    type Ref<'a>: Copy;
    /// Values in order: a dictionary's entries.
    type Store: Default + Send;
    const PHYSICAL: PhysicalType;

    /// Feeds `array`'s values (by index) to `writer`.
    fn write_array(writer: &mut ChunkWriter<Self>, array: &dyn Array) -> EncodeResult<()>
    where
        Self: Sized;
    fn push(store: &mut Self::Store, v: Self::Ref<'_>);
    fn get(store: &Self::Store, i: usize) -> Self::Ref<'_>;
    fn store_bytes(store: &Self::Store) -> usize;
    /// A hash of `v`; `seed` is odd and random per dictionary.
    fn hash(v: Self::Ref<'_>, seed: u64, hasher: &ahash::RandomState) -> u64;
    fn same(store: &Self::Store, i: usize, v: Self::Ref<'_>) -> bool;
    /// Bytes of `v` plain-encoded.
    fn plain_size(v: Self::Ref<'_>) -> usize;
    fn encode_plain(v: Self::Ref<'_>, out: &mut Vec<u8>);
    /// `v`'s raw bytes (as statistics hold them, untruncated).
    fn raw(v: Self::Ref<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        Self::raw_into(v, &mut out);
        out
    }
    /// Replaces `out` with `v`'s raw bytes, reusing its allocation.
    fn raw_into(v: Self::Ref<'_>, out: &mut Vec<u8>);
    /// The value whose raw bytes are `raw` (see [`Kind::raw`]).
    fn from_raw(raw: &[u8]) -> Self::Ref<'_>;
    /// Whether `a` sorts before `b` in the column's statistics order.
    fn less(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool;
    /// Whether `v` counts towards bounds (a NaN does not).
    fn bounded(v: Self::Ref<'_>) -> bool;
    /// A page's column-index bounds from raw min and max.
    fn index_bounds(lo: &[u8], hi: &[u8], limit: Option<usize>) -> (Vec<u8>, Vec<u8>);
    /// Chunk statistics from raw bounds.
    fn statistics(bounds: Option<(&[u8], &[u8])>, nulls: u64, limit: Option<usize>) -> Statistics;
}

fn nulls_of(array: &dyn Array) -> Option<&NullBuffer> {
    array.nulls().filter(|n| n.null_count() > 0)
}

// ---------------------------------------------------------------- strings

/// A string value: the first `len` bytes of `tail`, whose bytes past the
/// value (where there are any) let its first word load without a copy.
#[derive(Clone, Copy)]
struct StrRef<'a> {
    tail: &'a [u8],
    len: usize,
}

impl<'a> StrRef<'a> {
    fn bytes(self) -> &'a [u8] {
        &self.tail[..self.len]
    }

    /// The first eight bytes, little-endian, zero past the value's end.
    #[inline]
    fn head(self) -> u64 {
        let word = match self.tail.get(..8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
            Some(w) => u64::from_le_bytes(w),
            None => {
                let mut w = [0u8; 8];
                let n = self.len.min(8);
                w[..n].copy_from_slice(&self.tail[..n]);
                u64::from_le_bytes(w)
            }
        };
        if self.len >= 8 {
            word
        } else {
            word & ((1u64 << (self.len * 8)) - 1)
        }
    }
}

/// Strings stored back to back.
#[derive(Default)]
struct StringStore {
    bytes: Vec<u8>,
    /// Value `i` starts at `starts[i]`, ends where the next starts.
    starts: Vec<usize>,
    /// Per value: its first eight bytes and its length, so a lookup of a
    /// short value compares two words and no bytes.
    heads: Vec<(u64, usize)>,
}

struct Strings;

impl Kind for Strings {
    type Ref<'a> = StrRef<'a>;
    type Store = StringStore;
    const PHYSICAL: PhysicalType = PhysicalType::BYTE_ARRAY;

    fn write_array(writer: &mut ChunkWriter<Self>, array: &dyn Array) -> EncodeResult<()> {
        fn strings<O: OffsetSizeTrait>(
            writer: &mut ChunkWriter<Strings>,
            a: &arrow_array::GenericStringArray<O>,
        ) -> EncodeResult<()> {
            let offsets = a.value_offsets();
            let data = a.value_data();
            writer.take(a.len(), nulls_of(a), |i| {
                let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
                StrRef {
                    tail: &data[start..],
                    len: end - start,
                }
            })
        }
        match array.data_type() {
            DataType::Utf8 => strings(writer, array.as_string::<i32>()),
            DataType::LargeUtf8 => strings(writer, array.as_string::<i64>()),
            other => Err(EncodeError::General(format!(
                "a string column was given {other}"
            ))),
        }
    }

    fn push(store: &mut StringStore, v: StrRef<'_>) {
        store.starts.push(store.bytes.len());
        store.heads.push((v.head(), v.len));
        store.bytes.extend_from_slice(v.bytes());
    }

    fn get(store: &StringStore, i: usize) -> StrRef<'_> {
        StrRef {
            tail: &store.bytes[store.starts[i]..],
            len: store.heads[i].1,
        }
    }

    fn store_bytes(store: &StringStore) -> usize {
        store.bytes.capacity() + store.starts.capacity() * 8 + store.heads.capacity() * 16
    }

    #[inline]
    fn hash(v: StrRef<'_>, seed: u64, hasher: &ahash::RandomState) -> u64 {
        if v.len <= 8 {
            // A folded multiply of the whole value (it fits the word).
            folded_multiply(v.head() ^ ((v.len as u64) << 59), seed)
        } else {
            hasher.hash_one(v.bytes())
        }
    }

    #[inline]
    fn same(store: &StringStore, i: usize, v: StrRef<'_>) -> bool {
        store.heads[i] == (v.head(), v.len)
            && (v.len <= 8 || Self::get(store, i).bytes()[8..] == v.bytes()[8..])
    }

    fn plain_size(v: StrRef<'_>) -> usize {
        4 + v.len
    }

    fn encode_plain(v: StrRef<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(&(v.len as u32).to_le_bytes());
        out.extend_from_slice(v.bytes());
    }

    fn raw_into(v: StrRef<'_>, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(v.bytes());
    }

    fn from_raw(raw: &[u8]) -> StrRef<'_> {
        StrRef {
            tail: raw,
            len: raw.len(),
        }
    }

    #[inline]
    fn less(a: StrRef<'_>, b: StrRef<'_>) -> bool {
        // The first eight bytes read big-endian order as the bytes do (a
        // value that ends early pads with zeros, and is then a prefix of
        // the other); equal words leave it to the bytes.
        let (x, y) = (a.head().swap_bytes(), b.head().swap_bytes());
        if x != y { x < y } else { a.bytes() < b.bytes() }
    }

    fn bounded(_: StrRef<'_>) -> bool {
        true
    }

    fn index_bounds(lo: &[u8], hi: &[u8], limit: Option<usize>) -> (Vec<u8>, Vec<u8>) {
        (lower_bound(lo, limit).0, upper_bound(hi, limit).0)
    }

    fn statistics(bounds: Option<(&[u8], &[u8])>, nulls: u64, limit: Option<usize>) -> Statistics {
        let (min, max) = match bounds {
            Some((lo, hi)) => (Some(lower_bound(lo, limit)), Some(upper_bound(hi, limit))),
            None => (None, None),
        };
        let exact = |b: &Option<(Vec<u8>, bool)>| b.as_ref().is_some_and(|(_, e)| *e);
        let (min_exact, max_exact) = (exact(&min), exact(&max));
        Statistics::ByteArray(
            ValueStatistics::new(
                min.map(|(v, _)| ByteArray::from(v)),
                max.map(|(v, _)| ByteArray::from(v)),
                None,
                Some(nulls),
                false,
            )
            .with_min_is_exact(min_exact)
            .with_max_is_exact(max_exact),
        )
    }
}

fn folded_multiply(x: u64, seed: u64) -> u64 {
    let m = u128::from(x) * u128::from(seed);
    (m >> 64) as u64 ^ m as u64
}

/// The longest prefix of UTF-8 `v` within `limit` bytes, ending on a
/// character boundary.
fn utf8_prefix(v: &[u8], limit: usize) -> &[u8] {
    let mut end = limit.min(v.len());
    // Continuation bytes are 0b10xx_xxxx.
    while end > 0 && end < v.len() && (v[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &v[..end]
}

/// A lower bound of `v` within `limit` bytes, and whether it is `v`.
fn lower_bound(v: &[u8], limit: Option<usize>) -> (Vec<u8>, bool) {
    match limit {
        Some(limit) if v.len() > limit => (utf8_prefix(v, limit).to_vec(), false),
        _ => (v.to_vec(), true),
    }
}

/// An upper bound of `v` within `limit` bytes where one exists (a prefix
/// whose last character that can be is incremented), else `v` itself;
/// and whether it is `v`.
fn upper_bound(v: &[u8], limit: Option<usize>) -> (Vec<u8>, bool) {
    let Some(limit) = limit.filter(|l| v.len() > *l) else {
        return (v.to_vec(), true);
    };
    let Ok(prefix) = std::str::from_utf8(utf8_prefix(v, limit)) else {
        return (v.to_vec(), true);
    };
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next.filter(|n| n.len_utf8() == last.len_utf8()) {
            chars.push(next);
            return (chars.into_iter().collect::<String>().into_bytes(), false);
        }
    }
    (v.to_vec(), true)
}

// ------------------------------------------------- integers and floats

/// A fixed-width number kind, its values held as their bits.
trait Number: Send {
    type Arrow: arrow_array::types::ArrowPrimitiveType;
    const PHYSICAL: PhysicalType;
    const WIDTH: usize;
    fn bits(v: <Self::Arrow as arrow_array::types::ArrowPrimitiveType>::Native) -> u64;
    fn less(a: u64, b: u64) -> bool;
    fn bounded(v: u64) -> bool;
    /// Min and max bits as statistics and the column index write them.
    fn outward(lo: u64, hi: u64) -> (u64, u64);
    fn statistics(bounds: Option<(u64, u64)>, nulls: u64) -> Statistics;
}

fn bits_of_raw(raw: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = raw.len().min(8);
    w[..n].copy_from_slice(&raw[..n]);
    u64::from_le_bytes(w)
}

macro_rules! number_kind {
    ($name:ident, $arrow:ty, $physical:expr, $width:expr, $bits:expr, $less:expr,
     $bounded:expr, $outward:expr, $stats:expr) => {
        struct $name;
        impl Number for $name {
            type Arrow = $arrow;
            const PHYSICAL: PhysicalType = $physical;
            const WIDTH: usize = $width;
            fn bits(v: <$arrow as arrow_array::types::ArrowPrimitiveType>::Native) -> u64 {
                ($bits)(v)
            }
            fn less(a: u64, b: u64) -> bool {
                ($less)(a, b)
            }
            fn bounded(v: u64) -> bool {
                ($bounded)(v)
            }
            fn outward(lo: u64, hi: u64) -> (u64, u64) {
                ($outward)(lo, hi)
            }
            fn statistics(bounds: Option<(u64, u64)>, nulls: u64) -> Statistics {
                ($stats)(bounds, nulls)
            }
        }
    };
}

/// A kind of signed integers stored as-is: `$name` for Arrow's `$arrow`
/// (native `$int`, via `$unsigned` to its bits), written as `$physical`.
macro_rules! int_kind {
    ($name:ident, $arrow:ty, $int:ty, $unsigned:ty, $physical:expr, $stats:ident) => {
        number_kind!(
            $name,
            $arrow,
            $physical,
            std::mem::size_of::<$int>(),
            |v: $int| v as $unsigned as u64,
            |a: u64, b: u64| (a as $unsigned as $int) < (b as $unsigned as $int),
            |_: u64| true,
            |lo: u64, hi: u64| (lo, hi),
            |b: Option<(u64, u64)>, n| Statistics::$stats(
                b.map(|(lo, _)| lo as $unsigned as $int),
                b.map(|(_, hi)| hi as $unsigned as $int),
                None,
                Some(n),
                false
            )
        );
    };
}

/// A kind of floats as the Parquet spec orders them for statistics: NaN
/// left out, a zero minimum written as -0.0 and a zero maximum as +0.0.
macro_rules! float_kind {
    ($name:ident, $arrow:ty, $float:ty, $unsigned:ty, $physical:expr, $stats:ident) => {
        number_kind!(
            $name,
            $arrow,
            $physical,
            std::mem::size_of::<$float>(),
            |v: $float| v.to_bits() as u64,
            |a: u64, b: u64| <$float>::from_bits(a as $unsigned)
                < <$float>::from_bits(b as $unsigned),
            |v: u64| !<$float>::from_bits(v as $unsigned).is_nan(),
            |lo: u64, hi: u64| {
                let zero = |v: u64| <$float>::from_bits(v as $unsigned) == 0.0;
                (
                    if zero(lo) {
                        (-0.0 as $float).to_bits() as u64
                    } else {
                        lo
                    },
                    if zero(hi) {
                        (0.0 as $float).to_bits() as u64
                    } else {
                        hi
                    },
                )
            },
            |b: Option<(u64, u64)>, n| Statistics::$stats(
                b.map(|(lo, _)| <$float>::from_bits(lo as $unsigned)),
                b.map(|(_, hi)| <$float>::from_bits(hi as $unsigned)),
                None,
                Some(n),
                false
            )
        );
    };
}

int_kind!(Int32s, Int32Type, i32, u32, PhysicalType::INT32, int32);
int_kind!(Int64s, Int64Type, i64, u64, PhysicalType::INT64, int64);
float_kind!(Float32s, Float32Type, f32, u32, PhysicalType::FLOAT, float);
float_kind!(
    Float64s,
    Float64Type,
    f64,
    u64,
    PhysicalType::DOUBLE,
    double
);

impl<N: Number> Kind for N {
    type Ref<'a> = u64;
    type Store = Vec<u64>;
    const PHYSICAL: PhysicalType = N::PHYSICAL;

    fn write_array(writer: &mut ChunkWriter<Self>, array: &dyn Array) -> EncodeResult<()> {
        let Some(a) = array.as_primitive_opt::<N::Arrow>() else {
            return Err(EncodeError::General(format!(
                "a {:?} column was given {}",
                N::PHYSICAL,
                array.data_type()
            )));
        };
        let values = a.values();
        writer.take(a.len(), nulls_of(a), |i| N::bits(values[i]))
    }

    fn push(store: &mut Vec<u64>, v: u64) {
        store.push(v);
    }

    fn get(store: &Vec<u64>, i: usize) -> u64 {
        store[i]
    }

    fn store_bytes(store: &Vec<u64>) -> usize {
        store.capacity() * 8
    }

    #[inline]
    fn hash(v: u64, seed: u64, _: &ahash::RandomState) -> u64 {
        folded_multiply(v, seed)
    }

    #[inline]
    fn same(store: &Vec<u64>, i: usize, v: u64) -> bool {
        store[i] == v
    }

    fn plain_size(_: u64) -> usize {
        N::WIDTH
    }

    fn encode_plain(v: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&v.to_le_bytes()[..N::WIDTH]);
    }

    fn raw_into(v: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&v.to_le_bytes()[..N::WIDTH]);
    }

    fn from_raw(raw: &[u8]) -> u64 {
        bits_of_raw(raw)
    }

    fn less(a: u64, b: u64) -> bool {
        N::less(a, b)
    }

    fn bounded(v: u64) -> bool {
        N::bounded(v)
    }

    fn index_bounds(lo: &[u8], hi: &[u8], _: Option<usize>) -> (Vec<u8>, Vec<u8>) {
        let (lo, hi) = N::outward(bits_of_raw(lo), bits_of_raw(hi));
        (
            lo.to_le_bytes()[..N::WIDTH].to_vec(),
            hi.to_le_bytes()[..N::WIDTH].to_vec(),
        )
    }

    fn statistics(bounds: Option<(&[u8], &[u8])>, nulls: u64, _: Option<usize>) -> Statistics {
        N::statistics(
            bounds.map(|(lo, hi)| N::outward(bits_of_raw(lo), bits_of_raw(hi))),
            nulls,
        )
    }
}

// ------------------------------------------------------------- the writer

/// A column chunk's dictionary: distinct values in order of first
/// appearance, found by an open-addressing table of their hashes.
struct Dictionary<K: Kind> {
    entries: K::Store,
    hashes: Vec<u64>,
    /// `(hash >> 32) << 32 | (entry + 1)`; 0 is an empty slot.
    slots: Vec<u64>,
    hasher: ahash::RandomState,
    /// Odd multiplier for the cheap hashes, drawn per dictionary so crafted
    /// values cannot aim at one slot.
    seed: u64,
    /// Bytes of the plain-encoded dictionary page.
    plain_bytes: usize,
}

impl<K: Kind> Dictionary<K> {
    fn new() -> Self {
        let hasher = ahash::RandomState::new();
        let seed = hasher.hash_one(0x5157_u64) | 1;
        Self {
            entries: K::Store::default(),
            hashes: Vec::new(),
            slots: vec![0; 1024],
            hasher,
            seed,
            plain_bytes: 0,
        }
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The entry of `v`, added if new.
    #[inline]
    fn intern(&mut self, v: K::Ref<'_>) -> u32 {
        let hash = K::hash(v, self.seed, &self.hasher);
        let tag = hash >> 32;
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            if slot >> 32 == tag {
                let entry = (slot as u32 - 1) as usize;
                if K::same(&self.entries, entry, v) {
                    return entry as u32;
                }
            }
            at = (at + 1) & mask;
        }
        let entry = self.len();
        self.slots[at] = (tag << 32) | (entry as u64 + 1);
        self.hashes.push(hash);
        K::push(&mut self.entries, v);
        self.plain_bytes += K::plain_size(v);
        if self.len() * 2 > self.slots.len() {
            self.grow();
        }
        entry as u32
    }

    fn grow(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (entry, hash) in self.hashes.iter().enumerate() {
            let mut at = *hash as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = ((hash >> 32) << 32) | (entry as u64 + 1);
        }
        self.slots = slots;
    }

    fn memory_size(&self) -> usize {
        K::store_bytes(&self.entries) + self.hashes.capacity() * 8 + self.slots.capacity() * 8
    }
}

/// Raw min and max, merged by `K`'s order.
fn widen<K: Kind>(acc: &mut Option<(Vec<u8>, Vec<u8>)>, lo: &[u8], hi: &[u8]) {
    match acc {
        None => *acc = Some((lo.to_vec(), hi.to_vec())),
        Some((alo, ahi)) => {
            if K::less(K::from_raw(lo), K::from_raw(alo)) {
                *alo = lo.to_vec();
            }
            if K::less(K::from_raw(ahi), K::from_raw(hi)) {
                *ahi = hi.to_vec();
            }
        }
    }
}

/// The smallest and largest of `values` that count towards bounds.
fn bounds_of<'a, K: Kind + 'a>(
    values: impl Iterator<Item = K::Ref<'a>>,
) -> Option<(K::Ref<'a>, K::Ref<'a>)> {
    values
        .filter(|v| K::bounded(*v))
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((
                if K::less(v, lo) { v } else { lo },
                if K::less(hi, v) { v } else { hi },
            )),
        })
}

/// One page's entry in the column index.
struct PageBounds {
    /// Raw min and max of its values that count towards bounds.
    bounds: Option<(Vec<u8>, Vec<u8>)>,
    values: usize,
    nulls: usize,
}

/// A data page's place in the chunk's data pages.
struct PageLocation {
    offset: usize,
    size: usize,
    rows: usize,
}

/// A page that cannot be encoded, as the Parquet writer's error (the
/// writer API this column writer plugs into takes only its own type).
fn encode_err(e: page_bytes::PageError) -> EncodeError {
    EncodeError::General(e.to_string())
}

/// Writes one top-level column chunk of kind `K`; see the module docs.
struct ChunkWriter<K: Kind> {
    descr: ColumnDescPtr,
    nullable: bool,
    codec: Compression,
    compressor: PageCompressor,
    page_row_limit: usize,
    page_byte_limit: usize,
    dictionary_limit: usize,
    statistics: EnabledStatistics,
    chunk_bound_bytes: Option<usize>,
    index_bound_bytes: Option<usize>,
    dictionary: Dictionary<K>,
    /// Set once the dictionary outgrew its limit: values go plain.
    plain_mode: bool,
    // The page being filled.
    page_values: usize,
    page_nulls: usize,
    /// One bit per value of the page, present or null; kept only once the
    /// page has a null.
    present: Vec<u8>,
    indices: Vec<u32>,
    plain: Vec<u8>,
    plain_bounds: Option<(Vec<u8>, Vec<u8>)>,
    /// Which entries the page uses, one bit each (its bounds).
    seen: Vec<u64>,
    // The chunk so far.
    data: ChunkPages,
    /// Bytes of the data pages so far.
    data_bytes: usize,
    body: Vec<u8>,
    compressed: Vec<u8>,
    uncompressed_bytes: usize,
    pages: Vec<PageLocation>,
    page_bounds: Vec<PageBounds>,
    dictionary_pages: i32,
    plain_pages: i32,
    /// Bounds of the values written plain.
    chunk_plain_bounds: Option<(Vec<u8>, Vec<u8>)>,
    values: usize,
    nulls: usize,
}

impl<K: Kind> ChunkWriter<K> {
    /// Encodes `len` values, `value(i)` the `i`th (where not null).
    fn take<'a>(
        &mut self,
        len: usize,
        nulls: Option<&NullBuffer>,
        value: impl Fn(usize) -> K::Ref<'a>,
    ) -> EncodeResult<()> {
        if nulls.is_some() && !self.nullable {
            return Err(EncodeError::General(format!(
                "column {} is required but has nulls",
                self.descr.path()
            )));
        }
        for i in 0..len {
            if nulls.is_some_and(|n| n.is_null(i)) {
                self.push_null();
            } else {
                if self.page_nulls > 0 {
                    self.push_present();
                }
                self.page_values += 1;
                let v = value(i);
                if self.plain_mode {
                    self.add_plain(v);
                } else {
                    let entry = self.dictionary.intern(v);
                    self.indices.push(entry);
                    if self.dictionary.plain_bytes > self.dictionary_limit {
                        // Like parquet-rs: close the dictionary with this
                        // page, write the rest of the chunk plain.
                        self.flush_page()?;
                        self.plain_mode = true;
                        continue;
                    }
                }
            }
            if self.page_values >= self.page_row_limit || self.plain.len() >= self.page_byte_limit {
                self.flush_page()?;
            }
        }
        Ok(())
    }
}

impl<K: Kind> ChunkWriter<K> {
    fn new(descr: ColumnDescPtr, props: &WriterProperties) -> EncodeResult<Self> {
        let path = descr.path();
        let codec = props.compression(path);
        let compressor = PageCompressor::new(codec)
            .ok_or_else(|| EncodeError::General(format!("no page compressor for {codec}")))?;
        let plain_mode = !props.dictionary_enabled(path);
        Ok(Self {
            nullable: descr.max_def_level() > 0,
            codec,
            compressor,
            page_row_limit: props.data_page_row_count_limit().max(1),
            page_byte_limit: props.data_page_size_limit().max(1),
            dictionary_limit: props.dictionary_page_size_limit(),
            statistics: props.statistics_enabled(path),
            chunk_bound_bytes: props.statistics_truncate_length(),
            index_bound_bytes: props.column_index_truncate_length(),
            descr,
            dictionary: Dictionary::new(),
            plain_mode,
            page_values: 0,
            page_nulls: 0,
            present: Vec::new(),
            indices: Vec::new(),
            plain: Vec::new(),
            plain_bounds: None,
            seen: Vec::new(),
            data: ChunkPages::default(),
            data_bytes: 0,
            body: Vec::new(),
            compressed: Vec::new(),
            uncompressed_bytes: 0,
            pages: Vec::new(),
            page_bounds: Vec::new(),
            dictionary_pages: 0,
            plain_pages: 0,
            chunk_plain_bounds: None,
            values: 0,
            nulls: 0,
        })
    }

    /// Notes a null as the page's next value. A page's presence bits are
    /// only kept once it has a null: the first one fills them in for the
    /// values before it.
    fn push_null(&mut self) {
        if self.page_nulls == 0 {
            self.present.clear();
            self.present.resize(self.page_values / 8, 0xFF);
            let rest = self.page_values % 8;
            if rest > 0 {
                self.present.push((1u8 << rest) - 1);
            }
        }
        if self.page_values % 8 == 0 {
            self.present.push(0);
        }
        self.page_nulls += 1;
        self.page_values += 1;
    }

    /// Sets the presence bit of the page's next value (pages with nulls).
    fn push_present(&mut self) {
        let bit = self.page_values % 8;
        if bit == 0 {
            self.present.push(1);
        } else if let Some(b) = self.present.last_mut() {
            *b |= 1 << bit;
        }
    }

    fn add_plain(&mut self, v: K::Ref<'_>) {
        K::encode_plain(v, &mut self.plain);
        if !K::bounded(v) {
            return;
        }
        match &mut self.plain_bounds {
            None => self.plain_bounds = Some((K::raw(v), K::raw(v))),
            Some((lo, hi)) => {
                // In place: sorted input makes every value a new bound.
                if K::less(v, K::from_raw(lo)) {
                    K::raw_into(v, lo);
                } else if K::less(K::from_raw(hi), v) {
                    K::raw_into(v, hi);
                }
            }
        }
    }

    /// The raw bounds of the dictionary entries the page's indices use.
    fn dictionary_page_bounds(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let words = self.dictionary.len().div_ceil(64);
        self.seen.clear();
        self.seen.resize(words, 0);
        for &i in &self.indices {
            self.seen[i as usize >> 6] |= 1 << (i & 63);
        }
        let entries = &self.dictionary.entries;
        let used = self.seen.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        });
        bounds_of::<K>(used.map(|e| K::get(entries, e))).map(|(lo, hi)| (K::raw(lo), K::raw(hi)))
    }

    /// Writes out the page being filled, if it has values.
    fn flush_page(&mut self) -> EncodeResult<()> {
        if self.page_values == 0 {
            return Ok(());
        }
        self.write_page()
    }

    /// Writes out the page being filled (of no values, a plain page holding
    /// nothing).
    fn write_page(&mut self) -> EncodeResult<()> {
        let non_null = self.page_values - self.page_nulls;
        self.body.clear();
        if self.nullable {
            page_bytes::definition_levels(
                &mut self.body,
                &self.present,
                self.page_values,
                self.page_nulls,
            );
        }
        let (value_encoding, bounds) = if self.plain_mode || non_null == 0 {
            self.body.extend_from_slice(&self.plain);
            self.plain_pages += 1;
            let bounds = self.plain_bounds.take();
            if let Some((lo, hi)) = &bounds {
                widen::<K>(&mut self.chunk_plain_bounds, lo, hi);
            }
            (encoding::PLAIN, bounds)
        } else {
            let width = page_bytes::bit_width(self.dictionary.len() as u64 - 1).max(1);
            self.body.push(width);
            page_bytes::bit_packed_run(&mut self.body, &self.indices, width);
            self.dictionary_pages += 1;
            let bounds = if self.statistics == EnabledStatistics::Page {
                self.dictionary_page_bounds()
            } else {
                None
            };
            (encoding::RLE_DICTIONARY, bounds)
        };
        self.compressed.clear();
        let compressed = self
            .compressor
            .compress(&self.body, &mut self.compressed)
            .map_err(encode_err)?;
        let header = page_bytes::data_page_header(
            self.body.len(),
            compressed,
            self.page_values,
            value_encoding,
        )
        .map_err(encode_err)?;
        self.pages.push(PageLocation {
            offset: self.data_bytes,
            size: header.len() + compressed,
            rows: self.page_values,
        });
        self.data.push(&header, &self.compressed);
        self.data_bytes += header.len() + compressed;
        self.uncompressed_bytes += header.len() + self.body.len();
        self.page_bounds.push(PageBounds {
            bounds,
            values: self.page_values,
            nulls: self.page_nulls,
        });
        self.values += self.page_values;
        self.nulls += self.page_nulls;
        self.page_values = 0;
        self.page_nulls = 0;
        self.present.clear();
        self.indices.clear();
        self.plain.clear();
        Ok(())
    }

    /// The column index, unless a page of values has no bounds (NaNs
    /// only), which the index cannot express (parquet-rs leaves it out too).
    fn column_index(
        &self,
    ) -> EncodeResult<Option<parquet::file::page_index::column_index::ColumnIndexMetaData>> {
        let mut index = ColumnIndexBuilder::new(K::PHYSICAL);
        for page in &self.page_bounds {
            match &page.bounds {
                Some((lo, hi)) => {
                    let (lo, hi) = K::index_bounds(lo, hi, self.index_bound_bytes);
                    index.append(false, lo, hi, page.nulls as i64)
                }
                None if page.values == page.nulls => {
                    index.append(true, Vec::new(), Vec::new(), page.nulls as i64)
                }
                None => return Ok(None),
            }
        }
        Ok(Some(index.build()?))
    }
}

impl<K: Kind> OwnColumnWriter for ChunkWriter<K> {
    fn write(&mut self, array: &dyn Array) -> EncodeResult<()> {
        K::write_array(self, array)
    }

    fn memory_size(&self) -> usize {
        self.data_bytes
            + self.dictionary.memory_size()
            + self.indices.capacity() * 4
            + self.plain.capacity()
            + self.present.capacity()
            + self.body.capacity()
            + self.compressed.capacity()
    }

    fn estimated_total_bytes(&self) -> usize {
        let width = page_bytes::bit_width(self.dictionary.len() as u64) as usize;
        self.data_bytes
            + if self.plain_mode {
                0
            } else {
                self.dictionary.plain_bytes
            }
            + (self.indices.len() * width).div_ceil(8)
            + self.plain.len()
    }

    fn close(mut self: Box<Self>) -> EncodeResult<(ChunkPages, ColumnCloseResult)> {
        self.flush_page()?;
        if self.pages.is_empty() {
            // A chunk of no values still has one (empty) data page.
            self.write_page()?;
        }

        let mut uncompressed = self.uncompressed_bytes;
        let with_dictionary = self.dictionary_pages > 0;
        let mut chunk = ChunkPages::default();
        if with_dictionary {
            self.body.clear();
            self.body.reserve(self.dictionary.plain_bytes);
            for e in 0..self.dictionary.len() {
                K::encode_plain(K::get(&self.dictionary.entries, e), &mut self.body);
            }
            self.compressed.clear();
            let n = self
                .compressor
                .compress(&self.body, &mut self.compressed)
                .map_err(encode_err)?;
            let header =
                page_bytes::dictionary_page_header(self.body.len(), n, self.dictionary.len())
                    .map_err(encode_err)?;
            uncompressed += header.len() + self.body.len();
            chunk.push(&header, &self.compressed);
        }
        let data_offset = chunk.0.first().map_or(0, Bytes::len);
        chunk.0.append(&mut self.data.0);
        let chunk_bytes = data_offset + self.data_bytes;

        let mut encodings = vec![Encoding::RLE];
        let mut encoding_stats = Vec::new();
        if with_dictionary {
            encodings.push(Encoding::PLAIN);
            encodings.push(Encoding::RLE_DICTIONARY);
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::RLE_DICTIONARY,
                count: self.dictionary_pages,
            });
        }
        if self.plain_pages > 0 {
            if !with_dictionary {
                encodings.push(Encoding::PLAIN);
            }
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::PLAIN,
                count: self.plain_pages,
            });
        }

        let mut builder = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.codec)
            .set_encodings(encodings)
            .set_page_encoding_stats(encoding_stats)
            .set_total_compressed_size(chunk_bytes as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_num_values(self.values as i64)
            .set_data_page_offset(data_offset as i64)
            .set_dictionary_page_offset(with_dictionary.then_some(0));
        if self.statistics != EnabledStatistics::None {
            builder = builder.set_statistics(self.chunk_statistics());
        }
        let metadata = builder.build()?;

        let column_index = if self.statistics == EnabledStatistics::Page {
            self.column_index()?
        } else {
            None
        };
        let mut offsets = OffsetIndexBuilder::new();
        for page in &self.pages {
            offsets.append_offset_and_size((data_offset + page.offset) as i64, page.size as i32);
            offsets.append_row_count(page.rows as i64);
        }
        let close = ColumnCloseResult {
            bytes_written: chunk_bytes as u64,
            rows_written: self.values as u64,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index: Some(offsets.build()),
        };
        Ok((chunk, close))
    }
}

impl<K: Kind> ChunkWriter<K> {
    fn chunk_statistics(&self) -> Statistics {
        let entries = &self.dictionary.entries;
        let mut bounds = bounds_of::<K>((0..self.dictionary.len()).map(|e| K::get(entries, e)))
            .map(|(lo, hi)| (K::raw(lo), K::raw(hi)));
        if let Some((lo, hi)) = &self.chunk_plain_bounds {
            widen::<K>(&mut bounds, lo, hi);
        }
        K::statistics(
            bounds
                .as_ref()
                .map(|(lo, hi)| (lo.as_slice(), hi.as_slice())),
            self.nulls as u64,
            self.chunk_bound_bytes,
        )
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
    use parquet::basic::ZstdLevel;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    use parquet::file::page_index::column_index::ColumnIndexMetaData;
    use proptest::prelude::*;
    use std::sync::Arc;

    struct Limits {
        page_rows: usize,
        dictionary_bytes: usize,
        bound_bytes: usize,
        compression: Compression,
        nullable: bool,
        dictionary: bool,
    }

    fn props(l: &Limits) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(l.compression)
            .set_dictionary_enabled(l.dictionary)
            .set_data_page_row_count_limit(l.page_rows)
            .set_dictionary_page_size_limit(l.dictionary_bytes)
            .set_statistics_truncate_length(Some(l.bound_bytes))
            .set_column_index_truncate_length(Some(l.bound_bytes))
            .build()
    }

    /// Writes `batches` of one column through silt's writer into a whole
    /// Parquet file (as `SharedFile` appends it).
    fn write_arrays(batches: &[ArrayRef], data_type: DataType, l: &Limits) -> Bytes {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "c",
            data_type.clone(),
            l.nullable,
        )]));
        let props = props(l);
        let leaves = ArrowSchemaConverter::new().convert(&schema).unwrap();
        let make =
            own_writer(&leaves.column(0), &data_type, &props).expect("silt writes this column");
        let mut w = make(leaves.column(0), &props).unwrap();
        for b in batches {
            w.write(b.as_ref()).unwrap();
        }
        let (bytes, close) = w.close().unwrap();
        assert_eq!(
            close.bytes_written,
            parquet::file::reader::Length::len(&bytes)
        );
        let (mut file, _) = ArrowWriter::try_new(Vec::new(), schema, Some(props))
            .unwrap()
            .into_serialized_writer()
            .unwrap();
        let mut rg = file.next_row_group().unwrap();
        rg.append_column(&bytes, close).unwrap();
        rg.close().unwrap();
        Bytes::from(file.into_inner().unwrap())
    }

    /// [`write_arrays`] for strings.
    fn write_file(batches: &[Vec<Option<String>>], l: &Limits) -> Bytes {
        let arrays: Vec<ArrayRef> = batches
            .iter()
            .map(|b| Arc::new(StringArray::from(b.clone())) as ArrayRef)
            .collect();
        write_arrays(&arrays, DataType::Utf8, l)
    }

    /// Smallest and largest of byte strings.
    fn bounds<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<(&'a [u8], &'a [u8])> {
        values.fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// The footer with each chunk's page encoding statistics in full.
    fn full_metadata(file: &Bytes) -> parquet::file::metadata::ParquetMetaData {
        ParquetMetaDataReader::new()
            .with_metadata_options(Some(
                parquet::file::metadata::ParquetMetaDataOptions::new()
                    .with_encoding_stats_as_mask(false),
            ))
            .parse_and_finish(file)
            .unwrap()
    }

    /// The file's one column, its batches joined.
    fn read_column(file: &Bytes) -> ArrayRef {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file.clone()).unwrap();
        let data_type = builder.schema().field(0).data_type().clone();
        let batches: Vec<RecordBatch> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
        let columns: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
        if columns.is_empty() {
            return arrow_array::new_empty_array(&data_type);
        }
        arrow_select::concat::concat(&columns).unwrap()
    }

    fn read_back(file: &Bytes) -> Vec<Option<String>> {
        let a = read_column(file);
        let a = a.as_string::<i32>();
        a.iter().map(|v| v.map(str::to_string)).collect()
    }

    /// Checks values, chunk statistics and the page index of `file`
    /// against `values`.
    fn check(values: &[Option<String>], file: &Bytes, l: &Limits) {
        assert_eq!(read_back(file), values);
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(file)
            .unwrap();
        let chunk = meta.row_group(0).column(0);
        assert_eq!(chunk.num_values() as usize, values.len());
        let present: Vec<&[u8]> = values.iter().flatten().map(|s| s.as_bytes()).collect();
        let Some(Statistics::ByteArray(stats)) = chunk.statistics() else {
            panic!("no statistics")
        };
        assert_eq!(
            stats.null_count_opt(),
            Some((values.len() - present.len()) as u64)
        );
        match bounds(present.iter().copied()) {
            None => assert!(stats.min_opt().is_none() && stats.max_opt().is_none()),
            Some((lo, hi)) => {
                let min = stats.min_opt().unwrap().data();
                let max = stats.max_opt().unwrap().data();
                assert!(
                    min <= lo && hi <= max,
                    "{min:?} {max:?} around {lo:?} {hi:?}"
                );
                assert!(min.len() <= l.bound_bytes || min == lo);
                assert_eq!(stats.min_is_exact(), min == lo);
                assert_eq!(stats.max_is_exact(), max == hi);
                assert!(std::str::from_utf8(min).is_ok() && std::str::from_utf8(max).is_ok());
            }
        }
        // Each page's index entry bounds exactly its own rows.
        let offsets = &meta.offset_index().unwrap()[0][0];
        let ColumnIndexMetaData::BYTE_ARRAY(index) = &meta.column_index().unwrap()[0][0] else {
            panic!("no byte-array column index")
        };
        let pages = &offsets.page_locations;
        assert_eq!(pages[0].first_row_index, 0);
        for (p, page) in pages.iter().enumerate() {
            let end = pages
                .get(p + 1)
                .map_or(values.len(), |n| n.first_row_index as usize);
            let rows = &values[page.first_row_index as usize..end];
            assert!(rows.len() <= l.page_rows, "page of {} rows", rows.len());
            let nulls = rows.iter().filter(|v| v.is_none()).count();
            assert_eq!(index.null_count(p), Some(nulls as i64));
            match bounds(rows.iter().flatten().map(|s| s.as_bytes())) {
                None => assert!(index.is_null_page(p)),
                Some((lo, hi)) => {
                    let (min, max) = (index.min_value(p).unwrap(), index.max_value(p).unwrap());
                    assert!(min <= lo && hi <= max);
                    assert!(min == lo || min.len() <= l.bound_bytes);
                }
            }
        }
    }

    #[test]
    fn chunk_pages_read_across_page_boundaries_from_any_offset() {
        use parquet::file::reader::ChunkReader;
        let mut pages = ChunkPages::default();
        pages.push(b"ab", b"cde");
        pages.push(b"", b"");
        pages.push(b"f", b"ghij");
        let all = b"abcdefghij";
        assert_eq!(parquet::file::reader::Length::len(&pages), 10);
        for start in 0..=10 {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut pages.get_read(start).unwrap(), &mut got).unwrap();
            assert_eq!(got, all[start as usize..]);
            for len in 0..=(10 - start as usize) {
                let b = pages.get_bytes(start, len).unwrap();
                assert_eq!(b, all[start as usize..start as usize + len]);
            }
        }
    }

    fn limits() -> Limits {
        Limits {
            page_rows: 20_000,
            dictionary_bytes: 1 << 20,
            bound_bytes: 64,
            compression: Compression::ZSTD(ZstdLevel::try_new(1).unwrap()),
            nullable: true,
            dictionary: true,
        }
    }

    #[test]
    fn a_column_writer_round_trips_with_its_statistics() {
        let values: Vec<Option<String>> = (0..50_000)
            .map(|i| (i % 7 != 3).then(|| format!("dev-{:04}", (i * 7919) % 1000)))
            .collect();
        let l = limits();
        let file = write_file(&[values[..12_345].to_vec(), values[12_345..].to_vec()], &l);
        check(&values, &file, &l);
        let meta = full_metadata(&file);
        let chunk = meta.row_group(0).column(0);
        assert!(chunk.dictionary_page_offset().is_some());
        let stats = chunk.page_encoding_stats().unwrap();
        assert!(
            stats
                .iter()
                .all(|s| s.encoding != Encoding::PLAIN || s.page_type == PageType::DICTIONARY_PAGE)
        );
    }

    #[test]
    fn an_outgrown_dictionary_leaves_the_rest_of_the_chunk_plain() {
        // 3,000 distinct values of 20 bytes: past a 16 KiB dictionary.
        let values: Vec<Option<String>> = (0..9_000)
            .map(|i| Some(format!("value-{:014}", i / 3)))
            .collect();
        let l = Limits {
            dictionary_bytes: 16 << 10,
            page_rows: 1_000,
            ..limits()
        };
        let file = write_file(std::slice::from_ref(&values), &l);
        check(&values, &file, &l);
        let meta = full_metadata(&file);
        let stats = meta
            .row_group(0)
            .column(0)
            .page_encoding_stats()
            .unwrap()
            .clone();
        let count = |e| {
            stats
                .iter()
                .filter(|s| s.page_type == PageType::DATA_PAGE && s.encoding == e)
                .map(|s| s.count)
                .sum::<i32>()
        };
        assert!(count(Encoding::RLE_DICTIONARY) > 0 && count(Encoding::PLAIN) > 0);
    }

    #[test]
    fn long_and_multibyte_bounds_are_truncated_outwards() {
        let long_max = format!("{}{}", "z".repeat(70), "\u{10FFFF}\u{10FFFF}");
        let values = vec![
            Some(format!("{}é", "a".repeat(63))),
            Some(long_max),
            None,
            Some("ü".repeat(40)),
        ];
        let l = limits();
        let file = write_file(std::slice::from_ref(&values), &l);
        check(&values, &file, &l);
    }

    #[test]
    fn values_alike_in_their_first_bytes_or_zeros_stay_distinct() {
        let mut values: Vec<String> = (0..3000).map(|i| format!("dev-0000{i:06}")).collect();
        values.extend(["", "\0", "\0\0", "a", "a\0", "dev-0000", "dev-000"].map(String::from));
        let data: Vec<u8> = values.iter().flat_map(|v| v.bytes()).collect();
        let mut d = Dictionary::<Strings>::new();
        let mut at = 0;
        let mut entries = Vec::new();
        for v in values.iter().chain(values.iter()) {
            let start = at % data.len();
            entries.push(d.intern(StrRef {
                tail: &data[start..],
                len: v.len(),
            }));
            at += v.len();
        }
        assert_eq!(d.len(), values.len());
        let (first, again) = entries.split_at(values.len());
        assert_eq!(first, again);
        for (e, v) in first.iter().zip(&values) {
            assert_eq!(Strings::get(&d.entries, *e as usize).bytes(), v.as_bytes());
        }
        let l = limits();
        let column: Vec<Option<String>> = values.into_iter().map(Some).collect();
        let file = write_file(std::slice::from_ref(&column), &l);
        check(&column, &file, &l);
    }

    #[test]
    fn all_null_and_empty_chunks_are_valid() {
        let l = limits();
        let nulls = vec![None; 100];
        let file = write_file(std::slice::from_ref(&nulls), &l);
        check(&nulls, &file, &l);
        let file = write_file(&[], &l);
        assert!(read_back(&file).is_empty());
    }

    #[test]
    fn plain_numbers_stay_with_parquet_rs_and_plain_strings_do_not() {
        let schema = Schema::new(vec![
            Field::new("f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        let leaves = ArrowSchemaConverter::new().convert(&schema).unwrap();
        let plain = props(&Limits {
            dictionary: false,
            ..limits()
        });
        let with_dictionary = props(&limits());
        assert!(own_writer(&leaves.column(0), &DataType::Float64, &plain).is_none());
        assert!(own_writer(&leaves.column(0), &DataType::Float64, &with_dictionary).is_some());
        assert!(own_writer(&leaves.column(1), &DataType::Utf8, &plain).is_some());
    }

    #[test]
    fn properties_it_does_not_implement_leave_the_column_to_parquet_rs() {
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
        let leaves = ArrowSchemaConverter::new().convert(&schema).unwrap();
        let s = leaves.column(0);
        let base = props(&limits());
        assert!(own_writer(&s, &DataType::Utf8, &base).is_some());
        let with = |f: fn(
            parquet::file::properties::WriterPropertiesBuilder,
        ) -> parquet::file::properties::WriterPropertiesBuilder| {
            f(base.clone().into_builder()).build()
        };
        for refused in [
            with(|b| b.set_writer_version(WriterVersion::PARQUET_2_0)),
            with(|b| b.set_encoding(Encoding::DELTA_LENGTH_BYTE_ARRAY)),
            with(|b| b.set_write_page_header_statistics(true)),
            with(|b| b.set_offset_index_disabled(true)),
        ] {
            assert!(own_writer(&s, &DataType::Utf8, &refused).is_none());
        }
    }

    #[test]
    fn large_strings_are_written_alike() {
        let values: Vec<Option<&str>> = (0..3000)
            .map(|i| (i % 4 != 0).then_some(["x", "yy", "zzz"][i % 3]))
            .collect();
        let l = limits();
        let large: ArrayRef = Arc::new(arrow_array::LargeStringArray::from(values.clone()));
        let file = write_arrays(&[large], DataType::LargeUtf8, &l);
        let column = read_column(&file);
        let got: Vec<Option<String>> = column
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect();
        let want: Vec<Option<String>> = values.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn required_columns_have_no_definition_levels() {
        let l = Limits {
            nullable: false,
            compression: Compression::SNAPPY,
            ..limits()
        };
        let values: Vec<Option<String>> = (0..5_000).map(|i| Some(format!("{}", i % 17))).collect();
        let file = write_file(std::slice::from_ref(&values), &l);
        check(&values, &file, &l);
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            6 => "[a-c]{0,3}".prop_map(Some),
            1 => "[a-zé\u{10000}]{0,40}".prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any values, split into any batches, under small page, dictionary
        /// and bound limits: the file reads back the same, and its
        /// statistics and page index bound exactly what each page holds.
        #[test]
        fn any_strings_round_trip(
            values in proptest::collection::vec(value(), 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..4),
            page_rows in 1usize..50,
            dictionary_bytes in 1usize..400,
            bound_bytes in 1usize..12,
            uncompressed in any::<bool>(),
            dictionary in any::<bool>(),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(values.len())).collect();
            cuts.push(0);
            cuts.push(values.len());
            cuts.sort();
            let batches: Vec<Vec<Option<String>>> =
                cuts.windows(2).map(|w| values[w[0]..w[1]].to_vec()).collect();
            let l = Limits {
                page_rows,
                dictionary_bytes,
                bound_bytes,
                compression: if uncompressed { Compression::UNCOMPRESSED } else { limits().compression },
                nullable: true,
                dictionary,
            };
            let file = write_file(&batches, &l);
            check(&values, &file, &l);
        }
    }

    #[test]
    fn a_file_with_own_and_parquet_rs_columns_reads_back() {
        // The writer beside parquet-rs's in one row group, as RowGroupBuilder
        // mixes them.
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let factory = crate::shared_file::RowGroupFactory::new(
            schema.clone(),
            WriterProperties::builder().build(),
            true,
        )
        .unwrap();
        let mut rg = factory.row_group().unwrap();
        let n: ArrayRef = Arc::new(arrow_array::Int64Array::from_iter_values(0..1000));
        let s: ArrayRef = Arc::new(StringArray::from_iter(
            (0..1000).map(|i| (i % 5 != 0).then(|| format!("k{}", i % 9))),
        ));
        let batch = RecordBatch::try_new(schema.clone(), vec![n, s]).unwrap();
        rg.write(&batch).unwrap();
        let (mut file, _) = ArrowWriter::try_new(Vec::new(), schema, None)
            .unwrap()
            .into_serialized_writer()
            .unwrap();
        let mut out = file.next_row_group().unwrap();
        for chunk in rg.finish().unwrap().into_chunks() {
            chunk.append_to(&mut out).unwrap();
        }
        out.close().unwrap();
        let bytes = Bytes::from(file.into_inner().unwrap());
        let got: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let got = arrow_select::concat::concat_batches(&got[0].schema(), &got).unwrap();
        assert_eq!(got.columns(), batch.columns());
    }

    /// Reads one numeric column back as bits (NaN compares by bits).
    fn read_bits(file: &Bytes) -> Vec<Option<u64>> {
        let a = read_column(file);
        match a.data_type() {
            DataType::Float64 => a
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(f64::to_bits))
                .collect(),
            DataType::Float32 => a
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(|v| u64::from(v.to_bits())))
                .collect(),
            DataType::Int64 => a
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(|v| v as u64))
                .collect(),
            DataType::Int32 => a
                .as_primitive::<Int32Type>()
                .iter()
                .map(|v| v.map(|v| u64::from(v as u32)))
                .collect(),
            t => panic!("{t}"),
        }
    }

    /// Checks a float64 file: values, chunk bounds (NaN left out, zeros
    /// signed outwards) and, when written, each page's index entry.
    fn check_f64(values: &[Option<f64>], file: &Bytes) {
        let want: Vec<Option<u64>> = values.iter().map(|v| v.map(f64::to_bits)).collect();
        assert_eq!(read_bits(file), want);
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(file)
            .unwrap();
        let chunk = meta.row_group(0).column(0);
        let Some(Statistics::Double(stats)) = chunk.statistics() else {
            panic!("no statistics")
        };
        let nulls = values.iter().filter(|v| v.is_none()).count();
        assert_eq!(stats.null_count_opt(), Some(nulls as u64));
        let real = |rows: &[Option<f64>]| -> Option<(f64, f64)> {
            let v: Vec<f64> = rows
                .iter()
                .flatten()
                .copied()
                .filter(|v| !v.is_nan())
                .collect();
            (!v.is_empty()).then(|| {
                (
                    v.iter().copied().fold(f64::INFINITY, f64::min),
                    v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            })
        };
        let outward = |(lo, hi): (f64, f64)| {
            (
                if lo == 0.0 { -0.0 } else { lo },
                if hi == 0.0 { 0.0 } else { hi },
            )
        };
        match real(values).map(outward) {
            None => assert!(stats.min_opt().is_none()),
            Some((lo, hi)) => {
                assert_eq!(stats.min_opt().map(|v| v.to_bits()), Some(lo.to_bits()));
                assert_eq!(stats.max_opt().map(|v| v.to_bits()), Some(hi.to_bits()));
            }
        }
        let offsets = &meta.offset_index().unwrap()[0][0].page_locations;
        let pages: Vec<&[Option<f64>]> = offsets
            .iter()
            .enumerate()
            .map(|(p, page)| {
                let end = offsets
                    .get(p + 1)
                    .map_or(values.len(), |n| n.first_row_index as usize);
                &values[page.first_row_index as usize..end]
            })
            .collect();
        let nan_only = pages.iter().any(|rows| {
            rows.iter().any(|v| v.is_some()) && rows.iter().flatten().all(|v| v.is_nan())
        });
        match meta.column_index().map(|c| &c[0][0]) {
            Some(ColumnIndexMetaData::DOUBLE(index)) => {
                assert!(!nan_only, "a NaN-only page cannot be indexed");
                for (p, rows) in pages.iter().enumerate() {
                    match real(rows).map(outward) {
                        None => assert!(index.is_null_page(p)),
                        Some((lo, hi)) => {
                            assert_eq!(index.min_value(p).map(|v| v.to_bits()), Some(lo.to_bits()));
                            assert_eq!(index.max_value(p).map(|v| v.to_bits()), Some(hi.to_bits()));
                        }
                    }
                }
            }
            Some(ColumnIndexMetaData::NONE) | None => assert!(nan_only, "no column index"),
            Some(other) => panic!("{other:?}"),
        }
    }

    fn float() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(f64::NAN)),
            1 => Just(Some(0.0)),
            1 => Just(Some(-0.0)),
            6 => (-20i32..20).prop_map(|v| Some(f64::from(v) / 4.0)),
            1 => any::<f64>().prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any doubles (NaN, both zeros, nulls, repeats), any batches, small
        /// limits: the file reads back bit for bit and its statistics and
        /// page index follow the Parquet rules for floats.
        #[test]
        fn any_doubles_round_trip(
            values in proptest::collection::vec(float(), 0..500),
            cut in 0usize..500,
            page_rows in 1usize..40,
            dictionary_bytes in 1usize..300,

        ) {
            let cut = cut.min(values.len());
            let arrays: Vec<ArrayRef> = [&values[..cut], &values[cut..]]
                .iter()
                .map(|b| Arc::new(arrow_array::Float64Array::from(b.to_vec())) as ArrayRef)
                .collect();
            let l = Limits { page_rows, dictionary_bytes, ..limits() };
            let file = write_arrays(&arrays, DataType::Float64, &l);
            check_f64(&values, &file);
        }

        /// Strings order by their first word as by their bytes, whatever
        /// their lengths and zero bytes.
        #[test]
        fn string_order_by_first_word_is_byte_order(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..12),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..12),
            pad in 0usize..9,
        ) {
            // Each value sits in a buffer with bytes after it, as in Arrow.
            let mut ab = a.clone();
            ab.extend(std::iter::repeat_n(0xAB, pad));
            let x = StrRef { tail: &ab, len: a.len() };
            let y = Strings::from_raw(&b);
            prop_assert_eq!(Strings::less(x, y), a < b);
            prop_assert_eq!(Strings::less(y, x), b < a);
        }

        /// Integers and floats of 32 bits, and 64-bit integers, read back.
        #[test]
        fn other_numbers_round_trip(
            values in proptest::collection::vec(proptest::option::of(-50i32..50), 0..400),
            page_rows in 1usize..40,
            dictionary_bytes in 1usize..200,
        ) {
            let l = Limits { page_rows, dictionary_bytes, ..limits() };
            let cases: Vec<(ArrayRef, Vec<Option<u64>>)> = vec![
                (
                    Arc::new(arrow_array::Int32Array::from(values.clone())),
                    values.iter().map(|v| v.map(|v| u64::from(v as u32))).collect(),
                ),
                (
                    Arc::new(arrow_array::Int64Array::from(
                        values.iter().map(|v| v.map(|v| i64::from(v) << 33)).collect::<Vec<_>>(),
                    )),
                    values.iter().map(|v| v.map(|v| (i64::from(v) << 33) as u64)).collect(),
                ),
                (
                    Arc::new(arrow_array::Float32Array::from(
                        values.iter().map(|v| v.map(|v| v as f32 / 8.0)).collect::<Vec<_>>(),
                    )),
                    values.iter().map(|v| v.map(|v| u64::from((v as f32 / 8.0).to_bits()))).collect(),
                ),
            ];
            for (array, want) in cases {
                let file = write_arrays(std::slice::from_ref(&array), array.data_type().clone(), &l);
                prop_assert_eq!(read_bits(&file), want);
                // Chunk bounds are the true min and max.
                let meta = ParquetMetaDataReader::new().parse_and_finish(&file).unwrap();
                let stats = meta.row_group(0).column(0).statistics().unwrap().clone();
                let present: Vec<i32> = values.iter().flatten().copied().collect();
                let lo = present.iter().min();
                match (stats, lo) {
                    (Statistics::Int32(s), Some(lo)) => {
                        prop_assert_eq!(s.min_opt(), Some(lo));
                        prop_assert_eq!(s.max_opt(), present.iter().max());
                    }
                    (Statistics::Int64(s), Some(lo)) => {
                        prop_assert_eq!(s.min_opt().copied(), Some(i64::from(*lo) << 33));
                    }
                    (Statistics::Float(s), Some(lo)) => {
                        let lo = *lo as f32 / 8.0;
                        prop_assert_eq!(s.min_opt().copied(), Some(if lo == 0.0 { -0.0 } else { lo }));
                    }
                    (s, None) => prop_assert!(s.min_bytes_opt().is_none()),
                    (s, _) => prop_assert!(false, "{:?}", s),
                }
            }
        }
    }
}
