//! Table property keys (`metaData.configuration`) silt reads or writes, in
//! one place. Column metadata keys live with the column rules
//! (`column_rules`, `schema`), domain names with their domains.

/// Commits between automatic checkpoints (default 10).
pub const CHECKPOINT_INTERVAL: &str = "delta.checkpointInterval";
/// `classic` or `v2` checkpoints.
pub const CHECKPOINT_POLICY: &str = "delta.checkpointPolicy";
/// `none`, `id` or `name` column mapping.
pub const COLUMN_MAPPING_MODE: &str = "delta.columnMapping.mode";
/// The largest column id given out under column mapping.
pub const COLUMN_MAPPING_MAX_ID: &str = "delta.columnMapping.maxColumnId";
/// Whether commits write change data files (`cdc` actions).
pub const ENABLE_CHANGE_DATA_FEED: &str = "delta.enableChangeDataFeed";
/// Whether row ids and row commit versions are tracked.
pub const ENABLE_ROW_TRACKING: &str = "delta.enableRowTracking";
/// Whether DELETE, UPDATE and MERGE may write deletion vectors.
pub const ENABLE_DELETION_VECTORS: &str = "delta.enableDeletionVectors";
/// Whether commits carry in-commit timestamps.
pub const ENABLE_IN_COMMIT_TIMESTAMPS: &str = "delta.enableInCommitTimestamps";
/// The version in-commit timestamps were enabled at.
pub const ICT_ENABLEMENT_VERSION: &str = "delta.inCommitTimestampEnablementVersion";
/// The in-commit timestamp of that version.
pub const ICT_ENABLEMENT_TIMESTAMP: &str = "delta.inCommitTimestampEnablementTimestamp";
/// Whether column types may widen.
pub const ENABLE_TYPE_WIDENING: &str = "delta.enableTypeWidening";
/// Whether the table refuses removes of data (appends only).
pub const APPEND_ONLY: &str = "delta.appendOnly";
/// How long removed files are kept before VACUUM may delete them.
pub const DELETED_FILE_RETENTION_DURATION: &str = "delta.deletedFileRetentionDuration";
/// How long log files are kept behind a checkpoint.
pub const LOG_RETENTION_DURATION: &str = "delta.logRetentionDuration";
/// The physical column holding materialized row ids.
pub const MATERIALIZED_ROW_ID: &str = "delta.rowTracking.materializedRowIdColumnName";
/// The physical column holding materialized row commit versions.
pub const MATERIALIZED_ROW_COMMIT_VERSION: &str =
    "delta.rowTracking.materializedRowCommitVersionColumnName";
/// Row tracking suspended: new files get no row ids.
pub const ROW_TRACKING_SUSPENDED: &str = "delta.rowTrackingSuspended";
/// `Serializable` or `WriteSerializable` (the default).
pub const ISOLATION_LEVEL: &str = "delta.isolationLevel";
/// Checkpoint protection: log cleanup keeps versions before this one only
/// with a checkpoint protecting them.
pub const REQUIRE_CHECKPOINT_PROTECTION_BEFORE_VERSION: &str =
    "delta.requireCheckpointProtectionBeforeVersion";
/// Prefix of CHECK constraints (`delta.constraints.<name>`).
pub const CONSTRAINTS_PREFIX: &str = "delta.constraints.";
/// Prefix of feature requests (`delta.feature.<name> = supported`), which
/// are not kept as properties.
pub const FEATURE_PREFIX: &str = "delta.feature.";
