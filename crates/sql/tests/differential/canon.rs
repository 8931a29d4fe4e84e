//! silt's result values as canonical strings, rendered exactly as the
//! DuckDB oracle renders its own (see duckdb_oracle.py): exact numbers
//! without trailing zeros, floats in scientific notation with ten digits,
//! quoted strings, `D`-dates and `T`-timestamps with microseconds.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

fn exact(text: String) -> String {
    let t = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if t == "-0" || t.is_empty() {
        "0".into()
    } else {
        t
    }
}

fn float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    let v = if v == 0.0 { 0.0 } else { v };
    let s = format!("{v:.9e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{m}e{}", e.parse::<i32>().unwrap_or(0)),
        None => s,
    }
}

fn micros(us: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(us).expect("timestamp in range");
    format!("T{}", t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f"))
}

fn value(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return "NULL".into();
    }
    match a.data_type() {
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Float32 => float(a.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, _) => {
            let d = a.as_primitive::<arrow_array::types::Decimal128Type>();
            exact(d.value_as_string(i))
        }
        DataType::Utf8 => format!("'{}'", a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => format!("'{}'", a.as_string::<i64>().value(i)),
        DataType::Utf8View => format!("'{}'", a.as_string_view().value(i)),
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value_as_date(i);
            format!("D{}", d.expect("date in range").format("%Y-%m-%d"))
        }
        DataType::Timestamp(unit, _) => micros(match unit {
            TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i) * 1_000_000,
            TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i) * 1000,
            TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
            TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i) / 1000,
        }),
        other => format!("?{other}"),
    }
}

/// Every row of `batches` as canonical values, sorted (rows compare as a
/// multiset: neither engine promises an order).
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| value(c.as_ref(), i)).collect());
        }
    }
    out.sort();
    out
}
