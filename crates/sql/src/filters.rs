//! DataFusion filter expressions → silt predicates, for partition pruning
//! and file skipping. Only what silt evaluates with the same meaning as
//! DataFusion is translated (a column compared with a literal, IS NULL, IN,
//! BETWEEN, AND/OR/NOT); anything else is left to DataFusion.

use chrono::{DateTime, NaiveDate};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use silt_log::expr::{CmpOp, Expr as Pred, Literal};
use silt_log::schema::StructType;

/// A literal value as a silt literal (`None` for NULL and types silt
/// predicates do not carry).
pub fn literal_of(v: &ScalarValue) -> Option<Literal> {
    let number = |s: String| Some(Literal::Number(s));
    match v {
        ScalarValue::Boolean(Some(b)) => Some(Literal::Bool(*b)),
        ScalarValue::Int8(Some(x)) => number(x.to_string()),
        ScalarValue::Int16(Some(x)) => number(x.to_string()),
        ScalarValue::Int32(Some(x)) => number(x.to_string()),
        ScalarValue::Int64(Some(x)) => number(x.to_string()),
        ScalarValue::UInt8(Some(x)) => number(x.to_string()),
        ScalarValue::UInt16(Some(x)) => number(x.to_string()),
        ScalarValue::UInt32(Some(x)) => number(x.to_string()),
        ScalarValue::UInt64(Some(x)) => number(x.to_string()),
        ScalarValue::Float32(Some(x)) if x.is_finite() => number(x.to_string()),
        ScalarValue::Float64(Some(x)) if x.is_finite() => number(x.to_string()),
        ScalarValue::Decimal128(Some(x), _, scale) => number(decimal_text(*x, *scale)),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(Literal::String(s.clone())),
        ScalarValue::Date32(Some(d)) => {
            let day = NaiveDate::from_num_days_from_ce_opt(d.checked_add(719_163)?)?;
            Some(Literal::String(day.format("%Y-%m-%d").to_string()))
        }
        ScalarValue::TimestampMicrosecond(Some(us), tz) => timestamp_text(*us, tz.is_some()),
        ScalarValue::TimestampMillisecond(Some(ms), tz) => {
            timestamp_text(ms.checked_mul(1000)?, tz.is_some())
        }
        ScalarValue::TimestampSecond(Some(s), tz) => {
            timestamp_text(s.checked_mul(1_000_000)?, tz.is_some())
        }
        ScalarValue::TimestampNanosecond(Some(ns), tz) if ns % 1000 == 0 => {
            timestamp_text(ns / 1000, tz.is_some())
        }
        _ => None,
    }
}

fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        return format!("{unscaled}e{}", -scale);
    }
    format!("{unscaled}e-{scale}")
}

fn timestamp_text(us: i64, zoned: bool) -> Option<Literal> {
    let t = DateTime::from_timestamp_micros(us)?;
    let text = if zoned {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    };
    Some(Literal::String(text))
}

fn column_name<'a>(e: &'a Expr, schema: &StructType) -> Option<&'a str> {
    match e {
        Expr::Column(c) if schema.fields.iter().any(|f| f.name == c.name) => Some(&c.name),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<Literal> {
    match e {
        Expr::Literal(v, _) => literal_of(v),
        _ => None,
    }
}

fn cmp_op(op: Operator) -> Option<CmpOp> {
    Some(match op {
        Operator::Eq => CmpOp::Eq,
        Operator::NotEq => CmpOp::NotEq,
        Operator::Lt => CmpOp::Lt,
        Operator::LtEq => CmpOp::LtEq,
        Operator::Gt => CmpOp::Gt,
        Operator::GtEq => CmpOp::GtEq,
        _ => return None,
    })
}

fn flipped(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::GtEq => CmpOp::LtEq,
        other => other,
    }
}

