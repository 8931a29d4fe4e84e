//! Typed Delta log actions (`add`, `remove`, `metaData`, `protocol`, ...) and
//! the parser for one line of a commit file.
//!
//! Values are checked when they are parsed: a negative size, an `add` path that
//! climbs out of the table, an unknown deletion-vector storage type or a schema
//! that does not parse never becomes an action. Unknown fields and unknown
//! action kinds are tolerated, as the protocol requires.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::deletion_vector::DeletionVectorDescriptor;
use crate::features::{TableFeature, legacy_reader_features, legacy_writer_features};
use crate::path::FilePath;
use crate::schema::SchemaError;
use crate::schema::StructType;
use crate::stats::{FileStats, StatsError};

/// A log line (or a checkpoint row rebuilt as one) that is not a valid
/// action. The log's content is at fault, so retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// Not JSON, or a field is missing or has the wrong type or value. The
    /// checks made while parsing ([`ProtocolError`], [`MetadataError`], bad
    /// paths and deletion-vector descriptors) arrive here, with serde's
    /// line and column.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// One line holds more than one action.
    #[error("one log line holds {count} actions; expected one")]
    SeveralActions {
        /// How many actions the line holds.
        count: usize,
    },
}

/// A `protocol` action that breaks the protocol's own rules (not
/// retryable: the log is at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A version below 1.
    #[error("protocol versions must be >= 1, found reader {reader} writer {writer}")]
    VersionBelowOne {
        /// minReaderVersion.
        reader: i32,
        /// minWriterVersion.
        writer: i32,
    },
    /// Reader version 3 with a writer version below 7.
    #[error("reader version 3 (table features) requires writer version 7, found {writer}")]
    FeaturesNeedWriterSeven {
        /// minWriterVersion.
        writer: i32,
    },
}

/// A `metaData` action that is not valid (not retryable: the log is at
/// fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// `schemaString` is not a Delta schema.
    #[error("metaData.schemaString does not parse: {0}")]
    Schema(#[source] SchemaError),
    /// A partition column the schema does not have.
    #[error("partition column {column:?} is not in the table schema")]
    UnknownPartitionColumn {
        /// The partition column.
        column: String,
    },
}

/// Partition values as written in the log: column name → serialized value
/// (`None` is SQL NULL).
pub type PartitionValues = HashMap<String, Option<String>>;

fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = i64::deserialize(d)?;
    if v < 0 {
        return Err(serde::de::Error::custom(format!(
            "expected a non-negative number, found {v}"
        )));
    }
    Ok(v)
}

fn opt_non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        Some(v) if v < 0 => Err(serde::de::Error::custom(format!(
            "expected a non-negative number, found {v}"
        ))),
        other => Ok(other),
    }
}

/// Accepts `null` for a map (some writers emit it) as an empty map.
fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `add`: a data file that is part of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// File location: relative to the table root (URL-encoded) or an absolute URI.
    pub path: FilePath,
    /// Partition column → serialized value.
    #[serde(deserialize_with = "null_as_empty")]
    pub partition_values: PartitionValues,
    /// File size in bytes.
    #[serde(deserialize_with = "non_negative")]
    pub size: i64,
    /// Milliseconds since epoch when the file was created.
    pub modification_time: i64,
    /// Whether this add changes table data (false for compaction).
    pub data_change: bool,
    /// Statistics JSON, parsed on demand with [`Add::parsed_stats`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
    /// Deletion vector of rows to ignore in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_vector: Option<DeletionVectorDescriptor>,
    /// Row tracking: the row id of the first row.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_non_negative"
    )]
    pub base_row_id: Option<i64>,
    /// Row tracking: the commit version rows were last changed in.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_non_negative"
    )]
    pub default_row_commit_version: Option<i64>,
    /// Clustering implementation that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustering_provider: Option<String>,
}

impl Add {
    /// The `remove` action retiring this file at `deletion_timestamp` (ms
    /// since epoch): same path, partition values, size, tags, deletion
    /// vector and row-tracking fields, `dataChange` set.
    pub fn to_remove(&self, deletion_timestamp: i64) -> Remove {
        Remove {
            path: self.path.clone(),
            deletion_timestamp: Some(deletion_timestamp),
            data_change: true,
            extended_file_metadata: Some(true),
            partition_values: Some(self.partition_values.clone()),
            size: Some(self.size),
            stats: None,
            tags: self.tags.clone(),
            deletion_vector: self.deletion_vector.clone(),
            base_row_id: self.base_row_id,
            default_row_commit_version: self.default_row_commit_version,
        }
    }

