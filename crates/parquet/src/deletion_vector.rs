//! Deletion vectors: decoding the three storage forms (`u` file next to the
//! table, `i` inline, `p` absolute path), Z85, the RoaringBitmapArray format
//! (magic number, 64-bit keys, portable 32-bit Roaring bitmaps) and the CRC32
//! that guards each vector in a DV file. All of it is untrusted input: every
//! length and offset is checked before use.

use std::io::Cursor;

use roaring::RoaringBitmap;
use silt_log::deletion_vector::{DeletionVectorDescriptor, StorageType};

/// A deletion vector that cannot be decoded or located. Its bytes or its
/// descriptor are damaged (or the input was not a deletion vector), so
/// reading it again cannot help: never retryable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DvError {
    /// Z85 text whose length is not a multiple of 5.
    #[error("Z85 text length {len} is not a multiple of 5")]
    Z85Length {
        /// The length found.
        len: usize,
    },
    /// A character outside the Z85 alphabet.
    #[error("{found:?} is not a Z85 character")]
    Z85Character {
        /// The character.
        found: char,
    },
    /// A Z85 group above 2³² − 1.
    #[error("Z85 group overflows 32 bits")]
    Z85Overflow,
    /// Bytes to encode whose length is not a multiple of 4 (a caller bug).
    #[error("Z85 input length must be a multiple of 4, not {len}")]
    Z85InputLength {
        /// The length given.
        len: usize,
    },
    /// An inline vector that is not ASCII text.
    #[error("an inline deletion vector is not Z85 text")]
    InlineNotText,
    /// An inline vector whose text length does not fit its declared size.
    #[error("inline deletion vector of {size} bytes needs {expected} Z85 characters, not {found}")]
    InlineLength {
        /// The declared size in bytes.
        size: usize,
        /// The characters that size needs.
        expected: usize,
        /// The characters found.
        found: usize,
    },
    /// The short final group of an inline vector holds too large a value.
    #[error("the last Z85 group of an inline deletion vector is out of range")]
    InlineLastGroup,
    /// The serialized bitmap array ends early.
    #[error("deletion vector truncated at byte {at}")]
    Truncated {
        /// Where the missing bytes start.
        at: usize,
    },
    /// The bitmap array does not start with the magic number.
    #[error("deletion vector has magic {found}, expected {ROARING_ARRAY_MAGIC}")]
    Magic {
        /// The number found.
        found: u32,
    },
    /// More bitmaps claimed than the bytes could hold.
    #[error("deletion vector claims {count} bitmaps in {len} bytes")]
    BitmapCount {
        /// The count claimed.
        count: u64,
        /// The bytes available.
        len: usize,
    },
    /// A bitmap key is cut off.
    #[error("deletion vector truncated in a bitmap key")]
    KeyTruncated,
    /// Bitmap keys out of order or repeated.
    #[error("deletion vector bitmap keys are not increasing")]
    KeysNotIncreasing,
    /// A 32-bit Roaring bitmap does not parse.
    #[error("deletion vector bitmap does not parse: {0}")]
    Bitmap(#[source] std::io::Error),
    /// A descriptor's sizeInBytes below zero.
    #[error("deletion vector has a negative sizeInBytes ({size_in_bytes})")]
    NegativeSize {
        /// The size given.
        size_in_bytes: i32,
    },
    /// A `u` descriptor id that does not end in a Z85 UUID.
    #[error("deletion vector id {id:?} does not end in a 20-character Z85 UUID")]
    BadId {
        /// pathOrInlineDv.
        id: String,
    },
    /// A `u` descriptor id whose UUID part does not decode to 16 bytes.
    #[error("deletion vector id {id:?}: {source}")]
    BadUuid {
        /// pathOrInlineDv.
        id: String,
        /// Why.
        #[source]
        source: uuid::Error,
    },
    /// A `u` descriptor whose prefix makes the path leave the table.
    #[error("deletion vector path {path:?} escapes the table")]
    EscapesTable {
        /// The path built.
        path: String,
    },
    /// An offset beyond what this platform can address.
    #[error("deletion vector offset {offset} is too large")]
    OffsetTooLarge {
        /// The offset.
        offset: u64,
    },
    /// An offset past the end of the DV file.
    #[error("deletion vector offset {offset} is past the end of its file ({len} bytes)")]
    OffsetPastEnd {
        /// The offset.
        offset: u64,
        /// The file's length.
        len: usize,
    },
    /// The size in the file and in the descriptor differ.
    #[error(
        "deletion vector size {in_file} in the file differs from the descriptor's {in_descriptor}"
    )]
    SizeMismatch {
        /// Size stored in the file.
        in_file: usize,
        /// sizeInBytes of the descriptor.
        in_descriptor: i32,
    },
    /// The bitmap runs past the end of the DV file.
    #[error("deletion vector runs past the end of its file")]
    PastEnd,
    /// The CRC after the bitmap is cut off.
    #[error("deletion vector checksum is missing")]
    ChecksumMissing,
    /// The CRC does not match the bitmap.
    #[error("deletion vector checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// CRC32 in the file.
        stored: u32,
        /// CRC32 of the bytes read.
        computed: u32,
    },
}

