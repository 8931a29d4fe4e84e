//! Immutable table snapshots and how they are loaded: list the log (from the
//! `_last_checkpoint` hint when it can be trusted), choose the segment, read
//! the checkpoint and commits concurrently, replay, then check the protocol
//! and the version checksum.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use crate::actions::{
    Action, Add, CommitInfo, DomainMetadata, FileKey, Metadata, Protocol, Remove, Txn,
    parse_log_file,
};
use crate::checkpoint_read::{CheckpointContents, read_checkpoint};
use crate::checksum::VersionChecksum;
use crate::error::{LogError, LogResult};
use crate::features::{ReadRefusal, check_readable};
use crate::file_list::FileList;
use crate::last_checkpoint::LastCheckpointHint;
use crate::log_path::{LAST_CHECKPOINT, LogFileKind};
use crate::replay::{ReplayState, ReplayedFiles};
use crate::segment::list_log;
use crate::segment::{LogSegment, build_segment};
use crate::storage::{FileMeta, LogStore, StorageError};
use crate::timetravel::{TimeTravelBase, version_at_timestamp};

/// How many log files are fetched at once.
const READ_CONCURRENCY: usize = 64;
/// How many commit files are parsed and applied together ...
const REPLAY_WINDOW: usize = 256;
/// ... or how many bytes of them, whichever comes first.
const REPLAY_WINDOW_BYTES: usize = 8 << 20;

use crate::properties::{ENABLE_IN_COMMIT_TIMESTAMPS as ENABLE_ICT, ICT_ENABLEMENT_VERSION};

/// Which version of a table to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionSpec {
    /// The newest version.
    #[default]
    Latest,
    /// An exact version.
    Version(u64),
    /// The newest version committed at or before this time (ms since epoch).
    Timestamp(i64),
}

/// Loads a [`Snapshot`].
///
/// ```no_run
/// # async fn example(store: std::sync::Arc<dyn silt_log::LogStore>) -> silt_log::LogResult<()> {
/// use silt_log::Snapshot;
/// let latest = Snapshot::builder(store.clone()).load().await?;
/// let v3 = Snapshot::builder(store).at_version(3).load().await?;
/// assert!(v3.version() <= latest.version());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `load` is awaited"]
pub struct SnapshotBuilder {
    store: Arc<dyn LogStore>,
    spec: VersionSpec,
    strict_checksum: bool,
}

impl SnapshotBuilder {
    /// Loads this exact version.
    pub fn at_version(mut self, version: u64) -> Self {
        self.spec = VersionSpec::Version(version);
        self
    }

    /// Loads the version current at this time (ms since epoch).
    pub fn at_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.spec = VersionSpec::Timestamp(timestamp_ms);
        self
    }

    /// Loads the version described by `spec`.
    pub fn at(mut self, spec: VersionSpec) -> Self {
        self.spec = spec;
        self
    }

    /// Refuses a version whose `.crc` checksum file disagrees with log
    /// replay ([`LogError::ChecksumMismatch`]). By default the log is the
    /// source of truth: the snapshot loads and carries the discrepancy
    /// ([`Snapshot::checksum_discrepancy`]), and a warning is logged.
    pub fn strict_checksum(mut self, strict: bool) -> Self {
        self.strict_checksum = strict;
        self
    }

    /// Reads the log and builds the snapshot.
    pub async fn load(self) -> LogResult<Snapshot> {
        let strict = self.strict_checksum;
        match self.spec {
            VersionSpec::Latest => load_version(self.store, None, strict).await,
            VersionSpec::Version(v) => load_version(self.store, Some(v), strict).await,
            VersionSpec::Timestamp(ts) => {
                let latest = load_version(self.store.clone(), None, strict).await?;
                let version = version_at_timestamp(&latest.time_travel_base(), ts).await?;
                if version == latest.version {
                    Ok(latest)
                } else {
                    load_version(self.store, Some(version), strict).await
                }
            }
        }
    }
}

/// The state of a table at one version. Immutable; exists only once loaded.
#[derive(Debug, Clone)]
pub struct Snapshot {
    store: Arc<dyn LogStore>,
    version: u64,
    protocol: Protocol,
    metadata: Metadata,
    files: FileList,
    tombstones: Vec<Remove>,
    txns: HashMap<String, Txn>,
    domains: HashMap<String, DomainMetadata>,
    timestamp_ms: i64,
    in_commit_timestamp: Option<i64>,
    segment: LogSegment,
    checksum_discrepancy: Option<ChecksumDiscrepancy>,
}

/// A version checksum (`.crc`) that disagrees with log replay. The log is
/// the source of truth; the protocol asks readers to surface this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumDiscrepancy {
    /// The checksum file.
    pub file: String,
    /// What disagrees (`numFiles is 10 but replay found 0`).
    pub message: String,
}

