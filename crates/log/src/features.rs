//! Table features and protocol versions: which features a `protocol` action
//! enables (explicitly, or implied by legacy versions) and whether silt can
//! read a table that uses them.

use std::fmt;
use std::str::FromStr;

/// Highest reader version silt understands.
pub const MAX_READER_VERSION: i32 = 3;
/// Highest writer version silt understands.
pub const MAX_WRITER_VERSION: i32 = 7;

/// Every table feature named by the Delta protocol, plus any unknown name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableFeature {
    /// `appendOnly` (writer).
    AppendOnly,
    /// `invariants` (writer).
    Invariants,
    /// `checkConstraints` (writer).
    CheckConstraints,
    /// `changeDataFeed` (writer).
    ChangeDataFeed,
    /// `generatedColumns` (writer).
    GeneratedColumns,
    /// `columnMapping` (reader + writer).
    ColumnMapping,
    /// `identityColumns` (writer).
    IdentityColumns,
    /// `deletionVectors` (reader + writer).
    DeletionVectors,
    /// `rowTracking` (writer).
    RowTracking,
    /// `timestampNtz` (reader + writer).
    TimestampNtz,
    /// `domainMetadata` (writer).
    DomainMetadata,
    /// `v2Checkpoint` (reader + writer).
    V2Checkpoint,
    /// `icebergCompatV1` (writer).
    IcebergCompatV1,
    /// `icebergCompatV2` (writer).
    IcebergCompatV2,
    /// `clustering` (writer).
    Clustering,
    /// `vacuumProtocolCheck` (reader + writer).
    VacuumProtocolCheck,
    /// `inCommitTimestamp` (writer).
    InCommitTimestamp,
    /// `typeWidening` (reader + writer).
    TypeWidening,
    /// `typeWidening-preview` (reader + writer).
    TypeWideningPreview,
    /// `variantType` (reader + writer).
    VariantType,
    /// `variantType-preview` (reader + writer).
    VariantTypePreview,
    /// `variantShredding-preview` (reader + writer).
    VariantShreddingPreview,
    /// `allowColumnDefaults` (writer).
    AllowColumnDefaults,
    /// `checkpointProtection` (writer).
    CheckpointProtection,
    /// `catalogManaged` (reader + writer): commits are staged through a catalog.
    CatalogManaged,
    /// `catalogOwned-preview` (reader + writer).
    CatalogOwnedPreview,
    /// `collations-preview` (writer).
    CollationsPreview,
    /// `geospatial` (reader + writer).
    Geospatial,
    /// `icebergWriterCompatV1` (writer).
    IcebergWriterCompatV1,
    /// `variantShredding` (reader + writer).
    VariantShredding,
    /// `icebergCompatV3` (writer).
    IcebergCompatV3,
    /// `icebergWriterCompatV3` (writer).
    IcebergWriterCompatV3,
    /// `materializePartitionColumns` (writer).
    MaterializePartitionColumns,
    /// `collations` (writer).
    Collations,
    /// `timestampNanos` (reader + writer).
    TimestampNanos,
    /// `geospatial-dev` (reader + writer).
    GeospatialDev,
    /// `coordinatedCommits-preview` (writer): commits go through a commit
    /// coordinator and may not be in `_delta_log/` yet.
    CoordinatedCommitsPreview,
    /// `adaptiveMetadata-preview` (reader + writer).
    AdaptiveMetadataPreview,
    /// `redirectReaderWriter-preview` (reader + writer): the table lives elsewhere.
    RedirectReaderWriterPreview,
    /// `redirectWriterOnly-preview` (writer).
    RedirectWriterOnlyPreview,
    /// `columnMappingUsageTracking` (writer, proposed).
    ColumnMappingUsageTracking,
    /// A feature name this version of silt does not know.
    Unknown(String),
}

