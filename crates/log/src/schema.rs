//! The Delta table schema: the typed form of `metaData.schemaString`, its JSON
//! encoding (both directions) and its mapping to Arrow.
//!
//! Parsing is strict: an unknown type name, a malformed decimal or a field
//! without a name is rejected when the schema is read, not when a value is
//! later decoded.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema as ArrowSchema, TimeUnit};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Largest decimal precision the protocol allows.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// A primitive (non-nested) Delta type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrimitiveType {
    /// UTF-8 string.
    String,
    /// 64-bit signed integer.
    Long,
    /// 32-bit signed integer.
    Integer,
    /// 16-bit signed integer.
    Short,
    /// 8-bit signed integer.
    Byte,
    /// 32-bit IEEE float.
    Float,
    /// 64-bit IEEE float.
    Double,
    /// Boolean.
    Boolean,
    /// Raw bytes.
    Binary,
    /// Calendar date (days since epoch).
    Date,
    /// Microsecond instant, adjusted to UTC.
    Timestamp,
    /// Microsecond wall-clock time without a time zone (`timestampNtz` feature).
    TimestampNtz,
    /// Fixed-point decimal with precision and scale.
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point, 0..=precision.
        scale: u8,
    },
}

/// A schema (or type) that cannot be read or converted: what kind of
/// problem, and a message naming the field or type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SchemaError {
    /// What kind of problem.
    pub kind: SchemaErrorKind,
    /// What is wrong, naming the field (as a path) or the type.
    pub message: String,
}

/// The kinds of [`SchemaError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// The schema JSON is not a Delta schema (shape, nesting, field keys).
    Json,
    /// A type name silt does not know, or a decimal out of range.
    Type,
    /// A type with no Arrow equivalent, or an Arrow type with no Delta one.
    Arrow,
}

impl SchemaError {
    fn of(kind: SchemaErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn json(message: impl Into<String>) -> Self {
        Self::of(SchemaErrorKind::Json, message)
    }

    fn ty(message: impl Into<String>) -> Self {
        Self::of(SchemaErrorKind::Type, message)
    }

    fn arrow(message: impl Into<String>) -> Self {
        Self::of(SchemaErrorKind::Arrow, message)
    }

    /// The same error, inside field `name`.
    fn in_field(self, name: &str) -> Self {
        Self {
            kind: self.kind,
            message: format!("field {name:?}: {}", self.message),
        }
    }
}

impl PrimitiveType {
    /// Parses a primitive type name as it appears in the schema JSON.
    pub fn parse(name: &str) -> Result<Self, SchemaError> {
        Ok(match name {
            "string" => Self::String,
            "long" => Self::Long,
            "integer" => Self::Integer,
            "short" => Self::Short,
            "byte" => Self::Byte,
            "float" => Self::Float,
            "double" => Self::Double,
            "boolean" => Self::Boolean,
            "binary" => Self::Binary,
            "date" => Self::Date,
            "timestamp" => Self::Timestamp,
            "timestamp_ntz" => Self::TimestampNtz,
            other => return parse_decimal(other),
        })
    }
}

fn parse_decimal(name: &str) -> Result<PrimitiveType, SchemaError> {
    let inner = name
        .strip_prefix("decimal(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| SchemaError::ty(format!("unknown primitive type {name:?}")))?;
    let (p, s) = inner.split_once(',').ok_or_else(|| {
        SchemaError::ty(format!("decimal type {name:?} needs precision and scale"))
    })?;
    let precision: u8 = p
        .trim()
        .parse()
        .map_err(|_| SchemaError::ty(format!("bad decimal precision in {name:?}")))?;
    let scale: u8 = s
        .trim()
        .parse()
        .map_err(|_| SchemaError::ty(format!("bad decimal scale in {name:?}")))?;
    if precision == 0 || precision > MAX_DECIMAL_PRECISION || scale > precision {
        return Err(SchemaError::ty(format!(
            "decimal({precision},{scale}) is outside 1 <= precision <= 38, scale <= precision"
        )));
    }
    Ok(PrimitiveType::Decimal { precision, scale })
}

impl fmt::Display for PrimitiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::String => "string",
            Self::Long => "long",
            Self::Integer => "integer",
            Self::Short => "short",
            Self::Byte => "byte",
            Self::Float => "float",
            Self::Double => "double",
            Self::Boolean => "boolean",
            Self::Binary => "binary",
            Self::Date => "date",
            Self::Timestamp => "timestamp",
            Self::TimestampNtz => "timestamp_ntz",
            Self::Decimal { precision, scale } => return write!(f, "decimal({precision},{scale})"),
        };
        f.write_str(name)
    }
}

