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

/// How the file is being written.
enum Mode {
    /// `O_DIRECT`: `stage` holds `staged` bytes from `offset` on, where
    /// `offset` is the aligned start inside it.
    Direct {
        stage: Vec<u8>,
        offset: usize,
        staged: usize,
    },
    /// Through the page cache.
    Buffered,
}

/// A new file being appended to.
pub(crate) struct AppendFile {
    path: PathBuf,
    file: File,
    mode: Mode,
    /// Bytes accepted so far (the file's final length).
    len: u64,
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
            std::fs::create_dir_all(dir)?;
        }
        let opened = if direct { open_direct(path)? } else { None };
        let (file, mode) = match opened {
            Some(file) => {
                let stage = vec![0u8; STAGE + ALIGN];
                let offset = stage.as_ptr().align_offset(ALIGN);
                let mode = if offset < ALIGN {
                    Mode::Direct {
                        stage,
                        offset,
                        staged: 0,
                    }
                } else {
                    Mode::Buffered
                };
                (file, mode)
            }
            None => (File::create_new(path)?, Mode::Buffered),
        };
        let mut out = Self {
            path: path.to_path_buf(),
            file,
            mode,
            len: 0,
        };
        if matches!(out.mode, Mode::Buffered) {
            // Opened direct but no aligned buffer: continue buffered.
            out.reopen_buffered()?;
        }
        Ok(out)
    }

    /// Whether writes bypass the page cache.
    pub(crate) fn is_direct(&self) -> bool {
        matches!(self.mode, Mode::Direct { .. })
    }

    /// Appends `data`.
    pub(crate) fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let Mode::Direct {
                stage,
                offset,
                staged,
            } = &mut self.mode
            else {
                return self.file.write_all(data);
            };
            let room = STAGE - *staged;
            let n = room.min(data.len());
            stage[*offset + *staged..*offset + *staged + n].copy_from_slice(&data[..n]);
            *staged += n;
            data = &data[n..];
            if *staged == STAGE {
                self.flush_stage(false)?;
            }
        }
        Ok(())
    }

    /// Writes the staged whole blocks (all of them, zero-padded, when
    /// `last`), keeping a partial block staged otherwise.
    fn flush_stage(&mut self, last: bool) -> io::Result<()> {
        let Mode::Direct {
            stage,
            offset,
            staged,
        } = &mut self.mode
        else {
            return Ok(());
        };
        let whole = if last {
            staged.div_ceil(ALIGN) * ALIGN
        } else {
            *staged / ALIGN * ALIGN
        };
        if whole == 0 {
            return Ok(());
        }
        stage[*offset + *staged..*offset + whole].fill(0);
        let result = self.file.write_all(&stage[*offset..*offset + whole]);
        match result {
            Ok(()) => {
                let rest = *staged - whole.min(*staged);
                stage.copy_within(*offset + whole..*offset + whole + rest, *offset);
                *staged = rest;
                Ok(())
            }
            // The file system turned the direct write down (alignment it
            // does not support): nothing of it was written, so go on
            // buffered from the same place with the same bytes.
            Err(e) if e.raw_os_error() == Some(EINVAL) => {
                let pending = stage[*offset..*offset + *staged].to_vec();
                self.reopen_buffered()?;
                self.file.write_all(&pending)
            }
            Err(e) => Err(e),
        }
    }

    /// Continues the file through the page cache, at its current end.
    fn reopen_buffered(&mut self) -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        file.seek(SeekFrom::End(0))?;
        self.file = file;
        self.mode = Mode::Buffered;
        Ok(())
    }

    /// Starts a sync of what was written so far on another handle (for the
    /// caller to run in the background while writing goes on); `None` when
    /// direct writes leave nothing to flush.
    pub(crate) fn sync_handle(&self) -> io::Result<Option<File>> {
        if self.is_direct() {
            return Ok(None);
        }
        self.file.try_clone().map(Some)
    }

    /// Writes the rest and makes the file durable at its exact length.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.is_direct() {
            self.flush_stage(true)?;
            // The last block was padded: cut the file to its length.
            self.file.set_len(self.len)?;
        }
        self.file.sync_data()
    }
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
        assert_eq!(
            AppendFile::create_new(&dir.path().join("sub/f0"))
                .err()
                .map(|e| e.kind()),
            Some(io::ErrorKind::AlreadyExists)
        );
    }
}
