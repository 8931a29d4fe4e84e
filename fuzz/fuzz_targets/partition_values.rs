//! Any string as a partition value of every primitive type: parse or fail
//! cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_log::partition::parse_partition_value;
use silt_log::schema::PrimitiveType;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for ty in [
        "string",
        "long",
        "integer",
        "short",
        "byte",
        "float",
        "double",
        "boolean",
        "binary",
        "date",
        "timestamp",
        "timestamp_ntz",
        "decimal(38,10)",
        "decimal(5,0)",
    ] {
        let ty = PrimitiveType::parse(ty).expect("known type");
        let _ = parse_partition_value(Some(text), &ty);
    }
});