    /// The key that identifies this logical file in replay: path plus
    /// deletion-vector id.
    pub fn key(&self) -> FileKey {
        FileKey::new(&self.path, self.deletion_vector.as_ref())
    }

    /// Parses the `stats` JSON, if present.
    pub fn parsed_stats(&self) -> Result<Option<FileStats>, StatsError> {
        self.stats.as_deref().map(FileStats::from_json).transpose()
    }

    /// Rows the file holds by its statistics, less those its deletion
    /// vector removes; `None` without a record count.
    pub fn live_records(&self) -> Option<i64> {
        let n = self.parsed_stats().ok().flatten()?.num_records?;
        Some(n - self.deletion_vector.as_ref().map_or(0, |d| d.cardinality))
    }
}

/// The identity of a logical file in log replay: its path and its
/// deletion-vector id (a file with a new DV replaces the old pair).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// The file path, canonicalized (see [`FilePath::canonical`]).
    pub path: String,
    /// [`DeletionVectorDescriptor::unique_id`], if the file has a DV.
    pub dv_id: Option<String>,
}

impl FileKey {
    /// The key of a path and optional deletion vector. Absolute local paths
    /// are canonicalized, so `/a`, `file:/a` and `file:///a` name one file.
    pub fn new(path: &FilePath, dv: Option<&DeletionVectorDescriptor>) -> Self {
        Self {
            path: path.canonical(),
            dv_id: dv.map(DeletionVectorDescriptor::unique_id),
        }
    }
}

/// `remove`: a logical file that is no longer part of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remove {
    /// File location.
    pub path: FilePath,
    /// Milliseconds since epoch when the file was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<i64>,
    /// Whether this remove changes table data.
    pub data_change: bool,
    /// Whether partitionValues, size and tags are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_file_metadata: Option<bool>,
    /// Partition values of the removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_values: Option<PartitionValues>,
    /// Size of the removed file.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_non_negative"
    )]
    pub size: Option<i64>,
    /// Statistics of the removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
    /// Tags of the removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
    /// Deletion vector of the removed logical file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_vector: Option<DeletionVectorDescriptor>,
    /// Row tracking base row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_row_id: Option<i64>,
    /// Row tracking default commit version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_row_commit_version: Option<i64>,
}

impl Remove {
    /// Replay key (path + DV id).
    pub fn key(&self) -> FileKey {
        FileKey::new(&self.path, self.deletion_vector.as_ref())
    }
}

/// `cdc`: a change-data file written by this commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cdc {
    /// File location.
    pub path: FilePath,
    /// Partition values.
    #[serde(deserialize_with = "null_as_empty")]
    pub partition_values: PartitionValues,
    /// File size.
    #[serde(deserialize_with = "non_negative")]
    pub size: i64,
    /// Always false for cdc files.
    #[serde(default)]
    pub data_change: bool,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
}

/// `txn`: the latest version an application committed (idempotent writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Txn {
    /// Application id.
    pub app_id: String,
    /// Application-defined version.
    pub version: i64,
    /// Milliseconds since epoch of the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<i64>,
}

/// `protocol`: the versions and features a client must support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ProtocolJson")]
pub struct Protocol {
    /// Minimum reader version.
    pub min_reader_version: i32,
    /// Minimum writer version.
    pub min_writer_version: i32,
    /// Explicit reader features (reader version 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader_features: Option<Vec<String>>,
    /// Explicit writer features (writer version 7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer_features: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtocolJson {
    min_reader_version: i32,
    min_writer_version: i32,
    #[serde(default)]
    reader_features: Option<Vec<String>>,
    #[serde(default)]
    writer_features: Option<Vec<String>>,
}

