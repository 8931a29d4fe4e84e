//! The conflict checker: decides, without I/O, whether a transaction that
//! lost the race for a version may be rebased onto a winning commit, and
//! which rule forbids it if not. It follows the reference implementation's
//! checks, in its order: protocol, metadata, domain metadata, application
//! transactions, concurrent appends, deletes of read files, double deletes.
//! Row ids and in-commit timestamps are not conflicts: they are re-assigned
//! when the transaction is rebased.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::actions::{Action, Metadata, PartitionValues, Protocol};

/// How strictly concurrent writers are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Reads and writes serializable in log order: any concurrent data added
    /// where this transaction read conflicts.
    Serializable,
    /// Writes serializable: concurrent blind appends are allowed, as if they
    /// had committed first.
    #[default]
    WriteSerializable,
    /// Only modified data is protected (used for transactions that do not
    /// change data, like compaction).
    SnapshotIsolation,
}

impl IsolationLevel {
    /// Parses `delta.isolationLevel`.
    pub fn from_property(value: &str) -> Option<Self> {
        match value {
            "Serializable" => Some(Self::Serializable),
            "WriteSerializable" => Some(Self::WriteSerializable),
            "SnapshotIsolation" => Some(Self::SnapshotIsolation),
            _ => None,
        }
    }
}

/// The rule that made a transaction fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictRule {
    /// Both changed the protocol, or the winner's protocol cannot be
    /// written by silt.
    ProtocolChanged,
    /// The winner changed metadata in a way this transaction cannot adopt.
    MetadataChanged,
    /// Both wrote the same domain.
    ConcurrentDomainMetadata,
    /// The winner wrote a `txn` for an application id this transaction read.
    ConcurrentTransaction,
    /// The winner added data where this transaction read.
    ConcurrentAppend,
    /// The winner removed a file this transaction read.
    ConcurrentDeleteRead,
    /// Both removed the same file.
    ConcurrentDeleteDelete,
}

impl fmt::Display for ConflictRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ProtocolChanged => "concurrent protocol change",
            Self::MetadataChanged => "concurrent metadata change",
            Self::ConcurrentDomainMetadata => "concurrent change of the same domain metadata",
            Self::ConcurrentTransaction => "concurrent transaction for the same application id",
            Self::ConcurrentAppend => "concurrent append into data this transaction read",
            Self::ConcurrentDeleteRead => "concurrent delete of a file this transaction read",
            Self::ConcurrentDeleteDelete => "concurrent delete of a file this transaction deletes",
        })
    }
}

/// A conflict: the rule, the winning version and what collided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The rule.
    pub rule: ConflictRule,
    /// The winning commit's version.
    pub winning_version: u64,
    /// What collided (a path, partition, domain or app id).
    pub detail: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (winning version {}: {})",
            self.rule, self.winning_version, self.detail
        )
    }
}

/// What a transaction read and intends to write, as far as conflicts go.
#[derive(Debug, Clone, Default)]
pub struct TxnFootprint {
    /// Isolation level in force.
    pub isolation: IsolationLevel,
    /// Whether the transaction read the whole table.
    pub read_whole_table: bool,
    /// Partitions it read (exact partition values), when not the whole table.
    pub read_partitions: Vec<PartitionValues>,
    /// Paths of files it read.
    pub read_files: HashSet<String>,
    /// Application ids whose `txn` version it read.
    pub read_app_ids: HashSet<String>,
    /// Whether it is a blind append (only adds, read nothing).
    pub blind_append: bool,
    /// Whether it changes metadata.
    pub changes_metadata: bool,
    /// Whether it changes the protocol.
    pub changes_protocol: bool,
    /// Paths it removes.
    pub removes: HashSet<String>,
    /// Domains it writes (`delta.rowTracking` excluded: it is re-assigned).
    pub domains: HashSet<String>,
    /// Whether the table is partitioned (an unpartitioned table's read of
    /// any data is a read of the whole table).
    pub partitioned: bool,
}

