//! A dataset's or flow's query, made runnable by DataFusion: every table it
//! reads (`STREAM(t)`, `STREAM t`, `read_files(…)`, a dataset name,
//! `delta.'path'`) becomes an input with a generated name, which the runner
//! fills for each batch (new rows for a streaming read, the current table
//! for a batch read). The inputs also give the dependency graph.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use silt_sql::datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Query, Statement, TableAlias, TableFactor, Value, VisitMut, VisitorMut,
};
use silt_sql::datafusion::sql::sqlparser::dialect::GenericDialect;
use silt_sql::datafusion::sql::sqlparser::parser::Parser;
use silt_sql::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use silt_sql::datafusion::prelude::SessionContext;

use crate::definition::{DatasetName, FrameQuery, QueryText};
use crate::error::{InvalidInput, PipelineError, PipelineResult};

/// Where an input's rows come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum InputSource {
    /// A dataset of the pipeline (or a table named so in the storage root).
    Dataset(DatasetName),
    /// Any Delta table, by path or URI (`delta.'…'`).
    Path(String),
    /// Landing files (`read_files(path, format => …, …)`).
    Files {
        /// The directory (or URI) read recursively.
        path: String,
        /// Options: `format`, `schemaEvolutionMode`, `maxFilesPerTrigger`…
        options: BTreeMap<String, String>,
    },
}

impl std::fmt::Display for InputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dataset(d) => write!(f, "{d}"),
            Self::Path(p) => write!(f, "delta.'{p}'"),
            Self::Files { path, .. } => write!(f, "read_files('{path}')"),
        }
    }
}

/// One table a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The name it has in the rewritten SQL.
    pub placeholder: String,
    /// What it reads.
    pub source: InputSource,
    /// Read as a stream (only new rows each batch) or whole.
    pub streaming: bool,
    /// Options of a streaming Delta read given with the table reference
    /// (`STREAM(t) WITH (skipChangeCommits = true)`); they override the
    /// target's `silt.stream.*` properties.
    pub options: BTreeMap<String, String>,
}

/// A query over generated input names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrittenQuery {
    /// SQL for DataFusion.
    pub sql: String,
    /// Its inputs, in the order they appear.
    pub inputs: Vec<Input>,
    /// The query mentions `_metadata` (file inputs then carry the column).
    pub uses_metadata: bool,
    /// The original text and position, for errors.
    pub original: QueryText,
    /// A DataFrame dataset's body and the view name `sql` reads it by.
    pub frame: Option<(String, FrameQuery)>,
}

impl RewrittenQuery {
    /// Makes `sql` runnable in `ctx`, where the inputs are registered: a
    /// DataFrame body is built over them and registered as its view.
    pub async fn prepare(&self, ctx: &SessionContext) -> PipelineResult<()> {
        let Some((view, body)) = &self.frame else {
            return Ok(());
        };
        let at = |message: String| PipelineError::Analysis {
            at: self.original.at.clone(),
            message,
        };
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for i in &self.inputs {
            let df = ctx
                .table(i.placeholder.as_str())
                .await
                .map_err(|e| at(format!("input {}: {e}", i.source)))?;
            inputs.push(df);
        }
        let df = (body.0)(inputs).map_err(|e| at(format!("the DataFrame body: {e}")))?;
        ctx.deregister_table(view.as_str())
            .map_err(|e| at(e.to_string()))?;
        ctx.register_table(view.as_str(), df.into_view())
            .map_err(|e| at(e.to_string()))?;
        Ok(())
    }
}

/// Rewrites `query`: the inputs get generated names (prefix `prefix`).
pub fn rewrite(query: &QueryText, prefix: &str) -> PipelineResult<RewrittenQuery> {
    let err = |message: String| PipelineError::Syntax {
        at: query.at.clone(),
        message,
    };
    let (text, paths) = normalise(&query.text).map_err(|e| err(e.0))?;
    let mut statements =
        Parser::parse_sql(&GenericDialect {}, &text).map_err(|e| err(e.to_string()))?;
    if statements.len() != 1 {
        return Err(err("expected one query".into()));
    }
    let mut statement = statements.remove(0);
    if !matches!(statement, Statement::Query(_)) {
        return Err(err("expected a query (SELECT …)".into()));
    }
    let mut rewriter = Rewriter {
        prefix: prefix.to_string(),
        paths,
        ctes: BTreeSet::new(),
        inputs: Vec::new(),
        error: None,
    };
    let _ = statement.visit(&mut rewriter);
    if let Some(e) = rewriter.error {
        return Err(err(e.0));
    }
    let (sql, frame) = match &query.frame {
        Some(body) => {
            static FRAMES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = FRAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let view = format!("{prefix}_frame_{n}");
            (format!("SELECT * FROM {view}"), Some((view, body.clone())))
        }
        None => (statement.to_string(), None),
    };
    Ok(RewrittenQuery {
        sql,
        inputs: rewriter.inputs,
        uses_metadata: query.frame.is_none() && query.text.contains("_metadata"),
        original: query.clone(),
        frame,
    })
}

