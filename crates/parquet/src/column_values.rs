//! The rules every written row must satisfy, applied batch by batch before
//! encoding: column defaults fill omitted columns, identity columns get
//! unique values (`start + k·step` beyond the high-water mark, allocated
//! across encoding threads from one counter), generated columns are
//! computed where missing and verified where given, then NOT NULL and CHECK
//! constraints are checked. SQL expressions (generation expressions,
//! defaults, constraints silt's predicates cannot express) are evaluated
//! through an [`ExpressionEvaluator`] the caller supplies (silt-sql has one
//! backed by DataFusion); without one such a table refuses the write.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch};
use arrow_schema::{Field, Schema};
use silt_log::column_rules::{ColumnRule, IdentitySpec, column_rules};
use silt_log::expr::Expr;
use silt_log::schema::StructType;
use silt_log::{Metadata, Protocol};

/// Evaluates SQL expressions over batches whose columns carry the table's
/// logical names.
pub trait ExpressionEvaluator: Send + Sync + std::fmt::Debug {
    /// The expression's value for every row of `batch`.
    fn evaluate(&self, sql: &str, batch: &RecordBatch) -> Result<ArrayRef, String>;
}

/// How a CHECK constraint or invariant is evaluated.
#[derive(Debug, Clone)]
enum CheckEval {
    /// As a silt predicate.
    Predicate(Expr),
    /// As SQL through the evaluator.
    Sql,
}

#[derive(Debug)]
struct Check {
    name: String,
    sql: String,
    eval: CheckEval,
}

#[derive(Debug)]
struct IdentityColumn {
    index: usize,
    name: String,
    spec: IdentitySpec,
    first: i64,
    used: AtomicU64,
}

#[derive(Debug)]
enum Fill {
    Default(String),
    Generated(String),
}

/// The data rules of one write.
#[derive(Debug, Default)]
pub(crate) struct RowRules {
    checks: Vec<Check>,
    identity: Vec<IdentityColumn>,
    /// (schema index, rule) for defaults and generated columns, in schema
    /// order (defaults before generated columns that may use them).
    fills: Vec<(usize, Fill)>,
    evaluator: Option<Arc<dyn ExpressionEvaluator>>,
    /// Rows are new (appends, inserts): explicit values in `GENERATED
    /// ALWAYS` identity columns are refused. Otherwise (rows carried over by
    /// DML) existing identity values are kept and only nulls are filled.
    new_rows: bool,
}

impl RowRules {
    /// No rules: rows copied unchanged from valid files.
    pub(crate) fn none() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The table's rules for rows of `schema`. A rule that needs SQL when
    /// there is no evaluator refuses the write here, before any file is
    /// written.
    pub(crate) fn for_table(
        protocol: &Protocol,
        metadata: &Metadata,
        schema: &StructType,
        evaluator: Option<Arc<dyn ExpressionEvaluator>>,
        new_rows: bool,
    ) -> Result<Arc<Self>, String> {
        let mut rules = RowRules {
            evaluator,
            new_rows,
            ..Default::default()
        };
        for c in silt_log::constraints::table_checks(protocol, metadata) {
            let eval = match c
                .predicate
                .map_err(|e| e.to_string())
                .and_then(|e| e.validate(schema).map(|_| e))
            {
                Ok(e) => CheckEval::Predicate(e),
                Err(e) if rules.evaluator.is_none() => {
                    return Err(format!(
                        "{} ({}) cannot be evaluated without a SQL engine (silt-sql): {e}",
                        c.name, c.sql
                    ));
                }
                Err(_) => CheckEval::Sql,
            };
            rules.checks.push(Check {
                name: c.name,
                sql: c.sql,
                eval,
            });
        }
        for r in column_rules(protocol, schema)? {
            let index = schema
                .fields
                .iter()
                .position(|f| f.name == r.name)
                .ok_or_else(|| format!("column {:?} is not in the schema", r.name))?;
            match r.rule {
                ColumnRule::Identity(spec) => rules.identity.push(IdentityColumn {
                    index,
                    first: spec
                        .first_free()
                        .map_err(|e| format!("identity column {:?}: {e}", r.name))?,
                    name: r.name,
                    spec,
                    used: AtomicU64::new(0),
                }),
                ColumnRule::Default(sql) => rules.fills.push((index, Fill::Default(sql))),
                ColumnRule::Generated(sql) => rules.fills.push((index, Fill::Generated(sql))),
            }
        }
        if rules.evaluator.is_none()
            && let Some((i, _)) = rules.fills.first()
        {
            return Err(format!(
                "column {:?} is a generated or default column; writing it needs a SQL engine (use silt-sql, or pass an ExpressionEvaluator)",
                schema.fields[*i].name
            ));
        }
        // Defaults first: generation expressions may read defaulted columns.
        rules
            .fills
            .sort_by_key(|(i, f)| (matches!(f, Fill::Generated(_)), *i));
        Ok(Arc::new(rules))
    }

