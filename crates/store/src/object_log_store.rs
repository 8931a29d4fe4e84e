//! [`ObjectLogStore`]: silt-log's storage contract on any `object_store`
//! backend (S3, Azure, GCS, memory, or the local file system through
//! object_store), rooted at a table's directory. Local tables opened by path
//! use [`crate::LocalLogStore`] instead.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use silt_log::{DirEntries, FileMeta, LogStore, ObjectUpload, StorageError};

use crate::upload::MultipartUpload;

/// A table root inside an object store.
pub struct ObjectLogStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: String,
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
            single_writer: false,
        }
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

    /// A listed object as a file of this table (`None` outside its root).
    fn file_meta(&self, o: &object_store::ObjectMeta) -> Option<FileMeta> {
        Some(FileMeta {
            path: self.relative(&o.location)?,
            size: o.size,
            last_modified: o.last_modified.timestamp_millis(),
        })
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

    async fn list_dir(&self, dir: &str) -> Result<DirEntries, StorageError> {
        let prefix = self.full_path(dir);
        let listed = match self.store.list_with_delimiter(Some(&prefix)).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(DirEntries::default()),
            Err(e) => return Err(self.error(dir, e)),
        };
        let mut out = DirEntries {
            files: listed
                .objects
                .iter()
                .filter_map(|o| self.file_meta(o))
                .collect(),
            dirs: listed
                .common_prefixes
                .iter()
                .filter_map(|p| self.relative(p))
                .collect(),
        };
        out.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        out.dirs.sort_unstable();
        Ok(out)
    }

    async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
        let prefix = self.full_path(dir);
        let objects: Vec<_> = match self.store.list(Some(&prefix)).try_collect().await {
            Ok(o) => o,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.error(dir, e)),
        };
        let mut out: Vec<FileMeta> = objects.iter().filter_map(|o| self.file_meta(o)).collect();
        out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn head(&self, path: &str) -> Result<FileMeta, StorageError> {
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
        let full = self.full_path(path);
        self.store
            .put(&full, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| self.error(path, e))
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
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
        let full = self.full_path(path);
        let upload = self
            .store
            .put_multipart(&full)
            .await
            .map_err(|e| self.error(path, e))?;
        Ok(Some(Box::new(MultipartUpload::new(path, upload))))
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
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
