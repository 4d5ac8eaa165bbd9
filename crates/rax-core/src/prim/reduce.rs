//! Family `reduce`: `reduce` (sum, prod, max, min, and, or over axes), `argmax`/`argmin`
//! (`ArgReduce`) and `cumulative` (cumsum, cumprod, cummax, cummin) — rule, lowering, kernel —
//! plus their methods: `sum`, `max`, `min`, `prod`, `any`, `all`, `argmax`, `argmin`,
//! `cumsum`.... (`mean`, `var`, keepdims forms, `logsumexp`, `softmax`, `log_softmax` and
//! `one_hot`, built on them, are in `numpy/`.)
//!
//! # Numerics (how each kernel accumulates)
//! The primitives have `lax` semantics: a reduction accumulates *in its operand dtype*. For
//! bf16/f16/f8 every step is computed in f32 and rounded back to the narrow dtype, which is
//! what XLA's CPU backend does for `lax.reduce_sum` of bf16 (it does not widen the
//! accumulator). Because the result then depends on the order of the steps, the kernels follow
//! XLA CPU's order exactly (for every float dtype; integer, max/min, and/or results are
//! order-independent):
//! - `reduce` (sum/prod of floats): XLA's tree reduction rewrite — while a reduced dimension is
//!   longer than 32, the reduced dims are cut into windows of 32 (padded evenly on both ends,
//!   the low side getting the smaller half) that are each folded in row-major order from the
//!   init value, and the window results are reduced again; once every reduced dim is <= 32
//!   the elements are folded in row-major order from the init value.
//! - `cumulative`: XLA CPU's blocked scan (base 16) — lines longer than 16 are padded at the
//!   end to rows of 16, each row is scanned sequentially, the row totals are scanned
//!   recursively, and each element is combined once with the total of the preceding rows
//!   (following rows when `reverse`). A reverse window sums its elements in increasing index
//!   order, as `reduce_window` does.
//! - f32, f64 and c64 accumulate in their own dtype with the same order; integers wrap.
//!   Caveat (checked against jax 0.10.2): bf16 is matched bit-exactly, but for f16/f32/f64
//!   XLA CPU keeps the reduction native and may vectorize a reduced minor dimension with
//!   partial accumulators, so those results can differ from rax's by summation-order
//!   rounding (a few ulps; more for f16, which rounds every step).
//! - XLA CPU flushes denormals to zero; the kernels keep IEEE denormals.
//! - `argmax`/`argmin`: NaN counts as the extreme (the first NaN wins); ties give the first
//!   index; -0.0 and +0.0 tie.
//!
//! The user-level helpers in `numpy/` widen instead, like `jnp`: `mean`, `var`, `logsumexp`, `softmax` and
//! `log_softmax` of bf16/f16/f8 compute in f32 (upcast, reduce, cast back once), so their
//! sums do not suffer from narrow accumulation. `sum` is the primitive (lax semantics: a bf16
//! sum accumulates in bf16); write `x.cast(DType::F32).sum(..)` for a widened sum.
//!
//! Depends on `ir`, `literal`, `lower`, `trace`, `elementwise` (compare lowering) and `layout`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::float8::{f32_to_f8, f8_to_f32, F8Format};
use crate::ir::{CmpDir, Op, ReduceKind};
use crate::literal::{convert_data, Data, Literal};
use crate::lower::{i64_array, LowerCtx, V};
use crate::shape::{AVal, Shape};
use crate::trace::{apply1, Tensor};
use half::{bf16, f16};
use num_complex::Complex32;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// Catalogue name of a reduction kind (`sum`, `max`, ...).
pub fn kind_name(k: ReduceKind) -> &'static str {
    match k {
        ReduceKind::Sum => "sum",
        ReduceKind::Prod => "prod",
        ReduceKind::Max => "max",
        ReduceKind::Min => "min",
        ReduceKind::And => "and",
        ReduceKind::Or => "or",
    }
}

fn check_kind_dtype(name: &str, k: ReduceKind, d: DType) -> Result<()> {
    let (ok, expected) = match k {
        ReduceKind::Sum | ReduceKind::Prod => {
            (d.is_int() || d.is_inexact(), "integer, float or complex")
        }
        ReduceKind::Max | ReduceKind::Min => (!d.is_complex(), "bool, integer or real float"),
        ReduceKind::And | ReduceKind::Or => (d.is_bool() || d.is_int(), "bool or integer"),
    };
    if !ok {
        return Err(Error::dtype(
            name,
            d,
            format!("{} needs {expected}", kind_name(k)),
        ));
    }
    Ok(())
}

