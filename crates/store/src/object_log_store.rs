//! [`ObjectLogStore`]: silt-log's storage contract on any `object_store`
//! backend, rooted at a table's directory.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use silt_log::{FileMeta, LogStore, ObjectUpload, StorageError};

use crate::error::io_error;
use crate::upload::{LocalUpload, MultipartUpload};

/// A table root inside an object store.
pub struct ObjectLogStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: String,
    /// For tables on the local file system: the table directory, listed with
    /// `read_dir` directly (object_store's local listing stats every file in
    /// the directory, even those before the offset).
    local_dir: Option<std::path::PathBuf>,
    /// The user promised that one writer at a time commits to this table:
    /// on a store without atomic create, put-if-absent falls back to a
    /// check then a write.
    single_writer: bool,
}

/// Storage option that opts into single-writer commits on stores without
/// atomic create-if-absent.
pub const SINGLE_WRITER_OPTION: &str = "silt_single_writer";

impl fmt::Debug for ObjectLogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectLogStore")
            .field("location", &self.location)
            .finish()
    }
}

impl ObjectLogStore {
    /// Wraps `store`, with the table at `root` inside it; `location` is the
    /// credential-free name used in messages.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, location: impl Into<String>) -> Self {
        Self {
            store,
            root,
            location: location.into(),
            local_dir: None,
            single_writer: false,
        }
    }

    /// Marks the store as the local file system rooted at `dir`, so listings
    /// read the directory directly.
    pub fn with_local_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.local_dir = Some(dir);
        self
    }

    /// Allows commits on a store without atomic create-if-absent (a check,
    /// then a write): safe only while a single writer commits.
    pub fn with_single_writer(mut self, on: bool) -> Self {
        self.single_writer = on;
        self
    }

    /// The underlying object store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The table root inside the object store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full_path(&self, relative: &str) -> Path {
        let mut parts: Vec<object_store::path::PathPart<'static>> = self
            .root
            .parts()
            .map(|p| p.as_ref().to_string().into())
            .collect();
        parts.extend(
            relative
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| object_store::path::PathPart::from(s.to_string())),
        );
        Path::from_iter(parts)
    }

    /// The path relative to the table root, or `None` if outside it.
    fn relative(&self, full: &Path) -> Option<String> {
        let parts: Vec<_> = full
            .prefix_match(&self.root)?
            .map(|p| p.as_ref().to_string())
            .collect();
        Some(parts.join("/"))
    }

    fn error(&self, path: &str, e: object_store::Error) -> StorageError {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound { path: path.into() },
            object_store::Error::AlreadyExists { .. } => {
                StorageError::AlreadyExists { path: path.into() }
            }
            other => StorageError::Other {
                path: path.into(),
                message: other.to_string(),
            },
        }
    }
}

#[async_trait]
impl LogStore for ObjectLogStore {
    fn location(&self) -> &str {
        &self.location
    }