impl TryFrom<ProtocolJson> for Protocol {
    type Error = ProtocolError;
    fn try_from(p: ProtocolJson) -> Result<Self, ProtocolError> {
        if p.min_reader_version < 1 || p.min_writer_version < 1 {
            return Err(ProtocolError::VersionBelowOne {
                reader: p.min_reader_version,
                writer: p.min_writer_version,
            });
        }
        if p.min_reader_version == 3 && p.min_writer_version < 7 {
            return Err(ProtocolError::FeaturesNeedWriterSeven {
                writer: p.min_writer_version,
            });
        }
        Ok(Protocol {
            min_reader_version: p.min_reader_version,
            min_writer_version: p.min_writer_version,
            reader_features: p.reader_features,
            writer_features: p.writer_features,
        })
    }
}

impl Protocol {
    /// Every feature the table uses for reading: explicit (reader v3) or
    /// implied by a legacy reader version.
    pub fn effective_reader_features(&self) -> Vec<TableFeature> {
        if self.min_reader_version >= 3 {
            parse_features(self.reader_features.as_deref())
        } else {
            legacy_reader_features(self.min_reader_version)
        }
    }

    /// Every feature the table uses for writing: explicit (writer v7) or
    /// implied by a legacy writer version.
    pub fn effective_writer_features(&self) -> Vec<TableFeature> {
        if self.min_writer_version >= 7 {
            parse_features(self.writer_features.as_deref())
        } else {
            legacy_writer_features(self.min_writer_version)
        }
    }

    /// Whether the table uses `feature` (for reading or writing).
    pub fn has_feature(&self, feature: &TableFeature) -> bool {
        self.effective_writer_features().contains(feature)
            || self.effective_reader_features().contains(feature)
    }
}

fn parse_features(names: Option<&[String]>) -> Vec<TableFeature> {
    names
        .unwrap_or_default()
        .iter()
        .map(|n| {
            n.parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {})
        })
        .collect()
}

/// `metaData.format`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    /// Always `parquet` for Delta tables.
    pub provider: String,
    /// Format options.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub options: HashMap<String, Option<String>>,
}

impl Default for Format {
    fn default() -> Self {
        Self {
            provider: "parquet".into(),
            options: HashMap::new(),
        }
    }
}

/// `metaData`: the table's id, schema, partitioning and properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "MetadataJson")]
pub struct Metadata {
    /// Unique table id.
    pub id: String,
    /// User-facing name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// User-facing description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Data file format.
    pub format: Format,
    /// The schema JSON exactly as written (see [`Metadata::schema_string`]).
    schema_string: String,
    /// Partition columns, in order.
    pub partition_columns: Vec<String>,
    /// Creation time (ms since epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    /// Table properties.
    pub configuration: HashMap<String, String>,
    /// The parsed schema (not serialized; derived from `schema_string`,
    /// and kept equal to it by [`Metadata::set_schema`]).
    #[serde(skip)]
    schema: StructType,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataJson {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    schema_string: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    partition_columns: Vec<String>,
    #[serde(default)]
    created_time: Option<i64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    configuration: HashMap<String, Option<String>>,
}

impl TryFrom<MetadataJson> for Metadata {
    type Error = MetadataError;
    fn try_from(m: MetadataJson) -> Result<Self, MetadataError> {
        // Some early Delta writers (and the reference implementation's own
        // log-only test tables) omit schemaString; Delta reads such a table
        // as having an empty schema, and so does silt.
        let schema_string = m
            .schema_string
            .unwrap_or_else(|| StructType::default().to_json());
        let schema = StructType::from_json(&schema_string).map_err(MetadataError::Schema)?;
        for col in &m.partition_columns {
            if schema.field(col).is_none() {
                return Err(MetadataError::UnknownPartitionColumn {
                    column: col.clone(),
                });
            }
        }
        Ok(Metadata {
            id: m.id,
            name: m.name,
            description: m.description,
            format: m.format.unwrap_or_default(),
            schema_string,
            partition_columns: m.partition_columns,
            created_time: m.created_time,
            // A null property value carries no information; drop it.
            configuration: m
                .configuration
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
            schema,
        })
    }
}

impl Metadata {
    /// Metadata of a table with this id, schema, partitioning and
    /// properties (no name, description or creation time; Parquet files).
    /// Partition columns are not checked against the schema here: the
    /// table's creation does that.
    pub fn new(
        id: impl Into<String>,
        schema: StructType,
        partition_columns: Vec<String>,
        configuration: HashMap<String, String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: None,
            description: None,
            format: Format::default(),
            schema_string: schema.to_json(),
            partition_columns,
            created_time: None,
            configuration,
            schema,
        }
    }

