//! The storage contract silt-log reads and writes the log through.
//!
//! silt-log never touches a file system or network itself: every byte comes
//! through a [`LogStore`], implemented by `silt-store` on `object_store`
//! (local disk, memory, S3, Azure, GCS) and by test doubles.
//!
//! # Contract
//!
//! * Paths are relative to the table root, use `/`, and never start with `/`
//!   (`_delta_log/00000000000000000000.json`).
//! * [`LogStore::list`] returns the files directly inside `dir` (a path ending
//!   in `/`; not recursive) whose path sorts strictly after `start_after`
//!   when it is given,
//!   **sorted ascending by path**, each with its size and last-modified time.
//!   A missing directory is an empty list, not an error.
//! * [`LogStore::read`] returns the whole object or
//!   [`StorageError::NotFound`].
//! * [`LogStore::read_range`] returns bytes `start..end` of an object; a
//!   range past the end is an error, never a short read.
//! * [`LogStore::put_if_absent`] writes the whole object atomically if and
//!   only if no object exists at `path`; otherwise it returns
//!   [`StorageError::AlreadyExists`] and changes nothing. Of several racing
//!   callers exactly one succeeds. Once it returns `Ok`, `read` of that path
//!   from any client returns the new bytes.
//! * [`LogStore::put`] replaces an object atomically: readers see the old or
//!   the new bytes, never a mix (used for `_last_checkpoint` only).
//! * [`LogStore::delete`] removes an object; deleting a missing object is not
//!   an error.
//! * [`LogStore::list_recursive`] lists every file below a directory.
//! * [`LogStore::list_dir`] lists what is directly in a directory: its
//!   files and its subdirectories (each sorted by path; a file system may
//!   also show empty ones, object stores have none); a missing directory
//!   is empty.
//! * [`LogStore::start_upload`] (optional; `None` means "put it whole")
//!   writes a new object piece by piece, for data files too large to hold
//!   in memory. Bytes may be visible at the path before
//!   [`ObjectUpload::finish`] returns (a local file grows in place), so it
//!   is only for fresh, unique paths nothing references until then. Once
//!   `finish` returns `Ok` every byte is durable and readable; an aborted or
//!   crashed upload leaves nothing or an unreferenced orphan (vacuum's
//!   business), never a referenced partial file.
//! * **Durability:** once `put_if_absent`, `put` or an upload's `finish`
//!   returns `Ok`, the object survives a crash or power loss of the writer's
//!   machine (object stores promise it; silt-store's local backend syncs the
//!   data, then the directory entries that publish it and any directory it
//!   created).
//! * Errors never carry credentials.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Path relative to the table root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, milliseconds since epoch.
    pub last_modified: i64,
}

/// What is directly in one directory (see [`LogStore::list_dir`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirEntries {
    /// Its files, sorted by path.
    pub files: Vec<FileMeta>,
    /// Its subdirectories as paths relative to the table root (no trailing
    /// `/`), sorted.
    pub dirs: Vec<String>,
}

impl DirEntries {
    /// Splits a recursive listing of `dir` into what is directly in it.
    pub fn from_recursive(dir: &str, all: Vec<FileMeta>) -> Self {
        let dir = dir.trim_end_matches('/');
        let mut out = Self::default();
        let mut dirs = std::collections::BTreeSet::new();
        for f in all {
            let rest = if dir.is_empty() {
                Some(f.path.as_str())
            } else {
                f.path.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
            };
            let Some(rest) = rest else { continue };
            match rest.split_once('/') {
                None => out.files.push(f),
                Some((sub, _)) => {
                    dirs.insert(if dir.is_empty() {
                        sub.to_string()
                    } else {
                        format!("{dir}/{sub}")
                    });
                }
            }
        }
        out.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        out.dirs = dirs.into_iter().collect();
        out
    }
}