    /// The identity high-water marks after this write: (column, mark), for
    /// columns that handed out values.
    pub(crate) fn high_water_marks(&self) -> Vec<(String, i64)> {
        self.identity
            .iter()
            .filter_map(|c| {
                let used = c.used.load(Ordering::Acquire);
                let last = used.checked_sub(1)?;
                c.spec.nth(c.first, last).ok().map(|v| (c.name.clone(), v))
            })
            .collect()
    }

    /// Fills and checks one batch. `columns` are in table order, conformed
    /// to the table's types; `present[i]` says whether the input had column
    /// i.
    pub(crate) fn apply(
        &self,
        schema: &StructType,
        columns: &mut [ArrayRef],
        present: &[bool],
    ) -> Result<(), String> {
        let rows = columns.first().map_or(0, |c| c.len());
        for c in &self.identity {
            columns[c.index] = self.identity_values(c, &columns[c.index], rows)?;
        }
        for (i, fill) in &self.fills {
            let name = &schema.fields[*i].name;
            let want = columns[*i].data_type().clone();
            match fill {
                Fill::Default(sql) => {
                    if !present[*i] {
                        let v = self.evaluate(sql, schema, columns)?;
                        columns[*i] = strict_cast(&v, &want).map_err(|e| {
                            format!("the default of column {name:?} ({sql}) is not a {want}: {e}")
                        })?;
                    }
                }
                Fill::Generated(sql) => {
                    let v = self.evaluate(sql, schema, columns)?;
                    let v = strict_cast(&v, &want).map_err(|e| {
                        format!("generated column {name:?} ({sql}) does not give a {want}: {e}")
                    })?;
                    let given = &columns[*i];
                    if given.null_count() == given.len() {
                        columns[*i] = v;
                    } else {
                        // Given values must equal the expression (null-safe);
                        // nulls are filled.
                        let same =
                            arrow_ord::cmp::not_distinct(given, &v).map_err(|e| e.to_string())?;
                        let wrong = (0..rows)
                            .filter(|&r| !given.is_null(r) && !same.value(r))
                            .count();
                        if wrong > 0 {
                            return Err(format!(
                                "generated column {name:?} must equal {sql}, but {wrong} rows give another value; omit the column to have it computed"
                            ));
                        }
                        columns[*i] = arrow_select::zip::zip(
                            &arrow_arith::boolean::is_null(given).map_err(|e| e.to_string())?,
                            &v,
                            given,
                        )
                        .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        for ((f, c), had) in schema.fields.iter().zip(columns.iter()).zip(present) {
            if !f.nullable && c.null_count() > 0 {
                return Err(if *had {
                    format!(
                        "column {:?} is NOT NULL but {} rows are null",
                        f.name,
                        c.null_count()
                    )
                } else {
                    format!(
                        "column {:?} is NOT NULL but the data does not have it",
                        f.name
                    )
                });
            }
        }
        self.check(schema, columns)
    }

    /// Rules holding only the CHECK constraint `name` (`sql`), to validate
    /// existing rows before the constraint is added.
    pub(crate) fn single_check(
        name: &str,
        sql: &str,
        schema: &StructType,
        evaluator: Option<Arc<dyn ExpressionEvaluator>>,
    ) -> Result<Self, String> {
        let eval = match silt_log::expr::parse_predicate(sql)
            .map_err(|e| e.to_string())
            .and_then(|e| e.validate(schema).map(|_| e))
        {
            Ok(e) => CheckEval::Predicate(e),
            Err(e) if evaluator.is_none() => {
                return Err(format!(
                    "constraint {name} ({sql}) cannot be evaluated without a SQL engine (silt-sql): {e}"
                ));
            }
            Err(_) => CheckEval::Sql,
        };
        Ok(RowRules {
            checks: vec![Check {
                name: format!("constraint {name}"),
                sql: sql.to_string(),
                eval,
            }],
            evaluator,
            ..Default::default()
        })
    }

    /// Checks CHECK constraints and invariants on rows (`columns` in table
    /// order).
    pub(crate) fn check(&self, schema: &StructType, columns: &[ArrayRef]) -> Result<(), String> {
        if !self.checks.is_empty() {
            let batch = logical_batch(schema, columns)?;
            for check in &self.checks {
                let mask: BooleanArray = match &check.eval {
                    CheckEval::Predicate(e) => crate::filter::evaluate(e, schema, &batch)?,
                    CheckEval::Sql => {
                        let v = self.evaluate(&check.sql, schema, columns)?;
                        v.as_boolean_opt()
                            .ok_or_else(|| {
                                format!("{} ({}) is not a boolean", check.name, check.sql)
                            })?
                            .clone()
                    }
                };
                // A NULL result passes, as in SQL CHECK constraints.
                let violations = (0..mask.len())
                    .filter(|i| mask.is_valid(*i) && !mask.value(*i))
                    .count();
                if violations > 0 {
                    return Err(format!(
                        "{} ({}) is violated by {violations} rows; nothing was committed",
                        check.name, check.sql
                    ));
                }
            }
        }
        Ok(())
    }

    fn evaluate(
        &self,
        sql: &str,
        schema: &StructType,
        columns: &[ArrayRef],
    ) -> Result<ArrayRef, String> {
        let evaluator = self
            .evaluator
            .as_ref()
            .ok_or_else(|| format!("evaluating {sql} needs a SQL engine"))?;
        let batch = logical_batch(schema, columns)?;
        let v = evaluator.evaluate(sql, &batch)?;
        if v.len() != batch.num_rows() {
            return Err(format!(
                "{sql} gave {} values for {} rows",
                v.len(),
                batch.num_rows()
            ));
        }
        Ok(v)
    }

    fn identity_values(
        &self,
        c: &IdentityColumn,
        given: &ArrayRef,
        rows: usize,
    ) -> Result<ArrayRef, String> {
        let missing = given.null_count();
        if self.new_rows && !c.spec.allow_explicit_insert && missing < rows {
            return Err(format!(
                "column {:?} is GENERATED ALWAYS AS IDENTITY; {} rows give it a value (omit the column)",
                c.name,
                rows - missing
            ));
        }
        if missing == 0 {
            return Ok(given.clone());
        }
        let base = c.used.fetch_add(missing as u64, Ordering::AcqRel);
        let given64 =
            arrow_cast::cast(given, &arrow_schema::DataType::Int64).map_err(|e| e.to_string())?;
        let given64 = given64.as_primitive::<Int64Type>();
        let mut k = base;
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            if given64.is_null(r) {
                out.push(
                    c.spec
                        .nth(c.first, k)
                        .map_err(|e| format!("identity column {:?}: {e}", c.name))?,
                );
                k += 1;
            } else {
                out.push(given64.value(r));
            }
        }
        let values: ArrayRef = Arc::new(Int64Array::from(out));
        arrow_cast::cast(&values, given.data_type()).map_err(|e| e.to_string())
    }
}

/// A cast that fails on values the target type cannot hold (rather than
/// turning them into NULL).
fn strict_cast(
    v: &ArrayRef,
    to: &arrow_schema::DataType,
) -> Result<ArrayRef, arrow_schema::ArrowError> {
    let options = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow_cast::cast_with_options(v, to, &options)
}

/// A batch of `columns` named by the table's logical names.
pub(crate) fn logical_batch(
    schema: &StructType,
    columns: &[ArrayRef],
) -> Result<RecordBatch, String> {
    RecordBatch::try_new(
        Arc::new(Schema::new(
            schema
                .fields
                .iter()
                .zip(columns)
                .map(|(f, c)| Field::new(&f.name, c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        )),
        columns.to_vec(),
    )
    .map_err(|e| e.to_string())
}
