//! Predicates built in code, the same [`Expr`] values the parser makes:
//! `col("temp").gt(20).and(col("city").is_in(["Bern", "Basel"]))`.
//! Literals come from Rust values (integers, floats, strings, booleans);
//! dates, timestamps and decimals are given as strings, as in the parser.

use crate::expr::{CmpOp, Expr, Literal};

/// A column of the table (dotted for a nested field), to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Col(String);

/// The column `name`.
pub fn col(name: impl Into<String>) -> Col {
    Col(name.into())
}

impl Col {
    fn cmp(self, op: CmpOp, value: impl Into<Literal>) -> Expr {
        Expr::Cmp {
            column: self.0,
            op,
            value: value.into(),
        }
    }

    /// `column = value`.
    #[allow(clippy::should_implement_trait)] // builds a predicate, not a comparison
    pub fn eq(self, value: impl Into<Literal>) -> Expr {
        self.cmp(CmpOp::Eq, value)
    }

    /// `column <> value`.
    pub fn not_eq(self, value: impl Into<Literal>) -> Expr {
        self.cmp(CmpOp::NotEq, value)
    }

    /// `column < value`.
    pub fn lt(self, value: impl Into<Literal>) -> Expr {
        self.cmp(CmpOp::Lt, value)
    }

    /// `column <= value`.
    pub fn lt_eq(self, value: impl Into<Literal>) -> Expr {
        self.cmp(CmpOp::LtEq, value)
    }

    /// `column > value`.
    pub fn gt(self, value: impl Into<Literal>) -> Expr {
        self.cmp(CmpOp::Gt, value)
    }

    /// `column >= value`.
    pub fn gt_eq(self, value: impl Into<Literal>) -> Expr {
        self.cmp(CmpOp::GtEq, value)
    }

    /// `column IS NULL`.
    pub fn is_null(self) -> Expr {
        Expr::IsNull {
            column: self.0,
            negated: false,
        }
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(self) -> Expr {
        Expr::IsNull {
            column: self.0,
            negated: true,
        }
    }

    /// `column IN (values)`.
    pub fn is_in<L: Into<Literal>>(self, values: impl IntoIterator<Item = L>) -> Expr {
        Expr::In {
            column: self.0,
            values: values.into_iter().map(Into::into).collect(),
            negated: false,
        }
    }

    /// `column NOT IN (values)`.
    pub fn not_in<L: Into<Literal>>(self, values: impl IntoIterator<Item = L>) -> Expr {
        Expr::In {
            column: self.0,
            values: values.into_iter().map(Into::into).collect(),
            negated: true,
        }
    }
}

impl Expr {
    /// `self AND other` (nested ANDs flattened).
    pub fn and(self, other: Expr) -> Expr {
        let mut parts = match self {
            Expr::And(xs) => xs,
            x => vec![x],
        };
        match other {
            Expr::And(xs) => parts.extend(xs),
            x => parts.push(x),
        }
        Expr::And(parts)
    }

    /// `self OR other` (nested ORs flattened).
    pub fn or(self, other: Expr) -> Expr {
        let mut parts = match self {
            Expr::Or(xs) => xs,
            x => vec![x],
        };
        match other {
            Expr::Or(xs) => parts.extend(xs),
            x => parts.push(x),
        }
        Expr::Or(parts)
    }

    /// `NOT self`.
    pub fn negate(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

macro_rules! number_literal {
    ($($t:ty),*) => {$(
        impl From<$t> for Literal {
            fn from(v: $t) -> Self {
                Literal::Number(v.to_string())
            }
        }
    )*};
}
number_literal!(i8, i16, i32, i64, u8, u16, u32, u64);

impl From<f64> for Literal {
    /// A finite float as its shortest decimal form (`NaN` and infinities
    /// have no literal: they become strings no number column matches).
    fn from(v: f64) -> Self {
        if v.is_finite() {
            Literal::Number(format!("{v:?}"))
        } else {
            Literal::String(v.to_string())
        }
    }
}

impl From<f32> for Literal {
    fn from(v: f32) -> Self {
        Literal::from(f64::from(v))
    }
}

impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Literal::Bool(v)
    }
}

impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Literal::String(v.to_string())
    }
}

impl From<String> for Literal {
    fn from(v: String) -> Self {
        Literal::String(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse_predicate;

    #[test]
    fn built_predicates_equal_parsed_ones() {
        let built = col("temp")
            .gt(20)
            .and(col("city").is_in(["Bern", "Basel"]))
            .and(col("n").lt_eq(2.5).or(col("n").is_null()))
            .and(col("ok").eq(true).negate())
            .and(col("d").not_in(["2020-01-01"]))
            .and(col("x").not_eq(-3i64))
            .and(col("y").gt_eq(0u8).or(col("y").lt(1e20)))
            .and(col("z").is_not_null());
        let parsed = parse_predicate(
            "temp > 20 AND city IN ('Bern', 'Basel') AND (n <= 2.5 OR n IS NULL) \
             AND NOT (ok = true) AND d NOT IN ('2020-01-01') AND x <> -3 \
             AND (y >= 0 OR y < 1e20) AND z IS NOT NULL",
        )
        .expect("parses");
        assert_eq!(built, parsed);
        // And the text of a built predicate parses back to it, whatever
        // its column names.
        assert_eq!(parse_predicate(&built.to_string()).expect("parses"), built);
        for name in ["and", "my col", "true", "a`b", "1st"] {
            let e = col(name).eq(1).and(col(name).is_null());
            assert_eq!(parse_predicate(&e.to_string()).expect("parses"), e, "{e}");
        }
    }
}
