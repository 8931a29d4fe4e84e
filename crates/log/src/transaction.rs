//! Transactions and the one commit loop.
//!
//! A [`Transaction`] starts from a [`Snapshot`], stages actions and records
//! what it read. [`Transaction::commit`] writes the next version file with an
//! atomic put-if-absent. When another writer won that version, the winning
//! commits are read and checked by the pure conflict checker
//! ([`crate::conflict`]); a transaction that does not conflict is rebased
//! (in-commit timestamp and row ids re-assigned) and retried at the next
//! version, a conflicting one returns the rule and the winning version.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::actions::{
    Action, Add, CommitInfo, DomainMetadata, Metadata, PartitionValues, Protocol, Remove, Txn,
    action_to_json_line, parse_log_file,
};
use crate::conflict::{
    Conflict, IsolationLevel, ROW_TRACKING_DOMAIN, TxnFootprint, WinnerSummary, check_winner,
    row_id_high_water_mark,
};
use crate::environment::Environment;
use crate::error::{LogError, LogResult};
use crate::features::TableFeature;
use crate::log_path::commit_path;
use crate::properties::{
    ENABLE_IN_COMMIT_TIMESTAMPS as ENABLE_ICT, ICT_ENABLEMENT_TIMESTAMP, ICT_ENABLEMENT_VERSION,
};
use crate::snapshot::Snapshot;
use crate::storage::{LogStore, StorageError};
use crate::writable::check_writable;

/// The engine string written into `commitInfo.engineInfo`.
pub const ENGINE_INFO: &str = concat!("silt/", env!("CARGO_PKG_VERSION"));

/// What a commit does, for `commitInfo.operation` and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Operation name (`WRITE`, `CREATE TABLE`, `DELETE`, ...).
    pub name: String,
    /// Operation parameters.
    pub parameters: Map<String, Value>,
    /// What the operation did (`numTargetRowsUpdated`, `numAddedFiles`, ...),
    /// written as `commitInfo.operationMetrics` (values as strings, as
    /// Delta Spark writes them).
    pub metrics: Map<String, Value>,
    /// `commitInfo.tags` (e.g. `delta.identity.schemaUpdate`).
    pub tags: Map<String, Value>,
}

impl Operation {
    /// An operation with a name and no parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            parameters: Map::new(),
            metrics: Map::new(),
            tags: Map::new(),
        }
    }

    /// Adds a commitInfo tag.
    pub fn with_tag(mut self, key: &str, value: &str) -> Self {
        self.tags
            .insert(key.to_string(), Value::String(value.to_string()));
        self
    }

    /// Adds a metric.
    pub fn with_metric(mut self, key: &str, value: u64) -> Self {
        self.metrics
            .insert(key.to_string(), Value::String(value.to_string()));
        self
    }

    /// Adds a parameter.
    pub fn with_parameter(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.parameters.insert(key.to_string(), value.into());
        self
    }

    /// `WRITE` in append mode.
    pub fn append() -> Self {
        Self::new("WRITE").with_parameter("mode", "Append")
    }

    /// `CREATE TABLE`.
    pub fn create_table() -> Self {
        Self::new("CREATE TABLE")
    }

    /// `WRITE`: a write of data files (add `mode`: Append, Overwrite).
    pub fn write() -> Self {
        Self::new("WRITE")
    }

    /// `CREATE TABLE AS SELECT`: a table created by its first write.
    pub fn create_table_as_select() -> Self {
        Self::new("CREATE TABLE AS SELECT")
    }

    /// `TRUNCATE`: every row removed (a pipeline's full refresh).
    pub fn truncate() -> Self {
        Self::new("TRUNCATE")
    }

    /// `STREAMING UPDATE`: a streaming micro-batch's commit.
    pub fn streaming_update() -> Self {
        Self::new("STREAMING UPDATE")
    }

    /// `DELETE`: DELETE.
    pub fn delete() -> Self {
        Self::new("DELETE")
    }

    /// `UPDATE`: UPDATE.
    pub fn update() -> Self {
        Self::new("UPDATE")
    }

    /// `MERGE`: MERGE.
    pub fn merge() -> Self {
        Self::new("MERGE")
    }

    /// `OPTIMIZE`: OPTIMIZE (compaction, Z-order).
    pub fn optimize() -> Self {
        Self::new("OPTIMIZE")
    }

    /// `RESTORE`: RESTORE to an earlier version.
    pub fn restore() -> Self {
        Self::new("RESTORE")
    }

    /// `ADD COLUMNS`: ALTER TABLE … ADD COLUMNS.
    pub fn add_columns() -> Self {
        Self::new("ADD COLUMNS")
    }

    /// `RENAME COLUMN`: ALTER TABLE … RENAME COLUMN.
    pub fn rename_column() -> Self {
        Self::new("RENAME COLUMN")
    }

    /// `DROP COLUMNS`: ALTER TABLE … DROP COLUMNS.
    pub fn drop_columns() -> Self {
        Self::new("DROP COLUMNS")
    }

    /// `CHANGE COLUMN`: ALTER TABLE … ALTER COLUMN (type, nullability, default).
    pub fn change_column() -> Self {
        Self::new("CHANGE COLUMN")
    }

    /// `SET TBLPROPERTIES`: ALTER TABLE … SET TBLPROPERTIES.
    pub fn set_table_properties() -> Self {
        Self::new("SET TBLPROPERTIES")
    }

    /// `UNSET TBLPROPERTIES`: ALTER TABLE … UNSET TBLPROPERTIES.
    pub fn unset_table_properties() -> Self {
        Self::new("UNSET TBLPROPERTIES")
    }

    /// `ADD CONSTRAINT`: ALTER TABLE … ADD CONSTRAINT.
    pub fn add_constraint() -> Self {
        Self::new("ADD CONSTRAINT")
    }

    /// `DROP CONSTRAINT`: ALTER TABLE … DROP CONSTRAINT.
    pub fn drop_constraint() -> Self {
        Self::new("DROP CONSTRAINT")
    }

    /// `DROP FEATURE`: ALTER TABLE … DROP FEATURE.
    pub fn drop_feature() -> Self {
        Self::new("DROP FEATURE")
    }

    /// `CLUSTER BY`: ALTER TABLE … CLUSTER BY.
    pub fn cluster_by() -> Self {
        Self::new("CLUSTER BY")
    }
}

