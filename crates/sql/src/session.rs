//! [`SiltSession`]: a DataFusion session that knows Delta tables. Tables
//! are registered by name, or named by path in SQL as
//! `delta.'./lake/silver/readings'` (also with backticks, and with a
//! version suffix `@v3` for time travel). Statements DataFusion does not
//! plan for Delta tables are handled here: `CREATE TABLE delta.'path' AS
//! SELECT …` and `RESTORE TABLE … TO VERSION|TIMESTAMP AS OF …`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    CreateTable, CreateTableOptions, Expr as SqlExpr, HiveDistributionStyle, ObjectNamePart,
    SqlOption, Statement,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Word};
use silt_log::snapshot::VersionSpec;
use silt_parquet::{WriteMode, WriteOptions};
use silt_store::TableBuilder;

use crate::error::{SqlError, SqlResult};
use crate::exec::external;
use crate::sql_text::{significant_tokens, tokenize};
use crate::statement_error::{DdlError, StatementError};
use crate::table::DeltaTable;

/// The schema under which tables are named by path.
pub const PATH_SCHEMA: &str = "delta";

/// Tables named by their path (`delta.'path'`), opened on first use.
#[derive(Debug)]
struct PathSchema {
    options: HashMap<String, String>,
    opened: Mutex<HashMap<String, Arc<DeltaTable>>>,
}

/// Splits `path@v12` / `path@2024-01-01T00:00:00Z` into the path and a
/// version spec.
fn split_version(name: &str) -> SqlResult<(&str, VersionSpec)> {
    let Some((path, suffix)) = name.rsplit_once('@') else {
        return Ok((name, VersionSpec::Latest));
    };
    if let Some(v) = suffix.strip_prefix('v').and_then(|v| v.parse::<u64>().ok()) {
        return Ok((path, VersionSpec::Version(v)));
    }
    match silt_log::partition::parse_timestamp(suffix) {
        Some(us) => Ok((path, VersionSpec::Timestamp(us / 1000))),
        None => Ok((name, VersionSpec::Latest)), // an '@' in the path itself
    }
}

async fn open_table(
    path: &str,
    spec: VersionSpec,
    options: &HashMap<String, String>,
) -> SqlResult<DeltaTable> {
    let mut builder = TableBuilder::new(path).with_storage_options(options.clone());
    let pinned = match spec {
        VersionSpec::Latest => false,
        VersionSpec::Version(v) => {
            builder = builder.at_version(v);
            true
        }
        VersionSpec::Timestamp(ms) => {
            builder = builder.at_timestamp(ms);
            true
        }
    };
    let snapshot = builder.load().await?;
    Ok(DeltaTable::new(snapshot, pinned)?)
}

#[async_trait]
impl SchemaProvider for PathSchema {
    fn table_names(&self) -> Vec<String> {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        opened.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let cached = self
            .opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        if let Some(t) = cached {
            // Planning sees the newest schema (another statement or writer
            // may have altered the table); column defaults are read anew
            // when the schema changed.
            let latest = t.refresh_for_planning().await?;
            if t.defaults_current() {
                return Ok(Some(t));
            }
            let fresh = Arc::new(DeltaTable::new(
                silt_log::Snapshot::clone(&latest),
                t.is_pinned(),
            )?);
            fresh.mark_planned_fresh();
            self.opened
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_string(), fresh.clone());
            return Ok(Some(fresh));
        }
        let (path, spec) = split_version(name).map_err(external)?;
        let table = Arc::new(
            open_table(path, spec, &self.options)
                .await
                .map_err(external)?,
        );
        // Just loaded: the statement's scan need not list the log again.
        table.mark_planned_fresh();
        self.opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), table.clone());
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
    }
}

/// A DataFusion session over Delta tables.
pub struct SiltSession {
    ctx: SessionContext,
    options: HashMap<String, String>,
}

impl Default for SiltSession {
    fn default() -> Self {
        Self::new()
    }
}

impl SiltSession {
    /// A session using the local filesystem and default storage options.
    pub fn new() -> Self {
        Self::with_storage_options(HashMap::new())
    }

