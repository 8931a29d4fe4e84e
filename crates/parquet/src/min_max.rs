//! One-pass min and max of null-free primitive columns, the hot part of a
//! write's statistics. Arrow's kernels take one pass for the min, one for
//! the max, and statistics of doubles a third to look for NaN; these take
//! one. Doubles are ordered as Arrow's kernels order them, by IEEE total
//! order (so -0.0 is below 0.0), through integer keys that sort the same
//! way.

/// Min and max of `values`; `None` when there are none.
pub(crate) fn min_max<T: Copy + Ord>(values: &[T]) -> Option<(T, T)> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    )
}

/// A double was NaN, so the column has no bounds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HasNan;

/// Min and max of `values` in total order, or [`HasNan`] when one is NaN;
/// `None` when there are none.
pub(crate) fn min_max_f64(values: &[f64]) -> Result<Option<(f64, f64)>, HasNan> {
    let (lo, hi, nan) = values
        .iter()
        .fold((i64::MAX, i64::MIN, false), |(lo, hi, nan), &v| {
            let k = total_order_key(v.to_bits());
            (lo.min(k), hi.max(k), nan | v.is_nan())
        });
    if nan {
        return Err(HasNan);
    }
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some((from_key(lo), from_key(hi))))
}

/// The bits of a double as an integer that orders like the double's total
/// order: negative values have their magnitude bits flipped. (The same
/// flip undoes it: the sign bit it depends on stays as it is.)
fn total_order_key(bits: u64) -> i64 {
    let b = bits as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

fn from_key(key: i64) -> f64 {
    f64::from_bits(total_order_key(key as u64) as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use std::sync::Arc;

    use arrow_arith::aggregate;
    use arrow_array::{Float64Array, Int32Array, Int64Array};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn signed_zeros_and_infinities_order_as_arrow_orders_them() {
        let v = [0.0, -0.0, f64::INFINITY, -f64::INFINITY, 1.5];
        let (lo, hi) = min_max_f64(&v).unwrap().unwrap();
        assert_eq!((lo, hi), (-f64::INFINITY, f64::INFINITY));
        let (lo, hi) = min_max_f64(&[0.0, -0.0]).unwrap().unwrap();
        assert_eq!(
            (lo.to_bits(), hi.to_bits()),
            ((-0.0f64).to_bits(), 0.0f64.to_bits())
        );
        assert_eq!(min_max_f64(&[1.0, f64::NAN, 2.0]), Err(HasNan));
        assert_eq!(min_max_f64(&[-f64::NAN]), Err(HasNan));
        assert_eq!(min_max_f64(&[]), Ok(None));
        assert_eq!(min_max::<i64>(&[]), None);
    }

    proptest! {
        #[test]
        fn doubles_match_arrows_kernels(bits in prop::collection::vec(any::<u64>(), 0..300)) {
            let v: Vec<f64> = bits.iter().map(|b| f64::from_bits(*b)).collect();
            let a = Arc::new(Float64Array::from(v.clone()));
            match min_max_f64(&v) {
                Err(HasNan) => prop_assert!(v.iter().any(|x| x.is_nan())),
                Ok(got) => {
                    prop_assert!(!v.iter().any(|x| x.is_nan()));
                    let want = aggregate::min(a.as_ref()).zip(aggregate::max(a.as_ref()));
                    let bits_of = |p: Option<(f64, f64)>| p.map(|(l, h)| (l.to_bits(), h.to_bits()));
                    prop_assert_eq!(bits_of(got), bits_of(want));
                }
            }
        }

        #[test]
        fn ordinary_doubles_match_arrows_kernels(v in prop::collection::vec(-1e6f64..1e6, 0..300)) {
            let a = Float64Array::from(v.clone());
            let want = aggregate::min(&a).zip(aggregate::max(&a));
            prop_assert_eq!(min_max_f64(&v), Ok(want));
        }

        #[test]
        fn integers_match_arrows_kernels(
            v64 in prop::collection::vec(any::<i64>(), 0..300),
            v32 in prop::collection::vec(any::<i32>(), 0..300),
        ) {
            let a = Int64Array::from(v64.clone());
            prop_assert_eq!(min_max(&v64), aggregate::min(&a).zip(aggregate::max(&a)));
            let a = Int32Array::from(v32.clone());
            prop_assert_eq!(min_max(&v32), aggregate::min(&a).zip(aggregate::max(&a)));
        }
    }
}
