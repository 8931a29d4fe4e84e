//! Test support for silt: an in-memory [`LogStore`] that keeps the storage
//! contract (sorted listing, atomic put-if-absent) with controllable
//! modification times and injectable faults, and [`RawLog`] for writing log
//! files byte for byte — including broken ones.

pub mod peer;
pub mod sim;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use silt_log::{FileMeta, LogStore, StorageError};

/// One stored object.
#[derive(Debug, Clone)]
struct Object {
    data: Bytes,
    last_modified: i64,
}

/// An in-memory table store keeping the [`LogStore`] contract.
#[derive(Debug)]
pub struct MemoryLogStore {
    location: String,
    objects: Mutex<BTreeMap<String, Object>>,
    clock: AtomicI64,
    fail_reads_of: Mutex<Vec<String>>,
    put_faults: Mutex<Vec<PutFault>>,
}

/// A fault injected into the next `put_if_absent` calls, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutFault {
    /// Fail without writing anything.
    FailBeforeWrite,
    /// Write the object, then report a failure (a lost response).
    FailAfterWrite,
}

impl Default for MemoryLogStore {
    fn default() -> Self {
        Self::new("memory:///test-table")
    }
}

impl MemoryLogStore {
    /// An empty store named `location`.
    pub fn new(location: &str) -> Self {
        Self {
            location: location.to_string(),
            objects: Mutex::new(BTreeMap::new()),
            clock: AtomicI64::new(1_000),
            fail_reads_of: Mutex::new(Vec::new()),
            put_faults: Mutex::new(Vec::new()),
        }
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Object>> {
        // A poisoned lock only means another test thread panicked; the map is
        // still consistent because every mutation is a single insert/remove.
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes (or overwrites) an object, stamped with the store's clock.
    pub fn put(&self, path: &str, data: impl Into<Bytes>) {
        let t = self.clock.fetch_add(1, Ordering::SeqCst);
        self.put_at(path, data, t);
    }

    /// Writes an object with an explicit modification time (ms).
    pub fn put_at(&self, path: &str, data: impl Into<Bytes>, last_modified: i64) {
        self.objects().insert(
            path.to_string(),
            Object {
                data: data.into(),
                last_modified,
            },
        );
    }

    /// Deletes an object.
    pub fn delete(&self, path: &str) {
        self.objects().remove(path);
    }

    /// Makes every later read of `path` fail with a storage error.
    pub fn fail_reads_of(&self, path: &str) {
        self.fail_reads_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path.to_string());
    }

    /// Queues a fault for a coming `put_if_absent` (first queued, first used).
    pub fn inject_put_fault(&self, fault: PutFault) {
        self.put_faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// All stored paths.
    pub fn paths(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }
}

#[async_trait]
impl LogStore for MemoryLogStore {
    fn location(&self) -> &str {
        &self.location
    }

    async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<FileMeta>, StorageError> {
        Ok(self
            .objects()
            .iter()
            .filter(|(p, _)| {
                p.strip_prefix(dir).is_some_and(|rest| !rest.contains('/'))
                    && start_after.is_none_or(|s| p.as_str() > s)
            })
            .map(|(p, o)| FileMeta {
                path: p.clone(),
                size: o.data.len() as u64,
                last_modified: o.last_modified,
            })
            .collect())
    }

    async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
        // `dir` names a directory: `a` holds `a/x`, not `ab/x`.
        let dir = dir.trim_end_matches('/');
        Ok(self
            .objects()
            .iter()
            .filter(|(p, _)| {
                dir.is_empty()
                    || p.strip_prefix(dir)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .map(|(p, o)| FileMeta {
                path: p.clone(),
                size: o.data.len() as u64,
                last_modified: o.last_modified,
            })
            .collect())
    }

    async fn read(&self, path: &str) -> Result<Bytes, StorageError> {
        if self
            .fail_reads_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|p| p == path)
        {
            return Err(StorageError::Other {
                path: path.into(),
                message: "injected read failure".into(),
            });
        }
        self.objects()
            .get(path)
            .map(|o| o.data.clone())
            .ok_or_else(|| StorageError::NotFound { path: path.into() })
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        MemoryLogStore::put(self, path, data);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        MemoryLogStore::delete(self, path);
        Ok(())
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        let t = self.clock.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut faults = self.put_faults.lock().unwrap_or_else(|p| p.into_inner());
            (!faults.is_empty()).then(|| faults.remove(0))
        };
        let injected = || StorageError::Other {
            path: path.into(),
            message: "injected put failure".into(),
        };
        if fault == Some(PutFault::FailBeforeWrite) {
            return Err(injected());
        }
        let mut objects = self.objects();
        if objects.contains_key(path) {
            return Err(StorageError::AlreadyExists { path: path.into() });
        }
        objects.insert(
            path.to_string(),
            Object {
                data,
                last_modified: t,
            },
        );
        if fault == Some(PutFault::FailAfterWrite) {
            return Err(injected());
        }
        Ok(())
    }
}

/// Writes raw log files into a [`MemoryLogStore`].
pub struct RawLog<'a> {
    store: &'a MemoryLogStore,
}

