//! The pipeline SQL language: `CREATE [OR REFRESH] STREAMING TABLE`,
//! `MATERIALIZED VIEW`, `TEMPORARY VIEW`, `CREATE FLOW … INSERT INTO` and
//! `AUTO CDC` / `APPLY CHANGES INTO`, with column lists, expectations and
//! table clauses. A parser over sqlparser's tokens: statement headers are
//! parsed here, queries are kept as text (with their position) for
//! [`crate::query`]. `${key}` is replaced from the configuration first.
//! Errors name file:line:column.

use std::collections::BTreeMap;

use silt_sql::datafusion::sql::sqlparser::dialect::GenericDialect;
use silt_sql::datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::definition::{
    AutoCdc, ColumnSelection, ColumnSpec, Dataset, DatasetKind, DatasetName, Definitions,
    ExpectAction, Expectation, Flow, FlowKind, QueryText, ScdType,
};
use crate::error::{PipelineError, PipelineResult, SourcePos};

/// Replaces `${key}` in `text` from `conf`; an unknown key is an error
/// naming its position.
pub fn substitute(
    file: &str,
    text: &str,
    conf: &BTreeMap<String, String>,
) -> PipelineResult<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0usize;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(syntax(
                file,
                text,
                consumed + start,
                "`${` without a closing `}`",
            ));
        };
        let key = after[..end].trim();
        match conf.get(key) {
            Some(v) => out.push_str(v),
            None => {
                return Err(PipelineError::Analysis {
                    at: pos_of(file, text, consumed + start),
                    message: format!(
                        "unknown configuration key ${{{key}}}: set it in the spec's `configuration` or with --conf {key}=…"
                    ),
                });
            }
        }
        consumed += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn pos_of(file: &str, text: &str, byte: usize) -> SourcePos {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    SourcePos {
        file: file.to_string(),
        line,
        column,
    }
}

fn syntax(file: &str, text: &str, byte: usize, message: &str) -> PipelineError {
    PipelineError::Syntax {
        at: pos_of(file, text, byte),
        message: message.to_string(),
    }
}

/// Parses one SQL file (after substitution) into its definitions.
pub fn parse_file(file: &str, text: &str) -> PipelineResult<Definitions> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| PipelineError::Syntax {
            at: SourcePos {
                file: file.to_string(),
                line: e.location.line,
                column: e.location.column,
            },
            message: e.message.clone(),
        })?;
    let significant: Vec<TokenWithSpan> = tokens
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let source = Source::new(file, text);
    let mut defs = Definitions::default();
    for statement in significant.split(|t| t.token == Token::SemiColon) {
        if statement.is_empty() {
            continue;
        }
        let mut c = Cursor {
            tokens: statement,
            i: 0,
            source: &source,
        };
        c.statement(&mut defs)?;
    }
    Ok(defs)
}

/// The file's text with a map from token locations to byte offsets.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            file,
            text,
            line_starts,
        }
    }

    fn offset(&self, loc: Location) -> usize {
        let Some(start) = self
            .line_starts
            .get((loc.line.max(1) - 1) as usize)
            .copied()
        else {
            return self.text.len();
        };
        let line = &self.text[start..];
        let col = loc.column.max(1) as usize - 1;
        start + line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    fn pos(&self, loc: Location) -> SourcePos {
        SourcePos {
            file: self.file.to_string(),
            line: loc.line,
            column: loc.column,
        }
    }
}

struct Cursor<'a, 'b> {
    tokens: &'b [TokenWithSpan],
    i: usize,
    source: &'b Source<'a>,
}

const CDC_CLAUSES: &[&str] = &["IGNORE", "APPLY", "SEQUENCE", "COLUMNS", "STORED", "TRACK"];