    /// A session whose path-named tables use these storage options
    /// (credentials, endpoints; see silt-store).
    pub fn with_storage_options(options: HashMap<String, String>) -> Self {
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        ctx.add_analyzer_rule(Arc::new(crate::dml_statement::DmlGuard));
        let catalog_name = ctx
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone();
        if let Some(catalog) = ctx.catalog(&catalog_name) {
            // Registering a schema into the default in-memory catalog cannot
            // fail; a name clash would only replace our own schema.
            let _ = catalog.register_schema(
                PATH_SCHEMA,
                Arc::new(PathSchema {
                    options: options.clone(),
                    opened: Mutex::new(HashMap::new()),
                }),
            );
        }
        Self { ctx, options }
    }

    /// The DataFusion context (for the DataFrame API).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Makes every later UPDATE, DELETE and MERGE commit of this session
    /// carry `stamp` (an application transaction, domain metadata) in the
    /// same commit as its changes; `None` stops it. A pipeline records a
    /// flow's source progress this way, atomically with its output.
    pub fn set_commit_stamp(&self, stamp: Option<silt_log::CommitStamp>) {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        let config = state.config_mut();
        config.set_extension(Arc::new(stamp.unwrap_or_default()));
    }

    /// Registers the table at `uri` (latest version) as `name`.
    pub async fn register(&self, name: &str, uri: &str) -> SqlResult<()> {
        self.register_at(name, uri, VersionSpec::Latest).await
    }

    /// Registers the table at `uri` as `name`, at a version or timestamp
    /// (time travel: read-only) or the latest version.
    pub async fn register_at(&self, name: &str, uri: &str, spec: VersionSpec) -> SqlResult<()> {
        let table = open_table(uri, spec, &self.options).await?;
        self.ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }

    /// Plans one SQL statement (runs DDL and DML when the DataFrame is
    /// collected; `CREATE TABLE … AS` and `RESTORE` run here).
    pub async fn sql(&self, text: &str) -> SqlResult<DataFrame> {
        let mut statements = self.sql_all(text).await?;
        match (statements.pop(), statements.is_empty()) {
            (Some(df), true) => Ok(df),
            _ => Err(SqlError::InvalidStatement {
                statement: text.to_string(),
                problem: Box::new(StatementError::NotOneStatement),
            }),
        }
    }

    /// Runs one statement and collects its result.
    pub async fn run(&self, text: &str) -> SqlResult<Vec<RecordBatch>> {
        Ok(self.sql(text).await?.collect().await?)
    }

    /// Plans each `;`-separated statement in turn. A statement is planned
    /// only after the previous one has run, so later statements see earlier
    /// changes; every statement but the last is collected here.
    pub async fn sql_all(&self, text: &str) -> SqlResult<Vec<DataFrame>> {
        let mut out = Vec::new();
        for piece in split_statements(text)? {
            if let Some(df) = out.pop() {
                let df: DataFrame = df;
                df.collect().await?;
            }
            out.push(self.one_statement(&piece).await?);
        }
        Ok(out)
    }

