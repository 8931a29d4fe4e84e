//! DELETE, UPDATE and MERGE on a Delta table ([`DmlTarget`]), planned by DataFusion and
//! committed by silt-parquet's [`commit_row_changes`].
//!
//! Each statement reads the target files it cannot rule out through a
//! scan that adds two columns, the file (`__silt_file`) and the row's
//! position in it (`__silt_row`). DataFusion evaluates the statement over
//! those rows (for MERGE: the join with the source and the first WHEN
//! clause that applies to each row); the rows that come out name the
//! positions to remove and the new rows to write. Removed positions become
//! deletion vectors where the table enables them and file rewrites
//! otherwise; everything lands in one transaction whose read set is the
//! files scanned.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef, BooleanArray, Int32Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchemaRef, ScalarValue, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::{MemTable, TableProvider, TableType, provider_as_source};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, JoinType, LogicalPlan, LogicalPlanBuilder, MergeIntoAction, MergeIntoClause,
    MergeIntoClauseKind, Operator, case, cast, lit, when,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use futures::future::BoxFuture;
use silt_log::actions::Add;
use silt_log::expr::{CmpOp, Expr as Pred};
use silt_log::{Operation, Snapshot};
use silt_parquet::row_tracking::RowTracking;
use silt_parquet::{ChangeType, RemovedRows, RowChanges, Scan, commit_row_changes};

pub(crate) use crate::exec::committed;
use crate::exec::{column_names, external, file_groups, streaming_plan};
use crate::filters;
pub(crate) use crate::metrics::DmlMetrics;

const FILE_COL: &str = "__silt_file";
const ROW_COL: &str = "__silt_row";
/// Stable row id of a target row (row-tracking tables only).
const ROW_ID_COL: &str = "__silt_row_id";
const CLAUSE_COL: &str = "__silt_clause";
const SOURCE_COL: &str = "__silt_src";
const OLD_PREFIX: &str = "__silt_old_";

fn session_state(state: &dyn Session) -> Result<SessionState> {
    state
        .as_any()
        .downcast_ref::<SessionState>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("silt DML needs a SessionState".into()))
}

fn unqualified(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// `e` with every column reference unqualified (the target is scanned
/// under its own name, whatever the statement called it).
pub(crate) fn strip_qualifiers(e: Expr) -> Result<Expr> {
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

// ---------------------------------------------------------------------------
// The positioned target scan.

/// The target's candidate files as a table with the file index and row
/// position of every row.
#[derive(Debug)]
struct PositionedTable {
    snapshot: Arc<Snapshot>,
    files: Vec<Add>,
    schema: SchemaRef,
    tracking: Option<RowTracking>,
}

impl PositionedTable {
    fn new(snapshot: Arc<Snapshot>, files: Vec<Add>, table_schema: &Schema) -> Self {
        let mut fields: Vec<Field> = table_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(FILE_COL, DataType::UInt64, false));
        fields.push(Field::new(ROW_COL, DataType::UInt64, false));
        let tracking = RowTracking::of(&snapshot);
        if tracking.is_some() {
            fields.push(Field::new(ROW_ID_COL, DataType::Int64, false));
        }
        Self {
            snapshot,
            files,
            schema: Arc::new(Schema::new(fields)),
            tracking,
        }
    }
}

struct PositionedGroup {
    scan: Scan,
    tracking: Option<RowTracking>,
    files: Vec<(u64, Add)>,
    full: SchemaRef,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
}

impl fmt::Debug for PositionedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PositionedGroup({} files)", self.files.len())
    }
}

