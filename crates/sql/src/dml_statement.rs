//! DELETE, UPDATE and MERGE statements on silt tables, planned by silt from
//! DataFusion's logical plan before DataFusion optimizes it.
//!
//! DataFusion's own DML path hands a table provider only what it can push
//! down: the target's filters (a subquery in the WHERE clause is lost) and,
//! for MERGE, a physical source planned without its distribution passes.
//! Here the statement's whole input plan is kept: the target's scan in it
//! is replaced by the positioned scan of [`crate::dml`], and the plan that
//! names the changed rows is optimized and run by DataFusion as any query,
//! so subqueries, joins and aggregates mean what they mean in a SELECT.
//! [`DmlGuard`] refuses the statements DataFusion's own path would get
//! wrong, for callers who bypass [`crate::SiltSession::sql`].

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::{TableProvider, TableType, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::logical_plan::dml::{DmlStatement, WriteOp};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, TableSource};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Statement, UpdateTableFromKind};

use crate::dml::{self, ChangedRows, DmlMetrics, DmlTarget, MergeSource, MetricsFuture};
use crate::filters;
use crate::table::DeltaTable;

/// `UPDATE t SET … FROM s WHERE c` as `MERGE INTO t USING s ON c WHEN
/// MATCHED THEN UPDATE SET …` (`ON TRUE` without WHERE): the same rows
/// change, and a target row that two source rows match is refused, as in
/// MERGE. `None` for other statements and for forms MERGE cannot express
/// (several FROM tables, joins in FROM, RETURNING, LIMIT, ORDER BY).
pub(crate) fn update_from_as_merge(statement: &Statement) -> Option<String> {
    let Statement::Update(u) = statement else {
        return None;
    };
    let from = match u.from.as_ref()? {
        UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f) => f,
    };
    let [source] = from.as_slice() else {
        return None;
    };
    if !source.joins.is_empty()
        || !u.table.joins.is_empty()
        || u.returning.is_some()
        || u.output.is_some()
        || u.limit.is_some()
        || !u.order_by.is_empty()
        || u.or.is_some()
    {
        return None;
    }
    let on = u
        .selection
        .as_ref()
        .map_or_else(|| "TRUE".to_string(), |e| e.to_string());
    let sets: Vec<String> = u.assignments.iter().map(|a| a.to_string()).collect();
    Some(format!(
        "MERGE INTO {} USING {} ON {on} WHEN MATCHED THEN UPDATE SET {}",
        u.table.relation,
        source.relation,
        sets.join(", ")
    ))
}

/// The silt table a DML statement writes, if it writes one.
fn delta_target(target: &Arc<dyn TableSource>) -> Option<Arc<dyn TableProvider>> {
    let provider = source_as_provider(target).ok()?;
    provider.downcast_ref::<DeltaTable>()?;
    Some(provider)
}

fn has_subquery(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(
            e,
            Expr::Exists(_) | Expr::InSubquery(_) | Expr::ScalarSubquery(_)
        ))
    })
    .unwrap_or(true)
}