fn one_operand(name: &str, ins: &[AVal]) -> Result<()> {
    if ins.len() != 1 {
        return Err(Error::arg(
            name,
            format!("takes 1 operand, got {}", ins.len()),
        ));
    }
    Ok(())
}

/// The typing rule of the reduce family.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    let name = super::op_name(op);
    one_operand(name, ins)?;
    let x = &ins[0];
    let out = match op {
        Op::Reduce { kind, axes } => {
            check_kind_dtype(name, *kind, x.dtype)?;
            let mut seen = vec![false; x.rank()];
            for &a in axes {
                if a >= x.rank() {
                    return Err(Error::shape(
                        name,
                        format!("axis {a} is out of range for rank {}", x.rank()),
                        ins,
                    ));
                }
                if std::mem::replace(&mut seen[a], true) {
                    return Err(Error::shape(
                        name,
                        format!("axis {a} is repeated in {axes:?}"),
                        ins,
                    ));
                }
            }
            let dims: Vec<usize> = (0..x.rank())
                .filter(|i| !seen[*i])
                .map(|i| x.dims()[i])
                .collect();
            AVal::new(dims, x.dtype)
        }
        Op::ArgReduce {
            axis, index_dtype, ..
        } => {
            if x.dtype.is_complex() {
                return Err(Error::dtype(name, x.dtype, "bool, integer or real float"));
            }
            if !index_dtype.is_int() {
                return Err(Error::dtype(name, *index_dtype, "an integer index dtype"));
            }
            if *axis >= x.rank() {
                return Err(Error::shape(
                    name,
                    format!("axis {axis} is out of range for rank {}", x.rank()),
                    ins,
                ));
            }
            let n = x.dims()[*axis];
            if n == 0 {
                return Err(Error::shape(
                    name,
                    format!("axis {axis} is empty (no index to return)"),
                    ins,
                ));
            }
            let max_index = match index_dtype {
                DType::I8 => i8::MAX as u64,
                DType::U8 => u8::MAX as u64,
                DType::I32 => i32::MAX as u64,
                DType::U32 => u32::MAX as u64,
                _ => i64::MAX as u64,
            };
            if (n - 1) as u64 > max_index {
                return Err(Error::shape(
                    name,
                    format!("axis {axis} of length {n} does not fit index dtype {index_dtype}"),
                    ins,
                ));
            }
            let mut dims = x.dims().to_vec();
            dims.remove(*axis);
            AVal::new(dims, *index_dtype)
        }
        Op::Cumulative { kind, axis, .. } => {
            if matches!(kind, ReduceKind::And | ReduceKind::Or) {
                return Err(Error::arg(
                    name,
                    format!(
                        "cumulative {} is not supported (sum, prod, max, min)",
                        kind_name(*kind)
                    ),
                ));
            }
            check_kind_dtype(name, *kind, x.dtype)?;
            if x.dtype.is_bool() {
                return Err(Error::dtype(
                    name,
                    x.dtype,
                    "integer or float (as lax.cummax)",
                ));
            }
            if *axis >= x.rank() {
                return Err(Error::shape(
                    name,
                    format!("axis {axis} is out of range for rank {}", x.rank()),
                    ins,
                ));
            }
            x.clone()
        }
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
}

// ---------------------------------------------------------------------------------------------
// Init values
// ---------------------------------------------------------------------------------------------

