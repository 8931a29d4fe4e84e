//! The bytes of one Parquet page as silt's own column writers make them:
//! the Thrift page header (compact protocol), definition levels and
//! dictionary indices in the RLE/bit-packing hybrid, and the page body's
//! compression. Pure byte layout, no I/O.

use parquet::basic::Compression;

/// Parquet's `Encoding` values used here.
pub(crate) mod encoding {
    pub const PLAIN: i32 = 0;
    pub const RLE: i32 = 3;
    pub const RLE_DICTIONARY: i32 = 8;
}

/// Parquet's `PageType` values used here.
const DATA_PAGE: i32 = 0;
const DICTIONARY_PAGE: i32 = 2;

/// Thrift compact protocol field types.
const T_BOOL_FALSE: u8 = 2;
const T_I32: u8 = 5;
const T_STRUCT: u8 = 12;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A Thrift struct being written in the compact protocol.
struct ThriftStruct<'a> {
    out: &'a mut Vec<u8>,
    last_id: i16,
}

impl<'a> ThriftStruct<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out, last_id: 0 }
    }

    fn field(&mut self, id: i16, kind: u8) {
        // Ids here ascend by at most 15, so the short form always applies.
        debug_assert!(id > self.last_id && id - self.last_id <= 15);
        self.out.push((((id - self.last_id) as u8) << 4) | kind);
        self.last_id = id;
    }

    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, T_I32);
        // Zigzag, then a varint.
        varint(self.out, ((v << 1) ^ (v >> 31)) as u32 as u64);
    }

    fn bool_false(&mut self, id: i16) {
        self.field(id, T_BOOL_FALSE);
    }

    /// Starts a nested struct field; write its fields, then `end` it.
    fn nested(&mut self, id: i16) -> ThriftStruct<'_> {
        self.field(id, T_STRUCT);
        ThriftStruct::new(self.out)
    }

    fn end(self) {
        self.out.push(0);
    }
}

