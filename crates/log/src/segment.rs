//! Choosing the files that make up a snapshot: the newest complete checkpoint
//! at or below the target version, then every commit after it (or log
//! compactions standing in for runs of them), from a listing of the log
//! (`list_log`, the one place the log directory is listed).

use std::collections::BTreeMap;

use crate::error::{LogError, LogResult};
use crate::log_path::LOG_DIR;
use crate::log_path::{LogFileKind, LogFileName};
use crate::storage::FileMeta;
use crate::storage::LogStore;

/// A checkpoint chosen for a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFiles {
    /// Checkpoint version.
    pub version: u64,
    /// The files: one (classic, V2 top-level) or all parts in order.
    pub files: Vec<FileMeta>,
    /// The kind of the first file (multi-part, classic or V2).
    pub kind: LogFileKind,
}

/// A file of the log with its parsed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Parsed name.
    pub name: LogFileName,
    /// Listing metadata.
    pub meta: FileMeta,
}

/// The files to replay for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSegment {
    /// The snapshot version.
    pub version: u64,
    /// The checkpoint replay starts from, if any.
    pub checkpoint: Option<CheckpointFiles>,
    /// Commit and compaction files after the checkpoint, in version order.
    pub deltas: Vec<LogFile>,
    /// The commit file of `version` itself, when it exists.
    pub last_commit: Option<FileMeta>,
    /// The `.crc` file of `version`, when it exists.
    pub checksum: Option<FileMeta>,
}

/// The parsed contents of a log directory listing.
#[derive(Debug, Default, Clone)]
pub struct LogListing {
    /// Commit files by version.
    pub commits: BTreeMap<u64, FileMeta>,
    /// Checkpoint files by version.
    pub checkpoints: BTreeMap<u64, Vec<LogFile>>,
    /// Checksum files by version.
    pub checksums: BTreeMap<u64, FileMeta>,
    /// Compaction files by start version.
    pub compactions: BTreeMap<u64, Vec<LogFile>>,
}

impl LogListing {
    /// Sorts a listing into kinds; files that are not log files are ignored.
    pub fn from_files(files: impl IntoIterator<Item = FileMeta>) -> Self {
        let mut out = Self::default();
        for meta in files {
            let Some(name) = LogFileName::parse(&meta.path) else {
                continue;
            };
            let v = name.version;
            match name.kind {
                LogFileKind::Commit => {
                    out.commits.insert(v, meta);
                }
                LogFileKind::Checksum => {
                    out.checksums.insert(v, meta);
                }
                LogFileKind::Compaction { .. } => {
                    out.compactions
                        .entry(v)
                        .or_default()
                        .push(LogFile { name, meta });
                }
                _ => out
                    .checkpoints
                    .entry(v)
                    .or_default()
                    .push(LogFile { name, meta }),
            }
        }
        out
    }

    /// The newest version the listing shows (commit or checkpoint).
    pub fn latest_version(&self) -> Option<u64> {
        let c = self.commits.keys().next_back().copied();
        let k = self
            .checkpoints
            .iter()
            .rev()
            .find(|(_, files)| complete_checkpoint(files).is_some())
            .map(|(v, _)| *v);
        c.max(k)
    }

    /// The oldest version that can be reconstructed: the oldest complete
    /// checkpoint, or 0 when commit 0 exists.
    pub fn earliest_version(&self) -> Option<u64> {
        let cp = self
            .checkpoints
            .iter()
            .find(|(_, f)| complete_checkpoint(f).is_some())
            .map(|(v, _)| *v);
        if self.commits.contains_key(&0) {
            Some(0)
        } else {
            cp
        }
    }
}