impl<'a, 'b> Cursor<'a, 'b> {
    fn peek(&self) -> Option<&'b Token> {
        self.tokens.get(self.i).map(|t| &t.token)
    }

    fn here(&self) -> SourcePos {
        match self.tokens.get(self.i).or_else(|| self.tokens.last()) {
            Some(t) if self.i < self.tokens.len() => self.source.pos(t.span.start),
            Some(t) => self.source.pos(t.span.end),
            None => SourcePos {
                file: self.source.file.to_string(),
                line: 1,
                column: 1,
            },
        }
    }

    fn error(&self, message: impl Into<String>) -> PipelineError {
        let found = match self.peek() {
            Some(t) => format!(", found `{t}`"),
            None => ", found the end of the statement".into(),
        };
        PipelineError::Syntax {
            at: self.here(),
            message: format!("{}{found}", message.into()),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> PipelineResult<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.error(format!("expected {word}")))
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token) -> PipelineResult<()> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{token}`")))
        }
    }

    fn identifier(&mut self, what: &str) -> PipelineResult<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let v = w.value.clone();
                self.i += 1;
                Ok(v)
            }
            _ => Err(self.error(format!("expected {what}"))),
        }
    }

    fn dataset_name(&mut self) -> PipelineResult<DatasetName> {
        let at = self.here();
        let mut text = self.identifier("a table name")?;
        while self.eat(&Token::Period) {
            text.push('.');
            text.push_str(&self.identifier("a name after `.`")?);
        }
        DatasetName::parse(&text).ok_or(PipelineError::Syntax {
            at,
            message: format!("`{text}` is not a dataset name (`name` or `schema.name`)"),
        })
    }

    fn string(&mut self, what: &str) -> PipelineResult<String> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                let v = s.clone();
                self.i += 1;
                Ok(v)
            }
            _ => Err(self.error(format!("expected {what} (a quoted string)"))),
        }
    }

    /// `( a, b, … )` of identifiers.
    fn name_list(&mut self) -> PipelineResult<Vec<String>> {
        self.expect(&Token::LParen)?;
        let mut out = vec![self.identifier("a column name")?];
        while self.eat(&Token::Comma) {
            out.push(self.identifier("a column name")?);
        }
        self.expect(&Token::RParen)?;
        Ok(out)
    }

    /// The source text of tokens `from..to`.
    fn text(&self, from: usize, to: usize) -> String {
        if from >= to {
            return String::new();
        }
        let start = self.source.offset(self.tokens[from].span.start);
        let end = self.source.offset(self.tokens[to - 1].span.end);
        self.source.text[start..end].trim().to_string()
    }

    /// A parenthesised expression: its inner text.
    fn paren_text(&mut self) -> PipelineResult<String> {
        self.expect(&Token::LParen)?;
        let start = self.i;
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => {
                    let text = self.text(start, self.i);
                    self.i += 1;
                    if text.is_empty() {
                        return Err(self.error("expected an expression inside `( )`"));
                    }
                    return Ok(text);
                }
                Token::RParen => depth -= 1,
                _ => {}
            }
            self.i += 1;
        }
        Err(self.error("expected `)`"))
    }

    /// Text up to (not including) a word of `stops` at depth 0, or the end.
    fn text_until(&mut self, stops: &[&str]) -> String {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                Token::Word(w)
                    if depth == 0
                        && w.quote_style.is_none()
                        && stops.iter().any(|s| w.value.eq_ignore_ascii_case(s)) =>
                {
                    break;
                }
                _ => {}
            }
            self.i += 1;
        }
        self.text(start, self.i)
    }

    fn rest(&mut self) -> PipelineResult<QueryText> {
        if self.i >= self.tokens.len() {
            return Err(self.error("expected a query"));
        }
        let at = self.here();
        let text = self.text(self.i, self.tokens.len());
        self.i = self.tokens.len();
        Ok(QueryText {
            text,
            at,
            frame: None,
        })
    }

    fn statement(&mut self, defs: &mut Definitions) -> PipelineResult<()> {
        let at = self.here();
        if self.eat_word("SET") {
            return Err(PipelineError::Syntax {
                at,
                message: "SET is not supported in pipeline files: use the spec's `configuration` or --conf".into(),
            });
        }
        self.expect_word("CREATE")?;
        if self.eat_word("OR") && !(self.eat_word("REFRESH") || self.eat_word("REPLACE")) {
            return Err(self.error("expected REFRESH after CREATE OR"));
        }
        if self.eat_word("FLOW") {
            let flow = self.flow(at)?;
            defs.flows.push(flow);
            return Ok(());
        }
        let kind = if self.eat_word("STREAMING") {
            self.eat_word("LIVE");
            self.expect_word("TABLE")?;
            DatasetKind::StreamingTable
        } else if self.eat_word("MATERIALIZED") {
            self.expect_word("VIEW")?;
            DatasetKind::MaterializedView
        } else if self.eat_word("LIVE") {
            self.expect_word("TABLE")?;
            DatasetKind::MaterializedView
        } else if self.eat_word("TEMPORARY") || self.eat_word("TEMP") {
            self.eat_word("LIVE");
            self.expect_word("VIEW")?;
            DatasetKind::TemporaryView
        } else if self.eat_word("VIEW") {
            DatasetKind::TemporaryView
        } else {
            return Err(self.error(
                "expected STREAMING TABLE, MATERIALIZED VIEW, TEMPORARY VIEW or FLOW after CREATE",
            ));
        };
        let dataset = self.dataset(kind, at)?;
        defs.datasets.push(dataset);
        Ok(())
    }

    fn dataset(&mut self, kind: DatasetKind, at: SourcePos) -> PipelineResult<Dataset> {
        let name = self.dataset_name()?;
        let mut d = Dataset::new(name, kind, at);
        if self.peek() == Some(&Token::LParen) {
            self.elements(&mut d)?;
        }
        loop {
            if self.eat_word("PARTITIONED") {
                self.expect_word("BY")?;
                d.partitioned_by = self.name_list()?;
            } else if self.eat_word("CLUSTER") {
                self.expect_word("BY")?;
                d.cluster_by = self.name_list()?;
            } else if self.eat_word("COMMENT") {
                d.comment = Some(self.string("a comment")?);
            } else if self.eat_word("TBLPROPERTIES") {
                self.expect(&Token::LParen)?;
                loop {
                    let k = self.string("a property key")?;
                    self.expect(&Token::Eq)?;
                    let v = match self.peek() {
                        Some(Token::Number(n, _)) => {
                            let n = n.clone();
                            self.i += 1;
                            n
                        }
                        Some(Token::Word(w))
                            if w.value.eq_ignore_ascii_case("true")
                                || w.value.eq_ignore_ascii_case("false") =>
                        {
                            let v = w.value.to_lowercase();
                            self.i += 1;
                            v
                        }
                        _ => self.string("a property value")?,
                    };
                    d.properties.insert(k, v);
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
                self.expect(&Token::RParen)?;
            } else if self.eat_word("USING") {
                let format = self.identifier("a table format")?;
                if !format.eq_ignore_ascii_case("delta") {
                    return Err(PipelineError::Syntax {
                        at: self.here(),
                        message: format!(
                            "silt pipelines write Delta tables; USING {format} is not supported"
                        ),
                    });
                }
            } else {
                break;
            }
        }
        if self.eat_word("AS") {
            d.query = Some(self.rest()?);
        } else if self.i < self.tokens.len() {
            return Err(self.error("expected AS, PARTITIONED BY, CLUSTER BY, COMMENT, TBLPROPERTIES or the end of the statement"));
        }
        if d.query.is_none() && kind != DatasetKind::StreamingTable {
            return Err(PipelineError::Syntax {
                at: d.at.clone(),
                message: format!("a {} needs `AS query`", kind.label()),
            });
        }
        Ok(d)
    }

    /// `( column type [NOT NULL] [COMMENT '…'], CONSTRAINT n EXPECT (…) [ON VIOLATION …], … )`
    fn elements(&mut self, d: &mut Dataset) -> PipelineResult<()> {
        self.expect(&Token::LParen)?;
        loop {
            let at = self.here();
            if self.eat_word("CONSTRAINT") {
                let name = self.identifier("a constraint name")?;
                self.expect_word("EXPECT")?;
                let condition = self.paren_text()?;
                let action = if self.eat_word("ON") {
                    self.expect_word("VIOLATION")?;
                    if self.eat_word("DROP") {
                        self.expect_word("ROW")?;
                        ExpectAction::Drop
                    } else if self.eat_word("FAIL") {
                        self.expect_word("UPDATE")?;
                        ExpectAction::Fail
                    } else {
                        return Err(self.error("expected DROP ROW or FAIL UPDATE"));
                    }
                } else {
                    ExpectAction::Warn
                };
                if d.expectations
                    .iter()
                    .any(|e| e.name.eq_ignore_ascii_case(&name))
                {
                    return Err(PipelineError::Analysis {
                        at,
                        message: format!("expectation {name} is declared twice on {}", d.name),
                    });
                }
                d.expectations.push(Expectation {
                    name,
                    condition,
                    action,
                    at,
                });
            } else {
                let name = self.identifier("a column name or CONSTRAINT")?;
                let start = self.i;
                let mut depth = 0usize;
                let mut not_null = false;
                let mut end = None;
                while let Some(t) = self.peek() {
                    match t {
                        Token::LParen | Token::Lt => depth += 1,
                        Token::RParen | Token::Gt if depth > 0 => depth -= 1,
                        Token::Comma | Token::RParen if depth == 0 => break,
                        Token::Word(w) if depth == 0 && w.value.eq_ignore_ascii_case("NOT") => {
                            end.get_or_insert(self.i);
                            not_null = true;
                        }
                        Token::Word(w) if depth == 0 && w.value.eq_ignore_ascii_case("COMMENT") => {
                            end.get_or_insert(self.i);
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                let sql_type = self.text(start, end.unwrap_or(self.i));
                if sql_type.is_empty() {
                    return Err(self.error(format!("expected a type for column {name}")));
                }
                d.columns.push(ColumnSpec {
                    name,
                    sql_type,
                    not_null,
                });
            }
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen)
    }

    fn flow(&mut self, at: SourcePos) -> PipelineResult<Flow> {
        let name = self.identifier("a flow name")?.to_lowercase();
        if self.eat_word("COMMENT") {
            self.string("a comment")?;
        }
        self.expect_word("AS")?;
        if self.eat_word("INSERT") {
            self.expect_word("INTO")?;
            let once = self.eat_word("ONCE");
            let target = self.dataset_name()?;
            if self.eat_word("BY") {
                self.expect_word("NAME")?;
            }
            let query = self.rest()?;
            return Ok(Flow {
                name,
                target,
                once,
                kind: FlowKind::Append(query),
                at,
            });
        }
        let once = if self.eat_word("AUTO") {
            self.expect_word("CDC")?;
            let once = self.eat_word("ONCE");
            self.expect_word("INTO")?;
            once
        } else if self.eat_word("APPLY") {
            self.expect_word("CHANGES")?;
            self.expect_word("INTO")?;
            false
        } else {
            return Err(self.error("expected INSERT INTO, AUTO CDC or APPLY CHANGES after AS"));
        };
        let target = self.dataset_name()?;
        self.expect_word("FROM")?;
        let source = if self.eat_word("STREAM") {
            if self.eat(&Token::LParen) {
                let s = self.dataset_name()?;
                self.expect(&Token::RParen)?;
                s
            } else {
                self.dataset_name()?
            }
        } else {
            return Err(
                self.error("expected STREAM(source) after FROM (AUTO CDC reads a change stream)")
            );
        };
        self.expect_word("KEYS")?;
        let keys = self.name_list()?;
        let mut cdc = AutoCdc {
            source,
            keys,
            ignore_null_updates: false,
            delete_when: None,
            truncate_when: None,
            sequence_by: String::new(),
            columns: ColumnSelection::All,
            scd: ScdType::Type1,
            track_history: ColumnSelection::All,
        };
        loop {
            if self.eat_word("IGNORE") {
                self.expect_word("NULL")?;
                self.expect_word("UPDATES")?;
                cdc.ignore_null_updates = true;
            } else if self.eat_word("APPLY") {
                self.expect_word("AS")?;
                let delete = if self.eat_word("DELETE") {
                    true
                } else if self.eat_word("TRUNCATE") {
                    false
                } else {
                    return Err(self.error("expected DELETE or TRUNCATE after APPLY AS"));
                };
                self.expect_word("WHEN")?;
                let cond = self.text_until(CDC_CLAUSES);
                if cond.is_empty() {
                    return Err(self.error("expected a condition"));
                }
                if delete {
                    cdc.delete_when = Some(cond);
                } else {
                    cdc.truncate_when = Some(cond);
                }
            } else if self.eat_word("SEQUENCE") {
                self.expect_word("BY")?;
                cdc.sequence_by = if self.peek() == Some(&Token::LParen) {
                    self.paren_text()?
                } else {
                    self.identifier("a sequence column")?
                };
            } else if self.eat_word("COLUMNS") {
                cdc.columns = self.selection()?;
            } else if self.eat_word("STORED") {
                self.expect_word("AS")?;
                self.expect_word("SCD")?;
                self.expect_word("TYPE")?;
                cdc.scd = match self.peek() {
                    Some(Token::Number(n, _)) if n == "1" => ScdType::Type1,
                    Some(Token::Number(n, _)) if n == "2" => ScdType::Type2,
                    _ => return Err(self.error("expected SCD TYPE 1 or 2")),
                };
                self.i += 1;
            } else if self.eat_word("TRACK") {
                self.expect_word("HISTORY")?;
                self.expect_word("ON")?;
                cdc.track_history = self.selection()?;
            } else {
                break;
            }
        }
        if self.i < self.tokens.len() {
            return Err(self.error("expected an AUTO CDC clause or the end of the statement"));
        }
        if cdc.sequence_by.is_empty() {
            return Err(PipelineError::Syntax {
                at,
                message: "AUTO CDC needs SEQUENCE BY".into(),
            });
        }
        if cdc.scd == ScdType::Type2 && cdc.truncate_when.is_some() {
            return Err(PipelineError::Syntax {
                at,
                message: "APPLY AS TRUNCATE WHEN is only for SCD TYPE 1".into(),
            });
        }
        Ok(Flow {
            name,
            target,
            once,
            kind: FlowKind::AutoCdc(cdc),
            at,
        })
    }

    /// `* EXCEPT (a, b)` or `a, b, c` or `(a, b)`.
    fn selection(&mut self) -> PipelineResult<ColumnSelection> {
        if self.eat(&Token::Mul) {
            if self.eat_word("EXCEPT") {
                return Ok(ColumnSelection::Except(self.name_list()?));
            }
            return Ok(ColumnSelection::All);
        }
        if self.peek() == Some(&Token::LParen) {
            return Ok(ColumnSelection::Only(self.name_list()?));
        }
        let mut out = vec![self.identifier("a column name")?];
        while self.eat(&Token::Comma) {
            out.push(self.identifier("a column name")?);
        }
        Ok(ColumnSelection::Only(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PipelineResult<Definitions> {
        parse_file("t.sql", text)
    }

    #[test]
    fn streaming_table_with_expectations_and_clauses() {
        let d = parse(
            "-- bronze\nCREATE OR REFRESH STREAMING TABLE silver.readings (\n  CONSTRAINT valid_t EXPECT (t BETWEEN -60 AND 80) ON VIOLATION DROP ROW,\n  CONSTRAINT has_id EXPECT (id IS NOT NULL),\n  id STRING NOT NULL COMMENT 'x', t DOUBLE, m MAP<STRING, INT>\n) PARTITIONED BY (day) COMMENT 'typed' TBLPROPERTIES ('a' = 'b', 'n' = 3)\nAS SELECT * FROM STREAM(bronze.raw);",
        )
        .unwrap();
        let ds = &d.datasets[0];
        assert_eq!(ds.kind, DatasetKind::StreamingTable);
        assert_eq!(ds.name.to_string(), "silver.readings");
        assert_eq!(ds.expectations.len(), 2);
        assert_eq!(ds.expectations[0].condition, "t BETWEEN -60 AND 80");
        assert_eq!(ds.expectations[0].action, ExpectAction::Drop);
        assert_eq!(ds.expectations[1].action, ExpectAction::Warn);
        assert_eq!(ds.expectations[0].at.line, 3);
        assert_eq!(ds.columns.len(), 3);
        assert_eq!(ds.columns[2].sql_type, "MAP<STRING, INT>");
        assert!(ds.columns[0].not_null);
        assert_eq!(ds.partitioned_by, vec!["day"]);
        assert_eq!(ds.properties.get("n").map(String::as_str), Some("3"));
        let q = ds.query.as_ref().unwrap();
        assert_eq!(q.text, "SELECT * FROM STREAM(bronze.raw)");
        assert_eq!((q.at.line, q.at.column), (7, 4));
    }

    #[test]
    fn flows_and_auto_cdc() {
        let d = parse(
            "CREATE STREAMING TABLE t;\nCREATE FLOW f1 AS INSERT INTO ONCE t BY NAME SELECT 1 AS a;\nCREATE FLOW c AS AUTO CDC INTO silver.devices FROM STREAM(bronze.changes) KEYS (device_id) IGNORE NULL UPDATES APPLY AS DELETE WHEN op = 'DELETE' AND x IN (1, 2) SEQUENCE BY updated_at COLUMNS * EXCEPT (op, _source_file) STORED AS SCD TYPE 2 TRACK HISTORY ON site, model;\nCREATE FLOW old AS APPLY CHANGES INTO t FROM STREAM s KEYS (k) SEQUENCE BY seq",
        )
        .unwrap();
        assert_eq!(d.datasets.len(), 1);
        assert!(d.datasets[0].query.is_none());
        assert_eq!(d.flows.len(), 3);
        assert!(d.flows[0].once);
        let FlowKind::AutoCdc(c) = &d.flows[1].kind else {
            panic!("not cdc")
        };
        assert_eq!(
            c.delete_when.as_deref(),
            Some("op = 'DELETE' AND x IN (1, 2)")
        );
        assert_eq!(c.sequence_by, "updated_at");
        assert!(c.ignore_null_updates);
        assert_eq!(c.scd, ScdType::Type2);
        assert_eq!(
            c.columns,
            ColumnSelection::Except(vec!["op".into(), "_source_file".into()])
        );
        assert_eq!(
            c.track_history,
            ColumnSelection::Only(vec!["site".into(), "model".into()])
        );
        let FlowKind::AutoCdc(old) = &d.flows[2].kind else {
            panic!("not cdc")
        };
        assert_eq!(old.source.name, "s");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("CREATE STREAMING TABLE t\n  AS\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.sql:2:5: syntax error: expected a query"),
            "{e}"
        );
        let e = parse("CREATE MATERIALIZED VIEW v (CONSTRAINT c EXPECT (x > 1) ON VIOLATION IGNORE) AS SELECT 1").unwrap_err();
        assert!(e.to_string().starts_with("t.sql:1:"), "{e}");
        assert!(
            e.to_string()
                .contains("expected DROP ROW or FAIL UPDATE, found `IGNORE`"),
            "{e}"
        );
        let e = parse("CREATE TABLE x AS SELECT 1").unwrap_err();
        assert!(e.to_string().contains("1:8"), "{e}");
        let e = parse("CREATE MATERIALIZED VIEW v").unwrap_err();
        assert!(e.to_string().contains("needs `AS query`"), "{e}");
        let e = parse("CREATE FLOW c AS AUTO CDC INTO t FROM STREAM(s) KEYS (k)").unwrap_err();
        assert!(e.to_string().contains("SEQUENCE BY"), "{e}");
        assert!(parse("SELECT 'unterminated").is_err());
    }

    #[test]
    fn substitution_replaces_known_keys_and_names_unknown_ones() {
        let conf: BTreeMap<String, String> =
            [("landing".to_string(), "/data/in".to_string())].into();
        assert_eq!(
            substitute("f.sql", "read_files('${landing}/x')", &conf).unwrap(),
            "read_files('/data/in/x')"
        );
        let e = substitute("f.sql", "a\n  ${nope}", &conf).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("f.sql:2:3: unknown configuration key ${nope}"),
            "{e}"
        );
    }
}
