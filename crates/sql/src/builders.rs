//! Programmatic DELETE, UPDATE and MERGE for Rust callers. Each builder
//! renders one SQL statement (conditions and values are SQL expressions)
//! and runs it through the same DataFusion planning and silt commit path as
//! `SiltSession::sql`, so both ways behave identically. A MERGE source is a
//! DataFusion `DataFrame`, registered for the statement under a private name.

use datafusion::dataframe::DataFrame;

use crate::error::{SqlError, SqlResult};
use crate::metrics::DmlMetrics;
use crate::session::{PATH_SCHEMA, SiltSession};
use crate::statement_error::StatementError;

/// `name` as a table reference: a registered name as is, a path or URI as
/// `delta.'path'`.
fn table_ref(name: &str) -> String {
    if name.contains('/') || name.contains(':') || name.contains('\\') {
        format!("{PATH_SCHEMA}.'{}'", name.replace('\'', "''"))
    } else {
        name.to_string()
    }
}

fn assignments(sets: &[(&str, &str)]) -> String {
    sets.iter()
        .map(|(c, v)| format!("\"{}\" = {v}", c.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn condition(pred: Option<&str>) -> String {
    pred.map(|p| format!(" AND ({p})")).unwrap_or_default()
}

async fn run_count(session: &SiltSession, sql: &str) -> SqlResult<DmlMetrics> {
    let out = session.run(sql).await?;
    let Some(batch) = out.first() else {
        return Err(SqlError::InvalidStatement {
            statement: sql.to_string(),
            problem: Box::new(StatementError::NoMetrics),
        });
    };
    Ok(DmlMetrics::from_batch(batch)?)
}

/// `DELETE FROM target [WHERE predicate]`.
#[must_use = "a builder does nothing until `execute` is awaited"]
pub struct DeleteBuilder<'a> {
    session: &'a SiltSession,
    target: String,
    predicate: Option<String>,
}

impl<'a> DeleteBuilder<'a> {
    pub(crate) fn new(session: &'a SiltSession, target: &str) -> Self {
        Self {
            session,
            target: table_ref(target),
            predicate: None,
        }
    }

    /// Only rows where this SQL condition holds (all rows otherwise).
    pub fn predicate(mut self, sql: &str) -> Self {
        self.predicate = Some(sql.to_string());
        self
    }

    /// Runs the delete; returns what it did.
    pub async fn execute(self) -> SqlResult<DmlMetrics> {
        let mut sql = format!("DELETE FROM {}", self.target);
        if let Some(p) = &self.predicate {
            sql.push_str(&format!(" WHERE {p}"));
        }
        run_count(self.session, &sql).await
    }
}

/// `UPDATE target SET … [WHERE predicate]`.
#[must_use = "a builder does nothing until `execute` is awaited"]
pub struct UpdateBuilder<'a> {
    session: &'a SiltSession,
    target: String,
    sets: Vec<(String, String)>,
    predicate: Option<String>,
}

impl<'a> UpdateBuilder<'a> {
    pub(crate) fn new(session: &'a SiltSession, target: &str) -> Self {
        Self {
            session,
            target: table_ref(target),
            sets: Vec::new(),
            predicate: None,
        }
    }

    /// Sets `column` to a SQL expression over the row.
    pub fn set(mut self, column: &str, value_sql: &str) -> Self {
        self.sets.push((column.to_string(), value_sql.to_string()));
        self
    }

    /// Only rows where this SQL condition holds (all rows otherwise).
    pub fn predicate(mut self, sql: &str) -> Self {
        self.predicate = Some(sql.to_string());
        self
    }

    /// Runs the update; returns what it did.
    pub async fn execute(self) -> SqlResult<DmlMetrics> {
        let sets: Vec<(&str, &str)> = self
            .sets
            .iter()
            .map(|(c, v)| (c.as_str(), v.as_str()))
            .collect();
        if sets.is_empty() {
            return Err(SqlError::InvalidStatement {
                statement: format!("UPDATE {}", self.target),
                problem: Box::new(StatementError::UpdateWithoutSet),
            });
        }
        let mut sql = format!("UPDATE {} SET {}", self.target, assignments(&sets));
        if let Some(p) = &self.predicate {
            sql.push_str(&format!(" WHERE {p}"));
        }
        run_count(self.session, &sql).await
    }
}

/// `MERGE INTO target USING source ON … WHEN …`, clauses in the order
/// they are added (the first that applies to a row wins).
#[must_use = "a builder does nothing until `execute` is awaited"]
pub struct MergeBuilder<'a> {
    session: &'a SiltSession,
    target: String,
    source: DataFrame,
    target_alias: String,
    source_alias: String,
    on: Option<String>,
    clauses: Vec<String>,
}

impl<'a> MergeBuilder<'a> {
    pub(crate) fn new(session: &'a SiltSession, target: &str, source: DataFrame) -> Self {
        Self {
            session,
            target: table_ref(target),
            source,
            target_alias: "target".into(),
            source_alias: "source".into(),
            on: None,
            clauses: Vec::new(),
        }
    }

    /// Names for the target and the source in conditions and values
    /// (default `target` and `source`).
    pub fn aliases(mut self, target: &str, source: &str) -> Self {
        self.target_alias = target.to_string();
        self.source_alias = source.to_string();
        self
    }