/// Magic number that starts a RoaringBitmapArray (little endian).
pub const ROARING_ARRAY_MAGIC: u32 = 1_681_511_377;

const Z85_CHARS: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Decodes Z85 text (length a multiple of 5) into bytes.
pub fn z85_decode(text: &str) -> Result<Vec<u8>, DvError> {
    let bytes = text.as_bytes();
    if bytes.len() % 5 != 0 {
        return Err(DvError::Z85Length { len: bytes.len() });
    }
    let mut table = [255u8; 256];
    for (i, c) in Z85_CHARS.iter().enumerate() {
        table[*c as usize] = i as u8;
    }
    let mut out = Vec::with_capacity(bytes.len() / 5 * 4);
    for chunk in bytes.chunks(5) {
        let mut value: u64 = 0;
        for c in chunk {
            let d = table[*c as usize];
            if d == 255 {
                return Err(DvError::Z85Character { found: *c as char });
            }
            value = value * 85 + d as u64;
        }
        if value > u32::MAX as u64 {
            return Err(DvError::Z85Overflow);
        }
        out.extend_from_slice(&(value as u32).to_be_bytes());
    }
    Ok(out)
}

/// Decodes an inline deletion vector: Z85 text holding `size` bytes, the
/// last group padded. Delta Spark pads the bytes with zeros (the group
/// decodes normally and the padding is dropped); some writers encode a
/// final group of `r < 4` bytes in its short form — `r + 1` digits after
/// filler characters — which decodes past 32 bits as a whole group and is
/// read in that short form instead.
pub fn z85_decode_sized(text: &str, size: usize) -> Result<Vec<u8>, DvError> {
    if !text.is_ascii() {
        return Err(DvError::InlineNotText);
    }
    let groups = size.div_ceil(4);
    if text.len() != groups * 5 {
        return Err(DvError::InlineLength {
            size,
            expected: groups * 5,
            found: text.len(),
        });
    }
    if size == 0 {
        return Ok(Vec::new());
    }
    let (head, last) = text.split_at(text.len() - 5);
    let mut out = z85_decode(head)?;
    let r = size - out.len();
    match z85_decode(last) {
        Ok(bytes) => out.extend_from_slice(&bytes[..r]),
        Err(_) if r < 4 => {
            // The short form: the last r + 1 digits hold r bytes.
            let digits = &last.as_bytes()[4 - r..];
            let mut value: u64 = 0;
            for c in last.bytes() {
                if !Z85_CHARS.contains(&c) {
                    return Err(DvError::Z85Character { found: c as char });
                }
            }
            for c in digits {
                let d = Z85_CHARS
                    .iter()
                    .position(|x| x == c)
                    .ok_or(DvError::Z85Character { found: *c as char })?;
                value = value * 85 + d as u64;
            }
            if value >= 1u64 << (8 * r) {
                return Err(DvError::InlineLastGroup);
            }
            out.extend_from_slice(&value.to_be_bytes()[8 - r..]);
        }
        Err(e) => return Err(e),
    }
    Ok(out)
}

/// Encodes bytes (length a multiple of 4) as Z85.
pub fn z85_encode(data: &[u8]) -> Result<String, DvError> {
    if data.len() % 4 != 0 {
        return Err(DvError::Z85InputLength { len: data.len() });
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks(4) {
        let mut v = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as u64;
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            *slot = Z85_CHARS[(v % 85) as usize];
            v /= 85;
        }
        out.push_str(std::str::from_utf8(&group).unwrap_or_default());
    }
    Ok(out)
}

/// Deleted row indexes of one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletedRows {
    /// 32-bit bitmaps keyed by the high 32 bits of the row index.
    bitmaps: Vec<(u32, RoaringBitmap)>,
}

impl DeletedRows {
    /// Whether row `index` is deleted.
    pub fn contains(&self, index: u64) -> bool {
        let (hi, lo) = ((index >> 32) as u32, index as u32);
        self.bitmaps
            .iter()
            .find(|(k, _)| *k == hi)
            .is_some_and(|(_, b)| b.contains(lo))
    }