    async fn one_statement(&self, text: &str) -> SqlResult<DataFrame> {
        let invalid = |problem: StatementError| SqlError::InvalidStatement {
            statement: text.to_string(),
            problem: Box::new(problem),
        };
        let tokens = significant_tokens(text).map_err(|e| invalid(e.into()))?;
        if let Some(Token::Word(w)) = tokens.first()
            && w.value.eq_ignore_ascii_case("RESTORE")
        {
            return self
                .restore_statement(&tokens)
                .await
                .map_err(|e| in_statement(e, text));
        }
        if let [Token::Word(a), Token::Word(t), ..] = tokens.as_slice()
            && a.value.eq_ignore_ascii_case("ALTER")
            && t.value.eq_ignore_ascii_case("TABLE")
        {
            return self
                .alter_statement(&tokens)
                .await
                .map_err(|e| in_statement(e, text));
        }
        let rewritten = with_path_identifiers(text).map_err(invalid)?;
        let rewritten = crate::ddl::identity_options_in_parser_order(&rewritten)
            .map_err(|e| invalid(e.into()))?;
        let rewritten =
            match crate::merge_star::mark_stars(&rewritten).map_err(|e| invalid(e.into()))? {
                Some(marked) => self
                    .expand_merge_stars(&marked)
                    .await
                    .map_err(|e| in_statement(e, text))?,
                None => rewritten,
            };
        let mut parsed = DFParser::parse_sql(&rewritten)?;
        let mut statement = match (parsed.pop_front(), parsed.is_empty()) {
            (Some(s), true) => s,
            _ => return Err(invalid(StatementError::NotOneStatement)),
        };
        if let DFStatement::Statement(s) = &statement
            && let Some(merge) = crate::dml_statement::update_from_as_merge(s)
        {
            // DataFusion's SQL planner refuses UPDATE … FROM; it is a MERGE.
            let mut parsed = DFParser::parse_sql(&merge)?;
            statement = match (parsed.pop_front(), parsed.is_empty()) {
                (Some(s), true) => s,
                _ => {
                    return Err(invalid(StatementError::RewriteNotMerge {
                        what: "UPDATE … FROM",
                    }));
                }
            };
        }
        if let DFStatement::Statement(s) = &statement
            && let Statement::CreateTable(ct) = s.as_ref()
            && let Some(path) = path_of(&ct.name.0)
        {
            let Some(query) = &ct.query else {
                return self
                    .create_table(path, ct)
                    .await
                    .map_err(|e| in_statement(e, text));
            };
            if !ct.columns.is_empty() {
                return Err(invalid(StatementError::CreateAsSelectWithColumns));
            }
            let layout = TableLayout {
                partition_by: partition_columns(ct).map_err(|e| invalid(e.into()))?,
                properties: table_properties(&ct.table_options),
            };
            return self
                .create_as_select(path, &query.to_string(), ct.if_not_exists, layout)
                .await;
        }
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        if let Some(df) = crate::dml_statement::plan_dml(&self.ctx, &state, &plan).await? {
            return Ok(df);
        }
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }

    /// A MERGE with `UPDATE SET *` / `INSERT *` marked (see `merge_star`),
    /// with the target's columns written out.
    async fn expand_merge_stars(&self, marked: &str) -> SqlResult<String> {
        let parsed = DFParser::parse_sql(marked)?;
        let Some(DFStatement::Statement(statement)) = parsed.front() else {
            return Err(SqlError::InvalidStatement {
                statement: marked.to_string(),
                problem: Box::new(StatementError::RewriteNotMerge {
                    what: "MERGE with UPDATE SET * or INSERT *",
                }),
            });
        };
        let (target, source) =
            crate::merge_star::merge_names(statement).map_err(|e| SqlError::InvalidStatement {
                statement: marked.to_string(),
                problem: Box::new(e.into()),
            })?;
        let reference = datafusion::sql::planner::object_name_to_table_reference(target, true)?;
        let provider = self.ctx.table_provider(reference).await?;
        let columns = crate::exec::column_names(&provider.schema());
        Ok(crate::merge_star::expand_stars(marked, &columns, &source))
    }

