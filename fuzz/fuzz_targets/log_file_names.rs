//! Any string as a `_delta_log/` file name: a name that parses renders back
//! to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_log::log_path::LogFileName;

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(parsed) = LogFileName::parse(name) {
        let last = name.rsplit('/').next().unwrap_or(name);
        assert_eq!(parsed.file_name(), last);
    }
});