/// Any Delta data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataType {
    /// A primitive type.
    Primitive(PrimitiveType),
    /// An array of elements.
    Array(Box<ArrayType>),
    /// A map from keys to values.
    Map(Box<MapType>),
    /// A nested struct.
    Struct(Box<StructType>),
    /// Semi-structured `variant` (`variantType` feature).
    Variant,
    /// `void` (all-null) columns written by Spark.
    Void,
    /// Geospatial types (`geospatial` feature): `geometry(<crs>)` or
    /// `geography(<crs>[, <algorithm>])`, kept with their full spelling.
    Geo(String),
}

impl DataType {
    /// Shorthand for a primitive type.
    pub const fn primitive(p: PrimitiveType) -> Self {
        Self::Primitive(p)
    }

    /// The type name as written in schema JSON (nested types give their kind).
    pub fn simple_name(&self) -> String {
        match self {
            Self::Primitive(p) => p.to_string(),
            Self::Array(_) => "array".into(),
            Self::Map(_) => "map".into(),
            Self::Struct(_) => "struct".into(),
            Self::Variant => "variant".into(),
            Self::Void => "void".into(),
            Self::Geo(s) => s.clone(),
        }
    }
}

/// An array type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayType {
    /// Element type.
    pub element_type: DataType,
    /// Whether elements may be null.
    pub contains_null: bool,
}

/// A map type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapType {
    /// Key type.
    pub key_type: DataType,
    /// Value type.
    pub value_type: DataType,
    /// Whether values may be null.
    pub value_contains_null: bool,
}

/// One named field of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructField {
    /// Logical column name.
    pub name: String,
    /// Field type.
    pub data_type: DataType,
    /// Whether the field may be null.
    pub nullable: bool,
    /// Field metadata (column mapping ids, comments, generation expressions, ...).
    pub metadata: serde_json::Map<String, Value>,
}

/// Metadata key holding the column-mapping physical name.
pub const COLUMN_MAPPING_PHYSICAL_NAME_KEY: &str = "delta.columnMapping.physicalName";
/// Metadata key holding the column-mapping field id.
pub const COLUMN_MAPPING_ID_KEY: &str = "delta.columnMapping.id";

impl StructField {
    /// A field with no metadata.
    pub fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        Self {
            name: name.into(),
            data_type,
            nullable,
            metadata: serde_json::Map::new(),
        }
    }

    /// The column-mapping physical name, if the field has one.
    pub fn physical_name(&self) -> Option<&str> {
        self.metadata
            .get(COLUMN_MAPPING_PHYSICAL_NAME_KEY)
            .and_then(Value::as_str)
    }

    /// The column-mapping field id, if the field has one.
    pub fn column_mapping_id(&self) -> Option<i64> {
        self.metadata
            .get(COLUMN_MAPPING_ID_KEY)
            .and_then(Value::as_i64)
    }
}

/// A struct type: the table schema is one of these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructType {
    /// Fields in declaration order.
    pub fields: Vec<StructField>,
}

impl StructType {
    /// A struct from its fields.
    pub fn new(fields: Vec<StructField>) -> Self {
        Self { fields }
    }

