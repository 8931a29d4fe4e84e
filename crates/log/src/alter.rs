//! Table evolution as pure functions over the protocol and metadata a
//! transaction read: adding, renaming and dropping columns (rename and drop
//! through column mapping), type widening with the type-change metadata
//! readers need, setting and unsetting properties (with the protocol
//! upgrades that enabling a feature implies), CHECK constraints, and
//! clustering columns. Each change becomes one commit; this module only
//! computes what that commit writes, or why it is refused.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::actions::{DomainMetadata, Metadata, Protocol};
use crate::column_mapping::{
    COLUMN_MAPPING_MAX_ID, COLUMN_MAPPING_MODE, assign_column_mapping, physical_name,
};
use crate::column_rules::{CURRENT_DEFAULT, GENERATION_EXPRESSION};
use crate::create::{features_for_property, protocol_for};
use crate::environment::Environment;
use crate::features::TableFeature;
use crate::schema::{DataType, PrimitiveType, StructField, StructType};
use crate::transaction::Operation;

/// Field metadata key recording type changes (`typeWidening`).
pub const TYPE_CHANGES: &str = "delta.typeChanges";
/// Domain holding the clustering columns.
pub const CLUSTERING_DOMAIN: &str = "delta.clustering";

/// One change to a table's definition.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterTable {
    /// Add columns (nullable) at the end of the struct at `parent` (empty:
    /// top level).
    AddColumns {
        /// Path of the struct to add to.
        parent: Vec<String>,
        /// The new fields.
        fields: Vec<StructField>,
    },
    /// Rename a column (needs column mapping).
    RenameColumn {
        /// Path of the column.
        path: Vec<String>,
        /// Its new name.
        to: String,
    },
    /// Drop columns (needs column mapping).
    DropColumns {
        /// Paths of the columns.
        paths: Vec<Vec<String>>,
        /// Do not fail when a column does not exist.
        if_exists: bool,
    },
    /// Widen a column's type (`typeWidening`).
    ChangeColumnType {
        /// Path of the column.
        path: Vec<String>,
        /// The new, wider type.
        to: DataType,
    },
    /// Drop a column's NOT NULL.
    DropNotNull {
        /// Path of the column.
        path: Vec<String>,
    },
    /// Set or replace a column's default (`allowColumnDefaults`); `None`
    /// drops it.
    SetDefault {
        /// Path of the top-level column.
        column: String,
        /// The SQL expression.
        sql: Option<String>,
    },
    /// Set table properties (`delta.feature.X = supported` adds a feature).
    SetProperties(BTreeMap<String, String>),
    /// Remove table properties.
    UnsetProperties {
        /// The keys.
        keys: Vec<String>,
        /// Do not fail when a key is not set.
        if_exists: bool,
    },
    /// Add a CHECK constraint (existing rows must satisfy it).
    AddConstraint {
        /// Constraint name.
        name: String,
        /// Boolean SQL expression.
        sql: String,
    },
    /// Drop a CHECK constraint.
    DropConstraint {
        /// Constraint name.
        name: String,
        /// Do not fail when it does not exist.
        if_exists: bool,
    },
    /// Set the clustering columns (empty: stop clustering).
    ClusterBy(Vec<Vec<String>>),
    /// Remove a writer feature the table no longer uses from the protocol.
    DropFeature(TableFeature),
}

/// What committing a change writes.
#[derive(Debug, Clone, PartialEq)]
pub struct TableChange {
    /// A new protocol, when the change upgrades it.
    pub protocol: Option<Protocol>,
    /// The new metadata.
    pub metadata: Metadata,
    /// Domain metadata to write.
    pub domains: Vec<DomainMetadata>,
    /// The commit's operation.
    pub operation: Operation,
    /// A constraint every existing row must satisfy before committing:
    /// (name, SQL).
    pub validate: Option<(String, String)>,
    /// Row tracking is being enabled on a table with data: every live file
    /// must be re-added (`dataChange = false`) to receive row ids.
    pub backfill_row_ids: bool,
}

/// `p` with `add` features supported: unchanged when it has them, legacy
/// versions when they still suffice (never lowering a version), table
/// features otherwise.
pub fn protocol_with_features(p: &Protocol, add: &[TableFeature]) -> Protocol {
    if add.iter().all(|f| p.has_feature(f)) {
        return p.clone();
    }
    let mut all: BTreeSet<TableFeature> = p.effective_writer_features().into_iter().collect();
    all.extend(p.effective_reader_features());
    all.extend(add.iter().cloned());
    // Features that need others: row tracking and clustering write
    // domain metadata.
    if all.contains(&TableFeature::RowTracking) || all.contains(&TableFeature::Clustering) {
        all.insert(TableFeature::DomainMetadata);
    }
    let all: Vec<TableFeature> = all.into_iter().collect();
    let fresh = protocol_for(&Default::default(), &all, &StructType::default());
    if p.min_writer_version < 7 {
        if fresh.min_writer_version < 7 {
            return Protocol {
                min_reader_version: fresh.min_reader_version.max(p.min_reader_version),
                min_writer_version: fresh.min_writer_version.max(p.min_writer_version),
                reader_features: None,
                writer_features: None,
            };
        }
        return fresh;
    }
    // Already table features: stay there.
    let reader: Vec<String> = all
        .iter()
        .filter(|f| f.is_reader_writer())
        .map(|f| f.name().to_string())
        .collect();
    Protocol {
        min_reader_version: if reader.is_empty() {
            p.min_reader_version
        } else {
            3
        },
        min_writer_version: 7,
        reader_features: (!reader.is_empty()).then_some(reader),
        writer_features: Some(all.iter().map(|f| f.name().to_string()).collect()),
    }
}

fn mapping_mode(m: &Metadata) -> &str {
    m.property(COLUMN_MAPPING_MODE).unwrap_or("none")
}

