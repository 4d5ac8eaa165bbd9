//! The machinery behind the unary table (`unary_ops.rs`): what one declaration says
//! ([`UnaryDef`]: name, StableHLO op, accepted dtypes, result dtype, kernels, VJP), the
//! `unary_ops!` macro that turns the table into the `UnaryOp` enum, its definitions and the
//! `Tensor` methods, and the typing rule, lowering, kernel and VJP that every unary primitive
//! shares — none of which matches on the op: they read its definition.
//!
//! Depends on `float` (the generic kernels' math), `ir`, `literal`, `lower`, `trace`.

use super::float::Real;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::literal::{convert_data, Data, Literal};
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::Tensor;
use half::{bf16, f16};
use num_complex::Complex32;

/// The operand dtypes a unary primitive accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepts {
    /// Integers, floats and complex.
    Numeric,
    /// Signed integers, floats and complex.
    SignedOrInexact,
    /// Floats and complex.
    Inexact,
    /// Real floats.
    RealFloat,
    /// Bool and integers.
    BoolOrInt,
    /// Complex only.
    Complex,
}

impl Accepts {
    /// Whether `d` is accepted.
    pub fn admits(self, d: DType) -> bool {
        match self {
            Accepts::Numeric => d.is_int() || d.is_inexact(),
            Accepts::SignedOrInexact => d.is_signed_int() || d.is_inexact(),
            Accepts::Inexact => d.is_inexact(),
            Accepts::RealFloat => d.is_float(),
            Accepts::BoolOrInt => d.is_bool() || d.is_int(),
            Accepts::Complex => d.is_complex(),
        }
    }

    /// What a dtype error says is expected.
    pub fn expected(self) -> &'static str {
        match self {
            Accepts::Numeric => "integer, float or complex",
            Accepts::SignedOrInexact => "signed integer, float or complex",
            Accepts::Inexact => "float or complex",
            Accepts::RealFloat => "real float",
            Accepts::BoolOrInt => "bool or integer",
            Accepts::Complex => "complex",
        }
    }
}

/// The result dtype of a unary primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutDType {
    /// The operand's.
    Same,
    /// The operand's real dtype (c64 -> f32, others unchanged).
    Real,
    /// bool.
    Bool,
}

/// A float kernel: one generic function over [`Real`], instantiated for f32 and f64.
pub type FloatKernel = (fn(f32) -> f32, fn(f64) -> f64);

/// The interpreter kernels of one unary primitive, by operand kind (`None`: the rule rejects
/// that kind). Float kernels are one generic function over [`Real`], instantiated twice.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Real floats (bf16/f16/f8 compute through the f32 instance and round once).
    pub float: Option<FloatKernel>,
    /// c64 to c64.
    pub complex: Option<fn(Complex32) -> Complex32>,
    /// c64 to its real dtype (abs, real, imag).
    pub complex_real: Option<fn(Complex32) -> f32>,
    /// Integers, through i64 and wrapped back to the dtype.
    pub int: Option<fn(i64) -> i64>,
    /// bool.
    pub bool: Option<fn(bool) -> bool>,
    /// A predicate of a real float (through f64), giving bool.
    pub is: Option<fn(f64) -> bool>,
}

impl Kernels {
    /// No kernels (the base of a declaration's struct update).
    pub const NONE: Kernels = Kernels {
        float: None,
        complex: None,
        complex_real: None,
        int: None,
        bool: None,
        is: None,
    };
}

/// The VJP of a unary primitive: the operand's cotangent from the operand `x`, the result `z`
/// and the result's cotangent `g`.
pub type UnaryVjp = fn(x: &Tensor, z: &Tensor, g: &Tensor) -> Tensor;

/// A lowering that replaces the default one-op lowering.
pub type UnaryLower = fn(cx: &mut LowerCtx, x: &V, out: &AVal) -> V;

