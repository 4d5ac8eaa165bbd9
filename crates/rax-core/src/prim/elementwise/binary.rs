//! Elementwise binary primitives (`add` ... `shift_right_arithmetic`, `complex`): names and
//! StableHLO ops, the typing rule (equal shapes and dtypes), the interpreter kernels (XLA CPU's
//! integer edge cases and denormal flushing), the VJPs and the `Tensor` methods (numpy
//! broadcasting, no promotion).
//!
//! Depends on `ir`, `literal`, `lower`, `trace`, `float` (denormal flush), `compare` and the
//! family's helpers.

use super::compare::lower_compare;
use super::float::Real;
use super::{broadcast_pair, replace_zero, same_dtype, same_shape};
use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::{BinaryOp, CmpDir, Op};
use crate::literal::{convert_data, Data, Literal};
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::{apply1, Tensor};
use num_complex::Complex32;

/// Catalogue name of a binary op.
pub fn binary_name(b: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match b {
        Add => "add",
        Sub => "sub",
        Mul => "mul",
        Div => "div",
        Rem => "rem",
        Pow => "pow",
        Max => "max",
        Min => "min",
        Atan2 => "atan2",
        And => "and",
        Or => "or",
        Xor => "xor",
        ShiftLeft => "shift_left",
        ShiftRightLogical => "shift_right_logical",
        ShiftRightArithmetic => "shift_right_arithmetic",
        Complex => "complex",
    }
}

/// The StableHLO op of a binary primitive.
pub fn binary_mlir(b: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match b {
        Add => "stablehlo.add",
        Sub => "stablehlo.subtract",
        Mul => "stablehlo.multiply",
        Div => "stablehlo.divide",
        Rem => "stablehlo.remainder",
        Pow => "stablehlo.power",
        Max => "stablehlo.maximum",
        Min => "stablehlo.minimum",
        Atan2 => "stablehlo.atan2",
        And => "stablehlo.and",
        Or => "stablehlo.or",
        Xor => "stablehlo.xor",
        ShiftLeft => "stablehlo.shift_left",
        ShiftRightLogical => "stablehlo.shift_right_logical",
        ShiftRightArithmetic => "stablehlo.shift_right_arithmetic",
        Complex => "stablehlo.complex",
    }
}

/// The typing rule of a binary primitive.
pub fn binary_rule(bop: BinaryOp, a: &AVal, b: &AVal) -> Result<AVal> {
    use BinaryOp::*;
    let name = binary_name(bop);
    same_dtype(name, a, b)?;
    same_shape(name, a, b)?;
    let d = a.dtype;
    let (ok, expected) = match bop {
        Add | Sub | Mul | Div => (d.is_int() || d.is_inexact(), "integer, float or complex"),
        // XLA has no complex remainder (the CPU plugins crash compiling one; JAX refuses it).
        Rem => (d.is_int() || d.is_float(), "integer or real float"),
        Pow => (d.is_inexact(), "float or complex"),
        Max | Min => (!d.is_complex(), "bool, integer or real float"),
        Atan2 => (d.is_float(), "real float"),
        And | Or | Xor => (d.is_bool() || d.is_int(), "bool or integer"),
        ShiftLeft | ShiftRightLogical | ShiftRightArithmetic => (d.is_int(), "integer"),
        Complex => (d == DType::F32, "f32 (real and imaginary parts of a c64)"),
    };
    if !ok {
        return Err(Error::dtype(name, d, expected));
    }
    Ok(if bop == Complex {
        a.with_dtype(DType::C64)
    } else {
        a.clone()
    })
}

fn int_bits(d: DType) -> u32 {
    d.bits() as u32
}

