//! What a pipeline declares, as typed values: datasets (streaming tables,
//! materialized views, temporary views), flows (append, AUTO CDC) and
//! expectations. The parser produces these; the graph and the runner read
//! them.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::SourcePos;

/// A dataset name as written: `name` or `schema.name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetName {
    /// The schema (a directory under the storage root); `None`: the
    /// pipeline's default schema.
    pub schema: Option<String>,
    /// The dataset's name.
    pub name: String,
}

impl DatasetName {
    /// Parses `a` or `a.b` (names are case-insensitive: kept lower-case).
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('.').collect();
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        match parts.as_slice() {
            [n] if ok(n) => Some(Self {
                schema: None,
                name: n.to_lowercase(),
            }),
            [s, n] if ok(s) && ok(n) => Some(Self {
                schema: Some(s.to_lowercase()),
                name: n.to_lowercase(),
            }),
            _ => None,
        }
    }

    /// The name with the default schema filled in.
    pub fn qualified(&self, default_schema: &str) -> DatasetName {
        DatasetName {
            schema: Some(
                self.schema
                    .clone()
                    .unwrap_or_else(|| default_schema.to_string()),
            ),
            name: self.name.clone(),
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// The kinds of dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Each input record is processed once; fed by append or AUTO CDC flows.
    StreamingTable,
    /// Equal to its query over the current inputs after each update.
    MaterializedView,
    /// Not persisted: inlined where it is read.
    TemporaryView,
}

impl DatasetKind {
    /// The SQL words for the kind.
    pub fn label(self) -> &'static str {
        match self {
            Self::StreamingTable => "streaming table",
            Self::MaterializedView => "materialized view",
            Self::TemporaryView => "temporary view",
        }
    }
}

/// What an expectation does with a row that violates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectAction {
    /// Keep the row, count it (the default).
    Warn,
    /// Drop the row, count it.
    Drop,
    /// Fail the flow's update: nothing is committed.
    Fail,
}

impl ExpectAction {
    /// The name used in the event log.
    pub fn label(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Drop => "drop",
            Self::Fail => "fail",
        }
    }
}

/// `CONSTRAINT name EXPECT (condition) [ON VIOLATION …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// Its name (unique in the dataset).
    pub name: String,
    /// A SQL boolean over the dataset's rows; NULL counts as a violation.
    pub condition: String,
    /// What a violation does.
    pub action: ExpectAction,
    /// Where it is declared.
    pub at: SourcePos,
}

/// A column declared in a dataset's column list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The column name.
    pub name: String,
    /// Its SQL type, as written.
    pub sql_type: String,
    /// `NOT NULL` was given.
    pub not_null: bool,
}

/// A query as written in a file, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryText {
    /// The SQL text (for a DataFrame dataset: its inputs, as the relations
    /// of a `SELECT * FROM …`).
    pub text: String,
    /// Where it starts.
    pub at: SourcePos,
    /// A DataFrame dataset's body (built in Rust).
    pub frame: Option<FrameQuery>,
}

/// The signature of a DataFrame dataset's body: its inputs' DataFrames, in
/// the order declared, to the dataset's rows.
pub type FrameFn = dyn Fn(
        Vec<silt_sql::datafusion::dataframe::DataFrame>,
    ) -> silt_sql::datafusion::error::Result<silt_sql::datafusion::dataframe::DataFrame>
    + Send
    + Sync;

/// The body of a dataset written as a DataFusion DataFrame. It is built
/// each time the dataset runs, from DataFrames over its inputs: a streaming
/// input gives the new rows of the batch, a whole input the current table.
#[derive(Clone)]
pub struct FrameQuery(pub std::sync::Arc<FrameFn>);

impl std::fmt::Debug for FrameQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameQuery(..)")
    }
}