/// The qualifier of the target's columns in `input`: the alias over its
/// scan, else the scan's name.
fn target_qualifier(input: &LogicalPlan, table: &TableReference) -> Option<TableReference> {
    let mut found = None;
    let _ = input.apply(|node| {
        match node {
            LogicalPlan::SubqueryAlias(a) => {
                if let LogicalPlan::TableScan(scan) = a.input.as_ref()
                    && scan.table_name.resolved_eq(table)
                {
                    found = Some(a.alias.clone());
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            LogicalPlan::TableScan(scan) if scan.table_name.resolved_eq(table) => {
                found = Some(scan.table_name.clone());
                return Ok(TreeNodeRecursion::Stop);
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// `input` with the first scan of `table` replaced by `scan`, and every
/// schema above it recomputed (the positioned scan has more columns).
fn replace_target_scan(
    input: LogicalPlan,
    table: &TableReference,
    scan: LogicalPlan,
) -> Result<LogicalPlan> {
    let mut scan = Some(scan);
    let replaced = input.transform_down(|node| match node {
        LogicalPlan::TableScan(s) if s.table_name.resolved_eq(table) && scan.is_some() => {
            // `scan` is Some: checked in the guard.
            Ok(Transformed::new(
                scan.take().unwrap_or(LogicalPlan::TableScan(s)),
                true,
                TreeNodeRecursion::Jump,
            ))
        }
        other => Ok(Transformed::no(other)),
    })?;
    if scan.is_some() {
        return Err(DataFusionError::Plan(format!(
            "the statement does not scan its target {table}"
        )));
    }
    replaced
        .data
        .transform_up(|node| node.recompute_schema().map(Transformed::yes))
        .map(|t| t.data)
}

/// The WHERE condition of an UPDATE or DELETE input (below its projection
/// and limit).
fn where_condition(body: &LogicalPlan) -> Option<&Expr> {
    match body {
        LogicalPlan::Filter(f) => Some(&f.predicate),
        LogicalPlan::Limit(l) => where_condition(&l.input),
        _ => None,
    }
}

/// The conjuncts of `condition` on the target's columns alone, as a silt
/// predicate for file pruning.
fn pruning_predicate(
    condition: Option<&Expr>,
    target: &TableReference,
    table: &DmlTarget,
) -> Result<Option<silt_log::expr::Expr>> {
    let Some(condition) = condition else {
        return Ok(None);
    };
    let mut on_target = Vec::new();
    for conjunct in split_conjunction(condition) {
        if has_subquery(conjunct) {
            continue;
        }
        let only_target = conjunct
            .column_refs()
            .iter()
            .all(|c| c.relation.as_ref() == Some(target));
        if only_target {
            on_target.push(dml::strip_qualifiers(conjunct.clone())?);
        }
    }
    Ok(filters::conjunction(
        &on_target,
        table.snapshot.metadata().schema(),
    ))
}

/// Plans a DELETE or UPDATE from its unoptimized input.
async fn row_statement(
    table: DmlTarget,
    state: SessionState,
    table_name: &TableReference,
    input: LogicalPlan,
    is_update: bool,
) -> Result<MetricsFuture> {
    let target = target_qualifier(&input, table_name).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "the statement does not scan its target {table_name}"
        ))
    })?;
    let (body, assignments) = match input {
        LogicalPlan::Projection(p) if is_update => (p.input.as_ref().clone(), Some(p.expr)),
        other if !is_update => (other, None),
        _ => {
            return Err(DataFusionError::Plan(
                "UPDATE: DataFusion planned no projection of new values".into(),
            ));
        }
    };
    let unconditional_delete = !is_update
        && match &body {
            LogicalPlan::TableScan(_) => true,
            LogicalPlan::SubqueryAlias(a) => matches!(a.input.as_ref(), LogicalPlan::TableScan(_)),
            _ => false,
        };
    if unconditional_delete {
        return Ok(Box::pin(dml::delete_all(table.snapshot)));
    }
    let pruning = pruning_predicate(where_condition(&body), &target, &table)?;
    let names = crate::exec::column_names(&table.schema);
    let table_name = table_name.clone();
    dml::row_work(table, state, table_name.clone(), pruning, move |scan| {
        let plan = replace_target_scan(body, &table_name, scan)?;
        let new_values = match assignments {
            Some(exprs) => {
                if exprs.len() != names.len() {
                    return Err(DataFusionError::Plan(format!(
                        "UPDATE: {} values for {} columns",
                        exprs.len(),
                        names.len()
                    )));
                }
                let values = exprs
                    .into_iter()
                    .zip(&names)
                    .map(|(e, name)| {
                        let e = match e {
                            Expr::Alias(a) => *a.expr,
                            other => other,
                        };
                        match &e {
                            // The column itself: not assigned.
                            Expr::Column(c) if c.name == *name => None,
                            _ => Some(e),
                        }
                    })
                    .collect();
                Some(values)
            }
            None => None,
        };
        Ok(ChangedRows {
            plan,
            target,
            new_values,
        })
    })
    .await
}

/// Plans `plan` when it is a DELETE, UPDATE or MERGE on a silt table; the
/// DataFrame runs the statement when collected and returns its metrics.
pub(crate) async fn plan_dml(
    ctx: &SessionContext,
    state: &SessionState,
    plan: &LogicalPlan,
) -> Result<Option<DataFrame>> {
    let LogicalPlan::Dml(DmlStatement {
        table_name,
        target,
        op,
        input,
        ..
    }) = plan
    else {
        return Ok(None);
    };
    if !matches!(
        op,
        WriteOp::Delete | WriteOp::Update | WriteOp::MergeInto(_)
    ) {
        return Ok(None);
    }
    let Some(provider) = delta_target(target) else {
        return Ok(None);
    };
    let Some(table) = provider.downcast_ref::<DeltaTable>() else {
        return Ok(None);
    };
    let input = input.as_ref().clone();
    let table = table.dml_target().await?;
    let work = match op {
        WriteOp::MergeInto(merge) => {
            let target_schema =
                DFSchema::try_from_qualified_schema(table_name.clone(), &target.schema())?;
            let merge_schema = Arc::new(target_schema.join(input.schema())?);
            dml::merge_work(
                table,
                state.clone(),
                MergeSource::Logical(input),
                merge_schema,
                merge.on.clone(),
                merge.clauses.clone(),
            )
            .await?
        }
        WriteOp::Update => row_statement(table, state.clone(), table_name, input, true).await?,
        _ => row_statement(table, state.clone(), table_name, input, false).await?,
    };
    let planned = PlannedStatement {
        work: Mutex::new(Some(work)),
    };
    Ok(Some(ctx.read_table(Arc::new(planned))?))
}

/// A planned DML statement as a one-row table of its metrics: reading it
/// runs the statement (once).
struct PlannedStatement {
    work: Mutex<Option<MetricsFuture>>,
}

impl fmt::Debug for PlannedStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlannedStatement")
    }
}

#[async_trait]
impl TableProvider for PlannedStatement {
    fn schema(&self) -> SchemaRef {
        DmlMetrics::schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let work = self
            .work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| DataFusionError::Execution("a DML statement's plan runs once".into()))?;
        dml::deferred_columns(work, projection)
    }
}

