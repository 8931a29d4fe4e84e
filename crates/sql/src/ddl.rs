//! Delta DDL in SQL: `CREATE TABLE delta.'path' (columns …)` with identity,
//! generated and default columns, NOT NULL, CHECK constraints, PARTITIONED
//! BY, CLUSTER BY and TBLPROPERTIES; and `ALTER TABLE` (columns, types,
//! defaults, properties, constraints, clustering), each one commit through
//! [`silt_parquet::alter_table`]. Type names follow Spark SQL (`BIGINT`,
//! `STRING`, `DECIMAL(p,s)`, `TIMESTAMP_NTZ`, `ARRAY<…>`, `MAP<…>`,
//! `STRUCT<…>`).

use std::collections::{BTreeMap, HashMap};

use datafusion::sql::sqlparser::ast::{
    ColumnDef, ColumnOption, CreateTable, Expr as SqlExpr, GeneratedAs, SequenceOptions,
    TableConstraint, WrappedCollection,
};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenizerError};

use crate::sql_text::sql_text;
use crate::statement_error::{DdlError, SyntaxError, TypeError};
use serde_json::Value;
use silt_log::alter::{AlterTable, CLUSTERING_DOMAIN};
use silt_log::column_rules::{
    CURRENT_DEFAULT, GENERATION_EXPRESSION, IDENTITY_ALLOW_EXPLICIT_INSERT, IDENTITY_START,
    IDENTITY_STEP,
};
use silt_log::schema::{ArrayType, DataType, MapType, PrimitiveType, StructField, StructType};

/// A column list entry's parts, before it becomes a field.
pub(crate) struct CreateSpec {
    pub schema: StructType,
    /// `delta.constraints.<name>` properties from CHECK clauses.
    pub constraints: Vec<(String, String)>,
    /// Clustering columns (paths).
    pub cluster_by: Vec<Vec<String>>,
}

fn word(t: Option<&Token>) -> Option<String> {
    match t {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// The token at `i` as SQL text (`None` past the end), for messages.
fn found(tokens: &[Token], i: usize) -> Option<String> {
    tokens.get(i).map(sql_text)
}

fn expect(tokens: &[Token], i: &mut usize, want: &Token) -> Result<(), SyntaxError> {
    // `>>` closes two nested type lists.
    if *want == Token::Gt && tokens.get(*i) == Some(&Token::ShiftRight) {
        return Err(SyntaxError::UnsplitShift);
    }
    if tokens.get(*i) == Some(want) {
        *i += 1;
        Ok(())
    } else {
        Err(SyntaxError::Expected {
            want: want.to_string(),
            found: found(tokens, *i),
        })
    }
}

fn number(tokens: &[Token], i: &mut usize) -> Result<u8, TypeError> {
    match tokens.get(*i) {
        Some(Token::Number(n, _)) => {
            *i += 1;
            n.parse()
                .map_err(|_| TypeError::NotAPrecision { number: n.clone() })
        }
        _ => Err(SyntaxError::ExpectedNumber {
            found: found(tokens, *i),
        }
        .into()),
    }
}

/// Splits `>>` into two `>` so nested type lists close one at a time.
fn split_shifts(tokens: &[Token]) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        if *t == Token::ShiftRight {
            out.extend([Token::Gt, Token::Gt]);
        } else {
            out.push(t.clone());
        }
    }
    out
}

