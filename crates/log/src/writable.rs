//! Which tables silt can write: the writer protocol versions and writer
//! features it implements at the log level, and the refusal (naming what
//! is missing) for any other table, before anything is written.

use crate::actions::Protocol;
use crate::error::{LogError, LogResult};
use crate::features::TableFeature;

/// Writer features silt implements at the log level. A transaction on a
/// table using any other writer feature is refused before anything is
/// written.
fn silt_can_write(feature: &TableFeature) -> bool {
    use TableFeature::*;
    matches!(
        feature,
        AppendOnly
            | Invariants
            | CheckConstraints
            | ChangeDataFeed
            | GeneratedColumns
            | ColumnMapping
            | IdentityColumns
            | DeletionVectors
            | RowTracking
            | TimestampNtz
            | DomainMetadata
            | V2Checkpoint
            | VacuumProtocolCheck
            | InCommitTimestamp
            | TypeWidening
            | TypeWideningPreview
            | VariantType
            | VariantTypePreview
            | CheckpointProtection
            | AllowColumnDefaults
            | Clustering
    )
}

/// What silt lacks to write a table with feature `f`, for the refusal.
fn missing_for(f: &TableFeature) -> &'static str {
    use TableFeature::*;
    match f {
        IcebergCompatV1
        | IcebergCompatV2
        | IcebergCompatV3
        | IcebergWriterCompatV1
        | IcebergWriterCompatV3 => {
            ": Iceberg compatibility needs data files with partition values materialized in the Parquet files and Iceberg field ids, which silt does not write"
        }
        MaterializePartitionColumns => {
            ": partition values must be written into the data files too, which silt does not do"
        }
        CatalogManaged => {
            ": commits must go through the table's catalog, which silt does not talk to"
        }
        Unknown(_) => ": the feature is unknown to silt",
        _ => "",
    }
}

/// Refuses a protocol silt cannot write.
pub fn check_writable(table: &str, version: u64, protocol: &Protocol) -> LogResult<()> {
    if protocol.min_writer_version > crate::features::MAX_WRITER_VERSION {
        return Err(LogError::UnsupportedWriter {
            table: table.to_string(),
            version,
            reason: format!("writer protocol version {}", protocol.min_writer_version),
        });
    }
    if let Some(f) = protocol
        .effective_writer_features()
        .into_iter()
        .find(|f| !silt_can_write(f))
    {
        return Err(LogError::UnsupportedWriter {
            table: table.to_string(),
            version,
            reason: format!("writer feature {:?}{}", f.name(), missing_for(&f)),
        });
    }
    Ok(())
}