const NAMES: &[(TableFeature, &str)] = &[
    (TableFeature::AppendOnly, "appendOnly"),
    (TableFeature::Invariants, "invariants"),
    (TableFeature::CheckConstraints, "checkConstraints"),
    (TableFeature::ChangeDataFeed, "changeDataFeed"),
    (TableFeature::GeneratedColumns, "generatedColumns"),
    (TableFeature::ColumnMapping, "columnMapping"),
    (TableFeature::IdentityColumns, "identityColumns"),
    (TableFeature::DeletionVectors, "deletionVectors"),
    (TableFeature::RowTracking, "rowTracking"),
    (TableFeature::TimestampNtz, "timestampNtz"),
    (TableFeature::DomainMetadata, "domainMetadata"),
    (TableFeature::V2Checkpoint, "v2Checkpoint"),
    (TableFeature::IcebergCompatV1, "icebergCompatV1"),
    (TableFeature::IcebergCompatV2, "icebergCompatV2"),
    (TableFeature::Clustering, "clustering"),
    (TableFeature::VacuumProtocolCheck, "vacuumProtocolCheck"),
    (TableFeature::InCommitTimestamp, "inCommitTimestamp"),
    (TableFeature::TypeWidening, "typeWidening"),
    (TableFeature::TypeWideningPreview, "typeWidening-preview"),
    (TableFeature::VariantType, "variantType"),
    (TableFeature::VariantTypePreview, "variantType-preview"),
    (
        TableFeature::VariantShreddingPreview,
        "variantShredding-preview",
    ),
    (TableFeature::AllowColumnDefaults, "allowColumnDefaults"),
    (TableFeature::CheckpointProtection, "checkpointProtection"),
    (TableFeature::CatalogManaged, "catalogManaged"),
    (TableFeature::CatalogOwnedPreview, "catalogOwned-preview"),
    (TableFeature::CollationsPreview, "collations-preview"),
    (TableFeature::Geospatial, "geospatial"),
    (TableFeature::IcebergWriterCompatV1, "icebergWriterCompatV1"),
    (TableFeature::VariantShredding, "variantShredding"),
    (TableFeature::IcebergCompatV3, "icebergCompatV3"),
    (TableFeature::IcebergWriterCompatV3, "icebergWriterCompatV3"),
    (
        TableFeature::MaterializePartitionColumns,
        "materializePartitionColumns",
    ),
    (TableFeature::Collations, "collations"),
    (TableFeature::TimestampNanos, "timestampNanos"),
    (TableFeature::GeospatialDev, "geospatial-dev"),
    (
        TableFeature::CoordinatedCommitsPreview,
        "coordinatedCommits-preview",
    ),
    (
        TableFeature::AdaptiveMetadataPreview,
        "adaptiveMetadata-preview",
    ),
    (
        TableFeature::RedirectReaderWriterPreview,
        "redirectReaderWriter-preview",
    ),
    (
        TableFeature::RedirectWriterOnlyPreview,
        "redirectWriterOnly-preview",
    ),
    (
        TableFeature::ColumnMappingUsageTracking,
        "columnMappingUsageTracking",
    ),
];

impl TableFeature {
    /// The feature's protocol name.
    pub fn name(&self) -> &str {
        if let Self::Unknown(n) = self {
            return n;
        }
        NAMES
            .iter()
            .find(|(f, _)| f == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// Whether the protocol lists this feature among reader features.
    pub fn is_reader_writer(&self) -> bool {
        use TableFeature::*;
        matches!(
            self,
            ColumnMapping
                | DeletionVectors
                | TimestampNtz
                | V2Checkpoint
                | VacuumProtocolCheck
                | TypeWidening
                | TypeWideningPreview
                | VariantType
                | VariantTypePreview
                | VariantShreddingPreview
                | VariantShredding
                | CatalogManaged
                | CatalogOwnedPreview
                | Geospatial
                | GeospatialDev
                | TimestampNanos
                | AdaptiveMetadataPreview
                | RedirectReaderWriterPreview
        )
    }

    /// Whether silt's read path honours this feature when it appears in
    /// `readerFeatures`. Catalog-managed, coordinated-commit and redirected
    /// tables are refused: their latest commits (or the table itself) live
    /// somewhere silt does not talk to, so reading `_delta_log/` alone would
    /// give a stale or wrong table. Nanosecond timestamps and adaptive
    /// metadata are not implemented.
    pub fn silt_can_read(&self) -> bool {
        use TableFeature::*;
        match self {
            ColumnMapping
            | DeletionVectors
            | TimestampNtz
            | V2Checkpoint
            | VacuumProtocolCheck
            | TypeWidening
            | TypeWideningPreview
            | VariantType
            | VariantTypePreview
            | VariantShreddingPreview
            | VariantShredding
            | Geospatial
            | GeospatialDev => true,
            CoordinatedCommitsPreview | RedirectWriterOnlyPreview => false,
            // Writer-only features may be listed as reader features by lenient
            // writers; they change nothing for a reader.
            f if !f.is_reader_writer() && !matches!(f, Unknown(_)) => true,
            _ => false,
        }
    }

    /// Writer features that still change what a reader must do: a table
    /// whose commits go through a coordinator (or that redirects writes)
    /// cannot be read correctly from `_delta_log/` alone.
    pub fn blocks_reading_as_writer_feature(&self) -> bool {
        matches!(
            self,
            TableFeature::CoordinatedCommitsPreview | TableFeature::RedirectWriterOnlyPreview
        )
    }
}

impl FromStr for TableFeature {
    type Err = std::convert::Infallible;
    /// Feature names match case-insensitively, as in the reference
    /// implementation.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(f, _)| f.clone())
            .unwrap_or_else(|| TableFeature::Unknown(s.to_string())))
    }
}

