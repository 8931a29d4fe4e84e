//! A small typed predicate language over table columns: comparisons with
//! literals, AND/OR/NOT, IS \[NOT\] NULL and IN. It prunes partitions, skips
//! files by their statistics, and (in silt-parquet) filters rows; the same
//! predicates describe what a transaction read.
//!
//! Evaluation here is three-valued over what is known about a file: `Some(false)`
//! means "no row of this file can match", `None` means "unknown".

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::partition::{InvalidValue, Scalar, parse_partition_value, parse_timestamp};
use crate::schema::{DataType, PrimitiveType, StructType};
use crate::stats::FileStats;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` / `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CmpOp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::NotEq => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::LtEq => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::GtEq => o != Ordering::Less,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "!=",
            CmpOp::Lt => "<",
            CmpOp::LtEq => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtEq => ">=",
        }
    }
}

/// A literal that is not a value of the column type it meets (not
/// retryable: the predicate is at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LiteralError {
    /// An empty literal for a non-string column.
    #[error("empty literal for a {ty} column")]
    Empty {
        /// The column's type.
        ty: PrimitiveType,
    },
    /// Text that does not parse as the column's type.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

/// A predicate that does not fit the table's schema: a column that does not
/// exist or cannot be compared, or a literal of the wrong type. Not
/// retryable: the predicate is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// No such column (dotted for nested fields).
    #[error("no column {column:?} in the table schema")]
    UnknownColumn {
        /// The column as named in the predicate.
        column: String,
    },
    /// A dotted path goes through a field that is not a struct.
    #[error("column {column:?}: {part} is not a struct")]
    NotAStruct {
        /// The column as named in the predicate.
        column: String,
        /// The path segment that is not a struct.
        part: String,
    },
    /// The column is a struct, array, map or variant.
    #[error("column {column:?} has type {type_name}, which predicates cannot compare")]
    NotComparable {
        /// The column as named in the predicate.
        column: String,
        /// Its type.
        type_name: String,
    },
    /// A literal that is not a value of the column's type.
    #[error("column {column}: {source}")]
    Literal {
        /// The column the literal meets.
        column: String,
        /// What is wrong with the literal.
        #[source]
        source: LiteralError,
    },
}

/// A literal as written in a predicate, typed against the column it meets.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number as written (`1`, `-2.5`, `1e3`).
    Number(String),
    /// A quoted string (also dates, timestamps, decimals given as strings).
    String(String),
    /// `true` / `false`.
    Bool(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Number(n) => f.write_str(n),
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Literal {
    /// The literal as a value of `ty`, or an error naming the mismatch.
    pub fn to_scalar(&self, ty: &PrimitiveType) -> Result<Scalar, LiteralError> {
        let text = match self {
            Literal::Number(n) => n.as_str(),
            Literal::String(s) => s.as_str(),
            Literal::Bool(true) => "true",
            Literal::Bool(false) => "false",
        };
        if matches!(ty, PrimitiveType::String) {
            return Ok(Scalar::String(text.to_string()));
        }
        if text.is_empty() {
            return Err(LiteralError::Empty { ty: *ty });
        }
        Ok(parse_partition_value(Some(text), ty)?)
    }
}

/// A predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `column op literal`.
    Cmp {
        /// Column name (dotted for nested fields).
        column: String,
        /// Operator.
        op: CmpOp,
        /// The literal.
        value: Literal,
    },
    /// `column IS NULL` / `IS NOT NULL`.
    IsNull {
        /// Column name.
        column: String,
        /// `IS NOT NULL` when true.
        negated: bool,
    },
    /// `column [NOT] IN (literals)`.
    In {
        /// Column name.
        column: String,
        /// The list.
        values: Vec<Literal>,
        /// `NOT IN` when true.
        negated: bool,
    },
    /// All of these.
    And(Vec<Expr>),
    /// Any of these.
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
}

/// Words the predicate parser reads as keywords, not column names.
const KEYWORDS: [&str; 6] = ["AND", "OR", "NOT", "IN", "IS", "NULL"];