    /// The table schema.
    pub fn schema(&self) -> &StructType {
        &self.schema
    }

    /// The schema JSON exactly as written in the log (or as
    /// [`Metadata::set_schema`] rendered it).
    pub fn schema_string(&self) -> &str {
        &self.schema_string
    }

    /// Replaces the schema; its JSON follows, so the two never disagree.
    pub fn set_schema(&mut self, schema: StructType) {
        self.schema_string = schema.to_json();
        self.schema = schema;
    }

    /// This metadata with another schema (see [`Metadata::set_schema`]).
    pub fn with_schema(mut self, schema: StructType) -> Self {
        self.set_schema(schema);
        self
    }

    /// A table property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.configuration.get(key).map(String::as_str)
    }

    /// Whether a boolean table property is set to `true`.
    pub fn flag(&self, key: &str) -> bool {
        self.property(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// `commitInfo`: provenance of a commit. Only the fields silt interprets are
/// typed; everything else is kept in `other`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// Wall-clock time of the commit (ms since epoch), as the writer saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// In-commit timestamp (ms since epoch), when that feature is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_commit_timestamp: Option<i64>,
    /// Operation name (`WRITE`, `MERGE`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Operation parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_parameters: Option<serde_json::Map<String, Value>>,
    /// Engine that wrote the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_info: Option<String>,
    /// Whether the commit only appended data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_blind_append: Option<bool>,
    /// Every other field, as written.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// `domainMetadata`: configuration for a named domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainMetadata {
    /// Domain name (`delta.*` domains are system domains).
    pub domain: String,
    /// Domain configuration (usually JSON text).
    pub configuration: String,
    /// Whether the domain is removed.
    pub removed: bool,
}

/// `sidecar`: a V2 checkpoint's file of add/remove actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    /// File name (relative to `_delta_log/_sidecars/`) or absolute URI.
    pub path: FilePath,
    /// Size in bytes.
    #[serde(deserialize_with = "non_negative")]
    pub size_in_bytes: i64,
    /// Modification time (ms since epoch).
    pub modification_time: i64,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
}

/// `checkpointMetadata`: the header of a V2 checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMetadata {
    /// The table version the checkpoint captures.
    pub version: i64,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
}

/// One action of the Delta log.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Table metadata.
    Metadata(Box<Metadata>),
    /// Protocol.
    Protocol(Protocol),
    /// Add a file.
    Add(Box<Add>),
    /// Remove a file.
    Remove(Box<Remove>),
    /// Change-data file.
    Cdc(Box<Cdc>),
    /// Application transaction version.
    Txn(Txn),
    /// Commit provenance.
    CommitInfo(Box<CommitInfo>),
    /// Domain metadata.
    DomainMetadata(DomainMetadata),
    /// V2 checkpoint sidecar reference.
    Sidecar(Sidecar),
    /// V2 checkpoint header.
    CheckpointMetadata(CheckpointMetadata),
}

/// The JSON object of one log line; each known action kind is a field.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActionLine {
    #[serde(default)]
    meta_data: Option<Box<Metadata>>,
    #[serde(default)]
    protocol: Option<Protocol>,
    #[serde(default)]
    add: Option<Box<Add>>,
    #[serde(default)]
    remove: Option<Box<Remove>>,
    #[serde(default)]
    cdc: Option<Box<Cdc>>,
    #[serde(default)]
    txn: Option<Txn>,
    #[serde(default)]
    commit_info: Option<Box<CommitInfo>>,
    #[serde(default)]
    domain_metadata: Option<DomainMetadata>,
    #[serde(default)]
    sidecar: Option<Sidecar>,
    #[serde(default)]
    checkpoint_metadata: Option<CheckpointMetadata>,
}

