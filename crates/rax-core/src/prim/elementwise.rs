//! Elementwise primitives: unary math, binary arithmetic/bitwise, compare, select, clamp,
//! convert and bitcast_convert — each with its typing rule, StableHLO lowering, interpreter
//! kernel and the `Tensor` methods and operators users call. Binary operators broadcast
//! numpy-style (inserting `broadcast_in_dim`) but never promote dtypes; Rust scalars are weakly
//! typed and take the tensor's dtype, as in JAX.
//!
//! Depends on `ir`, `literal`, `lower`, `trace`, and `layout` (broadcasting).

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::{BinaryOp, CmpDir, Op, UnaryOp};
use crate::literal::{convert_data, Data, Literal};
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::{apply1, Tensor};
use half::{bf16, f16};
use num_complex::Complex32;

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// Catalogue name of a unary op.
pub fn unary_name(u: UnaryOp) -> &'static str {
    use UnaryOp::*;
    match u {
        Neg => "neg",
        Abs => "abs",
        Sign => "sign",
        Exp => "exp",
        Expm1 => "expm1",
        Log => "log",
        Log1p => "log1p",
        Sqrt => "sqrt",
        Rsqrt => "rsqrt",
        Tanh => "tanh",
        Logistic => "logistic",
        Sin => "sin",
        Cos => "cos",
        Erf => "erf",
        ErfInv => "erf_inv",
        Floor => "floor",
        Ceil => "ceil",
        Round => "round",
        IsFinite => "is_finite",
        Not => "not",
        Real => "real",
        Imag => "imag",
    }
}

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

fn unary_mlir(u: UnaryOp) -> &'static str {
    use UnaryOp::*;
    match u {
        Neg => "stablehlo.negate",
        Abs => "stablehlo.abs",
        Sign => "stablehlo.sign",
        Exp => "stablehlo.exponential",
        Expm1 => "stablehlo.exponential_minus_one",
        Log => "stablehlo.log",
        Log1p => "stablehlo.log_plus_one",
        Sqrt => "stablehlo.sqrt",
        Rsqrt => "stablehlo.rsqrt",
        Tanh => "stablehlo.tanh",
        Logistic => "stablehlo.logistic",
        Sin => "stablehlo.sine",
        Cos => "stablehlo.cosine",
        Erf => "chlo.erf",
        ErfInv => "chlo.erf_inv",
        Floor => "stablehlo.floor",
        Ceil => "stablehlo.ceil",
        Round => "stablehlo.round_nearest_even",
        IsFinite => "stablehlo.is_finite",
        Not => "stablehlo.not",
        Real => "stablehlo.real",
        Imag => "stablehlo.imag",
    }
}

fn binary_mlir(b: BinaryOp) -> &'static str {
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

fn cmp_name(c: CmpDir) -> &'static str {
    match c {
        CmpDir::Eq => "EQ",
        CmpDir::Ne => "NE",
        CmpDir::Lt => "LT",
        CmpDir::Le => "LE",
        CmpDir::Gt => "GT",
        CmpDir::Ge => "GE",
    }
}

// ---------------------------------------------------------------------------------------------
// Typing rules
// ---------------------------------------------------------------------------------------------

fn unary_rule(u: UnaryOp, x: &AVal) -> Result<AVal> {
    use UnaryOp::*;
    let d = x.dtype;
    let name = unary_name(u);
    let ok = match u {
        Neg | Sign => d.is_int() || d.is_inexact(),
        Abs => d.is_signed_int() || d.is_inexact(),
        Exp | Expm1 | Log | Log1p | Sqrt | Rsqrt | Tanh | Logistic | Sin | Cos => d.is_inexact(),
        Erf | ErfInv | Floor | Ceil | Round | IsFinite => d.is_float(),
        Not => d.is_bool() || d.is_int(),
        Real | Imag => d.is_complex(),
    };
    if !ok {
        let expected = match u {
            Neg | Sign => "integer, float or complex",
            Abs => "signed integer, float or complex",
            Exp | Expm1 | Log | Log1p | Sqrt | Rsqrt | Tanh | Logistic | Sin | Cos => {
                "float or complex"
            }
            Erf | ErfInv | Floor | Ceil | Round | IsFinite => "real float",
            Not => "bool or integer",
            Real | Imag => "complex",
        };
        return Err(Error::dtype(name, d, expected));
    }
    let out = match u {
        IsFinite => DType::Bool,
        Abs | Real | Imag => d.real_dtype(),
        _ => d,
    };
    Ok(x.with_dtype(out))
}

fn same_shape(op: &str, a: &AVal, b: &AVal) -> Result<()> {
    if a.shape != b.shape {
        return Err(Error::shape(
            op,
            "operands must have equal shapes",
            &[a.clone(), b.clone()],
        ));
    }
    Ok(())
}