/// The fields of the struct at `parent`.
fn struct_at<'a>(
    fields: &'a mut Vec<StructField>,
    parent: &[String],
) -> Result<&'a mut Vec<StructField>, AlterRefused> {
    let Some((first, rest)) = parent.split_first() else {
        return Ok(fields);
    };
    let f = fields
        .iter_mut()
        .find(|f| f.name.eq_ignore_ascii_case(first))
        .ok_or_else(|| AlterRefused::ColumnNotFound {
            column: first.clone(),
        })?;
    match &mut f.data_type {
        DataType::Struct(s) => struct_at(&mut s.fields, rest),
        other => Err(AlterRefused::NotAStruct {
            column: first.clone(),
            type_name: other.simple_name(),
        }),
    }
}

/// The struct holding the column at `path`, and the column's index in it.
fn locate<'a>(
    schema: &'a mut StructType,
    path: &[String],
) -> Result<(&'a mut Vec<StructField>, usize), AlterRefused> {
    let (name, parent) = path.split_last().ok_or(AlterRefused::EmptyPath)?;
    let fields = struct_at(&mut schema.fields, parent)?;
    let i = fields
        .iter()
        .position(|f| f.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| AlterRefused::ColumnNotFound {
            column: path.join("."),
        })?;
    Ok((fields, i))
}

/// SQL texts that may name columns: constraints, generation expressions,
/// defaults.
fn rule_texts(m: &Metadata) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = m
        .configuration
        .iter()
        .filter_map(|(k, v)| {
            Some((
                format!(
                    "constraint {}",
                    k.strip_prefix(crate::properties::CONSTRAINTS_PREFIX)?
                ),
                v.clone(),
            ))
        })
        .collect();
    for f in &m.schema().fields {
        for key in [GENERATION_EXPRESSION, CURRENT_DEFAULT] {
            if let Some(sql) = f.metadata.get(key).and_then(Value::as_str) {
                out.push((
                    format!("the expression of column {:?}", f.name),
                    sql.to_string(),
                ));
            }
        }
    }
    out
}

/// Whether `sql` names the identifier `name` (case-insensitive, outside
/// string literals).
fn mentions(sql: &str, name: &str) -> bool {
    let mut word = String::new();
    let mut in_str: Option<char> = None;
    let mut hit = false;
    let mut check = |w: &mut String| {
        if w.eq_ignore_ascii_case(name) {
            hit = true;
        }
        w.clear();
    };
    for c in sql.chars() {
        match in_str {
            Some(q) if c == q => in_str = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => {
                check(&mut word);
                in_str = Some(c);
            }
            None if c.is_alphanumeric() || c == '_' || c == '`' => {
                if c != '`' {
                    word.push(c)
                }
            }
            None => check(&mut word),
        }
    }
    check(&mut word);
    hit
}

fn refuse_if_referenced(
    m: &Metadata,
    column: &str,
    action: &'static str,
) -> Result<(), AlterRefused> {
    if let Some((owner, sql)) = rule_texts(m)
        .into_iter()
        .find(|(_, sql)| mentions(sql, column))
    {
        return Err(AlterRefused::ColumnInUse {
            action,
            column: column.to_string(),
            owner,
            sql,
        });
    }
    Ok(())
}

fn clustering_columns(domains: &BTreeMap<String, String>) -> Vec<Vec<String>> {
    domains
        .get(CLUSTERING_DOMAIN)
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|v| serde_json::from_value(v.get("clusteringColumns")?.clone()).ok())
        .unwrap_or_default()
}