/// Parses a Spark SQL type starting at `tokens[*i]`.
pub(crate) fn parse_type(tokens: &[Token], i: &mut usize) -> Result<DataType, TypeError> {
    let name = word(tokens.get(*i)).ok_or_else(|| TypeError::ExpectedType {
        found: found(tokens, *i),
    })?;
    *i += 1;
    use PrimitiveType::*;
    let p = |t| Ok(DataType::Primitive(t));
    match name.as_str() {
        "TINYINT" | "BYTE" => p(Byte),
        "SMALLINT" | "SHORT" => p(Short),
        "INT" | "INTEGER" => p(Integer),
        "BIGINT" | "LONG" => p(Long),
        "FLOAT" | "REAL" => p(Float),
        "DOUBLE" => {
            if word(tokens.get(*i)).as_deref() == Some("PRECISION") {
                *i += 1;
            }
            p(Double)
        }
        "BOOLEAN" | "BOOL" => p(Boolean),
        "STRING" | "TEXT" | "VARCHAR" | "CHAR" => {
            // VARCHAR(n) / CHAR(n): stored as string.
            if tokens.get(*i) == Some(&Token::LParen) {
                *i += 1;
                number(tokens, i).ok();
                while !matches!(tokens.get(*i), Some(Token::RParen) | None) {
                    *i += 1;
                }
                expect(tokens, i, &Token::RParen)?;
            }
            p(String)
        }
        "BINARY" | "BYTEA" | "BLOB" => p(Binary),
        "DATE" => p(Date),
        "TIMESTAMP_NTZ" => p(TimestampNtz),
        "TIMESTAMP" | "TIMESTAMP_LTZ" => {
            let rest: Vec<std::string::String> =
                (0..3).filter_map(|k| word(tokens.get(*i + k))).collect();
            if rest.len() >= 3 && rest[0] == "WITHOUT" && rest[1] == "TIME" && rest[2] == "ZONE" {
                *i += 3;
                return p(TimestampNtz);
            }
            if rest.len() >= 3 && rest[0] == "WITH" && rest[1] == "TIME" && rest[2] == "ZONE" {
                *i += 3;
            }
            p(Timestamp)
        }
        "DECIMAL" | "DEC" | "NUMERIC" => {
            let (mut precision, mut scale) = (10, 0);
            if tokens.get(*i) == Some(&Token::LParen) {
                *i += 1;
                precision = number(tokens, i)?;
                if tokens.get(*i) == Some(&Token::Comma) {
                    *i += 1;
                    scale = number(tokens, i)?;
                }
                expect(tokens, i, &Token::RParen)?;
            }
            if precision == 0 || precision > 38 || scale > precision {
                return Err(TypeError::InvalidDecimal { precision, scale });
            }
            p(Decimal { precision, scale })
        }
        "ARRAY" => {
            expect(tokens, i, &Token::Lt)?;
            let element_type = parse_type(tokens, i)?;
            expect(tokens, i, &Token::Gt)?;
            Ok(DataType::Array(Box::new(ArrayType {
                element_type,
                contains_null: true,
            })))
        }
        "MAP" => {
            expect(tokens, i, &Token::Lt)?;
            let key_type = parse_type(tokens, i)?;
            expect(tokens, i, &Token::Comma)?;
            let value_type = parse_type(tokens, i)?;
            expect(tokens, i, &Token::Gt)?;
            Ok(DataType::Map(Box::new(MapType {
                key_type,
                value_type,
                value_contains_null: true,
            })))
        }
        "STRUCT" => {
            expect(tokens, i, &Token::Lt)?;
            let mut fields = Vec::new();
            loop {
                let Some(Token::Word(w)) = tokens.get(*i) else {
                    return Err(TypeError::ExpectedStructFieldName);
                };
                let name = w.value.clone();
                *i += 1;
                if tokens.get(*i) == Some(&Token::Colon) {
                    *i += 1;
                }
                let t = parse_type(tokens, i)?;
                let mut nullable = true;
                if word(tokens.get(*i)).as_deref() == Some("NOT")
                    && word(tokens.get(*i + 1)).as_deref() == Some("NULL")
                {
                    *i += 2;
                    nullable = false;
                }
                fields.push(StructField::new(name, t, nullable));
                match tokens.get(*i) {
                    Some(Token::Comma) => *i += 1,
                    _ => break,
                }
            }
            expect(tokens, i, &Token::Gt)?;
            Ok(DataType::Struct(Box::new(StructType::new(fields))))
        }
        "VARIANT" => Ok(DataType::Variant),
        other => Err(TypeError::UnknownType {
            name: other.to_string(),
        }),
    }
}

