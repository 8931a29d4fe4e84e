//! Helpers shared by the silt-sql integration tests.

#![allow(dead_code)] // each test file uses a subset

use datafusion::arrow::util::pretty::pretty_format_batches;
use silt_sql::SiltSession;

/// A statement's result as the pretty-printed table.
pub async fn text(s: &SiltSession, sql: &str) -> String {
    let batches = s.run(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .to_string()
}

/// The data rows of a pretty-printed table, values joined by commas.
pub fn lines(t: &str) -> Vec<String> {
    t.lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// A statement's rows, values joined by commas.
pub async fn rows(s: &SiltSession, sql: &str) -> Vec<String> {
    lines(&text(s, sql).await)
}

/// A DML statement's affected-row count (its first metric column).
pub async fn affected(s: &SiltSession, sql: &str) -> Vec<String> {
    rows(s, sql)
        .await
        .into_iter()
        .map(|r| r.split(',').next().unwrap_or_default().to_string())
        .collect()
}
