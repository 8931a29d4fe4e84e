//! A flow's progress: what it has read from each source, recorded as
//! domain metadata of its target table in the same commit as the rows it
//! wrote, beside an application transaction (`txn`) whose version is the
//! batch number. Restarting reads it back from the table alone.

use std::collections::BTreeMap;

use crate::error::InvalidInput;
use serde::{Deserialize, Serialize};
use silt_log::Snapshot;
use silt_log::actions::DomainMetadata;

use crate::sources::files::FilesProgress;

/// What a flow has consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowProgress {
    /// Batches committed so far (the next batch's number).
    #[serde(default)]
    pub batches: i64,
    /// Streaming Delta inputs: the last version consumed.
    #[serde(default)]
    pub delta: BTreeMap<String, u64>,
    /// Landing-file inputs: files ingested and columns found.
    #[serde(default)]
    pub files: BTreeMap<String, FilesProgress>,
    /// Tables read whole: the version read (a materialized view is not
    /// recomputed while these are unchanged).
    #[serde(default)]
    pub upstream: BTreeMap<String, u64>,
    /// A flow without streaming inputs (or `ONCE`) has run.
    #[serde(default)]
    pub once_done: bool,
}

/// The domain holding flow `flow`'s progress of pipeline `pipeline`.
pub fn domain_name(pipeline: &str, flow: &str) -> String {
    format!("silt.pipeline.{pipeline}.flow.{flow}")
}

/// The application id of the flow's commits.
pub fn app_id(pipeline: &str, flow: &str) -> String {
    format!("silt-pipeline:{pipeline}:{flow}")
}

impl FlowProgress {
    /// The progress recorded in `snapshot` (none yet: the default).
    pub fn read(
        snapshot: Option<&Snapshot>,
        pipeline: &str,
        flow: &str,
    ) -> Result<Self, InvalidInput> {
        let Some(s) = snapshot else {
            return Ok(Self::default());
        };
        match s.domains().get(&domain_name(pipeline, flow)) {
            Some(d) if !d.removed => serde_json::from_str(&d.configuration).map_err(|e| {
                InvalidInput(format!(
                    "the progress of flow {flow} in {} (domain {}) is not readable: {e}",
                    s.location(),
                    d.domain
                ))
            }),
            _ => Ok(Self::default()),
        }
    }

    /// The domain metadata action recording this progress.
    pub fn to_domain(&self, pipeline: &str, flow: &str) -> DomainMetadata {
        DomainMetadata {
            domain: domain_name(pipeline, flow),
            // Serialising plain maps and numbers cannot fail.
            configuration: serde_json::to_string(self).unwrap_or_default(),
            removed: false,
        }
    }
}