    /// Parses `metaData.schemaString`.
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SchemaError::json(e.to_string()))?;
        match parse_type(&value)? {
            DataType::Struct(s) => Ok(*s),
            other => Err(SchemaError::json(format!(
                "table schema must be a struct, found {}",
                other.simple_name()
            ))),
        }
    }

    /// Serializes to the schema JSON string used in `metaData.schemaString`.
    pub fn to_json(&self) -> String {
        type_to_json(&DataType::Struct(Box::new(self.clone()))).to_string()
    }

    /// The field with this name (exact match).
    pub fn field(&self, name: &str) -> Option<&StructField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Converts to an Arrow schema with the logical names.
    pub fn to_arrow(&self) -> Result<ArrowSchema, SchemaError> {
        let fields = self
            .fields
            .iter()
            .map(field_to_arrow)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ArrowSchema::new(fields))
    }

    /// Converts from an Arrow schema.
    pub fn try_from_arrow(schema: &ArrowSchema) -> Result<Self, SchemaError> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| field_from_arrow(f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { fields })
    }
}

impl Serialize for StructType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        type_to_json(&DataType::Struct(Box::new(self.clone()))).serialize(s)
    }
}

impl<'de> Deserialize<'de> for StructType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        match parse_type(&value).map_err(D::Error::custom)? {
            DataType::Struct(s) => Ok(*s),
            other => Err(D::Error::custom(format!(
                "expected a struct, found {}",
                other.simple_name()
            ))),
        }
    }
}

/// Nesting depth beyond which a schema is refused (guards the recursive parser).
const MAX_NESTING: usize = 64;

fn parse_type(value: &Value) -> Result<DataType, SchemaError> {
    parse_type_at(value, 0)
}

fn parse_type_at(value: &Value, depth: usize) -> Result<DataType, SchemaError> {
    if depth > MAX_NESTING {
        return Err(SchemaError::json(format!(
            "schema nests deeper than {MAX_NESTING} levels"
        )));
    }
    match value {
        Value::String(name) => parse_named_type(name),
        Value::Object(obj) => {
            let kind = obj
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| SchemaError::json("nested type without a \"type\" string"))?;
            match kind {
                "struct" => {
                    let fields = obj.get("fields").and_then(Value::as_array).ok_or_else(|| {
                        SchemaError::json("struct type without a \"fields\" array")
                    })?;
                    let fields = fields
                        .iter()
                        .map(|f| parse_field(f, depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(DataType::Struct(Box::new(StructType { fields })))
                }
                "array" => {
                    let element = obj
                        .get("elementType")
                        .ok_or_else(|| SchemaError::json("array without elementType"))?;
                    let contains_null = obj
                        .get("containsNull")
                        .map(|v| {
                            v.as_bool().ok_or_else(|| {
                                SchemaError::json("array containsNull must be a boolean")
                            })
                        })
                        .transpose()?
                        .unwrap_or(true);
                    Ok(DataType::Array(Box::new(ArrayType {
                        element_type: parse_type_at(element, depth + 1)?,
                        contains_null,
                    })))
                }
                "map" => {
                    let key = obj
                        .get("keyType")
                        .ok_or_else(|| SchemaError::json("map without keyType"))?;
                    let val = obj
                        .get("valueType")
                        .ok_or_else(|| SchemaError::json("map without valueType"))?;
                    let value_contains_null = obj
                        .get("valueContainsNull")
                        .map(|v| {
                            v.as_bool().ok_or_else(|| {
                                SchemaError::json("map valueContainsNull must be a boolean")
                            })
                        })
                        .transpose()?
                        .unwrap_or(true);
                    Ok(DataType::Map(Box::new(MapType {
                        key_type: parse_type_at(key, depth + 1)?,
                        value_type: parse_type_at(val, depth + 1)?,
                        value_contains_null,
                    })))
                }
                other => Err(SchemaError::json(format!("unknown nested type {other:?}"))),
            }
        }
        other => Err(SchemaError::json(format!(
            "a type must be a string or an object, found {other}"
        ))),
    }
}

fn parse_named_type(name: &str) -> Result<DataType, SchemaError> {
    match name {
        "variant" => Ok(DataType::Variant),
        "void" => Ok(DataType::Void),
        n if n.starts_with("geometry(") || n.starts_with("geography(") => {
            if n.ends_with(')') {
                Ok(DataType::Geo(n.to_string()))
            } else {
                Err(SchemaError::json(format!(
                    "malformed geospatial type {n:?}"
                )))
            }
        }
        n if n == "geometry" || n == "geography" => Ok(DataType::Geo(n.to_string())),
        n => PrimitiveType::parse(n).map(DataType::Primitive),
    }
}

fn parse_field(value: &Value, depth: usize) -> Result<StructField, SchemaError> {
    let obj = value
        .as_object()
        .ok_or_else(|| SchemaError::json("a struct field must be an object"))?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| SchemaError::json("struct field without a \"name\" string"))?;
    let ty = obj
        .get("type")
        .ok_or_else(|| SchemaError::json(format!("field {name:?} has no type")))?;
    let data_type = parse_type_at(ty, depth).map_err(|e| e.in_field(name))?;
    let nullable = match obj.get("nullable") {
        None => true,
        Some(v) => v.as_bool().ok_or_else(|| {
            SchemaError::json(format!("field {name:?}: nullable must be a boolean"))
        })?,
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(SchemaError::json(format!(
                "field {name:?}: metadata must be an object"
            )));
        }
    };
    Ok(StructField {
        name: name.to_string(),
        data_type,
        nullable,
        metadata,
    })
}