    async fn create_as_select(
        &self,
        path: String,
        query: &str,
        if_not_exists: bool,
        layout: TableLayout,
    ) -> SqlResult<DataFrame> {
        let builder = TableBuilder::new(&path).with_storage_options(self.options.clone());
        if builder.clone().load().await.is_ok() {
            if if_not_exists {
                return count_frame(&self.ctx, 0);
            }
            return Err(SqlError::InvalidStatement {
                statement: format!("CREATE TABLE {PATH_SCHEMA}.'{path}'"),
                problem: Box::new(StatementError::TableExists),
            });
        }
        // Columns of the new table are nullable, as Delta's CREATE TABLE AS
        // makes them (a VALUES list or literal would otherwise make them
        // NOT NULL for every later write).
        let frame = self.ctx.sql(query).await?;
        let query_schema: Arc<Schema> = Arc::new(frame.schema().as_arrow().clone());
        let mut batches = frame.collect().await?;
        if batches.is_empty() {
            // No rows: the table still takes the query's columns.
            batches.push(RecordBatch::new_empty(query_schema));
        }
        let batches = batches
            .into_iter()
            .map(|b| {
                let fields: Vec<Field> = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect();
                RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(DataFusionError::from)?;
        let store = builder.build_store()?;
        let r = silt_parquet::write_batches(
            store,
            None,
            batches,
            WriteOptions {
                mode: WriteMode::Append,
                partition_by: layout.partition_by,
                properties: layout.properties,
                evaluator: Some(crate::evaluator::DataFusionEvaluator::shared()),
                ..WriteOptions::default()
            },
        )
        .await?;
        crate::exec::committed(&r.outcome, &path)?;
        count_frame(&self.ctx, r.rows)
    }

    /// `CREATE TABLE delta.'path' (columns …) [PARTITIONED BY …] [CLUSTER BY
    /// …] [TBLPROPERTIES …]`: an empty table, one commit.
    async fn create_table(&self, path: String, ct: &CreateTable) -> SqlResult<DataFrame> {
        let invalid = |problem: StatementError| SqlError::InvalidStatement {
            statement: format!("CREATE TABLE {PATH_SCHEMA}.'{path}'"),
            problem: Box::new(problem),
        };
        let builder = TableBuilder::new(&path).with_storage_options(self.options.clone());
        if builder.clone().load().await.is_ok() {
            if ct.if_not_exists {
                return count_frame(&self.ctx, 0);
            }
            return Err(invalid(StatementError::TableExists));
        }
        if ct.columns.is_empty() {
            return Err(invalid(StatementError::CreateWithoutColumns));
        }
        let spec = crate::ddl::create_spec(ct).map_err(|e| invalid(e.into()))?;
        let partition_by = partition_columns(ct).map_err(|e| invalid(e.into()))?;
        if !spec.cluster_by.is_empty() && !partition_by.is_empty() {
            return Err(invalid(StatementError::PartitionedAndClustered));
        }
        let properties =
            crate::ddl::create_properties(table_properties(&ct.table_options), &spec.constraints);
        let mut features = Vec::new();
        if !spec.cluster_by.is_empty() {
            features.extend([
                silt_log::TableFeature::Clustering,
                silt_log::TableFeature::DomainMetadata,
            ]);
        }
        let protocol = silt_log::create::protocol_for(&properties, &features, &spec.schema);
        let metadata = silt_log::create::new_metadata(
            spec.schema,
            partition_by,
            properties,
            None,
            &silt_log::SystemEnvironment,
        )
        .map_err(|e| invalid(e.into()))?;
        let store = builder.build_store()?;
        let mut txn = silt_log::Transaction::create_table(store, protocol, metadata.clone());
        if !spec.cluster_by.is_empty() {
            txn = txn.set_domain_metadata(
                crate::ddl::clustering_domain(metadata.schema(), &spec.cluster_by)
                    .map_err(|e| invalid(e.into()))?,
            );
        }
        let outcome = txn.commit().await?;
        crate::exec::committed(&outcome, &path)?;
        count_frame(&self.ctx, 0)
    }

    /// `ALTER TABLE <table> …`: one commit.
    async fn alter_statement(&self, tokens: &[Token]) -> SqlResult<DataFrame> {
        // The caller names the statement (see `in_statement`).
        let invalid = |problem: DdlError| SqlError::InvalidStatement {
            statement: String::new(),
            problem: Box::new(problem.into()),
        };
        let (name, rest) = crate::ddl::split_alter(tokens).map_err(invalid)?;
        let change = crate::ddl::parse_alter(rest).map_err(invalid)?;
        let table = self.resolve(name).await?;
        let snapshot = table.writable().await?;
        let outcome = silt_parquet::alter_table(
            &snapshot,
            &change,
            Some(crate::evaluator::DataFusionEvaluator::shared()),
        )
        .await?;
        crate::exec::committed(&outcome, snapshot.location())?;
        table.latest().await?;
        count_frame(&self.ctx, 0)
    }

    async fn restore_statement(&self, tokens: &[Token]) -> SqlResult<DataFrame> {
        let bad = |problem: StatementError| SqlError::InvalidStatement {
            statement: String::new(),
            problem: Box::new(problem),
        };
        let usage = || StatementError::Usage {
            usage: "RESTORE [TABLE] <table> TO VERSION AS OF <n> | TIMESTAMP AS OF '<time>'",
        };
        let mut i = 1;
        if matches!(tokens.get(i), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("TABLE")) {
            i += 1;
        }
        let to = tokens[i..]
            .iter()
            .position(|t| matches!(t, Token::Word(w) if w.keyword == Keyword::TO && w.quote_style.is_none()))
            .map(|p| p + i)
            .ok_or_else(|| bad(usage()))?;
        let name = &tokens[i..to];
        let rest: Vec<String> = tokens[to + 1..]
            .iter()
            .map(|t| t.to_string().to_uppercase())
            .collect();
        let spec = match (rest.first().map(String::as_str), tokens.get(to + 4)) {
            (Some("VERSION"), Some(Token::Number(n, _))) if rest.len() == 4 => {
                VersionSpec::Version(n.parse().map_err(|_| bad(usage()))?)
            }
            (Some("TIMESTAMP"), Some(Token::SingleQuotedString(t))) if rest.len() == 4 => {
                let us = silt_log::partition::parse_timestamp(t)
                    .ok_or_else(|| bad(StatementError::UnreadableTimestamp { text: t.clone() }))?;
                VersionSpec::Timestamp(us / 1000)
            }
            _ => return Err(bad(usage())),
        };
        let table = self.resolve(name).await?;
        let current = table.writable().await?;
        let target = silt_log::Snapshot::builder(current.store().clone())
            .at(spec)
            .load()
            .await?;
        let r = silt_parquet::restore(&current, &target).await?;
        if let Some(outcome) = &r.outcome {
            crate::exec::committed(outcome, current.location())?;
        }
        table.latest().await?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("restored_version", DataType::UInt64, false),
            Field::new("num_restored_files", DataType::UInt64, false),
            Field::new("num_removed_files", DataType::UInt64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt64Array::from(vec![target.version()])),
                Arc::new(UInt64Array::from(vec![r.files_restored as u64])),
                Arc::new(UInt64Array::from(vec![r.files_removed as u64])),
            ],
        )
        .map_err(DataFusionError::from)?;
        Ok(self.ctx.read_batch(batch)?)
    }

