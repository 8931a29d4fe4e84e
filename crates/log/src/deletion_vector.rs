//! The deletion-vector descriptor carried by `add`/`remove` actions. Reading
//! the bitmap itself belongs to the data-file layer; this module only
//! validates and identifies the descriptor.

use serde::{Deserialize, Serialize};

/// Where a deletion vector is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StorageType {
    /// `u`: a file next to the table, named from a UUID (Z85-encoded with an
    /// optional random prefix).
    #[serde(rename = "u")]
    UuidRelative,
    /// `i`: inline, Z85-encoded bitmap bytes.
    #[serde(rename = "i")]
    Inline,
    /// `p`: an absolute path.
    #[serde(rename = "p")]
    AbsolutePath,
}

/// A deletion vector descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "DescriptorJson")]
pub struct DeletionVectorDescriptor {
    /// Storage kind.
    pub storage_type: StorageType,
    /// UUID (with prefix), inline data or absolute path, per `storage_type`.
    pub path_or_inline_dv: String,
    /// Byte offset of the bitmap in its file (not for inline DVs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Size of the serialized bitmap in bytes.
    pub size_in_bytes: i32,
    /// Number of deleted rows.
    pub cardinality: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson {
    storage_type: StorageType,
    path_or_inline_dv: String,
    #[serde(default)]
    offset: Option<i32>,
    size_in_bytes: i32,
    cardinality: i64,
}

/// A deletion-vector descriptor that breaks the protocol's rules (not
/// retryable: the log is at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// A size, offset or cardinality below zero.
    #[error(
        "deletion vector has a negative size ({size_in_bytes}), offset ({}) or cardinality ({cardinality})",
        offset.map_or_else(|| "none".to_string(), |o| o.to_string())
    )]
    Negative {
        /// sizeInBytes.
        size_in_bytes: i32,
        /// offset, when given.
        offset: Option<i32>,
        /// cardinality.
        cardinality: i64,
    },
    /// A `u` descriptor whose id is too short to hold a UUID.
    #[error("deletion vector id {id:?} is shorter than a Z85 UUID")]
    IdTooShort {
        /// pathOrInlineDv.
        id: String,
    },
    /// An `i` or `p` descriptor with nothing in pathOrInlineDv.
    #[error("deletion vector has an empty pathOrInlineDv")]
    EmptyPathOrInlineDv,
}

/// Length of a Z85-encoded UUID.
const Z85_UUID_LEN: usize = 20;

impl TryFrom<DescriptorJson> for DeletionVectorDescriptor {
    type Error = DescriptorError;
    fn try_from(d: DescriptorJson) -> Result<Self, DescriptorError> {
        if d.size_in_bytes < 0 || d.cardinality < 0 || d.offset.is_some_and(|o| o < 0) {
            return Err(DescriptorError::Negative {
                size_in_bytes: d.size_in_bytes,
                offset: d.offset,
                cardinality: d.cardinality,
            });
        }
        match d.storage_type {
            StorageType::UuidRelative if d.path_or_inline_dv.len() < Z85_UUID_LEN => {
                return Err(DescriptorError::IdTooShort {
                    id: d.path_or_inline_dv,
                });
            }
            StorageType::AbsolutePath | StorageType::Inline if d.path_or_inline_dv.is_empty() => {
                return Err(DescriptorError::EmptyPathOrInlineDv);
            }
            _ => {}
        }
        Ok(Self {
            storage_type: d.storage_type,
            path_or_inline_dv: d.path_or_inline_dv,
            offset: d.offset,
            size_in_bytes: d.size_in_bytes,
            cardinality: d.cardinality,
        })
    }
}

impl DeletionVectorDescriptor {
    /// The protocol's unique id: storage type, path or data, and `@offset`
    /// when there is an offset.
    pub fn unique_id(&self) -> String {
        let kind = match self.storage_type {
            StorageType::UuidRelative => 'u',
            StorageType::Inline => 'i',
            StorageType::AbsolutePath => 'p',
        };
        match self.offset {
            Some(o) => format!("{kind}{}@{o}", self.path_or_inline_dv),
            None => format!("{kind}{}", self.path_or_inline_dv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_id_includes_offset() {
        let d: DeletionVectorDescriptor = serde_json::from_str(
            r#"{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":4,"sizeInBytes":40,"cardinality":6}"#,
        )
        .unwrap();
        assert_eq!(d.unique_id(), "uab^-aqEH.-t@S}K{vb[*k^@4");
    }

    #[test]
    fn rejects_bad_descriptors() {
        for bad in [
            r#"{"storageType":"u","pathOrInlineDv":"short","sizeInBytes":1,"cardinality":1}"#,
            r#"{"storageType":"i","pathOrInlineDv":"x","sizeInBytes":-1,"cardinality":1}"#,
            r#"{"storageType":"z","pathOrInlineDv":"x","sizeInBytes":1,"cardinality":1}"#,
        ] {
            assert!(
                serde_json::from_str::<DeletionVectorDescriptor>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