/// Picks one complete checkpoint among the files written for one version:
/// a classic file, a complete multi-part set (incomplete sets are ignored) or
/// a V2 top-level file.
pub fn complete_checkpoint(files: &[LogFile]) -> Option<CheckpointFiles> {
    let version = files.first()?.name.version;
    if let Some(f) = files
        .iter()
        .find(|f| f.name.kind == LogFileKind::ClassicCheckpoint)
    {
        return Some(CheckpointFiles {
            version,
            files: vec![f.meta.clone()],
            kind: f.name.kind.clone(),
        });
    }
    if let Some(f) = files
        .iter()
        .find(|f| matches!(f.name.kind, LogFileKind::V2Checkpoint { .. }))
    {
        return Some(CheckpointFiles {
            version,
            files: vec![f.meta.clone()],
            kind: f.name.kind.clone(),
        });
    }
    // Multi-part: group by total part count; a set is complete when every
    // part 1..=n is present.
    let mut by_parts: BTreeMap<u32, BTreeMap<u32, &LogFile>> = BTreeMap::new();
    for f in files {
        if let LogFileKind::MultiPartCheckpoint { part, parts } = f.name.kind {
            by_parts.entry(parts).or_default().insert(part, f);
        }
    }
    by_parts.into_iter().rev().find_map(|(parts, set)| {
        (set.len() == parts as usize).then(|| CheckpointFiles {
            version,
            files: set.values().map(|f| f.meta.clone()).collect(),
            kind: LogFileKind::MultiPartCheckpoint { part: 1, parts },
        })
    })
}

/// Builds the segment for `target` (latest when `None`) from a listing.
pub fn build_segment(
    table: &str,
    listing: &LogListing,
    target: Option<u64>,
) -> Result<LogSegment, LogError> {
    let latest = listing
        .latest_version()
        .ok_or_else(|| LogError::TableNotFound {
            table: table.to_string(),
            reason: "_delta_log holds no commit or checkpoint".into(),
        })?;
    let version = target.unwrap_or(latest);
    if version > latest {
        return Err(LogError::VersionNotFound {
            table: table.to_string(),
            requested: version,
            latest,
        });
    }
    let checkpoint = listing
        .checkpoints
        .range(..=version)
        .rev()
        .find_map(|(_, files)| complete_checkpoint(files));
    let start = match &checkpoint {
        Some(cp) => cp.version + 1,
        None => 0,
    };
    // Without a checkpoint the log must begin at version 0.
    if checkpoint.is_none() && !listing.commits.contains_key(&0) {
        let earliest = listing.earliest_version().unwrap_or(latest);
        return Err(
            if version < earliest || listing.commits.contains_key(&version) {
                LogError::VersionCleanedUp {
                    table: table.to_string(),
                    requested: version,
                    earliest,
                }
            } else {
                LogError::NonContiguousLog {
                    table: table.to_string(),
                    expected: 0,
                    found: listing.commits.keys().copied().take(8).collect(),
                    detail: "the log has neither commit 0 nor a checkpoint".into(),
                }
            },
        );
    }
    let mut deltas = Vec::new();
    let mut v = start;
    while v <= version {
        // A compaction file may stand in for a run of commits, as long as it
        // ends before the target (whose own commit is always read).
        let compaction = listing.compactions.get(&v).and_then(|c| {
            c.iter()
                .filter(|f| matches!(f.name.kind, LogFileKind::Compaction { end } if end < version))
                .max_by_key(|f| match f.name.kind {
                    LogFileKind::Compaction { end } => end,
                    _ => 0,
                })
        });
        if let Some(c) = compaction {
            let LogFileKind::Compaction { end } = c.name.kind else {
                unreachable!("filtered to compactions above")
            };
            deltas.push(c.clone());
            v = end + 1;
            continue;
        }
        let Some(meta) = listing.commits.get(&v) else {
            return Err(LogError::NonContiguousLog {
                table: table.to_string(),
                expected: v,
                found: listing
                    .commits
                    .range(start.saturating_sub(1)..=version)
                    .map(|(k, _)| *k)
                    .take(16)
                    .collect(),
                detail: match &checkpoint {
                    Some(cp) => format!("replaying from the checkpoint at version {}", cp.version),
                    None => "replaying from version 0".into(),
                },
            });
        };
        deltas.push(LogFile {
            name: LogFileName {
                version: v,
                kind: LogFileKind::Commit,
            },
            meta: meta.clone(),
        });
        v += 1;
    }
    Ok(LogSegment {
        version,
        checkpoint,
        deltas,
        last_commit: listing.commits.get(&version).cloned(),
        checksum: listing.checksums.get(&version).cloned(),
    })
}

