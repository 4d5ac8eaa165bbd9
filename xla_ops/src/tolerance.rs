//! Per-dtype comparison of results with golden values.
//!
//! Integers and bool compare exactly. Floats compare in units in the last place (ulps) of the
//! *output dtype* at the expected value: the default allows 1 ulp for bf16/f16/f8 (the kernel
//! computes in f32 and rounds once; XLA may round an intermediate differently), 4 ulps for f32
//! (libm vs XLA's own polynomial approximations of transcendentals) and 4 ulps for f64.
//! NaN must match NaN; infinities must match exactly; zeros match regardless of sign unless the
//! case is compared exactly (ulps = 0). Complex values compare per part. A case may override the
//! tolerance, with a justification recorded in the case file.
//!
//! Depends on rax-core's `Literal`.

use crate::TolOverride;
use rax_core::{DType, Literal};

/// Significand bits (including the implicit bit) of a float dtype.
fn mantissa_bits(d: DType) -> i32 {
    match d {
        DType::F16 => 11,
        DType::BF16 => 8,
        DType::F32 | DType::C64 => 24,
        DType::F64 => 53,
        DType::F8E4M3FN => 4,
        DType::F8E5M2 => 3,
        _ => 0,
    }
}

fn min_normal_exp(d: DType) -> i32 {
    match d {
        DType::F16 => -14,
        DType::BF16 | DType::F32 | DType::C64 => -126,
        DType::F64 => -1022,
        DType::F8E4M3FN => -6,
        DType::F8E5M2 => -14,
        _ => 0,
    }
}

/// The spacing of the dtype's representable values at `x`.
pub fn ulp(d: DType, x: f64) -> f64 {
    let e = if x == 0.0 {
        min_normal_exp(d)
    } else {
        (x.abs().log2().floor() as i32).max(min_normal_exp(d))
    };
    // Two steps: 2^(e - m + 1) alone underflows powi for f64 subnormals (2^-1074 -> 0).
    2f64.powi(e) / 2f64.powi(mantissa_bits(d) - 1)
}

fn default_ulps(d: DType) -> f64 {
    match d {
        DType::F32 | DType::C64 | DType::F64 => 4.0,
        _ => 1.0,
    }
}

/// A literal's values as f64, complex values as (re, im) pairs.
pub fn parts(l: &Literal) -> Vec<f64> {
    match l.data() {
        rax_core::Data::C64(v) => v.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect(),
        _ => l.to_f64_vec(),
    }
}

/// The first element where two literals of one exact (integer or bool) type differ, with both
/// values; `None` when they are equal.
pub fn exact_mismatch(a: &Literal, b: &Literal) -> Option<(usize, f64, f64)> {
    if a.data() == b.data() {
        return None;
    }
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    let i = x.iter().zip(&y).position(|(p, q)| p != q).unwrap_or(0);
    Some((i, x.get(i).copied()?, y.get(i).copied()?))
}

/// Checks one output.
pub fn check(expected: &Literal, got: &Literal, tol: Option<&TolOverride>) -> Result<(), String> {
    if expected.aval() != got.aval() {
        return Err(format!("expected {}, got {}", expected.aval(), got.aval()));
    }
    let d = expected.dtype();
    if !d.is_inexact() {
        return match exact_mismatch(expected, got) {
            Some((i, e, g)) => Err(format!(
                "exact {d} mismatch at flat index {i}: expected {e}, got {g}"
            )),
            None => Ok(()),
        };
    }
    let (e, g) = (parts(expected), parts(got));
    let ulps = tol.and_then(|t| t.ulps).unwrap_or(default_ulps(d));
    let atol = tol.and_then(|t| t.atol).unwrap_or(0.0);
    let rtol = tol.and_then(|t| t.rtol).unwrap_or(0.0);
    for (i, (&a, &b)) in e.iter().zip(&g).enumerate() {
        if a.is_nan() || b.is_nan() {
            if a.is_nan() != b.is_nan() {
                return Err(format!("element {i}: expected {a}, got {b}"));
            }
            continue;
        }
        if a.is_infinite() || b.is_infinite() {
            if a != b {
                return Err(format!("element {i}: expected {a}, got {b}"));
            }
            continue;
        }
        if ulps == 0.0 && atol == 0.0 && rtol == 0.0 {
            if a.to_bits() != b.to_bits() {
                return Err(format!("element {i}: expected exactly {a:e}, got {b:e}"));
            }
            continue;
        }
        let diff = (a - b).abs();
        let allowed = ulps * ulp(d, a) + atol + rtol * a.abs();
        if diff > allowed {
            return Err(format!(
                "element {i}: expected {a:e}, got {b:e} (diff {diff:e} > allowed {allowed:e}; {} ulps of {d})",
                diff / ulp(d, a)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_values() {
        assert_eq!(ulp(DType::BF16, 1.0), 2f64.powi(-7));
        assert_eq!(ulp(DType::F32, 1.0), 2f64.powi(-23));
        assert_eq!(ulp(DType::F16, 0.0), 2f64.powi(-24));
        assert_eq!(ulp(DType::F64, 0.0), 5e-324);
    }

    #[test]
    fn one_bf16_ulp_passes_two_fail() {
        let e = Literal::from_f64s([1], DType::BF16, &[1.0]).unwrap();
        let g1 = Literal::from_f64s([1], DType::BF16, &[1.0078125]).unwrap();
        let g2 = Literal::from_f64s([1], DType::BF16, &[1.015625]).unwrap();
        assert!(check(&e, &g1, None).is_ok());
        assert!(check(&e, &g2, None).is_err());
        let nan = Literal::from_f64s([1], DType::BF16, &[f64::NAN]).unwrap();
        assert!(check(&e, &nan, None).is_err());
        assert!(check(&nan, &nan, None).is_ok());
    }
}