/// A column name as predicate text: bare when the parser reads it back as
/// that name, else quoted.
fn column_text(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && !KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k))
        && !name.eq_ignore_ascii_case("true")
        && !name.eq_ignore_ascii_case("false");
    if bare {
        name.to_string()
    } else if name.contains('`') {
        format!("\"{name}\"")
    } else {
        format!("`{name}`")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Cmp { column, op, value } => {
                write!(f, "{} {} {value}", column_text(column), op.symbol())
            }
            Expr::IsNull { column, negated } => {
                let column = column_text(column);
                write!(f, "{column} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            Expr::In {
                column,
                values,
                negated,
            } => {
                let list: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{} {}IN ({})",
                    column_text(column),
                    if *negated { "NOT " } else { "" },
                    list.join(", ")
                )
            }
            Expr::And(xs) | Expr::Or(xs) => {
                let sep = if matches!(self, Expr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = xs.iter().map(|x| format!("({x})")).collect();
                f.write_str(&parts.join(sep))
            }
            Expr::Not(x) => write!(f, "NOT ({x})"),
        }
    }
}

impl Expr {
    /// Columns the predicate mentions.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn collect_columns<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Cmp { column, .. } | Expr::IsNull { column, .. } | Expr::In { column, .. } => {
                out.push(column)
            }
            Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| x.collect_columns(out)),
            Expr::Not(x) => x.collect_columns(out),
        }
    }

    /// Checks every column exists with a primitive type and every literal
    /// parses as its column's type; the error names the column.
    pub fn validate(&self, schema: &StructType) -> Result<(), ExprError> {
        let literal = |column: &str| {
            let column = column.to_string();
            move |source| ExprError::Literal { column, source }
        };
        match self {
            Expr::Cmp { column, value, .. } => {
                let ty = primitive_of(schema, column)?;
                value.to_scalar(&ty).map(|_| ()).map_err(literal(column))
            }
            Expr::In { column, values, .. } => {
                let ty = primitive_of(schema, column)?;
                for v in values {
                    v.to_scalar(&ty).map_err(literal(column))?;
                }
                Ok(())
            }
            Expr::IsNull { column, .. } => find_field(schema, column).map(|_| ()),
            Expr::And(xs) | Expr::Or(xs) => xs.iter().try_for_each(|x| x.validate(schema)),
            Expr::Not(x) => x.validate(schema),
        }
    }

    /// Evaluates against known partition values (`None` where the predicate
    /// mentions other columns). Three-valued: `Some(false)` = no row matches.
    pub fn eval_partition(
        &self,
        schema: &StructType,
        partitions: &HashMap<String, Option<String>>,
    ) -> Option<bool> {
        let value = |column: &str| -> Option<(PrimitiveType, Scalar)> {
            let raw = partitions.get(column)?;
            let ty = primitive_of(schema, column).ok()?;
            let v = parse_partition_value(raw.as_deref(), &ty).ok()?;
            Some((ty, v))
        };
        match self {
            Expr::Cmp {
                column,
                op,
                value: lit,
            } => {
                let (ty, v) = value(column)?;
                if v == Scalar::Null {
                    return Some(false); // NULL compared is never true
                }
                let l = lit.to_scalar(&ty).ok()?;
                Some(op.holds(compare(&v, &l)?))
            }
            Expr::IsNull { column, negated } => {
                let (_, v) = value(column)?;
                Some((v == Scalar::Null) != *negated)
            }
            Expr::In {
                column,
                values,
                negated,
            } => {
                let (ty, v) = value(column)?;
                if v == Scalar::Null {
                    return Some(false);
                }
                let hit = values
                    .iter()
                    .filter_map(|l| l.to_scalar(&ty).ok())
                    .any(|l| compare(&v, &l) == Some(Ordering::Equal));
                Some(hit != *negated)
            }
            Expr::And(xs) => and3(xs.iter().map(|x| x.eval_partition(schema, partitions))),
            Expr::Or(xs) => or3(xs.iter().map(|x| x.eval_partition(schema, partitions))),
            Expr::Not(x) => x.eval_partition(schema, partitions).map(|b| !b),
        }
    }

    /// Whether a file can be skipped: `true` only when its partition values
    /// or statistics prove no row matches. Statistics are keyed by physical
    /// column names, resolved through `physical`.
    pub fn can_skip_file(
        &self,
        schema: &StructType,
        partitions: &HashMap<String, Option<String>>,
        stats: Option<&FileStats>,
        physical: &dyn Fn(&str) -> String,
    ) -> bool {
        self.might_match(schema, partitions, stats, physical) == Some(false)
    }

    fn might_match(
        &self,
        schema: &StructType,
        partitions: &HashMap<String, Option<String>>,
        stats: Option<&FileStats>,
        physical: &dyn Fn(&str) -> String,
    ) -> Option<bool> {
        if let Some(known) = self.eval_partition(schema, partitions)
            && self.columns().iter().all(|c| partitions.contains_key(*c))
        {
            return Some(known);
        }
        let stats = stats?;
        let bounds = |column: &str| -> Option<(PrimitiveType, Option<Scalar>, Option<Scalar>)> {
            let ty = primitive_of(schema, column).ok()?;
            let path = physical(column);
            let parts: Vec<&str> = path.split('.').collect();
            let min =
                FileStats::column(&stats.min_values, &parts).and_then(|v| stat_scalar(v, &ty));
            // Writers may truncate timestamp statistics to milliseconds: the
            // true maximum can be up to 999 µs above the stored one.
            let max = FileStats::column(&stats.max_values, &parts)
                .and_then(|v| stat_scalar(v, &ty))
                .map(|m| match m {
                    Scalar::Timestamp(t) => Scalar::Timestamp(t.saturating_add(999)),
                    Scalar::TimestampNtz(t) => Scalar::TimestampNtz(t.saturating_add(999)),
                    other => other,
                });
            Some((ty, min, max))
        };
        let null_count = |column: &str| -> Option<i64> {
            let path = physical(column);
            let parts: Vec<&str> = path.split('.').collect();
            FileStats::column(&stats.null_count, &parts)?.as_i64()
        };
        let all_null =
            |column: &str| -> Option<bool> { Some(null_count(column)? == stats.num_records?) };
        match self {
            Expr::Cmp { column, op, value } if !partitions.contains_key(column) => {
                if all_null(column) == Some(true) {
                    return Some(false);
                }
                let (ty, min, max) = bounds(column)?;
                let lit = value.to_scalar(&ty).ok()?;
                let (min, max) = (min?, max?);
                let below = compare(&lit, &min)?; // lit vs min
                let above = compare(&lit, &max)?; // lit vs max
                Some(match op {
                    CmpOp::Eq => below != Ordering::Less && above != Ordering::Greater,
                    // Only skippable when every value equals the literal.
                    CmpOp::NotEq => !(below == Ordering::Equal && above == Ordering::Equal),
                    CmpOp::Lt => compare(&min, &lit)? == Ordering::Less,
                    CmpOp::LtEq => compare(&min, &lit)? != Ordering::Greater,
                    CmpOp::Gt => compare(&max, &lit)? == Ordering::Greater,
                    CmpOp::GtEq => compare(&max, &lit)? != Ordering::Less,
                })
            }
            Expr::IsNull { column, negated } if !partitions.contains_key(column) => {
                let nulls = null_count(column)?;
                if *negated {
                    Some(all_null(column) != Some(true))
                } else {
                    Some(nulls > 0)
                }
            }
            Expr::In {
                column,
                values,
                negated: false,
            } if !partitions.contains_key(column) => or3(values.iter().map(|v| {
                Expr::Cmp {
                    column: column.clone(),
                    op: CmpOp::Eq,
                    value: v.clone(),
                }
                .might_match(schema, partitions, Some(stats), physical)
            })),
            Expr::And(xs) => and3(
                xs.iter()
                    .map(|x| x.might_match(schema, partitions, Some(stats), physical)),
            ),
            Expr::Or(xs) => or3(xs
                .iter()
                .map(|x| x.might_match(schema, partitions, Some(stats), physical))),
            // Negations are not pushed through statistics.
            _ => None,
        }
    }
}