/// What a winning commit did, as far as conflicts go.
#[derive(Debug, Clone, Default)]
pub struct WinnerSummary {
    /// Its version.
    pub version: u64,
    /// Its protocol action.
    pub protocol: Option<Protocol>,
    /// Its metadata action.
    pub metadata: Option<Metadata>,
    /// Partition values of its `add`s with `dataChange = true`.
    pub data_adds: Vec<(String, PartitionValues)>,
    /// Paths of its `remove`s (any dataChange).
    pub removes: Vec<String>,
    /// Application ids of its `txn`s, with their versions.
    pub txns: HashMap<String, i64>,
    /// Domains it wrote.
    pub domains: HashSet<String>,
    /// Whether its commitInfo says it was a blind append.
    pub blind_append: bool,
    /// Its in-commit timestamp, when it has one.
    pub in_commit_timestamp: Option<i64>,
    /// Its row-id high-water mark, when it wrote one.
    pub row_id_high_water_mark: Option<i64>,
}

/// The domain that carries the row-tracking high-water mark.
pub const ROW_TRACKING_DOMAIN: &str = "delta.rowTracking";

impl WinnerSummary {
    /// Summarizes a winning commit's actions.
    pub fn from_actions(version: u64, actions: &[Action]) -> Self {
        let mut s = WinnerSummary {
            version,
            ..Default::default()
        };
        for a in actions {
            match a {
                Action::Protocol(p) => s.protocol = Some(p.clone()),
                Action::Metadata(m) => s.metadata = Some((**m).clone()),
                Action::Add(add) if add.data_change => s
                    .data_adds
                    .push((add.path.to_string(), add.partition_values.clone())),
                Action::Remove(r) => s.removes.push(r.path.to_string()),
                Action::Txn(t) => {
                    s.txns.insert(t.app_id.clone(), t.version);
                }
                Action::DomainMetadata(d) => {
                    if d.domain == ROW_TRACKING_DOMAIN {
                        s.row_id_high_water_mark = row_id_high_water_mark(&d.configuration);
                    }
                    s.domains.insert(d.domain.clone());
                }
                Action::CommitInfo(c) => {
                    s.blind_append = c.is_blind_append.unwrap_or(false);
                    s.in_commit_timestamp = c.in_commit_timestamp;
                }
                _ => {}
            }
        }
        s
    }
}

/// Reads `rowIdHighWaterMark` from the row-tracking domain's configuration.
pub fn row_id_high_water_mark(configuration: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(configuration)
        .ok()?
        .get("rowIdHighWaterMark")?
        .as_i64()
}

/// Table properties a winner may add or change under a transaction that
/// does not itself change metadata (they do not change what the
/// transaction read or wrote).
const ADOPTABLE_PROPERTIES: &[&str] = &[
    crate::properties::ENABLE_ROW_TRACKING,
    crate::properties::ENABLE_DELETION_VECTORS,
    crate::properties::CHECKPOINT_POLICY,
    crate::properties::ENABLE_IN_COMMIT_TIMESTAMPS,
    crate::properties::ICT_ENABLEMENT_VERSION,
    crate::properties::ICT_ENABLEMENT_TIMESTAMP,
    crate::properties::COLUMN_MAPPING_MAX_ID,
    crate::properties::MATERIALIZED_ROW_ID,
    crate::properties::MATERIALIZED_ROW_COMMIT_VERSION,
    crate::properties::CHECKPOINT_INTERVAL,
    crate::properties::LOG_RETENTION_DURATION,
    crate::properties::DELETED_FILE_RETENTION_DURATION,
];

/// Whether `winner` only adds or changes adoptable properties relative to
/// `read`, with the same schema (up to identity high-water marks, which an
/// identity-generating append moves) and partitioning.
fn metadata_change_is_adoptable(read: &Metadata, winner: &Metadata) -> bool {
    if read.id != winner.id
        || (read.schema() != winner.schema()
            && !crate::column_rules::differs_only_in_high_water_marks(
                read.schema(),
                winner.schema(),
            ))
        || read.partition_columns != winner.partition_columns
    {
        return false;
    }
    // Nothing removed; every added or changed key adoptable.
    read.configuration
        .keys()
        .all(|k| winner.configuration.contains_key(k))
        && winner.configuration.iter().all(|(k, v)| {
            read.configuration.get(k) == Some(v) || ADOPTABLE_PROPERTIES.contains(&k.as_str())
        })
}

fn partition_matches(add: &PartitionValues, read: &PartitionValues) -> bool {
    read.iter().all(|(col, v)| add.get(col) == Some(v))
}

