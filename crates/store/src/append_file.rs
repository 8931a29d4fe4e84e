//! A new local file written front to back, for large data files. On Linux
//! it is opened with `O_DIRECT` where the file system allows: bytes go
//! from an aligned staging buffer straight to the disk, skipping the page
//! cache copy (on the 2-core benchmark machine that copy cost more than the
//! disk itself: 200 MB took 0.5 s buffered, 0.1 s direct) and leaving
//! little for the final sync. Elsewhere, or when the file system refuses
//! direct I/O, it is an ordinary buffered file. Blocking code: callers run
//! it on a blocking thread.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Alignment of direct writes: buffer address, length and file offset
/// (4 KiB covers 512-byte and 4 KiB logical blocks).
const ALIGN: usize = 4096;

/// Bytes staged before a direct write.
const STAGE: usize = 4 << 20;

/// The aligned window of a buffer that direct writes go from.
struct Stage {
    buf: Vec<u8>,
    /// Where the aligned window starts in `buf`.
    offset: usize,
    /// Bytes held in the window.
    staged: usize,
}

impl Stage {
    /// A stage, or `None` if the allocation cannot hold an aligned window.
    fn new() -> Option<Self> {
        let buf = vec![0u8; STAGE + ALIGN];
        let offset = buf.as_ptr().align_offset(ALIGN);
        (offset < ALIGN).then_some(Self {
            buf,
            offset,
            staged: 0,
        })
    }

    /// Takes as much of `data` as fits; how much it took.
    fn push(&mut self, data: &[u8]) -> usize {
        let n = (STAGE - self.staged).min(data.len());
        let at = self.offset + self.staged;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.staged += n;
        n
    }

    /// The bytes held.
    fn held(&self) -> &[u8] {
        &self.buf[self.offset..self.offset + self.staged]
    }

    /// The whole blocks held, ready for one direct write: all of them, the
    /// last zero-padded, when `last`.
    fn blocks(&mut self, last: bool) -> &[u8] {
        let whole = if last {
            self.staged.div_ceil(ALIGN) * ALIGN
        } else {
            self.staged / ALIGN * ALIGN
        };
        if whole > self.staged {
            self.buf[self.offset + self.staged..self.offset + whole].fill(0);
        }
        &self.buf[self.offset..self.offset + whole]
    }

    /// Drops the first `n` bytes (written), keeping the rest at the start.
    fn consume(&mut self, n: usize) {
        let rest = self.staged - n.min(self.staged);
        let from = self.offset + self.staged - rest;
        self.buf.copy_within(from..from + rest, self.offset);
        self.staged = rest;
    }
}

/// A new file being appended to.
pub(crate) struct AppendFile {
    path: PathBuf,
    file: File,
    /// `Some` while writes are direct; `None` through the page cache.
    stage: Option<Stage>,
    /// Bytes accepted so far (the file's final length).
    len: u64,
    /// Bytes the direct writes have put in the file so far.
    written: u64,
}

impl AppendFile {
    /// Creates the file exclusively (with its directories); `AlreadyExists`
    /// when something is at `path`.
    pub(crate) fn create_new(path: &Path) -> io::Result<Self> {
        Self::create(path, true)
    }