fn and3(xs: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for x in xs {
        match x {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    if unknown { None } else { Some(true) }
}

fn or3(xs: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for x in xs {
        match x {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    if unknown { None } else { Some(false) }
}

fn find_field<'a>(
    schema: &'a StructType,
    column: &str,
) -> Result<&'a crate::schema::StructField, ExprError> {
    let unknown = || ExprError::UnknownColumn {
        column: column.to_string(),
    };
    let mut fields = &schema.fields;
    let parts: Vec<&str> = column.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let f = fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(part))
            .ok_or_else(unknown)?;
        if i + 1 == parts.len() {
            return Ok(f);
        }
        match &f.data_type {
            DataType::Struct(s) => fields = &s.fields,
            _ => {
                return Err(ExprError::NotAStruct {
                    column: column.to_string(),
                    part: part.to_string(),
                });
            }
        }
    }
    Err(unknown())
}

/// The primitive type of a (possibly nested) column.
pub fn primitive_of(schema: &StructType, column: &str) -> Result<PrimitiveType, ExprError> {
    match &find_field(schema, column)?.data_type {
        DataType::Primitive(p) => Ok(*p),
        other => Err(ExprError::NotComparable {
            column: column.to_string(),
            type_name: other.simple_name(),
        }),
    }
}

/// A statistics value (JSON) as a scalar of `ty`.
pub fn stat_scalar(v: &Value, ty: &PrimitiveType) -> Option<Scalar> {
    match (v, ty) {
        (Value::Null, _) => None,
        (Value::String(s), PrimitiveType::Timestamp | PrimitiveType::TimestampNtz) => {
            let micros = parse_timestamp(s)?;
            Some(match ty {
                PrimitiveType::Timestamp => Scalar::Timestamp(micros),
                _ => Scalar::TimestampNtz(micros),
            })
        }
        (Value::String(s), _) => parse_partition_value(Some(s), ty).ok(),
        (Value::Number(n), _) => parse_partition_value(Some(&n.to_string()), ty).ok(),
        (Value::Bool(b), PrimitiveType::Boolean) => Some(Scalar::Boolean(*b)),
        _ => None,
    }
}