fn same_dtype(op: &str, a: &AVal, b: &AVal) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(Error::DTypeMismatch {
            op: op.into(),
            lhs: a.dtype,
            rhs: b.dtype,
            site: None,
        });
    }
    Ok(())
}

fn binary_rule(bop: BinaryOp, a: &AVal, b: &AVal) -> Result<AVal> {
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

/// The typing rule of the elementwise family.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    let name = super::op_name(op);
    let arity = match op {
        Op::Unary(_) | Op::Convert(_) | Op::BitcastConvert(_) => 1,
        Op::Binary(_) | Op::Compare(_) => 2,
        Op::Select | Op::Clamp => 3,
        _ => return Err(super::unreachable_op(op)),
    };
    if ins.len() != arity {
        return Err(Error::arg(
            name,
            format!("takes {arity} operands, got {}", ins.len()),
        ));
    }
    let out = match op {
        Op::Unary(u) => unary_rule(*u, &ins[0])?,
        Op::Binary(b) => binary_rule(*b, &ins[0], &ins[1])?,
        Op::Compare(c) => {
            same_dtype(name, &ins[0], &ins[1])?;
            same_shape(name, &ins[0], &ins[1])?;
            if ins[0].dtype.is_complex() && !matches!(c, CmpDir::Eq | CmpDir::Ne) {
                return Err(Error::dtype(
                    name,
                    ins[0].dtype,
                    "ordered comparisons need a real dtype",
                ));
            }
            ins[0].with_dtype(DType::Bool)
        }
        Op::Select => {
            let (p, t, f) = (&ins[0], &ins[1], &ins[2]);
            if p.dtype != DType::Bool {
                return Err(Error::dtype(name, p.dtype, "the predicate must be bool"));
            }
            same_dtype(name, t, f)?;
            same_shape(name, t, f)?;
            if p.rank() != 0 && p.shape != t.shape {
                return Err(Error::shape(
                    name,
                    "the predicate must be a scalar or match the branches",
                    ins,
                ));
            }
            t.clone()
        }
        Op::Clamp => {
            let (lo, x, hi) = (&ins[0], &ins[1], &ins[2]);
            same_dtype(name, lo, x)?;
            same_dtype(name, hi, x)?;
            if x.dtype.is_complex() {
                return Err(Error::dtype(name, x.dtype, "a real dtype"));
            }
            for b in [lo, hi] {
                if b.rank() != 0 && b.shape != x.shape {
                    return Err(Error::shape(
                        name,
                        "bounds must be scalars or match the operand",
                        ins,
                    ));
                }
            }
            x.clone()
        }
        Op::Convert(to) => ins[0].with_dtype(*to),
        Op::BitcastConvert(to) => bitcast_rule(&ins[0], *to)?,
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
}

fn bitcast_rule(x: &AVal, to: DType) -> Result<AVal> {
    let name = "bitcast_convert";
    if x.dtype == DType::Bool || to == DType::Bool {
        return Err(Error::dtype(
            name,
            DType::Bool,
            "bool has no defined bit layout; use convert",
        ));
    }
    if x.dtype.is_complex() != to.is_complex() {
        // StableHLO forbids it (the plugins refuse to compile it; found by the fuzzer).
        return Err(Error::dtype(
            name,
            if x.dtype.is_complex() { x.dtype } else { to },
            "a real dtype to a real dtype (complex values have no bitcast to real ones; use real/imag)",
        ));
    }
    let (wi, wo) = (x.dtype.size_bytes(), to.size_bytes());
    let mut dims = x.dims().to_vec();
    if wi == wo {
    } else if wi > wo {
        dims.push(wi / wo);
    } else {
        let ratio = wo / wi;
        if dims.last() != Some(&ratio) {
            return Err(Error::shape(
                name,
                format!(
                    "converting {} to {to} needs a trailing dimension of {ratio}",
                    x.dtype
                ),
                std::slice::from_ref(x),
            ));
        }
        dims.pop();
    }
    Ok(AVal::new(dims, to))
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

/// The StableHLO `compare_type` for a dtype.
pub fn compare_type(d: DType) -> &'static str {
    if d.is_inexact() {
        "FLOAT"
    } else if d.is_signed_int() {
        "SIGNED"
    } else {
        "UNSIGNED"
    }
}

/// Emits a `stablehlo.compare` (also used by other families' lowerings).
pub fn lower_compare(cx: &mut LowerCtx, c: CmpDir, a: &V, b: &V) -> V {
    let attrs = format!(
        "comparison_direction = #stablehlo<comparison_direction {}>, compare_type = #stablehlo<comparison_type {}>",
        cmp_name(c),
        compare_type(a.aval.dtype)
    );
    cx.op1(
        "stablehlo.compare",
        &[a, b],
        &attrs,
        a.aval.with_dtype(DType::Bool),
    )
}

/// The lowering of the elementwise family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    let out = outs
        .first()
        .cloned()
        .ok_or_else(|| super::unreachable_op(op))?;
    let refs: Vec<&V> = ins.iter().collect();
    let v = match op {
        // stablehlo.sign rejects unsigned integers: sign(x) = (x != 0) as the dtype.
        Op::Unary(UnaryOp::Sign) if out.dtype.is_unsigned_int() => {
            let zero = cx.splat(0.0, &out);
            let nz = lower_compare(cx, CmpDir::Ne, &ins[0], &zero);
            cx.op1("stablehlo.convert", &[&nz], "", out)
        }
        Op::Unary(u) => cx.op1(unary_mlir(*u), &refs, "", out),
        Op::Binary(b) => cx.op1(binary_mlir(*b), &refs, "", out),
        Op::Compare(c) => lower_compare(cx, *c, &ins[0], &ins[1]),
        Op::Select => cx.op1("stablehlo.select", &refs, "", out),
        Op::Clamp => cx.op1("stablehlo.clamp", &refs, "", out),
        Op::Convert(_) => cx.op1("stablehlo.convert", &refs, "", out),
        Op::BitcastConvert(_) => cx.op1("stablehlo.bitcast_convert", &refs, "", out),
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![v])
}

