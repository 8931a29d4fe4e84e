//! One JSON-lines record's fields as text: `(key, value)` pairs where a
//! string value is its decoded text, `null` is none, and numbers, booleans
//! and nested values keep their JSON text. Flat objects whose strings have
//! no escapes (nearly every machine-written line) go through a strict
//! one-pass scanner that accepts only valid JSON; anything else (escapes,
//! nested values, invalid text) goes to serde_json, which decides. Both
//! paths give the same answer for every line the scanner accepts (a
//! property test checks it).

use std::borrow::Cow;

use serde::Deserializer as _;
use serde_json::value::RawValue;

/// One field: its key and its value as text (`None` for JSON `null`).
pub type Field<'a> = (Cow<'a, str>, Option<Cow<'a, str>>);

/// Fills `out` with the fields of `line` if it is a JSON object (returns
/// `true`); returns `false` for anything else (`out` is then undefined).
pub fn object_fields<'a>(line: &'a [u8], out: &mut Vec<Field<'a>>) -> bool {
    out.clear();
    if let Ok(text) = std::str::from_utf8(line)
        && flat_object(text, out)
    {
        return true;
    }
    out.clear();
    serde_fields(line, out)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The fast path: `text` as a flat object of strings without escapes,
/// numbers, booleans and nulls. `false` means "not sure", never "invalid".
fn flat_object<'a>(text: &'a str, out: &mut Vec<Field<'a>>) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < b.len() && is_ws(b[*i]) {
            *i += 1;
        }
    };
    skip(&mut i);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    i += 1;
    skip(&mut i);
    if b.get(i) == Some(&b'}') {
        i += 1;
        skip(&mut i);
        return i == b.len();
    }
    loop {
        let Some(key) = plain_string(text, &mut i) else {
            return false;
        };
        skip(&mut i);
        if b.get(i) != Some(&b':') {
            return false;
        }
        i += 1;
        skip(&mut i);
        let value = match b.get(i) {
            Some(b'"') => match plain_string(text, &mut i) {
                Some(s) => Some(Cow::Borrowed(s)),
                None => return false,
            },
            Some(b'n') if b[i..].starts_with(b"null") => {
                i += 4;
                None
            }
            Some(b't') if b[i..].starts_with(b"true") => {
                i += 4;
                Some(Cow::Borrowed("true"))
            }
            Some(b'f') if b[i..].starts_with(b"false") => {
                i += 5;
                Some(Cow::Borrowed("false"))
            }
            Some(b'-' | b'0'..=b'9') => match number(b, &mut i) {
                Some(start) => Some(Cow::Borrowed(&text[start..i])),
                None => return false,
            },
            _ => return false,
        };
        out.push((Cow::Borrowed(key), value));
        skip(&mut i);
        match b.get(i) {
            Some(b',') => {
                i += 1;
                skip(&mut i);
            }
            Some(b'}') => {
                i += 1;
                skip(&mut i);
                return i == b.len();
            }
            _ => return false,
        }
    }
}

/// A string at `*i` with no escapes or control characters; its contents.
fn plain_string<'a>(text: &'a str, i: &mut usize) -> Option<&'a str> {
    let b = text.as_bytes();
    if b.get(*i) != Some(&b'"') {
        return None;
    }
    let start = *i + 1;
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'"' => {
                *i = j + 1;
                // Both ends are ASCII quotes, so these are char boundaries.
                return text.get(start..j);
            }
            b'\\' | 0..=0x1f => return None,
            _ => j += 1,
        }
    }
    None
}

/// A JSON number at `*i` (RFC 8259 grammar); its start. A number must end
/// where a delimiter can follow, which the caller checks.
fn number(b: &[u8], i: &mut usize) -> Option<usize> {
    let start = *i;
    let mut j = *i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => {
            digits(b, &mut j);
        }
        _ => return None,
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        if digits(b, &mut j) == 0 {
            return None;
        }
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if digits(b, &mut j) == 0 {
            return None;
        }
    }
    *i = j;
    Some(start)
}

/// Skips the ASCII digits at `*j`; how many there were.
fn digits(b: &[u8], j: &mut usize) -> usize {
    let start = *j;
    while b.get(*j).is_some_and(u8::is_ascii_digit) {
        *j += 1;
    }
    *j - start
}

