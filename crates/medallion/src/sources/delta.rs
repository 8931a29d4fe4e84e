//! A Delta table read as a stream, with the reference implementation's
//! options: the table as of the start, then each new commit's added rows
//! (`startingVersion` starts at a version instead); `maxFilesPerTrigger` /
//! `maxBytesPerTrigger` bound a batch (whole commits); a commit that
//! removes rows fails the flow unless `skipChangeCommits`;
//! `readChangeFeed` streams the change data feed instead. The progress is
//! the last version consumed.

use std::collections::BTreeMap;

use arrow_schema::SchemaRef;
use silt_log::actions::parse_log_file;
use silt_log::log_path::commit_path;
use silt_log::{Action, Add, Snapshot};

use super::SourceBatch;
use crate::error::InvalidInput;
use crate::error::{PipelineError, PipelineResult};

/// Options of a streaming Delta read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaStreamOptions {
    /// First version to read when the flow has no progress yet (`None`:
    /// the table as it is now, then later commits).
    pub starting_version: Option<u64>,
    /// At most this many new files per batch (whole commits; default 1000).
    pub max_files_per_trigger: Option<usize>,
    /// About this many bytes per batch (whole commits).
    pub max_bytes_per_trigger: Option<u64>,
    /// Skip commits that remove rows (UPDATE, DELETE, MERGE, overwrite).
    pub skip_change_commits: bool,
    /// Stream the change data feed (`_change_type`, `_commit_version`,
    /// `_commit_timestamp`) instead of added rows.
    pub read_change_feed: bool,
}

impl DeltaStreamOptions {
    /// Parses the options given as table properties of the reading
    /// dataset or flow (`startingVersion`, `maxFilesPerTrigger`, …).
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self, InvalidInput> {
        let mut o = Self::default();
        for (k, v) in options {
            let num = || {
                v.parse::<u64>()
                    .map_err(|_| format!("{k} must be a non-negative integer, not {v:?}"))
            };
            let flag = || match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("{k} must be true or false, not {v:?}")),
            };
            match k.to_ascii_lowercase().as_str() {
                "startingversion" => o.starting_version = Some(num()?),
                "maxfilespertrigger" => o.max_files_per_trigger = Some(num()?.max(1) as usize),
                "maxbytespertrigger" => o.max_bytes_per_trigger = Some(num()?.max(1)),
                "skipchangecommits" => o.skip_change_commits = flag()?,
                "readchangefeed" => o.read_change_feed = flag()?,
                _ => return Err(format!("unknown Delta streaming option {k:?}").into()),
            }
        }
        Ok(o)
    }
}

/// What a batch of a Delta stream read.
#[derive(Debug)]
pub struct DeltaBatch {
    /// The rows, when read already (a change feed); empty otherwise.
    pub batch: SourceBatch,
    /// The data files holding the batch's rows (appends, or the table as
    /// of the start): read lazily by the query, so only the columns and
    /// row groups it needs are decoded. `None` when `batch` holds the rows.
    pub files: Option<Vec<Add>>,
    /// The last version consumed after this batch.
    pub version: u64,
    /// Whether anything new was found (a skipped change commit counts).
    pub advanced: bool,
}

fn source_err(flow: &str, table: &str, message: String, retryable: bool) -> PipelineError {
    PipelineError::Source {
        flow: flow.to_string(),
        source_name: table.to_string(),
        message,
        retryable,
    }
}