    async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<FileMeta>, StorageError> {
        if let Some(root) = &self.local_dir {
            let (root, dir_owned, after) = (
                root.clone(),
                dir.to_string(),
                start_after.map(str::to_string),
            );
            return tokio::task::spawn_blocking(move || {
                list_local(&root, &dir_owned, after.as_deref())
            })
            .await
            .map_err(|e| StorageError::Other {
                path: dir.into(),
                message: format!("listing task failed: {e}"),
            })?;
        }
        let prefix = self.full_path(dir);
        let stream = match start_after {
            Some(offset) => self
                .store
                .list_with_offset(Some(&prefix), &self.full_path(offset)),
            None => self.store.list(Some(&prefix)),
        };
        let objects: Vec<_> = match stream.try_collect().await {
            Ok(o) => o,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.error(dir, e)),
        };
        let dir_rel = dir.trim_end_matches('/');
        let mut out: Vec<FileMeta> = objects
            .into_iter()
            .filter_map(|o| {
                let rel = self.relative(&o.location)?;
                // Only direct children of `dir` (object stores list recursively).
                let name = rel.strip_prefix(dir_rel)?.strip_prefix('/')?;
                if name.contains('/') {
                    return None;
                }
                if start_after.is_some_and(|s| rel.as_str() <= s) {
                    return None;
                }
                Some(FileMeta {
                    path: rel,
                    size: o.size,
                    last_modified: o.last_modified.timestamp_millis(),
                })
            })
            .collect();
        // Stores (the local file system among them) do not promise an order.
        out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
        if let Some(root) = &self.local_dir {
            let (root, dir_owned) = (root.clone(), dir.to_string());
            return tokio::task::spawn_blocking(move || walk_local(&root, &dir_owned))
                .await
                .map_err(|e| StorageError::Other {
                    path: dir.into(),
                    message: format!("listing task failed: {e}"),
                })?;
        }
        let prefix = self.full_path(dir);
        let objects: Vec<_> = match self.store.list(Some(&prefix)).try_collect().await {
            Ok(o) => o,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.error(dir, e)),
        };
        let mut out: Vec<FileMeta> = objects
            .into_iter()
            .filter_map(|o| {
                Some(FileMeta {
                    path: self.relative(&o.location)?,
                    size: o.size,
                    last_modified: o.last_modified.timestamp_millis(),
                })
            })
            .collect();
        out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn head(&self, path: &str) -> Result<FileMeta, StorageError> {
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            let meta = tokio::fs::metadata(&file)
                .await
                .map_err(|e| io_error(path, e))?;
            return Ok(file_meta(path.to_string(), &meta));
        }
        let full = self.full_path(path);
        let meta = self
            .store
            .head(&full)
            .await
            .map_err(|e| self.error(path, e))?;
        Ok(FileMeta {
            path: path.to_string(),
            size: meta.size,
            last_modified: meta.last_modified.timestamp_millis(),
        })
    }

    async fn read(&self, path: &str) -> Result<Bytes, StorageError> {
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            return match tokio::fs::read(&file).await {
                Ok(b) => Ok(Bytes::from(b)),
                Err(e) => Err(io_error(path, e)),
            };
        }
        let full = self.full_path(path);
        let result = self
            .store
            .get(&full)
            .await
            .map_err(|e| self.error(path, e))?;
        result.bytes().await.map_err(|e| self.error(path, e))
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
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            let p = path.to_string();
            return spawn_io(path, move || read_local_range(&file, range, &p)).await;
        }
        let full = self.full_path(path);
        let want = range.end - range.start;
        let got = self
            .store
            .get_range(&full, range.clone())
            .await
            .map_err(|e| self.error(path, e))?;
        // Some stores answer a range past the end with what exists.
        if got.len() as u64 != want {
            return Err(StorageError::Other {
                path: path.into(),
                message: format!(
                    "range {}..{} is outside the object ({} bytes came back)",
                    range.start,
                    range.end,
                    got.len()
                ),
            });
        }
        Ok(got)
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            let p = path.to_string();
            return spawn_io(path, move || {
                local_put(&file, &data, false).map_err(|e| io_error(&p, e))
            })
            .await;
        }
        let full = self.full_path(path);
        self.store
            .put(&full, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| self.error(path, e))
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            return match tokio::fs::remove_file(&file).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error(path, e)),
            };
        }
        let full = self.full_path(path);
        match self.store.delete(&full).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(path, e)),
        }
    }

    async fn start_upload(
        &self,
        path: &str,
    ) -> Result<Option<Box<dyn ObjectUpload>>, StorageError> {
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            return Ok(Some(Box::new(LocalUpload::create(path, file).await?)));
        }
        let full = self.full_path(path);
        let upload = self
            .store
            .put_multipart(&full)
            .await
            .map_err(|e| self.error(path, e))?;
        Ok(Some(Box::new(MultipartUpload::new(path, upload))))
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        if let Some(root) = &self.local_dir {
            let file = local_file(root, path)?;
            let p = path.to_string();
            return spawn_io(path, move || match local_put(&file, &data, true) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(StorageError::AlreadyExists { path: p })
                }
                other => other.map_err(|e| io_error(&p, e)),
            })
            .await;
        }
        let full = self.full_path(path);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&full, PutPayload::from(data.clone()), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotImplemented { .. }) if self.single_writer => {
                // Not atomic: the user promised there is one writer.
                match self.store.head(&full).await {
                    Ok(_) => Err(StorageError::AlreadyExists { path: path.into() }),
                    Err(object_store::Error::NotFound { .. }) => self
                        .store
                        .put(&full, PutPayload::from(data))
                        .await
                        .map(|_| ())
                        .map_err(|e| self.error(path, e)),
                    Err(e) => Err(self.error(path, e)),
                }
            }
            Err(object_store::Error::NotImplemented { .. }) => Err(StorageError::Other {
                path: path.into(),
                message: format!(
                    "this store is configured without atomic create-if-absent, which commits need so that concurrent writers cannot overwrite each other; enable it (S3: aws_conditional_put=etag, the default) or, if only one writer ever commits to this table, set the storage option {SINGLE_WRITER_OPTION}=true"
                ),
            }),
            Err(e) => Err(self.error(path, e)),
        }
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

/// Every file below `dir` of a local table, relative to the table root.
fn walk_local(root: &std::path::Path, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.trim_end_matches('/').to_string()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(root.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&rel, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&rel, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&path, e)),
            };
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push(file_meta(path, &meta));
            }
        }
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
