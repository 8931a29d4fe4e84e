//! Any bytes as a Parquet checkpoint: decode to actions or fail with a typed
//! error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_log::checkpoint_read::parquet_actions;

static QUIET: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // silt turns decoder panics on corrupt input into typed errors
    // (catch_unwind); libfuzzer-sys's hook would abort on them first.
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = parquet_actions(
        "fuzz",
        0,
        "fuzz.checkpoint.parquet",
        bytes::Bytes::copy_from_slice(data),
    );
});
