//! The float math the interpreter's elementwise kernels are written in: [`Real`], implemented
//! for `f32` and `f64`, so that a kernel is one generic function (narrow floats compute through
//! the `f32` instance and round once). Also the denormal flush XLA's CPU backend applies and the
//! inverse error function, which the standard library lacks.
//!
//! Adding a math function a new kernel needs: one name in the `real_float!` list (when `f32`
//! and `f64` have it as an inherent method), or one method with an impl per type otherwise.

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

/// Declares [`Real`] with the listed inherent `f32`/`f64` methods of type `fn(self) -> Self`.
macro_rules! real_float {
    ($($m:ident),* $(,)?) => {
        /// A real float type the elementwise kernels are generic over (`f32`, `f64`).
        pub trait Real:
            Copy
            + PartialOrd
            + Add<Output = Self>
            + Sub<Output = Self>
            + Mul<Output = Self>
            + Div<Output = Self>
            + Rem<Output = Self>
            + Neg<Output = Self>
        {
            /// 0.
            const ZERO: Self;
            /// 1.
            const ONE: Self;
            /// NaN.
            const NAN: Self;
            $(
                #[allow(missing_docs)]
                fn $m(self) -> Self;
            )*
            /// True for NaN.
            fn is_nan(self) -> bool;
            /// The error function.
            fn erf(self) -> Self;
            /// The inverse error function.
            fn erf_inv(self) -> Self;
            /// A subnormal becomes a zero of the same sign (XLA CPU's FTZ/DAZ).
            fn ftz(self) -> Self;
            /// self^y.
            fn powf(self, y: Self) -> Self;
            /// atan2(self, x).
            fn atan2(self, x: Self) -> Self;
            /// Widened to f64 (exact).
            fn to_f64(self) -> f64;
            /// Narrowed from f64 (rounded to nearest).
            fn from_f64(v: f64) -> Self;

            /// -1, 0 or 1; NaN stays NaN and -0.0 stays -0.0.
            fn sign(self) -> Self {
                if self.is_nan() {
                    Self::NAN
                } else if self > Self::ZERO {
                    Self::ONE
                } else if self < Self::ZERO {
                    -Self::ONE
                } else {
                    self
                }
            }

            /// The logistic sigmoid, without overflow for large |x|.
            fn logistic(self) -> Self {
                if self >= Self::ZERO {
                    Self::ONE / (Self::ONE + (-self).exp())
                } else {
                    let e = self.exp();
                    e / (Self::ONE + e)
                }
            }
        }

        impl Real for f32 {
            const ZERO: f32 = 0.0;
            const ONE: f32 = 1.0;
            const NAN: f32 = f32::NAN;
            $(fn $m(self) -> f32 { f32::$m(self) })*
            fn is_nan(self) -> bool { f32::is_nan(self) }
            fn erf(self) -> f32 { libm::erff(self) }
            fn erf_inv(self) -> f32 { erf_inv_f64(self as f64) as f32 }
            fn ftz(self) -> f32 {
                if self.is_subnormal() { 0.0f32.copysign(self) } else { self }
            }
            fn powf(self, y: f32) -> f32 { f32::powf(self, y) }
            fn atan2(self, x: f32) -> f32 { f32::atan2(self, x) }
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> f32 { v as f32 }
        }

        impl Real for f64 {
            const ZERO: f64 = 0.0;
            const ONE: f64 = 1.0;
            const NAN: f64 = f64::NAN;
            $(fn $m(self) -> f64 { f64::$m(self) })*
            fn is_nan(self) -> bool { f64::is_nan(self) }
            fn erf(self) -> f64 { libm::erf(self) }
            fn erf_inv(self) -> f64 { erf_inv_f64(self) }
            fn ftz(self) -> f64 {
                if self.is_subnormal() { 0.0f64.copysign(self) } else { self }
            }
            fn powf(self, y: f64) -> f64 { f64::powf(self, y) }
            fn atan2(self, x: f64) -> f64 { f64::atan2(self, x) }
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> f64 { v as f64 }
        }
    };
}

real_float!(
    abs,
    exp,
    exp_m1,
    ln,
    ln_1p,
    sqrt,
    cbrt,
    recip,
    tanh,
    sin,
    cos,
    tan,
    floor,
    ceil,
    round_ties_even,
);

/// The inverse error function in f64: Giles' initial guess refined by Newton steps on erf.
pub fn erf_inv_f64(y: f64) -> f64 {
    if y.is_nan() || !(-1.0..=1.0).contains(&y) {
        return f64::NAN;
    }
    if y == 1.0 {
        return f64::INFINITY;
    }
    if y == -1.0 {
        return f64::NEG_INFINITY;
    }
    // Giles' single-precision initial guess, refined by Newton steps on erf.
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let mut x = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = p * w + c;
        }
        p * y
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = p * w + c;
        }
        p * y
    };
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    for _ in 0..3 {
        // In the tails erf(x) - y cancels; (1 - |y|) is exact there (Sterbenz), so use erfc.
        let err = if y.abs() > 0.5 {
            y.signum() * ((1.0 - y.abs()) - libm::erfc(x.abs()))
        } else {
            libm::erf(x) - y
        };
        let d = two_over_sqrt_pi * (-x * x).exp();
        if d == 0.0 || !d.is_finite() {
            break;
        }
        x -= err / d;
    }
    x
}
