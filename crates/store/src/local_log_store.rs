//! [`LocalLogStore`]: silt-log's storage contract on the local file system,
//! with silt's own file I/O: exact file names, listings that filter names
//! before any `stat` (object_store's local listing stats every file, even
//! those before the offset), atomic and durable publication (`durable`),
//! and data files written in place by `LocalUpload`.

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use silt_log::{DirEntries, FileMeta, LogStore, ObjectUpload, StorageError};

use crate::error::io_error;
use crate::upload::LocalUpload;

/// A table directory on the local file system.
pub struct LocalLogStore {
    root: PathBuf,
    location: String,
}

impl fmt::Debug for LocalLogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLogStore")
            .field("location", &self.location)
            .finish()
    }
}

impl LocalLogStore {
    /// The table at directory `root`; `location` names it in messages.
    pub fn new(root: PathBuf, location: impl Into<String>) -> Self {
        Self {
            root,
            location: location.into(),
        }
    }
}

#[async_trait]
impl LogStore for LocalLogStore {
    fn location(&self) -> &str {
        &self.location
    }

    async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<FileMeta>, StorageError> {
        let root = &self.root;
        let (root, dir_owned, after) = (
            root.clone(),
            dir.to_string(),
            start_after.map(str::to_string),
        );
        tokio::task::spawn_blocking(move || list_local(&root, &dir_owned, after.as_deref()))
            .await
            .map_err(|e| StorageError::Other {
                path: dir.into(),
                message: format!("listing task failed: {e}"),
            })?
    }

    async fn list_dir(&self, dir: &str) -> Result<DirEntries, StorageError> {
        let (root, dir_owned) = (self.root.clone(), dir.to_string());
        tokio::task::spawn_blocking(move || list_local_dir(&root, &dir_owned))
            .await
            .map_err(|e| StorageError::Other {
                path: dir.into(),
                message: format!("listing task failed: {e}"),
            })?
    }

    async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
        let root = &self.root;
        let (root, dir_owned) = (root.clone(), dir.to_string());
        tokio::task::spawn_blocking(move || walk_local(&root, &dir_owned))
            .await
            .map_err(|e| StorageError::Other {
                path: dir.into(),
                message: format!("listing task failed: {e}"),
            })?
    }

    async fn head(&self, path: &str) -> Result<FileMeta, StorageError> {
        let root = &self.root;
        let file = local_file(root, path)?;
        let meta = tokio::fs::metadata(&file)
            .await
            .map_err(|e| io_error(path, e))?;
        Ok(file_meta(path.to_string(), &meta))
    }

    async fn read(&self, path: &str) -> Result<Bytes, StorageError> {
        let root = &self.root;
        let file = local_file(root, path)?;
        match tokio::fs::read(&file).await {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) => Err(io_error(path, e)),
        }
    }

    async fn read_range(
        &self,
        path: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, StorageError> {
        if range.start > range.end {
            return Err(StorageError::Other {
                path: path.into(),
                message: format!("empty range {}..{}", range.start, range.end),
            });
        }
        let root = &self.root;
        let file = local_file(root, path)?;
        let p = path.to_string();
        spawn_io(path, move || read_local_range(&file, range, &p)).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        let root = &self.root;
        let file = local_file(root, path)?;
        let p = path.to_string();
        spawn_io(path, move || {
            local_put(&file, &data, false).map_err(|e| io_error(&p, e))
        })
        .await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        let root = &self.root;
        let file = local_file(root, path)?;
        match tokio::fs::remove_file(&file).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(path, e)),
        }
    }

    async fn start_upload(
        &self,
        path: &str,
    ) -> Result<Option<Box<dyn ObjectUpload>>, StorageError> {
        let root = &self.root;
        let file = local_file(root, path)?;
        Ok(Some(Box::new(LocalUpload::create(path, file).await?)))
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        let root = &self.root;
        let file = local_file(root, path)?;
        let p = path.to_string();
        spawn_io(path, move || match local_put(&file, &data, true) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StorageError::AlreadyExists { path: p })
            }
            other => other.map_err(|e| io_error(&p, e)),
        })
        .await
    }
}