impl PartitionStream for PositionedGroup {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let scan = self.scan.clone();
        let full = self.full.clone();
        let projection = self.projection.clone();
        let tracking = self.tracking.clone();
        let stream = futures::stream::iter(self.files.clone())
            .map(move |(index, add)| {
                let full = full.clone();
                let projection = projection.clone();
                let tracking = tracking.clone();
                let file = add.clone();
                // Batches stream as they are decoded: memory holds a few
                // batches of a file, not the file.
                scan.stream_with_positions(add).map(move |item| {
                    let (batch, positions) = item.map_err(external)?;
                    let n = batch.num_rows();
                    let (mut cols, row_ids): (Vec<ArrayRef>, Option<ArrayRef>) = match &tracking {
                        // The scan read the hidden columns after the table's.
                        Some(t) => {
                            let b = t
                                .resolve(&file, &batch, &positions)
                                .map_err(|e| DataFusionError::Execution(e.to_string()))?;
                            let k = b.num_columns() - 2;
                            (b.columns()[..k].to_vec(), Some(b.column(k).clone()))
                        }
                        None => (batch.columns().to_vec(), None),
                    };
                    cols.push(Arc::new(UInt64Array::from(vec![index; n])));
                    cols.push(Arc::new(UInt64Array::from(positions)));
                    cols.extend(row_ids);
                    let b = RecordBatch::try_new(full.clone(), cols)?;
                    Ok::<_, DataFusionError>(match &projection {
                        Some(p) => b.project(p)?,
                        None => b,
                    })
                })
            })
            .flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[async_trait]
impl TableProvider for PositionedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let out = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let schema = self.snapshot.metadata().schema().clone();
        let schema = match &self.tracking {
            Some(t) => t.extended_schema(&schema),
            None => schema,
        };
        let scan = Scan::of_files(&self.snapshot, schema, Vec::new());
        // Each file keeps its index in `self.files` (the `__silt_file` value).
        let indexed: Vec<(u64, Add)> = (0u64..).zip(self.files.iter().cloned()).collect();
        let groups = file_groups(indexed, state.config().target_partitions(), |f| f.1.size);
        let partitions: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|files| {
                Arc::new(PositionedGroup {
                    scan: scan.clone(),
                    tracking: self.tracking.clone(),
                    files,
                    full: self.schema.clone(),
                    projection: projection.cloned(),
                    schema: out.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        streaming_plan(out, partitions, limit)
    }
}

// ---------------------------------------------------------------------------
// A statement's work, run when the plan executes (not when it is planned).

/// The table a DML statement writes, as it was when the statement was
/// planned: its newest snapshot, Arrow schema and column defaults.
pub(crate) struct DmlTarget {
    pub snapshot: Arc<Snapshot>,
    pub schema: SchemaRef,
    /// Column defaults (`CURRENT_DEFAULT`) for MERGE inserts that omit columns.
    pub defaults: HashMap<String, Expr>,
}

/// A statement's planned work; it reads and commits when awaited.
pub(crate) type MetricsFuture = BoxFuture<'static, Result<DmlMetrics>>;

/// One partition that runs a statement's work once and yields its metrics.
pub(crate) struct DeferredWork {
    work: Mutex<Option<MetricsFuture>>,
    schema: SchemaRef,
    /// The metric columns wanted (all when `None`).
    projection: Option<Vec<usize>>,
}

impl fmt::Debug for DeferredWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeferredWork")
    }
}

impl PartitionStream for DeferredWork {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let work = self.work.lock().unwrap_or_else(|p| p.into_inner()).take();
        let schema = self.schema.clone();
        let projection = self.projection.clone();
        let stream = futures::stream::once(async move {
            let Some(work) = work else {
                return Err(DataFusionError::Execution(
                    "a DML statement's plan runs once".into(),
                ));
            };
            let batch = work.await?.batch()?;
            Ok(match &projection {
                Some(p) => batch.project(p)?,
                None => batch,
            })
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }
}

/// A plan that runs `work` when executed and returns its metrics.
pub(crate) fn deferred(work: MetricsFuture) -> Result<Arc<dyn ExecutionPlan>> {
    deferred_columns(work, None)
}

/// [`deferred`], returning only the metric columns in `projection`.
pub(crate) fn deferred_columns(
    work: MetricsFuture,
    projection: Option<&Vec<usize>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let all = DmlMetrics::schema();
    let schema = match projection {
        Some(p) => Arc::new(all.project(p)?),
        None => all,
    };
    let part = DeferredWork {
        work: Mutex::new(Some(work)),
        schema: schema.clone(),
        projection: projection.cloned(),
    };
    streaming_plan(schema, vec![Arc::new(part)], None)
}

// ---------------------------------------------------------------------------
// Turning the statement's output rows into row changes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Update,
    Delete,
    Insert,
}

/// Rows a statement changes, gathered from its output batches: the table
/// columns' new values, then (with a change data feed) their old values,
/// then the clause index, file index and row position.
struct Collector {
    snapshot: Arc<Snapshot>,
    /// Row-tracking tables: updated rows keep their ids.
    tracking: Option<RowTracking>,
    files: Vec<Add>,
    table_schema: SchemaRef,
    actions: Vec<Action>,
    record_changes: bool,
    /// `(file, row)` → whether an update touched it.
    touched: HashMap<(u64, u64), bool>,
    positions: HashMap<u64, Vec<u64>>,
    changes: RowChanges,
    inserted: u64,
    updated: u64,
    deleted: u64,
    /// The statement's name, for errors.
    statement: &'static str,
}

impl Collector {
    fn new(
        snapshot: Arc<Snapshot>,
        files: Vec<Add>,
        table_schema: SchemaRef,
        actions: Vec<Action>,
        statement: &'static str,
    ) -> Self {
        let record_changes = silt_parquet::cdf::enabled(&snapshot);
        Self {
            tracking: RowTracking::of(&snapshot),
            snapshot,
            files,
            table_schema,
            actions,
            record_changes,
            touched: HashMap::new(),
            positions: HashMap::new(),
            changes: RowChanges {
                evaluator: Some(crate::evaluator::DataFusionEvaluator::shared()),
                ..RowChanges::default()
            },
            inserted: 0,
            updated: 0,
            deleted: 0,
            statement,
        }
    }