/// Parses a whole type string (`DECIMAL(12, 2)`, `ARRAY<STRUCT<a: INT>>`).
pub(crate) fn parse_type_text(text: &str) -> Result<DataType, TypeError> {
    let tokens = crate::sql_text::significant_tokens(text).map_err(SyntaxError::from)?;
    let tokens = split_shifts(&tokens);
    let mut i = 0;
    let t = parse_type(&tokens, &mut i)?;
    if let Some(extra) = found(&tokens, i) {
        return Err(TypeError::TrailingTokens { found: extra });
    }
    Ok(t)
}

fn integer(e: &SqlExpr) -> Result<i64, DdlError> {
    e.to_string()
        .replace(' ', "")
        .parse()
        .map_err(|_| DdlError::NotAnInteger {
            value: e.to_string(),
        })
}

/// A column definition of CREATE TABLE as a Delta field (and its CHECK
/// constraints).
fn column_field(
    def: &ColumnDef,
    checks: &mut Vec<(String, String)>,
) -> Result<StructField, DdlError> {
    let name = def.name.value.clone();
    let data_type =
        parse_type_text(&def.data_type.to_string()).map_err(|problem| DdlError::ColumnType {
            column: name.clone(),
            problem,
        })?;
    let mut field = StructField::new(name.clone(), data_type, true);
    for opt in &def.options {
        match &opt.option {
            ColumnOption::Null => {}
            ColumnOption::NotNull => field.nullable = false,
            ColumnOption::Default(e) => {
                field
                    .metadata
                    .insert(CURRENT_DEFAULT.into(), Value::from(e.to_string()));
            }
            ColumnOption::Comment(c) => {
                field
                    .metadata
                    .insert("comment".into(), Value::from(c.clone()));
            }
            ColumnOption::Check(c) => {
                let cname = c
                    .name
                    .as_ref()
                    .or(opt.name.as_ref())
                    .map_or_else(|| format!("{name}_check"), |n| n.value.clone());
                checks.push((cname, c.expr.to_string()));
            }
            ColumnOption::Generated {
                generated_as,
                sequence_options,
                generation_expr,
                ..
            } => match generation_expr {
                Some(e) => {
                    if *generated_as != GeneratedAs::Always {
                        return Err(DdlError::GeneratedNotAlways { column: name });
                    }
                    field
                        .metadata
                        .insert(GENERATION_EXPRESSION.into(), Value::from(e.to_string()));
                }
                None => {
                    if field.data_type != DataType::Primitive(PrimitiveType::Long) {
                        return Err(DdlError::IdentityNotBigint { column: name });
                    }
                    let (mut start, mut step) = (1i64, 1i64);
                    for o in sequence_options.iter().flatten() {
                        match o {
                            SequenceOptions::StartWith(e, _) => start = integer(e)?,
                            SequenceOptions::IncrementBy(e, _) => step = integer(e)?,
                            other => {
                                return Err(DdlError::UnsupportedIdentityOption {
                                    column: name,
                                    option: other.to_string(),
                                });
                            }
                        }
                    }
                    if step == 0 {
                        return Err(DdlError::IdentityStepZero { column: name });
                    }
                    field.metadata.insert(IDENTITY_START.into(), start.into());
                    field.metadata.insert(IDENTITY_STEP.into(), step.into());
                    field.metadata.insert(
                        IDENTITY_ALLOW_EXPLICIT_INSERT.into(),
                        Value::from(*generated_as == GeneratedAs::ByDefault),
                    );
                }
            },
            other => {
                return Err(DdlError::UnsupportedColumnOption {
                    column: name,
                    option: other.to_string(),
                });
            }
        }
    }
    let rules = [
        field.metadata.contains_key(CURRENT_DEFAULT),
        field.metadata.contains_key(GENERATION_EXPRESSION),
        field.metadata.contains_key(IDENTITY_START),
    ];
    if rules.iter().filter(|r| **r).count() > 1 {
        return Err(DdlError::SeveralColumnRules { column: name });
    }
    Ok(field)
}

