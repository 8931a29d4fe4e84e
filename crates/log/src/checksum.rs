//! Version checksum files (`<v>.crc`): the table's vital statistics at a
//! version, written by the committer. When present for the snapshot version
//! silt checks them against the replayed state; a disagreement means the log
//! or the checksum is corrupt, and is reported rather than ignored.

use std::collections::HashSet;

use serde::Deserialize;

use crate::actions::{Metadata, Protocol};

/// A `.crc` file that does not parse or disagrees with log replay. Either
/// the log or the checksum is corrupt; rereading cannot help, so this is
/// never retryable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    /// The file is not valid checksum JSON.
    #[error("does not parse: {0}")]
    Parse(#[source] serde_json::Error),
    /// One or more fields disagree with the replayed state.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Disagrees(Vec<ChecksumDifference>),
}

/// One way a `.crc` file disagrees with log replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumDifference {
    /// `numFiles`.
    #[error("numFiles is {recorded} but replay found {replayed}")]
    NumFiles {
        /// In the checksum.
        recorded: i64,
        /// By replay.
        replayed: usize,
    },
    /// `tableSizeBytes`.
    #[error("tableSizeBytes is {recorded} but replay found {replayed}")]
    TableSizeBytes {
        /// In the checksum.
        recorded: i64,
        /// By replay.
        replayed: i64,
    },
    /// `numMetadata` / `numProtocol` other than 1.
    #[error("numMetadata/numProtocol are {num_metadata}/{num_protocol}, expected 1/1")]
    ActionCounts {
        /// numMetadata.
        num_metadata: i64,
        /// numProtocol.
        num_protocol: i64,
    },
    /// The table id.
    #[error("metadata id is {recorded} but replay found {replayed}")]
    MetadataId {
        /// In the checksum.
        recorded: String,
        /// By replay.
        replayed: String,
    },
    /// The protocol (versions and features).
    #[error("protocol is {recorded} but replay found {replayed}")]
    Protocol {
        /// In the checksum, described.
        recorded: String,
        /// By replay, described.
        replayed: String,
    },
}

/// A protocol for a message: its versions and feature lists.
fn describe_protocol(p: &Protocol) -> String {
    let mut out = format!(
        "reader version {}, writer version {}",
        p.min_reader_version, p.min_writer_version
    );
    for (what, list) in [
        ("reader", &p.reader_features),
        ("writer", &p.writer_features),
    ] {
        if let Some(list) = list {
            out.push_str(&format!(", {what} features [{}]", list.join(", ")));
        }
    }
    out
}

/// The fields of a `.crc` file that silt verifies.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionChecksum {
    /// Total size of live files.
    pub table_size_bytes: i64,
    /// Number of live files.
    pub num_files: i64,
    /// Always 1.
    pub num_metadata: i64,
    /// Always 1.
    pub num_protocol: i64,
    /// The table metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// The table protocol.
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

impl VersionChecksum {
    /// Parses a `.crc` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, ChecksumError> {
        serde_json::from_slice(bytes).map_err(ChecksumError::Parse)
    }

    /// Compares with the replayed state; the error says what differs.
    pub fn verify(
        &self,
        num_files: usize,
        table_size_bytes: i64,
        protocol: &Protocol,
        metadata: &Metadata,
    ) -> Result<(), ChecksumError> {
        let mut problems = Vec::new();
        if self.num_files != num_files as i64 {
            problems.push(ChecksumDifference::NumFiles {
                recorded: self.num_files,
                replayed: num_files,
            });
        }
        if self.table_size_bytes != table_size_bytes {
            problems.push(ChecksumDifference::TableSizeBytes {
                recorded: self.table_size_bytes,
                replayed: table_size_bytes,
            });
        }
        if self.num_metadata != 1 || self.num_protocol != 1 {
            problems.push(ChecksumDifference::ActionCounts {
                num_metadata: self.num_metadata,
                num_protocol: self.num_protocol,
            });
        }
        if let Some(m) = &self.metadata
            && m.id != metadata.id
        {
            problems.push(ChecksumDifference::MetadataId {
                recorded: m.id.clone(),
                replayed: metadata.id.clone(),
            });
        }
        if let Some(p) = &self.protocol
            && !same_protocol(p, protocol)
        {
            problems.push(ChecksumDifference::Protocol {
                recorded: describe_protocol(p),
                replayed: describe_protocol(protocol),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ChecksumError::Disagrees(problems))
        }
    }
}

fn same_protocol(a: &Protocol, b: &Protocol) -> bool {
    let set =
        |f: &Option<Vec<String>>| -> HashSet<String> { f.iter().flatten().cloned().collect() };
    a.min_reader_version == b.min_reader_version
        && a.min_writer_version == b.min_writer_version
        && set(&a.reader_features) == set(&b.reader_features)
        && set(&a.writer_features) == set(&b.writer_features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_checksum_is_an_error() {
        assert!(VersionChecksum::parse(b"malformed").is_err());
    }

    #[test]
    fn detects_mismatch() {
        let p = Protocol {
            min_reader_version: 1,
            min_writer_version: 2,
            reader_features: None,
            writer_features: None,
        };
        let m: Metadata = serde_json::from_str(
            r#"{"id":"a","schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":[],"configuration":{}}"#,
        )
        .unwrap();
        let c = VersionChecksum::parse(
            br#"{"tableSizeBytes":10,"numFiles":2,"numMetadata":1,"numProtocol":1}"#,
        )
        .unwrap();
        assert!(c.verify(2, 10, &p, &m).is_ok());
        let err = c.verify(3, 10, &p, &m).unwrap_err().to_string();
        assert!(err.contains("numFiles"), "{err}");
    }
}
