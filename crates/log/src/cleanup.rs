//! Log cleanup: removing commit, checkpoint, checksum and compaction files
//! older than `delta.logRetentionDuration` (default 30 days), only behind a
//! checkpoint so every retained version can still be reconstructed, and
//! honouring `checkpointProtection`.

use crate::error::{LogError, LogResult};
use crate::features::TableFeature;
use crate::interval::parse_interval_ms;
use crate::segment::list_log;
use crate::segment::{LogListing, complete_checkpoint};
use crate::snapshot::Snapshot;

/// Default `delta.logRetentionDuration`: 30 days.
pub const DEFAULT_LOG_RETENTION_MS: i64 = 30 * 86_400_000;

/// Which files cleanup removes from a listing, and the oldest version that
/// stays reconstructable. Pure.
///
/// The boundary is the newest complete checkpoint whose version `c` has every
/// file of every version below `c` expired (modified at or before `cutoff_ms`);
/// files of versions below `c` are removed. With checkpoint protection below
/// version `p`, history before `p` may only go all at once: nothing is
/// removed unless `c >= p`.
pub fn plan_cleanup(
    listing: &LogListing,
    latest_version: u64,
    cutoff_ms: i64,
    protected_before: Option<u64>,
) -> (Vec<String>, Option<u64>) {
    let expired_below = |v: u64| {
        listing
            .commits
            .range(..v)
            .all(|(_, m)| m.last_modified <= cutoff_ms)
            && listing
                .checkpoints
                .range(..v)
                .all(|(_, fs)| fs.iter().all(|f| f.meta.last_modified <= cutoff_ms))
    };
    let boundary = listing
        .checkpoints
        .range(..=latest_version)
        .rev()
        .filter(|(_, files)| complete_checkpoint(files).is_some())
        .map(|(v, _)| *v)
        .find(|v| expired_below(*v));
    let Some(boundary) = boundary else {
        return (Vec::new(), None);
    };
    if protected_before.is_some_and(|p| boundary < p) {
        return (Vec::new(), None);
    }
    let mut out: Vec<String> = Vec::new();
    out.extend(
        listing
            .commits
            .range(..boundary)
            .map(|(_, m)| m.path.clone()),
    );
    out.extend(
        listing
            .checksums
            .range(..boundary)
            .map(|(_, m)| m.path.clone()),
    );
    for (_, files) in listing.checkpoints.range(..boundary) {
        out.extend(files.iter().map(|f| f.meta.path.clone()));
    }
    for (_, files) in listing.compactions.range(..boundary) {
        out.extend(files.iter().filter_map(|f| match f.name.kind {
            crate::log_path::LogFileKind::Compaction { end } if end < boundary => {
                Some(f.meta.path.clone())
            }
            _ => None,
        }));
    }
    out.sort();
    (out, Some(boundary))
}

/// The outcome of a cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    /// Files removed (or, in a dry run, that would be).
    pub files: Vec<String>,
    /// The oldest version still reconstructable afterwards.
    pub earliest_version: Option<u64>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl Snapshot {
    /// Removes expired log files behind the newest eligible checkpoint.
    pub async fn cleanup_log(&self, now_ms: i64, dry_run: bool) -> LogResult<CleanupReport> {
        let store = self.store().as_ref();
        crate::writable::check_writable(self.location(), self.version(), self.protocol())?;
        let retention = self
            .metadata()
            .property(crate::properties::LOG_RETENTION_DURATION)
            .and_then(parse_interval_ms)
            .unwrap_or(DEFAULT_LOG_RETENTION_MS);
        let protected_before = if self
            .protocol()
            .has_feature(&TableFeature::CheckpointProtection)
        {
            self.metadata()
                .property(crate::properties::REQUIRE_CHECKPOINT_PROTECTION_BEFORE_VERSION)
                .and_then(|v| v.parse::<u64>().ok())
        } else {
            None
        };
        let listing = list_log(store, None).await?;
        let (files, earliest) = plan_cleanup(
            &listing,
            self.version(),
            now_ms - retention,
            protected_before,
        );
        if !dry_run {
            // Oldest first: a crash midway leaves a log that still starts at
            // a reconstructable version.
            let mut ordered = files.clone();
            ordered.sort_by_key(|p| {
                crate::log_path::LogFileName::parse(p).map_or(u64::MAX, |n| n.version)
            });
            for path in &ordered {
                store
                    .delete(path)
                    .await
                    .map_err(|source| LogError::Storage {
                        table: self.location().to_string(),
                        source,
                    })?;
            }
        }
        Ok(CleanupReport {
            files,
            earliest_version: earliest,
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileMeta;

    fn listing(files: &[(&str, i64)]) -> LogListing {
        LogListing::from_files(files.iter().map(|(n, t)| FileMeta {
            path: format!("_delta_log/{n}"),
            size: 1,
            last_modified: *t,
        }))
    }

    #[test]
    fn removes_only_behind_an_expired_checkpoint() {
        let l = listing(&[
            ("00000000000000000000.json", 10),
            ("00000000000000000001.json", 20),
            ("00000000000000000002.json", 30),
            ("00000000000000000002.checkpoint.parquet", 30),
            ("00000000000000000003.json", 40),
            ("00000000000000000004.json", 50),
            ("00000000000000000004.checkpoint.parquet", 50),
            ("00000000000000000005.json", 60),
        ]);
        // Cutoff 35: checkpoint 2 qualifies (0 and 1 expired), checkpoint 4
        // does not (3 is not expired).
        let (files, earliest) = plan_cleanup(&l, 5, 35, None);
        assert_eq!(earliest, Some(2));
        assert_eq!(
            files,
            vec![
                "_delta_log/00000000000000000000.json",
                "_delta_log/00000000000000000001.json"
            ]
        );
        // Cutoff 55: checkpoint 4 qualifies.
        let (files, earliest) = plan_cleanup(&l, 5, 55, None);
        assert_eq!(earliest, Some(4));
        assert_eq!(files.len(), 5);
        // Nothing expired: nothing removed.
        assert_eq!(plan_cleanup(&l, 5, 5, None), (vec![], None));
        // Protection before version 3: history before 3 may only go at once.
        assert_eq!(plan_cleanup(&l, 5, 35, Some(3)).0.len(), 0);
        assert_eq!(plan_cleanup(&l, 5, 55, Some(3)).1, Some(4));
    }
}