    fn table_batch(
        &self,
        batch: &RecordBatch,
        from: usize,
        mask: &BooleanArray,
    ) -> Result<RecordBatch> {
        let n = self.table_schema.fields().len();
        let cols: Vec<ArrayRef> = batch.columns()[from..from + n].to_vec();
        let b = RecordBatch::try_new(self.table_schema.clone(), cols)?;
        Ok(arrow_select::filter::filter_record_batch(&b, mask)?)
    }

    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = self.table_schema.fields().len();
        let base = if self.record_changes { 2 * n } else { n };
        let clause = arrow_cast::cast(batch.column(base), &DataType::Int32)?;
        let clause = clause
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or_else(|| DataFusionError::Internal("clause index column".into()))?;
        let file = arrow_cast::cast(batch.column(base + 1), &DataType::UInt64)?;
        let file = file
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| DataFusionError::Internal("file index column".into()))?;
        let row = arrow_cast::cast(batch.column(base + 2), &DataType::UInt64)?;
        let row = row
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| DataFusionError::Internal("row position column".into()))?;
        let mut kinds = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let action = usize::try_from(clause.value(i))
                .ok()
                .and_then(|c| self.actions.get(c).copied());
            let Some(action) = action.filter(|_| clause.is_valid(i)) else {
                kinds.push(None);
                continue;
            };
            if action != Action::Insert {
                if !file.is_valid(i) || !row.is_valid(i) {
                    return Err(DataFusionError::Internal(
                        "a changed target row without its position".into(),
                    ));
                }
                let key = (file.value(i), row.value(i));
                let is_update = action == Action::Update;
                if let Some(prev) = self.touched.insert(key, is_update) {
                    if prev || is_update {
                        return Err(DataFusionError::Execution(format!(
                            "table {}: {}: more than one source row matched the same target row \
                             (file {}, row {}) and tried to modify it; make the source unique on the join key",
                            self.snapshot.location(),
                            self.statement,
                            self.files
                                .get(key.0 as usize)
                                .map_or("?", |f| f.path.as_str()),
                            key.1
                        )));
                    }
                    kinds.push(None); // a second DELETE of the same row
                    continue;
                }
                self.positions.entry(key.0).or_default().push(key.1);
            }
            kinds.push(Some(action));
        }
        let mask = |want: &[Action]| -> BooleanArray {
            kinds
                .iter()
                .map(|k| Some(k.is_some_and(|k| want.contains(&k))))
                .collect()
        };
        let write_mask = mask(&[Action::Update, Action::Insert]);
        let mut writes = self.table_batch(batch, 0, &write_mask)?;
        if let Some(t) = &self.tracking {
            // Updated rows keep their row ids; inserted rows have none.
            let ids = arrow_select::filter::filter(batch.column(base + 3), &write_mask)?;
            writes = t
                .with_hidden(&writes, ids)
                .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        }
        let count = |m: &BooleanArray| m.true_count() as u64;
        let (ins, upd, del) = (
            mask(&[Action::Insert]),
            mask(&[Action::Update]),
            mask(&[Action::Delete]),
        );
        self.inserted += count(&ins);
        self.updated += count(&upd);
        self.deleted += count(&del);
        if self.record_changes {
            // New values' change rows are taken from the written rows once
            // the writer has filled identity and generated columns.
            self.changes.change_data.push((
                ChangeType::UpdatePreimage,
                self.table_batch(batch, n, &upd)?,
            ));
            self.changes
                .change_data
                .push((ChangeType::Delete, self.table_batch(batch, n, &del)?));
        }
        if writes.num_rows() > 0 {
            if self.record_changes {
                let kinds: Vec<ChangeType> = kinds
                    .iter()
                    .filter_map(|k| match k {
                        Some(Action::Insert) => Some(ChangeType::Insert),
                        Some(Action::Update) => Some(ChangeType::UpdatePostimage),
                        _ => None,
                    })
                    .collect();
                self.changes.added_change_types.push(kinds);
            }
            self.changes.added.push(writes);
        }
        Ok(())
    }

    /// Commits the gathered changes.
    async fn commit(mut self, operation: Operation) -> Result<DmlMetrics> {
        let mut removed = Vec::new();
        for (index, positions) in std::mem::take(&mut self.positions) {
            let file = self.files.get(index as usize).cloned().ok_or_else(|| {
                DataFusionError::Internal(format!("file index {index} out of range"))
            })?;
            removed.push(RemovedRows {
                file,
                positions,
                remaining: None,
            });
        }
        self.changes.removed_rows = removed;
        self.changes.read_files = self.files;
        self.changes.read_whole_table = true;
        let counts = (self.inserted, self.updated, self.deleted);
        let operation = operation
            .with_metric("numTargetRowsInserted", counts.0)
            .with_metric("numTargetRowsUpdated", counts.1)
            .with_metric("numTargetRowsDeleted", counts.2);
        let r = commit_row_changes(&self.snapshot, self.changes, operation)
            .await
            .map_err(external)?;
        if let Some(o) = &r.outcome {
            committed(o, self.snapshot.location())?;
        }
        Ok(DmlMetrics {
            inserted: counts.0,
            updated: counts.1,
            deleted: counts.2,
            copied: r.rows_copied,
            files_added: r.files_added as u64,
            files_removed: r.files_removed as u64,
        })
    }
}