/// Tunables of the commit loop.
#[derive(Clone)]
pub struct CommitOptions {
    /// How many times a non-conflicting transaction is rebased and retried.
    pub max_retries: usize,
    /// Isolation level (default: the table's `delta.isolationLevel`, else
    /// WriteSerializable).
    pub isolation: Option<IsolationLevel>,
    /// The clock for commit and in-commit timestamps, and the source of
    /// transaction and checkpoint ids.
    pub env: Arc<dyn Environment>,
    /// `commitInfo.engineInfo`.
    pub engine_info: String,
    /// Whether to write a checkpoint every `delta.checkpointInterval`
    /// versions (default 10).
    pub auto_checkpoint: bool,
}

impl std::fmt::Debug for CommitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitOptions")
            .field("max_retries", &self.max_retries)
            .field("isolation", &self.isolation)
            .field("engine_info", &self.engine_info)
            .finish()
    }
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            max_retries: 1000,
            isolation: None,
            env: crate::environment::system_environment(),
            engine_info: ENGINE_INFO.to_string(),
            auto_checkpoint: true,
        }
    }
}

/// A successful commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The version written.
    pub version: u64,
    /// How many times the transaction was rebased onto newer versions.
    pub retries: usize,
    /// The in-commit timestamp written, when the table has them.
    pub in_commit_timestamp: Option<i64>,
    /// Whether the post-commit hook wrote a checkpoint of this version.
    pub checkpointed: bool,
    /// A post-commit hook failure (the commit itself stands); also logged
    /// as a `tracing` warning.
    pub post_commit_error: Option<PostCommitError>,
}

/// A post-commit hook that failed after the commit landed: the commit
/// stands, the table is correct, only the hook's work (a checkpoint that
/// speeds up later loads) is missing until a later commit or an explicit
/// run does it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("post-commit {hook} of version {version} failed (the commit stands): {message}")]
pub struct PostCommitError {
    /// The version committed.
    pub version: u64,
    /// Which hook failed.
    pub hook: PostCommitHook,
    /// What went wrong.
    pub message: String,
    retryable: bool,
}

impl PostCommitError {
    /// Whether running the hook again can help (the failure was transient
    /// storage trouble), as [`LogError::is_retryable`] of the cause says.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// The work a commit does after it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostCommitHook {
    /// Writing the checkpoint (and `.crc`, `_last_checkpoint`) every
    /// `delta.checkpointInterval` versions.
    Checkpoint,
}

impl std::fmt::Display for PostCommitHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PostCommitHook::Checkpoint => "checkpoint",
        })
    }
}

/// The result of [`Transaction::commit`]. Every case must be looked at: a
/// conflict is not an error of the system but a decision for the caller.
#[must_use = "a commit may have conflicted or found its batch already applied"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The transaction is the version it names.
    Committed(Committed),
    /// The application transaction (`txn` app id and version) was already
    /// committed, at or before `table_version`; nothing was written.
    AlreadyApplied {
        /// The application id.
        app_id: String,
        /// The application version the caller tried to commit.
        app_version: i64,
        /// The table version the check was made against.
        table_version: u64,
    },
    /// A concurrent commit conflicts; nothing was written.
    Conflict(Conflict),
}

