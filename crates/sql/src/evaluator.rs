//! SQL expressions over record batches with DataFusion, for the data rules
//! silt-parquet applies while writing: generation expressions, column
//! defaults and CHECK constraints its own predicates cannot express.
//! Identifiers keep their case (Delta column names are case-preserving).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, RecordBatch};
use datafusion::common::DFSchema;
use datafusion::error::DataFusionError;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::tokenizer::TokenizerError;
use silt_parquet::{EvaluationError, ExpressionEvaluator};

/// Why an expression does not compile against a batch's schema. The
/// expression (or the table's definition holding it) is at fault, so
/// compiling it again cannot help; it reaches silt-parquet as the message
/// of an [`EvaluationError`].
#[derive(Debug, thiserror::Error)]
enum CompileError {
    /// The batch's schema is not one DataFusion can plan against.
    #[error("{0}")]
    Schema(#[source] DataFusionError),
    /// The text does not split into SQL tokens.
    #[error("cannot parse {sql}: {source}")]
    Tokenize {
        /// The expression.
        sql: String,
        /// The tokenizer's refusal.
        #[source]
        source: TokenizerError,
    },
    /// The text does not parse as an expression over the schema.
    #[error("cannot parse {sql}: {source}")]
    Parse {
        /// The expression.
        sql: String,
        /// DataFusion's refusal.
        #[source]
        source: DataFusionError,
    },
    /// The expression parses but cannot be planned (an unknown function,
    /// mismatched types).
    #[error("cannot evaluate {sql}: {source}")]
    Plan {
        /// The expression.
        sql: String,
        /// DataFusion's refusal.
        #[source]
        source: DataFusionError,
    },
}

/// An [`ExpressionEvaluator`] backed by DataFusion; parsed expressions are
/// cached per expression and input schema.
pub struct DataFusionEvaluator {
    ctx: SessionContext,
    cache: Mutex<HashMap<(String, String), Arc<dyn PhysicalExpr>>>,
}

impl std::fmt::Debug for DataFusionEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataFusionEvaluator")
    }
}

impl Default for DataFusionEvaluator {
    fn default() -> Self {
        let config = SessionConfig::new()
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
        Self {
            ctx: SessionContext::new_with_config(config),
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl DataFusionEvaluator {
    /// A shared evaluator.
    pub fn shared() -> Arc<dyn ExpressionEvaluator> {
        Arc::new(Self::default())
    }

    fn compile(
        &self,
        sql: &str,
        batch: &RecordBatch,
    ) -> Result<Arc<dyn PhysicalExpr>, CompileError> {
        let schema = batch.schema();
        let key = (
            sql.to_string(),
            schema
                .fields()
                .iter()
                .map(|f| format!("{}:{}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(","),
        );
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&key) {
            return Ok(e.clone());
        }
        let df_schema =
            DFSchema::try_from(schema.as_ref().clone()).map_err(CompileError::Schema)?;
        let rewritten = with_spark_date_parts(sql).map_err(|source| CompileError::Tokenize {
            sql: sql.to_string(),
            source,
        })?;
        let expr = self
            .ctx
            .parse_sql_expr(&rewritten, &df_schema)
            .map_err(|source| CompileError::Parse {
                sql: sql.to_string(),
                source,
            })?;
        let physical = self
            .ctx
            .create_physical_expr(expr, &df_schema)
            .map_err(|source| CompileError::Plan {
                sql: sql.to_string(),
                source,
            })?;
        cache.insert(key, physical.clone());
        Ok(physical)
    }
}

/// Spark's date-part functions (`year(ts)`, `month`, `day`, `dayofmonth`,
/// `hour`, `minute`, `second`), common in generation expressions, as
/// DataFusion `date_part` calls returning INT.
fn with_spark_date_parts(sql: &str) -> Result<String, TokenizerError> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let tokens = crate::sql_text::tokenize(sql)?;
    let part = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => match w.value.to_ascii_lowercase().as_str() {
            "year" => Some("year"),
            "month" => Some("month"),
            "day" | "dayofmonth" => Some("day"),
            "hour" => Some("hour"),
            "minute" => Some("minute"),
            "second" => Some("second"),
            _ => None,
        },
        _ => None,
    };
    let mut out = String::new();
    // Depths at which a rewritten call's closing parenthesis gets `AS INT)`.
    let mut closes: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if let (Some(p), Some(Token::LParen)) = (part(t), tokens.get(i + 1)) {
            depth += 1;
            closes.push(depth);
            out.push_str(&format!("CAST(date_part('{p}', "));
            i += 2;
            continue;
        }
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                if closes.last() == Some(&depth) {
                    closes.pop();
                    out.push_str(") AS INT)");
                    depth -= 1;
                    i += 1;
                    continue;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        out.push_str(&crate::sql_text::sql_text(t));
        i += 1;
    }
    Ok(out)
}

impl ExpressionEvaluator for DataFusionEvaluator {
    fn evaluate(&self, sql: &str, batch: &RecordBatch) -> Result<ArrayRef, EvaluationError> {
        let expr = self
            .compile(sql, batch)
            .map_err(|e| EvaluationError::new(sql, e.to_string()))?;
        expr.evaluate(batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(|e| EvaluationError::new(sql, format!("evaluating {sql}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
    use super::*;
    use arrow_array::Int64Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    #[test]
    fn evaluates_expressions_with_case_kept() {
        let batch = RecordBatch::try_from_iter([(
            "Amount",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        )])
        .unwrap();
        let e = DataFusionEvaluator::default();
        let v = e.evaluate("Amount * 10 + 1", &batch).unwrap();
        assert_eq!(v.as_primitive::<Int64Type>().values(), &[11, 21, 31]);
        let lit = e.evaluate("42", &batch).unwrap();
        assert_eq!(lit.len(), 3, "constants are broadcast");
        assert!(e.evaluate("nope + 1", &batch).is_err());
    }

    #[test]
    fn spark_date_parts() {
        assert_eq!(
            with_spark_date_parts("year(ts) * 100 + MONTH(ts)").unwrap(),
            "CAST(date_part('year', ts) AS INT) * 100 + CAST(date_part('month', ts) AS INT)"
        );
        let ts = arrow_array::TimestampMicrosecondArray::from(vec![1_764_028_800_000_000i64])
            .with_timezone("UTC");
        let batch = RecordBatch::try_from_iter([("ts", Arc::new(ts) as ArrayRef)]).unwrap();
        let v = DataFusionEvaluator::default()
            .evaluate(
                "year(ts) * 10000 + month(ts) * 100 + dayofmonth(ts)",
                &batch,
            )
            .unwrap();
        let v = arrow_cast::cast(&v, &arrow_schema::DataType::Int64).unwrap();
        assert_eq!(v.as_primitive::<Int64Type>().value(0), 20251125);
    }
}