fn binary_int(b: BinaryOp, x: i64, y: i64, d: DType) -> i64 {
    use BinaryOp::*;
    let bits = int_bits(d);
    let unsigned = d.is_unsigned_int();
    let mask: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let ux = (x as u64) & mask;
    let uy = (y as u64) & mask;
    match b {
        Add => x.wrapping_add(y),
        Sub => x.wrapping_sub(y),
        Mul => x.wrapping_mul(y),
        // XLA: x / 0 = -1 (all ones), x % 0 = x; MIN / -1 = MIN, MIN % -1 = 0 (wrapping).
        Div => {
            if y == 0 {
                -1
            } else if unsigned {
                (ux / uy) as i64
            } else {
                x.wrapping_div(y)
            }
        }
        Rem => {
            if y == 0 {
                x
            } else if unsigned {
                (ux % uy) as i64
            } else {
                x.wrapping_rem(y)
            }
        }
        Max => {
            if unsigned {
                ux.max(uy) as i64
            } else {
                x.max(y)
            }
        }
        Min => {
            if unsigned {
                ux.min(uy) as i64
            } else {
                x.min(y)
            }
        }
        And => x & y,
        Or => x | y,
        Xor => x ^ y,
        ShiftLeft => {
            if uy >= bits as u64 {
                0
            } else {
                (ux << uy) as i64
            }
        }
        ShiftRightLogical => {
            if uy >= bits as u64 {
                0
            } else {
                (ux >> uy) as i64
            }
        }
        ShiftRightArithmetic => {
            // Sign-extend from `bits`, shift (saturating the count), then wrap back.
            let sx = if unsigned && bits < 64 {
                ((ux << (64 - bits)) as i64) >> (64 - bits)
            } else {
                x
            };
            let s = if uy >= bits as u64 {
                bits as u64 - 1
            } else {
                uy
            };
            sx >> s
        }
        Pow | Atan2 | Complex => 0,
    }
}

/// max/min select one operand: the comparison sees denormals as zero (DAZ) but the
/// selected operand keeps its bits, as XLA's compare-and-select does (found by the fuzzer:
/// `max(d, d)` of a subnormal `d` is `d` on both CPU plugins, not 0).
fn select_max_min(b: BinaryOp, x: f64, y: f64, fx: f64, fy: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    let pick_x = if fx == fy {
        // max(-0, +0) = +0 and min(-0, +0) = -0, as XLA does.
        match b {
            BinaryOp::Max => !fx.is_sign_negative() || fy.is_sign_negative(),
            _ => fx.is_sign_negative() || !fy.is_sign_negative(),
        }
    } else {
        match b {
            BinaryOp::Max => fx > fy,
            _ => fx < fy,
        }
    };
    if pick_x {
        x
    } else {
        y
    }
}

/// Real float arithmetic (the f32 instance also serves bf16/f16/f8, which compute in f32 and
/// round once): operands and results flushed like XLA CPU's FTZ/DAZ; max/min select an
/// operand, comparing flushed values (see `select_max_min`).
fn binary_float<T: Real>(b: BinaryOp, x: T, y: T) -> T {
    use BinaryOp::*;
    if matches!(b, Max | Min) {
        let (fx, fy) = (x.ftz().to_f64(), y.ftz().to_f64());
        return T::from_f64(select_max_min(b, x.to_f64(), y.to_f64(), fx, fy));
    }
    let (x, y) = (x.ftz(), y.ftz());
    match b {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
        Rem => x % y,
        Pow => x.powf(y),
        Atan2 => x.atan2(y),
        _ => T::NAN,
    }
    .ftz()
}

/// Complex arithmetic; the parts of a sum, difference, product or quotient are flushed to
/// zero when subnormal, as XLA CPU's FTZ does (fuzzer seed 17660984388907416698:
/// 0.5 / (-MAX + 3.25i) is -1.5e-39 before the flush, -0 on both plugins).
fn binary_c64(b: BinaryOp, x: Complex32, y: Complex32) -> Complex32 {
    use BinaryOp::*;
    let ftz = |z: Complex32| Complex32::new(Real::ftz(z.re), Real::ftz(z.im));
    match b {
        Add => ftz(x + y),
        Sub => ftz(x - y),
        Mul => ftz(x * y),
        Div => ftz(super::complex::div(x, y)),
        Pow => {
            if x == Complex32::new(0.0, 0.0) {
                if y == Complex32::new(0.0, 0.0) {
                    Complex32::new(1.0, 0.0)
                } else {
                    Complex32::new(0.0, 0.0)
                }
            } else {
                x.powc(y)
            }
        }
        _ => Complex32::new(f32::NAN, f32::NAN),
    }
}