impl CommitOutcome {
    /// The committed version, if the commit happened.
    pub fn version(&self) -> Option<u64> {
        match self {
            Self::Committed(c) => Some(c.version),
            _ => None,
        }
    }
}

/// Data-level rules silt's log layer cannot check (they need the rows): a
/// transaction that adds data to a table where one is active is refused,
/// until the data writer that enforces it exists.
fn unenforced_data_rule(
    protocol: &Protocol,
    metadata: &Metadata,
    checks_enforced: bool,
) -> Option<&'static str> {
    let has = |f: TableFeature| protocol.has_feature(&f);
    let field_meta = |key: &str| {
        fn walk(fields: &[crate::schema::StructField], key: &str) -> bool {
            fields.iter().any(|f| {
                f.metadata.keys().any(|k| k.starts_with(key))
                    || match &f.data_type {
                        crate::schema::DataType::Struct(s) => walk(&s.fields, key),
                        _ => false,
                    }
            })
        }
        walk(&metadata.schema().fields, key)
    };
    if !checks_enforced && has(TableFeature::Invariants) && field_meta("delta.invariants") {
        return Some("column invariants");
    }
    if !checks_enforced
        && has(TableFeature::CheckConstraints)
        && metadata
            .configuration
            .keys()
            .any(|k| k.starts_with(crate::properties::CONSTRAINTS_PREFIX))
    {
        return Some("CHECK constraints");
    }
    if checks_enforced {
        return None;
    }
    if has(TableFeature::GeneratedColumns) && field_meta("delta.generationExpression") {
        return Some("generated columns");
    }
    if has(TableFeature::IdentityColumns) && field_meta("delta.identity.") {
        return Some("identity columns");
    }
    if has(TableFeature::AllowColumnDefaults) && field_meta("CURRENT_DEFAULT") {
        return Some("column defaults");
    }
    None
}

/// A transaction on a table. Stage actions, record reads, then
/// [`commit`](Transaction::commit).
#[derive(Debug)]
#[must_use = "a transaction does nothing until committed"]
pub struct Transaction {
    store: Arc<dyn LogStore>,
    read_version: Option<u64>,
    read_protocol: Option<Protocol>,
    read_metadata: Option<Metadata>,
    read_ict: Option<i64>,
    read_row_id_hwm: Option<i64>,
    operation: Operation,
    options: CommitOptions,
    adds: Vec<Add>,
    removes: Vec<Remove>,
    other: Vec<Action>,
    new_metadata: Option<Metadata>,
    new_protocol: Option<Protocol>,
    app_txn: Option<Txn>,
    read_whole_table: bool,
    read_partitions: Vec<PartitionValues>,
    read_files: HashSet<String>,
    read_app_ids: HashSet<String>,
    known_app_versions: HashMap<String, i64>,
    checks_enforced: bool,
}

impl Snapshot {
    /// Starts a transaction on this version of the table.
    pub fn transaction(&self, operation: Operation) -> Transaction {
        Transaction {
            store: self.store().clone(),
            read_version: Some(self.version()),
            read_protocol: Some(self.protocol().clone()),
            read_metadata: Some(self.metadata().clone()),
            read_ict: self.in_commit_timestamp(),
            read_row_id_hwm: self
                .domains()
                .get(ROW_TRACKING_DOMAIN)
                .and_then(|d| row_id_high_water_mark(&d.configuration)),
            operation,
            options: CommitOptions::default(),
            adds: Vec::new(),
            removes: Vec::new(),
            other: Vec::new(),
            new_metadata: None,
            new_protocol: None,
            app_txn: None,
            read_whole_table: false,
            read_partitions: Vec::new(),
            read_files: HashSet::new(),
            read_app_ids: HashSet::new(),
            known_app_versions: self
                .txns()
                .iter()
                .map(|(k, t)| (k.clone(), t.version))
                .collect(),
            checks_enforced: false,
        }
    }
}

impl Transaction {
    /// Creates a table: version 0 with this protocol and metadata.
    pub fn create_table(store: Arc<dyn LogStore>, protocol: Protocol, metadata: Metadata) -> Self {
        Transaction {
            store,
            read_version: None,
            read_protocol: None,
            read_metadata: None,
            read_ict: None,
            read_row_id_hwm: None,
            operation: Operation::create_table(),
            options: CommitOptions::default(),
            adds: Vec::new(),
            removes: Vec::new(),
            other: Vec::new(),
            new_metadata: Some(metadata),
            new_protocol: Some(protocol),
            app_txn: None,
            read_whole_table: false,
            read_partitions: Vec::new(),
            read_files: HashSet::new(),
            read_app_ids: HashSet::new(),
            known_app_versions: HashMap::new(),
            checks_enforced: false,
        }
    }