/// The identity of a monoid in a dtype (what JAX uses as the reduction's init value): 0, 1,
/// the lowest value (-inf, the integer minimum, false; -448 for f8e4m3fn which has no inf),
/// the highest value, all ones (true) for `and`, zero (false) for `or`.
pub fn init_literal(kind: ReduceKind, d: DType) -> Literal {
    let s = AVal::scalar(d);
    let lowest = |d: DType| -> f64 {
        match d {
            DType::Bool | DType::U8 | DType::U32 => 0.0,
            DType::I8 => i8::MIN as f64,
            DType::I32 => i32::MIN as f64,
            DType::I64 => i64::MIN as f64,
            DType::F8E4M3FN => -448.0,
            _ => f64::NEG_INFINITY,
        }
    };
    match kind {
        ReduceKind::Sum | ReduceKind::Or => Literal::zeros(&s),
        ReduceKind::Prod => Literal::full(&s, 1.0),
        ReduceKind::Max => Literal::full(&s, lowest(d)),
        ReduceKind::Min => match d {
            DType::Bool => Literal::scalar(true),
            DType::U8 => Literal::scalar(u8::MAX),
            DType::U32 => Literal::scalar(u32::MAX),
            DType::I64 => Literal::scalar(i64::MAX),
            _ => Literal::full(&s, -lowest(d)),
        },
        ReduceKind::And => match d {
            DType::Bool => Literal::scalar(true),
            DType::U8 => Literal::scalar(u8::MAX),
            DType::U32 => Literal::scalar(u32::MAX),
            _ => Literal::full(&s, -1.0),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

fn kind_mlir(k: ReduceKind) -> &'static str {
    match k {
        ReduceKind::Sum => "stablehlo.add",
        ReduceKind::Prod => "stablehlo.multiply",
        ReduceKind::Max => "stablehlo.maximum",
        ReduceKind::Min => "stablehlo.minimum",
        ReduceKind::And => "stablehlo.and",
        ReduceKind::Or => "stablehlo.or",
    }
}

/// A region `(a, b) -> a (op) b` over scalars of a dtype.
fn binary_region(cx: &mut LowerCtx, k: ReduceKind, d: DType) -> Result<String> {
    let s = AVal::scalar(d);
    cx.region(&[s.clone(), s.clone()], |cx, args| {
        Ok(vec![cx.op1(kind_mlir(k), &[&args[0], &args[1]], "", s)])
    })
}

fn lower_argreduce(
    cx: &mut LowerCtx,
    x: &V,
    is_max: bool,
    axis: usize,
    index_dtype: DType,
    out: &AVal,
) -> Result<V> {
    use super::elementwise::lower_compare;
    let d = x.aval.dtype;
    let iota = cx.op1(
        "stablehlo.iota",
        &[],
        &format!("iota_dimension = {axis} : i64"),
        x.aval.with_dtype(index_dtype),
    );
    let kind = if is_max {
        ReduceKind::Max
    } else {
        ReduceKind::Min
    };
    let vinit = cx.constant(&init_literal(kind, d));
    let iinit = cx.constant(&Literal::zeros(&AVal::scalar(index_dtype)));
    let (sv, si) = (AVal::scalar(d), AVal::scalar(index_dtype));
    let region = cx.region(
        &[sv.clone(), si.clone(), sv.clone(), si.clone()],
        |cx, a| {
            let dir = if is_max { CmpDir::Gt } else { CmpDir::Lt };
            let better = lower_compare(cx, dir, &a[0], &a[2]);
            let nan = lower_compare(cx, CmpDir::Ne, &a[0], &a[0]);
            let pick = cx.op1("stablehlo.or", &[&better, &nan], "", better.aval.clone());
            let eq = lower_compare(cx, CmpDir::Eq, &a[0], &a[2]);
            let lt = lower_compare(cx, CmpDir::Lt, &a[1], &a[3]);
            let tie = cx.op1("stablehlo.and", &[&eq, &lt], "", eq.aval.clone());
            let pick_i = cx.op1("stablehlo.or", &[&pick, &tie], "", pick.aval.clone());
            let v = cx.op1("stablehlo.select", &[&pick, &a[0], &a[2]], "", sv.clone());
            let i = cx.op1("stablehlo.select", &[&pick_i, &a[1], &a[3]], "", si.clone());
            Ok(vec![v, i])
        },
    )?;
    let outs = cx.op_with_regions(
        "stablehlo.reduce",
        &[x, &iota, &vinit, &iinit],
        &[region],
        &format!("dimensions = {}", i64_array(&[axis])),
        &[out.with_dtype(d), out.clone()],
    );
    outs.into_iter()
        .nth(1)
        .ok_or_else(|| Error::internal("argreduce lowering lost its index result"))
}

/// The lowering of the reduce family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    let (Some(x), Some(out)) = (ins.first(), outs.first()) else {
        return Err(super::unreachable_op(op));
    };
    let d = x.aval.dtype;
    let v = match op {
        Op::Reduce { kind, axes } => {
            let init = cx.constant(&init_literal(*kind, d));
            let region = binary_region(cx, *kind, d)?;
            let mut sorted = axes.clone();
            sorted.sort_unstable();
            cx.op_with_regions(
                "stablehlo.reduce",
                &[x, &init],
                &[region],
                &format!("dimensions = {}", i64_array(&sorted)),
                std::slice::from_ref(out),
            )
            .remove(0)
        }
        Op::ArgReduce {
            is_max,
            axis,
            index_dtype,
        } => lower_argreduce(cx, x, *is_max, *axis, *index_dtype, out)?,
        Op::Cumulative {
            kind,
            axis,
            reverse,
        } => {
            if out.shape.numel() == 0 {
                cx.constant(&Literal::zeros(out))
            } else {
                let r = x.aval.rank();
                let n = x.aval.dims()[*axis];
                let init = cx.constant(&init_literal(*kind, d));
                let region = binary_region(cx, *kind, d)?;
                let ones = vec![1usize; r];
                let mut win = ones.clone();
                win[*axis] = n;
                let pads: Vec<String> = (0..r)
                    .map(|i| match (i == *axis, *reverse) {
                        (false, _) => "[0, 0]".to_string(),
                        (true, false) => format!("[{}, 0]", n - 1),
                        (true, true) => format!("[0, {}]", n - 1),
                    })
                    .collect();
                let attrs = format!(
                    "base_dilations = {}, padding = dense<[{}]> : tensor<{r}x2xi64>, window_dilations = {}, window_dimensions = {}, window_strides = {}",
                    i64_array(&ones),
                    pads.join(", "),
                    i64_array(&ones),
                    i64_array(&win),
                    i64_array(&ones)
                );
                cx.op_with_regions(
                    "stablehlo.reduce_window",
                    &[x, &init],
                    &[region],
                    &attrs,
                    std::slice::from_ref(out),
                )
                .remove(0)
            }
        }
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![v])
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/// XLA CPU's tree-reduction window.
const TREE_WINDOW: usize = 32;
/// XLA CPU's blocked-scan base length.
const SCAN_BASE: usize = 16;

/// Reduces `vals` (row-major over `shape`) in XLA CPU's tree order (see the module doc).
fn tree_reduce<T: Copy>(vals: &[T], shape: &[usize], init: T, f: &impl Fn(T, T) -> T) -> T {
    if shape.iter().all(|&d| d <= TREE_WINDOW) {
        return vals.iter().fold(init, |a, &b| f(a, b));
    }
    let w = TREE_WINDOW;
    let outs: Vec<usize> = shape.iter().map(|&d| d.div_ceil(w)).collect();
    let lo: Vec<usize> = shape
        .iter()
        .zip(&outs)
        .map(|(&d, &o)| (o * w - d) / 2)
        .collect();
    let strides = Shape::new(shape.to_vec()).strides();
    let k = shape.len();
    let n_out: usize = outs.iter().product();
    let mut new = Vec::with_capacity(n_out);
    let mut oi = vec![0usize; k];
    let mut start = vec![0usize; k];
    let mut end = vec![0usize; k];
    let mut idx = vec![0usize; k];
    for o in 0..n_out {
        super::layout::unravel(o, &outs, &mut oi);
        // In-bounds input range of this window along each dim.
        let mut empty = false;
        for j in 0..k {
            let s = (oi[j] * w).saturating_sub(lo[j]);
            let e = (oi[j] * w + w).saturating_sub(lo[j]).min(shape[j]);
            start[j] = s;
            end[j] = e;
            empty |= s >= e;
        }
        let mut acc = init;
        if !empty {
            idx.copy_from_slice(&start);
            'win: loop {
                acc = f(acc, vals[super::layout::ravel(&idx, &strides)]);
                let mut j = k;
                loop {
                    if j == 0 {
                        break 'win;
                    }
                    j -= 1;
                    idx[j] += 1;
                    if idx[j] < end[j] {
                        break;
                    }
                    idx[j] = start[j];
                }
            }
        }
        new.push(acc);
    }
    tree_reduce(&new, &outs, init, f)
}

