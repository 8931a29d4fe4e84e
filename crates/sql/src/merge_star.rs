//! MERGE's star forms, `WHEN MATCHED THEN UPDATE SET *` and `WHEN NOT
//! MATCHED THEN INSERT *` (Spark and Delta SQL): every target column set
//! from, or inserted as, the source column of the same name. sqlparser
//! does not read them, so the statement's text is rewritten first: each
//! star becomes a mark the parser accepts ([`mark_stars`]), the marked
//! statement names its target and source ([`merge_names`]), and the marks
//! become the explicit column lists ([`expand_stars`]).

use datafusion::sql::sqlparser::ast::{ObjectName, Statement, TableFactor};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenizerError};

use crate::sql_text::{sql_text, tokenize};
use crate::statement_error::MergeStarError;

const UPDATE_MARK: &str = "__silt_update_star = NULL";
const INSERT_MARK: &str = "(__silt_insert_star) VALUES (NULL)";

fn is_word(t: Option<&Token>, keyword: Keyword) -> bool {
    matches!(t, Some(Token::Word(w)) if w.keyword == keyword && w.quote_style.is_none())
}

/// `text` with `UPDATE SET *` and `INSERT *` replaced by marks the parser
/// reads; `None` when `text` is not a MERGE using either.
pub(crate) fn mark_stars(text: &str) -> Result<Option<String>, TokenizerError> {
    let tokens = tokenize(text)?;
    // Positions of the significant tokens.
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    if !is_word(sig.first().map(|&i| &tokens[i]), Keyword::MERGE) {
        return Ok(None);
    }
    let at = |j: usize| sig.get(j).map(|&i| &tokens[i]);
    let mut marks: Vec<(usize, &str)> = Vec::new();
    for (j, &i) in sig.iter().enumerate() {
        if tokens[i] != Token::Mul {
            continue;
        }
        if j >= 2 && is_word(at(j - 2), Keyword::UPDATE) && is_word(at(j - 1), Keyword::SET) {
            marks.push((i, UPDATE_MARK));
        } else if j >= 1 && is_word(at(j - 1), Keyword::INSERT) {
            marks.push((i, INSERT_MARK));
        }
    }
    if marks.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        match marks.iter().find(|(at, _)| *at == i) {
            Some((_, mark)) => out.push_str(mark),
            None => out.push_str(&sql_text(t)),
        }
    }
    Ok(Some(out))
}

/// The target table of a parsed MERGE and the name its source's columns
/// are qualified with (its alias, else its table name).
pub(crate) fn merge_names(statement: &Statement) -> Result<(ObjectName, String), MergeStarError> {
    let Statement::Merge(m) = statement else {
        return Err(MergeStarError::NotAMerge);
    };
    let TableFactor::Table { name: target, .. } = &m.table else {
        return Err(MergeStarError::TargetNotATable);
    };
    let source = match &m.source {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            a.name.to_string()
        }
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .map(|p| p.to_string())
            .ok_or(MergeStarError::UnnamedSource)?,
        _ => return Err(MergeStarError::SourceNeedsAlias),
    };
    Ok((target.clone(), source))
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `marked` with the marks replaced: `UPDATE SET` of every target column
/// from the source column of the same name, `INSERT` of all of them.
pub(crate) fn expand_stars(marked: &str, columns: &[String], source: &str) -> String {
    let sets: Vec<String> = columns
        .iter()
        .map(|c| format!("{} = {source}.{}", quoted(c), quoted(c)))
        .collect();
    let names: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
    let values: Vec<String> = columns
        .iter()
        .map(|c| format!("{source}.{}", quoted(c)))
        .collect();
    marked.replace(UPDATE_MARK, &sets.join(", ")).replace(
        INSERT_MARK,
        &format!("({}) VALUES ({})", names.join(", "), values.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn stars_become_column_lists() {
        let sql = "MERGE INTO t USING (SELECT * FROM s) AS src ON t.id = src.id \
                   WHEN MATCHED AND src.v <> '*' THEN UPDATE SET * \
                   WHEN NOT MATCHED THEN INSERT *";
        let marked = mark_stars(sql).unwrap().unwrap();
        // The star of `SELECT *` and the one in the string stay.
        assert!(
            marked.contains("SELECT * FROM s") && marked.contains("'*'"),
            "{marked}"
        );
        let parsed = Parser::parse_sql(&GenericDialect {}, &marked).unwrap();
        let (target, source) = merge_names(&parsed[0]).unwrap();
        assert_eq!(target.to_string(), "t");
        assert_eq!(source, "src");
        let out = expand_stars(&marked, &["id".into(), "Mixed \"q\"".into()], &source);
        assert!(
            out.contains(r#"UPDATE SET "id" = src."id", "Mixed ""q""" = src."Mixed ""q""""#),
            "{out}"
        );
        assert!(
            out.contains(r#"INSERT ("id", "Mixed ""q""") VALUES (src."id", src."Mixed ""q""")"#),
            "{out}"
        );
        Parser::parse_sql(&GenericDialect {}, &out).unwrap();
        // Not a MERGE, or no star: untouched.
        assert_eq!(mark_stars("SELECT * FROM t").unwrap(), None);
        assert_eq!(
            mark_stars("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE").unwrap(),
            None
        );
        // A source table without an alias is named by its table name.
        let marked =
            mark_stars("MERGE INTO t USING db.s ON t.id = s.id WHEN NOT MATCHED THEN INSERT *")
                .unwrap()
                .unwrap();
        let parsed = Parser::parse_sql(&GenericDialect {}, &marked).unwrap();
        assert_eq!(merge_names(&parsed[0]).unwrap().1, "s");
    }
}
