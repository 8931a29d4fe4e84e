//! Time travel by timestamp: which version was current at a given time.
//!
//! Versions written while in-commit timestamps were enabled are dated by the
//! `inCommitTimestamp` in their commitInfo (monotonic by construction, so a
//! binary search reads only log2(n) commits); earlier versions by their
//! commit files' modification times, made strictly increasing the way Delta
//! does (a time not after its predecessor's becomes predecessor + 1 ms).

use crate::actions::{Action, parse_action_lines};
use crate::error::{LogError, LogResult};
use crate::log_path::commit_path;
use crate::segment::list_log;
use crate::storage::LogStore;

/// Makes file times strictly increasing, as Delta's commit timestamps are.
pub fn monotonize(times: &mut [i64]) {
    for i in 1..times.len() {
        if times[i] <= times[i - 1] {
            times[i] = times[i - 1] + 1;
        }
    }
}

/// Index of the last element `<= target` in a sorted slice.
fn last_at_or_before(times: &[i64], target: i64) -> Option<usize> {
    times.partition_point(|t| *t <= target).checked_sub(1)
}

/// The in-commit timestamp written in commit `version`.
pub async fn read_in_commit_timestamp(store: &dyn LogStore, version: u64) -> LogResult<i64> {
    let path = commit_path(version);
    let bytes = store
        .read(&path)
        .await
        .map_err(|source| LogError::Storage {
            table: store.location().to_string(),
            source,
        })?;
    let bad = |message: String, line| LogError::InvalidLogFile {
        table: store.location().to_string(),
        version,
        file: path.clone(),
        line,
        message,
    };
    let actions = parse_action_lines(&bytes).map_err(|(l, e)| bad(e.to_string(), Some(l)))?;
    actions
        .iter()
        .find_map(|a| match a {
            Action::CommitInfo(c) => c.in_commit_timestamp,
            _ => None,
        })
        .ok_or_else(|| {
            bad(
                "in-commit timestamps are enabled but the commit has no inCommitTimestamp".into(),
                None,
            )
        })
}

/// What time travel needs to know of the newest version.
pub(crate) struct TimeTravelBase<'a> {
    /// The table's storage.
    pub store: &'a dyn LogStore,
    /// The newest version.
    pub version: u64,
    /// Its commit time.
    pub timestamp_ms: i64,
    /// The version from which commits carry in-commit timestamps, when
    /// the newest version has them enabled.
    pub ict_enablement_version: Option<u64>,
}

/// The newest version whose commit time is at or before `timestamp_ms`.
pub(crate) async fn version_at_timestamp(
    latest: &TimeTravelBase<'_>,
    timestamp_ms: i64,
) -> LogResult<u64> {
    let store = latest.store;
    let table = store.location().to_string();
    let listing = list_log(store, None).await?;
    let earliest = listing.earliest_version().unwrap_or(latest.version);
    let ict_start = latest.ict_enablement_version.map(|v| v.max(earliest));

    if let Some(start) = ict_start.filter(|s| *s <= latest.version) {
        let first = read_in_commit_timestamp(store, start).await?;
        if timestamp_ms >= first {
            // Binary search over [start, latest]: invariant ict(lo) <= ts.
            let (mut lo, mut hi) = (start, latest.version);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if read_in_commit_timestamp(store, mid).await? <= timestamp_ms {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            return Ok(lo);
        }
    }

    let end = ict_start.unwrap_or(u64::MAX).min(latest.version + 1);
    let versions: Vec<(u64, i64)> = listing
        .commits
        .range(earliest..end)
        .map(|(v, m)| (*v, m.last_modified))
        .collect();
    let mut times: Vec<i64> = versions.iter().map(|(_, t)| *t).collect();
    monotonize(&mut times);
    match last_at_or_before(&times, timestamp_ms) {
        Some(i) => Ok(versions[i].0),
        None => Err(LogError::TimestampTooEarly {
            table,
            requested_ms: timestamp_ms,
            earliest_ms: times.first().copied().unwrap_or(latest.timestamp_ms),
            earliest_version: earliest,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonize_makes_times_strictly_increasing() {
        let mut t = vec![5, 3, 3, 10, 9];
        monotonize(&mut t);
        assert_eq!(t, vec![5, 6, 7, 10, 11]);
        assert_eq!(last_at_or_before(&t, 4), None);
        assert_eq!(last_at_or_before(&t, 7), Some(2));
        assert_eq!(last_at_or_before(&t, 100), Some(4));
    }
}