// ---------------------------------------------------------------------------------------------
// Interpreter kernels
// ---------------------------------------------------------------------------------------------

fn erf_inv_f64(y: f64) -> f64 {
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

/// XLA's CPU backend runs with denormals flushed to zero (FTZ/DAZ): arithmetic results that
/// would be subnormal become a zero of the same sign. The interpreter does the same so that it
/// agrees with the plugin; ops that only move bits (neg, abs, copies) are not flushed.
fn ftz32(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}

fn ftz64(x: f64) -> f64 {
    if x.is_subnormal() {
        0.0f64.copysign(x)
    } else {
        x
    }
}

fn flushes(u: UnaryOp) -> bool {
    !matches!(u, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign)
}

fn sign_f64(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

fn logistic_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn logistic_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn unary_f32(u: UnaryOp, x: f32) -> f32 {
    use UnaryOp::*;
    match u {
        Neg => -x,
        Abs => x.abs(),
        Sign => sign_f64(x as f64) as f32,
        Exp => x.exp(),
        Expm1 => x.exp_m1(),
        Log => x.ln(),
        Log1p => x.ln_1p(),
        Sqrt => x.sqrt(),
        Rsqrt => 1.0 / x.sqrt(),
        Tanh => x.tanh(),
        Logistic => logistic_f32(x),
        Sin => x.sin(),
        Cos => x.cos(),
        Erf => libm::erff(x),
        ErfInv => erf_inv_f64(x as f64) as f32,
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => x.round_ties_even(),
        IsFinite | Not | Real | Imag => f32::NAN,
    }
}

fn unary_f64(u: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match u {
        Neg => -x,
        Abs => x.abs(),
        Sign => sign_f64(x),
        Exp => x.exp(),
        Expm1 => x.exp_m1(),
        Log => x.ln(),
        Log1p => x.ln_1p(),
        Sqrt => x.sqrt(),
        Rsqrt => 1.0 / x.sqrt(),
        Tanh => x.tanh(),
        Logistic => logistic_f64(x),
        Sin => x.sin(),
        Cos => x.cos(),
        Erf => libm::erf(x),
        ErfInv => erf_inv_f64(x),
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => x.round_ties_even(),
        IsFinite | Not | Real | Imag => f64::NAN,
    }
}

fn unary_c64(u: UnaryOp, z: Complex32) -> Complex32 {
    use UnaryOp::*;
    let one = Complex32::new(1.0, 0.0);
    match u {
        Neg => -z,
        Sign => {
            let n = z.norm();
            if n == 0.0 {
                Complex32::new(0.0, 0.0)
            } else {
                z / n
            }
        }
        Exp => z.exp(),
        Expm1 => z.exp() - one,
        Log => z.ln(),
        Log1p => (z + one).ln(),
        Sqrt => z.sqrt(),
        Rsqrt => one / z.sqrt(),
        Tanh => z.tanh(),
        Logistic => one / (one + (-z).exp()),
        Sin => z.sin(),
        Cos => z.cos(),
        _ => Complex32::new(f32::NAN, f32::NAN),
    }
}

fn unary_int(u: UnaryOp, x: i64) -> i64 {
    use UnaryOp::*;
    match u {
        Neg => x.wrapping_neg(),
        Abs => x.wrapping_abs(),
        Sign => x.signum(),
        Not => !x,
        _ => 0,
    }
}

/// Maps a float unary through f32 for narrow floats (the value is rounded back once), f64 for f64.
fn map_float(d: &Data, f32f: impl Fn(f32) -> f32, f64f: impl Fn(f64) -> f64) -> Option<Data> {
    Some(match d {
        Data::F32(v) => Data::F32(v.iter().map(|&x| f32f(x)).collect()),
        Data::F64(v) => Data::F64(v.iter().map(|&x| f64f(x)).collect()),
        Data::F16(v) => Data::F16(v.iter().map(|&x| f16::from_f32(f32f(x.to_f32()))).collect()),
        Data::BF16(v) => Data::BF16(
            v.iter()
                .map(|&x| bf16::from_f32(f32f(x.to_f32())))
                .collect(),
        ),
        Data::F8E4M3FN(_) | Data::F8E5M2(_) => {
            let f = convert_data(d, DType::F32);
            let Data::F32(v) = f else { return None };
            convert_data(&Data::F32(v.iter().map(|&x| f32f(x)).collect()), d.dtype())
        }
        _ => return None,
    })
}

/// Maps an integer unary through i64 and wraps back to the dtype.
fn map_int(d: &Data, f: impl Fn(i64) -> i64) -> Option<Data> {
    let iv: Vec<i64> = match d {
        Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I64(v) => v.clone(),
        Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
        Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
        _ => return None,
    };
    let r: Vec<i64> = iv.into_iter().map(f).collect();
    Some(convert_data(&Data::I64(r), d.dtype()))
}

fn eval_unary(u: UnaryOp, x: &Literal) -> Result<Literal> {
    use UnaryOp::*;
    let d = x.data();
    let out = match (u, d) {
        (IsFinite, _) => {
            let f = convert_data(d, DType::F64);
            let Data::F64(v) = f else {
                return Err(Error::dtype("is_finite", x.dtype(), "real float"));
            };
            Data::Bool(v.iter().map(|x| x.is_finite()).collect())
        }
        (Not, Data::Bool(v)) => Data::Bool(v.iter().map(|b| !b).collect()),
        (Real, Data::C64(v)) => Data::F32(v.iter().map(|z| z.re).collect()),
        (Imag, Data::C64(v)) => Data::F32(v.iter().map(|z| z.im).collect()),
        (Abs, Data::C64(v)) => Data::F32(v.iter().map(|z| z.norm()).collect()),
        (_, Data::C64(v)) => Data::C64(v.iter().map(|&z| unary_c64(u, z)).collect()),
        (Abs, Data::U8(_) | Data::U32(_)) => d.clone(),
        (Neg | Abs | Sign | Not, _) if x.dtype().is_int() => {
            if x.dtype().is_unsigned_int() && u == Sign {
                map_int(d, |v| (v != 0) as i64)
            } else {
                map_int(d, |v| unary_int(u, v))
            }
            .ok_or_else(|| Error::dtype(unary_name(u), x.dtype(), "integer"))?
        }
        _ if flushes(u) => map_float(
            d,
            |v| ftz32(unary_f32(u, ftz32(v))),
            |v| ftz64(unary_f64(u, ftz64(v))),
        )
        .ok_or_else(|| Error::dtype(unary_name(u), x.dtype(), "float"))?,
        _ => map_float(d, |v| unary_f32(u, v), |v| unary_f64(u, v))
            .ok_or_else(|| Error::dtype(unary_name(u), x.dtype(), "float"))?,
    };
    Literal::new(x.shape().clone(), out)
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

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        // max(-0, +0) = +0 as XLA does.
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else {
        a.max(b)
    }
}

fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else {
        a.min(b)
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

fn binary_f64(b: BinaryOp, x: f64, y: f64) -> f64 {
    use BinaryOp::*;
    if matches!(b, Max | Min) {
        return select_max_min(b, x, y, ftz64(x), ftz64(y));
    }
    let (x, y) = (ftz64(x), ftz64(y));
    ftz64(match b {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
        Rem => x % y,
        Pow => x.powf(y),
        Max => nan_max(x, y),
        Min => nan_min(x, y),
        Atan2 => x.atan2(y),
        _ => f64::NAN,
    })
}

fn binary_f32(b: BinaryOp, x: f32, y: f32) -> f32 {
    use BinaryOp::*;
    if matches!(b, Max | Min) {
        let (fx, fy) = (ftz32(x) as f64, ftz32(y) as f64);
        return select_max_min(b, x as f64, y as f64, fx, fy) as f32;
    }
    let (x, y) = (ftz32(x), ftz32(y));
    ftz32(match b {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
        Rem => x % y,
        Pow => x.powf(y),
        Max | Min => binary_f64(b, x as f64, y as f64) as f32,
        Atan2 => x.atan2(y),
        _ => f32::NAN,
    })
}

fn binary_c64(b: BinaryOp, x: Complex32, y: Complex32) -> Complex32 {
    use BinaryOp::*;
    match b {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
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

fn to_i64s(d: &Data) -> Option<Vec<i64>> {
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

fn eval_binary(b: BinaryOp, x: &Literal, y: &Literal) -> Result<Literal> {
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
                .map(|(&p, &q)| binary_f32(b, p, q))
                .collect(),
        ),
        (Data::F64(a), Data::F64(c)) => Data::F64(
            a.iter()
                .zip(c)
                .map(|(&p, &q)| binary_f64(b, p, q))
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
                        .map(|(&p, &q)| binary_f32(b, p, q))
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

fn eval_compare(c: CmpDir, x: &Literal, y: &Literal) -> Result<Literal> {
    use std::cmp::Ordering;
    let n = x.numel();
    let ord: Vec<Option<Ordering>> = match (x.data(), y.data()) {
        (Data::C64(a), Data::C64(b)) => a
            .iter()
            .zip(b)
            .map(|(p, q)| if p == q { Some(Ordering::Equal) } else { None })
            .collect(),
        (Data::U32(a), Data::U32(b)) => a.iter().zip(b).map(|(p, q)| p.partial_cmp(q)).collect(),
        (dx, dy) if x.dtype().is_int() || x.dtype().is_bool() => {
            let (Some(a), Some(b)) = (to_i64s(dx), to_i64s(dy)) else {
                return Err(Error::dtype("compare", x.dtype(), "any"));
            };
            a.iter().zip(&b).map(|(p, q)| p.partial_cmp(q)).collect()
        }
        _ => {
            let (a, b) = (x.to_f64_vec(), y.to_f64_vec());
            a.iter().zip(&b).map(|(p, q)| p.partial_cmp(q)).collect()
        }
    };
    let complex_ne = |i: usize| -> bool {
        // Complex NE is true when unequal (including NaN parts).
        ord[i].is_none()
    };
    let out: Vec<bool> = (0..n)
        .map(|i| match (c, ord[i]) {
            (CmpDir::Eq, o) => o == Some(Ordering::Equal),
            (CmpDir::Ne, _) if x.dtype().is_complex() => complex_ne(i),
            (CmpDir::Ne, o) => o != Some(Ordering::Equal),
            (CmpDir::Lt, o) => o == Some(Ordering::Less),
            (CmpDir::Le, o) => matches!(o, Some(Ordering::Less | Ordering::Equal)),
            (CmpDir::Gt, o) => o == Some(Ordering::Greater),
            (CmpDir::Ge, o) => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
        })
        .collect();
    Literal::new(x.shape().clone(), Data::Bool(out))
}

fn eval_select(p: &Literal, t: &Literal, f: &Literal) -> Result<Literal> {
    let pv = p.as_slice::<bool>()?;
    let n = t.numel();
    let idx: Vec<usize> = (0..n)
        .map(|i| {
            let take_true = if pv.len() == 1 { pv[0] } else { pv[i] };
            if take_true {
                i
            } else {
                i + n
            }
        })
        .collect();
    // Gather from the concatenation [t, f] by flat index.
    let both = concat_data(t.data(), f.data());
    Literal::new(t.shape().clone(), both.gather_flat(&idx))
}

/// Concatenates two storages of one dtype.
pub fn concat_data(a: &Data, b: &Data) -> Data {
    macro_rules! cat {
        ($($c:ident),*) => {
            match (a, b) {
                $((Data::$c(x), Data::$c(y)) => Data::$c(x.iter().chain(y).copied().collect()),)*
                _ => a.clone(),
            }
        };
    }
    cat!(Bool, I8, I32, I64, U8, U32, F16, BF16, F32, F64, F8E4M3FN, F8E5M2, C64)
}

fn eval_clamp(lo: &Literal, x: &Literal, hi: &Literal) -> Result<Literal> {
    let n = x.numel();
    let bcast = |l: &Literal| -> Result<Literal> {
        if l.numel() == n {
            Ok(l.clone())
        } else {
            Literal::new(x.shape().clone(), l.data().gather_flat(&vec![0; n]))
        }
    };
    let (lo, hi) = (bcast(lo)?, bcast(hi)?);
    let m = eval_binary(BinaryOp::Max, &lo, x)?;
    eval_binary(BinaryOp::Min, &m, &hi)
}

fn eval_bitcast(x: &Literal, to: DType) -> Result<Literal> {
    let out = bitcast_rule(&x.aval(), to)?;
    Literal::from_bytes(&out, &x.to_bytes())
}

/// The interpreter kernels of the elementwise family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let out = match op {
        Op::Unary(u) => eval_unary(*u, ins[0])?,
        Op::Binary(b) => eval_binary(*b, ins[0], ins[1])?,
        Op::Compare(c) => eval_compare(*c, ins[0], ins[1])?,
        Op::Select => eval_select(ins[0], ins[1], ins[2])?,
        Op::Clamp => eval_clamp(ins[0], ins[1], ins[2])?,
        Op::Convert(to) => ins[0].convert(*to),
        Op::BitcastConvert(to) => eval_bitcast(ins[0], *to)?,
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
}

// ---------------------------------------------------------------------------------------------
// Tensor API
// ---------------------------------------------------------------------------------------------

macro_rules! unary_methods {
    ($($(#[$m:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                $(#[$m])*
                #[track_caller]
                pub fn $name(&self) -> Tensor {
                    apply1(Op::Unary(UnaryOp::$op), &[self], CallSite::here())
                }
            )*
        }
    };
}

unary_methods! {
    /// Elementwise negation.
    neg => Neg,
    /// Absolute value (modulus for complex, giving f32).
    abs => Abs,
    /// Sign: -1, 0 or 1 (NaN stays NaN; -0.0 stays -0.0).
    sign => Sign,
    /// e^x.
    exp => Exp,
    /// e^x - 1, accurate near 0.
    expm1 => Expm1,
    /// Natural logarithm.
    log => Log,
    /// ln(1 + x), accurate near 0.
    log1p => Log1p,
    /// Square root.
    sqrt => Sqrt,
    /// 1 / sqrt(x).
    rsqrt => Rsqrt,
    /// Hyperbolic tangent.
    tanh => Tanh,
    /// The logistic sigmoid 1 / (1 + e^-x).
    sigmoid => Logistic,
    /// Sine.
    sin => Sin,
    /// Cosine.
    cos => Cos,
    /// The error function.
    erf => Erf,
    /// The inverse error function.
    erf_inv => ErfInv,
    /// Round toward -inf.
    floor => Floor,
    /// Round toward +inf.
    ceil => Ceil,
    /// Round half to even.
    round => Round,
    /// True where the value is neither inf nor NaN.
    is_finite => IsFinite,
    /// Logical not (bool) or bitwise not (integers).
    logical_not => Not,
    /// Real part of a complex tensor.
    real => Real,
    /// Imaginary part of a complex tensor.
    imag => Imag,
}

/// Broadcasts two tensors to their common shape (numpy rules); errors name the op.
#[track_caller]
pub fn broadcast_pair(op: &str, a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa == sb {
        return Ok((a.clone(), b.clone()));
    }
    let shape = super::layout::broadcast_shapes(sa.dims(), sb.dims())
        .ok_or_else(|| Error::shape(op, "shapes are not broadcastable", &[a.aval(), b.aval()]))?;
    Ok((a.broadcast_to(&shape), b.broadcast_to(&shape)))
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

impl Tensor {
    /// A complex tensor from real and imaginary f32 parts.
    #[track_caller]
    pub fn complex(re: &Tensor, im: &Tensor) -> Tensor {
        binary_op(BinaryOp::Complex, re, im)
    }

    #[track_caller]
    fn compare(&self, other: &Tensor, c: CmpDir) -> Tensor {
        let site = CallSite::here();
        match broadcast_pair("compare", self, other) {
            Ok((x, y)) => apply1(Op::Compare(c), &[&x, &y], site),
            Err(e) => crate::trace::apply_error(e, self.aval(), site),
        }
    }

    /// self == other, elementwise (bool).
    #[track_caller]
    pub fn eq(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Eq)
    }
    /// self != other.
    #[track_caller]
    pub fn ne(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Ne)
    }
    /// self < other.
    #[track_caller]
    pub fn lt(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Lt)
    }
    /// self <= other.
    #[track_caller]
    pub fn le(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Le)
    }
    /// self > other.
    #[track_caller]
    pub fn gt(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Gt)
    }
    /// self >= other.
    #[track_caller]
    pub fn ge(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Ge)
    }

    /// `where(pred, on_true, on_false)` with broadcasting of all three.
    #[track_caller]
    pub fn select(pred: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Tensor {
        let site = CallSite::here();
        let r = (|| {
            let (t, f) = broadcast_pair("select", on_true, on_false)?;
            let shape = super::layout::broadcast_shapes(pred.shape().dims(), t.shape().dims())
                .ok_or_else(|| {
                    Error::shape(
                        "select",
                        "predicate does not broadcast",
                        &[pred.aval(), t.aval()],
                    )
                })?;
            Ok::<_, Error>((
                pred.broadcast_to(&shape),
                t.broadcast_to(&shape),
                f.broadcast_to(&shape),
            ))
        })();
        match r {
            Ok((p, t, f)) => apply1(Op::Select, &[&p, &t, &f], site),
            Err(e) => crate::trace::apply_error(e, on_true.aval(), site),
        }
    }

    /// Clamps into `[lo, hi]` (scalars or same-shape tensors).
    #[track_caller]
    pub fn clamp(&self, lo: &Tensor, hi: &Tensor) -> Tensor {
        apply1(Op::Clamp, &[lo, self, hi], CallSite::here())
    }

    /// Clamps into `[lo, hi]` given as Rust scalars of the tensor's dtype.
    #[track_caller]
    pub fn clamp_scalar(&self, lo: f64, hi: f64) -> Tensor {
        let d = self.dtype();
        self.clamp(&Tensor::scalar_of(lo, d), &Tensor::scalar_of(hi, d))
    }

    /// Element type conversion (`stablehlo.convert`). The identity when the dtype matches.
    #[track_caller]
    pub fn cast(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        apply1(Op::Convert(dtype), &[self], CallSite::here())
    }

    /// Reinterprets the bits as another dtype.
    #[track_caller]
    pub fn bitcast(&self, dtype: DType) -> Tensor {
        apply1(Op::BitcastConvert(dtype), &[self], CallSite::here())
    }

    /// A concrete scalar of a dtype (Rust numbers are weakly typed: they take this dtype).
    /// An error tensor when the dtype cannot represent the value exactly (0.5 or NaN for an
    /// integer dtype, -1 for u8, 300 for i8): rax does not promote implicitly.
    #[track_caller]
    pub fn scalar_of(value: f64, dtype: DType) -> Tensor {
        Tensor::scalar_for("scalar_of", value, dtype)
    }

    /// [`Tensor::scalar_of`] for the operand of `op` (the name the error gives).
    #[track_caller]
    pub fn scalar_for(op: &str, value: f64, dtype: DType) -> Tensor {
        let aval = AVal::scalar(dtype);
        match Literal::try_full(op, &aval, value) {
            Ok(l) => Tensor::from_literal(l),
            Err(e) => crate::trace::apply_error(e, aval, CallSite::here()),
        }
    }

    /// A scalar of this tensor's dtype.
    #[track_caller]
    pub fn scalar_like(&self, value: f64) -> Tensor {
        Tensor::scalar_of(value, self.dtype())
    }
}

// Operators: tensor (op) tensor, and tensor (op) Rust scalar / scalar (op) tensor.
macro_rules! impl_ops {
    ($tr:ident, $f:ident, $m:ident) => {
        impl std::ops::$tr<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: &Tensor) -> Tensor {
                self.$m(rhs)
            }
        }
        impl std::ops::$tr<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: Tensor) -> Tensor {
                (&self).$m(&rhs)
            }
        }
        impl std::ops::$tr<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: &Tensor) -> Tensor {
                (&self).$m(rhs)
            }
        }
        impl std::ops::$tr<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: Tensor) -> Tensor {
                self.$m(&rhs)
            }
        }
        impl_ops!(@scalar $tr, $f, $m, f64, i32);
    };
    (@scalar $tr:ident, $f:ident, $m:ident, $($s:ty),*) => {
        $(
            impl std::ops::$tr<$s> for &Tensor {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: $s) -> Tensor {
                    self.$m(&Tensor::scalar_for(stringify!($m), rhs as f64, self.dtype()))
                }
            }
            impl std::ops::$tr<$s> for Tensor {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: $s) -> Tensor {
                    (&self).$m(&Tensor::scalar_for(stringify!($m), rhs as f64, self.dtype()))
                }
            }
            impl std::ops::$tr<&Tensor> for $s {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: &Tensor) -> Tensor {
                    Tensor::scalar_for(stringify!($m), self as f64, rhs.dtype()).$m(rhs)
                }
            }
            impl std::ops::$tr<Tensor> for $s {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: Tensor) -> Tensor {
                    Tensor::scalar_for(stringify!($m), self as f64, rhs.dtype()).$m(&rhs)
                }
            }
        )*
    };
}

