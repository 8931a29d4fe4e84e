//! Any bytes as a Parquet checkpoint: decode to actions or fail with a typed
//! error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_log::checkpoint_read::parquet_actions;

fuzz_target!(|data: &[u8]| {
    let _ = parquet_actions("fuzz", 0, "fuzz.checkpoint.parquet", bytes::Bytes::copy_from_slice(data));
});
