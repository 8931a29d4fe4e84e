//! [`ObjectLogStore`]: silt-log's storage contract on any `object_store`
//! backend, rooted at a table's directory.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use silt_log::{FileMeta, LogStore, StorageError};

/// A table root inside an object store.
pub struct ObjectLogStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: String,
}

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
        }
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

    async fn read(&self, path: &str) -> Result<Bytes, StorageError> {
        let full = self.full_path(path);
        let result = self
            .store
            .get(&full)
            .await
            .map_err(|e| self.error(path, e))?;
        result.bytes().await.map_err(|e| self.error(path, e))
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        let full = self.full_path(path);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.store
            .put_opts(&full, PutPayload::from(data), opts)
            .await
            .map(|_| ())
            .map_err(|e| self.error(path, e))
    }
}