impl_ops!(Add, add, add);
impl_ops!(Sub, sub, sub);
impl_ops!(Mul, mul, mul);
impl_ops!(Div, div, div);
impl_ops!(Rem, rem, rem);

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl std::ops::Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}

impl std::ops::Not for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn not(self) -> Tensor {
        self.logical_not()
    }
}

impl std::ops::BitAnd for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn bitand(self, rhs: &Tensor) -> Tensor {
        self.and(rhs)
    }
}

impl std::ops::BitOr for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn bitor(self, rhs: &Tensor) -> Tensor {
        self.or(rhs)
    }
}

impl std::ops::BitXor for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn bitxor(self, rhs: &Tensor) -> Tensor {
        self.xor(rhs)
    }
}

// ---------------------------------------------------------------------------------------------
// VJP rules (as in JAX; complex cotangents use JAX's transpose convention, no conjugation)
// ---------------------------------------------------------------------------------------------

/// `select(x == z, 1, 0) / select(y == z, 2, 1)`: JAX's tie-splitting mask for max/min.
fn balanced_eq(x: &Tensor, z: &Tensor, y: &Tensor) -> Tensor {
    let num = Tensor::select(&x.eq(z), &z.scalar_like(1.0), &z.scalar_like(0.0));
    let den = Tensor::select(&y.eq(z), &z.scalar_like(2.0), &z.scalar_like(1.0));
    num / den
}