    /// Declares that the caller enforced every data rule on the added rows:
    /// CHECK constraints and column invariants (see
    /// [`crate::constraints::table_checks`]), and generated, identity and
    /// default columns (see [`crate::column_rules`]); without it, data
    /// writes to tables that use them are refused.
    pub fn with_checks_enforced(mut self) -> Self {
        self.checks_enforced = true;
        self
    }

    /// Sets the operation recorded in commitInfo.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }

    /// Sets commit options.
    pub fn with_options(mut self, options: CommitOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the isolation level.
    pub fn with_isolation(mut self, isolation: IsolationLevel) -> Self {
        self.options.isolation = Some(isolation);
        self
    }

    /// Adds data files.
    pub fn add_files(mut self, adds: impl IntoIterator<Item = Add>) -> Self {
        self.adds.extend(adds);
        self
    }

    /// Removes data files (they should have been read: see
    /// [`Transaction::read_files`]).
    pub fn remove_files(mut self, removes: impl IntoIterator<Item = Remove>) -> Self {
        self.removes.extend(removes);
        self
    }

    /// Removes these live files of the read snapshot and records them as
    /// read, so a concurrent commit that removes or rewrites one of them is
    /// a conflict. The deletion timestamp is the commit environment's
    /// clock at the time of the call.
    pub fn remove_adds<'a>(mut self, adds: impl IntoIterator<Item = &'a Add>) -> Self {
        let now = self.options.env.now_ms();
        for add in adds {
            self.read_files.insert(add.path.to_string());
            self.removes.push(add.to_remove(now));
        }
        self
    }

    /// Replaces the table metadata (schema, partitioning, properties).
    pub fn update_metadata(mut self, metadata: Metadata) -> Self {
        self.new_metadata = Some(metadata);
        self
    }

    /// Replaces the protocol (upgrades, feature enablement).
    pub fn update_protocol(mut self, protocol: Protocol) -> Self {
        self.new_protocol = Some(protocol);
        self
    }

    /// Adds change-data files (`cdc` actions) describing this commit's
    /// changes (change data feed).
    pub fn add_change_files(
        mut self,
        files: impl IntoIterator<Item = crate::actions::Cdc>,
    ) -> Self {
        self.other
            .extend(files.into_iter().map(|c| Action::Cdc(Box::new(c))));
        self
    }

    /// Writes domain metadata.
    pub fn set_domain_metadata(mut self, domain: DomainMetadata) -> Self {
        self.other.push(Action::DomainMetadata(domain));
        self
    }

    /// Records this commit as version `app_version` of application `app_id`
    /// (idempotent writes): if the table already has that application at
    /// this version or later, the commit reports
    /// [`CommitOutcome::AlreadyApplied`] and writes nothing.
    pub fn set_app_transaction(mut self, app_id: impl Into<String>, app_version: i64) -> Self {
        let app_id = app_id.into();
        self.read_app_ids.insert(app_id.clone());
        self.app_txn = Some(Txn {
            app_id,
            version: app_version,
            last_updated: None,
        });
        self
    }

    /// Adds what `stamp` records (an application transaction, domain
    /// metadata) to this commit.
    pub fn stamped(mut self, stamp: &CommitStamp) -> Self {
        if let Some((app, v)) = &stamp.app_transaction {
            self = self.set_app_transaction(app.clone(), *v);
        }
        for d in &stamp.domains {
            self = self.set_domain_metadata(d.clone());
        }
        self
    }

    /// Records that the transaction read the whole table.
    pub fn read_whole_table(mut self) -> Self {
        self.read_whole_table = true;
        self
    }

    /// Records that the transaction read these partitions.
    pub fn read_partitions(
        mut self,
        partitions: impl IntoIterator<Item = PartitionValues>,
    ) -> Self {
        self.read_partitions.extend(partitions);
        self
    }

    /// Records that the transaction read these files (paths as in the log).
    pub fn read_files(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        self.read_files.extend(paths);
        self
    }

    fn table(&self) -> String {
        self.store.location().to_string()
    }