    /// The Delta table a statement names: `delta.'path'`, a registered name.
    async fn resolve(&self, name: &[Token]) -> SqlResult<Arc<DeltaTable>> {
        let not_delta = |what: String| SqlError::InvalidStatement {
            statement: what.clone(),
            problem: Box::new(StatementError::NotDelta { name: what }),
        };
        let text: String = name.iter().map(ToString::to_string).collect();
        if let [Token::Word(schema), Token::Period, last] = name
            && schema.quote_style.is_none()
            && schema.value.eq_ignore_ascii_case(PATH_SCHEMA)
        {
            let path = match last {
                Token::Word(w) => w.value.clone(),
                Token::SingleQuotedString(s) => s.clone(),
                _ => return Err(not_delta(text)),
            };
            let (p, spec) = split_version(&path)?;
            return Ok(Arc::new(open_table(p, spec, &self.options).await?));
        }
        let provider = self.ctx.table_provider(text.as_str()).await?;
        let any: Arc<dyn std::any::Any + Send + Sync> = provider;
        any.downcast::<DeltaTable>().map_err(|_| not_delta(text))
    }
}

/// `e` naming `text` as its statement: the parts of a statement (ALTER,
/// RESTORE, CREATE TABLE, MERGE's stars) name only what they were given.
fn in_statement(e: SqlError, text: &str) -> SqlError {
    match e {
        SqlError::InvalidStatement { problem, .. } => SqlError::InvalidStatement {
            statement: text.to_string(),
            problem,
        },
        other => other,
    }
}

/// Partitioning and properties of a table created by a statement.
struct TableLayout {
    partition_by: Vec<String>,
    properties: HashMap<String, String>,
}

