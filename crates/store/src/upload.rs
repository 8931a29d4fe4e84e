//! Writing one new object piece by piece ([`silt_log::ObjectUpload`]): on
//! the local disk a file created exclusively and grown in place, flushed to
//! disk as it grows and synced on finish; on object stores a multipart
//! upload, completed (made visible) on finish.

use async_trait::async_trait;
use bytes::Bytes;
use object_store::WriteMultipart;
use silt_log::{ObjectUpload, StorageError};

/// Bytes a local upload writes between syncs, so the final sync has little
/// left to flush (the writer's encoding overlaps the disk work).
const LOCAL_SYNC_EVERY: u64 = 32 << 20;

/// Parts in flight at once for a multipart upload.
const MULTIPART_CONCURRENCY: usize = 4;

fn other(path: &str, message: impl ToString) -> StorageError {
    StorageError::Other {
        path: path.into(),
        message: message.to_string(),
    }
}

/// A new local file.
pub(crate) struct LocalUpload {
    path: String,
    file_path: std::path::PathBuf,
    file: Option<std::fs::File>,
    unsynced: u64,
}

impl LocalUpload {
    /// Creates the file (and its directories); fails with `AlreadyExists`
    /// when something is at `file_path` already.
    pub(crate) async fn create(
        path: &str,
        file_path: std::path::PathBuf,
    ) -> Result<Self, StorageError> {
        let p = path.to_string();
        let fp = file_path.clone();
        let file = tokio::task::spawn_blocking(move || {
            if let Some(dir) = fp.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::File::create_new(&fp)
        })
        .await
        .map_err(|e| other(&p, format!("I/O task failed: {e}")))?
        .map_err(|e| crate::object_log_store::io_error(&p, e))?;
        Ok(Self {
            path: path.to_string(),
            file_path,
            file: Some(file),
            unsynced: 0,
        })
    }

    /// Runs `f` on the file on a blocking thread.
    async fn with_file(
        &mut self,
        f: impl FnOnce(&mut std::fs::File) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), StorageError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| other(&self.path, "the upload failed earlier"))?;
        let (file, result) = tokio::task::spawn_blocking(move || {
            let r = f(&mut file);
            (file, r)
        })
        .await
        .map_err(|e| other(&self.path, format!("I/O task failed: {e}")))?;
        result.map_err(|e| crate::object_log_store::io_error(&self.path, e))?;
        self.file = Some(file);
        Ok(())
    }
}

#[async_trait]
impl ObjectUpload for LocalUpload {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.unsynced += data.len() as u64;
        let sync = self.unsynced >= LOCAL_SYNC_EVERY;
        if sync {
            self.unsynced = 0;
        }
        self.with_file(move |f| {
            use std::io::Write;
            f.write_all(&data)?;
            if sync { f.sync_data() } else { Ok(()) }
        })
        .await
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StorageError> {
        self.with_file(|f| f.sync_data()).await
    }

    async fn abort(mut self: Box<Self>) {
        drop(self.file.take());
        let _ = tokio::fs::remove_file(&self.file_path).await;
    }
}

/// A multipart upload to an object store.
pub(crate) struct MultipartUpload {
    path: String,
    upload: WriteMultipart,
}

impl MultipartUpload {
    pub(crate) fn new(path: &str, upload: Box<dyn object_store::MultipartUpload>) -> Self {
        Self {
            path: path.to_string(),
            upload: WriteMultipart::new(upload),
        }
    }
}

#[async_trait]
impl ObjectUpload for MultipartUpload {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.upload
            .wait_for_capacity(MULTIPART_CONCURRENCY)
            .await
            .map_err(|e| other(&self.path, e))?;
        self.upload.put(data);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<(), StorageError> {
        let path = self.path;
        self.upload
            .finish()
            .await
            .map(|_| ())
            .map_err(|e| other(&path, e))
    }

    async fn abort(self: Box<Self>) {
        let _ = self.upload.abort().await;
    }
}