/// Whether `from` → `to` is a widening the `typeWidening` feature allows.
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    use PrimitiveType::*;
    let (DataType::Primitive(a), DataType::Primitive(b)) = (from, to) else {
        return false;
    };
    // The spec's integer-to-decimal widenings: byte, short and int need 10
    // integer digits, long 20.
    let int_digits = |t: &PrimitiveType| match t {
        Byte | Short | Integer => Some(10),
        Long => Some(20),
        _ => None,
    };
    let rank = |t: &PrimitiveType| match t {
        Byte => 1,
        Short => 2,
        Integer => 3,
        Long => 4,
        _ => 0,
    };
    match (a, b) {
        (x, y) if rank(x) > 0 && rank(y) > 0 => rank(x) < rank(y),
        (Float, Double) => true,
        (Byte | Short | Integer, Double) => true,
        (Date, TimestampNtz) => true,
        (
            Decimal {
                precision: p1,
                scale: s1,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s2 >= s1 && (p2 - s2) >= (p1 - s1) && (p1, s1) != (p2, s2),
        (x, Decimal { precision, scale }) if int_digits(x).is_some() => {
            i32::from(*precision) - i32::from(*scale) >= int_digits(x).unwrap_or(99)
        }
        _ => false,
    }
}

/// An ALTER TABLE that cannot be applied to this table, and why (the
/// column, feature or property named): a refusal by the protocol's or
/// silt's rules, not a storage fault, so retrying the same change on the
/// same table can never help. Columns are named as dotted paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlterRefused {
    /// A column the change names does not exist.
    #[error("column {column:?} does not exist")]
    ColumnNotFound {
        /// The column.
        column: String,
    },
    /// A column path goes through a column that is not a struct.
    #[error("column {column:?} is a {type_name}, not a struct")]
    NotAStruct {
        /// The column.
        column: String,
        /// Its type.
        type_name: String,
    },
    /// A change named a column by an empty path.
    #[error("an empty column path")]
    EmptyPath,
    /// Adding or renaming to a name already taken.
    #[error("column {column:?} already exists")]
    ColumnExists {
        /// The name.
        column: String,
    },
    /// A NOT NULL column added to a table with data.
    #[error(
        "column {column:?} cannot be added as NOT NULL to a table with data: existing rows would hold nulls"
    )]
    NotNullOnExistingRows {
        /// The column.
        column: String,
    },
    /// A default declared while adding the column.
    #[error(
        "column {column:?}: a default cannot be declared in the command that adds the column; add it, then ALTER COLUMN … SET DEFAULT"
    )]
    DefaultWhileAdding {
        /// The column.
        column: String,
    },
    /// An identity or generated column added after creation.
    #[error(
        "column {column:?}: identity and generated columns can only be declared when the table is created"
    )]
    IdentityOrGeneratedAfterCreate {
        /// The column.
        column: String,
    },
    /// A default on an identity or generated column.
    #[error("column {column:?} is an identity or generated column and cannot have a default")]
    DefaultOnComputedColumn {
        /// The column.
        column: String,
    },
    /// Renaming without column mapping.
    #[error(
        "renaming column {column:?} needs column mapping; run ALTER TABLE … SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name') first"
    )]
    RenameNeedsColumnMapping {
        /// The column.
        column: String,
    },
    /// Dropping without column mapping.
    #[error(
        "dropping columns needs column mapping; run ALTER TABLE … SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name') first (columns: {})",
        columns.join(", ")
    )]
    DropNeedsColumnMapping {
        /// The columns.
        columns: Vec<String>,
    },
    /// Dropping a partition column.
    #[error("cannot drop partition column {column:?}")]
    DropPartitionColumn {
        /// The column.
        column: String,
    },
    /// Dropping a clustering column.
    #[error("cannot drop clustering column {column:?}; change CLUSTER BY first")]
    DropClusteringColumn {
        /// The column.
        column: String,
    },
    /// Dropping the last field of a struct.
    #[error("cannot drop {column:?}: a struct needs at least one field")]
    DropLastField {
        /// The column.
        column: String,
    },
    /// Renaming or dropping a column that a constraint, generation
    /// expression or default uses.
    #[error(
        "cannot {action} column {column:?}: {owner} uses it ({sql}); drop or change that first"
    )]
    ColumnInUse {
        /// `rename` or `drop`.
        action: &'static str,
        /// The column.
        column: String,
        /// What uses it (`constraint c`, `the expression of column "g"`).
        owner: String,
        /// The SQL that names it.
        sql: String,
    },
    /// Changing a column to the type it has.
    #[error("column {column:?} already has type {type_name}")]
    SameType {
        /// The column.
        column: String,
        /// Its type.
        type_name: String,
    },
    /// A type change that is not a widening.
    #[error(
        "changing column {column:?} from {from} to {to} is not a type widening Delta allows (integers to wider integers, decimals or double; float to double; date to timestamp_ntz; decimals to wider decimals)"
    )]
    NotAWidening {
        /// The column.
        column: String,
        /// Its type.
        from: String,
        /// The type asked for.
        to: String,
    },
    /// A partition column widened from date to timestamp_ntz.
    #[error("partition column {column:?} cannot change from date to timestamp_ntz")]
    PartitionDateToTimestamp {
        /// The column.
        column: String,
    },
    /// A type change without `delta.enableTypeWidening`.
    #[error(
        "changing the type of column {column:?} needs type widening; run ALTER TABLE … SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true') first"
    )]
    NeedsTypeWidening {
        /// The column.
        column: String,
    },
    /// `delta.feature.X` set to something but `supported`.
    #[error("{key} must be 'supported', not {value:?}")]
    FeatureValue {
        /// The property.
        key: String,
        /// The value given.
        value: String,
    },
    /// `delta.feature.X` for a feature silt does not know.
    #[error("unknown table feature {name:?}")]
    UnknownFeature {
        /// The feature name.
        name: String,
    },
    /// A CHECK constraint set as a property.
    #[error(
        "{key}: CHECK constraints are added with ALTER TABLE … ADD CONSTRAINT, which checks the existing rows"
    )]
    ConstraintAsProperty {
        /// The property.
        key: String,
    },
    /// A CHECK constraint unset as a property.
    #[error("{key}: CHECK constraints are dropped with ALTER TABLE … DROP CONSTRAINT")]
    ConstraintUnsetAsProperty {
        /// The property.
        key: String,
    },
    /// A column mapping mode change other than none → name.
    #[error(
        "column mapping mode cannot change from {from} to {to} (only none → name on an existing table; id mode is chosen when the table is created)"
    )]
    ColumnMappingModeChange {
        /// The current mode.
        from: String,
        /// The mode asked for.
        to: String,
    },
    /// Unsetting column mapping on a mapped table.
    #[error("column mapping cannot be turned off")]
    ColumnMappingOff,
    /// Unsetting a property that is not set, without IF EXISTS.
    #[error("property {key:?} is not set (use UNSET TBLPROPERTIES IF EXISTS to ignore)")]
    PropertyNotSet {
        /// The property.
        key: String,
    },
    /// Adding a constraint whose name is taken.
    #[error("constraint {name:?} already exists")]
    ConstraintExists {
        /// The constraint.
        name: String,
    },
    /// Dropping a constraint that does not exist, without IF EXISTS.
    #[error("constraint {name:?} does not exist")]
    ConstraintNotFound {
        /// The constraint.
        name: String,
    },
    /// CLUSTER BY on a partitioned table.
    #[error("a partitioned table cannot be clustered")]
    ClusteringPartitionedTable,
    /// A clustering column that does not exist.
    #[error("clustering column {column:?} does not exist")]
    ClusteringColumnNotFound {
        /// The column.
        column: String,
    },
    /// A clustering column of a type without statistics.
    #[error(
        "clustering column {column:?} has type {type_name}; only primitive columns (with statistics) can cluster"
    )]
    ClusteringColumnType {
        /// The column.
        column: String,
        /// Its type.
        type_name: String,
    },
    /// Dropping a feature the table does not have.
    #[error("the table does not have the feature {feature}")]
    FeatureNotPresent {
        /// The feature.
        feature: String,
    },
    /// Dropping a reader-writer feature.
    #[error(
        "{feature} is a reader-writer feature: dropping it needs its traces removed and the history truncated, which silt does not do yet"
    )]
    ReaderWriterFeatureDrop {
        /// The feature.
        feature: String,
    },
    /// Dropping a feature silt cannot drop.
    #[error("dropping {feature} is not supported")]
    FeatureDropUnsupported {
        /// The feature.
        feature: String,
    },
    /// Dropping a feature the table still uses.
    #[error("cannot drop {feature}: {why}; stop using it first")]
    FeatureInUse {
        /// The feature.
        feature: String,
        /// What uses it.
        why: &'static str,
    },
}