    /// [`AppendFile::create_new`], trying direct I/O only when `direct`.
    fn create(path: &Path, direct: bool) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::durable::create_dirs(dir)?;
        }
        let direct = if direct { open_direct(path)? } else { None };
        let (file, stage) = match direct {
            Some(file) => match Stage::new() {
                Some(stage) => (file, Some(stage)),
                // Created, but no aligned buffer: write it buffered.
                None => (buffered(path)?, None),
            },
            None => (File::create_new(path)?, None),
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            stage,
            len: 0,
            written: 0,
        })
    }

    /// Whether writes bypass the page cache.
    pub(crate) fn is_direct(&self) -> bool {
        self.stage.is_some()
    }

    /// Appends `data`.
    pub(crate) fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let Some(stage) = &mut self.stage else {
                return self.file.write_all(data);
            };
            let n = stage.push(data);
            data = &data[n..];
            if stage.staged == STAGE {
                self.write_stage(false)?;
            }
        }
        Ok(())
    }

    /// Writes the staged whole blocks (see [`Stage::blocks`]).
    fn write_stage(&mut self, last: bool) -> io::Result<()> {
        let Some(stage) = &mut self.stage else {
            return Ok(());
        };
        let blocks = stage.blocks(last);
        let n = blocks.len();
        match self.file.write_all(blocks) {
            Ok(()) => {
                stage.consume(n);
                self.written += n as u64;
                Ok(())
            }
            // The file system turned the direct write down (alignment it
            // does not support): go on through the page cache from what
            // the direct writes completed, with every byte still staged.
            Err(e) if e.raw_os_error() == Some(EINVAL) => {
                let pending = stage.held().to_vec();
                self.stage = None;
                self.file = buffered(&self.path)?;
                self.file.set_len(self.written)?;
                self.file.seek(SeekFrom::Start(self.written))?;
                self.file.write_all(&pending)
            }
            Err(e) => Err(e),
        }
    }

    /// Another handle on the file for a sync in the background while
    /// writing goes on; `None` when direct writes leave nothing to flush.
    pub(crate) fn sync_handle(&self) -> io::Result<Option<File>> {
        if self.is_direct() {
            return Ok(None);
        }
        self.file.try_clone().map(Some)
    }

    /// Writes the rest and makes the file durable at its exact length.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.is_direct() {
            self.write_stage(true)?;
            // The last block was padded: cut the file to its length.
            self.file.set_len(self.len)?;
        }
        self.file.sync_data()
    }
}

/// The existing file at `path`, opened for buffered writes at its end.
fn buffered(path: &Path) -> io::Result<File> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.seek(SeekFrom::End(0))?;
    Ok(file)
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

/// Opens a new file for direct writes, or `None` where that is not
/// available (then the caller creates it buffered).
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        // tmpfs and some others refuse O_DIRECT at open.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> io::Result<Option<File>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    fn bytes(n: usize, seed: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 7 + seed) % 251) as u8).collect()
    }

    #[test]
    fn a_stage_hands_out_whole_blocks_and_pads_only_the_last() {
        let Some(mut stage) = Stage::new() else {
            return; // no aligned window on this allocator: nothing to check
        };
        let data = bytes(ALIGN + 5, 1);
        assert_eq!(stage.push(&data), data.len());
        // Not last: only the whole block, the partial one stays staged.
        assert_eq!(stage.blocks(false), &data[..ALIGN]);
        stage.consume(ALIGN);
        assert_eq!(stage.held(), &data[ALIGN..]);
        // Last: the partial block, zero-padded to a whole one.
        let last = stage.blocks(true);
        assert_eq!(last.len(), ALIGN);
        assert_eq!(&last[..5], &data[ALIGN..]);
        assert!(last[5..].iter().all(|b| *b == 0));
    }

    #[test]
    fn any_sequence_of_writes_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        // Lengths around the block and stage sizes, and an empty file.
        let cases: Vec<Vec<usize>> = vec![
            vec![],
            vec![1],
            vec![ALIGN],
            vec![ALIGN - 1, 2],
            vec![STAGE],
            vec![STAGE + 1],
            vec![3, STAGE - 3, ALIGN + 5, 2 * STAGE + 17],
        ];
        for (i, (lens, direct)) in cases
            .iter()
            .flat_map(|c| [(c, true), (c, false)])
            .enumerate()
        {
            let path = dir.path().join(format!("sub/f{i}"));
            let mut f = AppendFile::create(&path, direct).unwrap();
            assert!(direct || !f.is_direct());
            let mut want = Vec::new();
            for (j, n) in lens.iter().enumerate() {
                let b = bytes(*n, j);
                f.write_all(&b).unwrap();
                want.extend_from_slice(&b);
            }
            eprintln!("case {lens:?}: direct I/O {}", f.is_direct());
            f.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), want, "case {lens:?}");
        }
        for direct in [true, false] {
            assert_eq!(
                AppendFile::create(&dir.path().join("sub/f0"), direct)
                    .err()
                    .map(|e| e.kind()),
                Some(io::ErrorKind::AlreadyExists)
            );
        }
    }
}