/// `select(x == 0, 1, x)`.
fn replace_zero(x: &Tensor) -> Tensor {
    Tensor::select(&x.eq(&x.scalar_like(0.0)), &x.scalar_like(1.0), x)
}

fn unary_vjp(u: UnaryOp, x: &Tensor, z: &Tensor, g: &Tensor) -> Option<Tensor> {
    use UnaryOp::*;
    Some(match u {
        Neg => g.neg(),
        Abs => {
            if x.dtype().is_complex() {
                let mag = Tensor::complex(&replace_zero(z), &crate::autodiff::zeros_like(z));
                let gc = Tensor::complex(g, &crate::autodiff::zeros_like(g));
                gc * (crate::autodiff::conj(x) / mag)
            } else {
                Tensor::select(&x.ge(&x.scalar_like(0.0)), g, &g.neg())
            }
        }
        Sign | Floor | Ceil | Round | IsFinite | Not => return None,
        Exp => g * z,
        Expm1 => g * (z + 1.0),
        Log => g / x,
        Log1p => g / (x + 1.0),
        Sqrt => g * (z.scalar_like(0.5) / z),
        Rsqrt => g * ((z / x) * -0.5),
        Tanh => (g + g * z) * (1.0 - z),
        Logistic => g * (z * (1.0 - z)),
        Sin => g * x.cos(),
        Cos => g.neg() * x.sin(),
        Erf => g * ((x * x).neg().exp() * std::f64::consts::FRAC_2_SQRT_PI),
        ErfInv => g * ((z * z).exp() * (std::f64::consts::PI.sqrt() / 2.0)),
        Real => Tensor::complex(g, &crate::autodiff::zeros_like(g)),
        Imag => Tensor::complex(&crate::autodiff::zeros_like(g), &g.neg()),
    })
}

