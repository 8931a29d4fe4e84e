//! Delta values as Arrow arrays: scalars repeated into columns (partition
//! values, predicate literals) and file columns conformed to the table's
//! logical types and names (casts, nested renames for column mapping,
//! missing columns as nulls).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, ListArray, MapArray, StringArray,
    StructArray, TimestampMicrosecondArray, new_null_array,
};
use arrow_schema::{DataType as ArrowType, Field, FieldRef, Fields, TimeUnit};
use silt_log::partition::Scalar;
use silt_log::schema::{COLUMN_MAPPING_ID_KEY, DataType, StructField, type_to_arrow};

/// A value or column that does not fit the Arrow type the table calls
/// for. The data (or the table's definition) is at fault, so retrying
/// cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArrowValueError {
    /// A scalar of another type than the column's.
    #[error("cannot make a {arrow_type} column from the value {value}")]
    ScalarType {
        /// The value, with its type (`long 5`).
        value: String,
        /// The column's Arrow type.
        arrow_type: String,
    },
    /// A file column of another shape than the table's (a non-struct for
    /// a struct, a non-map for a map).
    #[error("expected a {expected} column, found {found}")]
    Shape {
        /// `struct` or `map`.
        expected: &'static str,
        /// The Arrow type found.
        found: String,
    },
    /// A Delta type whose Arrow form is not of its kind (a bug in the
    /// type mapping).
    #[error("{detail}")]
    TypeMapping {
        /// What does not match.
        detail: &'static str,
    },
    /// A file column that does not cast to the table's type.
    #[error("cannot read {found} as {expected}: {source}")]
    Cast {
        /// The Arrow type in the file.
        found: String,
        /// The table's type.
        expected: String,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The Delta type has no Arrow form.
    #[error(transparent)]
    Schema(#[from] silt_log::schema::SchemaError),
    /// Arrow refused to build the column.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// A scalar for a message: its type and value (`long 5`, `string 'a'`).
fn describe_scalar(value: &Scalar) -> String {
    match value {
        Scalar::Null => "null".to_string(),
        Scalar::String(s) => format!("string '{s}'"),
        Scalar::Long(v) => format!("long {v}"),
        Scalar::Integer(v) => format!("integer {v}"),
        Scalar::Short(v) => format!("short {v}"),
        Scalar::Byte(v) => format!("byte {v}"),
        Scalar::Float(v) => format!("float {v}"),
        Scalar::Double(v) => format!("double {v}"),
        Scalar::Boolean(v) => format!("boolean {v}"),
        Scalar::Binary(v) => format!("binary of {} bytes", v.len()),
        Scalar::Date(v) => format!("date ({v} days since 1970-01-01)"),
        Scalar::Timestamp(v) => format!("timestamp ({v} µs since the epoch)"),
        Scalar::TimestampNtz(v) => format!("timestamp_ntz ({v} µs since the epoch)"),
        Scalar::Decimal {
            unscaled,
            precision,
            scale,
        } => format!("decimal({precision},{scale}) with unscaled value {unscaled}"),
    }
}

/// `n` copies of a scalar as an array of `ty` (nulls for `Scalar::Null`).
pub fn repeat_scalar(
    value: &Scalar,
    ty: &ArrowType,
    n: usize,
) -> Result<ArrayRef, ArrowValueError> {
    if matches!(value, Scalar::Null) {
        return Ok(new_null_array(ty, n));
    }
    let arr: ArrayRef = match (value, ty) {
        (Scalar::String(s), ArrowType::Utf8) => Arc::new(StringArray::from(vec![s.as_str(); n])),
        (Scalar::Long(v), ArrowType::Int64) => Arc::new(Int64Array::from(vec![*v; n])),
        (Scalar::Integer(v), ArrowType::Int32) => Arc::new(Int32Array::from(vec![*v; n])),
        (Scalar::Short(v), ArrowType::Int16) => Arc::new(Int16Array::from(vec![*v; n])),
        (Scalar::Byte(v), ArrowType::Int8) => Arc::new(Int8Array::from(vec![*v; n])),
        (Scalar::Float(v), ArrowType::Float32) => Arc::new(Float32Array::from(vec![*v; n])),
        (Scalar::Double(v), ArrowType::Float64) => Arc::new(Float64Array::from(vec![*v; n])),
        (Scalar::Boolean(v), ArrowType::Boolean) => Arc::new(BooleanArray::from(vec![*v; n])),
        (Scalar::Binary(v), ArrowType::Binary) => {
            Arc::new(BinaryArray::from(vec![v.as_slice(); n]))
        }
        (Scalar::Date(v), ArrowType::Date32) => Arc::new(Date32Array::from(vec![*v; n])),
        (
            Scalar::Timestamp(v) | Scalar::TimestampNtz(v),
            ArrowType::Timestamp(TimeUnit::Microsecond, tz),
        ) => Arc::new(TimestampMicrosecondArray::from(vec![*v; n]).with_timezone_opt(tz.clone())),
        (Scalar::Decimal { unscaled, .. }, ArrowType::Decimal128(p, s)) => {
            Arc::new(Decimal128Array::from(vec![*unscaled; n]).with_precision_and_scale(*p, *s)?)
        }
        (v, t) => {
            return Err(ArrowValueError::ScalarType {
                value: describe_scalar(v),
                arrow_type: t.to_string(),
            });
        }
    };
    Ok(arr)
}

/// How data files name their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnMappingMode {
    /// Files use logical names.
    None,
    /// Files use `delta.columnMapping.physicalName`.
    Name,
    /// Files are matched by Parquet field id (`delta.columnMapping.id`).
    Id,
}

impl ColumnMappingMode {
    /// From the table property `delta.columnMapping.mode`.
    pub fn from_property(value: Option<&str>) -> Self {
        match value {
            Some("name") => Self::Name,
            Some("id") => Self::Id,
            _ => Self::None,
        }
    }
}

/// The name a field has in data files.
pub fn physical_name(field: &StructField, mode: ColumnMappingMode) -> &str {
    match mode {
        ColumnMappingMode::None => &field.name,
        _ => field.physical_name().unwrap_or(&field.name),
    }
}

const PARQUET_FIELD_ID: &str = "PARQUET:field_id";

/// Finds the child of a file struct that holds `field`.
pub fn find_file_child<'a>(
    file_fields: &'a Fields,
    field: &StructField,
    mode: ColumnMappingMode,
) -> Option<(usize, &'a FieldRef)> {
    if mode == ColumnMappingMode::Id
        && let Some(id) = field
            .metadata
            .get(COLUMN_MAPPING_ID_KEY)
            .and_then(|v| v.as_i64())
        && let Some(hit) = file_fields.iter().enumerate().find(|(_, f)| {
            f.metadata()
                .get(PARQUET_FIELD_ID)
                .and_then(|v| v.parse::<i64>().ok())
                == Some(id)
        })
    {
        return Some(hit);
    }
    let name = physical_name(field, mode);
    file_fields
        .iter()
        .enumerate()
        .find(|(_, f)| f.name() == name)
        .or_else(|| {
            file_fields
                .iter()
                .enumerate()
                .find(|(_, f)| f.name().eq_ignore_ascii_case(name))
        })
}