/// `PARTITIONED BY (a, b)` / `PARTITION BY …` column names.
fn partition_columns(ct: &CreateTable) -> Result<Vec<String>, DdlError> {
    fn names(e: &SqlExpr, out: &mut Vec<String>) -> Result<(), DdlError> {
        match e {
            SqlExpr::Identifier(i) => out.push(i.value.clone()),
            SqlExpr::Nested(inner) => names(inner, out)?,
            SqlExpr::Tuple(items) => {
                for i in items {
                    names(i, out)?;
                }
            }
            other => {
                return Err(DdlError::PartitionByNotColumn {
                    found: other.to_string(),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if let HiveDistributionStyle::PARTITIONED { columns } = &ct.hive_distribution {
        out.extend(columns.iter().map(|c| c.name.value.clone()));
    }
    if let Some(e) = &ct.partition_by {
        names(e, &mut out)?;
    }
    Ok(out)
}

/// `TBLPROPERTIES ('k' = 'v', …)` (also `WITH`/`OPTIONS` lists).
fn table_properties(options: &CreateTableOptions) -> HashMap<String, String> {
    let list = match options {
        CreateTableOptions::None => return HashMap::new(),
        CreateTableOptions::With(l)
        | CreateTableOptions::Options(l)
        | CreateTableOptions::Plain(l)
        | CreateTableOptions::TableProperties(l) => l,
    };
    list.iter()
        .filter_map(|o| match o {
            SqlOption::KeyValue { key, value } => {
                let v = value.to_string();
                let v = v
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .map_or(v.clone(), |x| x.replace("''", "'"));
                Some((key.value.clone(), v))
            }
            _ => None,
        })
        .collect()
}

fn count_frame(ctx: &SessionContext, n: u64) -> SqlResult<DataFrame> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![n]))])
        .map_err(DataFusionError::from)?;
    Ok(ctx.read_batch(batch)?)
}

/// `delta.<path>` → the path (`None` for other names).
fn path_of(parts: &[ObjectNamePart]) -> Option<String> {
    match parts {
        [
            ObjectNamePart::Identifier(schema),
            ObjectNamePart::Identifier(path),
        ] if schema.quote_style.is_none() && schema.value.eq_ignore_ascii_case(PATH_SCHEMA) => {
            Some(path.value.clone())
        }
        _ => None,
    }
}

/// Splits a script at top-level `;` (not inside strings or quotes).
fn split_statements(text: &str) -> SqlResult<Vec<String>> {
    let tokens = tokenize(text).map_err(|e| SqlError::InvalidStatement {
        statement: text.to_string(),
        problem: Box::new(e.into()),
    })?;
    let mut out = Vec::new();
    let mut current = String::new();
    for t in tokens {
        if t == Token::SemiColon {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(&crate::sql_text::sql_text(&t));
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// Rewrites `delta.'path'` as the quoted identifier `delta.`path``, which
/// DataFusion resolves through the path schema.
fn with_path_identifiers(text: &str) -> Result<String, StatementError> {
    let mut tokens = tokenize(text)?;
    for i in 0..tokens.len() {
        let is_schema = matches!(&tokens[i], Token::Word(w)
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(PATH_SCHEMA));
        if is_schema
            && tokens.get(i + 1) == Some(&Token::Period)
            && let Some(Token::SingleQuotedString(path)) = tokens.get(i + 2)
        {
            if path.contains('`') {
                return Err(StatementError::BacktickInPath { path: path.clone() });
            }
            tokens[i + 2] = Token::Word(Word {
                value: path.clone(),
                quote_style: Some('`'),
                keyword: Keyword::NoKeyword,
            });
        }
    }
    Ok(tokens.iter().map(crate::sql_text::sql_text).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report
    use super::*;

    #[test]
    fn path_literals_become_identifiers() {
        let s =
            with_path_identifiers("SELECT * FROM delta.'./lake/a b' WHERE x = 'delta.'").unwrap();
        assert_eq!(s, "SELECT * FROM delta.`./lake/a b` WHERE x = 'delta.'");
        assert!(with_path_identifiers("SELECT 1 FROM delta.'a`b'").is_err());
    }

    #[test]
    fn version_suffixes() {
        assert!(matches!(
            split_version("/t@v3").unwrap(),
            ("/t", VersionSpec::Version(3))
        ));
        assert!(matches!(
            split_version("/t@2024-01-02T00:00:00Z").unwrap(),
            ("/t", VersionSpec::Timestamp(1_704_153_600_000))
        ));
        assert!(matches!(
            split_version("/a@b/t").unwrap(),
            ("/a@b/t", VersionSpec::Latest)
        ));
    }

    #[test]
    fn scripts_split_outside_strings() {
        let parts = split_statements("SELECT ';'; SELECT 2 ;").unwrap();
        assert_eq!(
            parts,
            vec!["SELECT ';'".to_string(), " SELECT 2 ".to_string()]
        );
    }
}
