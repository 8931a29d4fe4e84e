//! Turning rows of Arrow arrays (as read from Parquet checkpoints and
//! sidecars) into JSON values, so that checkpoint actions go through the same
//! typed, validating parser as commit-file actions.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Number, Value};

/// Value of `array` at `row` as JSON; `None` for null. Nested structs omit
/// their null fields, as the log's JSON encoding does.
pub fn json_at(array: &dyn Array, row: usize) -> Option<Value> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Null => return None,
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float32 => float(array.as_primitive::<Float32Type>().value(row) as f64)?,
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row))?,
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_string()),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            let date = NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::Duration::days(days as i64))?;
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        DataType::Timestamp(unit, tz) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let micros = match unit {
                TimeUnit::Second => raw.checked_mul(1_000_000)?,
                TimeUnit::Millisecond => raw.checked_mul(1_000)?,
                TimeUnit::Microsecond => raw,
                TimeUnit::Nanosecond => raw / 1_000,
            };
            let dt = DateTime::from_timestamp_micros(micros)?;
            let text = if tz.is_some() {
                dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            } else {
                dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
            };
            Value::String(text)
        }
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            let text = Decimal128Type::format_decimal(v, 38, *scale);
            text.parse::<f64>().ok().and_then(float)?
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut obj = Map::with_capacity(fields.len());
            for (field, column) in fields.iter().zip(s.columns()) {
                if let Some(v) = json_at(column.as_ref(), row) {
                    obj.insert(field.name().clone(), v);
                }
            }
            Value::Object(obj)
        }
        DataType::Map(_, _) => {
            let m = array.as_map();
            let entries = m.value(row);
            let keys: &ArrayRef = entries.column(0);
            let values: &ArrayRef = entries.column(1);
            let mut obj = Map::with_capacity(entries.len());
            for i in 0..entries.len() {
                let key = match json_at(keys.as_ref(), i) {
                    Some(Value::String(k)) => k,
                    Some(other) => other.to_string(),
                    None => continue,
                };
                obj.insert(key, json_at(values.as_ref(), i).unwrap_or(Value::Null));
            }
            Value::Object(obj)
        }
        DataType::List(_) => list(array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(array.as_list::<i64>().value(row)),
        // Binary and other exotic types carry nothing the log protocol needs.
        _ => return None,
    })
}

fn list(values: ArrayRef) -> Value {
    Value::Array(
        (0..values.len())
            .map(|i| json_at(values.as_ref(), i).unwrap_or(Value::Null))
            .collect(),
    )
}

fn float(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray, StructArray};
    use arrow_schema::Field;
    use std::sync::Arc;

    #[test]
    fn struct_rows_skip_nulls() {
        let s = StructArray::from(vec![
            (
                Arc::new(Field::new("a", DataType::Int64, true)),
                Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![Some("x"), Some("y")])) as ArrayRef,
            ),
        ]);
        assert_eq!(
            json_at(&s, 0).unwrap(),
            serde_json::json!({"a": 1, "b": "x"})
        );
        assert_eq!(json_at(&s, 1).unwrap(), serde_json::json!({"b": "y"}));
    }
}