impl fmt::Display for TableFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Writer features implied by a legacy writer version (< 7).
pub fn legacy_writer_features(min_writer_version: i32) -> Vec<TableFeature> {
    use TableFeature::*;
    let mut out = Vec::new();
    if min_writer_version >= 2 {
        out.extend([AppendOnly, Invariants]);
    }
    if min_writer_version >= 3 {
        out.push(CheckConstraints);
    }
    if min_writer_version >= 4 {
        out.extend([ChangeDataFeed, GeneratedColumns]);
    }
    if min_writer_version >= 5 {
        out.push(ColumnMapping);
    }
    if min_writer_version >= 6 {
        out.push(IdentityColumns);
    }
    out
}

/// Reader features implied by a legacy reader version (< 3).
pub fn legacy_reader_features(min_reader_version: i32) -> Vec<TableFeature> {
    if min_reader_version >= 2 {
        vec![TableFeature::ColumnMapping]
    } else {
        Vec::new()
    }
}

/// Why silt refuses to read a protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRefusal {
    /// The reader version is above what silt knows.
    ReaderVersion(i32),
    /// A reader feature silt does not support.
    Feature(String),
}

/// Decides whether silt can read a table with this protocol. Pure.
pub fn check_readable(
    min_reader_version: i32,
    reader_features: Option<&[String]>,
    writer_features: Option<&[String]>,
) -> Result<(), ReadRefusal> {
    if !(1..=MAX_READER_VERSION).contains(&min_reader_version) {
        return Err(ReadRefusal::ReaderVersion(min_reader_version));
    }
    let parse = |name: &String| -> TableFeature { name.parse().unwrap_or_else(|e| match e {}) };
    if min_reader_version == 3 {
        for name in reader_features.unwrap_or_default() {
            if !parse(name).silt_can_read() {
                return Err(ReadRefusal::Feature(name.clone()));
            }
        }
    }
    for name in writer_features.unwrap_or_default() {
        if parse(name).blocks_reading_as_writer_feature() {
            return Err(ReadRefusal::Feature(name.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (f, n) in NAMES {
            assert_eq!(f.name(), *n);
            assert_eq!(n.parse::<TableFeature>().unwrap(), *f);
        }
        assert_eq!(
            "blahabl".parse::<TableFeature>().unwrap(),
            TableFeature::Unknown("blahabl".into())
        );
    }

    #[test]
    fn readability() {
        assert!(check_readable(1, None, None).is_ok());
        assert!(check_readable(2, None, None).is_ok());
        assert_eq!(
            check_readable(99, None, None),
            Err(ReadRefusal::ReaderVersion(99))
        );
        assert_eq!(
            check_readable(0, None, None),
            Err(ReadRefusal::ReaderVersion(0))
        );
        let f = vec!["deletionVectors".to_string(), "blahabl".to_string()];
        assert_eq!(
            check_readable(3, Some(&f), None),
            Err(ReadRefusal::Feature("blahabl".into()))
        );
        let f = vec!["catalogManaged".to_string()];
        assert!(check_readable(3, Some(&f), None).is_err());
        let f = vec![
            "columnMapping".to_string(),
            "V2CHECKPOINT".to_string(),
            "variantShredding".to_string(),
        ];
        assert!(check_readable(3, Some(&f), None).is_ok());
        let w = vec!["coordinatedCommits-preview".to_string()];
        assert!(check_readable(1, None, Some(&w)).is_err());
    }

    #[test]
    fn legacy_versions_imply_features() {
        assert!(legacy_writer_features(1).is_empty());
        assert_eq!(legacy_writer_features(4).len(), 5);
        assert!(legacy_writer_features(6).contains(&TableFeature::IdentityColumns));
        assert_eq!(legacy_reader_features(2), vec![TableFeature::ColumnMapping]);
    }
}