    /// Number of deleted rows.
    pub fn len(&self) -> u64 {
        self.bitmaps.iter().map(|(_, b)| b.len()).sum()
    }

    /// The deleted row indexes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.bitmaps
            .iter()
            .flat_map(|(k, b)| b.iter().map(move |lo| ((*k as u64) << 32) | lo as u64))
    }

    /// Whether no row is deleted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds from row indexes.
    pub fn from_indexes(rows: impl IntoIterator<Item = u64>) -> Self {
        let mut map: std::collections::BTreeMap<u32, RoaringBitmap> = Default::default();
        for r in rows {
            map.entry((r >> 32) as u32).or_default().insert(r as u32);
        }
        Self {
            bitmaps: map.into_iter().collect(),
        }
    }

    /// Serializes in the RoaringBitmapArray format.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&ROARING_ARRAY_MAGIC.to_le_bytes());
        out.extend_from_slice(&(self.bitmaps.len() as u64).to_le_bytes());
        for (key, bitmap) in &self.bitmaps {
            out.extend_from_slice(&key.to_le_bytes());
            // Writing into a Vec cannot fail.
            let _ = bitmap.serialize_into(&mut out);
        }
        out
    }

    /// Parses the RoaringBitmapArray format.
    pub fn deserialize(data: &[u8]) -> Result<Self, DvError> {
        let take = |at: usize, n: usize| -> Result<&[u8], DvError> {
            data.get(at..at + n).ok_or(DvError::Truncated { at })
        };
        let magic = u32::from_le_bytes(take(0, 4)?.try_into().unwrap_or_default());
        if magic != ROARING_ARRAY_MAGIC {
            return Err(DvError::Magic { found: magic });
        }
        let count = u64::from_le_bytes(take(4, 8)?.try_into().unwrap_or_default());
        if count > (data.len() as u64) / 4 {
            return Err(DvError::BitmapCount {
                count,
                len: data.len(),
            });
        }
        let mut cursor = Cursor::new(&data[12..]);
        let mut bitmaps = Vec::with_capacity(count as usize);
        let mut last_key: Option<u32> = None;
        for _ in 0..count {
            let pos = cursor.position() as usize;
            let key_bytes = cursor
                .get_ref()
                .get(pos..pos + 4)
                .ok_or(DvError::KeyTruncated)?;
            let key = u32::from_le_bytes(key_bytes.try_into().unwrap_or_default());
            if last_key.is_some_and(|k| key <= k) {
                return Err(DvError::KeysNotIncreasing);
            }
            last_key = Some(key);
            cursor.set_position((pos + 4) as u64);
            let bitmap = RoaringBitmap::deserialize_from(&mut cursor).map_err(DvError::Bitmap)?;
            bitmaps.push((key, bitmap));
        }
        Ok(Self { bitmaps })
    }
}

/// Where a DV's bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DvLocation {
    /// Inline: the serialized bitmap itself.
    Inline(Vec<u8>),
    /// In a file, relative to the table root, at an offset.
    File {
        /// Path relative to the table root.
        path: String,
        /// Byte offset of the size field.
        offset: u64,
    },
    /// At an absolute URI, at an offset.
    Absolute {
        /// The URI as written.
        uri: String,
        /// Byte offset.
        offset: u64,
    },
}

/// Resolves a descriptor to where its bytes are.
pub fn locate(dv: &DeletionVectorDescriptor) -> Result<DvLocation, DvError> {
    let offset = dv.offset.unwrap_or(1).max(0) as u64;
    match dv.storage_type {
        StorageType::Inline => Ok(DvLocation::Inline(z85_decode_sized(
            &dv.path_or_inline_dv,
            usize::try_from(dv.size_in_bytes).map_err(|_| DvError::NegativeSize {
                size_in_bytes: dv.size_in_bytes,
            })?,
        )?)),
        StorageType::UuidRelative => {
            let id = &dv.path_or_inline_dv;
            let cut = id.len().checked_sub(20).filter(|c| id.is_char_boundary(*c));
            let Some(cut) = cut else {
                return Err(DvError::BadId { id: id.clone() });
            };
            let (prefix, encoded) = id.split_at(cut);
            let uuid_bytes = z85_decode(encoded)?;
            let uuid = uuid::Uuid::from_slice(&uuid_bytes).map_err(|source| DvError::BadUuid {
                id: id.clone(),
                source,
            })?;
            let name = format!("deletion_vector_{uuid}.bin");
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if path.split('/').any(|s| s == ".." || s.is_empty()) {
                return Err(DvError::EscapesTable { path });
            }
            Ok(DvLocation::File { path, offset })
        }
        StorageType::AbsolutePath => Ok(DvLocation::Absolute {
            uri: dv.path_or_inline_dv.clone(),
            offset,
        }),
    }
}