/// Lists a local directory: names are filtered before any `stat`, so the
/// cost of files before `start_after` is one directory entry each.
fn list_local(
    root: &std::path::Path,
    dir: &str,
    start_after: Option<&str>,
) -> Result<Vec<FileMeta>, StorageError> {
    let other = |e: std::io::Error| StorageError::Other {
        path: dir.to_string(),
        message: e.to_string(),
    };
    let entries = match std::fs::read_dir(root.join(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(other(e)),
    };
    let prefix = if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(other)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: cannot be a log file
        };
        let path = format!("{prefix}{name}");
        if start_after.is_some_and(|s| path.as_str() <= s) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // deleted meanwhile
            Err(e) => return Err(other(e)),
        };
        if !meta.is_file() {
            continue;
        }
        out.push(file_meta(path, &meta));
    }
    out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The file for a table-relative path; refuses paths that would leave the
/// table directory.
fn local_file(root: &std::path::Path, path: &str) -> Result<std::path::PathBuf, StorageError> {
    if path.split('/').any(|s| s == ".." || s == ".")
        || path.starts_with('/')
        || path.contains('\0')
    {
        return Err(StorageError::Other {
            path: path.into(),
            message: "path leaves the table directory".into(),
        });
    }
    Ok(root.join(path))
}

/// Bytes `range` of a local file (a short file is an error, not a short read).
fn read_local_range(
    file: &std::path::Path,
    range: std::ops::Range<u64>,
    path: &str,
) -> Result<Bytes, StorageError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file).map_err(|e| io_error(path, e))?;
    let len = usize::try_from(range.end - range.start).map_err(|_| StorageError::Other {
        path: path.into(),
        message: "range too large".into(),
    })?;
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(range.start))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| io_error(path, e))?;
    Ok(Bytes::from(buf))
}

async fn spawn_io<T: Send + 'static>(
    path: &str,
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Other {
            path: path.into(),
            message: format!("I/O task failed: {e}"),
        })?
}

/// Writes `data` to a temporary file beside `file`, then publishes it
/// atomically: a hard link when the file must not exist yet (fails with
/// `AlreadyExists` if it does), a rename otherwise. Readers never see a
/// partial file. The data is synced before it is published, and the
/// directory (and any directory created for it) after: once this returns,
/// the file survives a power loss.
fn local_put(file: &std::path::Path, data: &[u8], if_absent: bool) -> std::io::Result<()> {
    use std::io::Write;
    let dir = file
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    crate::durable::create_dirs(dir)?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid_like()));
    {
        let mut f = std::fs::File::create_new(&tmp)?;
        f.write_all(data)?;
        f.sync_data()?;
    }
    let result = if if_absent {
        std::fs::hard_link(&tmp, file)
    } else {
        std::fs::rename(&tmp, file)
    };
    if if_absent || result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    crate::durable::sync_dir(dir)
}

/// A unique-enough suffix for temporary files (process id + counter + time).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{n}-{t}", std::process::id())
}

/// The files and subdirectories directly in `dir`.
fn list_local_dir(root: &std::path::Path, dir: &str) -> Result<DirEntries, StorageError> {
    let rel = dir.trim_end_matches('/');
    let entries = match std::fs::read_dir(root.join(rel)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DirEntries::default()),
        Err(e) => return Err(io_error(rel, e)),
    };
    let mut out = DirEntries::default();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(rel, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: no path can name it
        };
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // deleted meanwhile
            Err(e) => return Err(io_error(&path, e)),
        };
        if meta.is_dir() {
            out.dirs.push(path);
        } else {
            out.files.push(file_meta(path, &meta));
        }
    }
    out.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    out.dirs.sort_unstable();
    Ok(out)
}

/// Every file below `dir` of a local table, relative to the table root.
fn walk_local(root: &std::path::Path, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.trim_end_matches('/').to_string()];
    while let Some(rel) = stack.pop() {
        let level = list_local_dir(root, &rel)?;
        out.extend(level.files);
        stack.extend(level.dirs);
    }
    out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// A listed local file.
fn file_meta(path: String, meta: &std::fs::Metadata) -> FileMeta {
    let last_modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    FileMeta {
        path,
        size: meta.len(),
        last_modified,
    }
}