/// Refuses an UPDATE or DELETE on a silt table that DataFusion's own DML
/// path would run wrong: it passes a table provider only the filters on
/// the target, so a subquery or a joined table in the statement would be
/// dropped from its condition. [`crate::SiltSession::sql`] plans such
/// statements itself and never reaches this rule.
#[derive(Debug, Default)]
pub(crate) struct DmlGuard;

impl AnalyzerRule for DmlGuard {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        if let LogicalPlan::Dml(d) = &plan
            && matches!(d.op, WriteOp::Update | WriteOp::Delete)
            && delta_target(&d.target).is_some()
        {
            let mut scans = 0;
            let mut unsupported = false;
            d.input.apply(|node| {
                match node {
                    LogicalPlan::TableScan(_) => scans += 1,
                    LogicalPlan::Projection(_)
                    | LogicalPlan::Filter(_)
                    | LogicalPlan::SubqueryAlias(_)
                    | LogicalPlan::Limit(_) => {}
                    _ => unsupported = true,
                }
                if node.expressions().iter().any(has_subquery) {
                    unsupported = true;
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
            if unsupported || scans != 1 {
                return Err(DataFusionError::Plan(format!(
                    "{} on silt table {} with a subquery or another table: run it through SiltSession::sql",
                    d.op, d.table_name
                )));
            }
        }
        Ok(plan)
    }

    fn name(&self) -> &str {
        "silt_dml_guard"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rewrite(sql: &str) -> Option<String> {
        let statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
        update_from_as_merge(&statements[0])
    }

    #[test]
    fn update_from_reads_as_a_merge() {
        assert_eq!(
            rewrite("UPDATE t AS x SET v = u.v, n = x.n + 1 FROM (SELECT id, max(v) AS v FROM s GROUP BY id) AS u WHERE x.id = u.id AND x.n > 2")
                .as_deref(),
            Some(
                "MERGE INTO t AS x USING (SELECT id, max(v) AS v FROM s GROUP BY id) AS u ON x.id = u.id AND x.n > 2 \
                 WHEN MATCHED THEN UPDATE SET v = u.v, n = x.n + 1"
            )
        );
        assert_eq!(
            rewrite("UPDATE t SET v = s.v FROM s").as_deref(),
            Some("MERGE INTO t USING s ON TRUE WHEN MATCHED THEN UPDATE SET v = s.v")
        );
        // Plain UPDATE, several FROM tables, joins: not rewritten.
        assert_eq!(rewrite("UPDATE t SET v = 1 WHERE id = 2"), None);
        assert_eq!(
            rewrite("UPDATE t SET v = a.v FROM a, b WHERE a.id = t.id"),
            None
        );
        assert_eq!(
            rewrite("UPDATE t SET v = a.v FROM a JOIN b ON a.id = b.id WHERE a.id = t.id"),
            None
        );
    }
}
