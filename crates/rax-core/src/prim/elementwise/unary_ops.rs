//! The unary primitives, declared once each: this table is the only place a unary primitive is
//! written down. One entry gives the `UnaryOp` variant and the `Tensor` method (with its doc),
//! the catalogue name, the StableHLO op, the accepted and result dtypes, the interpreter
//! kernels (the float kernel is one generic function over `f32`/`f64`), the VJP (as JAX's
//! `defjvp`, transposed; complex cotangents without conjugation) and, rarely, a lowering other
//! than the one op. Batching needs nothing: every elementwise op batches the same way.
//!
//! Adding a primitive: one entry here, golden cases in `xla_ops/gen/elementwise.py`
//! (regenerated into `xla_ops/cases/elementwise.json`), then `RAX_BLESS=1 cargo test -p
//! xla-ops` to regenerate `docs/ops.md` from the catalogue.
//!
//! Depends on `unary` (the macro and the shared rule, lowering, kernel and VJP), `float`.

use super::complex;
use super::replace_zero;
use super::unary::{unary_kernel, unary_lower, unary_ops, unary_vjp};
use super::unary::{Accepts, Kernels, OutDType, UnaryDef};
use crate::autodiff::{conj, zeros_like};
use crate::ir::CmpDir;
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::Tensor;
use num_complex::Complex32;
use std::f64::consts::{FRAC_2_SQRT_PI, PI};

const C_ONE: Complex32 = Complex32::new(1.0, 0.0);

/// `stablehlo.sign` rejects unsigned integers: for them sign(x) = (x != 0) as the dtype.
fn lower_sign(cx: &mut LowerCtx, x: &V, out: &AVal) -> V {
    if !out.dtype.is_unsigned_int() {
        return cx.op1("stablehlo.sign", &[x], "", out.clone());
    }
    let zero = cx.splat(0.0, out);
    let nz = super::compare::lower_compare(cx, CmpDir::Ne, x, &zero);
    cx.op1("stablehlo.convert", &[&nz], "", out.clone())
}