/// What can go wrong in storage, as far as the log protocol cares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// No object at this path.
    #[error("no object at {path}")]
    NotFound {
        /// Path relative to the table root.
        path: String,
    },
    /// `put_if_absent` lost: an object already exists at this path.
    #[error("an object already exists at {path}")]
    AlreadyExists {
        /// Path relative to the table root.
        path: String,
    },
    /// Any other failure (I/O, network, permissions, ...).
    #[error("storage failure at {path}: {message}")]
    Other {
        /// Path relative to the table root.
        path: String,
        /// Description without secrets.
        message: String,
    },
}

impl StorageError {
    /// Whether trying the same operation again can succeed: `Other` (a
    /// network or I/O failure may be transient) is retryable; `NotFound`
    /// and `AlreadyExists` are answers, not failures, and are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Other { .. })
    }
}

/// Storage for one table, as seen by the log protocol. See the module docs
/// for the contract every implementation keeps.
#[async_trait]
pub trait LogStore: Send + Sync + fmt::Debug {
    /// Where the table lives, for messages (never includes secrets).
    fn location(&self) -> &str;

    /// Lists files directly in `dir` whose path sorts after `start_after`,
    /// sorted by path.
    async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<FileMeta>, StorageError>;

    /// Reads a whole object.
    async fn read(&self, path: &str) -> Result<Bytes, StorageError>;

    /// Reads bytes `range` of an object; a range past the object's end is
    /// an error. The default reads the whole object; stores that can fetch
    /// a range (local files, object stores) override it.
    async fn read_range(
        &self,
        path: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, StorageError> {
        let all = self.read(path).await?;
        let len = all.len() as u64;
        if range.start > range.end || range.end > len {
            return Err(StorageError::Other {
                path: path.into(),
                message: format!(
                    "range {}..{} is outside the object's {len} bytes",
                    range.start, range.end
                ),
            });
        }
        // Both bounds are at most `len`, a usize.
        Ok(all.slice(range.start as usize..range.end as usize))
    }

    /// Writes an object only if none exists at `path` (atomic).
    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError>;

    /// Lists every file below `dir` (recursively; `""` for the whole
    /// table), sorted by path. Used by vacuum only.
    async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError>;

    /// The files and subdirectories directly in `dir` (`""` for the root),
    /// so a caller can walk a tree one directory at a time and skip the
    /// parts it does not need. The default splits a recursive listing
    /// (correct, not cheaper); stores that list one level override it.
    async fn list_dir(&self, dir: &str) -> Result<DirEntries, StorageError> {
        let all = self.list_recursive(dir).await?;
        Ok(DirEntries::from_recursive(dir, all))
    }

    /// The size and modification time of one object, or
    /// [`StorageError::NotFound`]. The default lists the object's
    /// directory; stores that can ask about one object override it.
    async fn head(&self, path: &str) -> Result<FileMeta, StorageError> {
        let dir = path.rfind('/').map_or("", |i| &path[..=i]);
        self.list(dir, None)
            .await?
            .into_iter()
            .find(|f| f.path == path)
            .ok_or_else(|| StorageError::NotFound { path: path.into() })
    }

    /// Writes or replaces an object (atomic replace).
    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError>;

    /// Deletes an object (a missing object is fine).
    async fn delete(&self, path: &str) -> Result<(), StorageError>;

    /// Starts writing a new object at `path` piece by piece, or `None` when
    /// this store only writes whole objects (the default; callers then use
    /// [`LogStore::put_if_absent`]). See the module docs for the contract.
    async fn start_upload(
        &self,
        path: &str,
    ) -> Result<Option<Box<dyn ObjectUpload>>, StorageError> {
        let _ = path;
        Ok(None)
    }
}

/// A new object being written piece by piece (see
/// [`LogStore::start_upload`]).
#[async_trait]
pub trait ObjectUpload: Send {
    /// Appends bytes to the object.
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError>;
    /// Makes every written byte durable and the object complete.
    async fn finish(self: Box<Self>) -> Result<(), StorageError>;
    /// Gives up; best effort (what remains is an unreferenced orphan).
    async fn abort(self: Box<Self>);
}