/// Inclusive scan in XLA CPU's blocked order (see the module doc).
fn blocked_scan<T: Copy>(v: &[T], init: T, reverse: bool, f: &impl Fn(T, T) -> T) -> Vec<T> {
    let n = v.len();
    let b = SCAN_BASE;
    // One row: forward prefix folds, or (reverse) suffix windows folded in index order.
    let row = |r: &[T]| -> Vec<T> {
        if reverse {
            (0..r.len())
                .map(|i| r[i..].iter().fold(init, |a, &x| f(a, x)))
                .collect()
        } else {
            let mut acc = init;
            r.iter()
                .map(|&x| {
                    acc = f(acc, x);
                    acc
                })
                .collect()
        }
    };
    if n <= b {
        return row(v);
    }
    let rows = n.div_ceil(b);
    let mut padded = v.to_vec();
    padded.resize(rows * b, init);
    let inner: Vec<Vec<T>> = padded.chunks(b).map(row).collect();
    let totals: Vec<T> = inner
        .iter()
        .map(|r| if reverse { r[0] } else { r[b - 1] })
        .collect();
    let scanned = blocked_scan(&totals, init, reverse, f);
    let mut out = Vec::with_capacity(rows * b);
    for (i, r) in inner.iter().enumerate() {
        let carry = if reverse {
            scanned.get(i + 1).copied().unwrap_or(init)
        } else if i == 0 {
            init
        } else {
            scanned[i - 1]
        };
        out.extend(r.iter().map(|&x| f(carry, x)));
    }
    out.truncate(n);
    out
}

