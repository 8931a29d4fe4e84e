//! Creating tables: the protocol a new table needs for its properties and
//! requested features (legacy versions where they suffice, table features
//! otherwise), and the version-0 metadata.

use std::collections::{BTreeSet, HashMap};

use crate::actions::{Metadata, Protocol};
use crate::column_mapping::{
    COLUMN_MAPPING_MAX_ID, COLUMN_MAPPING_MODE, assign_column_mapping, physical_name,
};
use crate::column_rules::{CURRENT_DEFAULT, GENERATION_EXPRESSION};
use crate::environment::Environment;
use crate::features::{TableFeature, legacy_writer_features};
use crate::schema::StructType;

/// Features a table property turns on.
pub(crate) fn features_for_property(key: &str, value: &str) -> Vec<TableFeature> {
    let on = value.eq_ignore_ascii_case("true");
    match key {
        crate::properties::APPEND_ONLY if on => vec![TableFeature::AppendOnly],
        crate::properties::ENABLE_CHANGE_DATA_FEED if on => vec![TableFeature::ChangeDataFeed],
        crate::properties::ENABLE_DELETION_VECTORS if on => vec![TableFeature::DeletionVectors],
        crate::properties::ENABLE_IN_COMMIT_TIMESTAMPS if on => {
            vec![TableFeature::InCommitTimestamp]
        }
        crate::properties::ENABLE_ROW_TRACKING if on => {
            vec![TableFeature::RowTracking, TableFeature::DomainMetadata]
        }
        crate::properties::CHECKPOINT_POLICY if value == "v2" => vec![TableFeature::V2Checkpoint],
        crate::properties::ENABLE_TYPE_WIDENING if on => vec![TableFeature::TypeWidening],
        crate::properties::COLUMN_MAPPING_MODE if matches!(value, "name" | "id") => {
            vec![TableFeature::ColumnMapping]
        }
        k if k.starts_with(crate::properties::CONSTRAINTS_PREFIX) => {
            vec![TableFeature::CheckConstraints]
        }
        k if k.starts_with(crate::properties::FEATURE_PREFIX) => {
            let name = &k[crate::properties::FEATURE_PREFIX.len()..];
            vec![
                name.parse()
                    .unwrap_or_else(|e: std::convert::Infallible| match e {}),
            ]
        }
        _ => Vec::new(),
    }
}

/// The smallest protocol that supports `features` plus what `properties`
/// need: legacy versions (1, 2..=4) when every feature is implied by one,
/// table features (3, 7) or (1, 7) otherwise.
pub fn protocol_for(
    properties: &HashMap<String, String>,
    requested: &[TableFeature],
    schema: &StructType,
) -> Protocol {
    let mut features: BTreeSet<TableFeature> = requested.iter().cloned().collect();
    for (k, v) in properties {
        features.extend(features_for_property(k, v));
    }
    if schema_uses_timestamp_ntz(schema) {
        features.insert(TableFeature::TimestampNtz);
    }
    if schema_uses_variant(schema) {
        features.insert(TableFeature::VariantType);
    }
    features.extend(schema_rule_features(schema));
    // Legacy writer versions 2..=6 cover these (reader version 2 for
    // column mapping, 1 otherwise).
    for version in 2..=6 {
        let implied: BTreeSet<TableFeature> = legacy_writer_features(version).into_iter().collect();
        if features.is_subset(&implied) {
            return Protocol {
                min_reader_version: if features.contains(&TableFeature::ColumnMapping) {
                    2
                } else {
                    1
                },
                min_writer_version: version,
                reader_features: None,
                writer_features: None,
            };
        }
    }
    // Table features; keep the legacy writer-2 features listed so the table
    // behaves as a legacy table would.
    features.extend([TableFeature::AppendOnly, TableFeature::Invariants]);
    let reader: Vec<String> = features
        .iter()
        .filter(|f| f.is_reader_writer())
        .map(|f| f.name().to_string())
        .collect();
    let writer: Vec<String> = features.iter().map(|f| f.name().to_string()).collect();
    if reader.is_empty() {
        Protocol {
            min_reader_version: 1,
            min_writer_version: 7,
            reader_features: None,
            writer_features: Some(writer),
        }
    } else {
        Protocol {
            min_reader_version: 3,
            min_writer_version: 7,
            reader_features: Some(reader),
            writer_features: Some(writer),
        }
    }
}

pub use crate::properties::{MATERIALIZED_ROW_COMMIT_VERSION, MATERIALIZED_ROW_ID};

/// The hidden row-tracking column names of the table with id `table_id`:
/// unique per table, and the same whichever writer derives them.
pub fn row_tracking_column_names(table_id: &str) -> (String, String) {
    (
        format!("_row-id-col-{table_id}"),
        format!("_row-commit-version-col-{table_id}"),
    )
}

/// With `delta.enableRowTracking=true`, names the hidden row-tracking
/// columns of table `table_id` (unless already named).
pub fn name_row_tracking_columns(properties: &mut HashMap<String, String>, table_id: &str) {
    if properties
        .get(crate::properties::ENABLE_ROW_TRACKING)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let (id, version) = row_tracking_column_names(table_id);
        properties.entry(MATERIALIZED_ROW_ID.into()).or_insert(id);
        properties
            .entry(MATERIALIZED_ROW_COMMIT_VERSION.into())
            .or_insert(version);
    }
}

