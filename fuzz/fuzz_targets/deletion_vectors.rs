//! Any bytes as a deletion vector: as Z85 text, as a RoaringBitmapArray and
//! as a DV file at an offset — decode or fail cleanly; what decodes
//! re-encodes to an equal vector.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_parquet::deletion_vector::{
    DeletedRows, read_from_file, z85_decode, z85_decode_sized, z85_encode,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(bytes) = z85_decode(text)
    {
        assert_eq!(
            z85_encode(&bytes).expect("decoded length is a multiple of 4"),
            text
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // Inline vectors: any declared size decodes to exactly that many
        // bytes or fails cleanly.
        let size = (data.len() / 5 * 4).saturating_sub(data.len() % 3);
        if let Ok(bytes) = z85_decode_sized(text, size) {
            assert_eq!(bytes.len(), size);
        }
    }
    if let Ok(rows) = DeletedRows::deserialize(data) {
        let again = DeletedRows::deserialize(&rows.serialize()).expect("own encoding parses");
        assert_eq!(again, rows);
    }
    let offset = data.first().copied().unwrap_or(0) as u64;
    let _ = read_from_file(data, offset, -1);
});