/// Everything rax knows about one unary primitive, from one table entry.
pub struct UnaryDef {
    /// Catalogue name.
    pub name: &'static str,
    /// The StableHLO/CHLO op.
    pub mlir: &'static str,
    /// Accepted operand dtypes.
    pub accepts: Accepts,
    /// Result dtype.
    pub out: OutDType,
    /// Arithmetic whose float results XLA CPU flushes to zero when subnormal (and whose
    /// subnormal operands it reads as zero); ops that only move bits (neg, abs, sign) do not.
    pub flush: bool,
    /// Interpreter kernels.
    pub kernels: Kernels,
    /// The VJP; `None` for a primitive with zero cotangents (rounding, predicates, bitwise).
    pub vjp: Option<UnaryVjp>,
    /// A lowering other than `mlir` applied to the operand.
    pub lower: Option<UnaryLower>,
}

/// One kernel of a declaration, as a function pointer (helper of `unary_ops!`).
macro_rules! unary_kernel {
    (float $a:ident $e:expr) => {{
        fn k<T: $crate::prim::elementwise::float::Real>($a: T) -> T {
            $e
        }
        (k::<f32> as fn(f32) -> f32, k::<f64> as fn(f64) -> f64)
    }};
    (complex $a:ident $e:expr) => {{
        fn k($a: num_complex::Complex32) -> num_complex::Complex32 {
            $e
        }
        k as fn(num_complex::Complex32) -> num_complex::Complex32
    }};
    (complex_real $a:ident $e:expr) => {{
        fn k($a: num_complex::Complex32) -> f32 {
            $e
        }
        k as fn(num_complex::Complex32) -> f32
    }};
    (int $a:ident $e:expr) => {{
        fn k($a: i64) -> i64 {
            $e
        }
        k as fn(i64) -> i64
    }};
    (bool $a:ident $e:expr) => {{
        fn k($a: bool) -> bool {
            $e
        }
        k as fn(bool) -> bool
    }};
    (is $a:ident $e:expr) => {{
        fn k($a: f64) -> bool {
            $e
        }
        k as fn(f64) -> bool
    }};
}

/// The optional VJP of a declaration (helper of `unary_ops!`).
macro_rules! unary_vjp {
    () => {
        None
    };
    (|$x:ident, $z:ident, $g:ident| $e:expr) => {{
        fn vjp($x: &Tensor, $z: &Tensor, $g: &Tensor) -> Tensor {
            $e
        }
        Some(vjp as $crate::prim::elementwise::unary::UnaryVjp)
    }};
}

/// The optional custom lowering of a declaration (helper of `unary_ops!`).
macro_rules! unary_lower {
    () => {
        None
    };
    ($f:path) => {
        Some($f as $crate::prim::elementwise::unary::UnaryLower)
    };
}

/// Declares the unary primitives: each entry gives the `UnaryOp` variant, the `Tensor`
/// method, and its [`UnaryDef`] fields; `kernels { kind: |a| expr, ... }` lists the kernels
/// by operand kind (`float` is generic over [`Real`]); `vjp: |x, z, g| expr` (omitted: zero
/// cotangents) and `lower: path` (omitted: the `mlir` op) are optional.
macro_rules! unary_ops {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $method:ident {
            name: $name:literal,
            mlir: $mlir:literal,
            accepts: $accepts:ident,
            out: $out:ident,
            flush: $flush:literal,
            kernels { $($kind:ident: |$a:ident| $ke:expr),* $(,)? },
            $(vjp: |$vx:ident, $vz:ident, $vg:ident| $ve:expr,)?
            $(lower: $lower:path,)?
        }
    ),* $(,)?) => {
        /// Elementwise unary primitives (declared in `prim/elementwise/unary_ops.rs`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum UnaryOp {
            $($(#[$doc])* $variant,)*
        }

        impl UnaryOp {
            /// Every unary primitive, in declaration order.
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$variant),*];

            /// The primitive's definition (its table entry).
            pub fn def(self) -> &'static UnaryDef {
                match self {
                    $(UnaryOp::$variant => {
                        static DEF: UnaryDef = UnaryDef {
                            name: $name,
                            mlir: $mlir,
                            accepts: Accepts::$accepts,
                            out: OutDType::$out,
                            flush: $flush,
                            kernels: Kernels {
                                $($kind: Some(unary_kernel!($kind $a $ke)),)*
                                ..Kernels::NONE
                            },
                            vjp: unary_vjp!($(|$vx, $vz, $vg| $ve)?),
                            lower: unary_lower!($($lower)?),
                        };
                        &DEF
                    })*
                }
            }

            /// The catalogue name (`exp`, `erf_inv`, ...).
            pub fn name(self) -> &'static str {
                self.def().name
            }

            /// The primitive with a catalogue name.
            pub fn from_name(name: &str) -> Option<UnaryOp> {
                UnaryOp::ALL.iter().copied().find(|u| u.name() == name)
            }
        }

        impl Tensor {
            $(
                $(#[$doc])*
                #[track_caller]
                pub fn $method(&self) -> Tensor {
                    $crate::trace::apply1(
                        $crate::ir::Op::Unary(UnaryOp::$variant),
                        &[self],
                        $crate::error::CallSite::here(),
                    )
                }
            )*
        }
    };
}