fn column_paths(e: &SqlExpr, out: &mut Vec<Vec<String>>) -> Result<(), DdlError> {
    match e {
        SqlExpr::Tuple(items) => {
            for i in items {
                column_paths(i, out)?;
            }
            Ok(())
        }
        SqlExpr::Nested(inner) => column_paths(inner, out),
        other => {
            out.push(column_path(other)?);
            Ok(())
        }
    }
}

fn column_path(e: &SqlExpr) -> Result<Vec<String>, DdlError> {
    match e {
        SqlExpr::Identifier(i) => Ok(vec![i.value.clone()]),
        SqlExpr::CompoundIdentifier(parts) => Ok(parts.iter().map(|p| p.value.clone()).collect()),
        other => Err(DdlError::ExpectedColumnName {
            found: other.to_string(),
        }),
    }
}

/// The schema, constraints and clustering of `CREATE TABLE … (columns)`.
pub(crate) fn create_spec(ct: &CreateTable) -> Result<CreateSpec, DdlError> {
    let mut constraints = Vec::new();
    let mut fields = Vec::new();
    for c in &ct.columns {
        fields.push(column_field(c, &mut constraints)?);
    }
    for (k, tc) in ct.constraints.iter().enumerate() {
        match tc {
            TableConstraint::Check(c) => constraints.push((
                c.name
                    .as_ref()
                    .map_or_else(|| format!("check_{k}"), |n| n.value.clone()),
                c.expr.to_string(),
            )),
            other => {
                return Err(DdlError::NotACheckConstraint {
                    constraint: other.to_string(),
                });
            }
        }
    }
    let cluster_by = match &ct.cluster_by {
        None => Vec::new(),
        Some(WrappedCollection::NoWrapping(v) | WrappedCollection::Parentheses(v)) => {
            let mut out = Vec::new();
            for e in v {
                column_paths(e, &mut out)?;
            }
            out
        }
    };
    Ok(CreateSpec {
        schema: StructType::new(fields),
        constraints,
        cluster_by,
    })
}

/// The clustering domain for `columns` of `schema` (physical names).
pub(crate) fn clustering_domain(
    schema: &StructType,
    columns: &[Vec<String>],
) -> Result<silt_log::actions::DomainMetadata, DdlError> {
    let mut physical = Vec::new();
    for path in columns {
        let mut fields = &schema.fields;
        let mut out = Vec::new();
        for part in path {
            let f = fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(part))
                .ok_or_else(|| DdlError::UnknownClusteringColumn {
                    column: path.join("."),
                })?;
            out.push(f.physical_name().unwrap_or(&f.name).to_string());
            if let DataType::Struct(s) = &f.data_type {
                fields = &s.fields;
            }
        }
        physical.push(out);
    }
    Ok(silt_log::actions::DomainMetadata {
        domain: CLUSTERING_DOMAIN.into(),
        configuration: serde_json::json!({ "clusteringColumns": physical }).to_string(),
        removed: false,
    })
}

