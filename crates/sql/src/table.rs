//! [`DeltaTable`]: a silt table as a DataFusion `TableProvider`. Scans
//! push projection, filters (partition pruning and file skipping) and
//! limits into silt-parquet and read file groups in parallel; INSERT
//! writes through one silt transaction; DELETE, UPDATE and MERGE run in
//! [`crate::dml`]. A table opened at the latest version follows the log (it
//! refreshes before each statement); one opened at a version or timestamp
//! stays there and refuses writes.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchemaRef, Statistics};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, MergeIntoClause, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::{StreamExt, TryStreamExt};
use silt_log::{Add, Snapshot};
use silt_parquet::{Scan, WriteMode, WriteOptions};

use crate::exec::{SizedScan, column_names, external, file_groups, streaming_plan};
use crate::filters;

/// A silt table registered in DataFusion.
#[derive(Debug)]
pub struct DeltaTable {
    /// The snapshot last read and its Arrow schema; shared, so planning a
    /// query does not copy the file list.
    state: Mutex<(Arc<Snapshot>, SchemaRef)>,
    /// Opened at a fixed version or time: never refreshed, never written.
    pinned: bool,
    /// Only these files of the snapshot are read (a streaming read's new
    /// files); `None`: every live file.
    files: Option<Arc<Vec<Add>>>,
    /// Column defaults (`CURRENT_DEFAULT`) as DataFusion expressions, for
    /// INSERTs that omit the column.
    defaults: HashMap<String, Expr>,
    /// Defaults DataFusion cannot parse: (column, SQL). INSERTs are refused
    /// rather than writing NULL where a default was meant.
    bad_defaults: Vec<(String, String)>,
    /// The schema the defaults were read from.
    defaults_schema: String,
    /// Refreshed while the current statement was planned: its scan or
    /// write uses that snapshot instead of listing the log again.
    planned_fresh: std::sync::atomic::AtomicBool,
}

/// Column defaults (by column) as DataFusion expressions, and those
/// DataFusion cannot parse.
type Defaults = (HashMap<String, Expr>, Vec<(String, String)>);

/// The table's column defaults as DataFusion expressions.
fn column_defaults(s: &Snapshot) -> Defaults {
    let Ok(rules) = silt_log::column_rules::column_rules(s.protocol(), s.metadata().schema())
    else {
        return Default::default();
    };
    let ctx = datafusion::prelude::SessionContext::new();
    let empty = datafusion::common::DFSchema::empty();
    let mut out: Defaults = Default::default();
    for r in rules {
        if let silt_log::column_rules::ColumnRule::Default(sql) = r.rule {
            match ctx.parse_sql_expr(&sql, &empty) {
                Ok(e) => {
                    out.0.insert(r.name, e);
                }
                Err(_) => out.1.push((r.name, sql)),
            }
        }
    }
    out
}

/// Rows in `files` by their statistics, less deletion vectors; `None` if
/// a file has no count.
fn live_rows<A: Borrow<Add>>(files: impl IntoIterator<Item = A>) -> Option<usize> {
    files
        .into_iter()
        .map(|f| f.borrow().live_records())
        .sum::<Option<i64>>()
        .and_then(|n| usize::try_from(n).ok())
}

/// What a scan's statistics say of `files`: whether no file has a deletion
/// vector, the live rows and the total bytes.
fn file_totals<A: Borrow<Add>>(files: impl Iterator<Item = A>) -> (bool, Option<usize>, i64) {
    let (mut exact, mut rows, mut bytes) = (true, Some(0i64), 0i64);
    for f in files {
        let f = f.borrow();
        exact &= f.deletion_vector.is_none();
        rows = rows.and_then(|r| Some(r + f.live_records()?));
        bytes += f.size;
    }
    (exact, rows.and_then(|n| usize::try_from(n).ok()), bytes)
}

fn arrow_schema_of(s: &Snapshot) -> Result<SchemaRef> {
    Scan::of_files(s, s.metadata().schema().clone(), Vec::new())
        .output_schema()
        .map_err(external)
}

impl DeltaTable {
    /// The table at `snapshot`'s version; `pinned` keeps it there (time
    /// travel), otherwise each statement reads the newest version.
    pub fn new(snapshot: Snapshot, pinned: bool) -> Result<Self> {
        let schema = arrow_schema_of(&snapshot)?;
        let (defaults, bad_defaults) = column_defaults(&snapshot);
        Ok(Self {
            defaults,
            bad_defaults,
            defaults_schema: snapshot.metadata().schema_string().to_string(),
            planned_fresh: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new((Arc::new(snapshot), schema)),
            pinned,
            files: None,
        })
    }