/// `STREAM name` becomes `STREAM(name)`; `delta.'path'` and
/// ``delta.`path` `` become a generated identifier (returned with its path).
fn normalise(text: &str) -> Result<(String, BTreeMap<String, String>), InvalidInput> {
    let (text, paths) = path_identifiers(text)?;
    let tokens = Tokenizer::new(&GenericDialect {}, &text)
        .tokenize()
        .map_err(|e| InvalidInput(e.to_string()))?;
    let significant =
        |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("stream") => {
                out.push_str(&w.to_string());
                i += 1;
                // `STREAM name[.name]` (not `STREAM(`): add the parentheses.
                if let Some(j) = significant(i)
                    && let Token::Word(_) = &tokens[j]
                {
                    let mut end = j + 1;
                    while end + 1 < tokens.len()
                        && tokens[end] == Token::Period
                        && matches!(tokens[end + 1], Token::Word(_))
                    {
                        end += 2;
                    }
                    // `STREAM read_files(…)`: the call's arguments too.
                    if tokens.get(end) == Some(&Token::LParen) {
                        let mut depth = 0usize;
                        while end < tokens.len() {
                            match tokens[end] {
                                Token::LParen => depth += 1,
                                Token::RParen => {
                                    depth -= 1;
                                    if depth == 0 {
                                        end += 1;
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            end += 1;
                        }
                    }
                    out.push('(');
                    for t in &tokens[j..end] {
                        out.push_str(&t.to_string());
                    }
                    out.push(')');
                    i = end;
                }
            }
            Token::Whitespace(Whitespace::SingleLineComment { .. }) => {
                out.push('\n');
                i += 1;
            }
            t => {
                out.push_str(&t.to_string());
                i += 1;
            }
        }
    }
    Ok((out, paths))
}

/// `delta.'path'` and ``delta.`path` `` become generated identifiers.
fn path_identifiers(text: &str) -> Result<(String, BTreeMap<String, String>), InvalidInput> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|e| InvalidInput(e.to_string()))?;
    let mut out = String::with_capacity(text.len());
    let mut paths = BTreeMap::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w)
                if w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("delta")
                    && tokens.get(i + 1) == Some(&Token::Period) =>
            {
                let path = match tokens.get(i + 2) {
                    Some(Token::SingleQuotedString(s)) => Some(s.clone()),
                    Some(Token::Word(p)) if p.quote_style == Some('`') => Some(p.value.clone()),
                    _ => None,
                };
                match path {
                    Some(p) => {
                        let id = format!("__silt_path_{}", paths.len());
                        out.push_str(&id);
                        paths.insert(id, p);
                        i += 3;
                    }
                    None => {
                        out.push_str(&w.to_string());
                        i += 1;
                    }
                }
            }
            t => {
                out.push_str(&t.to_string());
                i += 1;
            }
        }
    }
    Ok((out, paths))
}

struct Rewriter {
    prefix: String,
    paths: BTreeMap<String, String>,
    ctes: BTreeSet<String>,
    inputs: Vec<Input>,
    error: Option<InvalidInput>,
}

/// Options by name.
type Options = BTreeMap<String, String>;

/// `WITH (key = value, …)` after a table reference: keys as identifiers or
/// strings, values as strings, numbers or booleans.
fn read_options(hints: &[Expr]) -> Result<Options, InvalidInput> {
    let mut out = BTreeMap::new();
    for hint in hints {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = hint
        else {
            return Err(format!("expected an option `key = value`, found {hint}").into());
        };
        let key = match left.as_ref() {
            Expr::Identifier(i) => i.value.clone(),
            Expr::CompoundIdentifier(ids) => ids
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join("."),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                _ => return Err(format!("an option's name must be a name, not {left}").into()),
            },
            _ => return Err(format!("an option's name must be a name, not {left}").into()),
        };
        let value = match right.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => b.to_string(),
                _ => return Err(format!("option {key}: expected a value, found {right}").into()),
            },
            Expr::Identifier(i) => i.value.clone(),
            _ => return Err(format!("option {key}: expected a value, found {right}").into()),
        };
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("option {key} is given twice").into());
        }
    }
    Ok(out)
}

fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn string_of(arg: &FunctionArgExpr) -> Option<String> {
    match arg {
        FunctionArgExpr::Expr(Expr::Value(v)) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        FunctionArgExpr::Expr(Expr::Identifier(i)) => Some(i.value.clone()),
        _ => None,
    }
}

impl Rewriter {
    /// `read_files('path', key => 'value', …)`.
    fn files(&self, args: &[FunctionArg]) -> Result<InputSource, InvalidInput> {
        let mut path = None;
        let mut options = BTreeMap::new();
        for a in args {
            match a {
                FunctionArg::Unnamed(e) if path.is_none() => {
                    path = Some(
                        string_of(e)
                            .ok_or("read_files: the first argument is the path, a quoted string")?,
                    );
                }
                FunctionArg::Named { name, arg, .. } => {
                    let v = string_of(arg).ok_or(format!(
                        "read_files: option {} needs a literal value",
                        name.value
                    ))?;
                    options.insert(name.value.clone(), v);
                }
                FunctionArg::ExprNamed { name, arg, .. } => {
                    let v = string_of(arg)
                        .ok_or(format!("read_files: option {name} needs a literal value"))?;
                    options.insert(name.to_string(), v);
                }
                other => return Err(format!("read_files: unexpected argument {other}").into()),
            }
        }
        let path = path.ok_or("read_files needs a path")?;
        Ok(InputSource::Files { path, options })
    }

    fn named(&self, parts: &[String]) -> Result<InputSource, InvalidInput> {
        if let [one] = parts
            && let Some(p) = self.paths.get(one)
        {
            return Ok(InputSource::Path(p.clone()));
        }
        DatasetName::parse(&parts.join("."))
            .map(InputSource::Dataset)
            .ok_or_else(|| format!("`{}` is not a dataset name", parts.join(".")).into())
    }

    fn stream_arg(&self, args: &[FunctionArg]) -> Result<InputSource, InvalidInput> {
        let [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] = args else {
            return Err("STREAM takes one table".into());
        };
        match e {
            Expr::Identifier(i) => self.named(std::slice::from_ref(&i.value)),
            Expr::CompoundIdentifier(ids) => {
                self.named(&ids.iter().map(|i| i.value.clone()).collect::<Vec<_>>())
            }
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("read_files") => {
                match &f.args {
                    FunctionArguments::List(list) => self.files(&list.args),
                    _ => Err("read_files needs arguments".into()),
                }
            }
            other => Err(format!("STREAM reads a table or read_files(…), not {other}").into()),
        }
    }