/// Computes the commit for `change` on a table at `protocol` / `metadata`.
/// `domains` are the table's current domain metadata (name → configuration);
/// `has_files` says whether the table holds data; new columns of a
/// column-mapped table get physical names from `env`.
pub fn alter_table(
    protocol: &Protocol,
    metadata: &Metadata,
    domains: &BTreeMap<String, String>,
    has_files: bool,
    change: &AlterTable,
    env: &dyn Environment,
) -> Result<TableChange, AlterRefused> {
    plan_alter(protocol, metadata, domains, has_files, change, env)
}

fn plan_alter(
    protocol: &Protocol,
    metadata: &Metadata,
    domains: &BTreeMap<String, String>,
    has_files: bool,
    change: &AlterTable,
    env: &dyn Environment,
) -> Result<TableChange, AlterRefused> {
    let mut meta = metadata.clone();
    let mut schema = metadata.schema().clone();
    let mut features: Vec<TableFeature> = Vec::new();
    let mut out_domains = Vec::new();
    let mut validate = None;
    let mut backfill_row_ids = false;
    let mapped = matches!(mapping_mode(metadata), "name" | "id");
    let operation;
    match change {
        AlterTable::AddColumns { parent, fields } => {
            let target = struct_at(&mut schema.fields, parent)?;
            for f in fields {
                if target.iter().any(|t| t.name.eq_ignore_ascii_case(&f.name)) {
                    return Err(AlterRefused::ColumnExists {
                        column: f.name.clone(),
                    });
                }
                if !f.nullable && has_files {
                    return Err(AlterRefused::NotNullOnExistingRows {
                        column: f.name.clone(),
                    });
                }
                if f.metadata.contains_key(CURRENT_DEFAULT) {
                    return Err(AlterRefused::DefaultWhileAdding {
                        column: f.name.clone(),
                    });
                }
                if f.metadata
                    .keys()
                    .any(|k| k.starts_with("delta.identity.") || k == GENERATION_EXPRESSION)
                {
                    return Err(AlterRefused::IdentityOrGeneratedAfterCreate {
                        column: f.name.clone(),
                    });
                }
                target.push(f.clone());
            }
            if mapped {
                // New columns get ids and fresh physical names.
                let max = metadata
                    .property(COLUMN_MAPPING_MAX_ID)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let max = assign_column_mapping(&mut schema, max, &|_| physical_name(env));
                meta.configuration
                    .insert(COLUMN_MAPPING_MAX_ID.into(), max.to_string());
            }
            if schema_uses_ntz(&schema) {
                features.push(TableFeature::TimestampNtz);
            }
            if crate::create::schema_uses_variant(&schema)
                && !protocol.has_feature(&TableFeature::VariantTypePreview)
            {
                features.push(TableFeature::VariantType);
            }
            operation = Operation::add_columns().with_parameter(
                "columns",
                Value::from(fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()),
            );
        }
        AlterTable::RenameColumn { path, to } => {
            if !mapped {
                return Err(AlterRefused::RenameNeedsColumnMapping {
                    column: path.join("."),
                });
            }
            let (fields, i) = locate(&mut schema, path)?;
            if fields
                .iter()
                .enumerate()
                .any(|(j, f)| j != i && f.name.eq_ignore_ascii_case(to))
            {
                return Err(AlterRefused::ColumnExists { column: to.clone() });
            }
            let old = fields[i].name.clone();
            if path.len() == 1 {
                refuse_if_referenced(metadata, &old, "rename")?;
            }
            fields[i].name = to.clone();
            if path.len() == 1 {
                for p in &mut meta.partition_columns {
                    if *p == old {
                        *p = to.clone();
                    }
                }
            }
            operation = Operation::rename_column()
                .with_parameter("oldColumnPath", path.join("."))
                .with_parameter("newColumnPath", {
                    let mut p = path.clone();
                    if let Some(last) = p.last_mut() {
                        *last = to.clone();
                    }
                    p.join(".")
                });
        }
        AlterTable::DropColumns { paths, if_exists } => {
            if !mapped {
                return Err(AlterRefused::DropNeedsColumnMapping {
                    columns: paths.iter().map(|p| p.join(".")).collect(),
                });
            }
            let clustered = clustering_columns(domains);
            let mut dropped = Vec::new();
            for path in paths {
                let (fields, i) = match locate(&mut schema, path) {
                    Ok(x) => x,
                    Err(_) if *if_exists => continue,
                    Err(e) => return Err(e),
                };
                let name = fields[i].name.clone();
                if path.len() == 1 {
                    if meta
                        .partition_columns
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(&name))
                    {
                        return Err(AlterRefused::DropPartitionColumn { column: name });
                    }
                    refuse_if_referenced(metadata, &name, "drop")?;
                }
                let physical = fields[i].physical_name().unwrap_or(&name).to_string();
                if clustered.iter().any(|c| c.first() == Some(&physical)) {
                    return Err(AlterRefused::DropClusteringColumn { column: name });
                }
                fields.remove(i);
                if fields.is_empty() {
                    return Err(AlterRefused::DropLastField {
                        column: path.join("."),
                    });
                }
                dropped.push(path.join("."));
            }
            operation = Operation::drop_columns().with_parameter("columns", Value::from(dropped));
        }
        AlterTable::ChangeColumnType { path, to } => {
            let partition = path.len() == 1
                && meta
                    .partition_columns
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&path[0]));
            let (fields, i) = locate(&mut schema, path)?;
            let f = &mut fields[i];
            if &f.data_type == to {
                return Err(AlterRefused::SameType {
                    column: f.name.clone(),
                    type_name: to.simple_name(),
                });
            }
            if !is_widening(&f.data_type, to) {
                return Err(AlterRefused::NotAWidening {
                    column: f.name.clone(),
                    from: f.data_type.simple_name(),
                    to: to.simple_name(),
                });
            }
            if partition && matches!(to, DataType::Primitive(PrimitiveType::TimestampNtz)) {
                return Err(AlterRefused::PartitionDateToTimestamp {
                    column: f.name.clone(),
                });
            }
            if !metadata.flag(crate::properties::ENABLE_TYPE_WIDENING) {
                return Err(AlterRefused::NeedsTypeWidening {
                    column: f.name.clone(),
                });
            }
            let mut changes = match f.metadata.get(TYPE_CHANGES) {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            changes.push(json!({
                "fromType": f.data_type.simple_name(),
                "toType": to.simple_name(),
            }));
            f.metadata
                .insert(TYPE_CHANGES.into(), Value::Array(changes));
            let from = f.data_type.simple_name();
            f.data_type = to.clone();
            if !protocol.has_feature(&TableFeature::TypeWideningPreview) {
                features.push(TableFeature::TypeWidening);
            }
            if schema_uses_ntz(&schema) {
                features.push(TableFeature::TimestampNtz);
            }
            operation = Operation::change_column()
                .with_parameter("column", path.join("."))
                .with_parameter("fromType", from)
                .with_parameter("toType", to.simple_name());
        }
        AlterTable::DropNotNull { path } => {
            let (fields, i) = locate(&mut schema, path)?;
            fields[i].nullable = true;
            operation = Operation::change_column().with_parameter("column", path.join("."));
        }
        AlterTable::SetDefault { column, sql } => {
            let (fields, i) = locate(&mut schema, std::slice::from_ref(column))?;
            let f = &mut fields[i];
            if f.metadata
                .keys()
                .any(|k| k.starts_with("delta.identity.") || k == GENERATION_EXPRESSION)
            {
                return Err(AlterRefused::DefaultOnComputedColumn {
                    column: f.name.clone(),
                });
            }
            match sql {
                Some(sql) => {
                    f.metadata
                        .insert(CURRENT_DEFAULT.into(), Value::from(sql.clone()));
                    features.push(TableFeature::AllowColumnDefaults);
                }
                None => {
                    f.metadata.remove(CURRENT_DEFAULT);
                }
            }
            operation = Operation::change_column().with_parameter("column", column.clone());
        }
        AlterTable::SetProperties(props) => {
            for (k, v) in props {
                if let Some(name) = k.strip_prefix(crate::properties::FEATURE_PREFIX) {
                    if !v.eq_ignore_ascii_case("supported") && !v.eq_ignore_ascii_case("enabled") {
                        return Err(AlterRefused::FeatureValue {
                            key: k.clone(),
                            value: v.clone(),
                        });
                    }
                    let f: TableFeature = name
                        .parse()
                        .unwrap_or_else(|e: std::convert::Infallible| match e {});
                    if let TableFeature::Unknown(n) = &f {
                        return Err(AlterRefused::UnknownFeature { name: n.clone() });
                    }
                    features.push(f);
                    continue;
                }
                if k.starts_with(crate::properties::CONSTRAINTS_PREFIX) {
                    return Err(AlterRefused::ConstraintAsProperty { key: k.clone() });
                }
                if k == COLUMN_MAPPING_MODE {
                    let from = mapping_mode(metadata).to_ascii_lowercase();
                    match (from.as_str(), v.to_ascii_lowercase().as_str()) {
                        (a, b) if a == b => {}
                        ("none", "name") => {
                            // Existing files use the logical names.
                            let max = metadata
                                .property(COLUMN_MAPPING_MAX_ID)
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0);
                            let max = assign_column_mapping(&mut schema, max, &|f| f.name.clone());
                            meta.configuration
                                .insert(COLUMN_MAPPING_MAX_ID.into(), max.to_string());
                            features.push(TableFeature::ColumnMapping);
                        }
                        (a, b) => {
                            return Err(AlterRefused::ColumnMappingModeChange {
                                from: a.to_string(),
                                to: b.to_string(),
                            });
                        }
                    }
                }
                if k == crate::properties::ENABLE_ROW_TRACKING
                    && v.eq_ignore_ascii_case("true")
                    && has_files
                    && !metadata.flag(crate::properties::ENABLE_ROW_TRACKING)
                {
                    // Files added before (even under the supported feature)
                    // get their row ids in this commit.
                    backfill_row_ids = true;
                }
                features.extend(features_for_property(k, v));
                meta.configuration.insert(k.clone(), v.clone());
                if k == crate::properties::ENABLE_ROW_TRACKING {
                    crate::create::name_row_tracking_columns(&mut meta.configuration, &metadata.id);
                }
            }
            operation = Operation::set_table_properties().with_parameter(
                "properties",
                serde_json::to_string(props).unwrap_or_default(),
            );
        }
        AlterTable::UnsetProperties { keys, if_exists } => {
            for k in keys {
                if k.starts_with(crate::properties::CONSTRAINTS_PREFIX) {
                    return Err(AlterRefused::ConstraintUnsetAsProperty { key: k.clone() });
                }
                if k == COLUMN_MAPPING_MODE && mapped {
                    return Err(AlterRefused::ColumnMappingOff);
                }
                if meta.configuration.remove(k).is_none() && !if_exists {
                    return Err(AlterRefused::PropertyNotSet { key: k.clone() });
                }
            }
            operation = Operation::unset_table_properties()
                .with_parameter("properties", Value::from(keys.clone()))
                .with_parameter("ifExists", *if_exists);
        }
        AlterTable::AddConstraint { name, sql } => {
            let key = format!("delta.constraints.{}", name.to_ascii_lowercase());
            if meta.configuration.contains_key(&key) {
                return Err(AlterRefused::ConstraintExists { name: name.clone() });
            }
            meta.configuration.insert(key, sql.clone());
            features.push(TableFeature::CheckConstraints);
            validate = Some((name.clone(), sql.clone()));
            operation = Operation::add_constraint()
                .with_parameter("name", name.clone())
                .with_parameter("expr", sql.clone());
        }
        AlterTable::DropConstraint { name, if_exists } => {
            let key = format!("delta.constraints.{}", name.to_ascii_lowercase());
            if meta.configuration.remove(&key).is_none() && !if_exists {
                return Err(AlterRefused::ConstraintNotFound { name: name.clone() });
            }
            operation = Operation::drop_constraint().with_parameter("name", name.clone());
        }
        AlterTable::DropFeature(f) => {
            drop_feature_check(protocol, &mut meta, domains, f)?;
            operation = Operation::drop_feature().with_parameter("featureName", f.name());
        }
        AlterTable::ClusterBy(columns) => {
            if !meta.partition_columns.is_empty() && !columns.is_empty() {
                return Err(AlterRefused::ClusteringPartitionedTable);
            }
            let mut physical = Vec::new();
            for path in columns {
                let mut fields = &schema.fields;
                let mut phys = Vec::new();
                for (depth, part) in path.iter().enumerate() {
                    let f = fields
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(part))
                        .ok_or_else(|| AlterRefused::ClusteringColumnNotFound {
                            column: path.join("."),
                        })?;
                    phys.push(f.physical_name().unwrap_or(&f.name).to_string());
                    match (&f.data_type, depth + 1 == path.len()) {
                        (DataType::Struct(s), false) => fields = &s.fields,
                        (DataType::Primitive(_), true) => {}
                        (t, _) => {
                            return Err(AlterRefused::ClusteringColumnType {
                                column: path.join("."),
                                type_name: t.simple_name(),
                            });
                        }
                    }
                }
                physical.push(phys);
            }
            features.extend([TableFeature::Clustering, TableFeature::DomainMetadata]);
            out_domains.push(DomainMetadata {
                domain: CLUSTERING_DOMAIN.into(),
                configuration: json!({ "clusteringColumns": physical }).to_string(),
                removed: false,
            });
            operation = Operation::cluster_by().with_parameter(
                "newClusteringColumns",
                columns
                    .iter()
                    .map(|c| c.join("."))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    if let AlterTable::DropFeature(f) = change {
        meta.set_schema(schema);
        return Ok(TableChange {
            protocol: Some(protocol_without_feature(protocol, f)),
            metadata: meta,
            domains: out_domains,
            operation,
            validate,
            backfill_row_ids,
        });
    }
    meta.set_schema(schema);
    let new_protocol = protocol_with_features(protocol, &features);
    Ok(TableChange {
        protocol: (new_protocol != *protocol).then_some(new_protocol),
        metadata: meta,
        domains: out_domains,
        operation,
        validate,
        backfill_row_ids,
    })
}