fn binary_vjp(b: BinaryOp, x: &Tensor, y: &Tensor, z: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
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

/// The VJP rules of the elementwise family. `sign`, rounding, comparisons, bitwise ops and
/// `bitcast_convert` have zero cotangents. A `convert` cotangent is converted back to the
/// operand's dtype (through `real` when the conversion went real -> complex).
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let (Some(Some(g)), Some(z)) = (cts.first(), outs.first()) else {
        return Ok(vec![None; ins.len()]);
    };
    let arity_err = || super::unreachable_op(op);
    let r = match op {
        Op::Unary(u) => vec![unary_vjp(*u, ins.first().ok_or_else(arity_err)?, z, g)],
        Op::Binary(b) => {
            let (Some(x), Some(y)) = (ins.first(), ins.get(1)) else {
                return Err(arity_err());
            };
            binary_vjp(*b, x, y, z, g)
        }
        Op::Compare(_) => vec![None, None],
        Op::Select => {
            let p = ins.first().ok_or_else(arity_err)?;
            let zero = crate::autodiff::zeros_like(g);
            vec![
                None,
                Some(Tensor::select(p, g, &zero)),
                Some(Tensor::select(p, &zero, g)),
            ]
        }
        Op::Clamp => {
            let (Some(lo), Some(x), Some(hi)) = (ins.first(), ins.get(1), ins.get(2)) else {
                return Err(arity_err());
            };
            let zero = crate::autodiff::zeros_like(g);
            let ct_lo = Tensor::select(&(&lo.gt(x) & &lo.lt(hi)), g, &zero);
            let ct_x = Tensor::select(&(&x.gt(lo) & &x.lt(hi)), g, &zero);
            let ct_hi = Tensor::select(&hi.lt(x), g, &zero);
            vec![
                Some(crate::autodiff::unbroadcast(&ct_lo, &lo.aval())),
                Some(ct_x),
                Some(crate::autodiff::unbroadcast(&ct_hi, &hi.aval())),
            ]
        }
        Op::Convert(_) => {
            let x = ins.first().ok_or_else(arity_err)?;
            let d = x.dtype();
            if !d.is_inexact() {
                vec![None]
            } else if g.dtype().is_complex() && !d.is_complex() {
                vec![Some(g.real().cast(d))]
            } else {
                vec![Some(g.cast(d))]
            }
        }
        Op::BitcastConvert(_) => vec![None],
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(r)
}
