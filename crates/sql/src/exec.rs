//! Plumbing between silt and DataFusion's execution: silt errors carried
//! as DataFusion errors, commit outcomes as results, partition streams as
//! plans, and files balanced into partitions. A leaf: it uses nothing else
//! in the crate.

use std::sync::Arc;

use arrow_schema::SchemaRef;
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use silt_log::CommitOutcome;

/// A DataFusion error carrying a silt error.
pub(crate) fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Maps a commit outcome to success, or a conflict carried as the typed
/// `LogError::Conflict` (which `SqlError` takes out of DataFusion again).
pub(crate) fn committed(outcome: &CommitOutcome, table: &str) -> Result<()> {
    match outcome {
        CommitOutcome::Committed(_) | CommitOutcome::AlreadyApplied { .. } => Ok(()),
        CommitOutcome::Conflict(conflict) => Err(external(silt_log::LogError::Conflict {
            table: table.to_string(),
            conflict: conflict.clone(),
        })),
    }
}

/// Splits `items` (files, by `size` bytes) into at most `n` groups of
/// similar total size: the lightest group takes the next largest item.
pub(crate) fn file_groups<T>(mut items: Vec<T>, n: usize, size: impl Fn(&T) -> i64) -> Vec<Vec<T>> {
    let n = n.clamp(1, items.len().max(1));
    items.sort_by_key(|f| std::cmp::Reverse(size(f)));
    let mut groups: Vec<(i64, Vec<T>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in items {
        // `groups` has n >= 1 entries, so a minimum exists.
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += size(&f);
            g.1.push(f);
        }
    }
    groups
        .into_iter()
        .map(|g| g.1)
        .filter(|g| !g.is_empty())
        .collect()
}

/// A partition without rows: a plan over no files still has one partition.
#[derive(Debug)]
struct NoRows(SchemaRef);

impl PartitionStream for NoRows {
    fn schema(&self) -> &SchemaRef {
        &self.0
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        Box::pin(RecordBatchStreamAdapter::new(
            self.0.clone(),
            futures::stream::empty(),
        ))
    }
}

/// A plan reading `partitions` (one empty partition when there are none).
pub(crate) fn streaming_plan(
    schema: SchemaRef,
    mut partitions: Vec<Arc<dyn PartitionStream>>,
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if partitions.is_empty() {
        partitions.push(Arc::new(NoRows(schema.clone())));
    }
    Ok(Arc::new(StreamingTableExec::try_new(
        schema,
        partitions,
        None,
        Vec::new(),
        false,
        limit,
    )?))
}

/// A scan that knows how big its input is: rows and bytes from the Delta
/// file statistics, which DataFusion's join selection reads to build its
/// hash table on the smaller side (a `StreamingTableExec` reports
/// nothing, so a fact table could become the build side of a join with a
/// small dimension). Everything else is the inner plan's.
#[derive(Debug)]
pub(crate) struct SizedScan {
    inner: Arc<dyn ExecutionPlan>,
    statistics: Arc<Statistics>,
}

impl SizedScan {
    /// `inner` with `rows` rows and `bytes` bytes (either unknown: `None`),
    /// `exact` when the counts are exact (no filter, no deletion vectors).
    pub(crate) fn wrap(
        inner: Arc<dyn ExecutionPlan>,
        rows: Option<usize>,
        bytes: Option<usize>,
        exact: bool,
    ) -> Arc<dyn ExecutionPlan> {
        let mut statistics = Statistics::new_unknown(&inner.schema());
        statistics.num_rows = match rows {
            Some(n) if exact => Precision::Exact(n),
            Some(n) => Precision::Inexact(n),
            None => Precision::Absent,
        };
        statistics.total_byte_size = match bytes {
            Some(b) => Precision::Inexact(b),
            None => Precision::Absent,
        };
        Arc::new(Self {
            inner,
            statistics: Arc::new(statistics),
        })
    }
}

impl DisplayAs for SizedScan {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiltScan: rows={}, ", self.statistics.num_rows)?;
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for SizedScan {
    fn name(&self) -> &str {
        "SiltScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "a silt scan has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(match args.partition() {
            None => self.statistics.clone(),
            Some(_) => Arc::new(Statistics::new_unknown(&self.schema())),
        })
    }
}

/// The names of a schema's columns, in order.
pub(crate) fn column_names(schema: &arrow_schema::Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}
