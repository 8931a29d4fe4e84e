//! VACUUM: removes data files (and deletion-vector files) the table no
//! longer references and that are older than the retention period
//! (`delta.deletedFileRetentionDuration`, default one week), so time travel
//! within the retention keeps working. Log files, hidden files and
//! directories (`_…`, `.…`, except partition directories like `_p=1`) and
//! change-data files are never touched.

use std::collections::HashSet;

use silt_log::Snapshot;
use silt_log::interval::parse_interval_ms;
use silt_log::path::FilePath;

use crate::deletion_vector::{DvLocation, locate};
use crate::error::{ParquetError, ParquetResult};

/// Default `delta.deletedFileRetentionDuration`: 7 days.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3_600_000;

/// How to vacuum.
#[derive(Debug, Clone, Default)]
pub struct VacuumOptions {
    /// Retention in hours (default: the table's property).
    pub retention_hours: Option<f64>,
    /// Allow a retention shorter than the table's (unsafe for concurrent
    /// readers and time travel).
    pub force: bool,
    /// List instead of deleting.
    pub dry_run: bool,
    /// "Now" in ms since the epoch (default: the clock).
    pub now_ms: Option<i64>,
}

/// What vacuum removed (or would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    /// Files, relative to the table root.
    pub files: Vec<String>,
    /// Their total size.
    pub bytes: u64,
    /// Whether nothing was deleted.
    pub dry_run: bool,
}

fn referenced(
    table: &str,
    add_path: &FilePath,
    dv: Option<&silt_log::deletion_vector::DeletionVectorDescriptor>,
    keep: &mut HashSet<String>,
) {
    match add_path.relative_decoded() {
        Some(p) => {
            keep.insert(p);
        }
        // An absolute path inside the table is referenced all the same.
        None => {
            if let Some(p) = crate::scan::table_relative_key(table, add_path.as_str()) {
                keep.insert(p);
            }
        }
    }
    if let Some(dv) = dv {
        match locate(dv) {
            Ok(DvLocation::File { path, .. }) => {
                keep.insert(path);
            }
            Ok(DvLocation::Absolute { uri, .. }) => {
                if let Some(p) = crate::scan::table_relative_key(table, &uri) {
                    keep.insert(p);
                }
            }
            _ => {}
        }
    }
}

fn hidden(path: &str) -> bool {
    path.split('/')
        .any(|seg| (seg.starts_with('_') || seg.starts_with('.')) && !seg.contains('='))
}

/// Runs VACUUM on the table at `snapshot`.
pub async fn vacuum(snapshot: &Snapshot, options: &VacuumOptions) -> ParquetResult<VacuumReport> {
    let table = snapshot.location().to_string();
    silt_log::writable::check_writable(&table, snapshot.version(), snapshot.protocol())?;
    let table_retention = snapshot
        .metadata()
        .property(silt_log::properties::DELETED_FILE_RETENTION_DURATION)
        .and_then(parse_interval_ms)
        .unwrap_or(DEFAULT_RETENTION_MS);
    let retention = match options.retention_hours {
        Some(h) => {
            let ms = (h * 3_600_000.0) as i64;
            if ms < table_retention && !options.force {
                return Err(ParquetError::InvalidData {
                    table,
                    reason: format!(
                        "a retention of {h} hours is shorter than delta.deletedFileRetentionDuration ({} hours); files still needed by readers and time travel could go (force it only if no reader needs them)",
                        table_retention / 3_600_000
                    ),
                });
            }
            ms
        }
        None => table_retention,
    };
    let now = options
        .now_ms
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let cutoff = now - retention;

    let mut keep: HashSet<String> = HashSet::new();
    for a in snapshot.files() {
        referenced(&table, &a.path, a.deletion_vector.as_ref(), &mut keep);
    }
    for r in snapshot.tombstones() {
        if r.deletion_timestamp.unwrap_or(i64::MAX) > cutoff {
            referenced(&table, &r.path, r.deletion_vector.as_ref(), &mut keep);
        }
    }
    let store = snapshot.store();
    let listed = store
        .list_recursive("")
        .await
        .map_err(|e| ParquetError::Write {
            table: table.clone(),
            file: String::new(),
            reason: e.to_string(),
        })?;
    let doomed: Vec<(String, u64)> = listed
        .into_iter()
        .filter(|f| !hidden(&f.path) && !keep.contains(&f.path) && f.last_modified <= cutoff)
        .map(|f| (f.path, f.size))
        .collect();
    if !options.dry_run {
        for (path, _) in &doomed {
            store.delete(path).await.map_err(|e| ParquetError::Write {
                table: table.clone(),
                file: path.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(VacuumReport {
        bytes: doomed.iter().map(|(_, s)| s).sum(),
        files: doomed.into_iter().map(|(p, _)| p).collect(),
        dry_run: options.dry_run,
    })
}