/// Rewrites `IDENTITY (START WITH s INCREMENT BY i)` (Spark's order) as
/// `IDENTITY (INCREMENT BY i START WITH s)`, the order the SQL parser
/// accepts.
pub(crate) fn identity_options_in_parser_order(text: &str) -> Result<String, TokenizerError> {
    let tokens = crate::sql_text::tokenize(text)?;
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        out.push(tokens[i].clone());
        if is_word(tokens.get(i), "IDENTITY") {
            // The next significant token must open the options.
            let mut j = i + 1;
            while matches!(tokens.get(j), Some(Token::Whitespace(_))) {
                j += 1;
            }
            if tokens.get(j) == Some(&Token::LParen)
                && let Some(close) = tokens[j..].iter().position(|t| *t == Token::RParen)
            {
                let inner: Vec<&Token> = tokens[j + 1..j + close]
                    .iter()
                    .filter(|t| !matches!(t, Token::Whitespace(_)))
                    .collect();
                let at = |w: &str| inner.iter().position(|t| is_word(Some(t), w));
                if let (Some(s), Some(inc)) = (at("START"), at("INCREMENT"))
                    && s < inc
                {
                    let (start, increment) = (&inner[s..inc], &inner[inc..]);
                    let text: Vec<String> = increment
                        .iter()
                        .chain(start)
                        .map(|t| t.to_string())
                        .collect();
                    out.push(Token::Whitespace(
                        datafusion::sql::sqlparser::tokenizer::Whitespace::Space,
                    ));
                    out.push(Token::LParen);
                    for piece in crate::sql_text::tokenize(&text.join(" "))? {
                        out.push(piece);
                    }
                    out.push(Token::RParen);
                    i = j + close + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    Ok(out.iter().map(sql_text).collect())
}

// ---------------------------------------------------------------------------
// ALTER TABLE.

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

fn ident(tokens: &[Token], i: &mut usize) -> Result<String, SyntaxError> {
    match tokens.get(*i) {
        Some(Token::Word(w)) => {
            *i += 1;
            Ok(w.value.clone())
        }
        _ => Err(SyntaxError::ExpectedName {
            found: found(tokens, *i),
        }),
    }
}

/// A dotted column path.
fn path(tokens: &[Token], i: &mut usize) -> Result<Vec<String>, SyntaxError> {
    let mut out = vec![ident(tokens, i)?];
    while tokens.get(*i) == Some(&Token::Period) {
        *i += 1;
        out.push(ident(tokens, i)?);
    }
    Ok(out)
}

fn text_of(tokens: &[Token]) -> String {
    tokens.iter().map(sql_text).collect::<Vec<_>>().join(" ")
}

/// The tokens inside the parenthesised group starting at `tokens[*i]`.
fn group<'a>(tokens: &'a [Token], i: &mut usize) -> Result<&'a [Token], SyntaxError> {
    expect(tokens, i, &Token::LParen)?;
    let start = *i;
    let mut depth = 1;
    while let Some(t) = tokens.get(*i) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    *i += 1;
                    return Ok(&tokens[start..*i - 1]);
                }
            }
            _ => {}
        }
        *i += 1;
    }
    Err(SyntaxError::UnbalancedParentheses)
}

