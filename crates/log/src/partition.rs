//! Partition values: turning the strings in `add.partitionValues` into typed
//! scalars, per the protocol's serialization rules for each type.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::schema::PrimitiveType;

/// A typed partition value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// SQL NULL.
    Null,
    /// string
    String(String),
    /// long
    Long(i64),
    /// integer
    Integer(i32),
    /// short
    Short(i16),
    /// byte
    Byte(i8),
    /// float
    Float(f32),
    /// double
    Double(f64),
    /// boolean
    Boolean(bool),
    /// binary
    Binary(Vec<u8>),
    /// date: days since 1970-01-01
    Date(i32),
    /// timestamp: microseconds since epoch, UTC
    Timestamp(i64),
    /// timestamp_ntz: microseconds since epoch, wall clock
    TimestampNtz(i64),
    /// decimal: unscaled value with precision and scale
    Decimal {
        /// Unscaled integer value.
        unscaled: i128,
        /// Precision.
        precision: u8,
        /// Scale.
        scale: u8,
    },
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a valid date"),
};

/// A serialized value (partition value, predicate literal) that is not a
/// valid value of its column's type. The data or the request is at fault,
/// so retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partition value {value:?} is not a valid {expected}")]
pub struct InvalidValue {
    /// The text as written.
    pub value: String,
    /// The type it should have (`long`, `date`, `decimal(10,2)`, …).
    pub expected: String,
}

/// Parses a serialized partition value. `None` and (for every type but
/// string) the empty string are NULL; an empty string column is also NULL, as
/// Spark writes it.
pub fn parse_partition_value(
    raw: Option<&str>,
    ty: &PrimitiveType,
) -> Result<Scalar, InvalidValue> {
    let Some(raw) = raw else {
        return Ok(Scalar::Null);
    };
    if raw.is_empty() {
        return Ok(Scalar::Null);
    }
    let bad = |what: &str| InvalidValue {
        value: raw.to_string(),
        expected: what.to_string(),
    };
    Ok(match ty {
        PrimitiveType::String => Scalar::String(raw.to_string()),
        PrimitiveType::Long => Scalar::Long(raw.parse().map_err(|_| bad("long"))?),
        PrimitiveType::Integer => Scalar::Integer(raw.parse().map_err(|_| bad("integer"))?),
        PrimitiveType::Short => Scalar::Short(raw.parse().map_err(|_| bad("short"))?),
        PrimitiveType::Byte => Scalar::Byte(raw.parse().map_err(|_| bad("byte"))?),
        PrimitiveType::Float => Scalar::Float(parse_float(raw).ok_or_else(|| bad("float"))? as f32),
        PrimitiveType::Double => Scalar::Double(parse_float(raw).ok_or_else(|| bad("double"))?),
        PrimitiveType::Boolean => match raw.to_ascii_lowercase().as_str() {
            "true" => Scalar::Boolean(true),
            "false" => Scalar::Boolean(false),
            _ => return Err(bad("boolean")),
        },
        // Binary values are stored as the string of their bytes.
        PrimitiveType::Binary => Scalar::Binary(raw.as_bytes().to_vec()),
        PrimitiveType::Date => {
            let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad("date"))?;
            let days = d.signed_duration_since(EPOCH).num_days();
            Scalar::Date(i32::try_from(days).map_err(|_| bad("date"))?)
        }
        PrimitiveType::Timestamp => {
            Scalar::Timestamp(parse_timestamp(raw).ok_or_else(|| bad("timestamp"))?)
        }
        PrimitiveType::TimestampNtz => {
            Scalar::TimestampNtz(parse_timestamp(raw).ok_or_else(|| bad("timestamp_ntz"))?)
        }
        PrimitiveType::Decimal { precision, scale } => Scalar::Decimal {
            unscaled: parse_decimal(raw, *precision, *scale).ok_or_else(|| bad(&ty.to_string()))?,
            precision: *precision,
            scale: *scale,
        },
    })
}