/// The stamp the session asks DML commits to carry
/// ([`crate::SiltSession::set_commit_stamp`]).
fn commit_stamp(state: &SessionState) -> silt_log::CommitStamp {
    state
        .config()
        .get_extension::<silt_log::CommitStamp>()
        .map(|s| (*s).clone())
        .unwrap_or_default()
}

async fn run_collect(
    state: &SessionState,
    plan: LogicalPlan,
    collector: &mut Collector,
) -> Result<()> {
    let mut stream = DataFrame::new(state.clone(), plan).execute_stream().await?;
    while let Some(batch) = stream.next().await {
        collector.add(&batch?)?;
    }
    Ok(())
}

/// Files a predicate on the target cannot rule out.
fn candidate_files(snapshot: &Snapshot, predicate: Option<Pred>) -> Result<Vec<Add>> {
    let mut scan = Scan::new(snapshot);
    if let Some(p) = predicate {
        scan = scan.filter(p);
    }
    scan.candidates().map_err(external)
}

/// Refuses a MERGE insert that gives a `GENERATED ALWAYS` identity column
/// a value: an insert listing the column, or one without a column list.
fn refuse_identity_insert(snapshot: &Snapshot, columns: &[String]) -> Result<()> {
    let always: Vec<String> =
        silt_log::column_rules::column_rules(snapshot.protocol(), snapshot.metadata().schema())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                matches!(&r.rule, silt_log::column_rules::ColumnRule::Identity(i) if !i.allow_explicit_insert)
            })
            .map(|r| r.name)
            .collect();
    let given = if columns.is_empty() {
        always.first()
    } else {
        always.iter().find(|a| columns.contains(a))
    };
    match given {
        Some(c) => Err(DataFusionError::Plan(format!(
            "table {}: column {c:?} is GENERATED ALWAYS AS IDENTITY; MERGE … INSERT must list its columns and leave it out",
            snapshot.location()
        ))),
        None => Ok(()),
    }
}

/// Refuses an UPDATE (or MERGE update) that assigns an identity column:
/// identity values are only ever handed out.
fn refuse_identity_assignment<'a>(
    snapshot: &Snapshot,
    mut assigned: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let identity: std::collections::HashSet<String> =
        silt_log::column_rules::column_rules(snapshot.protocol(), snapshot.metadata().schema())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| matches!(r.rule, silt_log::column_rules::ColumnRule::Identity(_)))
            .map(|r| r.name)
            .collect();
    match assigned.find(|c| identity.contains(*c)) {
        Some(c) => Err(DataFusionError::Plan(format!(
            "table {}: column {c:?} is an identity column and cannot be updated",
            snapshot.location()
        ))),
        None => Ok(()),
    }
}

/// The table's generated columns (recomputed when a row is updated).
fn generated_columns(snapshot: &Snapshot) -> std::collections::HashSet<String> {
    silt_log::column_rules::column_rules(snapshot.protocol(), snapshot.metadata().schema())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| matches!(r.rule, silt_log::column_rules::ColumnRule::Generated(_)))
        .map(|r| r.name)
        .collect()
}