/// Whether the table still uses writer feature `f` (so it cannot be
/// dropped), or `f` cannot be dropped by silt at all. Turns off what a
/// drop turns off (in-commit timestamp properties).
fn drop_feature_check(
    protocol: &Protocol,
    meta: &mut Metadata,
    domains: &BTreeMap<String, String>,
    f: &TableFeature,
) -> Result<(), AlterRefused> {
    use TableFeature::*;
    let feature = || f.name().to_string();
    if !protocol.has_feature(f) {
        return Err(AlterRefused::FeatureNotPresent { feature: feature() });
    }
    if f.is_reader_writer() {
        return Err(AlterRefused::ReaderWriterFeatureDrop { feature: feature() });
    }
    let field_key = |key: &str| {
        fn walk(fields: &[StructField], key: &str) -> bool {
            fields.iter().any(|x| {
                x.metadata.keys().any(|k| k.starts_with(key))
                    || matches!(&x.data_type, DataType::Struct(s) if walk(&s.fields, key))
            })
        }
        walk(&meta.schema().fields, key)
    };
    let in_use = match f {
        AppendOnly => meta
            .flag(crate::properties::APPEND_ONLY)
            .then_some("delta.appendOnly is true"),
        Invariants => field_key("delta.invariants").then_some("a column has an invariant"),
        CheckConstraints => meta
            .configuration
            .keys()
            .any(|k| k.starts_with(crate::properties::CONSTRAINTS_PREFIX))
            .then_some("CHECK constraints exist"),
        ChangeDataFeed => meta
            .flag(crate::properties::ENABLE_CHANGE_DATA_FEED)
            .then_some("delta.enableChangeDataFeed is true"),
        GeneratedColumns => field_key(GENERATION_EXPRESSION).then_some("a column is generated"),
        IdentityColumns => field_key("delta.identity.").then_some("a column is an identity column"),
        AllowColumnDefaults => field_key(CURRENT_DEFAULT).then_some("a column has a default"),
        Clustering => (!clustering_columns(domains).is_empty())
            .then_some("the table is clustered (CLUSTER BY NONE first)"),
        DomainMetadata => (!domains.is_empty()
            || protocol.has_feature(&RowTracking)
            || protocol.has_feature(&Clustering))
        .then_some("domain metadata exists or a feature needs it"),
        InCommitTimestamp => {
            // Dropping turns in-commit timestamps off.
            for k in [
                crate::properties::ENABLE_IN_COMMIT_TIMESTAMPS,
                crate::properties::ICT_ENABLEMENT_VERSION,
                crate::properties::ICT_ENABLEMENT_TIMESTAMP,
            ] {
                meta.configuration.remove(k);
            }
            None
        }
        RowTracking | CheckpointProtection | Unknown(_) => {
            return Err(AlterRefused::FeatureDropUnsupported { feature: feature() });
        }
        _ => None,
    };
    if let Some(why) = in_use {
        return Err(AlterRefused::FeatureInUse {
            feature: feature(),
            why,
        });
    }
    Ok(())
}