fn type_to_json(t: &DataType) -> Value {
    match t {
        DataType::Primitive(p) => Value::String(p.to_string()),
        DataType::Variant => Value::String("variant".into()),
        DataType::Void => Value::String("void".into()),
        DataType::Geo(s) => Value::String(s.clone()),
        DataType::Array(a) => serde_json::json!({
            "type": "array",
            "elementType": type_to_json(&a.element_type),
            "containsNull": a.contains_null,
        }),
        DataType::Map(m) => serde_json::json!({
            "type": "map",
            "keyType": type_to_json(&m.key_type),
            "valueType": type_to_json(&m.value_type),
            "valueContainsNull": m.value_contains_null,
        }),
        DataType::Struct(s) => {
            let fields: Vec<Value> = s
                .fields
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name,
                        "type": type_to_json(&f.data_type),
                        "nullable": f.nullable,
                        "metadata": Value::Object(f.metadata.clone()),
                    })
                })
                .collect();
            serde_json::json!({"type": "struct", "fields": fields})
        }
    }
}

/// Arrow metadata key carrying a Delta field's metadata JSON, so a round trip
/// through Arrow keeps column-mapping ids, comments and the like.
pub const ARROW_DELTA_METADATA_KEY: &str = "delta.metadata";

fn field_to_arrow(f: &StructField) -> Result<ArrowField, SchemaError> {
    let mut field = ArrowField::new(&f.name, type_to_arrow(&f.data_type)?, f.nullable);
    if !f.metadata.is_empty() {
        let mut md = HashMap::new();
        md.insert(
            ARROW_DELTA_METADATA_KEY.to_string(),
            Value::Object(f.metadata.clone()).to_string(),
        );
        field = field.with_metadata(md);
    }
    Ok(field)
}