impl std::fmt::Display for ChecksumDiscrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl Snapshot {
    /// Starts loading a snapshot from a store.
    pub fn builder(store: Arc<dyn LogStore>) -> SnapshotBuilder {
        SnapshotBuilder {
            store,
            spec: VersionSpec::Latest,
            strict_checksum: false,
        }
    }

    /// What time travel from this version needs.
    fn time_travel_base(&self) -> TimeTravelBase<'_> {
        TimeTravelBase {
            store: self.store.as_ref(),
            version: self.version,
            timestamp_ms: self.timestamp_ms,
            ict_enablement_version: self.in_commit_timestamps_enabled().then(|| {
                self.metadata
                    .property(ICT_ENABLEMENT_VERSION)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            }),
        }
    }

    /// The disagreement between this version's `.crc` file and log replay,
    /// if there is one (the snapshot is replay's).
    pub fn checksum_discrepancy(&self) -> Option<&ChecksumDiscrepancy> {
        self.checksum_discrepancy.as_ref()
    }

    /// The store the table lives in.
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Where the table lives.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// The table version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The protocol in force.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The table metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Live data files, in no particular order: those of the checkpoint
    /// held column-wise and decoded as they are iterated.
    pub fn files(&self) -> &FileList {
        &self.files
    }

    /// Remembered `remove` actions, in no particular order.
    pub fn tombstones(&self) -> &[Remove] {
        &self.tombstones
    }

    /// Latest `txn` version of an application.
    pub fn txn_version(&self, app_id: &str) -> Option<i64> {
        self.txns.get(app_id).map(|t| t.version)
    }

    /// All application transactions.
    pub fn txns(&self) -> &HashMap<String, Txn> {
        &self.txns
    }

    /// Live domain metadata by domain name.
    pub fn domains(&self) -> &HashMap<String, DomainMetadata> {
        &self.domains
    }

    /// The commit time of this version (ms since epoch): the in-commit
    /// timestamp when the table has them, else the commit file's
    /// modification time.
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// The in-commit timestamp of this version, when enabled.
    pub fn in_commit_timestamp(&self) -> Option<i64> {
        self.in_commit_timestamp
    }

    /// The version of the checkpoint replay started from.
    pub fn checkpoint_version(&self) -> Option<u64> {
        self.segment.checkpoint.as_ref().map(|c| c.version)
    }

    /// The files this snapshot was built from.
    pub fn segment(&self) -> &LogSegment {
        &self.segment
    }

    /// Total bytes of live files.
    pub fn size_in_bytes(&self) -> i64 {
        self.files.total_size()
    }

    /// Total records of live files according to their statistics, minus
    /// deletion-vector cardinalities; `None` if any file lacks a record count.
    pub fn num_records(&self) -> Option<i64> {
        self.files.iter().map(|f| f.live_records()).sum()
    }

    /// Whether in-commit timestamps are enabled in this version's metadata.
    pub fn in_commit_timestamps_enabled(&self) -> bool {
        self.metadata.flag(ENABLE_ICT)
    }
}

