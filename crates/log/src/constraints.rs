//! CHECK constraints (`delta.constraints.<name>` properties) and column
//! invariants (`delta.invariants` field metadata): the rules every written
//! row must satisfy, as predicates silt can evaluate. A rule written in SQL
//! that silt's predicate language cannot express is reported, so writers
//! refuse rather than skip it.

use serde_json::Value;

use crate::expr::{Expr, parse_predicate};
use crate::schema::{DataType, StructField};
use crate::{Metadata, Protocol, TableFeature};

/// One rule rows must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCheck {
    /// `constraint <name>` or `invariant on <column>`.
    pub name: String,
    /// The SQL text as stored.
    pub sql: String,
    /// The predicate, when silt's predicate language can express it.
    pub predicate: Result<Expr, crate::expr::PredicateError>,
}

fn invariants(fields: &[StructField], prefix: &str, out: &mut Vec<TableCheck>) {
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        if let Some(raw) = f.metadata.get("delta.invariants") {
            // Stored as JSON text: {"expression": {"expression": "x > 3"}}.
            let parsed: Option<Value> = match raw {
                Value::String(s) => serde_json::from_str(s).ok(),
                other => Some(other.clone()),
            };
            let sql = parsed.as_ref().and_then(|v| {
                v.get("expression")?
                    .get("expression")?
                    .as_str()
                    .map(str::to_string)
            });
            out.push(match sql {
                Some(sql) => TableCheck {
                    name: format!("invariant on {path}"),
                    predicate: parse_predicate(&sql),
                    sql,
                },
                None => TableCheck {
                    name: format!("invariant on {path}"),
                    sql: raw.to_string(),
                    predicate: Err(crate::expr::PredicateError {
                        text: raw.to_string(),
                        column: 1,
                        message: "the invariant does not hold an expression".into(),
                    }),
                },
            });
        }
        if let DataType::Struct(s) = &f.data_type {
            invariants(&s.fields, &path, out);
        }
    }
}

/// The table's CHECK constraints and invariants, when its protocol uses them.
pub fn table_checks(protocol: &Protocol, metadata: &Metadata) -> Vec<TableCheck> {
    let mut out = Vec::new();
    if protocol.has_feature(&TableFeature::CheckConstraints) {
        let mut names: Vec<_> = metadata
            .configuration
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(crate::properties::CONSTRAINTS_PREFIX)?, v)))
            .collect();
        names.sort();
        for (name, sql) in names {
            out.push(TableCheck {
                name: format!("constraint {name}"),
                sql: sql.clone(),
                predicate: parse_predicate(sql),
            });
        }
    }
    if protocol.has_feature(&TableFeature::Invariants) {
        invariants(&metadata.schema().fields, "", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_constraints_and_invariants() {
        let p: Protocol =
            serde_json::from_str(r#"{"minReaderVersion":1,"minWriterVersion":3}"#).unwrap();
        let m: Metadata = serde_json::from_str(
            r#"{"id":"t","schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"long\",\"nullable\":true,\"metadata\":{\"delta.invariants\":\"{\\\"expression\\\":{\\\"expression\\\":\\\"x > 3\\\"}}\"}}]}","partitionColumns":[],"configuration":{"delta.constraints.pos":"x >= 0","delta.constraints.fancy":"length(y) < 3"}}"#,
        )
        .unwrap();
        let checks = table_checks(&p, &m);
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[0].name, "constraint fancy");
        assert!(checks[0].predicate.is_err(), "functions are not supported");
        assert_eq!(checks[1].sql, "x >= 0");
        assert!(checks[1].predicate.is_ok());
        assert_eq!(checks[2].name, "invariant on x");
        assert_eq!(checks[2].sql, "x > 3");
    }
}
