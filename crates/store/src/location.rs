//! Table locations: plain paths, `file://`, `memory://`, `s3://`, `az://`,
//! `abfs[s]://`, `gs://` URIs, parsed into a URL plus the store kind.

use std::path::{Component, Path, PathBuf};

use url::Url;

use crate::error::{LocationError, StoreError};

/// Which backend a location needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Local file system.
    Local,
    /// In-process memory (tests, examples).
    Memory,
    /// Amazon S3 and compatible servers.
    S3,
    /// Azure Blob Storage / ADLS Gen2.
    Azure,
    /// Google Cloud Storage.
    Gcs,
}

/// A parsed table location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation {
    /// Normalized URL of the table root, without a trailing slash.
    pub url: Url,
    /// The backend.
    pub kind: StoreKind,
}

impl TableLocation {
    /// Parses a URI or a plain (absolute or relative) file-system path.
    pub fn parse(input: &str) -> Result<Self, StoreError> {
        let invalid = |reason: LocationError| StoreError::InvalidLocation {
            location: redact(input),
            reason,
        };
        if input.is_empty() {
            return Err(invalid(LocationError::Empty));
        }
        let looks_like_uri = input.split_once("://").is_some_and(|(scheme, _)| {
            scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+')
        });
        let url = if looks_like_uri {
            Url::parse(input).map_err(|e| invalid(e.into()))?
        } else {
            let path = absolute_path(Path::new(input))
                .map_err(|e| invalid(LocationError::CurrentDir(e)))?;
            Url::from_directory_path(&path)
                .map_err(|_| invalid(LocationError::NotAbsolute { path }))?
        };
        let kind = match url.scheme() {
            "file" => StoreKind::Local,
            "memory" => StoreKind::Memory,
            "s3" | "s3a" => StoreKind::S3,
            "az" | "adl" | "azure" | "abfs" | "abfss" => StoreKind::Azure,
            "gs" => StoreKind::Gcs,
            "https"
                if url.host_str().is_some_and(|h| {
                    h.ends_with(".blob.core.windows.net") || h.ends_with(".dfs.core.windows.net")
                }) =>
            {
                StoreKind::Azure
            }
            other => {
                return Err(invalid(LocationError::UnsupportedScheme {
                    scheme: other.to_string(),
                }));
            }
        };
        let mut url = url;
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(&trimmed);
        Ok(Self { url, kind })
    }

    /// The location for messages: the URL without user, password or query.
    pub fn display(&self) -> String {
        redact(self.url.as_str())
    }
}

/// Removes credentials and query parameters from a location string.
pub fn redact(input: &str) -> String {
    match Url::parse(input) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.set_query(None);
            u.to_string()
        }
        Err(_) => input.to_string(),
    }
}

/// Makes a path absolute against the current directory and removes `.` and
/// `..` components lexically (the table may not exist yet). Fails only
/// when the path is relative and the current directory cannot be read.
fn absolute_path(p: &Path) -> Result<PathBuf, std::io::Error> {
    let base = if p.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir()?
    };
    let mut out = base;
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        let l = TableLocation::parse("/tmp/a/../b/").unwrap();
        assert_eq!(
            (l.url.as_str(), l.kind),
            ("file:///tmp/b", StoreKind::Local)
        );
        assert_eq!(
            TableLocation::parse("s3://bucket/t").unwrap().kind,
            StoreKind::S3
        );
        assert_eq!(
            TableLocation::parse("az://c/t").unwrap().kind,
            StoreKind::Azure
        );
        assert_eq!(
            TableLocation::parse("abfss://c@acct.dfs.core.windows.net/t")
                .unwrap()
                .kind,
            StoreKind::Azure
        );
        assert_eq!(
            TableLocation::parse("gs://b/t").unwrap().kind,
            StoreKind::Gcs
        );
        assert_eq!(
            TableLocation::parse("memory:///t").unwrap().kind,
            StoreKind::Memory
        );
        assert!(TableLocation::parse("ftp://x/y").is_err());
        assert!(TableLocation::parse("").is_err());
        let rel = TableLocation::parse("some/dir").unwrap();
        assert!(rel.url.path().ends_with("/some/dir"));
    }

    #[test]
    fn redacts_credentials() {
        let r = redact("s3://key:secret@bucket/t?token=abc");
        assert!(!r.contains("secret") && !r.contains("abc"), "{r}");
    }
}