fn fmax<T: PartialOrd + Copy>(
    a: T,
    b: T,
    is_nan: impl Fn(T) -> bool,
    neg: impl Fn(T) -> bool,
) -> T {
    if is_nan(a) {
        a
    } else if is_nan(b) {
        b
    } else if a == b {
        if neg(a) {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

fn fmin<T: PartialOrd + Copy>(
    a: T,
    b: T,
    is_nan: impl Fn(T) -> bool,
    neg: impl Fn(T) -> bool,
) -> T {
    if is_nan(a) {
        a
    } else if is_nan(b) {
        b
    } else if a == b {
        if neg(a) {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Rounds an f32 to a narrow float dtype and back (identity for f32).
fn rounder(d: DType) -> fn(f32) -> f32 {
    match d {
        DType::BF16 => |x| bf16::from_f32(x).to_f32(),
        DType::F16 => |x| f16::from_f32(x).to_f32(),
        DType::F8E4M3FN => |x| f8_to_f32(f32_to_f8(x, F8Format::E4M3FN), F8Format::E4M3FN),
        DType::F8E5M2 => |x| f8_to_f32(f32_to_f8(x, F8Format::E5M2), F8Format::E5M2),
        _ => |x| x,
    }
}

/// Operand values in a compute representation.
enum Vals {
    F32(Vec<f32>, DType),
    F64(Vec<f64>),
    C64(Vec<Complex32>),
    I64(Vec<i64>),
}

fn vals_of(l: &Literal) -> Vals {
    let d = l.dtype();
    match l.data() {
        Data::F64(v) => Vals::F64(v.clone()),
        Data::C64(v) => Vals::C64(v.clone()),
        Data::F32(v) => Vals::F32(v.clone(), d),
        Data::F16(_) | Data::BF16(_) | Data::F8E4M3FN(_) | Data::F8E5M2(_) => {
            match convert_data(l.data(), DType::F32) {
                Data::F32(v) => Vals::F32(v, d),
                _ => Vals::F32(Vec::new(), d),
            }
        }
        Data::Bool(v) => Vals::I64(v.iter().map(|&b| b as i64).collect()),
        Data::I8(v) => Vals::I64(v.iter().map(|&x| x as i64).collect()),
        Data::I32(v) => Vals::I64(v.iter().map(|&x| x as i64).collect()),
        Data::I64(v) => Vals::I64(v.clone()),
        Data::U8(v) => Vals::I64(v.iter().map(|&x| x as i64).collect()),
        Data::U32(v) => Vals::I64(v.iter().map(|&x| x as i64).collect()),
    }
}

/// Output storage of a dtype from computed values.
fn data_of(v: Vals, d: DType) -> Data {
    let data = match v {
        Vals::F32(v, _) => Data::F32(v),
        Vals::F64(v) => Data::F64(v),
        Vals::C64(v) => Data::C64(v),
        Vals::I64(v) => Data::I64(v),
    };
    convert_data(&data, d)
}

/// Applies `g` to each line of values: `g(line_values) -> line results` with a generic monoid,
/// dispatching on the compute representation. `Acc` abstracts the per-type binary op.
macro_rules! with_op {
    ($vals:expr, $kind:expr, $d:expr, |$v:ident, $init:ident, $f:ident| $body:expr) => {{
        let kind: ReduceKind = $kind;
        let d: DType = $d;
        match $vals {
            Vals::F32($v, dt) => {
                let rd = rounder(dt);
                let $init: f32 = init_literal(kind, dt).to_f64_vec()[0] as f32;
                let $f = move |a: f32, b: f32| -> f32 {
                    match kind {
                        ReduceKind::Sum => rd(a + b),
                        ReduceKind::Prod => rd(a * b),
                        ReduceKind::Max => fmax(a, b, f32::is_nan, f32::is_sign_negative),
                        _ => fmin(a, b, f32::is_nan, f32::is_sign_negative),
                    }
                };
                Vals::F32($body, dt)
            }
            Vals::F64($v) => {
                let $init: f64 = init_literal(kind, d).to_f64_vec()[0];
                let $f = move |a: f64, b: f64| -> f64 {
                    match kind {
                        ReduceKind::Sum => a + b,
                        ReduceKind::Prod => a * b,
                        ReduceKind::Max => fmax(a, b, f64::is_nan, f64::is_sign_negative),
                        _ => fmin(a, b, f64::is_nan, f64::is_sign_negative),
                    }
                };
                Vals::F64($body)
            }
            Vals::C64($v) => {
                let $init = if kind == ReduceKind::Prod {
                    Complex32::new(1.0, 0.0)
                } else {
                    Complex32::new(0.0, 0.0)
                };
                let $f = move |a: Complex32, b: Complex32| -> Complex32 {
                    if kind == ReduceKind::Prod {
                        a * b
                    } else {
                        a + b
                    }
                };
                Vals::C64($body)
            }
            Vals::I64($v) => {
                // Integers and bool: wrapping (mod 2^64, wrapped to the dtype at the end).
                let $init: i64 = match init_literal(kind, d).data() {
                    Data::U8(x) => x[0] as i64,
                    Data::U32(x) => x[0] as i64,
                    Data::I64(x) => x[0],
                    Data::Bool(x) => x[0] as i64,
                    other => other.get_f64(0) as i64,
                };
                let $f = move |a: i64, b: i64| -> i64 {
                    match kind {
                        ReduceKind::Sum => a.wrapping_add(b),
                        ReduceKind::Prod => a.wrapping_mul(b),
                        ReduceKind::Max => a.max(b),
                        ReduceKind::Min => a.min(b),
                        ReduceKind::And => a & b,
                        ReduceKind::Or => a | b,
                    }
                };
                Vals::I64($body)
            }
        }
    }};
}

fn eval_reduce(kind: ReduceKind, axes: &[usize], x: &Literal, out: &AVal) -> Result<Literal> {
    let dims = x.dims();
    let strides = x.shape().strides();
    let mut red: Vec<usize> = axes.to_vec();
    red.sort_unstable();
    let kept: Vec<usize> = (0..dims.len()).filter(|a| !red.contains(a)).collect();
    let rshape: Vec<usize> = red.iter().map(|&a| dims[a]).collect();
    let kshape: Vec<usize> = kept.iter().map(|&a| dims[a]).collect();
    let offsets = |axes: &[usize], shape: &[usize]| -> Vec<usize> {
        let n: usize = shape.iter().product();
        let mut idx = vec![0usize; shape.len()];
        (0..n)
            .map(|f| {
                super::layout::unravel(f, shape, &mut idx);
                idx.iter().zip(axes).map(|(i, &a)| i * strides[a]).sum()
            })
            .collect()
    };
    let roff = offsets(&red, &rshape);
    let koff = offsets(&kept, &kshape);
    let vals = with_op!(vals_of(x), kind, x.dtype(), |v, init, f| {
        let mut buf = Vec::with_capacity(roff.len());
        koff.iter()
            .map(|&base| {
                buf.clear();
                buf.extend(roff.iter().map(|&r| v[base + r]));
                tree_reduce(&buf, &rshape, init, &f)
            })
            .collect()
    });
    Literal::new(out.shape.clone(), data_of(vals, out.dtype))
}

/// Calls `g(line_offsets_base, stride, n)` for each line along `axis`, collecting results in
/// place: returns, for each flat element, its (line base, position) visiting order.
fn lines(dims: &[usize], axis: usize) -> (Vec<usize>, usize, usize) {
    let strides = Shape::new(dims.to_vec()).strides();
    let n = dims[axis];
    let st = strides[axis];
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let mut bases = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            bases.push(o * n * inner + i);
        }
    }
    (bases, st, n)
}

fn eval_cumulative(kind: ReduceKind, axis: usize, reverse: bool, x: &Literal) -> Result<Literal> {
    let (bases, st, n) = lines(x.dims(), axis);
    let total = x.numel();
    let vals = with_op!(vals_of(x), kind, x.dtype(), |v, init, f| {
        let mut out = v.clone();
        let mut line = Vec::with_capacity(n);
        for &b in &bases {
            line.clear();
            line.extend((0..n).map(|i| v[b + i * st]));
            let r = blocked_scan(&line, init, reverse, &f);
            for (i, y) in r.into_iter().enumerate() {
                out[b + i * st] = y;
            }
        }
        debug_assert_eq!(out.len(), total);
        out
    });
    Literal::new(x.shape().clone(), data_of(vals, x.dtype()))
}

fn eval_argreduce(is_max: bool, axis: usize, x: &Literal, out: &AVal) -> Result<Literal> {
    let (bases, st, n) = lines(x.dims(), axis);
    // Every non-complex dtype is exact in f64 except i64/u64 extremes; compare integers as i64.
    let pick = |get: &dyn Fn(usize) -> (f64, i64), float: bool| -> Vec<i64> {
        bases
            .iter()
            .map(|&b| {
                let mut best = 0usize;
                let (mut bf, mut bi) = get(b);
                for i in 1..n {
                    let (xf, xi) = get(b + i * st);
                    let better = if float {
                        if bf.is_nan() {
                            false
                        } else if xf.is_nan() {
                            true
                        } else if is_max {
                            xf > bf
                        } else {
                            xf < bf
                        }
                    } else if is_max {
                        xi > bi
                    } else {
                        xi < bi
                    };
                    if better {
                        best = i;
                        bf = xf;
                        bi = xi;
                    }
                }
                best as i64
            })
            .collect()
    };
    let idx = match vals_of(x) {
        Vals::F32(v, _) => pick(&|i| (v[i] as f64, 0), true),
        Vals::F64(v) => pick(&|i| (v[i], 0), true),
        Vals::I64(v) => pick(&|i| (0.0, v[i]), false),
        Vals::C64(_) => {
            return Err(Error::dtype(
                "argmax",
                DType::C64,
                "bool, integer or real float",
            ))
        }
    };
    Literal::new(out.shape.clone(), convert_data(&Data::I64(idx), out.dtype))
}

/// The interpreter kernels of the reduce family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let avals: Vec<AVal> = ins.iter().map(|l| l.aval()).collect();
    let out = rule(op, &avals)?.remove(0);
    let x = ins[0];
    let lit = match op {
        Op::Reduce { kind, axes } => eval_reduce(*kind, axes, x, &out)?,
        Op::ArgReduce { is_max, axis, .. } => eval_argreduce(*is_max, *axis, x, &out)?,
        Op::Cumulative {
            kind,
            axis,
            reverse,
        } => eval_cumulative(*kind, *axis, *reverse, x)?,
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![lit])
}

// ---------------------------------------------------------------------------------------------
// Tensor API
// ---------------------------------------------------------------------------------------------

impl Tensor {
    /// A reduction recorded at a given call site (axes normalised to ascending order).
    pub(crate) fn reduce_at(&self, kind: ReduceKind, axes: &[usize], site: CallSite) -> Tensor {
        let mut axes = axes.to_vec();
        axes.sort_unstable();
        apply1(Op::Reduce { kind, axes }, &[self], site)
    }

    /// Reduces the given axes with a monoid (`lax` semantics: accumulates in the dtype).
    #[track_caller]
    pub fn reduce(&self, kind: ReduceKind, axes: &[usize]) -> Tensor {
        self.reduce_at(kind, axes, CallSite::here())
    }

    /// Sum over axes, accumulating in the dtype (a bf16 sum rounds every step to bf16, in
    /// XLA CPU's order); see `mean` or cast first for a widened sum.
    #[track_caller]
    pub fn sum(&self, axes: &[usize]) -> Tensor {
        self.reduce_at(ReduceKind::Sum, axes, CallSite::here())
    }

    /// Sum of all elements (a scalar).
    #[track_caller]
    pub fn sum_all(&self) -> Tensor {
        let axes: Vec<usize> = (0..self.rank()).collect();
        self.reduce_at(ReduceKind::Sum, &axes, CallSite::here())
    }

    /// Product over axes.
    #[track_caller]
    pub fn prod(&self, axes: &[usize]) -> Tensor {
        self.reduce_at(ReduceKind::Prod, axes, CallSite::here())
    }

    /// Maximum over axes (NaN propagates; -inf / the dtype's minimum for an empty reduction).
    #[track_caller]
    pub fn max(&self, axes: &[usize]) -> Tensor {
        self.reduce_at(ReduceKind::Max, axes, CallSite::here())
    }

    /// Minimum over axes.
    #[track_caller]
    pub fn min(&self, axes: &[usize]) -> Tensor {
        self.reduce_at(ReduceKind::Min, axes, CallSite::here())
    }

    /// Logical or over axes (bitwise for integers).
    #[track_caller]
    pub fn any(&self, axes: &[usize]) -> Tensor {
        self.reduce_at(ReduceKind::Or, axes, CallSite::here())
    }

    /// Logical and over axes (bitwise for integers).
    #[track_caller]
    pub fn all(&self, axes: &[usize]) -> Tensor {
        self.reduce_at(ReduceKind::And, axes, CallSite::here())
    }

    /// Index of the maximum along an axis (i32; NaN counts as the maximum, first index on ties).
    #[track_caller]
    pub fn argmax(&self, axis: usize) -> Tensor {
        apply1(
            Op::ArgReduce {
                is_max: true,
                axis,
                index_dtype: DType::I32,
            },
            &[self],
            CallSite::here(),
        )
    }

    /// Index of the minimum along an axis (i32; NaN counts as the minimum, first index on ties).
    #[track_caller]
    pub fn argmin(&self, axis: usize) -> Tensor {
        apply1(
            Op::ArgReduce {
                is_max: false,
                axis,
                index_dtype: DType::I32,
            },
            &[self],
            CallSite::here(),
        )
    }

    /// Inclusive cumulative reduction along an axis (from the end when `reverse`).
    #[track_caller]
    pub fn cumulative(&self, kind: ReduceKind, axis: usize, reverse: bool) -> Tensor {
        apply1(
            Op::Cumulative {
                kind,
                axis,
                reverse,
            },
            &[self],
            CallSite::here(),
        )
    }

    /// Cumulative sum along an axis (accumulates in the dtype, like `lax.cumsum`).
    #[track_caller]
    pub fn cumsum(&self, axis: usize, reverse: bool) -> Tensor {
        self.cumulative(ReduceKind::Sum, axis, reverse)
    }

    /// Cumulative product along an axis.
    #[track_caller]
    pub fn cumprod(&self, axis: usize, reverse: bool) -> Tensor {
        self.cumulative(ReduceKind::Prod, axis, reverse)
    }

    /// Cumulative maximum along an axis.
    #[track_caller]
    pub fn cummax(&self, axis: usize, reverse: bool) -> Tensor {
        self.cumulative(ReduceKind::Max, axis, reverse)
    }

    /// Cumulative minimum along an axis.
    #[track_caller]
    pub fn cummin(&self, axis: usize, reverse: bool) -> Tensor {
        self.cumulative(ReduceKind::Min, axis, reverse)
    }
}

// ---------------------------------------------------------------------------------------------
// VJP rules
// ---------------------------------------------------------------------------------------------

/// The VJP rules of the reduce family: sum broadcasts back; max/min send the cotangent to the
/// locations equal to the result, split evenly between ties (JAX's chooser rule); prod uses
/// `g * result / x` (so an operand containing exact zeros gets non-finite cotangents there, a
/// documented limitation); cumulative sum is a cumulative sum in the other direction;
/// cumulative prod/max/min pull back through JAX's associative scan (`assoc_scan`); argmax /
/// argmin and boolean reductions are not differentiable.
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let (Some(Some(g)), Some(x), Some(z)) = (cts.first(), ins.first(), outs.first()) else {
        return Ok(vec![None; ins.len()]);
    };
    let xd = x.dims();
    let r = match op {
        Op::Reduce { kind, axes } => {
            let kept: Vec<usize> = (0..xd.len()).filter(|d| !axes.contains(d)).collect();
            let bcast = |t: &Tensor| t.broadcast_in_dim(&xd, &kept);
            match kind {
                ReduceKind::Sum => Some(bcast(g)),
                ReduceKind::Max | ReduceKind::Min => {
                    let loc = x.eq(&bcast(z));
                    let one = Tensor::select(&loc, &x.scalar_like(1.0), &x.scalar_like(0.0));
                    let counts = one.sum(axes);
                    Some(bcast(&(g / &counts)) * one)
                }
                ReduceKind::Prod => Some(bcast(&(g * z)) / x),
                ReduceKind::And | ReduceKind::Or => None,
            }
        }
        Op::ArgReduce { .. } => None,
        Op::Cumulative {
            kind,
            axis,
            reverse,
        } => match kind {
            ReduceKind::Sum => Some(g.cumsum(*axis, !*reverse)),
            ReduceKind::Prod | ReduceKind::Max | ReduceKind::Min => Some(
                super::assoc_scan::cumulative_vjp(*kind, *axis, *reverse, x, g)?,
            ),
            ReduceKind::And | ReduceKind::Or => None,
        },
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![r])
}

// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of the reduce family: the reduced axes shift past the batch axis.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    use crate::vmap::{apply_checked, shift};
    let x = bx.arg(0)?;
    let op = match op {
        Op::Reduce { kind, axes } => Op::Reduce {
            kind: *kind,
            axes: shift(axes),
        },
        Op::ArgReduce {
            is_max,
            axis,
            index_dtype,
        } => Op::ArgReduce {
            is_max: *is_max,
            axis: axis + 1,
            index_dtype: *index_dtype,
        },
        Op::Cumulative {
            kind,
            axis,
            reverse,
        } => Op::Cumulative {
            kind: *kind,
            axis: axis + 1,
            reverse: *reverse,
        },
        _ => return Err(super::unreachable_op(op)),
    };
    apply_checked(op, &[x])
}
