//! A pipeline: its datasets and flows resolved into a dependency graph.
//! Built from a project directory (the `project` module) or in code
//! ([`Pipeline::builder`]); checked here for what needs no data: duplicate
//! names, unknown tables, flows into non-streaming tables, streaming reads
//! of materialized views, and cycles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use silt_sql::datafusion::dataframe::DataFrame;

use crate::definition::{
    Dataset, DatasetKind, DatasetName, Definitions, FlowKind, FrameQuery, QueryText,
};
use crate::error::{PipelineError, PipelineResult, SourcePos};
use crate::parser::{parse_file, substitute};
use crate::query::{InputSource, RewrittenQuery, rewrite};

/// The default schema of bare dataset names.
pub const DEFAULT_SCHEMA: &str = "default";

/// How a flow computes its rows.
#[derive(Debug, Clone)]
pub enum FlowPlan {
    /// Appends its query's rows (a streaming table's query, or
    /// `INSERT INTO … BY NAME`).
    Append(RewrittenQuery),
    /// Applies a change feed by key.
    AutoCdc(Box<crate::definition::AutoCdc>, RewrittenQuery),
    /// Recomputes a materialized view.
    Recompute(RewrittenQuery),
}

/// A flow ready to run.
#[derive(Debug, Clone)]
pub struct PlannedFlow {
    /// Its name (a streaming table's own query is a flow named after it).
    pub name: String,
    /// The dataset it writes (qualified).
    pub target: DatasetName,
    /// Runs once (`INSERT INTO ONCE`, `AUTO CDC ONCE`).
    pub once: bool,
    /// What it does.
    pub plan: FlowPlan,
    /// Where it is declared.
    pub at: SourcePos,
}

impl PlannedFlow {
    /// The flow's query (AUTO CDC: its source stream).
    pub fn query(&self) -> &RewrittenQuery {
        match &self.plan {
            FlowPlan::Append(q) | FlowPlan::Recompute(q) | FlowPlan::AutoCdc(_, q) => q,
        }
    }
}

/// A checked pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Its name.
    pub name: String,
    /// The storage root URI.
    pub storage: String,
    /// Storage options (credentials, endpoints) for the root and sources.
    pub storage_options: HashMap<String, String>,
    /// The schema of bare names.
    pub default_schema: String,
    /// Relative local paths in `read_files` are below this directory (the
    /// project's); `None`: the working directory.
    pub base_dir: Option<std::path::PathBuf>,
    /// Datasets by qualified name.
    pub datasets: BTreeMap<DatasetName, Dataset>,
    /// Rewritten queries of temporary views (inlined where read).
    pub views: BTreeMap<DatasetName, RewrittenQuery>,
    /// Flows, in dependency order of their targets.
    pub flows: Vec<PlannedFlow>,
    /// Persisted datasets in dependency order.
    pub order: Vec<DatasetName>,
}

/// Builds a pipeline from SQL text (files or strings).
#[derive(Debug, Clone)]
pub struct PipelineBuilder {
    name: String,
    storage: String,
    default_schema: String,
    storage_options: HashMap<String, String>,
    conf: BTreeMap<String, String>,
    sources: Vec<(String, String)>,
    base_dir: Option<std::path::PathBuf>,
    frames: Vec<FrameDataset>,
}

/// A dataset whose body is a DataFusion DataFrame built in Rust.
#[derive(Debug, Clone)]
struct FrameDataset {
    kind: DatasetKind,
    name: String,
    inputs: Vec<String>,
    body: FrameQuery,
    at: SourcePos,
}

impl Pipeline {
    /// A builder for a pipeline named `name` whose datasets live under
    /// `storage` (a path or URI).
    pub fn builder(name: &str, storage: &str) -> PipelineBuilder {
        PipelineBuilder {
            name: name.to_string(),
            storage: storage.trim_end_matches('/').to_string(),
            default_schema: DEFAULT_SCHEMA.to_string(),
            storage_options: HashMap::new(),
            conf: BTreeMap::new(),
            sources: Vec::new(),
            base_dir: None,
            frames: Vec::new(),
        }
    }

    /// Where a landing path of `read_files` is: URIs and absolute paths as
    /// they are, relative paths below [`Pipeline::base_dir`].
    pub fn source_uri(&self, path: &str) -> String {
        if path.contains("://") || std::path::Path::new(path).is_absolute() {
            return path.to_string();
        }
        match &self.base_dir {
            Some(b) => b.join(path).to_string_lossy().to_string(),
            None => path.to_string(),
        }
    }

