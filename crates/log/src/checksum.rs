//! Version checksum files (`<v>.crc`): the table's vital statistics at a
//! version, written by the committer. When present for the snapshot version
//! silt checks them against the replayed state; a disagreement means the log
//! or the checksum is corrupt, and is reported rather than ignored.

use std::collections::HashSet;

use serde::Deserialize;

use crate::actions::{Metadata, Protocol};

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
    /// In-commit timestamp of the version, when enabled.
    #[serde(default)]
    pub in_commit_timestamp_opt: Option<i64>,
}

impl VersionChecksum {
    /// Parses a `.crc` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))
    }

    /// Compares with the replayed state; the error says what differs.
    pub fn verify(
        &self,
        num_files: usize,
        table_size_bytes: i64,
        protocol: &Protocol,
        metadata: &Metadata,
    ) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.num_files != num_files as i64 {
            problems.push(format!(
                "numFiles is {} but replay found {num_files}",
                self.num_files
            ));
        }
        if self.table_size_bytes != table_size_bytes {
            problems.push(format!(
                "tableSizeBytes is {} but replay found {table_size_bytes}",
                self.table_size_bytes
            ));
        }
        if self.num_metadata != 1 || self.num_protocol != 1 {
            problems.push(format!(
                "numMetadata/numProtocol are {}/{}, expected 1/1",
                self.num_metadata, self.num_protocol
            ));
        }
        if let Some(m) = &self.metadata
            && m.id != metadata.id
        {
            problems.push(format!(
                "metadata id is {} but replay found {}",
                m.id, metadata.id
            ));
        }
        if let Some(p) = &self.protocol
            && !same_protocol(p, protocol)
        {
            problems.push(format!("protocol is {p:?} but replay found {protocol:?}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
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
        let err = c.verify(3, 10, &p, &m).unwrap_err();
        assert!(err.contains("numFiles"), "{err}");
    }
}