fn value_columns(
    table_schema: &Schema,
    record_changes: bool,
    mut value: impl FnMut(usize, &Field, Expr) -> Result<Expr>,
    current: impl Fn(&str) -> Expr,
) -> Result<Vec<Expr>> {
    let mut out = Vec::new();
    for (i, f) in table_schema.fields().iter().enumerate() {
        let v = value(i, f, current(f.name()))?;
        out.push(cast(v, f.data_type().clone()).alias(f.name()));
    }
    if record_changes {
        for (i, f) in table_schema.fields().iter().enumerate() {
            out.push(current(f.name()).alias(format!("{OLD_PREFIX}{i}")));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// DELETE and UPDATE.

fn conjunction_expr(filters: Vec<Expr>) -> Result<Option<Expr>> {
    let mut parts = Vec::with_capacity(filters.len());
    for f in filters {
        parts.push(strip_qualifiers(f)?);
    }
    Ok(parts.into_iter().reduce(Expr::and))
}

/// DELETE without a condition: every file removed in one commit.
pub(crate) async fn delete_all(snapshot: Arc<Snapshot>) -> Result<DmlMetrics> {
    let r = silt_parquet::delete_where(&snapshot, None)
        .await
        .map_err(external)?;
    if let Some(o) = &r.outcome {
        committed(o, snapshot.location())?;
    }
    Ok(DmlMetrics {
        deleted: r.rows_deleted,
        files_added: r.files_added as u64,
        files_removed: r.files_removed as u64,
        ..DmlMetrics::default()
    })
}

/// The rows an UPDATE or DELETE changes, over the target's positioned scan:
/// the plan whose rows are the changed target rows, the qualifier of the
/// target's columns in it, and (UPDATE) each table column's new value
/// (`None`: unchanged).
pub(crate) struct ChangedRows {
    pub plan: LogicalPlan,
    pub target: TableReference,
    pub new_values: Option<Vec<Option<Expr>>>,
}

/// Plans an UPDATE or DELETE: `pruning` picks the candidate files, `build`
/// puts the statement over their positioned scan (named `scan_name`). The
/// returned future reads, changes and commits.
pub(crate) async fn row_work(
    target_table: DmlTarget,
    state: SessionState,
    scan_name: TableReference,
    pruning: Option<Pred>,
    build: impl FnOnce(LogicalPlan) -> Result<ChangedRows>,
) -> Result<MetricsFuture> {
    let DmlTarget {
        snapshot,
        schema: table_schema,
        ..
    } = target_table;
    let files = candidate_files(&snapshot, pruning.clone())?;
    let record_changes = silt_parquet::cdf::enabled(&snapshot);
    let positioned = PositionedTable::new(snapshot.clone(), files.clone(), &table_schema);
    let scan = LogicalPlanBuilder::scan(scan_name, provider_as_source(Arc::new(positioned)), None)?
        .build()?;
    let ChangedRows {
        plan,
        target,
        new_values,
    } = build(scan)?;
    let is_update = new_values.is_some();
    let new_values = new_values.unwrap_or_default();
    let assigned: Vec<&String> = table_schema
        .fields()
        .iter()
        .zip(&new_values)
        .filter(|(_, v)| v.is_some())
        .map(|(f, _)| f.name())
        .collect();
    refuse_identity_assignment(&snapshot, assigned.into_iter())?;
    let generated = generated_columns(&snapshot);
    let column = |name: &str| Expr::Column(Column::new(Some(target.clone()), name));
    let mut exprs = value_columns(
        &table_schema,
        record_changes,
        |i, f, current| {
            Ok(match new_values.get(i).cloned().flatten() {
                Some(v) => v,
                // Recomputed by the writer from the updated row.
                None if is_update && generated.contains(f.name()) => lit(ScalarValue::Null),
                None => current,
            })
        },
        column,
    )?;
    exprs.push(lit(0i32).alias(CLAUSE_COL));
    exprs.push(column(FILE_COL));
    exprs.push(column(ROW_COL));
    if RowTracking::of(&snapshot).is_some() {
        exprs.push(column(ROW_ID_COL));
    }
    let plan = LogicalPlanBuilder::from(plan).project(exprs)?.build()?;
    let (action, name) = if is_update {
        (Action::Update, "UPDATE")
    } else {
        (Action::Delete, "DELETE")
    };
    let work = async move {
        let mut collector =
            Collector::new(snapshot.clone(), files, table_schema, vec![action], name);
        collector.changes.stamp = commit_stamp(&state);
        run_collect(&state, plan, &mut collector).await?;
        let mut op = if is_update {
            Operation::update()
        } else {
            Operation::delete()
        };
        if let Some(p) = &pruning {
            op = op.with_parameter("predicate", p.to_string());
        }
        collector.commit(op).await
    };
    Ok(Box::pin(work))
}

/// UPDATE or DELETE from DataFusion's pushed-down form (filters on the
/// target alone, unqualified assignments), for plans DataFusion runs itself.
async fn row_statement(
    table: DmlTarget,
    state: &dyn Session,
    assignments: Option<Vec<(String, Expr)>>,
    filters: Vec<Expr>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let state = session_state(state)?;
    if assignments.is_none() && filters.is_empty() {
        return deferred(Box::pin(delete_all(table.snapshot)));
    }
    let pruning = filters::conjunction(&filters, table.snapshot.metadata().schema());
    let condition = conjunction_expr(filters)?;
    let names = column_names(&table.schema);
    let target = TableReference::bare("__silt_target");
    let work = row_work(table, state, target.clone(), pruning, move |scan| {
        let mut plan = LogicalPlanBuilder::from(scan);
        if let Some(c) = condition {
            plan = plan.filter(c)?;
        }
        let new_values = match assignments {
            Some(sets) => {
                let mut values = vec![None; names.len()];
                for (name, e) in sets {
                    let i = names.iter().position(|n| *n == name).ok_or_else(|| {
                        DataFusionError::Plan(format!("UPDATE: no column {name:?}"))
                    })?;
                    values[i] = Some(strip_qualifiers(e)?);
                }
                Some(values)
            }
            None => None,
        };
        Ok(ChangedRows {
            plan: plan.build()?,
            target,
            new_values,
        })
    })
    .await?;
    deferred(work)
}

/// DELETE FROM … WHERE … (all rows without filters).
pub(crate) async fn delete_plan(
    table: DmlTarget,
    state: &dyn Session,
    filters: Vec<Expr>,
) -> Result<Arc<dyn ExecutionPlan>> {
    row_statement(table, state, None, filters).await
}

/// UPDATE … SET … WHERE ….
pub(crate) async fn update_plan(
    table: DmlTarget,
    state: &dyn Session,
    assignments: Vec<(String, Expr)>,
    filters: Vec<Expr>,
) -> Result<Arc<dyn ExecutionPlan>> {
    row_statement(table, state, Some(assignments), filters).await
}

// ---------------------------------------------------------------------------
// MERGE.

/// Target files that can hold a match: for each `target.a = source.b` in
/// the ON condition, the target's `a` must lie within the source's range
/// of `b`; conditions on target columns alone prune directly.
async fn merge_pruning(
    state: &SessionState,
    on: &Expr,
    target: &TableReference,
    source: (SchemaRef, Vec<RecordBatch>),
    source_ref: &TableReference,
    snapshot: &Snapshot,
) -> Result<Option<Pred>> {
    let table_schema = &snapshot.metadata().schema();
    let is_target = |c: &Column| c.relation.as_ref() == Some(target);
    let mut preds = Vec::new();
    let mut keys: Vec<(String, Column)> = Vec::new();
    for conjunct in split_conjunction(on) {
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = conjunct
            && let (Expr::Column(l), Expr::Column(r)) = (left.as_ref(), right.as_ref())
        {
            match (is_target(l), is_target(r)) {
                (true, false) => keys.push((l.name.clone(), r.clone())),
                (false, true) => keys.push((r.name.clone(), l.clone())),
                _ => {}
            }
            continue;
        }
        let mut only_target = true;
        conjunct.apply(|e| {
            if let Expr::Column(c) = e
                && !is_target(c)
            {
                only_target = false;
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        })?;
        if only_target
            && let Some(p) =
                filters::to_predicate(&strip_qualifiers(conjunct.clone())?, table_schema)
        {
            preds.push(p);
        }
    }
    if !keys.is_empty() {
        use datafusion::functions_aggregate::expr_fn::{max, min};
        let mut aggs = Vec::new();
        for (_, c) in &keys {
            let c = Expr::Column(Column::new(Some(source_ref.clone()), c.name.clone()));
            aggs.push(min(c.clone()));
            aggs.push(max(c));
        }
        let mem = MemTable::try_new(source.0, vec![source.1])?;
        let plan =
            LogicalPlanBuilder::scan(source_ref.clone(), provider_as_source(Arc::new(mem)), None)?
                .aggregate(Vec::<Expr>::new(), aggs)?
                .build()?;
        let out = DataFrame::new(state.clone(), plan).collect().await?;
        if let Some(b) = out.first() {
            for (i, (target_col, _)) in keys.iter().enumerate() {
                let lo = ScalarValue::try_from_array(b.column(2 * i), 0)?;
                let hi = ScalarValue::try_from_array(b.column(2 * i + 1), 0)?;
                if lo.is_null() || hi.is_null() {
                    // No source row has a key: nothing can match.
                    return Ok(Some(Pred::And(vec![
                        Pred::IsNull {
                            column: target_col.clone(),
                            negated: false,
                        },
                        Pred::IsNull {
                            column: target_col.clone(),
                            negated: true,
                        },
                    ])));
                }
                if let (Some(lo), Some(hi)) = (filters::literal_of(&lo), filters::literal_of(&hi)) {
                    let range = Pred::And(vec![
                        Pred::Cmp {
                            column: target_col.clone(),
                            op: CmpOp::GtEq,
                            value: lo,
                        },
                        Pred::Cmp {
                            column: target_col.clone(),
                            op: CmpOp::LtEq,
                            value: hi,
                        },
                    ]);
                    if range.validate(table_schema).is_ok() {
                        preds.push(range);
                    }
                }
            }
        }
    }
    Ok(match preds.len() {
        0 => None,
        1 => preds.pop(),
        _ => Some(Pred::And(preds)),
    })
}

/// A MERGE source: a logical plan (silt plans the statement) or a physical
/// plan DataFusion made without its physical optimizer passes.
pub(crate) enum MergeSource {
    Logical(LogicalPlan),
    Physical(Arc<dyn ExecutionPlan>),
}

impl MergeSource {
    /// Every row of the source, read once, whatever its partitioning.
    async fn rows(self, state: &SessionState) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let plan = match self {
            MergeSource::Logical(plan) => {
                DataFrame::new(state.clone(), plan)
                    .create_physical_plan()
                    .await?
            }
            MergeSource::Physical(plan) => {
                // DataFusion hands `merge_into` its initial plan: without the
                // distribution passes, a final aggregate sees one partition's
                // partial groups and a join has no mode.
                let mut plan = plan;
                for rule in state.physical_optimizers() {
                    plan = rule.optimize(plan, state.config_options())?;
                }
                plan
            }
        };
        let schema = plan.schema();
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        Ok((schema, batches))
    }
}

/// MERGE INTO target USING source ON … WHEN …, for plans DataFusion runs.
pub(crate) async fn merge_plan(
    table: DmlTarget,
    state: &dyn Session,
    source: Arc<dyn ExecutionPlan>,
    merge_schema: DFSchemaRef,
    on: Expr,
    clauses: Vec<MergeIntoClause>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let state = session_state(state)?;
    let work = merge_work(
        table,
        state,
        MergeSource::Physical(source),
        merge_schema,
        on,
        clauses,
    )
    .await?;
    deferred(work)
}

/// Plans a MERGE; the returned future reads the source and the target,
/// changes rows and commits.
pub(crate) async fn merge_work(
    table: DmlTarget,
    state: SessionState,
    source: MergeSource,
    merge_schema: DFSchemaRef,
    on: Expr,
    clauses: Vec<MergeIntoClause>,
) -> Result<MetricsFuture> {
    let DmlTarget {
        snapshot,
        schema: table_schema,
        defaults,
    } = table;
    let work = async move {
        let n = table_schema.fields().len();
        let target_ref = merge_schema
            .qualified_field(0)
            .0
            .cloned()
            .ok_or_else(|| DataFusionError::Plan("MERGE target has no qualifier".into()))?;
        let mut source_ref: Option<TableReference> = None;
        for i in n..merge_schema.fields().len() {
            let q = merge_schema.qualified_field(i).0.cloned();
            match (&source_ref, q) {
                (None, q) => source_ref = q,
                (Some(a), Some(b)) if *a == b => {}
                _ => {
                    return Err(DataFusionError::NotImplemented(
                        "MERGE with a source of several relations: wrap it in a subquery with an alias".into(),
                    ));
                }
            }
        }
        let source_ref = source_ref.unwrap_or_else(|| TableReference::bare("__silt_source"));
        let (source_schema, batches) = source.rows(&state).await?;
        let source_rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let mem = MemTable::try_new(source_schema.clone(), vec![batches.clone()])?;

        let by_source = clauses
            .iter()
            .any(|c| c.kind == MergeIntoClauseKind::NotMatchedBySource);
        let by_target = clauses.iter().any(|c| c.kind.is_not_matched_by_target());
        let pruning = if by_source {
            None // every target row may be changed
        } else {
            merge_pruning(
                &state,
                &on,
                &target_ref,
                (source_schema.clone(), batches),
                &source_ref,
                &snapshot,
            )
            .await?
        };
        let files = candidate_files(&snapshot, pruning.clone())?;
        let record_changes = silt_parquet::cdf::enabled(&snapshot);

        let target_plan = LogicalPlanBuilder::scan(
            target_ref.clone(),
            provider_as_source(Arc::new(PositionedTable::new(
                snapshot.clone(),
                files.clone(),
                &table_schema,
            ))),
            None,
        )?
        .build()?;
        let mut source_cols: Vec<Expr> = Vec::new();
        for f in source_schema.fields() {
            source_cols.push(Expr::Column(Column::new(
                Some(source_ref.clone()),
                f.name(),
            )));
        }
        source_cols.push(lit(true).alias(SOURCE_COL));
        let source_plan =
            LogicalPlanBuilder::scan(source_ref.clone(), provider_as_source(Arc::new(mem)), None)?
                .project(source_cols)?
                .build()?;
        // The source is the join's left (build) side: the hash table holds
        // the source, and the target streams past it, so memory follows the
        // source's size rather than the table's.
        let join_type = match (by_source, by_target) {
            (true, true) => JoinType::Full,
            (true, false) => JoinType::Right,
            (false, true) => JoinType::Left,
            (false, false) => JoinType::Inner,
        };
        let joined = LogicalPlanBuilder::from(source_plan)
            .join_on(target_plan, join_type, vec![on.clone()])?
            .build()?;

        // Which clause applies: the first whose kind and condition hold.
        let target_col = |name: &str| Expr::Column(Column::new(Some(target_ref.clone()), name));
        let in_target = target_col(FILE_COL).is_not_null();
        let in_source = unqualified(SOURCE_COL).is_not_null();
        let pick = |wanted: &dyn Fn(MergeIntoClauseKind) -> bool| -> Result<Expr> {
            let mut arms: Vec<(Expr, Expr)> = Vec::new();
            for (i, c) in clauses.iter().enumerate() {
                if wanted(c.kind) {
                    let cond = c.predicate.clone().unwrap_or_else(|| lit(true));
                    arms.push((cond, lit(i as i32)));
                }
            }
            let mut it = arms.into_iter();
            let Some((c, v)) = it.next() else {
                return Ok(lit(-1i32));
            };
            let mut b = when(c, v);
            for (c, v) in it {
                b = b.when(c, v);
            }
            b.otherwise(lit(-1i32))
        };
        let clause_index = when(
            in_target.clone().and(in_source.clone()),
            pick(&|k| k == MergeIntoClauseKind::Matched)?,
        )
        .when(
            in_source,
            pick(&|k: MergeIntoClauseKind| k.is_not_matched_by_target())?,
        )
        .otherwise(pick(&|k| k == MergeIntoClauseKind::NotMatchedBySource)?)?;
        let mut first: Vec<Expr> = joined
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        first.push(clause_index.alias(CLAUSE_COL));

        for c in &clauses {
            match &c.action {
                MergeIntoAction::Update(sets) => {
                    refuse_identity_assignment(&snapshot, sets.iter().map(|(n, _)| n))?
                }
                MergeIntoAction::Insert { columns, .. } => {
                    refuse_identity_insert(&snapshot, columns)?
                }
                MergeIntoAction::Delete => {}
            }
        }
        // The new value of each target column under each clause.
        let mut actions = Vec::with_capacity(clauses.len());
        for c in &clauses {
            actions.push(match &c.action {
                MergeIntoAction::Update(_) => Action::Update,
                MergeIntoAction::Delete => Action::Delete,
                MergeIntoAction::Insert { .. } => Action::Insert,
            });
        }
        let names = column_names(&table_schema);
        let generated = generated_columns(&snapshot);
        let defaults = &defaults;
        let mut values = value_columns(
            &table_schema,
            record_changes,
            |i, f, current| {
                let mut arms: Vec<(Expr, Expr)> = Vec::new();
                for (k, c) in clauses.iter().enumerate() {
                    let v = match &c.action {
                        MergeIntoAction::Update(sets) => sets
                            .iter()
                            .find(|(name, _)| name == f.name())
                            .map(|(_, e)| e.clone())
                            // Recomputed by the writer from the updated row.
                            .or_else(|| {
                                generated.contains(f.name()).then(|| lit(ScalarValue::Null))
                            }),
                        MergeIntoAction::Insert { columns, values } if columns.is_empty() => {
                            Some(values.get(i).cloned().ok_or_else(|| {
                                DataFusionError::Plan(format!(
                                    "MERGE INSERT gives {} values for {} columns",
                                    values.len(),
                                    names.len()
                                ))
                            })?)
                        }
                        MergeIntoAction::Insert { columns, values } => columns
                            .iter()
                            .position(|c| c == f.name())
                            .and_then(|p| values.get(p).cloned())
                            // An omitted column takes its default.
                            .or_else(|| defaults.get(f.name()).cloned())
                            .or_else(|| Some(lit(ScalarValue::Null))),
                        MergeIntoAction::Delete => None,
                    };
                    if let Some(v) = v {
                        arms.push((lit(k as i32), v));
                    }
                }
                let mut it = arms.into_iter();
                let Some((k, v)) = it.next() else {
                    return Ok(current);
                };
                let mut b = case(unqualified(CLAUSE_COL)).when(k, v);
                for (k, v) in it {
                    b = b.when(k, v);
                }
                b.otherwise(current)
            },
            |name| target_col(name),
        )?;
        values.push(unqualified(CLAUSE_COL));
        values.push(target_col(FILE_COL));
        values.push(target_col(ROW_COL));
        if RowTracking::of(&snapshot).is_some() {
            values.push(target_col(ROW_ID_COL));
        }
        let plan = LogicalPlanBuilder::from(joined)
            .project(first)?
            .filter(unqualified(CLAUSE_COL).gt_eq(lit(0i32)))?
            .project(values)?
            .build()?;
        let mut collector = Collector::new(snapshot.clone(), files, table_schema, actions, "MERGE");
        collector.changes.stamp = commit_stamp(&state);
        run_collect(&state, plan, &mut collector).await?;
        // Recorded with the target called `target`, whatever its path.
        let shown = on
            .clone()
            .transform(|e| {
                Ok(match e {
                    Expr::Column(c) if c.relation.as_ref() == Some(&target_ref) => {
                        Transformed::yes(Expr::Column(Column::new(
                            Some(TableReference::bare("target")),
                            c.name,
                        )))
                    }
                    other => Transformed::no(other),
                })
            })
            .map(|t| t.data)?;
        let op = Operation::merge()
            .with_parameter("predicate", shown.to_string())
            .with_metric("numSourceRows", source_rows);
        collector.commit(op).await
    };
    Ok(Box::pin(work))
}