/// Features the column metadata of a new table's schema needs: identity,
/// generated and default columns, invariants.
fn schema_rule_features(schema: &StructType) -> Vec<TableFeature> {
    let mut out = Vec::new();
    for f in &schema.fields {
        let has = |k: &str| f.metadata.contains_key(k);
        if f.metadata.keys().any(|k| k.starts_with("delta.identity.")) {
            out.push(TableFeature::IdentityColumns);
        }
        if has(GENERATION_EXPRESSION) {
            out.push(TableFeature::GeneratedColumns);
        }
        if has(CURRENT_DEFAULT) {
            out.push(TableFeature::AllowColumnDefaults);
        }
        if has("delta.invariants") {
            out.push(TableFeature::Invariants);
        }
    }
    out
}

/// Whether any field (nested too) has the `variant` type.
pub(crate) fn schema_uses_variant(schema: &StructType) -> bool {
    schema.to_json().contains("\"variant\"")
}

fn schema_uses_timestamp_ntz(schema: &StructType) -> bool {
    schema.to_json().contains("\"timestamp_ntz\"")
}

/// A table definition that cannot be created (not retryable: the request is
/// at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// A partition column the schema does not have.
    #[error("partition column {column:?} is not in the schema")]
    UnknownPartitionColumn {
        /// The partition column.
        column: String,
    },
    /// `delta.columnMapping.mode` is not `none`, `name` or `id`.
    #[error("unknown column mapping mode {mode:?}")]
    UnknownColumnMappingMode {
        /// The mode given.
        mode: String,
    },
}

/// Metadata for a new table, created now by `env`'s clock, with a table
/// id from `env`. With `delta.columnMapping.mode` `name` or `id`, every
/// field gets a column-mapping id and a fresh physical name.
pub fn new_metadata(
    mut schema: StructType,
    partition_columns: Vec<String>,
    mut properties: HashMap<String, String>,
    name: Option<String>,
    env: &dyn Environment,
) -> Result<Metadata, CreateError> {
    for c in &partition_columns {
        if schema.field(c).is_none() {
            return Err(CreateError::UnknownPartitionColumn { column: c.clone() });
        }
    }
    let id = env.new_id().to_string();
    name_row_tracking_columns(&mut properties, &id);
    if let Some(mode) = properties.get(COLUMN_MAPPING_MODE) {
        match mode.as_str() {
            "name" | "id" => {
                let max = assign_column_mapping(&mut schema, 0, &|_| physical_name(env));
                properties.insert(COLUMN_MAPPING_MAX_ID.into(), max.to_string());
            }
            "none" => {}
            other => {
                return Err(CreateError::UnknownColumnMappingMode {
                    mode: other.to_string(),
                });
            }
        }
    }
    // `delta.feature.*` only requests a feature; it is not a property.
    let configuration = properties
        .into_iter()
        .filter(|(k, _)| !k.starts_with(crate::properties::FEATURE_PREFIX))
        .collect();
    let mut metadata = Metadata::new(id, schema, partition_columns, configuration);
    metadata.name = name;
    metadata.created_time = Some(env.now_ms());
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn legacy_where_possible() {
        let s = StructType::default();
        let p = protocol_for(&props(&[]), &[], &s);
        assert_eq!((p.min_reader_version, p.min_writer_version), (1, 2));
        let p = protocol_for(&props(&[("delta.enableChangeDataFeed", "true")]), &[], &s);
        assert_eq!((p.min_reader_version, p.min_writer_version), (1, 4));
    }

    #[test]
    fn table_features_otherwise() {
        let s = StructType::default();
        let p = protocol_for(&props(&[("delta.enableDeletionVectors", "true")]), &[], &s);
        assert_eq!((p.min_reader_version, p.min_writer_version), (3, 7));
        assert_eq!(p.reader_features.unwrap(), vec!["deletionVectors"]);
        let p = protocol_for(
            &props(&[("delta.enableInCommitTimestamps", "true")]),
            &[],
            &s,
        );
        assert_eq!((p.min_reader_version, p.min_writer_version), (1, 7));
        assert!(
            p.writer_features
                .unwrap()
                .contains(&"inCommitTimestamp".to_string())
        );
        let p = protocol_for(
            &props(&[("delta.feature.v2Checkpoint", "supported")]),
            &[],
            &s,
        );
        assert_eq!(p.reader_features.unwrap(), vec!["v2Checkpoint"]);
    }

    #[test]
    fn schema_columns_bring_their_features() {
        use crate::schema::{DataType, PrimitiveType, StructField};
        let mut id = StructField::new("id", DataType::Primitive(PrimitiveType::Long), true);
        id.metadata.insert("delta.identity.start".into(), 1.into());
        id.metadata.insert("delta.identity.step".into(), 1.into());
        let s = StructType::new(vec![id]);
        let p = protocol_for(&props(&[]), &[], &s);
        assert_eq!((p.min_reader_version, p.min_writer_version), (1, 6));
        let v = StructType::new(vec![StructField::new("v", DataType::Variant, true)]);
        let p = protocol_for(&props(&[]), &[], &v);
        assert!(p.has_feature(&TableFeature::VariantType));
        let p = protocol_for(
            &props(&[("delta.columnMapping.mode", "name")]),
            &[],
            &StructType::default(),
        );
        assert_eq!((p.min_reader_version, p.min_writer_version), (2, 5));
    }
}