unary_ops! {
    /// Elementwise negation.
    Neg => neg {
        name: "neg", mlir: "stablehlo.negate", accepts: Numeric, out: Same, flush: false,
        kernels { float: |x| -x, complex: |z| -z, int: |v| v.wrapping_neg() },
        vjp: |_x, _z, g| g.neg(),
    },
    /// Absolute value (modulus for complex, giving f32).
    Abs => abs {
        name: "abs", mlir: "stablehlo.abs", accepts: SignedOrInexact, out: Real, flush: false,
        kernels { float: |x| x.abs(), complex_real: |z| z.norm(), int: |v| v.wrapping_abs() },
        vjp: |x, z, g| {
            if x.dtype().is_complex() {
                let mag = Tensor::complex(&replace_zero(z), &zeros_like(z));
                let gc = Tensor::complex(g, &zeros_like(g));
                gc * (conj(x) / mag)
            } else {
                Tensor::select(&x.ge(&x.scalar_like(0.0)), g, &g.neg())
            }
        },
    },
    /// Sign: -1, 0 or 1 (NaN stays NaN; -0.0 stays -0.0).
    Sign => sign {
        name: "sign", mlir: "stablehlo.sign", accepts: Numeric, out: Same, flush: false,
        kernels {
            float: |x| x.sign(),
            complex: |z| {
                let n = z.norm();
                if n == 0.0 { Complex32::new(0.0, 0.0) } else { z / n }
            },
            int: |v| v.signum(),
        },
        lower: lower_sign,
    },
    /// e^x.
    Exp => exp {
        name: "exp", mlir: "stablehlo.exponential", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.exp(), complex: |z| z.exp() },
        vjp: |_x, z, g| g * z,
    },
    /// e^x - 1, accurate near 0.
    Expm1 => expm1 {
        name: "expm1", mlir: "stablehlo.exponential_minus_one", accepts: Inexact, out: Same,
        flush: true,
        kernels { float: |x| x.exp_m1(), complex: |z| z.exp() - C_ONE },
        vjp: |_x, z, g| g * (z + 1.0),
    },
    /// Natural logarithm.
    Log => log {
        name: "log", mlir: "stablehlo.log", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.ln(), complex: |z| z.ln() },
        vjp: |x, _z, g| g / x,
    },
    /// ln(1 + x), accurate near 0.
    Log1p => log1p {
        name: "log1p", mlir: "stablehlo.log_plus_one", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.ln_1p(), complex: |z| (z + C_ONE).ln() },
        vjp: |x, _z, g| g / (x + 1.0),
    },
    /// Square root.
    Sqrt => sqrt {
        name: "sqrt", mlir: "stablehlo.sqrt", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.sqrt(), complex: |z| complex::sqrt(z) },
        vjp: |_x, z, g| g * (z.scalar_like(0.5) / z),
    },
    /// 1 / sqrt(x).
    Rsqrt => rsqrt {
        name: "rsqrt", mlir: "stablehlo.rsqrt", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.sqrt().recip(), complex: |z| complex::rsqrt(z) },
        vjp: |x, z, g| g * ((z / x) * -0.5),
    },
    /// Hyperbolic tangent.
    Tanh => tanh {
        name: "tanh", mlir: "stablehlo.tanh", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.tanh(), complex: |z| complex::tanh(z) },
        vjp: |_x, z, g| (g + g * z) * (1.0 - z),
    },
    /// The logistic sigmoid 1 / (1 + e^-x).
    Logistic => sigmoid {
        name: "logistic", mlir: "stablehlo.logistic", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.logistic(), complex: |z| complex::logistic(z) },
        vjp: |_x, z, g| g * (z * (1.0 - z)),
    },
    /// Sine.
    Sin => sin {
        name: "sin", mlir: "stablehlo.sine", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.sin(), complex: |z| z.sin() },
        vjp: |x, _z, g| g * x.cos(),
    },
    /// Cosine.
    Cos => cos {
        name: "cos", mlir: "stablehlo.cosine", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.cos(), complex: |z| z.cos() },
        vjp: |x, _z, g| g.neg() * x.sin(),
    },
    /// The error function.
    Erf => erf {
        name: "erf", mlir: "chlo.erf", accepts: RealFloat, out: Same, flush: true,
        kernels { float: |x| x.erf() },
        vjp: |x, _z, g| g * ((x * x).neg().exp() * FRAC_2_SQRT_PI),
    },
    /// The inverse error function.
    ErfInv => erf_inv {
        name: "erf_inv", mlir: "chlo.erf_inv", accepts: RealFloat, out: Same, flush: true,
        kernels { float: |x| x.erf_inv() },
        vjp: |_x, z, g| g * ((z * z).exp() * (PI.sqrt() / 2.0)),
    },
    /// Round toward -inf.
    Floor => floor {
        name: "floor", mlir: "stablehlo.floor", accepts: RealFloat, out: Same, flush: true,
        kernels { float: |x| x.floor() },
    },
    /// Round toward +inf.
    Ceil => ceil {
        name: "ceil", mlir: "stablehlo.ceil", accepts: RealFloat, out: Same, flush: true,
        kernels { float: |x| x.ceil() },
    },
    /// Round half to even (`stablehlo.round_nearest_even`, like `jnp.round`).
    Round => round {
        name: "round", mlir: "stablehlo.round_nearest_even", accepts: RealFloat, out: Same,
        flush: true,
        kernels { float: |x| x.round_ties_even() },
    },
    /// True where the value is neither inf nor NaN.
    IsFinite => is_finite {
        name: "is_finite", mlir: "stablehlo.is_finite", accepts: RealFloat, out: Bool,
        flush: true,
        kernels { is: |x| x.is_finite() },
    },
    /// Logical not (bool) or bitwise not (integers).
    Not => logical_not {
        name: "not", mlir: "stablehlo.not", accepts: BoolOrInt, out: Same, flush: true,
        kernels { bool: |b| !b, int: |v| !v },
    },
    /// Real part of a complex tensor.
    Real => real {
        name: "real", mlir: "stablehlo.real", accepts: Complex, out: Real, flush: true,
        kernels { complex_real: |z| z.re },
        vjp: |_x, _z, g| Tensor::complex(g, &zeros_like(g)),
    },
    /// Imaginary part of a complex tensor.
    Imag => imag {
        name: "imag", mlir: "stablehlo.imag", accepts: Complex, out: Real, flush: true,
        kernels { complex_real: |z| z.im },
        vjp: |_x, _z, g| Tensor::complex(&zeros_like(g), &g.neg()),
    },
    /// Tangent.
    Tan => tan {
        name: "tan", mlir: "stablehlo.tan", accepts: Inexact, out: Same, flush: true,
        kernels { float: |x| x.tan(), complex: |z| z.tan() },
        vjp: |_x, z, g| g * (z * z + 1.0),
    },
    /// Cube root (real floats; negative for negative operands).
    Cbrt => cbrt {
        name: "cbrt", mlir: "stablehlo.cbrt", accepts: RealFloat, out: Same, flush: true,
        kernels { float: |x| x.cbrt() },
        vjp: |_x, z, g| {
            let z2 = z * z;
            g * (z2.scalar_like(1.0 / 3.0) / z2)
        },
    },
}
