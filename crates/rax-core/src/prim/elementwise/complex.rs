//! The c64 kernels whose textbook formulas go wrong at the edges: division, square root and
//! tanh. Each is computed in f64 (so an f32 operand's |y|^2, cosh 2x or |z| neither overflows
//! nor underflows) and follows C99 Annex G for infinities and zeros; `rsqrt` and `logistic`
//! are built on the division. The naive `num-complex` formulas gave NaN for x / x with a huge
//! x, for a nonzero value over zero, for sqrt at infinities and for tanh of a large argument
//! (the fuzzer's seeds are in `xla_ops/tests/fuzz_regressions.rs`).
//!
//! Depends on nothing in rax.

use num_complex::Complex32;

/// +-1 for an infinite part, +-0 for a finite one (the sign kept): C99 G.5.1's "box" of an
/// infinite operand.
fn unit(v: f64) -> f64 {
    (if v.is_infinite() { 1.0f64 } else { 0.0 }).copysign(v)
}

/// x / y as C99 G.5.1 specifies it: the quotient in f64, and a NaN + NaN i result recovered
/// into an infinity (a nonzero over zero, an infinite over a finite) or a zero (a finite over
/// an infinite).
pub fn div(x: Complex32, y: Complex32) -> Complex32 {
    let (mut a, mut b) = (x.re as f64, x.im as f64);
    let (mut c, mut d) = (y.re as f64, y.im as f64);
    let den = c * c + d * d;
    let mut re = (a * c + b * d) / den;
    let mut im = (b * c - a * d) / den;
    if re.is_nan() && im.is_nan() {
        if den == 0.0 && (!a.is_nan() || !b.is_nan()) {
            re = f64::INFINITY.copysign(c) * a;
            im = f64::INFINITY.copysign(c) * b;
        } else if (a.is_infinite() || b.is_infinite()) && c.is_finite() && d.is_finite() {
            (a, b) = (unit(a), unit(b));
            re = f64::INFINITY * (a * c + b * d);
            im = f64::INFINITY * (b * c - a * d);
        } else if (c.is_infinite() || d.is_infinite()) && a.is_finite() && b.is_finite() {
            (c, d) = (unit(c), unit(d));
            re = 0.0 * (a * c + b * d);
            im = 0.0 * (b * c - a * d);
        }
    }
    Complex32::new(re as f32, im as f32)
}

/// The principal square root with C99 G.6.4.2's special values: sqrt(x + i inf) = inf + i inf
/// for every x (NaN included), sqrt(-inf + iy) = 0 + i inf, sqrt(+inf + iy) = inf + 0i (y
/// finite); other NaN parts propagate. Finite values in f64 (|z| cannot overflow).
pub fn sqrt(z: Complex32) -> Complex32 {
    let (a, b) = (z.re as f64, z.im as f64);
    let inf = f64::INFINITY;
    let (re, im) = if b.is_infinite() {
        (inf, b)
    } else if a == -inf {
        if b.is_nan() {
            (f64::NAN, inf)
        } else {
            (0.0, inf.copysign(b))
        }
    } else if a == inf {
        if b.is_nan() {
            (inf, f64::NAN)
        } else {
            (inf, 0.0f64.copysign(b))
        }
    } else if a.is_nan() || b.is_nan() {
        (f64::NAN, f64::NAN)
    } else if a == 0.0 && b == 0.0 {
        (0.0, b)
    } else {
        let t = ((a.abs() + a.hypot(b)) / 2.0).sqrt();
        if a >= 0.0 {
            (t, b / (2.0 * t))
        } else {
            (b.abs() / (2.0 * t), t.copysign(b))
        }
    };
    Complex32::new(re as f32, im as f32)
}

/// 1 / sqrt(z), with both steps above.
pub fn rsqrt(z: Complex32) -> Complex32 {
    div(Complex32::new(1.0, 0.0), sqrt(z))
}

/// tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y) in f64. For |x| > 20 it is
/// +-1 + i (+-0) to f32 precision (C99 G.6.2.6: ctanh(+inf + iy) = 1 + i0 sin 2y).
pub fn tanh(z: Complex32) -> Complex32 {
    let (x, y) = (z.re as f64, z.im as f64);
    if x.abs() > 20.0 {
        let s = if y.is_finite() { (2.0 * y).sin() } else { 1.0 };
        return Complex32::new(1.0f32.copysign(z.re), 0.0f32.copysign(s as f32));
    }
    let d = (2.0 * x).cosh() + (2.0 * y).cos();
    Complex32::new(((2.0 * x).sinh() / d) as f32, ((2.0 * y).sin() / d) as f32)
}

/// The logistic sigmoid 1 / (1 + e^-z), with the division above (so an infinite e^-z gives 0).
pub fn logistic(z: Complex32) -> Complex32 {
    let one = Complex32::new(1.0, 0.0);
    div(one, one + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_matches_the_naive_formula_where_that_is_exact() {
        let q = div(Complex32::new(1.0, 2.0), Complex32::new(3.0, -1.0));
        // (1 + 2i)(3 + i) / 10 = (1 + 7i) / 10.
        assert!(
            (q.re - 0.1).abs() < 1e-7 && (q.im - 0.7).abs() < 1e-7,
            "{q}"
        );
    }

    #[test]
    fn sqrt_of_negative_reals_is_imaginary() {
        assert_eq!(sqrt(Complex32::new(-4.0, 0.0)), Complex32::new(0.0, 2.0));
        assert_eq!(sqrt(Complex32::new(-4.0, -0.0)), Complex32::new(0.0, -2.0));
    }
}