/// Splits at top-level commas.
fn split_commas(tokens: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (k, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen | Token::Lt => depth += 1,
            Token::RParen | Token::Gt => depth -= 1,
            Token::Comma if depth == 0 => {
                out.push(&tokens[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        out.push(&tokens[start..]);
    }
    out
}

fn string_value(t: &Token) -> Result<String, DdlError> {
    match t {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s.clone()),
        Token::Word(w) => Ok(w.value.clone()),
        Token::Number(n, _) => Ok(n.clone()),
        other => Err(DdlError::ExpectedPropertyToken {
            found: sql_text(other),
        }),
    }
}

/// `name TYPE [NOT NULL] [COMMENT '…']` in ADD COLUMNS.
fn added_column(tokens: &[Token]) -> Result<StructField, DdlError> {
    let tokens = split_shifts(tokens);
    let mut i = 0;
    let name = ident(&tokens, &mut i)?;
    let t = parse_type(&tokens, &mut i)?;
    let mut f = StructField::new(name, t, true);
    while i < tokens.len() {
        if is_word(tokens.get(i), "NOT") && is_word(tokens.get(i + 1), "NULL") {
            f.nullable = false;
            i += 2;
        } else if is_word(tokens.get(i), "COMMENT") {
            let c = tokens
                .get(i + 1)
                .and_then(|t| string_value(t).ok())
                .ok_or(DdlError::CommentNeedsString)?;
            f.metadata.insert("comment".into(), Value::from(c));
            i += 2;
        } else {
            return Err(DdlError::UnexpectedInColumnDefinition {
                found: sql_text(&tokens[i]),
            });
        }
    }
    Ok(f)
}

/// Parses the part of `ALTER TABLE` after the table name.
pub(crate) fn parse_alter(tokens: &[Token]) -> Result<AlterTable, DdlError> {
    let mut i;
    let kw = |i: usize, w: &str| is_word(tokens.get(i), w);
    let done = |i: usize| -> Result<(), DdlError> {
        match found(tokens, i) {
            None => Ok(()),
            Some(extra) => Err(DdlError::UnexpectedToken { found: extra }),
        }
    };
    let change = if kw(0, "ADD") && kw(1, "CONSTRAINT") {
        i = 2;
        let name = ident(tokens, &mut i)?;
        if !kw(i, "CHECK") {
            return Err(DdlError::AddConstraintUsage);
        }
        i += 1;
        let sql = text_of(group(tokens, &mut i)?);
        done(i)?;
        AlterTable::AddConstraint { name, sql }
    } else if kw(0, "ADD") {
        i = 1;
        if kw(i, "COLUMN") || kw(i, "COLUMNS") {
            i += 1;
        }
        let defs: Vec<&[Token]> = if tokens.get(i) == Some(&Token::LParen) {
            let g = group(tokens, &mut i)?;
            done(i)?;
            split_commas(g)
        } else {
            split_commas(&tokens[i..])
        };
        let mut fields = Vec::new();
        for d in defs {
            // Nested: `ADD COLUMN s.x INT` adds x to struct s.
            let mut k = 0;
            let p = path(d, &mut k)?;
            let mut field = added_column(&d[k - 1..])?;
            field.name = p.last().cloned().unwrap_or_default();
            fields.push((p[..p.len() - 1].to_vec(), field));
        }
        let parent = fields.first().map(|(p, _)| p.clone()).unwrap_or_default();
        if fields.iter().any(|(p, _)| *p != parent) {
            return Err(DdlError::AddColumnsToSeveralStructs);
        }
        AlterTable::AddColumns {
            parent,
            fields: fields.into_iter().map(|(_, f)| f).collect(),
        }
    } else if kw(0, "RENAME") && kw(1, "COLUMN") {
        i = 2;
        let p = path(tokens, &mut i)?;
        if !kw(i, "TO") {
            return Err(DdlError::RenameColumnUsage);
        }
        i += 1;
        let to = ident(tokens, &mut i)?;
        done(i)?;
        AlterTable::RenameColumn { path: p, to }
    } else if kw(0, "DROP") && kw(1, "CONSTRAINT") {
        i = 2;
        let if_exists = kw(i, "IF") && kw(i + 1, "EXISTS");
        if if_exists {
            i += 2;
        }
        let name = ident(tokens, &mut i)?;
        done(i)?;
        AlterTable::DropConstraint { name, if_exists }
    } else if kw(0, "DROP") && kw(1, "FEATURE") {
        i = 2;
        let name = ident(tokens, &mut i)?;
        if kw(i, "TRUNCATE") && kw(i + 1, "HISTORY") {
            return Err(DdlError::DropFeatureTruncateHistory);
        }
        done(i)?;
        let f: silt_log::TableFeature = name
            .parse()
            .unwrap_or_else(|e: std::convert::Infallible| match e {});
        AlterTable::DropFeature(f)
    } else if kw(0, "DROP") && (kw(1, "COLUMN") || kw(1, "COLUMNS")) {
        i = 2;
        let if_exists = kw(i, "IF") && kw(i + 1, "EXISTS");
        if if_exists {
            i += 2;
        }
        let list: Vec<&[Token]> = if tokens.get(i) == Some(&Token::LParen) {
            let g = group(tokens, &mut i)?;
            split_commas(g)
        } else {
            let rest = &tokens[i..];
            i = tokens.len();
            split_commas(rest)
        };
        done(i)?;
        let mut paths = Vec::new();
        for item in list {
            let mut k = 0;
            paths.push(path(item, &mut k)?);
            if k != item.len() {
                return Err(DdlError::UnexpectedInDropColumns {
                    found: sql_text(&item[k]),
                });
            }
        }
        AlterTable::DropColumns { paths, if_exists }
    } else if (kw(0, "ALTER") || kw(0, "CHANGE")) && kw(1, "COLUMN") {
        i = 2;
        let p = path(tokens, &mut i)?;
        if kw(i, "TYPE") || (kw(i, "SET") && kw(i + 1, "DATA") && kw(i + 2, "TYPE")) {
            i += if kw(i, "TYPE") { 1 } else { 3 };
            let rest = split_shifts(&tokens[i..]);
            let mut k = 0;
            let to = parse_type(&rest, &mut k)?;
            if let Some(extra) = found(&rest, k) {
                return Err(TypeError::TrailingTokens { found: extra }.into());
            }
            AlterTable::ChangeColumnType { path: p, to }
        } else if kw(i, "DROP") && kw(i + 1, "NOT") && kw(i + 2, "NULL") {
            done(i + 3)?;
            AlterTable::DropNotNull { path: p }
        } else if kw(i, "SET") && kw(i + 1, "DEFAULT") {
            let [column] = p.as_slice() else {
                return Err(DdlError::DefaultOnNestedField { column: p });
            };
            AlterTable::SetDefault {
                column: column.clone(),
                sql: Some(text_of(&tokens[i + 2..])),
            }
        } else if kw(i, "DROP") && kw(i + 1, "DEFAULT") {
            done(i + 2)?;
            let [column] = p.as_slice() else {
                return Err(DdlError::DefaultOnNestedField { column: p });
            };
            AlterTable::SetDefault {
                column: column.clone(),
                sql: None,
            }
        } else {
            return Err(DdlError::AlterColumnUsage);
        }
    } else if (kw(0, "SET") || kw(0, "UNSET")) && kw(1, "TBLPROPERTIES") {
        let set = kw(0, "SET");
        i = 2;
        let if_exists = !set && kw(i, "IF") && kw(i + 1, "EXISTS");
        if if_exists {
            i += 2;
        }
        let g = group(tokens, &mut i)?;
        done(i)?;
        if set {
            let mut props = BTreeMap::new();
            for item in split_commas(g) {
                match item {
                    [k, Token::Eq, v] | [k, v] => {
                        props.insert(string_value(k)?, string_value(v)?);
                    }
                    _ => {
                        return Err(DdlError::ExpectedKeyValue {
                            found: text_of(item),
                        });
                    }
                }
            }
            AlterTable::SetProperties(props)
        } else {
            let keys = split_commas(g)
                .into_iter()
                .map(|item| match item {
                    [k] => string_value(k),
                    _ => Err(DdlError::ExpectedKey {
                        found: text_of(item),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            AlterTable::UnsetProperties { keys, if_exists }
        }
    } else if kw(0, "CLUSTER") && kw(1, "BY") {
        i = 2;
        if kw(i, "NONE") {
            done(i + 1)?;
            AlterTable::ClusterBy(Vec::new())
        } else {
            let g = group(tokens, &mut i)?;
            done(i)?;
            let mut cols = Vec::new();
            for item in split_commas(g) {
                let mut k = 0;
                cols.push(path(item, &mut k)?);
            }
            AlterTable::ClusterBy(cols)
        }
    } else {
        return Err(DdlError::AlterUsage);
    };
    Ok(change)
}

/// Splits `ALTER TABLE <name> <rest>` into the name's tokens and the rest.
pub(crate) fn split_alter(tokens: &[Token]) -> Result<(&[Token], &[Token]), DdlError> {
    let start = 2; // ALTER TABLE
    let ops = [
        "ADD", "RENAME", "DROP", "ALTER", "CHANGE", "SET", "UNSET", "CLUSTER",
    ];
    let end = (start..tokens.len())
        .find(|&k| ops.iter().any(|o| is_word(tokens.get(k), o)))
        .ok_or(DdlError::AlterUsage)?;
    Ok((&tokens[start..end], &tokens[end..]))
}

/// Table properties for CREATE TABLE: options plus CHECK constraints.
pub(crate) fn create_properties(
    mut properties: HashMap<String, String>,
    constraints: &[(String, String)],
) -> HashMap<String, String> {
    for (name, sql) in constraints {
        properties.insert(
            format!("delta.constraints.{}", name.to_ascii_lowercase()),
            sql.clone(),
        );
    }
    properties
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report
    use super::*;

    #[test]
    fn spark_type_names() {
        let t = |s: &str| parse_type_text(s).unwrap().simple_name();
        assert_eq!(t("BIGINT"), "long");
        assert_eq!(t("decimal(12, 2)"), "decimal(12,2)");
        assert_eq!(t("TIMESTAMP_NTZ"), "timestamp_ntz");
        assert_eq!(t("TIMESTAMP WITHOUT TIME ZONE"), "timestamp_ntz");
        assert_eq!(t("ARRAY<ARRAY<INT>>"), "array");
        assert_eq!(t("STRUCT<a: INT, b STRING NOT NULL>"), "struct");
        assert_eq!(t("MAP<STRING, DOUBLE>"), "map");
        assert!(parse_type_text("DECIMAL(50,2)").is_err());
        assert!(parse_type_text("WIBBLE").is_err());
        // What is wrong and where, without debug text.
        let e = parse_type_text("DECIMAL(").unwrap_err();
        assert_eq!(
            e,
            TypeError::Syntax(SyntaxError::ExpectedNumber { found: None })
        );
        assert_eq!(e.to_string(), "expected a number, found the end");
        assert_eq!(
            parse_type_text("MAP<INT STRING>").unwrap_err().to_string(),
            "expected , but found STRING"
        );
        assert_eq!(
            parse_type_text("INT 'x'").unwrap_err(),
            TypeError::TrailingTokens {
                found: "'x'".into()
            }
        );
    }

    #[test]
    fn alter_clauses() {
        let p = |s: &str| {
            let toks = crate::sql_text::significant_tokens(&format!("ALTER TABLE t {s}")).unwrap();
            let (name, rest) = split_alter(&toks)?;
            assert_eq!(name.len(), 1);
            parse_alter(rest)
        };
        assert!(
            matches!(p("ADD COLUMNS (a INT, b STRING NOT NULL)").unwrap(),
            AlterTable::AddColumns { fields, .. } if fields.len() == 2 && !fields[1].nullable)
        );
        assert!(
            matches!(p("ADD COLUMN s.x MAP<STRING, ARRAY<INT>>").unwrap(),
            AlterTable::AddColumns { parent, .. } if parent == vec!["s"])
        );
        assert_eq!(
            p("RENAME COLUMN a TO b").unwrap(),
            AlterTable::RenameColumn {
                path: vec!["a".into()],
                to: "b".into()
            }
        );
        assert!(matches!(p("DROP COLUMNS IF EXISTS (a, s.b)").unwrap(),
            AlterTable::DropColumns { paths, if_exists: true } if paths.len() == 2));
        assert!(matches!(
            p("ALTER COLUMN v TYPE BIGINT").unwrap(),
            AlterTable::ChangeColumnType { .. }
        ));
        assert!(matches!(p("ALTER COLUMN v SET DEFAULT 'x'").unwrap(),
            AlterTable::SetDefault { sql: Some(s), .. } if s == "'x'"));
        assert!(
            matches!(p("SET TBLPROPERTIES ('delta.appendOnly' = 'true', 'a' = 'b')").unwrap(),
            AlterTable::SetProperties(m) if m.len() == 2)
        );
        assert!(matches!(
            p("UNSET TBLPROPERTIES IF EXISTS ('a')").unwrap(),
            AlterTable::UnsetProperties {
                if_exists: true,
                ..
            }
        ));
        assert!(matches!(p("ADD CONSTRAINT pos CHECK (v > 0)").unwrap(),
            AlterTable::AddConstraint { sql, .. } if sql == "v > 0"));
        assert!(
            matches!(p("CLUSTER BY (a, s.b)").unwrap(), AlterTable::ClusterBy(c) if c.len() == 2)
        );
        assert_eq!(p("EXPLODE").unwrap_err(), DdlError::AlterUsage);
        assert_eq!(
            p("RENAME COLUMN a b").unwrap_err(),
            DdlError::RenameColumnUsage
        );
        assert_eq!(
            p("DROP CONSTRAINT").unwrap_err(),
            DdlError::Syntax(SyntaxError::ExpectedName { found: None })
        );
        assert_eq!(
            p("SET TBLPROPERTIES ('a' = 'b'").unwrap_err(),
            DdlError::Syntax(SyntaxError::UnbalancedParentheses)
        );
    }
}