    /// The URI of dataset `name` (qualified).
    pub fn dataset_uri(&self, name: &DatasetName) -> String {
        let q = name.qualified(&self.default_schema);
        format!(
            "{}/{}/{}",
            self.storage,
            q.schema.unwrap_or_default(),
            q.name
        )
    }

    /// The URI of the event log table.
    pub fn event_log_uri(&self) -> String {
        format!("{}/_silt/event_log", self.storage)
    }

    /// The qualified form of `name`.
    pub fn qualify(&self, name: &DatasetName) -> DatasetName {
        name.qualified(&self.default_schema)
    }

    /// The datasets `name` reads (through temporary views too), each with
    /// whether it is read as a stream.
    pub fn upstream(&self, name: &DatasetName) -> Vec<(DatasetName, bool)> {
        let mut out = Vec::new();
        for f in self.flows.iter().filter(|f| &f.target == name) {
            for i in &f.query().inputs {
                if let InputSource::Dataset(d) = &i.source {
                    out.push((self.qualify(d), i.streaming));
                }
            }
        }
        if let Some(q) = self.views.get(name) {
            for i in &q.inputs {
                if let InputSource::Dataset(d) = &i.source {
                    out.push((self.qualify(d), i.streaming));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

impl PipelineBuilder {
    /// The schema of bare names (default `default`).
    pub fn default_schema(mut self, schema: &str) -> Self {
        self.default_schema = schema.to_lowercase();
        self
    }

    /// The directory relative `read_files` paths are below.
    pub fn base_dir(mut self, dir: &std::path::Path) -> Self {
        self.base_dir = Some(dir.to_path_buf());
        self
    }

    /// A `${key}` value.
    pub fn conf(mut self, key: &str, value: &str) -> Self {
        self.conf.insert(key.to_string(), value.to_string());
        self
    }

    /// Storage options for the root and sources.
    pub fn storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.storage_options = options;
        self
    }

    /// Adds SQL definitions (`file` names it in errors).
    pub fn sql(mut self, file: &str, text: &str) -> Self {
        self.sources.push((file.to_string(), text.to_string()));
        self
    }

    /// Adds a dataset of `kind` named `name` whose body is a DataFusion
    /// DataFrame. `inputs` are what it reads, written as in SQL's `FROM`:
    /// `STREAM(bronze.raw)` (the new rows of each batch), `silver.devices`
    /// or `delta.'uri'` (the current table), `read_files('path', format =>
    /// 'json')`; `body` receives their DataFrames in that order each time
    /// the dataset runs and returns its rows. The dependency graph, `dry-run`
    /// and exactly-once progress treat it as a SQL dataset. A streaming
    /// table declared in SQL without a query (with its columns,
    /// expectations, `PARTITIONED BY`) may get its body here.
    pub fn dataframe<F>(mut self, kind: DatasetKind, name: &str, inputs: &[&str], body: F) -> Self
    where
        F: Fn(Vec<DataFrame>) -> silt_sql::datafusion::error::Result<DataFrame>
            + Send
            + Sync
            + 'static,
    {
        let n = self.frames.len() + 1;
        self.frames.push(FrameDataset {
            kind,
            name: name.to_string(),
            inputs: inputs.iter().map(|i| i.to_string()).collect(),
            body: FrameQuery(Arc::new(body)),
            at: SourcePos {
                file: format!("<dataframe {name}>"),
                line: n as u64,
                column: 1,
            },
        });
        self
    }

    /// Parses and checks everything.
    pub fn build(mut self) -> PipelineResult<Pipeline> {
        let mut all = Definitions::default();
        for (file, text) in &self.sources {
            let text = substitute(file, text, &self.conf)?;
            let defs = parse_file(file, &text)?;
            all.datasets.extend(defs.datasets);
            all.flows.extend(defs.flows);
        }
        for f in std::mem::take(&mut self.frames) {
            let name = DatasetName::parse(&f.name)
                .ok_or_else(|| analysis(&f.at, format!("{:?} is not a dataset name", f.name)))?;
            let text = if f.inputs.is_empty() {
                "SELECT 1".to_string()
            } else {
                format!("SELECT * FROM {}", f.inputs.join(", "))
            };
            let query = QueryText {
                text: substitute(&f.at.file, &text, &self.conf)?,
                at: f.at.clone(),
                frame: Some(f.body),
            };
            let qualified = name.qualified(&self.default_schema);
            let declared = all
                .datasets
                .iter_mut()
                .find(|d| d.name.qualified(&self.default_schema) == qualified);
            match declared {
                Some(d) if d.query.is_none() && d.kind == f.kind => d.query = Some(query),
                Some(d) => {
                    return Err(analysis(
                        &f.at,
                        format!("{qualified} is already defined at {}", d.at),
                    ));
                }
                None => {
                    let mut d = Dataset::new(name, f.kind, f.at);
                    d.query = Some(query);
                    all.datasets.push(d);
                }
            }
        }
        resolve(self, all)
    }
}

fn analysis(at: &SourcePos, message: String) -> PipelineError {
    PipelineError::Analysis {
        at: at.clone(),
        message,
    }
}

fn resolve(b: PipelineBuilder, defs: Definitions) -> PipelineResult<Pipeline> {
    let q = |n: &DatasetName| n.qualified(&b.default_schema);
    let mut datasets: BTreeMap<DatasetName, Dataset> = BTreeMap::new();
    for mut d in defs.datasets {
        let name = q(&d.name);
        // A declared NOT NULL column: a row without a value fails the flow.
        for c in d.columns.iter().filter(|c| c.not_null) {
            d.expectations.push(crate::definition::Expectation {
                name: format!("{}_not_null", c.name),
                condition: format!("\"{}\" IS NOT NULL", c.name.replace('"', "\"\"")),
                action: crate::definition::ExpectAction::Fail,
                at: d.at.clone(),
            });
        }
        if let Some(first) = datasets.get(&name) {
            return Err(analysis(
                &d.at,
                format!("{name} is already defined at {}", first.at),
            ));
        }
        datasets.insert(name, d);
    }
    let mut views = BTreeMap::new();
    let mut flows = Vec::new();
    let mut flow_names: BTreeMap<String, SourcePos> = BTreeMap::new();
    let mut add_flow = |f: PlannedFlow| -> PipelineResult<()> {
        if let Some(first) = flow_names.insert(f.name.clone(), f.at.clone()) {
            return Err(analysis(
                &f.at,
                format!("flow {} is already defined at {first}", f.name),
            ));
        }
        flows.push(f);
        Ok(())
    };
    for (name, d) in &datasets {
        if !d.cluster_by.is_empty() {
            return Err(analysis(
                &d.at,
                format!(
                    "{name}: CLUSTER BY is not supported in pipelines yet (use PARTITIONED BY, or cluster the table with ALTER TABLE … CLUSTER BY outside the pipeline)"
                ),
            ));
        }
        let Some(query) = &d.query else { continue };
        let rewritten = with_declared_columns(rewrite(query, "__silt_in")?, d);
        match d.kind {
            DatasetKind::TemporaryView => {
                views.insert(name.clone(), rewritten);
            }
            DatasetKind::MaterializedView => {
                if let Some(i) = rewritten.inputs.iter().find(|i| i.streaming) {
                    return Err(analysis(
                        &query.at,
                        format!(
                            "materialized view {name} reads {} as a stream; a materialized view reads its inputs whole (drop STREAM, or make it a streaming table)",
                            i.source
                        ),
                    ));
                }
                add_flow(PlannedFlow {
                    name: flow_name(name),
                    target: name.clone(),
                    once: false,
                    plan: FlowPlan::Recompute(rewritten),
                    at: d.at.clone(),
                })?;
            }
            DatasetKind::StreamingTable => add_flow(PlannedFlow {
                name: flow_name(name),
                target: name.clone(),
                once: false,
                plan: FlowPlan::Append(rewritten),
                at: d.at.clone(),
            })?,
        }
    }
    for f in defs.flows {
        let target = q(&f.target);
        match datasets.get(&target) {
            Some(d) if d.kind == DatasetKind::StreamingTable => {}
            Some(d) => {
                return Err(analysis(
                    &f.at,
                    format!(
                        "flow {} writes {target}, a {}; flows write streaming tables",
                        f.name,
                        d.kind.label()
                    ),
                ));
            }
            None => {
                return Err(analysis(
                    &f.at,
                    format!(
                        "flow {} writes {target}, which is not defined (CREATE STREAMING TABLE {target})",
                        f.name
                    ),
                ));
            }
        }
        let plan = match f.kind {
            FlowKind::Append(query) => FlowPlan::Append(rewrite(&query, "__silt_in")?),
            FlowKind::AutoCdc(cdc) => {
                let text = format!("SELECT * FROM STREAM({})", cdc.source);
                let query = rewrite(
                    &QueryText {
                        text,
                        at: f.at.clone(),
                        frame: None,
                    },
                    "__silt_in",
                )?;
                FlowPlan::AutoCdc(Box::new(cdc), query)
            }
        };
        add_flow(PlannedFlow {
            name: f.name,
            target,
            once: f.once,
            plan,
            at: f.at,
        })?;
    }
    for (name, d) in &datasets {
        if d.kind == DatasetKind::StreamingTable && !flows.iter().any(|f| &f.target == name) {
            return Err(analysis(
                &d.at,
                format!("streaming table {name} has no query and no flow writes it"),
            ));
        }
    }
    let mut pipeline = Pipeline {
        name: b.name,
        storage: b.storage,
        storage_options: b.storage_options,
        default_schema: b.default_schema,
        base_dir: b.base_dir,
        datasets,
        views,
        flows,
        order: Vec::new(),
    };
    check_inputs(&pipeline)?;
    pipeline.order = dependency_order(&pipeline)?;
    let position: HashMap<DatasetName, usize> = pipeline
        .order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    pipeline
        .flows
        .sort_by_key(|f| position.get(&f.target).copied().unwrap_or(usize::MAX));
    Ok(pipeline)
}

/// A dataset's declared columns applied to its query's rows: each declared
/// column cast to its declared type (and checked not null), the others as
/// the query gives them.
fn with_declared_columns(mut q: RewrittenQuery, d: &Dataset) -> RewrittenQuery {
    if d.columns.is_empty() {
        return q;
    }
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let declared: Vec<String> = d
        .columns
        .iter()
        .map(|c| {
            format!(
                "CAST(__silt_declared.{n} AS {t}) AS {n}",
                n = quote(&c.name),
                t = c.sql_type
            )
        })
        .collect();
    let names: Vec<String> = d.columns.iter().map(|c| quote(&c.name)).collect();
    q.sql = format!(
        "SELECT {}, __silt_declared.* EXCLUDE ({}) FROM ({}) AS __silt_declared",
        declared.join(", "),
        names.join(", "),
        q.sql
    );
    q
}

/// A streaming table's own query and a view's recompute run as a flow of
/// the dataset's name.
fn flow_name(name: &DatasetName) -> String {
    name.to_string()
}

fn check_inputs(p: &Pipeline) -> PipelineResult<()> {
    let check = |q: &RewrittenQuery, reader: &str| -> PipelineResult<()> {
        for i in &q.inputs {
            if !i.options.is_empty() {
                if let InputSource::Dataset(d) = &i.source
                    && p.views.contains_key(&p.qualify(d))
                {
                    return Err(analysis(
                        &q.original.at,
                        format!(
                            "{reader} gives WITH (…) options to temporary view {d}; give them to the STREAM(…) read inside the view"
                        ),
                    ));
                }
                crate::sources::delta::DeltaStreamOptions::parse(&i.options).map_err(|m| {
                    analysis(
                        &q.original.at,
                        format!("{reader} reads {}: {}", i.source, m.0),
                    )
                })?;
            }
            if let InputSource::Dataset(d) = &i.source {
                let name = p.qualify(d);
                match p.datasets.get(&name) {
                    None => {
                        return Err(analysis(
                            &q.original.at,
                            format!(
                                "{reader} reads {d}, which this pipeline does not define (read other tables with delta.'path')"
                            ),
                        ));
                    }
                    Some(ds) if i.streaming && ds.kind == DatasetKind::MaterializedView => {
                        return Err(analysis(
                            &q.original.at,
                            format!(
                                "{reader} reads materialized view {name} as a stream; a materialized view is rewritten on each update, so read it whole"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    };
    for f in &p.flows {
        check(f.query(), &format!("flow {}", f.name))?;
    }
    for (name, q) in &p.views {
        check(q, &format!("view {name}"))?;
    }
    Ok(())
}

/// Datasets (views included) in an order where each comes after what it
/// reads; a cycle is an error naming it.
fn dependency_order(p: &Pipeline) -> PipelineResult<Vec<DatasetName>> {
    let mut edges: BTreeMap<DatasetName, BTreeSet<DatasetName>> = BTreeMap::new();
    for name in p.datasets.keys() {
        edges.insert(
            name.clone(),
            p.upstream(name).into_iter().map(|(d, _)| d).collect(),
        );
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: HashMap<DatasetName, Mark> = HashMap::new();
    let mut order = Vec::new();
    fn visit(
        n: &DatasetName,
        edges: &BTreeMap<DatasetName, BTreeSet<DatasetName>>,
        marks: &mut HashMap<DatasetName, Mark>,
        stack: &mut Vec<DatasetName>,
        order: &mut Vec<DatasetName>,
    ) -> Result<(), Vec<DatasetName>> {
        match marks.get(n) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n.clone());
                return Err(cycle);
            }
            None => {}
        }
        marks.insert(n.clone(), Mark::Visiting);
        stack.push(n.clone());
        for up in edges.get(n).into_iter().flatten() {
            visit(up, edges, marks, stack, order)?;
        }
        stack.pop();
        marks.insert(n.clone(), Mark::Done);
        order.push(n.clone());
        Ok(())
    }
    for n in edges.keys() {
        let mut stack = Vec::new();
        if let Err(cycle) = visit(n, &edges, &mut marks, &mut stack, &mut order) {
            let at = p
                .datasets
                .get(&cycle[0])
                .map(|d| d.at.clone())
                .unwrap_or_default();
            return Err(analysis(
                &at,
                format!(
                    "the datasets form a cycle: {}",
                    cycle
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(" -> ")
                ),
            ));
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(sql: &str) -> PipelineResult<Pipeline> {
        Pipeline::builder("p", "/tmp/lake")
            .sql("a.sql", sql)
            .build()
    }

    #[test]
    fn order_follows_reads_and_names_are_qualified() {
        let p = build(
            "CREATE MATERIALIZED VIEW gold.g AS SELECT count(*) FROM silver.s;\n\
             CREATE STREAMING TABLE silver.s AS SELECT * FROM STREAM(v);\n\
             CREATE TEMPORARY VIEW v AS SELECT * FROM STREAM(b);\n\
             CREATE STREAMING TABLE b AS SELECT * FROM STREAM read_files('/x', format => 'json');",
        )
        .unwrap();
        let order: Vec<String> = p.order.iter().map(|d| d.to_string()).collect();
        assert_eq!(order, vec!["default.b", "default.v", "silver.s", "gold.g"]);
        assert_eq!(p.flows.len(), 3);
        assert_eq!(p.dataset_uri(&p.order[0]), "/tmp/lake/default/b");
    }

    #[test]
    fn cycles_unknown_tables_and_bad_flows_are_refused() {
        let e = build("CREATE MATERIALIZED VIEW a AS SELECT * FROM b;\nCREATE MATERIALIZED VIEW b AS SELECT * FROM a;").unwrap_err();
        assert!(
            e.to_string()
                .contains("cycle: default.a -> default.b -> default.a"),
            "{e}"
        );
        let e = build("CREATE MATERIALIZED VIEW a AS SELECT * FROM nope").unwrap_err();
        assert!(
            e.to_string().contains("a.sql:1:31: materialized view")
                || e.to_string().contains("does not define"),
            "{e}"
        );
        let e = build("CREATE MATERIALIZED VIEW a AS SELECT 1 AS x;\nCREATE FLOW f AS INSERT INTO a BY NAME SELECT 2 AS x").unwrap_err();
        assert!(
            e.to_string().contains("flows write streaming tables"),
            "{e}"
        );
        let e = build("CREATE MATERIALIZED VIEW a AS SELECT 1 AS x;\nCREATE STREAMING TABLE s AS SELECT * FROM STREAM(a)").unwrap_err();
        assert!(e.to_string().contains("as a stream"), "{e}");
        let e = build("CREATE STREAMING TABLE s").unwrap_err();
        assert!(e.to_string().contains("no flow writes it"), "{e}");
        let e = build(
            "CREATE STREAMING TABLE s AS SELECT 1 AS x;\nCREATE STREAMING TABLE S AS SELECT 2 AS x",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("already defined at a.sql:1:1"),
            "{e}"
        );
    }
}