/// Integer `div`/`rem` with the divisors that trap in C kept away from the divide: x / 0 and
/// x % 0 (and, signed, MIN / -1 and MIN % -1) are selected from their XLA results (-1, x, -x,
/// 0) and the divide sees 1 instead. XLA defines these at run time, but the API 0.81 CPU
/// plugin constant-folds a divide of constants with the host's instruction and dies of SIGFPE
/// (fuzzer seed 885037996365329272: `rem(iota, iota)`), so the guard is in every lowering.
pub(super) fn lower_int_div_rem(cx: &mut LowerCtx, b: BinaryOp, x: &V, y: &V, out: &AVal) -> V {
    let zero = cx.splat(0.0, out);
    let one = cx.splat(1.0, out);
    let is_zero = lower_compare(cx, CmpDir::Eq, y, &zero);
    let mut trap = is_zero.clone();
    let mut is_minus_one = None;
    if !out.dtype.is_unsigned_int() {
        let minus_one = cx.splat(-1.0, out);
        let m = lower_compare(cx, CmpDir::Eq, y, &minus_one);
        trap = cx.op1("stablehlo.or", &[&trap, &m], "", trap.aval.clone());
        is_minus_one = Some(m);
    }
    let safe = cx.op1("stablehlo.select", &[&trap, &one, y], "", out.clone());
    let mut v = cx.op1(binary_mlir(b), &[x, &safe], "", out.clone());
    if let Some(m) = is_minus_one {
        // x / -1 = -x (MIN wraps to MIN), x % -1 = 0.
        let r = match b {
            BinaryOp::Div => cx.op1("stablehlo.negate", &[x], "", out.clone()),
            _ => zero.clone(),
        };
        v = cx.op1("stablehlo.select", &[&m, &r, &v], "", out.clone());
    }
    // x / 0 = all ones (-1 signed, MAX unsigned), x % 0 = x.
    let r = match b {
        BinaryOp::Div => cx.op1("stablehlo.not", &[&zero], "", out.clone()),
        _ => x.clone(),
    };
    cx.op1("stablehlo.select", &[&is_zero, &r, &v], "", out.clone())
}

pub(super) fn to_i64s(d: &Data) -> Option<Vec<i64>> {
    Some(match d {
        Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I64(v) => v.clone(),
        Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
        Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
        _ => return None,
    })
}

/// The interpreter kernel of a binary primitive.
pub fn eval_binary(b: BinaryOp, x: &Literal, y: &Literal) -> Result<Literal> {
    let dt = x.dtype();
    let name = binary_name(b);
    let out = match (x.data(), y.data()) {
        (Data::F32(a), Data::F32(c)) if b == BinaryOp::Complex => Data::C64(
            a.iter()
                .zip(c)
                .map(|(&r, &i)| Complex32::new(r, i))
                .collect(),
        ),
        (Data::F32(a), Data::F32(c)) => Data::F32(
            a.iter()
                .zip(c)
                .map(|(&p, &q)| binary_float(b, p, q))
                .collect(),
        ),
        (Data::F64(a), Data::F64(c)) => Data::F64(
            a.iter()
                .zip(c)
                .map(|(&p, &q)| binary_float(b, p, q))
                .collect(),
        ),
        (Data::C64(a), Data::C64(c)) => Data::C64(
            a.iter()
                .zip(c)
                .map(|(&p, &q)| binary_c64(b, p, q))
                .collect(),
        ),
        (Data::F16(_) | Data::BF16(_) | Data::F8E4M3FN(_) | Data::F8E5M2(_), _) => {
            // Computed in f32 and rounded once, as XLA's CPU backend does for narrow floats.
            let (Data::F32(a), Data::F32(c)) = (
                convert_data(x.data(), DType::F32),
                convert_data(y.data(), DType::F32),
            ) else {
                return Err(Error::dtype(name, dt, "float"));
            };
            convert_data(
                &Data::F32(
                    a.iter()
                        .zip(&c)
                        .map(|(&p, &q)| binary_float(b, p, q))
                        .collect(),
                ),
                dt,
            )
        }
        (Data::Bool(a), Data::Bool(c)) => Data::Bool(
            a.iter()
                .zip(c)
                .map(|(&p, &q)| match b {
                    BinaryOp::And | BinaryOp::Min => p & q,
                    BinaryOp::Or | BinaryOp::Max => p | q,
                    BinaryOp::Xor => p ^ q,
                    _ => false,
                })
                .collect(),
        ),
        (dx, dy) => {
            let (Some(a), Some(c)) = (to_i64s(dx), to_i64s(dy)) else {
                return Err(Error::dtype(name, dt, "numeric"));
            };
            let r: Vec<i64> = a
                .iter()
                .zip(&c)
                .map(|(&p, &q)| binary_int(b, p, q, dt))
                .collect();
            convert_data(&Data::I64(r), dt)
        }
    };
    Literal::new(x.shape().clone(), out)
}