/// Converts a Delta type to its Arrow type.
///
/// Timestamps map to microsecond Arrow timestamps (`UTC` for `timestamp`,
/// no zone for `timestamp_ntz`); variant maps to a struct of two binaries
/// (`metadata`, `value`) as in the Parquet variant encoding.
pub fn type_to_arrow(t: &DataType) -> Result<ArrowType, SchemaError> {
    Ok(match t {
        DataType::Primitive(p) => match p {
            PrimitiveType::String => ArrowType::Utf8,
            PrimitiveType::Long => ArrowType::Int64,
            PrimitiveType::Integer => ArrowType::Int32,
            PrimitiveType::Short => ArrowType::Int16,
            PrimitiveType::Byte => ArrowType::Int8,
            PrimitiveType::Float => ArrowType::Float32,
            PrimitiveType::Double => ArrowType::Float64,
            PrimitiveType::Boolean => ArrowType::Boolean,
            PrimitiveType::Binary => ArrowType::Binary,
            PrimitiveType::Date => ArrowType::Date32,
            PrimitiveType::Timestamp => {
                ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            PrimitiveType::TimestampNtz => ArrowType::Timestamp(TimeUnit::Microsecond, None),
            PrimitiveType::Decimal { precision, scale } => {
                ArrowType::Decimal128(*precision, *scale as i8)
            }
        },
        DataType::Array(a) => ArrowType::List(Arc::new(ArrowField::new(
            "element",
            type_to_arrow(&a.element_type)?,
            a.contains_null,
        ))),
        DataType::Map(m) => {
            let entries = ArrowField::new(
                "key_value",
                ArrowType::Struct(
                    vec![
                        ArrowField::new("key", type_to_arrow(&m.key_type)?, false),
                        ArrowField::new(
                            "value",
                            type_to_arrow(&m.value_type)?,
                            m.value_contains_null,
                        ),
                    ]
                    .into(),
                ),
                false,
            );
            ArrowType::Map(Arc::new(entries), false)
        }
        DataType::Struct(s) => ArrowType::Struct(
            s.fields
                .iter()
                .map(field_to_arrow)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        DataType::Variant => ArrowType::Struct(
            vec![
                ArrowField::new("metadata", ArrowType::Binary, false),
                ArrowField::new("value", ArrowType::Binary, false),
            ]
            .into(),
        ),
        DataType::Void => ArrowType::Null,
        DataType::Geo(_) => ArrowType::Binary,
    })
}

fn field_from_arrow(f: &ArrowField) -> Result<StructField, SchemaError> {
    let metadata = match f.metadata().get(ARROW_DELTA_METADATA_KEY) {
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(SchemaError::arrow(format!(
                    "field {:?}: bad {ARROW_DELTA_METADATA_KEY}",
                    f.name()
                )));
            }
        },
        None => serde_json::Map::new(),
    };
    Ok(StructField {
        name: f.name().clone(),
        data_type: type_from_arrow(f.data_type()).map_err(|e| e.in_field(f.name()))?,
        nullable: f.is_nullable(),
        metadata,
    })
}