/// Conforms a file column to a table field's logical type and names.
pub fn conform(
    array: &ArrayRef,
    ty: &DataType,
    mode: ColumnMappingMode,
) -> Result<ArrayRef, ArrowValueError> {
    let target = logical_arrow_type(ty)?;
    match ty {
        DataType::Struct(st) => {
            let Some(file) = array.as_struct_opt() else {
                return Err(ArrowValueError::Shape {
                    expected: "struct",
                    found: array.data_type().to_string(),
                });
            };
            let ArrowType::Struct(target_fields) = &target else {
                return Err(ArrowValueError::TypeMapping {
                    detail: "struct maps to a non-struct Arrow type",
                });
            };
            let file_fields = file.fields().clone();
            let mut columns = Vec::with_capacity(st.fields.len());
            for (f, tf) in st.fields.iter().zip(target_fields.iter()) {
                columns.push(match find_file_child(&file_fields, f, mode) {
                    Some((i, _)) => conform(file.column(i), &f.data_type, mode)?,
                    None => new_null_array(tf.data_type(), file.len()),
                });
            }
            Ok(Arc::new(StructArray::try_new(
                target_fields.clone(),
                columns,
                file.nulls().cloned(),
            )?))
        }
        DataType::Array(at) => {
            let Some(list) = array.as_list_opt::<i32>() else {
                return Ok(arrow_cast::cast(array, &target)?);
            };
            let values = conform(list.values(), &at.element_type, mode)?;
            let ArrowType::List(field) = &target else {
                return Err(ArrowValueError::TypeMapping {
                    detail: "array maps to a non-list Arrow type",
                });
            };
            Ok(Arc::new(ListArray::try_new(
                Arc::new(Field::new(
                    field.name(),
                    values.data_type().clone(),
                    field.is_nullable(),
                )),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?))
        }
        DataType::Map(mt) => {
            let Some(map) = array.as_map_opt() else {
                return Err(ArrowValueError::Shape {
                    expected: "map",
                    found: array.data_type().to_string(),
                });
            };
            let keys = conform(map.keys(), &mt.key_type, mode)?;
            let values = conform(map.values(), &mt.value_type, mode)?;
            let ArrowType::Map(entries, sorted) = &target else {
                return Err(ArrowValueError::TypeMapping {
                    detail: "map maps to a non-map Arrow type",
                });
            };
            let ArrowType::Struct(kv) = entries.data_type() else {
                return Err(ArrowValueError::TypeMapping {
                    detail: "map entries are not a struct",
                });
            };
            let entries_array = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
            Ok(Arc::new(MapArray::try_new(
                Arc::new(Field::new(
                    entries.name(),
                    entries_array.data_type().clone(),
                    false,
                )),
                map.offsets().clone(),
                entries_array,
                map.nulls().cloned(),
                *sorted,
            )?))
        }
        _ => {
            if array.data_type() == &target {
                Ok(array.clone())
            } else if let (ArrowType::Timestamp(_, _), ArrowType::Timestamp(unit, tz)) =
                (array.data_type(), &target)
            {
                // Parquet timestamps are instants (INT96 and isAdjustedToUTC)
                // or wall-clock values; change the unit, then label the zone
                // without converting (no time-zone database needed).
                let naive = arrow_cast::cast(array, &ArrowType::Timestamp(*unit, None))?;
                let labelled = naive
                    .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                    .clone()
                    .with_timezone_opt(tz.clone());
                Ok(Arc::new(labelled))
            } else {
                arrow_cast::cast(array, &target).map_err(|source| ArrowValueError::Cast {
                    found: array.data_type().to_string(),
                    expected: ty.simple_name(),
                    source,
                })
            }
        }
    }
}

/// Fields without metadata, at every depth (output schemas stay plain).
pub fn plain_fields(fields: &Fields) -> Fields {
    fields
        .iter()
        .map(|f| {
            Arc::new(Field::new(
                f.name(),
                plain_type(f.data_type()),
                f.is_nullable(),
            ))
        })
        .collect()
}

/// An Arrow type with field metadata removed at every depth.
pub fn plain_type(t: &ArrowType) -> ArrowType {
    let field = |f: &FieldRef| {
        Arc::new(Field::new(
            f.name(),
            plain_type(f.data_type()),
            f.is_nullable(),
        ))
    };
    match t {
        ArrowType::Struct(inner) => ArrowType::Struct(plain_fields(inner)),
        ArrowType::List(f) => ArrowType::List(field(f)),
        ArrowType::LargeList(f) => ArrowType::LargeList(field(f)),
        ArrowType::Map(f, sorted) => ArrowType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// The plain Arrow type of a Delta type.
pub fn logical_arrow_type(ty: &DataType) -> Result<ArrowType, silt_log::schema::SchemaError> {
    Ok(plain_type(&type_to_arrow(ty)?))
}

/// An add's partition values keyed by logical column names (the log keys
/// them by physical names under column mapping).
pub fn logical_partition_values(
    values: &std::collections::HashMap<String, Option<String>>,
    schema: &silt_log::schema::StructType,
    partition_columns: &[String],
    mode: ColumnMappingMode,
) -> std::collections::HashMap<String, Option<String>> {
    if mode == ColumnMappingMode::None {
        return values.clone();
    }
    partition_columns
        .iter()
        .filter_map(|c| {
            let f = schema.field(c)?;
            let v = values
                .get(physical_name(f, mode))
                .or_else(|| values.get(c))?;
            Some((c.clone(), v.clone()))
        })
        .collect()
}

/// `batch` with one more column.
pub(crate) fn append_column(
    batch: &arrow_array::RecordBatch,
    field: arrow_schema::Field,
    column: ArrayRef,
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    let mut fields: Vec<arrow_schema::Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    fields.push(field);
    cols.push(column);
    arrow_array::RecordBatch::try_new(std::sync::Arc::new(arrow_schema::Schema::new(fields)), cols)
}