/// The general path: serde_json decides whether the line is an object.
fn serde_fields<'a>(line: &'a [u8], out: &mut Vec<Field<'a>>) -> bool {
    let mut raw: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(line);
    if de.deserialize_map(LineFields(&mut raw)).is_err() || de.end().is_err() {
        return false;
    }
    out.extend(raw.into_iter().map(|(k, v)| (k, value_text(v))));
    true
}

/// A JSON object's keys, borrowed from the line when they have no escapes.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// Collects one line's fields (key, raw value) if the line is an object.
struct LineFields<'a, 'de>(&'a mut Vec<(Cow<'de, str>, &'de RawValue)>);

impl<'de> serde::de::Visitor<'de> for LineFields<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: &'de RawValue = map.next_value()?;
            self.0.push((key, value));
        }
        Ok(())
    }
}

/// A raw JSON value as text: strings decoded, `null` as none, numbers,
/// booleans and nested values as their JSON text.
fn value_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if text == "null" {
        None
    } else if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if inner.contains('\\') {
            serde_json::from_str::<String>(text).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(inner))
        }
    } else {
        Some(Cow::Borrowed(text))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn owned(fields: &[Field<'_>]) -> Vec<(String, Option<String>)> {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_string())))
            .collect()
    }

    #[test]
    fn flat_lines_take_the_fast_path_and_others_fall_back() {
        let mut out = Vec::new();
        let line = r#"{"device_id":"dev-1","ts":"2026-11-01T00:00:33.688Z","temperature":-18.04e1,"ok":true,"fw":null}"#;
        assert!(flat_object(line, &mut out));
        assert_eq!(
            owned(&out),
            vec![
                ("device_id".into(), Some("dev-1".into())),
                ("ts".into(), Some("2026-11-01T00:00:33.688Z".into())),
                ("temperature".into(), Some("-18.04e1".into())),
                ("ok".into(), Some("true".into())),
                ("fw".into(), None),
            ]
        );
        for not_fast in [
            r#"{"a":"x\"y"}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            "{\"a\":\"\u{1}\"}",
            r#"[1]"#,
            "",
        ] {
            out.clear();
            assert!(!flat_object(not_fast, &mut out), "{not_fast}");
        }
        assert!(object_fields(br#"{"a":"x\"y"}"#, &mut out));
        assert_eq!(owned(&out), vec![("a".into(), Some("x\"y".into()))]);
        assert!(object_fields(br#"{"a":{"b":1}}"#, &mut out));
        assert_eq!(owned(&out), vec![("a".into(), Some(r#"{"b":1}"#.into()))]);
        assert!(!object_fields(br#"{"a":01}"#, &mut out));
        assert!(!object_fields(b"{\"a\":\"\xff\"}", &mut out));
    }

    /// Lines built from JSON-ish pieces, valid or not.
    fn line() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("\"k\"".to_string()),
            Just("\"v w\"".to_string()),
            Just("\"e\\n\"".to_string()),
            Just("null".to_string()),
            Just("nul".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("[1,2]".to_string()),
            "-?[0-9]{1,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
            "[a-z\\\\\"]{1,2}",
        ];
        let object = prop::collection::vec(
            (
                "[a-z_]{1,3}",
                prop_oneof![
                    Just("null".to_string()),
                    Just("true".to_string()),
                    "-?(0|[1-9][0-9]{0,4})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
                    "\"[ -~&&[^\"\\\\]]{0,6}\"",
                ],
            ),
            0..5,
        )
        .prop_map(|fields| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{k}\" : {v}"))
                .collect();
            format!(" {{{}}} ", body.join(","))
        });
        prop_oneof![
            object,
            prop::collection::vec(piece, 0..12).prop_map(|p| p.concat()),
        ]
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_serde(text in line()) {
            let mut fast = Vec::new();
            let mut slow = Vec::new();
            let serde_ok = serde_fields(text.as_bytes(), &mut slow);
            if flat_object(&text, &mut fast) {
                prop_assert!(serde_ok, "accepted what serde rejects: {text}");
                prop_assert_eq!(owned(&fast), owned(&slow));
            }
            let mut any = Vec::new();
            prop_assert_eq!(object_fields(text.as_bytes(), &mut any), serde_ok);
            if serde_ok {
                prop_assert_eq!(owned(&any), owned(&slow));
            }
        }
    }
}