/// `p` without writer feature `f`: the lowest legacy versions covering the
/// rest when `p` is legacy, the same lists minus `f` otherwise.
pub fn protocol_without_feature(p: &Protocol, f: &TableFeature) -> Protocol {
    let rest: Vec<TableFeature> = p
        .effective_writer_features()
        .into_iter()
        .chain(p.effective_reader_features())
        .filter(|x| x != f)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if p.min_writer_version < 7 {
        let legacy = protocol_for(&Default::default(), &rest, &StructType::default());
        if !legacy.has_feature(f) {
            return legacy;
        }
        // The legacy version that covers the rest implies `f` too: list
        // the rest as table features.
        let reader: Vec<String> = rest
            .iter()
            .filter(|x| x.is_reader_writer())
            .map(|x| x.name().to_string())
            .collect();
        return Protocol {
            min_reader_version: if reader.is_empty() { 1 } else { 3 },
            min_writer_version: 7,
            reader_features: (!reader.is_empty()).then_some(reader),
            writer_features: Some(rest.iter().map(|x| x.name().to_string()).collect()),
        };
    }
    let drop = |list: &Option<Vec<String>>| {
        list.as_ref().map(|l| {
            l.iter()
                .filter(|n| !n.eq_ignore_ascii_case(f.name()))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    Protocol {
        writer_features: drop(&p.writer_features),
        reader_features: drop(&p.reader_features),
        ..p.clone()
    }
}

fn schema_uses_ntz(schema: &StructType) -> bool {
    schema.to_json().contains("\"timestamp_ntz\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::new_metadata;

    fn long(name: &str) -> StructField {
        StructField::new(name, DataType::Primitive(PrimitiveType::Long), true)
    }

    fn table(props: &[(&str, &str)]) -> (Protocol, Metadata) {
        let schema = StructType::new(vec![
            long("id"),
            StructField::new("v", DataType::Primitive(PrimitiveType::Integer), true),
            StructField::new("p", DataType::Primitive(PrimitiveType::String), true),
        ]);
        let props: std::collections::HashMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = protocol_for(&props, &[], &schema);
        let m = new_metadata(
            schema,
            vec!["p".into()],
            props,
            None,
            &crate::SystemEnvironment,
        )
        .expect("metadata");
        (p, m)
    }

    fn alter(p: &Protocol, m: &Metadata, c: AlterTable) -> Result<TableChange, AlterRefused> {
        alter_table(p, m, &BTreeMap::new(), true, &c, &crate::SystemEnvironment)
    }

    fn set(kv: &[(&str, &str)]) -> AlterTable {
        AlterTable::SetProperties(
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn rename_and_drop_need_column_mapping_and_upgrade_to_it() {
        let (p, m) = table(&[]);
        let rename = AlterTable::RenameColumn {
            path: vec!["v".into()],
            to: "value".into(),
        };
        let err = alter(&p, &m, rename.clone()).unwrap_err();
        assert!(
            matches!(&err, AlterRefused::RenameNeedsColumnMapping { column } if column == "v"),
            "{err}"
        );
        assert!(
            err.to_string().contains("delta.columnMapping.mode"),
            "{err}"
        );
        let on = alter(&p, &m, set(&[("delta.columnMapping.mode", "name")])).expect("enable");
        let p2 = on.protocol.expect("upgraded");
        assert_eq!((p2.min_reader_version, p2.min_writer_version), (2, 5));
        let m2 = on.metadata;
        assert_eq!(
            m2.schema().fields[1].physical_name(),
            Some("v"),
            "files keep their names"
        );
        assert_eq!(m2.property(COLUMN_MAPPING_MAX_ID), Some("3"));
        let renamed = alter(&p2, &m2, rename).expect("rename").metadata;
        assert_eq!(renamed.schema().fields[1].name, "value");
        assert_eq!(renamed.schema().fields[1].physical_name(), Some("v"));
        let added = alter(
            &p2,
            &renamed,
            AlterTable::AddColumns {
                parent: vec![],
                fields: vec![long("extra")],
            },
        )
        .expect("add")
        .metadata;
        let extra = added.schema().field("extra").expect("added");
        assert_eq!(extra.column_mapping_id(), Some(4));
        assert!(extra.physical_name().is_some_and(|p| p.starts_with("col-")));
        assert_eq!(added.property(COLUMN_MAPPING_MAX_ID), Some("4"));
        let prename = alter(
            &p2,
            &renamed,
            AlterTable::RenameColumn {
                path: vec!["p".into()],
                to: "part".into(),
            },
        )
        .expect("rename partition column")
        .metadata;
        assert_eq!(prename.partition_columns, vec!["part"]);
        let dropped = alter(
            &p2,
            &prename,
            AlterTable::DropColumns {
                paths: vec![vec!["value".into()]],
                if_exists: false,
            },
        )
        .expect("drop")
        .metadata;
        assert_eq!(dropped.schema().fields.len(), 2);
        assert!(
            alter(
                &p2,
                &dropped,
                AlterTable::DropColumns {
                    paths: vec![vec!["part".into()]],
                    if_exists: false
                }
            )
            .is_err(),
            "partition columns stay"
        );
    }

    #[test]
    fn columns_used_by_constraints_cannot_be_renamed() {
        let (p, m) = table(&[("delta.columnMapping.mode", "name")]);
        let m = alter(
            &p,
            &m,
            AlterTable::AddConstraint {
                name: "positive".into(),
                sql: "v > 0 AND id <> 7".into(),
            },
        )
        .expect("constraint");
        assert_eq!(
            m.validate,
            Some(("positive".into(), "v > 0 AND id <> 7".into()))
        );
        let p = m.protocol.unwrap_or(p);
        let err = alter(
            &p,
            &m.metadata,
            AlterTable::RenameColumn {
                path: vec!["v".into()],
                to: "w".into(),
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, AlterRefused::ColumnInUse { action: "rename", column, owner, .. }
                if column == "v" && owner == "constraint positive"),
            "{err}"
        );
        assert!(mentions("`v` > 0", "v") && !mentions("'v' = x", "v") && !mentions("vv > 1", "v"));
    }

    #[test]
    fn type_widening_records_the_change_and_refuses_narrowing() {
        let (p, m) = table(&[]);
        let to_long = AlterTable::ChangeColumnType {
            path: vec!["v".into()],
            to: DataType::Primitive(PrimitiveType::Long),
        };
        let err = alter(&p, &m, to_long.clone()).unwrap_err();
        assert!(
            err.to_string().contains("delta.enableTypeWidening"),
            "{err}"
        );
        let on = alter(&p, &m, set(&[("delta.enableTypeWidening", "true")])).expect("enable");
        let p = on.protocol.expect("typeWidening added");
        assert!(p.has_feature(&TableFeature::TypeWidening));
        let widened = alter(&p, &on.metadata, to_long).expect("widen").metadata;
        let f = &widened.schema().fields[1];
        assert_eq!(f.data_type, DataType::Primitive(PrimitiveType::Long));
        assert_eq!(
            f.metadata[TYPE_CHANGES],
            json!([{"fromType": "integer", "toType": "long"}])
        );
        let narrow = AlterTable::ChangeColumnType {
            path: vec!["id".into()],
            to: DataType::Primitive(PrimitiveType::Integer),
        };
        assert!(
            alter(&p, &widened, narrow)
                .unwrap_err()
                .to_string()
                .contains("not a type widening")
        );
        let dec =
            |precision, scale| DataType::Primitive(PrimitiveType::Decimal { precision, scale });
        assert!(is_widening(&dec(10, 2), &dec(12, 4)));
        assert!(!is_widening(&dec(10, 2), &dec(11, 4)));
        assert!(is_widening(
            &DataType::Primitive(PrimitiveType::Integer),
            &dec(12, 2)
        ));
        assert!(!is_widening(
            &DataType::Primitive(PrimitiveType::Long),
            &dec(20, 2)
        ));
        let short = DataType::Primitive(PrimitiveType::Short);
        assert!(
            !is_widening(&short, &dec(5, 0)),
            "the spec asks for 10 digits"
        );
        assert!(is_widening(&short, &dec(10, 0)));
    }

    #[test]
    fn properties_enable_features_and_protocol_never_goes_down() {
        let (p, m) = table(&[]);
        assert_eq!((p.min_reader_version, p.min_writer_version), (1, 2));
        let cdf = alter(&p, &m, set(&[("delta.enableChangeDataFeed", "true")])).expect("cdf");
        let p4 = cdf.protocol.expect("upgraded");
        assert_eq!((p4.min_reader_version, p4.min_writer_version), (1, 4));
        let dv = alter(
            &p4,
            &cdf.metadata,
            set(&[("delta.enableDeletionVectors", "true")]),
        )
        .expect("dv");
        let p7 = dv.protocol.expect("table features");
        assert_eq!((p7.min_reader_version, p7.min_writer_version), (3, 7));
        for f in [
            "changeDataFeed",
            "generatedColumns",
            "checkConstraints",
            "deletionVectors",
        ] {
            assert!(
                p7.writer_features
                    .as_ref()
                    .expect("list")
                    .iter()
                    .any(|n| n == f),
                "{f}"
            );
        }
        let again = alter(
            &p7,
            &dv.metadata,
            set(&[("delta.feature.appendOnly", "supported")]),
        )
        .expect("already there");
        assert_eq!(again.protocol, None);
        let ict = alter(
            &p7,
            &dv.metadata,
            set(&[("delta.feature.inCommitTimestamp", "supported")]),
        )
        .expect("ict");
        assert!(
            ict.protocol
                .expect("added")
                .has_feature(&TableFeature::InCommitTimestamp)
        );
        assert!(
            !ict.metadata
                .configuration
                .contains_key("delta.feature.inCommitTimestamp")
        );
        assert!(
            alter(
                &p7,
                &dv.metadata,
                set(&[("delta.feature.noSuchThing", "supported")])
            )
            .is_err()
        );
        assert!(alter(&p, &m, set(&[("delta.constraints.x", "v > 0")])).is_err());
        let unset = alter(
            &p4,
            &cdf.metadata,
            AlterTable::UnsetProperties {
                keys: vec!["delta.enableChangeDataFeed".into(), "nope".into()],
                if_exists: true,
            },
        )
        .expect("unset");
        assert!(unset.metadata.configuration.is_empty());
        assert_eq!(unset.protocol, None, "features stay supported");
    }

    #[test]
    fn clustering_writes_the_domain_with_physical_names() {
        let schema = StructType::new(vec![long("id"), long("ts")]);
        let p = protocol_for(&Default::default(), &[], &schema);
        let m = new_metadata(
            schema,
            vec![],
            Default::default(),
            None,
            &crate::SystemEnvironment,
        )
        .expect("m");
        let c = alter(&p, &m, AlterTable::ClusterBy(vec![vec!["ts".into()]])).expect("cluster");
        assert_eq!(c.domains[0].domain, CLUSTERING_DOMAIN);
        assert_eq!(
            c.domains[0].configuration,
            r#"{"clusteringColumns":[["ts"]]}"#
        );
        let p2 = c.protocol.expect("features");
        assert!(
            p2.has_feature(&TableFeature::Clustering)
                && p2.has_feature(&TableFeature::DomainMetadata)
        );
        let (pp, pm) = table(&[]);
        assert!(alter(&pp, &pm, AlterTable::ClusterBy(vec![vec!["id".into()]])).is_err());
    }

    #[test]
    fn writer_features_drop_once_unused() {
        let (p, m) = table(&[("delta.enableChangeDataFeed", "true")]);
        assert_eq!((p.min_reader_version, p.min_writer_version), (1, 4));
        let drop = AlterTable::DropFeature(TableFeature::ChangeDataFeed);
        let err = alter(&p, &m, drop.clone()).unwrap_err();
        assert!(
            matches!(&err, AlterRefused::FeatureInUse { feature, .. } if feature == "changeDataFeed"),
            "{err}"
        );
        assert!(
            err.to_string().contains("delta.enableChangeDataFeed"),
            "{err}"
        );
        let off = alter(&p, &m, set(&[("delta.enableChangeDataFeed", "false")])).expect("off");
        let dropped = alter(&p, &off.metadata, drop)
            .expect("drop")
            .protocol
            .expect("new protocol");
        assert!(!dropped.has_feature(&TableFeature::ChangeDataFeed));
        assert!(
            dropped.has_feature(&TableFeature::GeneratedColumns),
            "the rest stays"
        );
        assert_eq!(dropped.min_writer_version, 7);
        let err = alter(
            &p,
            &m,
            AlterTable::DropFeature(TableFeature::DeletionVectors),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not have"), "{err}");
        let (p3, m3) = table(&[("delta.enableDeletionVectors", "true")]);
        let err = alter(
            &p3,
            &m3,
            AlterTable::DropFeature(TableFeature::DeletionVectors),
        )
        .unwrap_err();
        assert!(err.to_string().contains("reader-writer"), "{err}");
        // Table features: the name leaves the list; ICT properties go too.
        let (p4, m4) = table(&[("delta.enableInCommitTimestamps", "true")]);
        let c = alter(
            &p4,
            &m4,
            AlterTable::DropFeature(TableFeature::InCommitTimestamp),
        )
        .expect("drop");
        assert!(
            !c.protocol
                .expect("protocol")
                .has_feature(&TableFeature::InCommitTimestamp)
        );
        assert!(
            !c.metadata
                .configuration
                .contains_key("delta.enableInCommitTimestamps")
        );
    }
}