/// A page silt cannot encode. The same column data gives the same page,
/// so retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    /// A size or count beyond Parquet's 32-bit page header fields.
    #[error("a page of {0} bytes is too large for Parquet")]
    TooLarge(usize),
    /// The Snappy encoder failed.
    #[error("snappy: {0}")]
    Snappy(#[source] snap::Error),
    /// The Zstandard encoder failed.
    #[error("zstd: {0}")]
    Zstd(#[source] std::io::Error),
}

fn size_i32(n: usize) -> Result<i32, PageError> {
    i32::try_from(n).map_err(|_| PageError::TooLarge(n))
}

/// The header of a data page (version 1) holding `values` values.
pub(crate) fn data_page_header(
    uncompressed: usize,
    compressed: usize,
    values: usize,
    value_encoding: i32,
) -> Result<Vec<u8>, PageError> {
    let mut out = Vec::with_capacity(32);
    let mut h = ThriftStruct::new(&mut out);
    h.i32(1, DATA_PAGE);
    h.i32(2, size_i32(uncompressed)?);
    h.i32(3, size_i32(compressed)?);
    let mut d = h.nested(5);
    d.i32(1, size_i32(values)?);
    d.i32(2, value_encoding);
    d.i32(3, encoding::RLE);
    d.i32(4, encoding::RLE);
    d.end();
    h.end();
    Ok(out)
}

/// The header of a dictionary page of `entries` plain-encoded values.
pub(crate) fn dictionary_page_header(
    uncompressed: usize,
    compressed: usize,
    entries: usize,
) -> Result<Vec<u8>, PageError> {
    let mut out = Vec::with_capacity(32);
    let mut h = ThriftStruct::new(&mut out);
    h.i32(1, DICTIONARY_PAGE);
    h.i32(2, size_i32(uncompressed)?);
    h.i32(3, size_i32(compressed)?);
    let mut d = h.nested(7);
    d.i32(1, size_i32(entries)?);
    d.i32(2, encoding::PLAIN);
    d.bool_false(3);
    d.end();
    h.end();
    Ok(out)
}

/// Bits needed to store values up to `max`.
pub(crate) fn bit_width(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// Appends `values` (each below `1 << width`, `width` at most 32) as one
/// bit-packed run of the RLE/bit-packing hybrid, padded with zeros to a
/// multiple of eight values.
pub(crate) fn bit_packed_run(out: &mut Vec<u8>, values: &[u32], width: u8) {
    let groups = values.len().div_ceil(8);
    varint(out, ((groups as u64) << 1) | 1);
    let start = out.len();
    out.resize(start + groups * usize::from(width), 0);
    let dst = &mut out[start..];
    let width = u32::from(width);
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut at = 0;
    for &v in values {
        // Under 32 bits held plus at most 32 added: the word never overflows.
        acc |= u64::from(v) << bits;
        bits += width;
        if bits >= 32 {
            dst[at..at + 4].copy_from_slice(&(acc as u32).to_le_bytes());
            at += 4;
            acc >>= 32;
            bits -= 32;
        }
    }
    for b in dst[at..].iter_mut().take(bits.div_ceil(8) as usize) {
        *b = acc as u8;
        acc >>= 8;
    }
}

/// Appends one RLE run: `count` copies of `value` (below `1 << width`).
pub(crate) fn rle_run(out: &mut Vec<u8>, count: usize, value: u32, width: u8) {
    varint(out, (count as u64) << 1);
    let bytes = usize::from(width).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// Appends the definition levels of a page of a nullable top-level column
/// (0 null, 1 present), length-prefixed as data page v1 stores them.
/// `present` holds one bit per value, LSB first; `nulls` counts the zeros.
pub(crate) fn definition_levels(out: &mut Vec<u8>, present: &[u8], values: usize, nulls: usize) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    if nulls == 0 {
        rle_run(out, values, 1, 1);
    } else {
        let groups = values.div_ceil(8);
        varint(out, ((groups as u64) << 1) | 1);
        out.extend_from_slice(&present[..groups]);
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Compresses page bodies with one column's codec, reusing its context.
pub(crate) enum PageCompressor {
    Uncompressed,
    Snappy(Box<snap::raw::Encoder>),
    Zstd(zstd::bulk::Compressor<'static>),
}

impl PageCompressor {
    /// Whether silt writes pages with `codec`.
    pub(crate) fn supports(codec: Compression) -> bool {
        matches!(
            codec,
            Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::ZSTD(_)
        )
    }

    /// The compressor for `codec`; `None` for codecs silt does not write.
    pub(crate) fn new(codec: Compression) -> Option<Self> {
        Some(match codec {
            Compression::UNCOMPRESSED => Self::Uncompressed,
            Compression::SNAPPY => Self::Snappy(Box::new(snap::raw::Encoder::new())),
            Compression::ZSTD(level) => {
                Self::Zstd(zstd::bulk::Compressor::new(level.compression_level()).ok()?)
            }
            _ => return None,
        })
    }

    /// Appends `body` compressed to `out`; the compressed length.
    pub(crate) fn compress(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<usize, PageError> {
        let start = out.len();
        match self {
            Self::Uncompressed => out.extend_from_slice(body),
            Self::Snappy(encoder) => {
                out.resize(start + snap::raw::max_compress_len(body.len()), 0);
                let n = encoder
                    .compress(body, &mut out[start..])
                    .map_err(PageError::Snappy)?;
                out.truncate(start + n);
            }
            Self::Zstd(compressor) => {
                out.reserve(zstd::zstd_safe::compress_bound(body.len()));
                let mut cursor = std::io::Cursor::new(&mut *out);
                cursor.set_position(start as u64);
                compressor
                    .compress_to_buffer(body, &mut cursor)
                    .map_err(PageError::Zstd)?;
            }
        }
        Ok(out.len() - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_packing_matches_the_spec_example() {
        // The Parquet spec's example: 0..=7 at width 3.
        let mut out = Vec::new();
        bit_packed_run(&mut out, &[0, 1, 2, 3, 4, 5, 6, 7], 3);
        assert_eq!(out, vec![0b11, 0b1000_1000, 0b1100_0110, 0b1111_1010]);
    }

    #[test]
    fn bit_packed_runs_pad_to_whole_groups() {
        let mut out = Vec::new();
        bit_packed_run(&mut out, &[1, 1, 1], 1);
        // One group of eight one-bit values: header, one byte.
        assert_eq!(out, vec![0b11, 0b0000_0111]);
        let mut out = Vec::new();
        bit_packed_run(&mut out, &[5; 9], 3);
        // Two groups: 2 × 3 bytes after the header.
        assert_eq!(out.len(), 1 + 6);
    }

    /// Bit `i` of the packed bytes, LSB first.
    fn bit(bytes: &[u8], i: usize) -> u32 {
        u32::from(bytes[i / 8] >> (i % 8)) & 1
    }

    #[test]
    fn bit_packing_agrees_with_bit_by_bit_packing() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for width in 1..=32u8 {
            for n in [0usize, 1, 7, 8, 9, 31, 100] {
                let values: Vec<u32> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x as u32) & (((1u64 << width) - 1) as u32)
                    })
                    .collect();
                let mut out = Vec::new();
                bit_packed_run(&mut out, &values, width);
                let header = 1 + usize::from(n.div_ceil(8) >= 64);
                let body = &out[header..];
                assert_eq!(body.len(), n.div_ceil(8) * usize::from(width));
                for (k, v) in values.iter().enumerate() {
                    let got = (0..usize::from(width))
                        .map(|b| bit(body, k * usize::from(width) + b) << b)
                        .sum::<u32>();
                    assert_eq!(got, *v, "width {width}, value {k}");
                }
                // The padding is zeros.
                let used = n * usize::from(width);
                assert!((used..body.len() * 8).all(|i| bit(body, i) == 0));
            }
        }
    }

    #[test]
    fn the_codecs_supported_are_the_ones_a_compressor_is_made_for() {
        use parquet::basic::{GzipLevel, ZstdLevel};
        for codec in [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::ZSTD(ZstdLevel::default()),
            Compression::LZ4,
            Compression::GZIP(GzipLevel::default()),
        ] {
            assert_eq!(
                PageCompressor::supports(codec),
                PageCompressor::new(codec).is_some()
            );
        }
    }

    #[test]
    fn zigzag_varints_of_the_compact_protocol() {
        let mut out = Vec::new();
        let mut s = ThriftStruct::new(&mut out);
        s.i32(1, 0);
        s.i32(2, -1);
        s.i32(3, 300);
        s.end();
        assert_eq!(out, vec![0x15, 0, 0x15, 1, 0x15, 0xd8, 0x04, 0]);
    }
}