impl ActionLine {
    fn into_action(self) -> Result<Option<Action>, ActionError> {
        let mut found = Vec::with_capacity(1);
        if let Some(a) = self.meta_data {
            found.push(Action::Metadata(a));
        }
        if let Some(a) = self.protocol {
            found.push(Action::Protocol(a));
        }
        if let Some(a) = self.add {
            found.push(Action::Add(a));
        }
        if let Some(a) = self.remove {
            found.push(Action::Remove(a));
        }
        if let Some(a) = self.cdc {
            found.push(Action::Cdc(a));
        }
        if let Some(a) = self.txn {
            found.push(Action::Txn(a));
        }
        if let Some(a) = self.commit_info {
            found.push(Action::CommitInfo(a));
        }
        if let Some(a) = self.domain_metadata {
            found.push(Action::DomainMetadata(a));
        }
        if let Some(a) = self.sidecar {
            found.push(Action::Sidecar(a));
        }
        if let Some(a) = self.checkpoint_metadata {
            found.push(Action::CheckpointMetadata(a));
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            count => Err(ActionError::SeveralActions { count }),
        }
    }
}

/// Parses one line of a commit (or JSON checkpoint) file. Blank lines and
/// unknown action kinds give `Ok(None)`.
pub fn parse_action_line(line: &[u8]) -> Result<Option<Action>, ActionError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: ActionLine = serde_json::from_slice(line)?;
    parsed.into_action()
}

/// Parses one action given as a JSON object (`{"add": {...}}`), as rebuilt
/// from a Parquet checkpoint row. Unknown action kinds give `Ok(None)`.
pub fn parse_action_value(value: Value) -> Result<Option<Action>, ActionError> {
    let parsed: ActionLine = serde_json::from_value(value)?;
    parsed.into_action()
}

/// Parses a JSON log file (a commit, a V2 checkpoint or sidecar in JSON) of
/// `table` at `version`; a bad line becomes [`crate::LogError::InvalidLogFile`]
/// naming the table, version, file and line.
pub fn parse_log_file(
    table: &str,
    version: u64,
    file: &str,
    bytes: &[u8],
) -> crate::LogResult<Vec<Action>> {
    parse_action_lines(bytes).map_err(|(line, e)| crate::LogError::InvalidLogFile {
        table: table.to_string(),
        version,
        file: file.to_string(),
        line: Some(line),
        message: e.to_string(),
    })
}

/// Parses a whole newline-delimited JSON file of actions. The error carries
/// the 1-based line number.
pub fn parse_action_lines(bytes: &[u8]) -> Result<Vec<Action>, (usize, ActionError)> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if let Some(action) = parse_action_line(line).map_err(|e| (i + 1, e))? {
            out.push(action);
        }
    }
    Ok(out)
}