/// The next batch of `latest`'s table after `consumed` (the last version
/// read; `None`: nothing read yet).
pub async fn next_batch(
    latest: &Snapshot,
    consumed: Option<u64>,
    options: &DeltaStreamOptions,
    flow: &str,
) -> PipelineResult<DeltaBatch> {
    let table = latest.location().to_string();
    let schema: SchemaRef = std::sync::Arc::new(
        latest
            .metadata()
            .schema()
            .to_arrow()
            .map_err(|e| source_err(flow, &table, e.to_string(), false))?,
    );
    let start = match (consumed, options.starting_version) {
        (Some(v), _) => v + 1,
        (None, Some(v)) => v,
        (None, None) if options.read_change_feed => 0,
        (None, None) => {
            // The table as it is now, then the commits after it.
            let files = latest.files().to_vec();
            let mut metrics = serde_json::Map::new();
            metrics.insert("files".into(), files.len().into());
            metrics.insert("from_version".into(), 0.into());
            metrics.insert("to_version".into(), latest.version().into());
            metrics.insert("rows".into(), rows_of(&files).into());
            return Ok(DeltaBatch {
                batch: SourceBatch {
                    schema,
                    batches: Vec::new(),
                    metrics,
                },
                files: Some(files),
                version: latest.version(),
                advanced: true,
            });
        }
    };
    let mut end = start;
    let mut adds: Vec<Add> = Vec::new();
    let mut bytes = 0u64;
    let mut skipped = 0u64;
    let max_files = options.max_files_per_trigger.unwrap_or(1000);
    let store = latest.store().clone();
    let mut last = None;
    while end <= latest.version() {
        if adds.len() >= max_files || options.max_bytes_per_trigger.is_some_and(|m| bytes >= m) {
            break;
        }
        let path = commit_path(end);
        let data = match store.read(&path).await {
            Ok(d) => d,
            Err(silt_log::StorageError::NotFound { .. }) => {
                return Err(source_err(
                    flow,
                    &table,
                    format!(
                        "version {end} is no longer in the table's log (cleaned up by log retention); the flow last read version {}: run a full refresh of its target, or set startingVersion",
                        consumed.map_or("none".to_string(), |v| v.to_string())
                    ),
                    false,
                ));
            }
            Err(e) => {
                let retryable = e.is_retryable();
                return Err(source_err(
                    flow,
                    &table,
                    format!("reading version {end}: {e}"),
                    retryable,
                ));
            }
        };
        let actions = parse_log_file(&table, end, &path, &data)?;
        let changes_rows = actions
            .iter()
            .any(|a| matches!(a, Action::Remove(r) if r.data_change));
        if changes_rows && !options.read_change_feed {
            if options.skip_change_commits {
                skipped += 1;
                last = Some(end);
                end += 1;
                continue;
            }
            return Err(source_err(
                flow,
                &table,
                format!(
                    "version {end} changes existing rows (a {} commit), and a streaming read expects appends only: set skipChangeCommits to ignore such commits, or readChangeFeed to stream the changes",
                    actions
                        .iter()
                        .find_map(|a| match a {
                            Action::CommitInfo(c) => c.operation.clone(),
                            _ => None,
                        })
                        .unwrap_or_else(|| "row-changing".into())
                ),
                false,
            ));
        }
        for a in actions {
            if let Action::Add(add) = a
                && add.data_change
            {
                bytes += add.size.max(0) as u64;
                adds.push(*add);
            }
        }
        last = Some(end);
        end += 1;
    }
    let Some(last) = last else {
        return Ok(DeltaBatch {
            batch: SourceBatch {
                schema,
                batches: Vec::new(),
                metrics: serde_json::Map::new(),
            },
            files: Some(Vec::new()),
            version: consumed.unwrap_or(latest.version()),
            advanced: false,
        });
    };
    let mut metrics = serde_json::Map::new();
    metrics.insert("from_version".into(), start.into());
    metrics.insert("to_version".into(), last.into());
    metrics.insert("skipped_change_commits".into(), skipped.into());
    if options.read_change_feed {
        let batches = silt_parquet::cdf::read_changes(latest, start, Some(last)).await?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| schema.clone());
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        metrics.insert("rows".into(), rows.into());
        return Ok(DeltaBatch {
            batch: SourceBatch {
                schema,
                batches,
                metrics,
            },
            files: None,
            version: last,
            advanced: true,
        });
    }
    metrics.insert("files".into(), adds.len().into());
    metrics.insert("rows".into(), rows_of(&adds).into());
    Ok(DeltaBatch {
        batch: SourceBatch {
            schema,
            batches: Vec::new(),
            metrics,
        },
        files: Some(adds),
        version: last,
        advanced: true,
    })
}

/// Rows in `files` by their statistics (a file without a count adds none).
fn rows_of(files: &[Add]) -> u64 {
    files
        .iter()
        .filter_map(Add::live_records)
        .map(|n| n.max(0) as u64)
        .sum()
}
