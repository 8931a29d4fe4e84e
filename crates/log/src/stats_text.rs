//! File statistics JSON held compactly and losslessly.
//!
//! The `stats` of a table's files share their structure: the same keys
//! (`numRecords`, `minValues`, the column names…) in the same order, with
//! different values. A statistics text is split into its *shape* (the text
//! with every scalar value replaced by a marker) and its *values* (the
//! scalars' text, joined by the marker). Files share shapes, so a file costs
//! its values' text: less than half of the JSON for delta-rs-shaped
//! statistics. Joining a shape and values gives back the exact text, byte for
//! byte, for any input (the marker, U+0001, cannot appear unescaped in JSON;
//! a text holding it is kept whole).

use std::collections::HashMap;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, StringArray};

/// Stands for a value in a shape, and separates values.
const MARK: char = '\u{1}';
/// Shape id of a file without statistics.
const NONE: u32 = u32::MAX;
/// Shape id of a text kept whole (it holds the marker, or there were too
/// many shapes).
const WHOLE: u32 = u32::MAX - 1;
/// At most this many shapes per column; further texts are kept whole.
const MAX_SHAPES: usize = 1024;

/// Splits `json` into its shape and values (appended to the buffers).
/// `false` when the text holds the marker; the buffers are then unusable.
fn split(json: &str, shape: &mut String, values: &mut String) -> bool {
    if json.contains(MARK) {
        return false;
    }
    let b = json.as_bytes();
    // Whether the innermost container is an object, as a bit stack (deeper
    // than 64 levels counts as an array: only compression suffers).
    let (mut objects, mut depth) = (0u64, 0u32);
    let mut expect_key = false;
    let mut first_value = true;
    // Start of the shape text not yet copied.
    let mut pending = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'{' | b'[' => {
                if depth < 64 {
                    objects = (objects << 1) | u64::from(c == b'{');
                }
                depth += 1;
                expect_key = c == b'{';
                i += 1;
            }
            b'}' | b']' => {
                if depth > 0 && depth <= 64 {
                    objects >>= 1;
                }
                depth = depth.saturating_sub(1);
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = depth > 0 && depth <= 64 && objects & 1 == 1;
                i += 1;
            }
            b':' => {
                expect_key = false;
                i += 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' if expect_key => i = string_end(b, i),
            _ => {
                let end = if c == b'"' {
                    string_end(b, i)
                } else {
                    // A number, true, false, null (or anything else) up to
                    // the next structural byte.
                    b[i..]
                        .iter()
                        .position(|x| {
                            matches!(
                                x,
                                b',' | b':'
                                    | b'{'
                                    | b'}'
                                    | b'['
                                    | b']'
                                    | b' '
                                    | b'\t'
                                    | b'\n'
                                    | b'\r'
                                    | b'"'
                            )
                        })
                        .map_or(b.len(), |n| i + n)
                };
                // Both ends are ASCII bytes or the text's ends, so character
                // boundaries.
                shape.push_str(&json[pending..i]);
                shape.push(MARK);
                if !first_value {
                    values.push(MARK);
                }
                first_value = false;
                values.push_str(&json[i..end]);
                pending = end;
                i = end;
            }
        }
    }
    shape.push_str(&json[pending..]);
    true
}

/// The index after the string starting at `start` (a `"`), or the end of the
/// text when it is not closed.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(n) = b[i.min(b.len())..]
        .iter()
        .position(|&x| x == b'"' || x == b'\\')
    {
        i += n;
        if b[i] == b'"' {
            return i + 1;
        }
        i += 2;
    }
    b.len()
}

/// Puts values back into a shape.
fn join(shape: &str, values: &str) -> String {
    let mut out = String::with_capacity(shape.len() + values.len());
    let mut values = values.split(MARK);
    for (n, piece) in shape.split(MARK).enumerate() {
        if n > 0 {
            out.push_str(values.next().unwrap_or_default());
        }
        out.push_str(piece);
    }
    out
}

/// The statistics of a run of files, as shapes and values.
#[derive(Clone, Debug)]
pub(crate) struct StatsColumn {
    shapes: Vec<String>,
    shape_of: Vec<u32>,
    /// Each file's values (or whole text), empty without statistics.
    values: StringArray,
}