/// One action as the JSON object of a log line, serialized without an
/// intermediate `Value` tree.
#[derive(Serialize)]
enum ActionLineRef<'a> {
    #[serde(rename = "metaData")]
    Metadata(&'a Metadata),
    #[serde(rename = "protocol")]
    Protocol(&'a Protocol),
    #[serde(rename = "add")]
    Add(&'a Add),
    #[serde(rename = "remove")]
    Remove(&'a Remove),
    #[serde(rename = "cdc")]
    Cdc(&'a Cdc),
    #[serde(rename = "txn")]
    Txn(&'a Txn),
    #[serde(rename = "commitInfo")]
    CommitInfo(&'a CommitInfo),
    #[serde(rename = "domainMetadata")]
    DomainMetadata(&'a DomainMetadata),
    #[serde(rename = "sidecar")]
    Sidecar(&'a Sidecar),
    #[serde(rename = "checkpointMetadata")]
    CheckpointMetadata(&'a CheckpointMetadata),
}

/// Serializes one action as a log line (no trailing newline).
pub fn action_to_json_line(action: &Action) -> String {
    let line = match action {
        Action::Metadata(a) => ActionLineRef::Metadata(a),
        Action::Protocol(a) => ActionLineRef::Protocol(a),
        Action::Add(a) => ActionLineRef::Add(a),
        Action::Remove(a) => ActionLineRef::Remove(a),
        Action::Cdc(a) => ActionLineRef::Cdc(a),
        Action::Txn(a) => ActionLineRef::Txn(a),
        Action::CommitInfo(a) => ActionLineRef::CommitInfo(a),
        Action::DomainMetadata(a) => ActionLineRef::DomainMetadata(a),
        Action::Sidecar(a) => ActionLineRef::Sidecar(a),
        Action::CheckpointMetadata(a) => ActionLineRef::CheckpointMetadata(a),
    };
    // Serializing these plain structs cannot fail: every map key is a string.
    serde_json::to_string(&line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_past_every_integer_type_survive_a_round_trip() {
        // Found by the `action_lines` fuzz target: a field of a
        // `commitInfo` holding an integer too large for 64 bits is kept as
        // the nearest float; written back in its shortest form, it must
        // parse to that same float (serde_json's exact float parsing).
        for n in [
            "156452429967777777777777777777777777777777777777777777777748",
            "18446744073709551616",
            "-9223372036854775809",
            "1e400",
            "123456789012345678901234567890.5e-3",
        ] {
            let line = format!(r#"{{"commitInfo":{{"timestamp":1,"x":{n}}}}}"#);
            let Ok(Some(a)) = parse_action_line(line.as_bytes()) else {
                continue; // refused cleanly (out of range) is fine too
            };
            let text = action_to_json_line(&a);
            let back = parse_action_line(text.as_bytes()).unwrap().unwrap();
            assert_eq!(back, a, "{n} came back as {text}");
        }
    }

    #[test]
    fn parses_each_action_kind() {
        let lines = [
            r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#,
            r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"p\",\"type\":\"integer\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":["p"],"configuration":{"a":"b"},"createdTime":1}}"#,
            r#"{"add":{"path":"p=1/a.parquet","partitionValues":{"p":"1"},"size":10,"modificationTime":5,"dataChange":true,"stats":"{\"numRecords\":3}","someFutureField":1}}"#,
            r#"{"remove":{"path":"b.parquet","deletionTimestamp":9,"dataChange":true}}"#,
            r#"{"cdc":{"path":"_change_data/c.parquet","partitionValues":{},"size":1,"dataChange":false}}"#,
            r#"{"txn":{"appId":"app","version":3}}"#,
            r#"{"commitInfo":{"timestamp":7,"operation":"WRITE","operationParameters":{"mode":"Append"},"x":[1]}}"#,
            r#"{"domainMetadata":{"domain":"d","configuration":"{}","removed":false}}"#,
            r#"{"sidecar":{"path":"s.parquet","sizeInBytes":4,"modificationTime":1}}"#,
            r#"{"checkpointMetadata":{"version":4}}"#,
        ];
        let text = lines.join("\n");
        let actions = parse_action_lines(text.as_bytes()).unwrap();
        assert_eq!(actions.len(), 10);
        let Action::Add(add) = &actions[2] else {
            panic!("expected add")
        };
        assert_eq!(add.parsed_stats().unwrap().unwrap().num_records, Some(3));
        // Round trip through the writer.
        for a in &actions {
            let line = action_to_json_line(a);
            let back = parse_action_line(line.as_bytes()).unwrap().unwrap();
            assert_eq!(&back, a);
        }
    }

    #[test]
    fn tolerates_unknown_actions_and_blank_lines() {
        assert_eq!(parse_action_line(br#"{"future":{"x":1}}"#).unwrap(), None);
        assert_eq!(parse_action_line(b"   ").unwrap(), None);
    }

    #[test]
    fn rejects_invalid_values() {
        for bad in [
            r#"{"add":{"path":"a","partitionValues":{},"size":-1,"modificationTime":0,"dataChange":true}}"#,
            r#"{"add":{"path":"../../etc/passwd","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
            r#"{"add":{"path":"","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
            r#"{"protocol":{"minReaderVersion":0,"minWriterVersion":2}}"#,
            r#"{"metaData":{"id":"x","schemaString":"not json","partitionColumns":[],"configuration":{}}}"#,
            r#"{"metaData":{"id":"x","schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":["p"],"configuration":{}}}"#,
            r#"{"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true,"deletionVector":{"storageType":"q","pathOrInlineDv":"x","sizeInBytes":1,"cardinality":1}}}"#,
            r#"{"txn":{"appId":"a","version":1},"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
            r#"{"add":"#,
        ] {
            assert!(parse_action_line(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_line_number_is_reported() {
        let text = "{\"txn\":{\"appId\":\"a\",\"version\":1}}\n{oops";
        let (line, _) = parse_action_lines(text.as_bytes()).unwrap_err();
        assert_eq!(line, 2);
    }
}