    /// Validates the staged transaction before anything is written.
    fn validate(&self, protocol: &Protocol, metadata: &Metadata) -> LogResult<()> {
        let table = self.table();
        let version = self.read_version.unwrap_or(0);
        let invalid = |reason: String| LogError::InvalidTransaction {
            table: table.clone(),
            reason,
        };
        check_writable(&table, version, protocol)?;
        if let Some(p) = &self.new_protocol {
            check_writable(&table, version, p)?;
        }
        if metadata.flag(crate::properties::APPEND_ONLY)
            && protocol.has_feature(&TableFeature::AppendOnly)
            && self.removes.iter().any(|r| r.data_change)
        {
            return Err(invalid(
                "the table is append-only (delta.appendOnly): data cannot be removed".into(),
            ));
        }
        if self.adds.iter().any(|a| a.data_change)
            && let Some(rule) = unenforced_data_rule(protocol, metadata, self.checks_enforced)
        {
            return Err(LogError::UnsupportedWriter {
                table,
                version,
                reason: format!("{rule} are enforced on data, which silt cannot write yet"),
            });
        }
        if self.adds.iter().any(|a| a.deletion_vector.is_some())
            && !protocol.has_feature(&TableFeature::DeletionVectors)
        {
            return Err(invalid(
                "files with deletion vectors need the deletionVectors feature".into(),
            ));
        }
        if self
            .other
            .iter()
            .any(|a| matches!(a, Action::DomainMetadata(_)))
            && !protocol.has_feature(&TableFeature::DomainMetadata)
        {
            return Err(invalid(
                "domain metadata needs the domainMetadata table feature".into(),
            ));
        }
        let mut seen = HashSet::new();
        for a in &self.adds {
            if !seen.insert(a.key()) {
                return Err(invalid(format!("file {} is added twice", a.path)));
            }
        }
        let removed: HashSet<_> = self.removes.iter().map(Remove::key).collect();
        if let Some(a) = self.adds.iter().find(|a| removed.contains(&a.key())) {
            return Err(invalid(format!(
                "file {} is both added and removed",
                a.path
            )));
        }
        let mapped = matches!(
            metadata.property(crate::properties::COLUMN_MAPPING_MODE),
            Some("name" | "id")
        );
        for col in &metadata.partition_columns {
            // Under column mapping, partition values are keyed by the
            // column's physical name.
            let key = metadata
                .schema()
                .field(col)
                .and_then(|f| f.physical_name())
                .filter(|_| mapped)
                .unwrap_or(col);
            if let Some(a) = self
                .adds
                .iter()
                .find(|a| !a.partition_values.contains_key(key))
            {
                return Err(invalid(format!(
                    "file {} has no value for partition column {col:?}",
                    a.path
                )));
            }
        }
        Ok(())
    }

    fn isolation(&self, metadata: &Metadata) -> IsolationLevel {
        let data_change =
            self.adds.iter().any(|a| a.data_change) || self.removes.iter().any(|r| r.data_change);
        let only_files = self.new_metadata.is_none()
            && self.new_protocol.is_none()
            && self.app_txn.is_none()
            && self.other.is_empty();
        if only_files && !data_change && (!self.adds.is_empty() || !self.removes.is_empty()) {
            // Compaction-like: changes no data, protects only what it modifies.
            return IsolationLevel::SnapshotIsolation;
        }
        self.options.isolation.unwrap_or_else(|| {
            metadata
                .property(crate::properties::ISOLATION_LEVEL)
                .and_then(IsolationLevel::from_property)
                .unwrap_or_default()
        })
    }

    fn is_blind_append(&self) -> bool {
        !self.adds.is_empty()
            && self.adds.iter().all(|a| a.data_change)
            && self.removes.is_empty()
            && self.new_metadata.is_none()
            && self.new_protocol.is_none()
            && !self.read_whole_table
            && self.read_partitions.is_empty()
            && self.read_files.is_empty()
    }

    fn footprint(&self, metadata: &Metadata) -> TxnFootprint {
        TxnFootprint {
            isolation: self.isolation(metadata),
            read_whole_table: self.read_whole_table,
            read_partitions: self.read_partitions.clone(),
            read_files: self.read_files.clone(),
            read_app_ids: self.read_app_ids.clone(),
            blind_append: self.is_blind_append(),
            changes_metadata: self.new_metadata.is_some(),
            changes_protocol: self.new_protocol.is_some(),
            removes: self.removes.iter().map(|r| r.path.to_string()).collect(),
            domains: self
                .other
                .iter()
                .filter_map(|a| match a {
                    Action::DomainMetadata(d) if d.domain != ROW_TRACKING_DOMAIN => {
                        Some(d.domain.clone())
                    }
                    _ => None,
                })
                .collect(),
            partitioned: !metadata.partition_columns.is_empty(),
        }
    }