impl StatsColumn {
    /// Encodes a column of statistics texts (`None`: no statistics at all).
    pub(crate) fn new(stats: Option<&StringArray>, len: usize) -> Self {
        let mut shapes: Vec<String> = Vec::new();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut shape_of = Vec::with_capacity(len);
        let mut builder = StringBuilder::with_capacity(len, 0);
        let (mut shape, mut values) = (String::new(), String::new());
        for row in 0..len {
            let Some(text) = stats.and_then(|s| s.is_valid(row).then(|| s.value(row))) else {
                shape_of.push(NONE);
                builder.append_value("");
                continue;
            };
            shape.clear();
            values.clear();
            if !split(text, &mut shape, &mut values) {
                shape_of.push(WHOLE);
                builder.append_value(text);
                continue;
            }
            // Neighbouring files almost always share a shape.
            let id = match shapes.last() {
                Some(last) if *last == shape => Some(shapes.len() as u32 - 1),
                _ => index.get(&shape).copied(),
            };
            let id = match id {
                Some(id) => id,
                None if shapes.len() < MAX_SHAPES => {
                    let id = shapes.len() as u32;
                    index.insert(shape.clone(), id);
                    shapes.push(shape.clone());
                    id
                }
                None => {
                    shape_of.push(WHOLE);
                    builder.append_value(text);
                    continue;
                }
            };
            shape_of.push(id);
            builder.append_value(&values);
        }
        Self {
            shapes,
            shape_of,
            values: builder.finish(),
        }
    }

    /// The statistics text of row `row`, exactly as it was.
    pub(crate) fn get(&self, row: usize) -> Option<String> {
        match self.shape_of[row] {
            NONE => None,
            WHOLE => Some(self.values.value(row).to_string()),
            id => Some(join(&self.shapes[id as usize], self.values.value(row))),
        }
    }

    /// Whether row `row` has statistics.
    pub(crate) fn has(&self, row: usize) -> bool {
        self.shape_of[row] != NONE
    }

    /// Bytes held, by capacity.
    pub(crate) fn memory_size(&self) -> usize {
        self.values.get_array_memory_size()
            + self.shape_of.capacity() * 4
            + self.shapes.iter().map(String::capacity).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(text: &str) -> Option<String> {
        let (mut shape, mut values) = (String::new(), String::new());
        split(text, &mut shape, &mut values).then(|| join(&shape, &values))
    }

    #[test]
    fn statistics_share_a_shape_and_come_back_exactly() {
        let a = r#"{"numRecords":100,"minValues":{"id":"a\"b","ts":"2024-01-01T00:00:00Z","x":1.5e3},"maxValues":{"id":"zz","ts":null,"x":-2},"nullCount":{"id":0,"ts":3,"x":0},"tightBounds":true}"#;
        let b = r#"{"numRecords":7,"minValues":{"id":"q","ts":"2025-01-01T00:00:00Z","x":0},"maxValues":{"id":"r","ts":"2025-02-01T00:00:00Z","x":9},"nullCount":{"id":0,"ts":0,"x":1},"tightBounds":false}"#;
        let column = StatsColumn::new(Some(&StringArray::from(vec![Some(a), None, Some(b)])), 3);
        assert_eq!(column.shapes.len(), 1, "{:?}", column.shapes);
        assert_eq!(column.get(0).as_deref(), Some(a));
        assert_eq!(column.get(1), None);
        assert_eq!(column.get(2).as_deref(), Some(b));
        assert!(column.values.value(0).len() < a.len() / 2 + 20);
    }

    #[test]
    fn odd_texts_come_back_exactly() {
        for text in [
            "",
            "{}",
            "[1, 2 ,[3]]",
            r#"{"a" : { "b":[ "x", {"c": true} ] } }"#,
            r#"{"unterminated": "abc"#,
            r#"{"esc\"aped":"\\","#,
            "not json at all: , : } {",
            "{\"a\":\"\u{1}\"}",
            "\"é\" 💡 {\"ключ\":\"значение\"}",
        ] {
            let column = StatsColumn::new(Some(&StringArray::from(vec![text])), 1);
            assert_eq!(column.get(0).as_deref(), Some(text));
        }
    }

    proptest! {
        /// Any text comes back byte for byte.
        #[test]
        fn any_text_comes_back(text in "\\PC*", json_like in "[{}\\[\\]:,\" a-z0-9\\\\.\u{1}-]{0,60}") {
            for t in [&text, &json_like] {
                let column = StatsColumn::new(Some(&StringArray::from(vec![t.as_str()])), 1);
                let back = column.get(0);
                prop_assert_eq!(back.as_deref(), Some(t.as_str()));
                if let Some(back) = round_trip(t) {
                    prop_assert_eq!(&back, t);
                }
            }
        }
    }
}