/// Checks one winning commit against the transaction. `read_metadata` is
/// the metadata the transaction read (or adopted from an earlier winner).
pub fn check_winner(
    txn: &TxnFootprint,
    read_metadata: &Metadata,
    winner: &WinnerSummary,
) -> Result<(), Conflict> {
    let conflict = |rule, detail: String| {
        Err(Conflict {
            rule,
            winning_version: winner.version,
            detail,
        })
    };
    // 1. Protocol.
    if winner.protocol.is_some() && txn.changes_protocol {
        return conflict(
            ConflictRule::ProtocolChanged,
            "both transactions change the protocol".into(),
        );
    }
    // 2. Metadata.
    if let Some(m) = &winner.metadata {
        if txn.changes_metadata {
            return conflict(
                ConflictRule::MetadataChanged,
                "both transactions change the table metadata".into(),
            );
        }
        if !metadata_change_is_adoptable(read_metadata, m) {
            return conflict(
                ConflictRule::MetadataChanged,
                "the winner changed the schema, partitioning or properties this transaction depends on"
                    .into(),
            );
        }
    }
    // 3. Domain metadata.
    if let Some(d) = winner
        .domains
        .iter()
        .find(|d| d.as_str() != ROW_TRACKING_DOMAIN && txn.domains.contains(*d))
    {
        return conflict(
            ConflictRule::ConcurrentDomainMetadata,
            format!("domain {d:?}"),
        );
    }
    // 4. Application transactions.
    if let Some(app) = winner.txns.keys().find(|a| txn.read_app_ids.contains(*a)) {
        return conflict(
            ConflictRule::ConcurrentTransaction,
            format!("application id {app:?}"),
        );
    }
    // 6. Concurrent appends into what this transaction read.
    let candidates: &[(String, PartitionValues)] = match txn.isolation {
        _ if txn.blind_append => &[],
        IsolationLevel::Serializable => &winner.data_adds,
        IsolationLevel::WriteSerializable if winner.blind_append && !txn.changes_metadata => &[],
        IsolationLevel::WriteSerializable => &winner.data_adds,
        IsolationLevel::SnapshotIsolation => &[],
    };
    let reads_data =
        txn.read_whole_table || !txn.read_files.is_empty() || !txn.read_partitions.is_empty();
    if let Some((path, _)) = candidates.iter().find(|(_, pv)| {
        txn.read_whole_table
            || (!txn.partitioned && reads_data)
            || txn.read_partitions.iter().any(|r| partition_matches(pv, r))
    }) {
        return conflict(ConflictRule::ConcurrentAppend, format!("added file {path}"));
    }
    // 7. Deletes of files this transaction read.
    if let Some(path) = winner
        .removes
        .iter()
        .find(|p| txn.read_whole_table || txn.read_files.contains(*p))
    {
        return conflict(
            ConflictRule::ConcurrentDeleteRead,
            format!("removed file {path}"),
        );
    }
    // 8. Deletes of files this transaction deletes.
    if let Some(path) = winner.removes.iter().find(|p| txn.removes.contains(*p)) {
        return conflict(ConflictRule::ConcurrentDeleteDelete, format!("file {path}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(config: &[(&str, &str)]) -> Metadata {
        let mut m: Metadata = serde_json::from_str(
            r#"{"id":"t","schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"p\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":["p"],"configuration":{}}"#,
        )
        .unwrap();
        m.configuration = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m
    }

    fn pv(p: &str) -> PartitionValues {
        [("p".to_string(), Some(p.to_string()))]
            .into_iter()
            .collect()
    }

    fn winner_adding(p: &str, blind: bool) -> WinnerSummary {
        WinnerSummary {
            version: 5,
            data_adds: vec![(format!("p={p}/f.parquet"), pv(p))],
            blind_append: blind,
            ..Default::default()
        }
    }

    #[test]
    fn blind_appends_never_conflict_with_each_other() {
        let txn = TxnFootprint {
            blind_append: true,
            partitioned: true,
            ..Default::default()
        };
        assert!(check_winner(&txn, &meta(&[]), &winner_adding("a", true)).is_ok());
        assert!(check_winner(&txn, &meta(&[]), &winner_adding("a", false)).is_ok());
    }

    #[test]
    fn appends_into_read_partitions_depend_on_isolation() {
        let mut txn = TxnFootprint {
            read_partitions: vec![pv("a")],
            partitioned: true,
            ..Default::default()
        };
        // WriteSerializable: a blind append is fine, a non-blind add is not.
        assert!(check_winner(&txn, &meta(&[]), &winner_adding("a", true)).is_ok());
        let c = check_winner(&txn, &meta(&[]), &winner_adding("a", false)).unwrap_err();
        assert_eq!(
            (c.rule, c.winning_version),
            (ConflictRule::ConcurrentAppend, 5)
        );
        // Other partitions never conflict.
        assert!(check_winner(&txn, &meta(&[]), &winner_adding("b", false)).is_ok());
        // Serializable: even blind appends conflict.
        txn.isolation = IsolationLevel::Serializable;
        assert!(check_winner(&txn, &meta(&[]), &winner_adding("a", true)).is_err());
        txn.isolation = IsolationLevel::SnapshotIsolation;
        assert!(check_winner(&txn, &meta(&[]), &winner_adding("a", false)).is_ok());
    }

    #[test]
    fn deletes() {
        let txn = TxnFootprint {
            read_files: ["x".to_string()].into(),
            removes: ["y".to_string()].into(),
            ..Default::default()
        };
        let w = |p: &str| WinnerSummary {
            version: 3,
            removes: vec![p.to_string()],
            ..Default::default()
        };
        assert_eq!(
            check_winner(&txn, &meta(&[]), &w("x")).unwrap_err().rule,
            ConflictRule::ConcurrentDeleteRead
        );
        assert_eq!(
            check_winner(&txn, &meta(&[]), &w("y")).unwrap_err().rule,
            ConflictRule::ConcurrentDeleteDelete
        );
        assert!(check_winner(&txn, &meta(&[]), &w("z")).is_ok());
    }

    #[test]
    fn metadata_protocol_txn_domain() {
        let read = meta(&[]);
        let w = WinnerSummary {
            version: 1,
            metadata: Some(meta(&[("delta.enableDeletionVectors", "true")])),
            ..Default::default()
        };
        assert!(
            check_winner(&TxnFootprint::default(), &read, &w).is_ok(),
            "adoptable"
        );
        let w2 = WinnerSummary {
            version: 1,
            metadata: Some(meta(&[("delta.appendOnly", "true")])),
            ..Default::default()
        };
        assert_eq!(
            check_winner(&TxnFootprint::default(), &read, &w2)
                .unwrap_err()
                .rule,
            ConflictRule::MetadataChanged
        );
        let changes = TxnFootprint {
            changes_metadata: true,
            ..Default::default()
        };
        assert!(check_winner(&changes, &read, &w).is_err());
        let app = TxnFootprint {
            read_app_ids: ["stream".to_string()].into(),
            ..Default::default()
        };
        let w3 = WinnerSummary {
            version: 2,
            txns: [("stream".to_string(), 7)].into(),
            ..Default::default()
        };
        assert_eq!(
            check_winner(&app, &read, &w3).unwrap_err().rule,
            ConflictRule::ConcurrentTransaction
        );
        let dom = TxnFootprint {
            domains: ["delta.clustering".to_string()].into(),
            ..Default::default()
        };
        let w4 = WinnerSummary {
            version: 2,
            domains: [
                "delta.clustering".to_string(),
                ROW_TRACKING_DOMAIN.to_string(),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            check_winner(&dom, &read, &w4).unwrap_err().rule,
            ConflictRule::ConcurrentDomainMetadata
        );
    }

    #[test]
    fn identity_high_water_mark_moves_are_adoptable() {
        let mut read = meta(&[]);
        let mut id = crate::schema::StructField::new(
            "id",
            crate::schema::DataType::Primitive(crate::schema::PrimitiveType::Long),
            true,
        );
        id.metadata
            .insert(crate::column_rules::IDENTITY_START.into(), 1.into());
        id.metadata
            .insert(crate::column_rules::IDENTITY_STEP.into(), 1.into());
        let mut schema = read.schema().clone();
        schema.fields.push(id);
        read.set_schema(schema);
        let moved = read
            .clone()
            .with_schema(crate::column_rules::with_high_water_marks(
                read.schema(),
                &[("id".into(), 10)],
            ));
        let w = WinnerSummary {
            version: 1,
            metadata: Some(moved),
            ..Default::default()
        };
        // A delete (no metadata of its own) adopts an identity append's marks.
        assert!(check_winner(&TxnFootprint::default(), &read, &w).is_ok());
        // Another identity append (which moves the marks too) conflicts.
        let identity_append = TxnFootprint {
            changes_metadata: true,
            ..Default::default()
        };
        assert_eq!(
            check_winner(&identity_append, &read, &w).unwrap_err().rule,
            ConflictRule::MetadataChanged
        );
    }
}