pub(crate) use {unary_kernel, unary_lower, unary_ops, unary_vjp};

// ---------------------------------------------------------------------------------------------
// What every unary primitive shares
// ---------------------------------------------------------------------------------------------

/// The typing rule: the operand dtype must be accepted; the result has the declared dtype.
pub fn rule(def: &UnaryDef, x: &AVal) -> Result<AVal> {
    let d = x.dtype;
    if !def.accepts.admits(d) {
        return Err(Error::dtype(def.name, d, def.accepts.expected()));
    }
    Ok(x.with_dtype(match def.out {
        OutDType::Same => d,
        OutDType::Real => d.real_dtype(),
        OutDType::Bool => DType::Bool,
    }))
}

/// The lowering: the declared op on the operand, or the declaration's own lowering.
pub fn lower(def: &UnaryDef, cx: &mut LowerCtx, x: &V, out: &AVal) -> V {
    match def.lower {
        Some(f) => f(cx, x, out),
        None => cx.op1(def.mlir, &[x], "", out.clone()),
    }
}

/// Maps a float kernel over float storage: f32 and f64 natively, narrow floats through f32
/// (rounded back once).
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

/// Maps an integer kernel through i64 and wraps back to the dtype.
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

/// Applies a float kernel, flushing subnormal operands and results when the op is arithmetic.
fn float_kernel<T: Real>(f: fn(T) -> T, flush: bool) -> impl Fn(T) -> T {
    move |x| {
        if flush {
            f(x.ftz()).ftz()
        } else {
            f(x)
        }
    }
}

/// The interpreter kernel: the declared kernel for the operand's kind.
pub fn eval(def: &UnaryDef, x: &Literal) -> Result<Literal> {
    let k = &def.kernels;
    let d = x.data();
    let missing = || {
        Error::internal(format!(
            "{}: no interpreter kernel for {} although the typing rule accepts it",
            def.name,
            x.dtype()
        ))
    };
    let out = match d {
        Data::Bool(v) => {
            let f = k.bool.ok_or_else(missing)?;
            Data::Bool(v.iter().map(|&b| f(b)).collect())
        }
        Data::C64(v) => match (k.complex, k.complex_real) {
            (Some(f), _) => Data::C64(v.iter().map(|&z| f(z)).collect()),
            (None, Some(f)) => Data::F32(v.iter().map(|&z| f(z)).collect()),
            (None, None) => return Err(missing()),
        },
        _ if x.dtype().is_int() => map_int(d, k.int.ok_or_else(missing)?).ok_or_else(missing)?,
        _ => match (k.is, k.float) {
            (Some(p), _) => {
                let Data::F64(v) = convert_data(d, DType::F64) else {
                    return Err(missing());
                };
                Data::Bool(v.iter().map(|&x| p(x)).collect())
            }
            (None, Some((f32f, f64f))) => map_float(
                d,
                float_kernel(f32f, def.flush),
                float_kernel(f64f, def.flush),
            )
            .ok_or_else(missing)?,
            (None, None) => return Err(missing()),
        },
    };
    Literal::new(x.shape().clone(), out)
}

/// The VJP: the declared rule, or no cotangent.
pub fn vjp(def: &UnaryDef, x: &Tensor, z: &Tensor, g: &Tensor) -> Option<Tensor> {
    def.vjp.map(|f| f(x, z, g))
}