/// A minimal valid protocol line.
pub const PROTOCOL_1_2: &str = r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#;

/// A metadata line for a one-column (`id: long`) table.
pub fn metadata_line(id: &str, configuration: &str) -> String {
    format!(
        r#"{{"metaData":{{"id":"{id}","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{{\"type\":\"struct\",\"fields\":[{{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{{}}}}]}}","partitionColumns":[],"configuration":{configuration},"createdTime":0}}}}"#
    )
}

/// A typed `add` for `path` with `records` records (no partitions).
pub fn add_action(path: &str, size: i64, records: i64) -> silt_log::Add {
    match silt_log::actions::parse_action_line(add_line(path, size, records).as_bytes()) {
        Ok(Some(silt_log::Action::Add(a))) => *a,
        // `add_line` renders a valid add for any path the callers use.
        other => panic!("add_line({path:?}) did not parse: {other:?}"),
    }
}

/// An add line for `path` with `records` records.
pub fn add_line(path: &str, size: i64, records: i64) -> String {
    format!(
        r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":{size},"modificationTime":0,"dataChange":true,"stats":"{{\"numRecords\":{records}}}"}}}}"#
    )
}

/// A remove line for `path`.
pub fn remove_line(path: &str) -> String {
    format!(r#"{{"remove":{{"path":"{path}","deletionTimestamp":0,"dataChange":true}}}}"#)
}

/// A commitInfo line.
pub fn commit_info_line(operation: &str, timestamp: i64, ict: Option<i64>) -> String {
    let ict = ict
        .map(|t| format!(r#","inCommitTimestamp":{t}"#))
        .unwrap_or_default();
    format!(r#"{{"commitInfo":{{"timestamp":{timestamp},"operation":"{operation}"{ict}}}}}"#)
}

impl<'a> RawLog<'a> {
    /// Writes into `store`.
    pub fn new(store: &'a MemoryLogStore) -> Self {
        Self { store }
    }

    /// Writes commit `version` with these lines.
    pub fn commit(&self, version: u64, lines: &[String]) -> &Self {
        self.store
            .put(&silt_log::log_path::commit_path(version), lines.join("\n"));
        self
    }

    /// Writes commit `version` with an explicit modification time.
    pub fn commit_at(&self, version: u64, lines: &[String], mtime: i64) -> &Self {
        self.store.put_at(
            &silt_log::log_path::commit_path(version),
            lines.join("\n"),
            mtime,
        );
        self
    }

    /// Writes a `_delta_log/` file by name.
    pub fn file(&self, name: &str, data: impl Into<Bytes>) -> &Self {
        self.store.put(&format!("_delta_log/{name}"), data);
        self
    }

    /// Version 0 of a one-column table with one file.
    pub fn create_table(&self) -> &Self {
        self.commit(
            0,
            &[
                commit_info_line("CREATE TABLE", 0, None),
                PROTOCOL_1_2.to_string(),
                metadata_line("t", "{}"),
                add_line("f0.parquet", 10, 5),
            ],
        )
    }
}

/// Copies a directory tree (a vector table into a temporary directory, so a
/// test may write to it). Panics on I/O errors: it is test set-up.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for e in std::fs::read_dir(from).expect("list the directory to copy") {
        let e = e.expect("read a directory entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy a file");
        }
    }
}

/// The public Delta test vectors: `DELTA_VECTORS_DIR` (relative paths taken
/// from the repository root), default `../shared/delta-vectors`.
pub fn vectors_dir() -> std::path::PathBuf {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir =
        std::env::var("DELTA_VECTORS_DIR").unwrap_or_else(|_| "../shared/delta-vectors".into());
    repo.join(dir)
}

/// The rows of `batches` as text, one `Vec` of cells per row, sorted:
/// the named columns (all when `columns` is empty), NULL as "".
/// Panics on a missing column (tests: a panic is the failure report).
pub fn text_rows(batches: &[arrow_array::RecordBatch], columns: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        let arrays: Vec<&arrow_array::ArrayRef> = if columns.is_empty() {
            b.columns().iter().collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    b.column_by_name(c)
                        .unwrap_or_else(|| panic!("no column {c}"))
                })
                .collect()
        };
        let formats: Vec<_> = arrays
            .iter()
            .map(|a| {
                arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &Default::default())
                    .unwrap_or_else(|e| panic!("cannot format {}: {e}", a.data_type()))
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push(formats.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out.sort();
    out
}

/// Runs the binary at `bin` (a test's `env!("CARGO_BIN_EXE_silt")`) with
/// `args`; panics with its output unless it succeeds; returns stdout then
/// stderr.
pub fn run_ok(bin: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(bin)
        .args(args)
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{bin} {args:?}: {text}");
    text
}