/// Extracts one DV from a DV file's bytes at `offset`: a big-endian size,
/// the bitmap, then a big-endian CRC32 of the bitmap.
pub fn read_from_file(
    bytes: &[u8],
    offset: u64,
    expected_size: i32,
) -> Result<DeletedRows, DvError> {
    let at = usize::try_from(offset).map_err(|_| DvError::OffsetTooLarge { offset })?;
    let size_bytes = bytes.get(at..at + 4).ok_or(DvError::OffsetPastEnd {
        offset,
        len: bytes.len(),
    })?;
    let size = u32::from_be_bytes(size_bytes.try_into().unwrap_or_default()) as usize;
    if expected_size >= 0 && size != expected_size as usize {
        return Err(DvError::SizeMismatch {
            in_file: size,
            in_descriptor: expected_size,
        });
    }
    let data = bytes.get(at + 4..at + 4 + size).ok_or(DvError::PastEnd)?;
    let crc_bytes = bytes
        .get(at + 4 + size..at + 8 + size)
        .ok_or(DvError::ChecksumMissing)?;
    let expected = u32::from_be_bytes(crc_bytes.try_into().unwrap_or_default());
    let actual = crc32fast::hash(data);
    if actual != expected {
        return Err(DvError::ChecksumMismatch {
            stored: expected,
            computed: actual,
        });
    }
    DeletedRows::deserialize(data)
}

/// A DV file holding one vector: version byte, size, bitmap, CRC. Returns
/// the bytes and the vector's offset.
pub fn write_file(rows: &DeletedRows) -> (Vec<u8>, u64, usize) {
    let data = rows.serialize();
    let mut out = Vec::with_capacity(data.len() + 9);
    out.push(1u8);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&crc32fast::hash(&data).to_be_bytes());
    (out, 1, data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_round_trip() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        let text = z85_encode(&data).unwrap();
        assert_eq!(text, "HelloWorld");
        assert_eq!(z85_decode(&text).unwrap(), data);
        assert!(z85_decode("Hell").is_err());
        assert!(z85_decode("Hell\"").is_err());
        assert!(z85_decode("#####").is_err(), "overflow");
        // Inline vectors: zero padding (Delta Spark) and the short form of a
        // final partial group (seen in kernel/data/cdf-table-with-dv).
        let padded = z85_encode(&[1, 2, 3, 4, 5, 6, 0, 0]).unwrap();
        assert_eq!(
            z85_decode_sized(&padded, 6).unwrap(),
            vec![1, 2, 3, 4, 5, 6]
        );
        let short = format!("{}##093", z85_encode(&[9, 9, 9, 9]).unwrap());
        assert_eq!(z85_decode_sized(&short, 6).unwrap(), vec![9, 9, 9, 9, 3, 0]);
        assert!(
            z85_decode_sized(&short, 8).is_err(),
            "a full group cannot overflow"
        );
        assert!(z85_decode_sized(&padded, 9).is_err(), "length mismatch");
        // Found by the fuzzer: multi-byte characters are refused, not split.
        let text = std::str::from_utf8(&[69, 216, 191, 69, 216, 191, 40, 64, 37, 37]).unwrap();
        assert!(z85_decode_sized(text, 7).is_err());
    }

    #[test]
    fn bitmap_array_round_trip_and_file_checksum() {
        let rows = DeletedRows::from_indexes([0, 5, 7, (1u64 << 32) + 3]);
        let bytes = rows.serialize();
        let back = DeletedRows::deserialize(&bytes).unwrap();
        assert_eq!(back, rows);
        assert!(back.contains(5) && back.contains((1 << 32) + 3) && !back.contains(6));
        assert_eq!(back.len(), 4);
        let (file, offset, size) = write_file(&rows);
        assert_eq!(read_from_file(&file, offset, size as i32).unwrap(), rows);
        let mut corrupt = file.clone();
        corrupt[10] ^= 0xff;
        assert!(matches!(
            read_from_file(&corrupt, offset, size as i32),
            Err(DvError::ChecksumMismatch { .. })
        ));
        assert!(read_from_file(&file, 1000, -1).is_err());
        assert!(DeletedRows::deserialize(&bytes[..bytes.len() - 2]).is_err());
        assert!(DeletedRows::deserialize(b"\0\0\0\0").is_err());
    }
}
