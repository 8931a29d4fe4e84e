//! Any string as metaData.schemaString: parse or fail cleanly; a parsed
//! schema round-trips through JSON and converts to Arrow without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_log::schema::StructType;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(schema) = StructType::from_json(text) {
        let again = StructType::from_json(&schema.to_json()).expect("own JSON parses");
        assert_eq!(again, schema);
        let _ = schema.to_arrow();
    }
});