    /// Only `files` of `snapshot` (e.g. the files a range of commits
    /// added), read-only: scans read just these, with the projection and
    /// filters of each query pushed into the Parquet reads.
    pub fn of_files(snapshot: Snapshot, files: Vec<Add>) -> Result<Self> {
        let mut table = Self::new(snapshot, true)?;
        table.files = Some(Arc::new(files));
        Ok(table)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (Arc<Snapshot>, SchemaRef)> {
        // A poisoned lock only means another statement panicked; the
        // snapshot and schema are immutable values and still valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the column defaults still match the snapshot's schema (a
    /// table altered since needs a new `DeltaTable`).
    pub(crate) fn defaults_current(&self) -> bool {
        self.snapshot().metadata().schema_string() == self.defaults_schema
    }

    /// The snapshot last read (no I/O).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.state().0.clone()
    }

    /// Refreshes the snapshot while a statement is planned (so planning
    /// sees the newest schema); the statement's scan or write then uses it.
    pub(crate) async fn refresh_for_planning(&self) -> Result<Arc<Snapshot>> {
        let s = self.latest().await?;
        self.planned_fresh
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(s)
    }

    /// Marks a snapshot just loaded while planning as fresh (see
    /// [`DeltaTable::refresh_for_planning`]).
    pub(crate) fn mark_planned_fresh(&self) {
        self.planned_fresh
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The snapshot for a statement's scan or write: the one refreshed while
    /// it was planned, else the newest.
    async fn for_execution(&self) -> Result<Arc<Snapshot>> {
        if self
            .planned_fresh
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            return Ok(self.snapshot());
        }
        self.latest().await
    }

    /// The newest snapshot (the pinned one for time travel).
    pub async fn latest(&self) -> Result<Arc<Snapshot>> {
        let current = self.snapshot();
        if self.pinned {
            return Ok(current);
        }
        let fresh = Arc::new(
            Snapshot::clone(&current)
                .refresh()
                .await
                .map_err(external)?,
        );
        let schema = arrow_schema_of(&fresh)?;
        *self.state() = (fresh.clone(), schema);
        Ok(fresh)
    }

    /// The newest snapshot, refusing time-travel tables.
    pub(crate) async fn writable(&self) -> Result<Arc<Snapshot>> {
        if self.pinned {
            let s = self.snapshot();
            return Err(DataFusionError::Plan(format!(
                "table {} is opened at version {} (time travel) and cannot be written",
                s.location(),
                s.version()
            )));
        }
        self.for_execution().await
    }

    /// The Arrow schema (logical column names and types).
    pub fn schema_ref(&self) -> SchemaRef {
        self.state().1.clone()
    }

    /// What a DELETE, UPDATE or MERGE on this table needs: the newest
    /// snapshot (refusing time travel), the schema and column defaults.
    pub(crate) async fn dml_target(&self) -> Result<crate::dml::DmlTarget> {
        let snapshot = self.writable().await?;
        let schema = self.schema_ref();
        let defaults = schema
            .fields()
            .iter()
            .filter_map(|f| Some((f.name().clone(), self.defaults.get(f.name())?.clone())))
            .collect();
        Ok(crate::dml::DmlTarget {
            snapshot,
            schema,
            defaults,
        })
    }

    /// Whether the table is opened at a fixed version.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }
}

/// One partition of a scan: a group of files read by silt-parquet.
struct FileGroup {
    scan: Scan,
    schema: SchemaRef,
    /// The query needs no column (e.g. `count(*)`): emit row counts only.
    counts_only: bool,
}

impl fmt::Debug for FileGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileGroup").finish_non_exhaustive()
    }
}

impl PartitionStream for FileGroup {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = self.schema.clone();
        let counts_only = self.counts_only;
        let stream = match self.scan.clone().stream() {
            Ok(s) => s
                .map_err(external)
                .and_then(move |b| {
                    let out = if counts_only {
                        RecordBatch::try_new_with_options(
                            Arc::new(Schema::empty()),
                            vec![],
                            &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                        )
                        .map_err(DataFusionError::from)
                    } else {
                        Ok(b)
                    };
                    futures::future::ready(out)
                })
                .boxed(),
            Err(e) => futures::stream::once(futures::future::ready(Err(external(e)))).boxed(),
        };
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }
}