/// `e` as a silt predicate over `schema`'s top-level columns, or `None`
/// when silt cannot evaluate it with DataFusion's meaning.
pub fn to_predicate(e: &Expr, schema: &StructType) -> Option<Pred> {
    let p = match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => Pred::And(vec![
                to_predicate(left, schema)?,
                to_predicate(right, schema)?,
            ]),
            Operator::Or => Pred::Or(vec![
                to_predicate(left, schema)?,
                to_predicate(right, schema)?,
            ]),
            _ => {
                let op = cmp_op(*op)?;
                if let (Some(column), Some(value)) = (column_name(left, schema), literal(right)) {
                    Pred::Cmp {
                        column: column.to_string(),
                        op,
                        value,
                    }
                } else {
                    let column = column_name(right, schema)?;
                    Pred::Cmp {
                        column: column.to_string(),
                        op: flipped(op),
                        value: literal(left)?,
                    }
                }
            }
        },
        Expr::IsNull(inner) => Pred::IsNull {
            column: column_name(inner, schema)?.to_string(),
            negated: false,
        },
        Expr::IsNotNull(inner) => Pred::IsNull {
            column: column_name(inner, schema)?.to_string(),
            negated: true,
        },
        Expr::Not(inner) => Pred::Not(Box::new(to_predicate(inner, schema)?)),
        Expr::InList(list) => Pred::In {
            column: column_name(&list.expr, schema)?.to_string(),
            values: list.list.iter().map(literal).collect::<Option<Vec<_>>>()?,
            negated: list.negated,
        },
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let column = column_name(expr, schema)?.to_string();
            let range = Pred::And(vec![
                Pred::Cmp {
                    column: column.clone(),
                    op: CmpOp::GtEq,
                    value: literal(low)?,
                },
                Pred::Cmp {
                    column,
                    op: CmpOp::LtEq,
                    value: literal(high)?,
                },
            ]);
            if *negated {
                Pred::Not(Box::new(range))
            } else {
                range
            }
        }
        _ => return None,
    };
    // A literal that does not fit its column's type (e.g. 1.5 against an
    // integer column) is left to DataFusion's coercion rules.
    p.validate(schema).ok()?;
    Some(p)
}

/// The translatable filters joined with AND (`None` when none translate).
pub fn conjunction(filters: &[Expr], schema: &StructType) -> Option<Pred> {
    let mut parts: Vec<Pred> = filters
        .iter()
        .filter_map(|f| to_predicate(f, schema))
        .collect();
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Pred::And(parts)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report
    use super::*;
    use datafusion::logical_expr::{col, lit};
    use silt_log::schema::{DataType, PrimitiveType, StructField};

    fn schema() -> StructType {
        StructType::new(vec![
            StructField::new("id", DataType::Primitive(PrimitiveType::Long), true),
            StructField::new("name", DataType::Primitive(PrimitiveType::String), true),
            StructField::new("d", DataType::Primitive(PrimitiveType::Date), true),
        ])
    }

    #[test]
    fn comparisons_both_ways_and_logic() {
        let s = schema();
        let e = col("id").gt(lit(5i64)).and(lit("x").eq(col("name")));
        assert_eq!(
            to_predicate(&e, &s).unwrap().to_string(),
            "(id > 5) AND (name = 'x')"
        );
        let e = lit(3i64).lt(col("id"));
        assert_eq!(to_predicate(&e, &s).unwrap().to_string(), "id > 3");
        let e = col("id").in_list(vec![lit(1i64), lit(2i64)], true);
        assert_eq!(
            to_predicate(&e, &s).unwrap().to_string(),
            "id NOT IN (1, 2)"
        );
        let e = col("name")
            .is_null()
            .or(col("id").between(lit(1i64), lit(9i64)));
        assert!(to_predicate(&e, &s).is_some());
    }

    #[test]
    fn dates_and_untranslatable() {
        let s = schema();
        let e = col("d").gt_eq(lit(ScalarValue::Date32(Some(19_000))));
        assert_eq!(
            to_predicate(&e, &s).unwrap().to_string(),
            "d >= '2022-01-08'"
        );
        // Unknown column, function call, NULL literal, arithmetic.
        assert!(to_predicate(&col("nope").eq(lit(1i64)), &s).is_none());
        assert!(to_predicate(&col("id").eq(lit(ScalarValue::Int64(None))), &s).is_none());
        assert!(to_predicate(&(col("id") + lit(1i64)).eq(lit(2i64)), &s).is_none());
        // One untranslatable filter does not stop the others.
        let both = [
            col("id").eq(lit(1i64)),
            (col("id") + lit(1i64)).eq(lit(2i64)),
        ];
        assert_eq!(conjunction(&both, &s).unwrap().to_string(), "id = 1");
    }
}