    /// The join condition.
    pub fn on(mut self, sql: &str) -> Self {
        self.on = Some(sql.to_string());
        self
    }

    /// `WHEN MATCHED [AND pred] THEN UPDATE SET …`.
    pub fn when_matched_update(mut self, pred: Option<&str>, sets: &[(&str, &str)]) -> Self {
        self.clauses.push(format!(
            "WHEN MATCHED{} THEN UPDATE SET {}",
            condition(pred),
            assignments(sets)
        ));
        self
    }

    /// `WHEN MATCHED [AND pred] THEN UPDATE SET *`: every target column
    /// from the source column of the same name.
    pub fn when_matched_update_all(mut self, pred: Option<&str>) -> Self {
        self.clauses
            .push(format!("WHEN MATCHED{} THEN UPDATE SET *", condition(pred)));
        self
    }

    /// `WHEN MATCHED [AND pred] THEN DELETE`.
    pub fn when_matched_delete(mut self, pred: Option<&str>) -> Self {
        self.clauses
            .push(format!("WHEN MATCHED{} THEN DELETE", condition(pred)));
        self
    }

    /// `WHEN NOT MATCHED [AND pred] THEN INSERT (columns) VALUES (values)`.
    pub fn when_not_matched_insert(mut self, pred: Option<&str>, values: &[(&str, &str)]) -> Self {
        let cols: Vec<String> = values
            .iter()
            .map(|(c, _)| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        let vals: Vec<&str> = values.iter().map(|(_, v)| *v).collect();
        self.clauses.push(format!(
            "WHEN NOT MATCHED{} THEN INSERT ({}) VALUES ({})",
            condition(pred),
            cols.join(", "),
            vals.join(", ")
        ));
        self
    }

    /// `WHEN NOT MATCHED [AND pred] THEN INSERT *`: every target column
    /// from the source column of the same name.
    pub fn when_not_matched_insert_all(mut self, pred: Option<&str>) -> Self {
        self.clauses
            .push(format!("WHEN NOT MATCHED{} THEN INSERT *", condition(pred)));
        self
    }

    /// `WHEN NOT MATCHED BY SOURCE [AND pred] THEN UPDATE SET …`.
    pub fn when_not_matched_by_source_update(
        mut self,
        pred: Option<&str>,
        sets: &[(&str, &str)],
    ) -> Self {
        self.clauses.push(format!(
            "WHEN NOT MATCHED BY SOURCE{} THEN UPDATE SET {}",
            condition(pred),
            assignments(sets)
        ));
        self
    }

    /// `WHEN NOT MATCHED BY SOURCE [AND pred] THEN DELETE`.
    pub fn when_not_matched_by_source_delete(mut self, pred: Option<&str>) -> Self {
        self.clauses.push(format!(
            "WHEN NOT MATCHED BY SOURCE{} THEN DELETE",
            condition(pred)
        ));
        self
    }

    /// Runs the merge; returns what it did.
    pub async fn execute(self) -> SqlResult<DmlMetrics> {
        let Some(on) = &self.on else {
            return Err(SqlError::InvalidStatement {
                statement: format!("MERGE INTO {}", self.target),
                problem: Box::new(StatementError::MergeWithoutOn),
            });
        };
        if self.clauses.is_empty() {
            return Err(SqlError::InvalidStatement {
                statement: format!("MERGE INTO {}", self.target),
                problem: Box::new(StatementError::MergeWithoutWhen),
            });
        }
        let view = format!("__silt_merge_source_{}", uuid_like());
        let ctx = self.session.context();
        ctx.register_table(view.as_str(), self.source.into_view())?;
        let sql = format!(
            "MERGE INTO {} AS {} USING {} AS {} ON {} {}",
            self.target,
            self.target_alias,
            view,
            self.source_alias,
            on,
            self.clauses.join(" ")
        );
        let result = run_count(self.session, &sql).await;
        ctx.deregister_table(view.as_str())?;
        result
    }
}

/// A name unique within the process.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl SiltSession {
    /// A DELETE on `target` (a registered name, or a path or URI).
    pub fn delete(&self, target: &str) -> DeleteBuilder<'_> {
        DeleteBuilder::new(self, target)
    }

    /// An UPDATE on `target` (a registered name, or a path or URI).
    pub fn update(&self, target: &str) -> UpdateBuilder<'_> {
        UpdateBuilder::new(self, target)
    }

    /// A MERGE of `source` into `target` (a registered name, or a path or URI).
    pub fn merge(&self, target: &str, source: DataFrame) -> MergeBuilder<'_> {
        MergeBuilder::new(self, target, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_path_references_and_quotes_are_escaped() {
        assert_eq!(table_ref("events"), "events");
        assert_eq!(table_ref("/lake/o'brien"), "delta.'/lake/o''brien'");
        assert_eq!(table_ref("s3://b/t"), "delta.'s3://b/t'");
        assert_eq!(assignments(&[("a\"b", "1")]), "\"a\"\"b\" = 1");
        assert_eq!(condition(Some("x > 1")), " AND (x > 1)");
    }
}