fn parse_float(raw: &str) -> Option<f64> {
    match raw {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => raw.parse().ok(),
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` or ISO-8601 with a zone (adjusted to
/// UTC) into microseconds since epoch.
pub fn parse_timestamp(raw: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
        if fmt == "%Y-%m-%d"
            && let Ok(d) = NaiveDate::parse_from_str(raw, fmt)
        {
            return d
                .and_hms_opt(0, 0, 0)
                .map(|dt| dt.and_utc().timestamp_micros());
        }
    }
    None
}

/// Parses a decimal string (plain or with an exponent, like `0E-10`) into its
/// unscaled value at `scale`, checking it fits `precision`.
pub fn parse_decimal(raw: &str, precision: u8, scale: u8) -> Option<i128> {
    let (mantissa, exp) = match raw.find(['e', 'E']) {
        Some(i) => (&raw[..i], raw[i + 1..].parse::<i32>().ok()?),
        None => (raw, 0),
    };
    let (negative, digits) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all_digits = format!("{int_part}{frac_part}");
    // value = all_digits * 10^(exp - frac_len); we want value * 10^scale.
    let shift = exp as i64 - frac_part.len() as i64 + scale as i64;
    let trimmed = all_digits.trim_start_matches('0');
    let mut unscaled: i128 = if trimmed.is_empty() {
        0
    } else {
        if trimmed.len() > 39 {
            return None;
        }
        trimmed.parse().ok()?
    };
    if shift >= 0 {
        for _ in 0..shift {
            unscaled = unscaled.checked_mul(10)?;
        }
    } else {
        for _ in 0..(-shift) {
            if unscaled == 0 {
                break;
            }
            if unscaled % 10 != 0 {
                return None; // more fractional digits than the scale holds
            }
            unscaled /= 10;
        }
    }
    if unscaled != 0 && unscaled.unsigned_abs().to_string().len() > precision as usize {
        return None;
    }
    Some(if negative { -unscaled } else { unscaled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type() {
        use PrimitiveType as P;
        assert_eq!(parse_partition_value(None, &P::Long).unwrap(), Scalar::Null);
        assert_eq!(
            parse_partition_value(Some(""), &P::Integer).unwrap(),
            Scalar::Null
        );
        assert_eq!(
            parse_partition_value(Some("-3"), &P::Byte).unwrap(),
            Scalar::Byte(-3)
        );
        assert_eq!(
            parse_partition_value(Some("true"), &P::Boolean).unwrap(),
            Scalar::Boolean(true)
        );
        assert_eq!(
            parse_partition_value(Some("1970-01-02"), &P::Date).unwrap(),
            Scalar::Date(1)
        );
        assert_eq!(
            parse_partition_value(Some("1970-01-01 00:00:01.5"), &P::Timestamp).unwrap(),
            Scalar::Timestamp(1_500_000)
        );
        assert_eq!(
            parse_partition_value(Some("1970-01-01T00:00:01.000001Z"), &P::Timestamp).unwrap(),
            Scalar::Timestamp(1_000_001)
        );
        assert!(parse_partition_value(Some("x"), &P::Long).is_err());
        assert!(parse_partition_value(Some("2020-13-01"), &P::Date).is_err());
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("234.00000", 10, 5), Some(23_400_000));
        assert_eq!(
            parse_decimal("-2342342.23423", 12, 5),
            Some(-234_234_223_423)
        );
        assert_eq!(parse_decimal("0E-10", 20, 10), Some(0));
        assert_eq!(parse_decimal("1.5E2", 5, 1), Some(1500));
        assert_eq!(parse_decimal("1.25", 5, 1), None);
        assert_eq!(parse_decimal("12345", 4, 0), None);
        assert_eq!(parse_decimal("1.2.3", 5, 1), None);
        assert_eq!(parse_decimal("", 5, 1), None);
    }
}
