//! Row filtering: a silt-log predicate evaluated on an Arrow batch with SQL
//! semantics (a NULL comparison is not true).

use arrow_arith::boolean::{and_kleene, is_not_null, is_null, not, or_kleene};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, Scalar as ArrowScalar};
use arrow_ord::cmp;
use silt_log::expr::{CmpOp, Expr, ExprError, Literal, primitive_of};
use silt_log::schema::StructType;

use crate::arrow_values::{ArrowValueError, repeat_scalar};

/// A predicate that cannot be evaluated on a batch. The predicate or the
/// rows are at fault, so retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A column the predicate names is not in the batch.
    #[error("column {column:?} is not in the scanned batch")]
    ColumnNotInBatch {
        /// The column as named in the predicate.
        column: String,
    },
    /// A dotted column path goes through a non-struct column.
    #[error("column {column:?}: {part} is inside a non-struct")]
    NotAStruct {
        /// The column as named in the predicate.
        column: String,
        /// The path segment.
        part: String,
    },
    /// The predicate does not fit the table's schema.
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// A literal cannot be made into a column of the batch's type.
    #[error(transparent)]
    Value(#[from] ArrowValueError),
    /// Arrow's comparison or boolean kernels failed.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

fn column(batch: &RecordBatch, path: &str) -> Result<ArrayRef, FilterError> {
    let missing = || FilterError::ColumnNotInBatch {
        column: path.to_string(),
    };
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let schema = batch.schema();
    let idx = schema
        .fields()
        .iter()
        .position(|f| f.name().eq_ignore_ascii_case(first))
        .ok_or_else(missing)?;
    let mut array = batch.column(idx).clone();
    for part in parts {
        let s = array
            .as_struct_opt()
            .ok_or_else(|| FilterError::NotAStruct {
                column: path.to_string(),
                part: part.to_string(),
            })?;
        let i = s
            .fields()
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(part))
            .ok_or_else(missing)?;
        array = s.column(i).clone();
    }
    Ok(array)
}

fn literal_array(
    schema: &StructType,
    name: &str,
    lit: &Literal,
    array: &ArrayRef,
) -> Result<ArrayRef, FilterError> {
    let ty = primitive_of(schema, name)?;
    let value = lit.to_scalar(&ty).map_err(|source| ExprError::Literal {
        column: name.to_string(),
        source,
    })?;
    Ok(repeat_scalar(&value, array.data_type(), 1)?)
}

fn compare(op: CmpOp, left: &ArrayRef, right: &ArrayRef) -> Result<BooleanArray, FilterError> {
    let right = ArrowScalar::new(right.clone());
    let r = match op {
        CmpOp::Eq => cmp::eq(left, &right),
        CmpOp::NotEq => cmp::neq(left, &right),
        CmpOp::Lt => cmp::lt(left, &right),
        CmpOp::LtEq => cmp::lt_eq(left, &right),
        CmpOp::Gt => cmp::gt(left, &right),
        CmpOp::GtEq => cmp::gt_eq(left, &right),
    };
    Ok(r?)
}

/// Evaluates `expr` on `batch` (three-valued: nulls where unknown).
pub fn evaluate(
    expr: &Expr,
    schema: &StructType,
    batch: &RecordBatch,
) -> Result<BooleanArray, FilterError> {
    Ok(match expr {
        Expr::Cmp {
            column: name,
            op,
            value,
        } => {
            let array = column(batch, name)?;
            let lit = literal_array(schema, name, value, &array)?;
            compare(*op, &array, &lit)?
        }
        Expr::IsNull {
            column: name,
            negated,
        } => {
            let array = column(batch, name)?;
            if *negated {
                is_not_null(array.as_ref())?
            } else {
                is_null(array.as_ref())?
            }
        }
        Expr::In {
            column: name,
            values,
            negated,
        } => {
            let array = column(batch, name)?;
            let mut acc: Option<BooleanArray> = None;
            for v in values {
                let lit = literal_array(schema, name, v, &array)?;
                let hit = compare(CmpOp::Eq, &array, &lit)?;
                acc = Some(match acc {
                    Some(a) => or_kleene(&a, &hit)?,
                    None => hit,
                });
            }
            let acc = acc.unwrap_or_else(|| BooleanArray::from(vec![false; batch.num_rows()]));
            if *negated { not(&acc)? } else { acc }
        }
        Expr::And(xs) => {
            let mut acc = BooleanArray::from(vec![true; batch.num_rows()]);
            for x in xs {
                acc = and_kleene(&acc, &evaluate(x, schema, batch)?)?;
            }
            acc
        }
        Expr::Or(xs) => {
            let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
            for x in xs {
                acc = or_kleene(&acc, &evaluate(x, schema, batch)?)?;
            }
            acc
        }
        Expr::Not(x) => not(&evaluate(x, schema, batch)?)?,
    })
}

/// Keeps the rows where `expr` is true.
pub fn filter_batch(
    expr: &Expr,
    schema: &StructType,
    batch: &RecordBatch,
) -> Result<RecordBatch, FilterError> {
    // `filter` drops rows whose mask is NULL, as SQL's WHERE does.
    let mask = evaluate(expr, schema, batch)?;
    Ok(arrow_select::filter::filter_record_batch(batch, &mask)?)
}
