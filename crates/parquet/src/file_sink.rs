//! Where an encoded data file's bytes go: held in memory while the file is
//! small (one `put_if_absent`, as small appends want), then — on stores
//! that write objects piece by piece — streamed through a bounded queue to
//! an I/O task. Writer memory stays bounded by the row groups being
//! encoded, not the file size, and the disk or network work overlaps the
//! encoding of the next row group.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use silt_log::{LogStore, ObjectUpload, StorageError};
use tokio::sync::mpsc;

/// Bytes buffered before the file is streamed, and the size of each piece
/// sent after that (also S3's 5 MiB minimum part size, with room).
const PIECE: usize = 8 << 20;

/// The buffer a file starts with.
const FIRST_BUFFER: usize = 256 << 10;

/// Pieces queued for the I/O task.
const QUEUED_PIECES: usize = 2;

enum Piece {
    Bytes(Bytes),
    /// Every piece was sent: complete the object.
    Finish,
}

struct Stream {
    tx: mpsc::Sender<Piece>,
    task: tokio::task::JoinHandle<Result<(), StorageError>>,
}

/// The destination of one new data file (an [`std::io::Write`] for the
/// Parquet writer).
pub(crate) struct FileSink {
    store: Arc<dyn LogStore>,
    key: String,
    handle: tokio::runtime::Handle,
    buf: Vec<u8>,
    stream: Option<Stream>,
    /// The store said it only writes whole objects.
    whole_only: bool,
    /// Bytes written so far.
    len: u64,
}

impl FileSink {
    /// A sink for the object at `key` (relative to the table root).
    pub(crate) fn new(
        store: Arc<dyn LogStore>,
        key: String,
        handle: tokio::runtime::Handle,
    ) -> Self {
        Self {
            store,
            key,
            handle,
            buf: Vec::new(),
            stream: None,
            whole_only: false,
            len: 0,
        }
    }