impl PartialEq for FrameQuery {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for FrameQuery {}

/// One dataset definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Its name as written.
    pub name: DatasetName,
    /// Its kind.
    pub kind: DatasetKind,
    /// Declared columns (may be empty: the query decides).
    pub columns: Vec<ColumnSpec>,
    /// Expectations on its rows.
    pub expectations: Vec<Expectation>,
    /// `PARTITIONED BY` columns.
    pub partitioned_by: Vec<String>,
    /// `CLUSTER BY` columns.
    pub cluster_by: Vec<String>,
    /// `COMMENT`.
    pub comment: Option<String>,
    /// `TBLPROPERTIES`.
    pub properties: BTreeMap<String, String>,
    /// `AS query` (a streaming table without one is fed by flows).
    pub query: Option<QueryText>,
    /// Where it is declared.
    pub at: SourcePos,
}

impl Dataset {
    /// A dataset of `kind` named `name` declared at `at`, with nothing
    /// else declared yet.
    pub fn new(name: DatasetName, kind: DatasetKind, at: SourcePos) -> Self {
        Self {
            name,
            kind,
            columns: Vec::new(),
            expectations: Vec::new(),
            partitioned_by: Vec::new(),
            cluster_by: Vec::new(),
            comment: None,
            properties: BTreeMap::new(),
            query: None,
            at,
        }
    }
}

/// Which columns AUTO CDC stores (or tracks history on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSelection {
    /// Every source column.
    All,
    /// Only these.
    Only(Vec<String>),
    /// Every source column but these.
    Except(Vec<String>),
}

impl ColumnSelection {
    /// The selected columns of `available`, in source order.
    pub fn select<'a>(&self, available: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let lower = |s: &str| s.to_lowercase();
        available
            .into_iter()
            .filter(|c| match self {
                Self::All => true,
                Self::Only(list) => list.iter().any(|l| lower(l) == lower(c)),
                Self::Except(list) => !list.iter().any(|l| lower(l) == lower(c)),
            })
            .map(str::to_string)
            .collect()
    }
}

/// SCD type of an AUTO CDC target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScdType {
    /// One row per key: the newest change wins.
    Type1,
    /// A row per version of a key, with `__START_AT` / `__END_AT`.
    Type2,
}

/// `AUTO CDC INTO target FROM STREAM(source) KEYS … SEQUENCE BY …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoCdc {
    /// The change feed (read as a stream).
    pub source: DatasetName,
    /// Key columns.
    pub keys: Vec<String>,
    /// `IGNORE NULL UPDATES`: a NULL in a change keeps the stored value.
    pub ignore_null_updates: bool,
    /// `APPLY AS DELETE WHEN`.
    pub delete_when: Option<String>,
    /// `APPLY AS TRUNCATE WHEN` (SCD type 1 only).
    pub truncate_when: Option<String>,
    /// `SEQUENCE BY`: orders the changes of a key.
    pub sequence_by: String,
    /// `COLUMNS …`.
    pub columns: ColumnSelection,
    /// `STORED AS SCD TYPE n`.
    pub scd: ScdType,
    /// `TRACK HISTORY ON …` (SCD type 2): changes to other columns update
    /// the current version in place.
    pub track_history: ColumnSelection,
}

/// What a flow does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowKind {
    /// `INSERT INTO target BY NAME query`.
    Append(QueryText),
    /// `AUTO CDC INTO target …`.
    AutoCdc(AutoCdc),
}

/// One flow: how rows reach a streaming table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Its name (unique in the pipeline).
    pub name: String,
    /// The streaming table it writes.
    pub target: DatasetName,
    /// `ONCE`: runs once (again after a full refresh).
    pub once: bool,
    /// What it does.
    pub kind: FlowKind,
    /// Where it is declared.
    pub at: SourcePos,
}

/// Everything one SQL file declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Definitions {
    /// Datasets, in file order.
    pub datasets: Vec<Dataset>,
    /// Explicit flows, in file order.
    pub flows: Vec<Flow>,
}
