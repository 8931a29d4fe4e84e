//! Why silt's own reading of a statement's text refuses it: the error
//! types of `sql_text` users, `ddl` (Spark type names, CREATE TABLE column
//! lists, ALTER TABLE clauses), `merge_star` and the path-name rewriting of
//! `session`. Every one of them blames the statement as written, so none
//! is retryable. A leaf module: it uses nothing else in the crate (`error`
//! carries [`StatementError`] as a source).

use datafusion::sql::sqlparser::tokenizer::TokenizerError;

/// The clauses `ALTER TABLE` takes, quoted when a clause is not one.
pub(crate) const ALTER_USAGE: &str = "ALTER TABLE <table> ADD COLUMN[S] … | DROP FEATURE f | RENAME COLUMN a TO b | DROP COLUMN[S] [IF EXISTS] … | ALTER COLUMN c TYPE t | ALTER COLUMN c DROP NOT NULL | ALTER COLUMN c SET DEFAULT e | ALTER COLUMN c DROP DEFAULT | SET TBLPROPERTIES (…) | UNSET TBLPROPERTIES [IF EXISTS] (…) | ADD CONSTRAINT n CHECK (…) | DROP CONSTRAINT [IF EXISTS] n | CLUSTER BY (…) | CLUSTER BY NONE";

/// A token as the messages name it: its SQL text, or "the end" when the
/// statement ran out.
fn or_end(found: &Option<String>) -> &str {
    found.as_deref().unwrap_or("the end")
}

