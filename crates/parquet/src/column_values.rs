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
use silt_log::column_rules::{ColumnRule, ColumnRuleError, IdentitySpec, column_rules};
use silt_log::expr::{Expr, ExprError, PredicateError};
use silt_log::schema::StructType;
use silt_log::{Metadata, Protocol};

/// Evaluates SQL expressions over batches whose columns carry the table's
/// logical names.
pub trait ExpressionEvaluator: Send + Sync + std::fmt::Debug {
    /// The expression's value for every row of `batch`.
    fn evaluate(&self, sql: &str, batch: &RecordBatch) -> Result<ArrayRef, EvaluationError>;
}

/// An [`ExpressionEvaluator`] could not evaluate an expression: it does
/// not compile or fails on the rows. The expression or the rows are at
/// fault, so retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvaluationError {
    /// The SQL expression.
    pub sql: String,
    /// The evaluator's explanation.
    pub message: String,
}

impl EvaluationError {
    /// An error evaluating `sql`, explained by `message`.
    pub fn new(sql: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            message: message.into(),
        }
    }
}

/// Why a CHECK constraint is not a silt predicate (so it needs SQL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAPredicate {
    /// It does not parse as a predicate.
    #[error(transparent)]
    Parse(#[from] PredicateError),
    /// It parses but does not fit the schema.
    #[error(transparent)]
    Schema(#[from] ExprError),
}

/// Rows that break the table's data rules, or rules that cannot be
/// applied. The rows or the table's definition are at fault (or a SQL
/// engine is missing), so retrying the same write cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowRuleError {
    /// A rule needs SQL and no [`ExpressionEvaluator`] was given.
    #[error("{rule} ({sql}) cannot be evaluated without a SQL engine (silt-sql): {reason}")]
    CheckNeedsSqlEngine {
        /// The rule (`constraint c`, an invariant).
        rule: String,
        /// Its SQL.
        sql: String,
        /// Why silt's own predicates cannot evaluate it.
        #[source]
        reason: NotAPredicate,
    },
    /// A generated or default column and no [`ExpressionEvaluator`].
    #[error(
        "column {column:?} is a generated or default column; writing it needs a SQL engine (use silt-sql, or pass an ExpressionEvaluator)"
    )]
    ComputedColumnNeedsSqlEngine {
        /// The column.
        column: String,
    },
    /// An expression to evaluate and no [`ExpressionEvaluator`].
    #[error("evaluating {sql} needs a SQL engine")]
    NoSqlEngine {
        /// The expression.
        sql: String,
    },
    /// The table's column rules are malformed.
    #[error(transparent)]
    ColumnRule(#[from] ColumnRuleError),
    /// A ruled column the schema does not have.
    #[error("column {column:?} is not in the schema")]
    UnknownColumn {
        /// The column.
        column: String,
    },
    /// An identity column ran out of values.
    #[error("identity column {column:?}: {source}")]
    Identity {
        /// The column.
        column: String,
        /// Why.
        #[source]
        source: ColumnRuleError,
    },
    /// Values given for a `GENERATED ALWAYS` identity column.
    #[error(
        "column {column:?} is GENERATED ALWAYS AS IDENTITY; {rows} rows give it a value (omit the column)"
    )]
    ExplicitIdentity {
        /// The column.
        column: String,
        /// Rows with a value.
        rows: usize,
    },
    /// A default whose value does not fit its column.
    #[error("the default of column {column:?} ({sql}) is not a {arrow_type}: {source}")]
    DefaultType {
        /// The column.
        column: String,
        /// The default's SQL.
        sql: String,
        /// The column's Arrow type.
        arrow_type: String,
        /// The cast's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A generation expression whose value does not fit its column.
    #[error("generated column {column:?} ({sql}) does not give a {arrow_type}: {source}")]
    GeneratedType {
        /// The column.
        column: String,
        /// The generation expression.
        sql: String,
        /// The column's Arrow type.
        arrow_type: String,
        /// The cast's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// Given values of a generated column that differ from the expression.
    #[error(
        "generated column {column:?} must equal {sql}, but {rows} rows give another value; omit the column to have it computed"
    )]
    GeneratedMismatch {
        /// The column.
        column: String,
        /// The generation expression.
        sql: String,
        /// Rows that differ.
        rows: usize,
    },
    /// Nulls in a NOT NULL column.
    #[error("column {column:?} is NOT NULL but {rows} rows are null")]
    NullInNotNull {
        /// The column.
        column: String,
        /// Null rows.
        rows: usize,
    },
    /// A NOT NULL column missing from the data.
    #[error("column {column:?} is NOT NULL but the data does not have it")]
    NotNullColumnMissing {
        /// The column.
        column: String,
    },
    /// A SQL check that does not give booleans.
    #[error("{rule} ({sql}) is not a boolean")]
    NotBoolean {
        /// The rule.
        rule: String,
        /// Its SQL.
        sql: String,
    },
    /// Rows that violate a CHECK constraint or invariant.
    #[error("{rule} ({sql}) is violated by {rows} rows; nothing was committed")]
    CheckViolated {
        /// The rule.
        rule: String,
        /// Its SQL.
        sql: String,
        /// Violating rows.
        rows: usize,
    },
    /// An evaluator that gave the wrong number of values.
    #[error("{sql} gave {values} values for {rows} rows")]
    WrongLength {
        /// The expression.
        sql: String,
        /// Values given.
        values: usize,
        /// Rows in the batch.
        rows: usize,
    },
    /// The evaluator failed.
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
    /// A predicate check failed to evaluate.
    #[error(transparent)]
    Filter(#[from] crate::filter::FilterError),
    /// Arrow refused the rows (casts, comparisons, batch building).
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
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
    ) -> Result<Arc<Self>, RowRuleError> {
        let mut rules = RowRules {
            evaluator,
            new_rows,
            ..Default::default()
        };
        for c in silt_log::constraints::table_checks(protocol, metadata) {
            let eval = match c
                .predicate
                .map_err(NotAPredicate::from)
                .and_then(|e| e.validate(schema).map(|_| e).map_err(NotAPredicate::from))
            {
                Ok(e) => CheckEval::Predicate(e),
                Err(reason) if rules.evaluator.is_none() => {
                    return Err(RowRuleError::CheckNeedsSqlEngine {
                        rule: c.name,
                        sql: c.sql,
                        reason,
                    });
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
                .ok_or_else(|| RowRuleError::UnknownColumn {
                    column: r.name.clone(),
                })?;
            match r.rule {
                ColumnRule::Identity(spec) => rules.identity.push(IdentityColumn {
                    index,
                    first: spec.first_free().map_err(|source| RowRuleError::Identity {
                        column: r.name.clone(),
                        source,
                    })?,
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
            return Err(RowRuleError::ComputedColumnNeedsSqlEngine {
                column: schema.fields[*i].name.clone(),
            });
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
    ) -> Result<(), RowRuleError> {
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
                        columns[*i] =
                            strict_cast(&v, &want).map_err(|source| RowRuleError::DefaultType {
                                column: name.clone(),
                                sql: sql.clone(),
                                arrow_type: want.to_string(),
                                source,
                            })?;
                    }
                }
                Fill::Generated(sql) => {
                    let v = self.evaluate(sql, schema, columns)?;
                    let v =
                        strict_cast(&v, &want).map_err(|source| RowRuleError::GeneratedType {
                            column: name.clone(),
                            sql: sql.clone(),
                            arrow_type: want.to_string(),
                            source,
                        })?;
                    let given = &columns[*i];
                    if given.null_count() == given.len() {
                        columns[*i] = v;
                    } else {
                        // Given values must equal the expression (null-safe);
                        // nulls are filled.
                        let same = arrow_ord::cmp::not_distinct(given, &v)?;
                        let wrong = (0..rows)
                            .filter(|&r| !given.is_null(r) && !same.value(r))
                            .count();
                        if wrong > 0 {
                            return Err(RowRuleError::GeneratedMismatch {
                                column: name.clone(),
                                sql: sql.clone(),
                                rows: wrong,
                            });
                        }
                        columns[*i] = arrow_select::zip::zip(
                            &arrow_arith::boolean::is_null(given)?,
                            &v,
                            given,
                        )?;
                    }
                }
            }
        }
        for ((f, c), had) in schema.fields.iter().zip(columns.iter()).zip(present) {
            if !f.nullable && c.null_count() > 0 {
                return Err(if *had {
                    RowRuleError::NullInNotNull {
                        column: f.name.clone(),
                        rows: c.null_count(),
                    }
                } else {
                    RowRuleError::NotNullColumnMissing {
                        column: f.name.clone(),
                    }
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
    ) -> Result<Self, RowRuleError> {
        let eval = match silt_log::expr::parse_predicate(sql)
            .map_err(NotAPredicate::from)
            .and_then(|e| e.validate(schema).map(|_| e).map_err(NotAPredicate::from))
        {
            Ok(e) => CheckEval::Predicate(e),
            Err(reason) if evaluator.is_none() => {
                return Err(RowRuleError::CheckNeedsSqlEngine {
                    rule: format!("constraint {name}"),
                    sql: sql.to_string(),
                    reason,
                });
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
    pub(crate) fn check(
        &self,
        schema: &StructType,
        columns: &[ArrayRef],
    ) -> Result<(), RowRuleError> {
        if !self.checks.is_empty() {
            let batch = logical_batch(schema, columns)?;
            for check in &self.checks {
                let mask: BooleanArray = match &check.eval {
                    CheckEval::Predicate(e) => crate::filter::evaluate(e, schema, &batch)?,
                    CheckEval::Sql => {
                        let v = self.evaluate(&check.sql, schema, columns)?;
                        v.as_boolean_opt()
                            .ok_or_else(|| RowRuleError::NotBoolean {
                                rule: check.name.clone(),
                                sql: check.sql.clone(),
                            })?
                            .clone()
                    }
                };
                // A NULL result passes, as in SQL CHECK constraints.
                let violations = (0..mask.len())
                    .filter(|i| mask.is_valid(*i) && !mask.value(*i))
                    .count();
                if violations > 0 {
                    return Err(RowRuleError::CheckViolated {
                        rule: check.name.clone(),
                        sql: check.sql.clone(),
                        rows: violations,
                    });
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
    ) -> Result<ArrayRef, RowRuleError> {
        let evaluator = self
            .evaluator
            .as_ref()
            .ok_or_else(|| RowRuleError::NoSqlEngine {
                sql: sql.to_string(),
            })?;
        let batch = logical_batch(schema, columns)?;
        let v = evaluator.evaluate(sql, &batch)?;
        if v.len() != batch.num_rows() {
            return Err(RowRuleError::WrongLength {
                sql: sql.to_string(),
                values: v.len(),
                rows: batch.num_rows(),
            });
        }
        Ok(v)
    }

    fn identity_values(
        &self,
        c: &IdentityColumn,
        given: &ArrayRef,
        rows: usize,
    ) -> Result<ArrayRef, RowRuleError> {
        let missing = given.null_count();
        if self.new_rows && !c.spec.allow_explicit_insert && missing < rows {
            return Err(RowRuleError::ExplicitIdentity {
                column: c.name.clone(),
                rows: rows - missing,
            });
        }
        if missing == 0 {
            return Ok(given.clone());
        }
        let base = c.used.fetch_add(missing as u64, Ordering::AcqRel);
        let given64 = arrow_cast::cast(given, &arrow_schema::DataType::Int64)?;
        let given64 = given64.as_primitive::<Int64Type>();
        let mut k = base;
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            if given64.is_null(r) {
                out.push(
                    c.spec
                        .nth(c.first, k)
                        .map_err(|source| RowRuleError::Identity {
                            column: c.name.clone(),
                            source,
                        })?,
                );
                k += 1;
            } else {
                out.push(given64.value(r));
            }
        }
        let values: ArrayRef = Arc::new(Int64Array::from(out));
        Ok(arrow_cast::cast(&values, given.data_type())?)
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
) -> Result<RecordBatch, arrow_schema::ArrowError> {
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
}