/// Converts an Arrow type to the Delta type that stores it.
pub fn type_from_arrow(t: &ArrowType) -> Result<DataType, SchemaError> {
    use PrimitiveType as P;
    let p = |p| Ok(DataType::Primitive(p));
    match t {
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => p(P::String),
        ArrowType::Int64 => p(P::Long),
        ArrowType::Int32 => p(P::Integer),
        ArrowType::Int16 => p(P::Short),
        ArrowType::Int8 => p(P::Byte),
        ArrowType::Float32 => p(P::Float),
        ArrowType::Float64 => p(P::Double),
        ArrowType::Boolean => p(P::Boolean),
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => p(P::Binary),
        ArrowType::FixedSizeBinary(_) => p(P::Binary),
        ArrowType::Date32 | ArrowType::Date64 => p(P::Date),
        ArrowType::Timestamp(_, Some(_)) => p(P::Timestamp),
        ArrowType::Timestamp(_, None) => p(P::TimestampNtz),
        ArrowType::Decimal128(precision, scale) if *scale >= 0 && *precision <= 38 => {
            p(P::Decimal {
                precision: *precision,
                scale: *scale as u8,
            })
        }
        ArrowType::Null => Ok(DataType::Void),
        ArrowType::List(f) | ArrowType::LargeList(f) | ArrowType::ListView(f) => {
            Ok(DataType::Array(Box::new(ArrayType {
                element_type: type_from_arrow(f.data_type())?,
                contains_null: f.is_nullable(),
            })))
        }
        ArrowType::Map(entries, _) => match entries.data_type() {
            ArrowType::Struct(kv) if kv.len() == 2 => Ok(DataType::Map(Box::new(MapType {
                key_type: type_from_arrow(kv[0].data_type())?,
                value_type: type_from_arrow(kv[1].data_type())?,
                value_contains_null: kv[1].is_nullable(),
            }))),
            other => Err(SchemaError::arrow(format!(
                "map entries must be a 2-field struct, found {other}"
            ))),
        },
        ArrowType::Struct(fields) => Ok(DataType::Struct(Box::new(StructType {
            fields: fields
                .iter()
                .map(|f| field_from_arrow(f))
                .collect::<Result<Vec<_>, _>>()?,
        }))),
        other => Err(SchemaError::arrow(format!(
            "Arrow type {other} has no Delta equivalent"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_type_and_round_trips() {
        let json = r#"{"type":"struct","fields":[
            {"name":"a","type":"long","nullable":true,"metadata":{}},
            {"name":"b","type":"decimal(10,2)","nullable":false,"metadata":{"comment":"x"}},
            {"name":"c","type":"timestamp_ntz","nullable":true,"metadata":{}},
            {"name":"d","type":{"type":"array","elementType":"string","containsNull":false},"nullable":true,"metadata":{}},
            {"name":"e","type":{"type":"map","keyType":"string","valueType":{"type":"struct","fields":[{"name":"x","type":"date","nullable":true,"metadata":{}}]},"valueContainsNull":true},"nullable":true,"metadata":{}},
            {"name":"f","type":"variant","nullable":true,"metadata":{}}
        ]}"#;
        let s = StructType::from_json(json).unwrap();
        assert_eq!(s.fields.len(), 6);
        assert_eq!(
            s.fields[1].data_type,
            DataType::Primitive(PrimitiveType::Decimal {
                precision: 10,
                scale: 2
            })
        );
        let again = StructType::from_json(&s.to_json()).unwrap();
        assert_eq!(s, again);
        let arrow = s.to_arrow().unwrap();
        let back = StructType::try_from_arrow(&arrow).unwrap();
        // variant does not survive Arrow (it becomes a struct of binaries); the rest does.
        assert_eq!(&back.fields[..5], &s.fields[..5]);
    }

    #[test]
    fn rejects_bad_types() {
        for bad in [
            r#"{"type":"struct","fields":[{"name":"a","type":"decimal(39,1)"}]}"#,
            r#"{"type":"struct","fields":[{"name":"a","type":"decimal(3,4)"}]}"#,
            r#"{"type":"struct","fields":[{"name":"a","type":"nope"}]}"#,
            r#"{"type":"struct","fields":[{"type":"long"}]}"#,
            r#"{"type":"array","elementType":"long"}"#,
            r#"[1,2]"#,
        ] {
            assert!(StructType::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut t = String::from("\"long\"");
        for _ in 0..500 {
            t = format!(r#"{{"type":"array","elementType":{t},"containsNull":true}}"#);
        }
        let json = format!(r#"{{"type":"struct","fields":[{{"name":"a","type":{t}}}]}}"#);
        assert!(StructType::from_json(&json).is_err());
    }

    #[test]
    fn schema_errors_say_their_kind_and_field() {
        let bad_json = StructType::from_json("{not json").unwrap_err();
        assert_eq!(bad_json.kind, SchemaErrorKind::Json);
        let nested = StructType::from_json(
            r#"{"type":"struct","fields":[{"name":"a","type":"decimal(40,2)","nullable":true,"metadata":{}}]}"#,
        )
        .unwrap_err();
        assert_eq!(nested.kind, SchemaErrorKind::Type);
        assert!(nested.message.starts_with("field \"a\": "), "{nested}");
        let arrow =
            type_from_arrow(&ArrowType::Duration(arrow_schema::TimeUnit::Second)).unwrap_err();
        assert_eq!(arrow.kind, SchemaErrorKind::Arrow);
        assert_eq!(
            PrimitiveType::parse("nope").unwrap_err().kind,
            SchemaErrorKind::Type
        );
    }
}