    /// Sends the buffer to the I/O task, starting the upload first.
    fn send_piece(&mut self) -> Result<(), StorageError> {
        if self.stream.is_none() {
            let Some(upload) = self.handle.block_on(self.store.start_upload(&self.key))? else {
                self.whole_only = true;
                return Ok(());
            };
            let (tx, rx) = mpsc::channel(QUEUED_PIECES);
            let task = self.handle.spawn(drive(upload, rx));
            self.stream = Some(Stream { tx, task });
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        let Some(stream) = &self.stream else {
            unreachable!("the stream was started above");
        };
        if stream.tx.blocking_send(Piece::Bytes(piece)).is_err() {
            // The task stopped: it failed, and says why.
            return Err(self.join().err().unwrap_or_else(|| StorageError::Other {
                path: self.key.clone(),
                message: "the upload stopped early".into(),
            }));
        }
        Ok(())
    }

    /// Waits for the I/O task.
    fn join(&mut self) -> Result<(), StorageError> {
        let Some(Stream { tx, task }) = self.stream.take() else {
            return Ok(());
        };
        drop(tx);
        wait_for(&self.handle, &self.key, task)
    }

    /// Hands what is left to the I/O (the rest of the stream, or the whole
    /// object as one put) without waiting for it, so several files' last
    /// writes and syncs overlap; [`SealedSink::wait`] reports the outcome.
    /// A sealed sink dropped unwaited still completes its object (an orphan
    /// until committed or vacuumed).
    pub(crate) fn seal(mut self) -> SealedSink {
        let rest = Bytes::from(std::mem::take(&mut self.buf));
        let (task, sent) = match self.stream.take() {
            None => {
                let (store, key) = (self.store.clone(), self.key.clone());
                let task = self
                    .handle
                    .spawn(async move { store.put_if_absent(&key, rest).await });
                (task, true)
            }
            Some(Stream { tx, task }) => {
                let sent = (rest.is_empty() || tx.blocking_send(Piece::Bytes(rest)).is_ok())
                    && tx.blocking_send(Piece::Finish).is_ok();
                (task, sent)
            }
        };
        SealedSink {
            key: self.key.clone(),
            handle: self.handle.clone(),
            task,
            sent,
            len: self.len,
        }
    }
}

/// A file whose bytes were all handed to the I/O, not yet known durable.
pub(crate) struct SealedSink {
    key: String,
    handle: tokio::runtime::Handle,
    task: tokio::task::JoinHandle<Result<(), StorageError>>,
    /// Every piece and the `Finish` reached the I/O task.
    sent: bool,
    len: u64,
}

impl SealedSink {
    /// The object's key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Waits until the object is durable (or failed); the file's size.
    pub(crate) fn wait(self) -> Result<u64, StorageError> {
        wait_for(&self.handle, &self.key, self.task)?;
        if !self.sent {
            return Err(StorageError::Other {
                path: self.key,
                message: "the upload stopped early".into(),
            });
        }
        Ok(self.len)
    }
}

impl Write for FileSink {
    /// Takes at most what fills the current piece (the caller's
    /// `write_all` hands over the rest), so a piece never outgrows its
    /// buffer; a store that writes whole objects takes everything.
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        // Outside whole-object mode a full buffer has been sent by the write
        // that filled it; only after that send failed is there no room, and
        // taking nothing then makes `write_all` fail too.
        let take = if self.whole_only {
            b.len()
        } else {
            b.len().min(PIECE.saturating_sub(self.buf.len()))
        };
        let needed = self.buf.len() + take;
        if needed > self.buf.capacity() {
            // A file's first bytes get a small buffer (most files of small
            // appends stay small); one that outgrows it gets a whole piece
            // at once instead of doubling its way there, copying each time.
            let size = if self.buf.capacity() == 0 {
                FIRST_BUFFER.max(needed)
            } else if self.whole_only {
                needed.max(2 * self.buf.capacity())
            } else {
                PIECE.max(needed)
            };
            self.buf.reserve_exact(size - self.buf.len());
        }
        self.buf.extend_from_slice(&b[..take]);
        self.len += take as u64;
        if !self.whole_only && self.buf.len() >= PIECE {
            self.send_piece().map_err(std::io::Error::other)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // Not finished: the task sees the queue close without `Finish` and
        // aborts the upload.
        if let Some(Stream { tx, .. }) = self.stream.take() {
            drop(tx);
        }
    }
}

/// Blocks until the I/O task for `key` ends; its outcome.
fn wait_for(
    handle: &tokio::runtime::Handle,
    key: &str,
    task: tokio::task::JoinHandle<Result<(), StorageError>>,
) -> Result<(), StorageError> {
    handle.block_on(task).map_err(|e| StorageError::Other {
        path: key.to_string(),
        message: format!("upload task failed: {e}"),
    })?
}

/// The I/O task: writes pieces in order; completes on `Finish`, aborts when
/// the queue closes without it or a write fails.
async fn drive(
    mut upload: Box<dyn ObjectUpload>,
    mut rx: mpsc::Receiver<Piece>,
) -> Result<(), StorageError> {
    while let Some(piece) = rx.recv().await {
        match piece {
            Piece::Bytes(b) => {
                if let Err(e) = upload.write(b).await {
                    upload.abort().await;
                    return Err(e);
                }
            }
            Piece::Finish => return upload.finish().await,
        }
    }
    upload.abort().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 253) as u8).collect()
    }

    /// A local table store in a fresh directory (kept alive by the guard).
    fn local_store() -> (tempfile::TempDir, Arc<dyn LogStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = silt_store::TableBuilder::new(dir.path().to_string_lossy())
            .build_store()
            .unwrap();
        (dir, store)
    }

    /// Writes `data` through a sink in uneven slices, on a blocking thread
    /// (as the encoders do); finishes it when `finish` is set.
    async fn write_through(
        store: Arc<dyn LogStore>,
        key: &str,
        data: Vec<u8>,
        finish: bool,
    ) -> Option<u64> {
        let handle = tokio::runtime::Handle::current();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || {
            let mut sink = FileSink::new(store, key, handle);
            for chunk in data.chunks(1_000_003) {
                sink.write_all(chunk).unwrap();
            }
            finish.then(|| sink.seal().wait().unwrap())
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_files_stream_and_small_ones_are_put_whole() {
        let (_dir, store) = local_store();
        for (key, n) in [("big.parquet", 3 * PIECE + 17), ("small.parquet", 4096)] {
            let data = bytes(n);
            let size = write_through(store.clone(), key, data.clone(), true).await;
            assert_eq!(size, Some(n as u64));
            assert_eq!(store.read(key).await.unwrap().to_vec(), data, "{key}");
        }
        // A store that only writes whole objects gets one put.
        let whole: Arc<dyn LogStore> = Arc::new(silt_testkit::MemoryLogStore::default());
        let data = bytes(PIECE + 5);
        write_through(whole.clone(), "w.parquet", data.clone(), true).await;
        assert_eq!(whole.read("w.parquet").await.unwrap().to_vec(), data);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unfinished_stream_leaves_no_file() {
        let (_dir, store) = local_store();
        assert_eq!(
            write_through(store.clone(), "gone.parquet", bytes(2 * PIECE + 1), false).await,
            None
        );
        // The I/O task aborts the upload once it sees the queue close.
        for _ in 0..500 {
            if matches!(
                store.read("gone.parquet").await,
                Err(StorageError::NotFound { .. })
            ) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the aborted upload's file is still there");
    }
}
