//! Any bytes as a commit file: parse or fail cleanly; what parses must
//! serialize and parse back to an equal action.
#![no_main]
use libfuzzer_sys::fuzz_target;
use silt_log::actions::{action_to_json_line, parse_action_line, parse_action_lines};

fuzz_target!(|data: &[u8]| {
    if let Ok(actions) = parse_action_lines(data) {
        for a in actions {
            let line = action_to_json_line(&a);
            let back = parse_action_line(line.as_bytes())
                .expect("a serialized action parses")
                .expect("and is an action");
            // Compare values, not text: maps serialize in no fixed order.
            assert_eq!(back, a, "{line}");
        }
    }
});
