//! Table history: one record per commit, newest first, from the commit
//! files' `commitInfo` actions.

use futures::{StreamExt, TryStreamExt};

use crate::actions::{Action, CommitInfo, parse_log_file};
use crate::error::{LogError, LogResult};
use crate::segment::list_log;
use crate::storage::LogStore;
use crate::timetravel::monotonize;

/// One commit in the table's history.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRecord {
    /// Commit version.
    pub version: u64,
    /// The commit time used for time travel (ms since epoch): the
    /// in-commit timestamp when the commit has one, else the commit file's
    /// modification time made strictly increasing over the log.
    pub timestamp_ms: i64,
    /// The commit's provenance, when it has one.
    pub commit_info: Option<CommitInfo>,
}

/// Reads the history of the commits still in the log, newest first, at most
/// `limit` of them.
pub async fn read_history(
    store: &dyn LogStore,
    limit: Option<usize>,
) -> LogResult<Vec<CommitRecord>> {
    let listing = list_log(store, None).await?;
    let mut times: Vec<i64> = listing.commits.values().map(|m| m.last_modified).collect();
    monotonize(&mut times);
    let commits: Vec<_> = listing
        .commits
        .iter()
        .zip(times)
        .rev()
        .take(limit.unwrap_or(usize::MAX))
        .map(|((v, m), t)| (*v, m.clone(), t))
        .collect();
    futures::stream::iter(commits)
        .map(|(version, meta, file_time)| async move {
            let bytes = store
                .read(&meta.path)
                .await
                .map_err(|source| LogError::Storage {
                    table: store.location().to_string(),
                    source,
                })?;
            let actions = parse_log_file(store.location(), version, &meta.path, &bytes)?;
            let commit_info = actions.into_iter().find_map(|a| match a {
                Action::CommitInfo(c) => Some(*c),
                _ => None,
            });
            let timestamp_ms = commit_info
                .as_ref()
                .and_then(|c| c.in_commit_timestamp)
                .unwrap_or(file_time);
            Ok(CommitRecord {
                version,
                timestamp_ms,
                commit_info,
            })
        })
        .buffered(32)
        .try_collect()
        .await
}
