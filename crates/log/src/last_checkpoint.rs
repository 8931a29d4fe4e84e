//! `_delta_log/_last_checkpoint`: a hint naming the latest checkpoint. It is
//! only ever a hint: a missing, corrupt or stale file makes silt list the log
//! instead.

use serde::{Deserialize, Serialize};

/// The parsed `_last_checkpoint` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastCheckpointHint {
    /// Checkpoint version.
    pub version: u64,
    /// Number of actions in the checkpoint.
    #[serde(default)]
    pub size: Option<i64>,
    /// Number of parts (multi-part checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    /// Total size of the checkpoint in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_in_bytes: Option<i64>,
    /// Number of add actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_add_files: Option<i64>,
}

impl LastCheckpointHint {
    /// Parses the file; `None` when it is empty or malformed (then the log is
    /// listed instead).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_or_gives_up() {
        let h =
            LastCheckpointHint::parse(br#"{"version":10,"size":13,"parts":2,"extra":{}}"#).unwrap();
        assert_eq!((h.version, h.parts), (10, Some(2)));
        assert!(LastCheckpointHint::parse(b"").is_none());
        assert!(LastCheckpointHint::parse(b"{\"version\":-1}").is_none());
    }
}