impl Snapshot {
    /// Advances this snapshot to the newest version by reading only the
    /// commits after it (no listing, no checkpoint): for appends the cost is
    /// the size of the new commits, whatever the size of the table.
    pub async fn refresh(mut self) -> LogResult<Snapshot> {
        let store = self.store.clone();
        let s = store.as_ref();
        let table = s.location().to_string();
        let mut new_commits: Vec<(u64, Vec<Action>, FileMeta)> = Vec::new();
        loop {
            let v = self.version + 1 + new_commits.len() as u64;
            let path = crate::log_path::commit_path(v);
            let bytes = match s.read(&path).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => break,
                Err(source) => return Err(LogError::Storage { table, source }),
            };
            let actions = parse_log_file(&table, v, &path, &bytes)?;
            // Only the newest commit's time matters; it is asked below.
            let meta = FileMeta {
                path,
                size: bytes.len() as u64,
                last_modified: 0,
            };
            new_commits.push((v, actions, meta));
        }
        let Some((last_version, _, mut last_meta)) = new_commits.last().cloned() else {
            return Ok(self);
        };
        // The commit's time is its file's modification time, as `load`
        // lists it: the same version has one timestamp however it is reached.
        last_meta.last_modified = s
            .head(&last_meta.path)
            .await
            .map_err(|source| LogError::Storage {
                table: table.clone(),
                source,
            })?
            .last_modified;
        // Keys need tracking only when files may be replaced: removes, or
        // re-adds (dataChange=false rewrites, DV updates). Appends just add.
        let has_removes = new_commits.iter().any(|(_, a, _)| {
            a.iter().any(|x| {
                matches!(x, Action::Remove(_)) || matches!(x, Action::Add(add) if !add.data_change)
            })
        });
        let mut last_info = None;
        // The last action on each touched key decides it: live (Some) or not.
        let mut touched: HashMap<FileKey, Option<Add>> = HashMap::new();
        for (v, actions, _) in new_commits {
            for action in actions {
                match action {
                    Action::Add(add) if has_removes => {
                        touched.insert(add.key(), Some(*add));
                    }
                    Action::Add(add) => self.files.push(*add),
                    Action::Remove(r) => {
                        touched.insert(r.key(), None);
                        self.tombstones.push(*r);
                    }
                    Action::Protocol(p) => self.protocol = p,
                    Action::Metadata(m) => self.metadata = *m,
                    Action::Txn(t) => {
                        self.txns.insert(t.app_id.clone(), t);
                    }
                    Action::DomainMetadata(d) => {
                        if d.removed {
                            self.domains.remove(&d.domain);
                        } else {
                            self.domains.insert(d.domain.clone(), d);
                        }
                    }
                    Action::CommitInfo(c) if v == last_version => last_info = Some(*c),
                    _ => {}
                }
            }
        }
        if !touched.is_empty() {
            let keys: std::collections::HashSet<FileKey> = touched.keys().cloned().collect();
            self.files.remove_keys(&keys);
            // A file re-added after its remove is live again, not a tombstone.
            let live: std::collections::HashSet<&FileKey> = touched
                .iter()
                .filter_map(|(k, a)| a.is_some().then_some(k))
                .collect();
            self.tombstones.retain(|t| !live.contains(&t.key()));
            for add in touched.into_values().flatten() {
                self.files.push(add);
            }
        }
        check_readable(
            self.protocol.min_reader_version,
            self.protocol.reader_features.as_deref(),
            self.protocol.writer_features.as_deref(),
        )
        .map_err(|r| match r {
            ReadRefusal::ReaderVersion(v) => LogError::UnsupportedReaderVersion {
                table: table.clone(),
                version: last_version,
                reader_version: v,
            },
            ReadRefusal::Feature(feature) => LogError::UnsupportedReaderFeature {
                table: table.clone(),
                version: last_version,
                feature,
            },
        })?;
        self.in_commit_timestamp = if self.metadata.flag(ENABLE_ICT) {
            last_info.and_then(|c| c.in_commit_timestamp)
        } else {
            None
        };
        self.timestamp_ms = self.in_commit_timestamp.unwrap_or(last_meta.last_modified);
        self.version = last_version;
        self.segment.version = last_version;
        self.segment.last_commit = Some(last_meta);
        self.segment.checksum = None;
        self.checksum_discrepancy = None;
        Ok(self)
    }
}

/// Reads `_last_checkpoint`; any problem makes it `None` (it is only a hint).
async fn read_hint(store: &dyn LogStore) -> LogResult<Option<LastCheckpointHint>> {
    match store.read(LAST_CHECKPOINT).await {
        Ok(bytes) => Ok(LastCheckpointHint::parse(&bytes)),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(source) => Err(LogError::Storage {
            table: store.location().to_string(),
            source,
        }),
    }
}

async fn find_segment(store: &dyn LogStore, target: Option<u64>) -> LogResult<LogSegment> {
    let table = store.location();
    if let Some(hint) = read_hint(store).await?
        && target.is_none_or(|t| t >= hint.version)
    {
        let listing = list_log(store, Some(hint.version)).await?;
        if let Ok(segment) = build_segment(table, &listing, target)
            && segment
                .checkpoint
                .as_ref()
                .is_some_and(|c| c.version >= hint.version)
        {
            return Ok(segment);
        }
        // A stale or dangling hint: fall back to the full listing.
    }
    let listing = list_log(store, None).await?;
    build_segment(table, &listing, target)
}

async fn read_log_file(store: &dyn LogStore, meta: &FileMeta) -> LogResult<Bytes> {
    store
        .read(&meta.path)
        .await
        .map_err(|source| LogError::Storage {
            table: store.location().to_string(),
            source,
        })
}

/// Parses commit files on all cores; results stay in input order.
fn parse_commits(table: &str, files: &[(u64, String, Bytes)]) -> LogResult<Vec<Vec<Action>>> {
    let parse = |(version, path, bytes): &(u64, String, Bytes)| {
        parse_log_file(table, *version, path, bytes)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bytes: usize = files.iter().map(|f| f.2.len()).sum();
    if threads == 1 || files.len() < 2 || (files.len() < 64 && bytes < (1 << 20)) {
        return files.iter().map(parse).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(parse).collect::<LogResult<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for h in handles {
            // A parse thread only panics if serde_json does; propagate it.
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?);
        }
        Ok(out)
    })
}

