//! SQL text as tokens and back: the tokenizer silt's own statement handling
//! (paths as table names, CREATE/ALTER TABLE, RESTORE, MERGE's star forms,
//! Spark date parts in expressions) works on, and the inverse that turns
//! tokens into SQL again. A leaf module: it uses nothing else in the crate.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, TokenizerError};

/// Every token of `text`, whitespace included (so joining them with
/// [`sql_text`] gives the text back). Fails on text that is not SQL
/// tokens (an unterminated string or quoted name).
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, TokenizerError> {
    Tokenizer::new(&GenericDialect {}, text).tokenize()
}

/// The tokens of `text` without whitespace.
pub(crate) fn significant_tokens(text: &str) -> Result<Vec<Token>, TokenizerError> {
    Ok(tokenize(text)?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect())
}

/// A token as SQL text again (quotes inside string literals doubled, as
/// the tokenizer undoubled them).
pub(crate) fn sql_text(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}