    /// Renders the commit file for `version`.
    fn render(
        &self,
        version: u64,
        state: &RebaseState,
        txn_id: &str,
        now: i64,
    ) -> LogResult<(Bytes, Option<i64>)> {
        let metadata = self
            .new_metadata
            .as_ref()
            .or(state.metadata.as_ref())
            .ok_or_else(|| LogError::InvalidTransaction {
                table: self.table(),
                reason: "no metadata to commit against".into(),
            })?;
        let protocol = self
            .new_protocol
            .as_ref()
            .or(state.protocol.as_ref())
            .ok_or_else(|| LogError::InvalidTransaction {
                table: self.table(),
                reason: "no protocol to commit against".into(),
            })?;
        let ict = (metadata.flag(ENABLE_ICT)
            && protocol.has_feature(&TableFeature::InCommitTimestamp))
        .then(|| state.last_ict.map_or(now, |prev| now.max(prev + 1)));
        let mut info = CommitInfo {
            timestamp: Some(now),
            in_commit_timestamp: ict,
            operation: Some(self.operation.name.clone()),
            operation_parameters: Some(self.operation.parameters.clone()),
            engine_info: Some(self.options.engine_info.clone()),
            is_blind_append: Some(self.is_blind_append()),
            other: Map::new(),
        };
        info.other
            .insert("txnId".into(), Value::String(txn_id.to_string()));
        if let Some(r) = self.read_version {
            info.other.insert("readVersion".into(), Value::from(r));
        }
        if !self.operation.tags.is_empty() {
            info.other
                .insert("tags".into(), Value::Object(self.operation.tags.clone()));
        }
        if !self.operation.metrics.is_empty() {
            info.other.insert(
                "operationMetrics".into(),
                Value::Object(self.operation.metrics.clone()),
            );
        }
        let mut lines = Vec::with_capacity(self.adds.len() + self.removes.len() + 4);
        // commitInfo first: in-commit timestamps require it.
        lines.push(action_to_json_line(&Action::CommitInfo(Box::new(info))));
        if let Some(p) = &self.new_protocol {
            lines.push(action_to_json_line(&Action::Protocol(p.clone())));
        }
        if let Some(m) = &self.new_metadata {
            let mut m = m.clone();
            // Turning in-commit timestamps on records where they start.
            let was_on = state.metadata.as_ref().is_some_and(|r| r.flag(ENABLE_ICT));
            if let (Some(ict), false, true) = (ict, was_on, version > 0) {
                m.configuration
                    .insert(ICT_ENABLEMENT_VERSION.into(), version.to_string());
                m.configuration
                    .insert(ICT_ENABLEMENT_TIMESTAMP.into(), ict.to_string());
            }
            lines.push(action_to_json_line(&Action::Metadata(Box::new(m))));
        }
        if let Some(t) = &self.app_txn {
            let mut t = t.clone();
            t.last_updated = Some(now);
            lines.push(action_to_json_line(&Action::Txn(t)));
        }
        for a in &self.other {
            lines.push(action_to_json_line(a));
        }
        let row_tracking = protocol.has_feature(&TableFeature::RowTracking);
        let mut hwm = state.row_id_hwm.unwrap_or(-1);
        for add in &self.adds {
            // Every new file gets fresh default row ids (rewritten rows keep
            // theirs through the materialized row-id column).
            if row_tracking && add.base_row_id.is_none() {
                let records = add
                    .parsed_stats()
                    .ok()
                    .flatten()
                    .and_then(|s| s.num_records)
                    .ok_or_else(|| LogError::InvalidTransaction {
                        table: self.table(),
                        reason: format!(
                            "row tracking needs numRecords in the statistics of {}",
                            add.path
                        ),
                    })?;
                let mut add = add.clone();
                add.base_row_id = Some(hwm + 1);
                add.default_row_commit_version = Some(version as i64);
                hwm += records;
                lines.push(action_to_json_line(&Action::Add(Box::new(add))));
            } else {
                lines.push(action_to_json_line(&Action::Add(Box::new(add.clone()))));
            }
        }
        if row_tracking && Some(hwm) != state.row_id_hwm && hwm >= 0 {
            lines.push(action_to_json_line(&Action::DomainMetadata(
                DomainMetadata {
                    domain: ROW_TRACKING_DOMAIN.into(),
                    configuration: format!(r#"{{"rowIdHighWaterMark":{hwm}}}"#),
                    removed: false,
                },
            )));
        }
        for r in &self.removes {
            lines.push(action_to_json_line(&Action::Remove(Box::new(r.clone()))));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        Ok((Bytes::from(text), ict))
    }

    /// Commits: writes the next version, rebasing over concurrent commits
    /// that do not conflict.
    pub async fn commit(self) -> LogResult<CommitOutcome> {
        let table = self.table();
        let mut state = RebaseState {
            protocol: self.read_protocol.clone(),
            metadata: self.read_metadata.clone(),
            last_ict: self.read_ict,
            row_id_hwm: self.read_row_id_hwm,
        };
        let (Some(protocol), Some(metadata)) = (
            self.new_protocol.clone().or(state.protocol.clone()),
            self.new_metadata.clone().or(state.metadata.clone()),
        ) else {
            return Err(LogError::InvalidTransaction {
                table,
                reason: "a transaction needs a protocol and metadata (create the table first)"
                    .into(),
            });
        };
        self.validate(&protocol, &metadata)?;
        if let Some(t) = &self.app_txn
            && self
                .known_app_versions
                .get(&t.app_id)
                .is_some_and(|v| *v >= t.version)
        {
            return Ok(CommitOutcome::AlreadyApplied {
                app_id: t.app_id.clone(),
                app_version: t.version,
                table_version: self.read_version.unwrap_or(0),
            });
        }
        if self.read_version.is_none() {
            // Creating: version 0 must be the first file of the log (a log
            // whose version 0 was cleaned up still is a table).
            let existing = self
                .store
                .list(crate::log_path::LOG_DIR, None)
                .await
                .map_err(|source| LogError::Storage {
                    table: table.clone(),
                    source,
                })?;
            if existing
                .iter()
                .any(|f| crate::log_path::LogFileName::parse(&f.path).is_some())
            {
                return Err(LogError::TableAlreadyExists { table });
            }
        }
        let footprint = self.footprint(&metadata);
        let txn_id = self.options.env.new_id().to_string();
        let mut version = self.read_version.map_or(0, |v| v + 1);
        let mut retries = 0usize;
        // The bytes tried at a version are kept while the version is tried
        // again, so an earlier put that lands late is still recognised.
        let mut rendered: Option<(u64, Bytes, Option<i64>)> = None;
        loop {
            let (bytes, ict) = match &rendered {
                Some((v, b, i)) if *v == version => (b.clone(), *i),
                _ => {
                    let now = self.options.env.now_ms();
                    let (b, i) = self.render(version, &state, &txn_id, now)?;
                    rendered = Some((version, b.clone(), i));
                    (b, i)
                }
            };
            let path = commit_path(version);
            let written = match self.store.put_if_absent(&path, bytes.clone()).await {
                Ok(()) => true,
                Err(StorageError::AlreadyExists { .. }) => false,
                Err(e) => {
                    resolve_uncertain_put(self.store.as_ref(), &path, &bytes, version, e).await?
                }
            };
            if written {
                return Ok(CommitOutcome::Committed(
                    self.post_commit(version, retries, ict, &state, &metadata)
                        .await,
                ));
            }
            // "Already exists" need not mean a winner: a store can answer
            // so without writing (S3's 409 on a conflicting request). With
            // nothing at `version`, the put is tried again.
            let mut w = version;
            let mut nothing_there = false;
            loop {
                let winner = match self.store.read(&commit_path(w)).await {
                    Ok(b) => b,
                    Err(StorageError::NotFound { .. }) if w > version => break,
                    Err(StorageError::NotFound { .. }) => {
                        nothing_there = true;
                        break;
                    }
                    Err(source) => return Err(LogError::Storage { table, source }),
                };
                if self.read_version.is_none() && winner != bytes {
                    return Err(LogError::TableAlreadyExists { table });
                }
                if winner == bytes {
                    // Our own earlier attempt landed (a retried put).
                    return Ok(CommitOutcome::Committed(
                        self.post_commit(w, retries, ict, &state, &metadata).await,
                    ));
                }
                let actions = parse_log_file(&table, w, &commit_path(w), &winner)?;
                // Our own attempt rendered for this version earlier (a put
                // that landed late): the same transaction id.
                let ours = actions.iter().find_map(|a| match a {
                    Action::CommitInfo(c) => {
                        Some(c.other.get("txnId").and_then(Value::as_str) == Some(txn_id.as_str()))
                    }
                    _ => None,
                });
                if ours == Some(true) {
                    let ict = actions.iter().find_map(|a| match a {
                        Action::CommitInfo(c) => c.in_commit_timestamp,
                        _ => None,
                    });
                    return Ok(CommitOutcome::Committed(
                        self.post_commit(w, retries, ict, &state, &metadata).await,
                    ));
                }
                let summary = WinnerSummary::from_actions(w, &actions);
                if let Some(t) = &self.app_txn
                    && summary.txns.get(&t.app_id).is_some_and(|v| *v >= t.version)
                {
                    return Ok(CommitOutcome::AlreadyApplied {
                        app_id: t.app_id.clone(),
                        app_version: t.version,
                        table_version: w,
                    });
                }
                let read_meta = state.metadata.clone().unwrap_or_else(|| metadata.clone());
                if let Err(conflict) = check_winner(&footprint, &read_meta, &summary) {
                    return Ok(CommitOutcome::Conflict(conflict));
                }
                if let Some(p) = &summary.protocol {
                    check_writable(&table, w, p)?;
                    state.protocol = Some(p.clone());
                }
                if let Some(m) = summary.metadata {
                    state.metadata = Some(m);
                }
                if let Some(t) = summary.in_commit_timestamp {
                    state.last_ict = Some(t);
                }
                if let Some(h) = summary.row_id_high_water_mark {
                    state.row_id_hwm = Some(h);
                }
                w += 1;
            }
            if !nothing_there {
                version = w;
            }
            retries += 1;
            if retries > self.options.max_retries {
                return Err(LogError::CommitRetriesExhausted {
                    table,
                    retries: self.options.max_retries,
                    last_version: version.saturating_sub(1),
                });
            }
        }
    }
}

impl Transaction {
    /// Runs the post-commit hook: a checkpoint (with `.crc` and
    /// `_last_checkpoint`) every `delta.checkpointInterval` versions.
    async fn post_commit(
        &self,
        version: u64,
        retries: usize,
        ict: Option<i64>,
        state: &RebaseState,
        metadata: &Metadata,
    ) -> Committed {
        let metadata = self
            .new_metadata
            .as_ref()
            .or(state.metadata.as_ref())
            .unwrap_or(metadata);
        let interval = metadata
            .property(crate::properties::CHECKPOINT_INTERVAL)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(DEFAULT_CHECKPOINT_INTERVAL);
        let mut committed = Committed {
            version,
            retries,
            in_commit_timestamp: ict,
            checkpointed: false,
            post_commit_error: None,
        };
        if self.options.auto_checkpoint && version > 0 && version % interval == 0 {
            let result = async {
                let snapshot = Snapshot::builder(self.store.clone())
                    .at_version(version)
                    .load()
                    .await?;
                let options = crate::checkpoint_write::CheckpointOptions {
                    now_ms: self.options.env.now_ms(),
                    env: self.options.env.clone(),
                    ..Default::default()
                };
                snapshot.write_checkpoint(&options).await
            }
            .await;
            match result {
                Ok(_) => committed.checkpointed = true,
                Err(e) => {
                    // The commit stands; a missing checkpoint only slows
                    // later loads. Reported where operators look.
                    tracing::warn!(
                        table = %self.store.location(),
                        version,
                        "post-commit checkpoint failed (the commit stands): {e}"
                    );
                    committed.post_commit_error = Some(PostCommitError {
                        version,
                        hook: PostCommitHook::Checkpoint,
                        message: e.to_string(),
                        retryable: e.is_retryable(),
                    });
                }
            }
        }
        committed
    }
}

/// Default `delta.checkpointInterval`.
pub const DEFAULT_CHECKPOINT_INTERVAL: u64 = 10;

/// What the transaction knows about the table as it rebases.
#[derive(Debug, Clone)]
struct RebaseState {
    protocol: Option<Protocol>,
    metadata: Option<Metadata>,
    last_ict: Option<i64>,
    row_id_hwm: Option<i64>,
}

/// A put failed with an error that does not say whether the object landed
/// (a timeout, a 5xx, a 409 on a retried request). Read the object back:
/// our bytes mean it landed, other bytes mean another writer won, nothing
/// means it did not land (and is retried once).
async fn resolve_uncertain_put(
    store: &dyn LogStore,
    path: &str,
    bytes: &Bytes,
    version: u64,
    error: StorageError,
) -> LogResult<bool> {
    let table = store.location().to_string();
    match store.read(path).await {
        Ok(existing) => Ok(existing == *bytes),
        Err(StorageError::NotFound { .. }) => {
            match store.put_if_absent(path, bytes.clone()).await {
                Ok(()) => Ok(true),
                Err(StorageError::AlreadyExists { .. }) => match store.read(path).await {
                    Ok(existing) => Ok(existing == *bytes),
                    Err(source) => Err(LogError::CommitUncertain {
                        table,
                        version,
                        message: source.to_string(),
                    }),
                },
                Err(second) => Err(LogError::CommitUncertain {
                    table,
                    version,
                    message: format!("{error}; retry: {second}"),
                }),
            }
        }
        Err(read_error) => Err(LogError::CommitUncertain {
            table,
            version,
            message: format!("{error}; reading back: {read_error}"),
        }),
    }
}

/// What a caller records in a commit beside its data: an application
/// transaction (idempotent writes: app id and version) and domain metadata
/// (for example a pipeline flow's source progress). Committed atomically
/// with the data, so progress and output cannot drift apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStamp {
    /// `(app id, version)`: the commit is skipped as already applied when
    /// the table holds this app at this version or later.
    pub app_transaction: Option<(String, i64)>,
    /// Domain metadata written by the commit (the table needs the
    /// `domainMetadata` writer feature).
    pub domains: Vec<crate::actions::DomainMetadata>,
}

impl CommitStamp {
    /// Whether the stamp records nothing.
    pub fn is_empty(&self) -> bool {
        self.app_transaction.is_none() && self.domains.is_empty()
    }
}