/// Lists `_delta_log/` from `from_version` (all of it when `None`). The
/// offset is the bare 20-digit version, which sorts before every file of that
/// version.
pub(crate) async fn list_log(
    store: &dyn LogStore,
    from_version: Option<u64>,
) -> LogResult<LogListing> {
    let from = from_version.map(|v| format!("{LOG_DIR}{v:020}"));
    let files = store
        .list(LOG_DIR, from.as_deref())
        .await
        .map_err(|source| LogError::Storage {
            table: store.location().to_string(),
            source,
        })?;
    Ok(LogListing::from_files(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> FileMeta {
        FileMeta {
            path: format!("_delta_log/{name}"),
            size: 1,
            last_modified: 0,
        }
    }

    fn listing(names: &[&str]) -> LogListing {
        LogListing::from_files(names.iter().map(|n| meta(n)))
    }

    const C0: &str = "00000000000000000000.json";
    const C1: &str = "00000000000000000001.json";
    const C2: &str = "00000000000000000002.json";
    const C3: &str = "00000000000000000003.json";
    const CP1: &str = "00000000000000000001.checkpoint.parquet";

    #[test]
    fn replays_from_checkpoint() {
        let l = listing(&[C0, C1, CP1, C2, C3]);
        let s = build_segment("t", &l, None).unwrap();
        assert_eq!(s.version, 3);
        assert_eq!(s.checkpoint.as_ref().unwrap().version, 1);
        let vs: Vec<u64> = s.deltas.iter().map(|d| d.name.version).collect();
        assert_eq!(vs, vec![2, 3]);
        // Time travel below the checkpoint replays from 0.
        let s = build_segment("t", &l, Some(0)).unwrap();
        assert!(s.checkpoint.is_none());
        assert_eq!(s.deltas.len(), 1);
    }

    #[test]
    fn detects_gaps_and_missing_versions() {
        let l = listing(&[C0, C2]);
        assert!(matches!(
            build_segment("t", &l, None),
            Err(LogError::NonContiguousLog { expected: 1, .. })
        ));
        let l = listing(&[C0, C1]);
        assert!(matches!(
            build_segment("t", &l, Some(5)),
            Err(LogError::VersionNotFound { latest: 1, .. })
        ));
        let l = listing(&[CP1, C2, C3]);
        assert!(matches!(
            build_segment("t", &l, Some(0)),
            Err(LogError::VersionCleanedUp { earliest: 1, .. })
        ));
        assert!(matches!(
            build_segment("t", &listing(&[]), None),
            Err(LogError::TableNotFound { .. })
        ));
    }

    #[test]
    fn incomplete_multipart_is_ignored() {
        let l = listing(&[
            C0,
            C1,
            C2,
            "00000000000000000002.checkpoint.0000000001.0000000002.parquet",
        ]);
        let s = build_segment("t", &l, None).unwrap();
        assert!(s.checkpoint.is_none());
        let l = listing(&[
            C2,
            "00000000000000000002.checkpoint.0000000001.0000000002.parquet",
            "00000000000000000002.checkpoint.0000000002.0000000002.parquet",
        ]);
        let s = build_segment("t", &l, None).unwrap();
        assert_eq!(s.checkpoint.unwrap().files.len(), 2);
    }

    #[test]
    fn compactions_replace_runs_of_commits() {
        let l = listing(&[
            C0,
            C1,
            C2,
            C3,
            "00000000000000000000.00000000000000000002.compacted.json",
        ]);
        let s = build_segment("t", &l, None).unwrap();
        let kinds: Vec<_> = s.deltas.iter().map(|d| d.name.clone()).collect();
        assert_eq!(kinds.len(), 2);
        assert!(matches!(kinds[0].kind, LogFileKind::Compaction { end: 2 }));
        // Not used when it would cover the target itself.
        let s = build_segment("t", &l, Some(2)).unwrap();
        assert_eq!(s.deltas.len(), 3);
    }
}
