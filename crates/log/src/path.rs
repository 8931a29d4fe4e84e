//! File paths as they appear in actions: either relative to the table root
//! (URL-encoded, as the protocol requires) or an absolute URI.
//!
//! A relative path that climbs out of the table root (`..` segments, also when
//! percent-encoded) is refused when the action is parsed; an absolute URI is
//! kept as written and may only be followed within the stores the user
//! configured.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A file path from the log that silt refuses to follow. The log is at
/// fault (or a hostile writer), so retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("file path is empty")]
    Empty,
    /// The path holds a NUL byte.
    #[error("file path {path:?} contains a NUL byte")]
    NulByte {
        /// The path as written.
        path: String,
    },
    /// A `%` escape that does not decode to UTF-8 text.
    #[error("file path {path:?} is not valid percent-encoding")]
    BadPercentEncoding {
        /// The path as written.
        path: String,
    },
    /// A relative path with a `..` segment.
    #[error("relative file path {path:?} climbs out of the table root")]
    ClimbsOut {
        /// The path as written.
        path: String,
    },
}

/// [`FilePath::canonical`] of a path as written, borrowed when it is
/// already canonical (a relative path without `%`, the common case), so
/// callers that only compare need not allocate.
pub(crate) fn canonical_str(raw: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let decoded = if raw.contains('%') {
        percent_decode(raw)
    } else {
        None
    };
    let p: Cow<'_, str> = match decoded {
        Some(d) => Cow::Owned(d),
        None => Cow::Borrowed(raw),
    };
    if let Some(rest) = p.strip_prefix("file:///") {
        Cow::Owned(format!("file:/{rest}"))
    } else if p.starts_with('/') {
        Cow::Owned(format!("file:{p}"))
    } else {
        p
    }
}

/// A validated file path from the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FilePath(String);

impl FilePath {
    /// Validates a path taken from the log.
    pub fn parse(raw: impl Into<String>) -> Result<Self, PathError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('\0') {
            return Err(PathError::NulByte { path: raw });
        }
        // Only a path with a dot-dot (possibly percent-encoded) or a
        // backslash can climb out; most paths skip the segment check.
        let suspicious = raw.contains("..") || raw.contains('%') || raw.contains('\\');
        if suspicious && !is_absolute(&raw) {
            let Some(decoded) = percent_decode(&raw) else {
                return Err(PathError::BadPercentEncoding { path: raw });
            };
            if decoded.split(['/', '\\']).any(|segment| segment == "..") {
                return Err(PathError::ClimbsOut { path: raw });
            }
        }
        Ok(Self(raw))
    }

    /// The path exactly as written in the log.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path in the form used to identify files during replay:
    /// percent-encoding is removed (`a%20b` and `a b` are one file) and local
    /// absolute paths written as `/a`, `file:/a` or `file:///a` all become
    /// `file:/a`.
    pub fn canonical(&self) -> String {
        canonical_str(&self.0).into_owned()
    }

    /// Whether the path is an absolute URI (or an absolute file-system path)
    /// rather than a path relative to the table root.
    pub fn is_absolute(&self) -> bool {
        is_absolute(&self.0)
    }

    /// The relative path with percent-encoding removed: the object key below
    /// the table root. `None` for absolute paths.
    pub fn relative_decoded(&self) -> Option<String> {
        if self.is_absolute() {
            None
        } else {
            // Validated in `parse`.
            percent_decode(&self.0)
        }
    }
}

fn is_absolute(p: &str) -> bool {
    if p.starts_with('/') {
        return true;
    }
    // A URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    match p.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && scheme.len() > 1 // "C:" style drive letters are not URIs
        }
        None => false,
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is
/// not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl TryFrom<String> for FilePath {
    type Error = PathError;
    fn try_from(s: String) -> Result<Self, PathError> {
        Self::parse(s)
    }
}

impl From<FilePath> for String {
    fn from(p: FilePath) -> String {
        p.0
    }
}

impl fmt::Display for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        for ok in [
            "part-0.parquet",
            "a=1/b=%20x/part-0.parquet",
            "s3://bucket/x.parquet",
            "file:/tmp/x.parquet",
            "/abs/x.parquet",
            "x..y.parquet",
        ] {
            assert!(FilePath::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            FilePath::parse("a%3Ab/c%20d")
                .unwrap()
                .relative_decoded()
                .unwrap(),
            "a:b/c d"
        );
    }

    #[test]
    fn canonical_local_paths_agree() {
        let forms = ["/a/b%20c", "file:/a/b%20c", "file:///a/b%20c"];
        let canon: Vec<String> = forms
            .iter()
            .map(|f| FilePath::parse(*f).unwrap().canonical())
            .collect();
        assert!(canon.iter().all(|c| c == "file:/a/b c"), "{canon:?}");
        assert_eq!(
            FilePath::parse("x%20y.parquet").unwrap().canonical(),
            FilePath::parse("x y.parquet").unwrap().canonical()
        );
        assert_eq!(
            FilePath::parse("x.parquet").unwrap().canonical(),
            "x.parquet"
        );
    }

    #[test]
    fn refuses_escapes() {
        for bad in ["", "../x", "a/../../x", "a/%2E%2E/x", "%zz", "a\\..\\x"] {
            assert!(FilePath::parse(bad).is_err(), "{bad}");
        }
    }
}