async fn load_version(
    store: Arc<dyn LogStore>,
    target: Option<u64>,
    strict_checksum: bool,
) -> LogResult<Snapshot> {
    let s: &dyn LogStore = store.as_ref();
    let table = s.location().to_string();
    let segment = find_segment(s, target).await?;
    let version = segment.version;

    let checkpoint = async {
        match &segment.checkpoint {
            Some(cp) => read_checkpoint(s, cp).await,
            None => Ok(CheckpointContents::default()),
        }
    };
    let checksum = async {
        match &segment.checksum {
            Some(meta) => read_log_file(s, meta)
                .await
                .map(|b| Some((meta.path.clone(), b))),
            None => Ok(None),
        }
    };
    let (checkpoint, checksum) = futures::try_join!(checkpoint, checksum)?;
    let mut state = ReplayState::default();
    state.apply_checkpoint(checkpoint);

    // Commits are fetched concurrently but parsed and applied a window at a
    // time, so memory holds one window of raw log, not the whole log.
    let last_is_commit = segment
        .deltas
        .last()
        .is_some_and(|d| d.name.version == version && d.name.kind == LogFileKind::Commit);
    let mut last_commit_info: Option<CommitInfo> = None;
    // Owned items keep the load future `Send` (see checkpoint_read).
    let mut fetched = futures::stream::iter(segment.deltas.iter().cloned())
        .map(|f| async move {
            read_log_file(s, &f.meta)
                .await
                .map(|b| (f.name.version, f.meta.path.clone(), b))
        })
        .buffered(READ_CONCURRENCY);
    let mut window = Vec::new();
    let mut window_bytes = 0usize;
    loop {
        let next = fetched.next().await.transpose()?;
        let done = next.is_none();
        if let Some(file) = next {
            window_bytes += file.2.len();
            window.push(file);
        }
        if window.is_empty()
            || (!done && window.len() < REPLAY_WINDOW && window_bytes < REPLAY_WINDOW_BYTES)
        {
            if done {
                break;
            }
            continue;
        }
        for (file, actions) in window.iter().zip(parse_commits(&table, &window)?) {
            if last_is_commit && file.0 == version {
                last_commit_info = actions.iter().find_map(|a| match a {
                    Action::CommitInfo(c) => Some((**c).clone()),
                    _ => None,
                });
            }
            state.apply_all(actions);
        }
        window.clear();
        window_bytes = 0;
        if done {
            break;
        }
    }
    drop(fetched);

    let protocol = state
        .protocol
        .take()
        .ok_or_else(|| LogError::MissingAction {
            table: table.clone(),
            version,
            what: "protocol",
        })?;
    check_readable(
        protocol.min_reader_version,
        protocol.reader_features.as_deref(),
        protocol.writer_features.as_deref(),
    )
    .map_err(|refusal| match refusal {
        ReadRefusal::ReaderVersion(v) => LogError::UnsupportedReaderVersion {
            table: table.clone(),
            version,
            reader_version: v,
        },
        ReadRefusal::Feature(feature) => LogError::UnsupportedReaderFeature {
            table: table.clone(),
            version,
            feature,
        },
    })?;
    let metadata = state
        .metadata
        .take()
        .ok_or_else(|| LogError::MissingAction {
            table: table.clone(),
            version,
            what: "metaData",
        })?;

    // Unordered: sorting 100k paths costs more than the rest of a
    // checkpoint load; callers that show files sort them.
    let ReplayedFiles { files, tombstones } = state.take_files();

    let mut checksum_discrepancy = None;
    if let Some((path, bytes)) = checksum {
        let size: i64 = files.total_size();
        if let Err(problem) = VersionChecksum::parse(&bytes)
            .and_then(|c| c.verify(files.len(), size, &protocol, &metadata))
        {
            let message = problem.to_string();
            if strict_checksum {
                return Err(LogError::ChecksumMismatch {
                    table: table.clone(),
                    version,
                    file: path,
                    message,
                });
            }
            tracing::warn!(
                table = %table,
                version,
                file = %path,
                "version checksum disagrees with log replay (the log is used): {message}"
            );
            checksum_discrepancy = Some(ChecksumDiscrepancy {
                file: path,
                message,
            });
        }
    }

    let in_commit_timestamp = if metadata.flag(ENABLE_ICT) {
        last_commit_info.and_then(|c| c.in_commit_timestamp)
    } else {
        None
    };
    let file_time = segment
        .last_commit
        .as_ref()
        .or_else(|| segment.checkpoint.as_ref().and_then(|c| c.files.first()))
        .map_or(0, |m| m.last_modified);
    Ok(Snapshot {
        version,
        protocol,
        metadata,
        files,
        tombstones,
        txns: state.txns,
        domains: state.domains,
        timestamp_ms: in_commit_timestamp.unwrap_or(file_time),
        in_commit_timestamp,
        segment,
        store,
        checksum_discrepancy,
    })
}