#[track_caller]
fn binary_op(b: BinaryOp, x: &Tensor, y: &Tensor) -> Tensor {
    let site = CallSite::here();
    match broadcast_pair(binary_name(b), x, y) {
        Ok((x, y)) => apply1(Op::Binary(b), &[&x, &y], site),
        Err(e) => crate::trace::apply_error(e, x.aval(), site),
    }
}

macro_rules! binary_methods {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                $(#[$m])*
                #[track_caller]
                pub fn $name(&self, other: &Tensor) -> Tensor {
                    binary_op(BinaryOp::$op, self, other)
                }
            )*
        }
    };
}

binary_methods! {
    /// Elementwise sum (numpy broadcasting, no dtype promotion).
    add => Add,
    /// Elementwise difference.
    sub => Sub,
    /// Elementwise product.
    mul => Mul,
    /// Elementwise quotient (integers truncate toward zero).
    div => Div,
    /// Remainder with the sign of the dividend (C fmod).
    rem => Rem,
    /// x^y.
    pow => Pow,
    /// Elementwise maximum (NaN-propagating).
    maximum => Max,
    /// Elementwise minimum (NaN-propagating).
    minimum => Min,
    /// atan2(self, other).
    atan2 => Atan2,
    /// Logical/bitwise and.
    and => And,
    /// Logical/bitwise or.
    or => Or,
    /// Logical/bitwise xor.
    xor => Xor,
    /// Shift left (counts >= bit width give 0).
    shift_left => ShiftLeft,
    /// Logical shift right.
    shift_right_logical => ShiftRightLogical,
    /// Arithmetic shift right.
    shift_right_arithmetic => ShiftRightArithmetic,
}

/// `select(x == z, 1, 0) / select(y == z, 2, 1)`: JAX's tie-splitting mask for max/min.
fn balanced_eq(x: &Tensor, z: &Tensor, y: &Tensor) -> Tensor {
    let num = Tensor::select(&x.eq(z), &z.scalar_like(1.0), &z.scalar_like(0.0));
    let den = Tensor::select(&y.eq(z), &z.scalar_like(2.0), &z.scalar_like(1.0));
    num / den
}

/// The VJP of a binary primitive.
pub fn binary_vjp(
    b: BinaryOp,
    x: &Tensor,
    y: &Tensor,
    z: &Tensor,
    g: &Tensor,
) -> Vec<Option<Tensor>> {
    use BinaryOp::*;
    match b {
        Add => vec![Some(g.clone()), Some(g.clone())],
        Sub => vec![Some(g.clone()), Some(g.neg())],
        Mul => vec![Some(g * y), Some(g * x)],
        Div => vec![Some(g / y), Some((g.neg() * x) / (y * y))],
        Rem => {
            let q = x / y;
            let trunc = q.sign() * q.abs().floor();
            vec![Some(g.clone()), Some(g.neg() * trunc)]
        }
        Pow => {
            let zero = crate::autodiff::zeros_like(y);
            let jac_x = Tensor::select(&y.eq(&zero), &zero, &(replace_zero(y) * x.pow(&(y - 1.0))));
            vec![Some(g * jac_x), Some(g * (replace_zero(x).log() * z))]
        }
        Max | Min => vec![
            Some(g * balanced_eq(x, z, y)),
            Some(g * balanced_eq(y, z, x)),
        ],
        Atan2 => {
            let d = x * x + y * y;
            vec![Some(g * y / &d), Some(g.neg() * x / &d)]
        }
        Complex => vec![Some(g.real()), Some(g.imag().neg())],
        And | Or | Xor | ShiftLeft | ShiftRightLogical | ShiftRightArithmetic => vec![None, None],
    }
}

impl Tensor {
    /// A complex tensor from real and imaginary f32 parts.
    #[track_caller]
    pub fn complex(re: &Tensor, im: &Tensor) -> Tensor {
        binary_op(BinaryOp::Complex, re, im)
    }
}