/// Orders two scalars of the same type (`None` across types, for NaN, or for
/// nulls).
pub fn compare(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    use Scalar::*;
    Some(match (a, b) {
        (String(x), String(y)) => x.cmp(y),
        (Long(x), Long(y)) => x.cmp(y),
        (Integer(x), Integer(y)) => x.cmp(y),
        (Short(x), Short(y)) => x.cmp(y),
        (Byte(x), Byte(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.partial_cmp(y)?,
        (Double(x), Double(y)) => x.partial_cmp(y)?,
        (Boolean(x), Boolean(y)) => x.cmp(y),
        (Binary(x), Binary(y)) => x.cmp(y),
        (Date(x), Date(y)) => x.cmp(y),
        (Timestamp(x), Timestamp(y)) | (TimestampNtz(x), TimestampNtz(y)) => x.cmp(y),
        (
            Decimal {
                unscaled: x,
                scale: sx,
                ..
            },
            Decimal {
                unscaled: y,
                scale: sy,
                ..
            },
        ) if sx == sy => x.cmp(y),
        _ => return None,
    })
}

/// A predicate that does not parse: where (a 1-based character column in
/// the text) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("predicate {text:?}, column {column}: {message}")]
pub struct PredicateError {
    /// The predicate as given.
    pub text: String,
    /// 1-based character position of the problem (one past the end for a
    /// predicate that ends too early).
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// Parses a predicate: `a = 1 AND (b > 'x' OR c IS NULL) AND d IN (1, 2)`.
pub fn parse_predicate(text: &str) -> Result<Expr, PredicateError> {
    let fail = |(at, message): (usize, String)| PredicateError {
        text: text.to_string(),
        column: at + 1,
        message,
    };
    let tokens = tokenize(text).map_err(fail)?;
    let end = text.chars().count();
    let mut p = Parser {
        tokens,
        pos: 0,
        end,
    };
    let e = p.or().map_err(fail)?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(fail((
            t.at,
            format!("expected AND, OR or the end, found {}", t.tok),
        )));
    }
    Ok(e)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A quoted identifier (never a keyword).
    Quoted(String),
    Str(String),
    Num(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(w) => write!(f, "{w:?}"),
            Tok::Quoted(w) => write!(f, "the quoted name {w:?}"),
            Tok::Str(s) => write!(f, "the string '{s}'"),
            Tok::Num(n) => write!(f, "the number {n}"),
            Tok::Op(o) => write!(f, "'{o}'"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
        }
    }
}

/// A token and the character offset where it starts.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    at: usize,
}

/// A parse failure: character offset and message.
type Failure = (usize, String);

fn tokenize(s: &str) -> Result<Vec<Token>, Failure> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        let mut push = |tok: Tok| out.push(Token { tok, at });
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                push(Tok::LParen);
                i += 1
            }
            ')' => {
                push(Tok::RParen);
                i += 1
            }
            ',' => {
                push(Tok::Comma);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err((at, "unterminated string literal".into())),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                push(Tok::Str(v));
            }
            '`' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .ok_or((at, "unterminated quoted identifier".to_string()))?;
                push(Tok::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '=' | '<' | '>' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                if ["<=", ">=", "!=", "<>"].contains(&two.as_str()) {
                    push(Tok::Op(if two == "<>" { "!=".into() } else { two }));
                    i += 2;
                } else if c == '!' {
                    return Err((at, "'!' must be followed by '='".into()));
                } else {
                    push(Tok::Op(c.to_string()));
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err((at, format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The text's length in characters (where "the end" is).
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A failure at the current token: "expected …, found …".
    fn expected(&self, what: &str) -> Failure {
        match self.tokens.get(self.pos) {
            Some(t) => (t.at, format!("expected {what}, found {}", t.tok)),
            None => (self.end, format!("expected {what}, found the end")),
        }
    }

    fn or(&mut self) -> Result<Expr, Failure> {
        let mut xs = vec![self.and()?];
        while self.eat_kw("OR") {
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Expr::Or(xs)
        })
    }

    fn and(&mut self) -> Result<Expr, Failure> {
        let mut xs = vec![self.not()?];
        while self.eat_kw("AND") {
            xs.push(self.not()?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Expr::And(xs)
        })
    }

    fn not(&mut self) -> Result<Expr, Failure> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn literal(&mut self) -> Result<Literal, Failure> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Literal::String(s.clone()),
            Some(Tok::Num(n)) => Literal::Number(n.clone()),
            Some(Tok::Ident(w))
                if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") =>
            {
                Literal::Bool(w.eq_ignore_ascii_case("true"))
            }
            _ => return Err(self.expected("a literal (a number, 'string', true or false)")),
        };
        self.pos += 1;
        Ok(lit)
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), Failure> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn atom(&mut self) -> Result<Expr, Failure> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(e);
        }
        let column = match self.peek() {
            Some(Tok::Ident(c)) if !KEYWORDS.iter().any(|k| c.eq_ignore_ascii_case(k)) => c.clone(),
            Some(Tok::Quoted(c)) => c.clone(),
            _ => return Err(self.expected("a column name or '('")),
        };
        self.pos += 1;
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            if !self.eat_kw("NULL") {
                return Err(self.expected("NULL after IS"));
            }
            return Ok(Expr::IsNull { column, negated });
        }
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            self.expect(Tok::LParen, "'(' after IN")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Tok::RParen, "')' after the IN list")?;
            return Ok(Expr::In {
                column,
                values,
                negated,
            });
        }
        if negated {
            return Err(self.expected("IN after NOT"));
        }
        let op = match self.peek() {
            Some(Tok::Op(o)) => match o.as_str() {
                "=" => CmpOp::Eq,
                "!=" => CmpOp::NotEq,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::LtEq,
                ">" => CmpOp::Gt,
                ">=" => CmpOp::GtEq,
                _ => return Err(self.expected("a comparison operator")),
            },
            _ => {
                return Err(self.expected(&format!(
                    "an operator (=, <>, <, <=, >, >=, IN, IS) after {column}"
                )));
            }
        };
        self.pos += 1;
        let value = self.literal()?;
        Ok(Expr::Cmp { column, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> StructType {
        StructType::from_json(
            r#"{"type":"struct","fields":[
            {"name":"p","type":"string","nullable":true,"metadata":{}},
            {"name":"n","type":"long","nullable":true,"metadata":{}},
            {"name":"d","type":"date","nullable":true,"metadata":{}}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn parses_and_prints() {
        let e =
            parse_predicate("p = 'a''b' AND (n >= -3 OR n IS NULL) AND d NOT IN ('2020-01-01')")
                .unwrap();
        assert_eq!(e.columns(), vec!["d", "n", "p"]);
        assert!(e.validate(&schema()).is_ok());
        let again = parse_predicate(&e.to_string()).unwrap();
        assert_eq!(again, e);
        assert!(parse_predicate("n > ").is_err());
        // Errors point at the place, in SQL terms.
        let e = parse_predicate("n > 1 AND AND").unwrap_err();
        assert_eq!(e.column, 11, "{e}");
        assert!(e.message.contains("expected a column name or '('"), "{e}");
        assert!(e.message.contains("\"AND\""), "{e}");
        let e = parse_predicate("n >").unwrap_err();
        assert_eq!(e.column, 4, "{e}");
        assert!(e.message.ends_with("found the end"), "{e}");
        let e = parse_predicate("n = 'open").unwrap_err();
        assert_eq!(e.column, 5, "{e}");
        assert!(!e.to_string().contains("Some("), "{e}");
        assert!(parse_predicate("n = 1 AND").is_err());
        assert!(parse_predicate("(n = 1").is_err());
        assert!(
            parse_predicate("n = 'x'")
                .unwrap()
                .validate(&schema())
                .is_err()
        );
        assert!(
            parse_predicate("zzz = 1")
                .unwrap()
                .validate(&schema())
                .is_err()
        );
    }

    #[test]
    fn partition_pruning() {
        let s = schema();
        let pv = |v: Option<&str>| {
            [("p".to_string(), v.map(str::to_string))]
                .into_iter()
                .collect()
        };
        let e = parse_predicate("p = 'a'").unwrap();
        assert_eq!(e.eval_partition(&s, &pv(Some("a"))), Some(true));
        assert_eq!(e.eval_partition(&s, &pv(Some("b"))), Some(false));
        assert_eq!(e.eval_partition(&s, &pv(None)), Some(false));
        let e = parse_predicate("p IS NULL OR n = 1").unwrap();
        assert_eq!(e.eval_partition(&s, &pv(None)), Some(true));
        assert_eq!(e.eval_partition(&s, &pv(Some("x"))), None);
    }

    #[test]
    fn file_skipping_with_stats() {
        let s = schema();
        let stats = FileStats::from_json(
            r#"{"numRecords":10,"minValues":{"n":5,"d":"2021-01-01"},"maxValues":{"n":9,"d":"2021-12-31"},"nullCount":{"n":0,"d":10}}"#,
        )
        .unwrap();
        let none = HashMap::new();
        let id = |c: &str| c.to_string();
        let skip = |p: &str| {
            parse_predicate(p)
                .unwrap()
                .can_skip_file(&s, &none, Some(&stats), &id)
        };
        assert!(skip("n > 9"));
        assert!(!skip("n >= 9"));
        assert!(skip("n < 5"));
        assert!(!skip("n = 7"));
        assert!(skip("n = 10"));
        assert!(skip("n IN (1, 2, 20)"));
        assert!(!skip("n IN (1, 7)"));
        assert!(skip("n IS NULL"));
        assert!(skip("d = '2021-06-01'"), "all d are null");
        assert!(!skip("d IS NULL"));
        assert!(skip("n > 100 AND p = 'x'"));
        assert!(!skip("n > 100 OR p = 'x'"));
        assert!(!skip("NOT (n > 100)"));
        // No statistics: never skip.
        assert!(
            !parse_predicate("n > 9")
                .unwrap()
                .can_skip_file(&s, &none, None, &id)
        );
    }

    #[test]
    fn truncated_timestamp_maxima_are_widened() {
        let s = StructType::from_json(
            r#"{"type":"struct","fields":[{"name":"t","type":"timestamp","nullable":true,"metadata":{}}]}"#,
        )
        .unwrap();
        // Stored max 00:00:04.000 may stand for 00:00:04.000999.
        let stats = FileStats::from_json(
            r#"{"numRecords":2,"minValues":{"t":"1970-01-01T00:00:01.000Z"},"maxValues":{"t":"1970-01-01T00:00:04.000Z"},"nullCount":{"t":0}}"#,
        )
        .unwrap();
        let id = |c: &str| c.to_string();
        let none = HashMap::new();
        let skip = |p: &str| {
            parse_predicate(p)
                .unwrap()
                .can_skip_file(&s, &none, Some(&stats), &id)
        };
        assert!(!skip("t > '1970-01-01 00:00:04.0004'"));
        assert!(skip("t > '1970-01-01 00:00:04.001'"));
    }
}