#[async_trait]
impl TableProvider for DeltaTable {
    fn schema(&self) -> SchemaRef {
        self.schema_ref()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    fn supports_filters_pushdown(
        &self,
        exprs: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let snapshot = self.snapshot();
        let metadata = snapshot.metadata();
        Ok(exprs
            .iter()
            .map(|e| match filters::to_predicate(e, metadata.schema()) {
                // Partition values decide such a predicate for whole files.
                Some(p)
                    if p.columns()
                        .iter()
                        .all(|c| metadata.partition_columns.iter().any(|pc| pc == c)) =>
                {
                    TableProviderFilterPushDown::Exact
                }
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let snapshot = self.snapshot();
        // The files a scan considers: the fixed set, or the snapshot's.
        let (exact, rows, bytes) = match &self.files {
            Some(f) => file_totals(f.iter()),
            None => file_totals(snapshot.files().iter()),
        };
        let mut stats = Statistics::new_unknown(&self.schema());
        stats.num_rows = match rows {
            Some(n) if exact => Precision::Exact(n),
            Some(n) => Precision::Inexact(n),
            None => Precision::Absent,
        };
        stats.total_byte_size =
            usize::try_from(bytes).map_or(Precision::Absent, Precision::Inexact);
        Some(stats)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snapshot = self.for_execution().await?;
        let table_schema = self.schema();
        let predicate = filters::conjunction(filters, snapshot.metadata().schema());
        let all = column_names(&table_schema);
        let (columns, out_schema, counts_only) = match projection {
            None => (all, table_schema.clone(), false),
            Some(p) if p.is_empty() => {
                // Read the cheapest column to count rows: a partition
                // column costs no Parquet decoding.
                let first = snapshot
                    .metadata()
                    .partition_columns
                    .first()
                    .cloned()
                    .or_else(|| all.first().cloned())
                    .unwrap_or_default();
                (vec![first], Arc::new(Schema::empty()), true)
            }
            Some(p) => (
                p.iter().map(|i| all[*i].clone()).collect(),
                Arc::new(table_schema.project(p)?),
                false,
            ),
        };
        let mut base = match &self.files {
            Some(f) => Scan::of_files(&snapshot, snapshot.metadata().schema().clone(), f.to_vec()),
            None => Scan::new(&snapshot),
        };
        if let Some(p) = &predicate {
            base = base.filter(p.clone());
        }
        let files = base.candidates().map_err(external)?;
        let rows = live_rows(&files).map(|n| limit.map_or(n, |l| n.min(l)));
        let bytes = usize::try_from(files.iter().map(|f| f.size).sum::<i64>()).ok();
        let exact = predicate.is_none() && files.iter().all(|f| f.deletion_vector.is_none());
        let groups = file_groups(files, state.config().target_partitions(), |f| f.size);
        let mut partitions: Vec<Arc<dyn PartitionStream>> = Vec::new();
        for group in groups {
            let mut scan = Scan::of_files(&snapshot, snapshot.metadata().schema().clone(), group)
                .select(columns.clone());
            if let Some(p) = &predicate {
                scan = scan.filter(p.clone());
            }
            partitions.push(Arc::new(FileGroup {
                scan,
                schema: out_schema.clone(),
                counts_only,
            }));
        }
        Ok(SizedScan::wrap(
            streaming_plan(out_schema, partitions, limit)?,
            rows,
            bytes,
            exact,
        ))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snapshot = self.writable().await?;
        if let Some((column, sql)) = self.bad_defaults.first() {
            return Err(DataFusionError::Plan(format!(
                "table {}: the default of column {column:?} ({sql}) cannot be evaluated; INSERT is refused rather than writing NULL",
                snapshot.location()
            )));
        }
        let mode = match insert_op {
            InsertOp::Append => WriteMode::Append,
            InsertOp::Overwrite => WriteMode::Overwrite,
            InsertOp::Replace => {
                return Err(DataFusionError::NotImplemented(
                    "REPLACE INTO a Delta table: use MERGE".into(),
                ));
            }
        };
        let sink = DeltaSink {
            snapshot,
            mode,
            schema: self.schema(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::delete_plan(self.dml_target().await?, state, filters).await
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::update_plan(self.dml_target().await?, state, assignments, filters).await
    }

    async fn truncate(&self, state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::delete_plan(self.dml_target().await?, state, Vec::new()).await
    }

    async fn merge_into(
        &self,
        state: &dyn Session,
        source: Arc<dyn ExecutionPlan>,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::merge_plan(
            self.dml_target().await?,
            state,
            source,
            merge_schema,
            on,
            clauses,
        )
        .await
    }
}

/// INSERT INTO / INSERT OVERWRITE: the input rows in one transaction.
struct DeltaSink {
    snapshot: Arc<Snapshot>,
    mode: WriteMode,
    schema: SchemaRef,
}

impl fmt::Debug for DeltaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeltaSink({})", self.snapshot.location())
    }
}

impl DisplayAs for DeltaSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeltaSink: table={} mode={:?}",
            self.snapshot.location(),
            self.mode
        )
    }
}

/// How often an INSERT that lost an identity race is redone.
const IDENTITY_WRITE_ATTEMPTS: usize = 16;

#[async_trait]
impl DataSink for DeltaSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let mut batches = Vec::new();
        while let Some(b) = data.next().await {
            batches.push(b?);
        }
        let options = WriteOptions {
            mode: self.mode.clone(),
            evaluator: Some(crate::evaluator::DataFusionEvaluator::shared()),
            ..WriteOptions::default()
        };
        // Racing identity writers conflict; the loser redoes its write.
        let r = silt_parquet::write_batches_retrying(
            self.snapshot.store().clone(),
            Some(Snapshot::clone(&self.snapshot)),
            batches,
            options,
            IDENTITY_WRITE_ATTEMPTS,
        )
        .await
        .map_err(external)?;
        crate::exec::committed(&r.outcome, self.snapshot.location())?;
        Ok(r.rows)
    }
}
