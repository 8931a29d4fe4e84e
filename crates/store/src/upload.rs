//! Writing one new object piece by piece ([`silt_log::ObjectUpload`]): on
//! the local disk an [`AppendFile`] created exclusively and grown in place
//! (direct I/O where available; otherwise flushed in the background as it
//! grows, so the disk works while the encoder does), synced on finish; on
//! object stores a multipart upload, completed (made visible) on finish.

use async_trait::async_trait;
use bytes::Bytes;
use object_store::WriteMultipart;
use silt_log::{ObjectUpload, StorageError};

use crate::append_file::AppendFile;

/// Bytes a local upload writes before it starts another background sync,
/// so the final sync has little left to flush.
const LOCAL_SYNC_EVERY: u64 = 16 << 20;

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
    file: Option<AppendFile>,
    unsynced: u64,
    /// The background sync in flight (at most one), on a clone of the file.
    syncing: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
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
        let file = tokio::task::spawn_blocking(move || AppendFile::create_new(&fp))
            .await
            .map_err(|e| other(&p, format!("I/O task failed: {e}")))?
            .map_err(|e| crate::error::io_error(&p, e))?;
        Ok(Self {
            path: path.to_string(),
            file_path,
            file: Some(file),
            unsynced: 0,
            syncing: None,
        })
    }

    /// Waits for the background sync in flight, if any.
    async fn wait_for_sync(&mut self) -> Result<(), StorageError> {
        let Some(task) = self.syncing.take() else {
            return Ok(());
        };
        task.await
            .map_err(|e| other(&self.path, format!("I/O task failed: {e}")))?
            .map_err(|e| crate::error::io_error(&self.path, e))
    }

    /// Starts flushing what was written so far without waiting for it,
    /// unless a sync is still running (then the next one covers this).
    async fn sync_in_background(&mut self) -> Result<(), StorageError> {
        if self.syncing.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        self.wait_for_sync().await?;
        let clone = self
            .file
            .as_ref()
            .ok_or_else(|| other(&self.path, "the upload failed earlier"))?
            .sync_handle()
            .map_err(|e| crate::error::io_error(&self.path, e))?;
        self.unsynced = 0;
        let Some(clone) = clone else {
            return Ok(()); // direct writes: nothing waits in the page cache
        };
        self.syncing = Some(tokio::task::spawn_blocking(move || clone.sync_data()));
        Ok(())
    }

    /// Runs `f` on the file on a blocking thread.
    async fn with_file(
        &mut self,
        f: impl FnOnce(&mut AppendFile) -> std::io::Result<()> + Send + 'static,
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
        result.map_err(|e| crate::error::io_error(&self.path, e))?;
        self.file = Some(file);
        Ok(())
    }
}

#[async_trait]
impl ObjectUpload for LocalUpload {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.unsynced += data.len() as u64;
        self.with_file(move |f| f.write_all(&data)).await?;
        if self.unsynced >= LOCAL_SYNC_EVERY {
            self.sync_in_background().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StorageError> {
        self.wait_for_sync().await?;
        self.with_file(AppendFile::finish).await?;
        // The file's entry in its directory must survive a power loss too.
        let Some(dir) = self.file_path.parent().map(std::path::Path::to_path_buf) else {
            return Ok(());
        };
        let p = self.path.clone();
        tokio::task::spawn_blocking(move || crate::durable::sync_dir(&dir))
            .await
            .map_err(|e| other(&p, format!("I/O task failed: {e}")))?
            .map_err(|e| crate::error::io_error(&p, e))
    }

    async fn abort(mut self: Box<Self>) {
        let _ = self.wait_for_sync().await;
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