/// Why a statement is refused before DataFusion sees it (carried by
/// [`crate::SqlError::InvalidStatement`]). The text is at fault: never
/// retryable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// The text does not split into SQL tokens (an unterminated string or
    /// quoted name, for example).
    #[error(transparent)]
    Tokenize(#[from] TokenizerError),
    /// A `CREATE TABLE` or `ALTER TABLE` silt cannot read or refuses.
    #[error(transparent)]
    Ddl(#[from] DdlError),
    /// The table `CREATE TABLE` describes is not a valid Delta table
    /// (a partition column not in the schema, an unknown mapping mode).
    #[error(transparent)]
    Create(#[from] silt_log::create::CreateError),
    /// A MERGE with `UPDATE SET *` or `INSERT *` that cannot be expanded.
    #[error(transparent)]
    MergeStar(#[from] MergeStarError),
    /// A `delta.'path'` table name whose path holds a backtick, which the
    /// quoted identifier it becomes cannot carry.
    #[error("a table path may not contain a backtick: {path}")]
    BacktickInPath {
        /// The path as written.
        path: String,
    },
    /// No statement, or several, where exactly one is needed.
    #[error("expected exactly one statement")]
    NotOneStatement,
    /// A statement silt rewrites (UPDATE … FROM, MERGE's stars) did not
    /// read back in the form it was rewritten to.
    #[error("{what} did not read back as one MERGE statement")]
    RewriteNotMerge {
        /// The rewritten form.
        what: &'static str,
    },
    /// `CREATE TABLE` of a table that exists.
    #[error("the table already exists")]
    TableExists,
    /// `CREATE TABLE` with neither a column list nor `AS SELECT`.
    #[error("CREATE TABLE needs a column list or AS SELECT")]
    CreateWithoutColumns,
    /// `CREATE TABLE … AS SELECT` with a column list.
    #[error("CREATE TABLE … AS SELECT takes its columns from the query; drop the column list")]
    CreateAsSelectWithColumns,
    /// Both `PARTITIONED BY` and `CLUSTER BY`.
    #[error("a table is either partitioned or clustered, not both")]
    PartitionedAndClustered,
    /// A statement not in its one accepted form.
    #[error("expected {usage}")]
    Usage {
        /// The accepted form.
        usage: &'static str,
    },
    /// A timestamp that does not read as one.
    #[error("unreadable timestamp {text:?}")]
    UnreadableTimestamp {
        /// The text as written.
        text: String,
    },
    /// A name that is not a Delta table.
    #[error("{name} is not a Delta table")]
    NotDelta {
        /// The name as written.
        name: String,
    },
    /// An `UpdateBuilder` with nothing to set.
    #[error("UPDATE needs at least one SET")]
    UpdateWithoutSet,
    /// A `MergeBuilder` without its ON condition.
    #[error("MERGE needs an ON condition")]
    MergeWithoutOn,
    /// A `MergeBuilder` without a WHEN clause.
    #[error("MERGE needs at least one WHEN clause")]
    MergeWithoutWhen,
    /// A DML statement whose result has no metrics row.
    #[error("the statement returned no metrics")]
    NoMetrics,
}

/// Token-level syntax of silt's DDL reading: a token that is not the one
/// the grammar needs there.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The text does not split into SQL tokens.
    #[error(transparent)]
    Tokenize(#[from] TokenizerError),
    /// A specific token was needed (`(`, `>`, `,` …).
    #[error("expected {want} but found {}", or_end(found))]
    Expected {
        /// The token needed, as SQL text.
        want: String,
        /// The token found (`None`: the end of the statement).
        found: Option<String>,
    },
    /// A name (column, constraint, feature) was needed.
    #[error("expected a name, found {}", or_end(found))]
    ExpectedName {
        /// The token found (`None`: the end of the statement).
        found: Option<String>,
    },
    /// A number (a precision or scale) was needed.
    #[error("expected a number, found {}", or_end(found))]
    ExpectedNumber {
        /// The token found (`None`: the end of the statement).
        found: Option<String>,
    },
    /// A parenthesised group does not close.
    #[error("unbalanced parentheses")]
    UnbalancedParentheses,
    /// A `>>` reached the type parser unsplit: a bug in silt, not in the
    /// statement (type lists are split into single `>` first).
    #[error("internal: split >> first")]
    UnsplitShift,
}

/// A Spark SQL type name that does not read as a Delta type.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The tokens around the type are wrong.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// No type name where one was needed.
    #[error("expected a type, found {}", or_end(found))]
    ExpectedType {
        /// The token found (`None`: the end of the text).
        found: Option<String>,
    },
    /// A type name silt does not know.
    #[error("unknown type {name}")]
    UnknownType {
        /// The name, upper-cased.
        name: String,
    },
    /// A precision or scale that is not a small whole number.
    #[error("{number} is not a precision")]
    NotAPrecision {
        /// The number as written.
        number: String,
    },
    /// Precision outside 1..=38 or a scale above it.
    #[error("DECIMAL({precision},{scale}) is not a valid decimal")]
    InvalidDecimal {
        /// The precision given.
        precision: u8,
        /// The scale given.
        scale: u8,
    },
    /// `STRUCT<` not followed by a field name.
    #[error("expected a struct field name")]
    ExpectedStructFieldName,
    /// Tokens left over after a complete type.
    #[error("unexpected {found} after the type")]
    TrailingTokens {
        /// The first token left over, as SQL text.
        found: String,
    },
}

/// A `CREATE TABLE` column list or an `ALTER TABLE` clause that silt cannot
/// read or that Delta does not allow, naming the column, constraint or
/// clause.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DdlError {
    /// The tokens of an `ALTER TABLE` clause are wrong.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// A type (in `ADD COLUMNS` or `ALTER COLUMN … TYPE`) does not read.
    #[error(transparent)]
    Type(#[from] TypeError),

    // CREATE TABLE.
    /// A column's type does not read.
    #[error("column {column:?}: {problem}")]
    ColumnType {
        /// The column.
        column: String,
        /// What is wrong with its type.
        #[source]
        problem: TypeError,
    },
    /// A generated column written `GENERATED BY DEFAULT AS (…)`.
    #[error("column {column:?}: a generated column is GENERATED ALWAYS AS (expression)")]
    GeneratedNotAlways {
        /// The column.
        column: String,
    },
    /// An identity column of another type than BIGINT.
    #[error("identity column {column:?} must be BIGINT")]
    IdentityNotBigint {
        /// The column.
        column: String,
    },
    /// An identity `START WITH` or `INCREMENT BY` that is not an integer.
    #[error("{value} is not an integer")]
    NotAnInteger {
        /// The value as written.
        value: String,
    },
    /// An identity option Delta has no place for (`MINVALUE`, `CACHE` …).
    #[error("identity column {column:?}: {option} is not supported by Delta")]
    UnsupportedIdentityOption {
        /// The column.
        column: String,
        /// The option as written.
        option: String,
    },
    /// An identity column that would never advance.
    #[error("identity column {column:?}: INCREMENT BY 0")]
    IdentityStepZero {
        /// The column.
        column: String,
    },
    /// A column option Delta has no place for (`UNIQUE`, `REFERENCES` …).
    #[error("column {column:?}: {option} is not supported")]
    UnsupportedColumnOption {
        /// The column.
        column: String,
        /// The option as written.
        option: String,
    },
    /// A column that is more than one of default, generated, identity.
    #[error(
        "column {column:?} can be only one of: a default, a generated column, an identity column"
    )]
    SeveralColumnRules {
        /// The column.
        column: String,
    },
    /// A table constraint other than CHECK (a key or an index).
    #[error("{constraint}: Delta tables take CHECK constraints only (no keys or indexes)")]
    NotACheckConstraint {
        /// The constraint as written.
        constraint: String,
    },
    /// `CLUSTER BY` names something that is not a column.
    #[error("expected a column name, found {found}")]
    ExpectedColumnName {
        /// The expression as written.
        found: String,
    },
    /// `PARTITIONED BY` names something that is not a column.
    #[error("PARTITIONED BY takes column names, not {found}")]
    PartitionByNotColumn {
        /// The expression as written.
        found: String,
    },
    /// A clustering column the schema does not have.
    #[error("clustering column {column:?} does not exist")]
    UnknownClusteringColumn {
        /// The column path, dot-joined.
        column: String,
    },

    // ALTER TABLE.
    /// No clause silt knows after the table name.
    #[error("{}", ALTER_USAGE)]
    AlterUsage,
    /// Tokens after a complete clause.
    #[error("unexpected {found} ({})", ALTER_USAGE)]
    UnexpectedToken {
        /// The first token left over, as SQL text.
        found: String,
    },
    /// `ALTER COLUMN c` followed by no change silt knows.
    #[error("ALTER COLUMN … what? ({})", ALTER_USAGE)]
    AlterColumnUsage,
    /// `ADD CONSTRAINT` without `CHECK`.
    #[error("ADD CONSTRAINT <name> CHECK (<condition>)")]
    AddConstraintUsage,
    /// `RENAME COLUMN` without `TO`.
    #[error("RENAME COLUMN <column> TO <new name>")]
    RenameColumnUsage,
    /// `ADD COLUMNS` adding to different structs in one clause.
    #[error("ADD COLUMNS adds to one struct at a time")]
    AddColumnsToSeveralStructs,
    /// A token in an added column's definition after its type that is
    /// not `NOT NULL` or `COMMENT '…'`.
    #[error("unexpected {found} in the column definition")]
    UnexpectedInColumnDefinition {
        /// The token, as SQL text.
        found: String,
    },
    /// `COMMENT` not followed by a string.
    #[error("COMMENT needs a string")]
    CommentNeedsString,
    /// A `DROP COLUMNS` entry that is not a column path.
    #[error("unexpected {found} in DROP COLUMNS")]
    UnexpectedInDropColumns {
        /// The token, as SQL text.
        found: String,
    },
    /// `SET DEFAULT` / `DROP DEFAULT` on a nested field.
    #[error("defaults are set on top-level columns, not {}", column.join("."))]
    DefaultOnNestedField {
        /// The field's path.
        column: Vec<String>,
    },
    /// `DROP FEATURE … TRUNCATE HISTORY`.
    #[error(
        "DROP FEATURE … TRUNCATE HISTORY is for reader-writer features, which silt cannot drop yet"
    )]
    DropFeatureTruncateHistory,
    /// A property key or value that is not a string, name or number.
    #[error("expected a property key or value, found {found}")]
    ExpectedPropertyToken {
        /// The token, as SQL text.
        found: String,
    },
    /// A `SET TBLPROPERTIES` entry that is not `'key' = 'value'`.
    #[error("expected 'key' = 'value', found {found}")]
    ExpectedKeyValue {
        /// The entry as written.
        found: String,
    },
    /// An `UNSET TBLPROPERTIES` entry that is not one key.
    #[error("expected 'key', found {found}")]
    ExpectedKey {
        /// The entry as written.
        found: String,
    },
}

/// A MERGE with `UPDATE SET *` or `INSERT *` whose target or source cannot
/// be named, so the stars cannot become column lists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeStarError {
    /// The marked text did not parse back as a MERGE.
    #[error("expected a MERGE statement")]
    NotAMerge,
    /// The target is not a table (a subquery, a function).
    #[error("MERGE INTO needs a table")]
    TargetNotATable,
    /// The source is a table with an empty name.
    #[error("MERGE source without a name")]
    UnnamedSource,
    /// The source is a subquery or function without an alias.
    #[error("UPDATE SET * and INSERT * need the MERGE source to have an alias")]
    SourceNeedsAlias,
}