    fn replace(&mut self, factor: &mut TableFactor) -> Result<(), InvalidInput> {
        let TableFactor::Table {
            name,
            alias,
            args,
            with_hints,
            ..
        } = factor
        else {
            return Ok(());
        };
        let parts = name_parts(name);
        let first = parts.first().map(|s| s.to_lowercase()).unwrap_or_default();
        let (source, streaming, default_alias) = match (&args, parts.len()) {
            (Some(a), 1) if first == "stream" => {
                let source = self.stream_arg(&a.args)?;
                let alias = match &source {
                    InputSource::Dataset(d) => Some(d.name.clone()),
                    _ => None,
                };
                (source, true, alias)
            }
            (Some(a), 1) if first == "read_files" => (self.files(&a.args)?, false, None),
            (Some(_), _) => return Ok(()), // another table function: DataFusion's
            (None, _) if parts.len() == 1 && self.ctes.contains(&first) => return Ok(()),
            (None, _) => {
                let source = self.named(&parts)?;
                let alias = match &source {
                    InputSource::Dataset(d) => Some(d.name.clone()),
                    _ => None,
                };
                (source, false, alias)
            }
        };
        let options = read_options(with_hints)?;
        let streams_a_table =
            streaming && matches!(source, InputSource::Dataset(_) | InputSource::Path(_));
        if !options.is_empty() && !streams_a_table {
            return Err(format!(
                "WITH (…) options are for a streaming read of a table (STREAM(t) WITH (…)), not {source}; read_files takes its options as arguments"
            )
            .into());
        }
        with_hints.clear();
        let placeholder = format!("{}_{}", self.prefix, self.inputs.len());
        self.inputs.push(Input {
            placeholder: placeholder.clone(),
            source,
            streaming,
            options,
        });
        *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(placeholder))]);
        *args = None;
        if alias.is_none()
            && let Some(a) = default_alias
        {
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::new(a),
                columns: Vec::new(),
                at: None,
            });
        }
        Ok(())
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let Err(e) = self.replace(factor) {
            self.error.get_or_insert(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SourcePos;

    fn q(text: &str) -> RewrittenQuery {
        rewrite(
            &QueryText {
                text: text.into(),
                at: SourcePos::default(),
                frame: None,
            },
            "__in",
        )
        .unwrap()
    }

    #[test]
    fn streams_files_paths_and_datasets_become_inputs() {
        let r = q(
            "SELECT r.a, d.site FROM STREAM bronze.raw r JOIN silver.devices d ON r.id = d.id \
             UNION ALL SELECT a, b FROM STREAM(read_files('/land/x', format => 'json', maxFilesPerTrigger => 5)) \
             UNION ALL SELECT a, b FROM delta.'/tmp/t' WHERE a IN (SELECT a FROM lookup)",
        );
        let kinds: Vec<(String, bool)> = r
            .inputs
            .iter()
            .map(|i| (i.source.to_string(), i.streaming))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("bronze.raw".into(), true),
                ("silver.devices".into(), false),
                ("read_files('/land/x')".into(), true),
                ("delta.'/tmp/t'".into(), false),
                ("lookup".into(), false),
            ]
        );
        let InputSource::Files { options, .. } = &r.inputs[2].source else {
            panic!()
        };
        assert_eq!(options.get("format").map(String::as_str), Some("json"));
        assert_eq!(
            options.get("maxFilesPerTrigger").map(String::as_str),
            Some("5")
        );
        assert!(r.sql.contains("FROM __in_0 r JOIN __in_1 d"), "{}", r.sql);
        assert!(r.sql.contains("FROM __in_4 AS lookup"), "{}", r.sql);
    }

    #[test]
    fn a_streaming_read_takes_options_with_it() {
        let r = q(
            "SELECT s.a FROM STREAM(bronze.raw) AS s WITH (skipChangeCommits = true, 'maxFilesPerTrigger' = 5) \
             JOIN STREAM delta.'/x/y' WITH (startingVersion = '3') ON true",
        );
        assert_eq!(
            r.inputs[0].options,
            BTreeMap::from([
                ("skipChangeCommits".to_string(), "true".to_string()),
                ("maxFilesPerTrigger".to_string(), "5".to_string()),
            ])
        );
        assert_eq!(
            r.inputs[1].options,
            BTreeMap::from([("startingVersion".to_string(), "3".to_string())])
        );
        assert!(!r.sql.contains("WITH"), "{}", r.sql);
        let err = |text: &str| {
            rewrite(
                &QueryText {
                    text: text.into(),
                    at: SourcePos::default(),
                    frame: None,
                },
                "p",
            )
            .unwrap_err()
            .to_string()
        };
        assert!(
            err("SELECT * FROM raw WITH (skipChangeCommits = true)").contains("streaming read")
        );
        assert!(
            err("SELECT * FROM STREAM read_files('/l', format => 'json') WITH (a = 1)")
                .contains("read_files takes its options")
        );
        assert!(err("SELECT * FROM STREAM(raw) WITH (a > 1)").contains("key = value"));
        assert!(err("SELECT * FROM STREAM(raw) WITH (a = 1, a = 2)").contains("twice"));
    }

    #[test]
    fn ctes_are_not_inputs_and_unaliased_tables_keep_their_name() {
        let r =
            q("WITH x AS (SELECT * FROM STREAM(raw)) SELECT raw.a FROM x JOIN raw ON x.a = raw.a");
        assert_eq!(r.inputs.len(), 2);
        assert!(r.sql.contains("FROM __in_0 AS raw"), "{}", r.sql);
        assert!(r.sql.contains("FROM x JOIN __in_1 AS raw"), "{}", r.sql);
    }

    #[test]
    fn bad_queries_are_errors() {
        let at = QueryText {
            text: "SELECT a FROM (".into(),
            at: SourcePos::default(),
            frame: None,
        };
        assert!(rewrite(&at, "p").is_err());
        let at = QueryText {
            text: "SELECT * FROM STREAM(1 + 2)".into(),
            at: SourcePos::default(),
            frame: None,
        };
        assert!(
            rewrite(&at, "p")
                .unwrap_err()
                .to_string()
                .contains("STREAM reads a table")
        );
    }
}
