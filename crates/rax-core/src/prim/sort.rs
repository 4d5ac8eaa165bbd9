//! Sorting primitives: `sort` (several operands sorted together along an axis, lexicographically
//! by the first `num_keys` of them, stable, ascending or descending) and `top_k` (the k largest
//! along the last axis with their i32 indices) — rule, lowering, kernel and `Tensor` methods
//! side by side.
//!
//! Order of `sort`, as `jax.lax.sort` lowers it: the comparator region canonicalises each float
//! key (`-0.0 -> +0.0`, every NaN -> the positive quiet NaN) and then compares with
//! `TOTALORDER`, so `-0.0` and `+0.0` tie (the stable sort keeps their input order) and NaNs of
//! either sign sort after `+inf` ascending (first descending). Complex keys compare by real part,
//! then imaginary part, each canonicalised. Integers compare by signedness, bool as 0 < 1.
//! Descending uses `GT` in the same comparator (still stable: ties keep their input order).
//!
//! Order of `top_k`, as XLA's TopK (`chlo.top_k`): the raw IEEE total order without
//! canonicalisation, largest first, ties by lower index first. So `+NaN` is larger than
//! everything, `+0.0 > -0.0`, and a negative NaN (sign bit set) is smaller than `-inf`.
//!
//! Kernels sort an index permutation per line with Rust's stable `sort_by` and gather every
//! operand through it; keys are read exactly (integers as i64, every real float as f64 with its
//! NaN sign kept), so bf16/f16/f8 need no rounding at all.
//!
//! Depends on `ir`, `literal`, `lower`, `trace`, `float8`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::float8::{f8_to_f32, F8Format};
use crate::ir::{CmpDir, Op};
use crate::literal::{Data, Literal};
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::{apply, Tensor};
use std::cmp::Ordering;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

fn sort_rule(ins: &[AVal], axis: usize, num_keys: usize) -> Result<Vec<AVal>> {
    let op = "sort";
    let first = ins
        .first()
        .ok_or_else(|| Error::arg(op, "needs at least one operand"))?;
    if num_keys == 0 || num_keys > ins.len() {
        return Err(Error::arg(
            op,
            format!(
                "num_keys = {num_keys} must be between 1 and the number of operands ({})",
                ins.len()
            ),
        ));
    }
    if first.rank() == 0 {
        return Err(Error::shape(
            op,
            "cannot sort a rank-0 operand (there is no axis to sort along)",
            ins,
        ));
    }
    super::check_axis(op, axis, first.rank())?;
    if let Some(bad) = ins.iter().find(|a| a.shape != first.shape) {
        return Err(Error::shape(
            op,
            format!(
                "all operands must have the same shape; {} differs from {}",
                bad.shape, first.shape
            ),
            ins,
        ));
    }
    Ok(ins.to_vec())
}

fn top_k_rule(ins: &[AVal], k: usize) -> Result<Vec<AVal>> {
    let op = "top_k";
    if ins.len() != 1 {
        return Err(Error::arg(
            op,
            format!("takes 1 operand, got {}", ins.len()),
        ));
    }
    let x = &ins[0];
    if x.dtype.is_complex() {
        return Err(Error::dtype(op, x.dtype, "bool, integer or real float"));
    }
    let last = match x.dims().last() {
        Some(&d) => d,
        None => {
            return Err(Error::shape(
                op,
                "needs an operand of rank >= 1 (top_k works along the last axis)",
                ins,
            ))
        }
    };
    if k > last {
        return Err(Error::shape(
            op,
            format!("k = {k} is larger than the last dimension ({last})"),
            ins,
        ));
    }
    let mut dims = x.dims().to_vec();
    if let Some(d) = dims.last_mut() {
        *d = k;
    }
    Ok(vec![
        AVal::new(dims.clone(), x.dtype),
        AVal::new(dims, DType::I32),
    ])
}

/// The typing rule of the sort family.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    match op {
        Op::Sort { axis, num_keys, .. } => sort_rule(ins, *axis, *num_keys),
        Op::TopK { k } => top_k_rule(ins, *k),
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

fn dir_name(d: CmpDir) -> &'static str {
    match d {
        CmpDir::Eq => "EQ",
        CmpDir::Ne => "NE",
        CmpDir::Lt => "LT",
        CmpDir::Le => "LE",
        CmpDir::Gt => "GT",
        CmpDir::Ge => "GE",
    }
}

fn compare(cx: &mut LowerCtx, d: CmpDir, a: &V, b: &V, ty: &str) -> V {
    let attrs = format!(
        "comparison_direction = #stablehlo<comparison_direction {}>, compare_type = #stablehlo<comparison_type {ty}>",
        dir_name(d)
    );
    cx.op1(
        "stablehlo.compare",
        &[a, b],
        &attrs,
        a.aval.with_dtype(DType::Bool),
    )
}

/// `x == 0 ? +0 : x`, then `x != x ? NaN : x` (jax's `_canonicalize_float_for_sort`).
fn canonicalize(cx: &mut LowerCtx, x: &V) -> V {
    let zero = cx.splat(0.0, &x.aval);
    let is_zero = compare(cx, CmpDir::Eq, x, &zero, "FLOAT");
    let zero2 = cx.splat(0.0, &x.aval);
    let y = cx.op1(
        "stablehlo.select",
        &[&is_zero, &zero2, x],
        "",
        x.aval.clone(),
    );
    let is_nan = compare(cx, CmpDir::Ne, x, x, "FLOAT");
    let nan = cx.splat(f64::NAN, &x.aval);
    cx.op1("stablehlo.select", &[&is_nan, &nan, &y], "", x.aval.clone())
}

/// The comparable scalar parts of one key: canonicalised floats (real then imaginary part for
/// complex) or the integer itself, each with its compare type.
fn key_parts(cx: &mut LowerCtx, x: &V) -> Vec<(V, &'static str)> {
    let d = x.aval.dtype;
    if d.is_complex() {
        let part = x.aval.with_dtype(d.real_dtype());
        let re = cx.op1("stablehlo.real", &[x], "", part.clone());
        let re = canonicalize(cx, &re);
        let im = cx.op1("stablehlo.imag", &[x], "", part);
        let im = canonicalize(cx, &im);
        vec![(re, "TOTALORDER"), (im, "TOTALORDER")]
    } else if d.is_float() {
        vec![(canonicalize(cx, x), "TOTALORDER")]
    } else if d.is_signed_int() {
        vec![(x.clone(), "SIGNED")]
    } else {
        vec![(x.clone(), "UNSIGNED")]
    }
}

fn lower_sort(
    cx: &mut LowerCtx,
    ins: &[V],
    outs: &[AVal],
    axis: usize,
    descending: bool,
    num_keys: usize,
) -> Result<Vec<V>> {
    let args: Vec<AVal> = ins
        .iter()
        .flat_map(|v| {
            let s = AVal::scalar(v.aval.dtype);
            [s.clone(), s]
        })
        .collect();
    let region = cx.region(&args, |cx, a| {
        // Canonicalise every key's lhs, then its rhs (jax's order), then compare lexicographically.
        let mut parts: Vec<(V, V, &'static str)> = Vec::new();
        for i in 0..num_keys {
            let (l, r) = match (a.get(2 * i), a.get(2 * i + 1)) {
                (Some(l), Some(r)) => (l, r),
                _ => return Err(Error::internal("sort lowering: comparator arity")),
            };
            let lp = key_parts(cx, l);
            let rp = key_parts(cx, r);
            for ((lv, ty), (rv, _)) in lp.into_iter().zip(rp) {
                parts.push((lv, rv, ty));
            }
        }
        let dir = if descending { CmpDir::Gt } else { CmpDir::Lt };
        let (ll, lr, lty) = parts
            .pop()
            .ok_or_else(|| Error::internal("sort lowering: no keys"))?;
        let mut acc = compare(cx, dir, &ll, &lr, lty);
        while let Some((l, r, ty)) = parts.pop() {
            let lt = compare(cx, dir, &l, &r, ty);
            let eq = compare(cx, CmpDir::Eq, &l, &r, ty);
            let both = cx.op1("stablehlo.and", &[&eq, &acc], "", eq.aval.clone());
            acc = cx.op1("stablehlo.or", &[&lt, &both], "", lt.aval.clone());
        }
        Ok(vec![acc])
    })?;
    let refs: Vec<&V> = ins.iter().collect();
    Ok(cx.op_with_regions(
        "stablehlo.sort",
        &refs,
        &[region],
        &format!("dimension = {axis} : i64, is_stable = true"),
        outs,
    ))
}

/// The lowering of the sort family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    match op {
        Op::Sort {
            axis,
            descending,
            num_keys,
        } => lower_sort(cx, ins, outs, *axis, *descending, *num_keys),
        Op::TopK { k } => {
            let refs: Vec<&V> = ins.iter().collect();
            Ok(cx.op("chlo.top_k", &refs, &format!("k = {k} : i64"), outs))
        }
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/// Exactly read sort keys of one operand.
enum Keys {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Complex(Vec<(f64, f64)>),
}

/// f64 value of a float keeping the NaN's sign bit (XLA's total order distinguishes them).
fn signed_nan(v: f64, negative: bool) -> f64 {
    if v.is_nan() {
        if negative {
            -f64::NAN
        } else {
            f64::NAN
        }
    } else {
        v
    }
}

fn f8_key(b: u8, fmt: F8Format) -> f64 {
    signed_nan(f8_to_f32(b, fmt) as f64, b & 0x80 != 0)
}

/// jax's sort canonicalisation: -0 -> +0, any NaN -> +NaN. XLA evaluates the comparator's
/// `x == 0` with denormals flushed (FTZ/DAZ) for f32, f64, bf16 (computed in f32) and complex
/// parts, so their subnormals (`|x| < min_normal`) become +0 as well; f16 and f8 are widened to
/// f32 first, where their subnormals are normal numbers, and are kept.
fn canon(v: f64, min_normal: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else if v == 0.0 || v.abs() < min_normal {
        0.0
    } else {
        v
    }
}

const F32_MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;

impl Keys {
    fn read(d: &Data, canonical: bool) -> Keys {
        let m = match d {
            Data::F32(_) | Data::BF16(_) | Data::C64(_) => F32_MIN_NORMAL,
            Data::F64(_) => f64::MIN_POSITIVE,
            _ => 0.0,
        };
        let c = |v: f64| if canonical { canon(v, m) } else { v };
        match d {
            Data::Bool(v) => Keys::Int(v.iter().map(|&b| b as i64).collect()),
            Data::I8(v) => Keys::Int(v.iter().map(|&x| x as i64).collect()),
            Data::I32(v) => Keys::Int(v.iter().map(|&x| x as i64).collect()),
            Data::I64(v) => Keys::Int(v.clone()),
            Data::U8(v) => Keys::Int(v.iter().map(|&x| x as i64).collect()),
            Data::U32(v) => Keys::Int(v.iter().map(|&x| x as i64).collect()),
            Data::F16(v) => Keys::Float(
                v.iter()
                    .map(|x| c(signed_nan(x.to_f64(), x.is_sign_negative())))
                    .collect(),
            ),
            Data::BF16(v) => Keys::Float(
                v.iter()
                    .map(|x| c(signed_nan(x.to_f64(), x.is_sign_negative())))
                    .collect(),
            ),
            Data::F32(v) => Keys::Float(
                v.iter()
                    .map(|&x| c(signed_nan(x as f64, x.is_sign_negative())))
                    .collect(),
            ),
            Data::F64(v) => Keys::Float(v.iter().map(|&x| c(x)).collect()),
            Data::F8E4M3FN(v) => {
                Keys::Float(v.iter().map(|&b| c(f8_key(b, F8Format::E4M3FN))).collect())
            }
            Data::F8E5M2(v) => {
                Keys::Float(v.iter().map(|&b| c(f8_key(b, F8Format::E5M2))).collect())
            }
            Data::C64(v) => Keys::Complex(
                v.iter()
                    .map(|z| {
                        (
                            c(signed_nan(z.re as f64, z.re.is_sign_negative())),
                            c(signed_nan(z.im as f64, z.im.is_sign_negative())),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Total order of elements `i` and `j` (IEEE totalOrder for floats).
    fn cmp(&self, i: usize, j: usize) -> Ordering {
        match self {
            Keys::Int(v) => v[i].cmp(&v[j]),
            Keys::Float(v) => v[i].total_cmp(&v[j]),
            Keys::Complex(v) => v[i].0.total_cmp(&v[j].0).then(v[i].1.total_cmp(&v[j].1)),
        }
    }
}

/// Splits `dims` around `axis`: (outer count, axis length, inner count).
fn split(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = dims[..axis].iter().product();
    let n = dims[axis];
    let inner = dims[axis + 1..].iter().product();
    (outer, n, inner)
}

/// For each output flat position, the input flat position it takes: every line along `axis`
/// permuted by a stable sort under `cmp` of line positions.
fn sorted_sources(
    dims: &[usize],
    axis: usize,
    keep: usize,
    cmp: impl Fn(usize, usize) -> Ordering,
) -> Vec<usize> {
    let (outer, n, inner) = split(dims, axis);
    let mut src = vec![0usize; outer * keep * inner];
    let mut perm: Vec<usize> = Vec::with_capacity(n);
    for o in 0..outer {
        for i in 0..inner {
            let base = o * n * inner + i;
            perm.clear();
            perm.extend((0..n).map(|j| base + j * inner));
            perm.sort_by(|&a, &b| cmp(a, b));
            let obase = o * keep * inner + i;
            for (j, &p) in perm.iter().take(keep).enumerate() {
                src[obase + j * inner] = p;
            }
        }
    }
    src
}

/// The interpreter kernels of the sort family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let in_avals: Vec<AVal> = ins.iter().map(|l| l.aval()).collect();
    let outs = rule(op, &in_avals)?;
    match op {
        Op::Sort {
            axis,
            descending,
            num_keys,
        } => {
            let keys: Vec<Keys> = ins[..*num_keys]
                .iter()
                .map(|l| Keys::read(l.data(), true))
                .collect();
            let dims = in_avals[0].dims();
            let src = sorted_sources(dims, *axis, dims[*axis], |a, b| {
                let o = keys
                    .iter()
                    .map(|k| k.cmp(a, b))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal);
                if *descending {
                    o.reverse()
                } else {
                    o
                }
            });
            ins.iter()
                .zip(outs)
                .map(|(l, a)| Literal::new(a.shape, l.data().gather_flat(&src)))
                .collect()
        }
        Op::TopK { k } => {
            let x = ins[0];
            let keys = Keys::read(x.data(), false);
            let dims = x.dims();
            let axis = dims.len() - 1;
            let src = sorted_sources(dims, axis, *k, |a, b| keys.cmp(a, b).reverse());
            let n = dims[axis].max(1);
            let idx: Vec<i32> = src.iter().map(|&p| (p % n) as i32).collect();
            let values = Literal::new(outs[0].shape.clone(), x.data().gather_flat(&src))?;
            let indices = Literal::from_vec(outs[1].shape.clone(), idx)?;
            Ok(vec![values, indices])
        }
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor API
// ---------------------------------------------------------------------------------------------

impl Tensor {
    /// Stable sort along `axis` (ascending, or descending), with jax's float order: `-0.0` ties
    /// with `+0.0`, NaNs last ascending (first descending).
    #[track_caller]
    pub fn sort(&self, axis: usize, descending: bool) -> Tensor {
        let site = CallSite::here();
        let op = Op::Sort {
            axis,
            descending,
            num_keys: 1,
        };
        let mut v = apply(op, &[self], site);
        v.swap_remove(0)
    }

    /// Sorts several same-shaped operands together along `axis`, ordered lexicographically by
    /// the first `num_keys` of them (stable); returns every operand permuted.
    #[track_caller]
    pub fn sort_multi(
        operands: &[Tensor],
        axis: usize,
        num_keys: usize,
        descending: bool,
    ) -> Vec<Tensor> {
        let refs: Vec<&Tensor> = operands.iter().collect();
        apply(
            Op::Sort {
                axis,
                descending,
                num_keys,
            },
            &refs,
            CallSite::here(),
        )
    }

    /// The `k` largest elements along the last axis (XLA's total order: +NaN largest) and their
    /// i32 indices; ties are taken lower index first.
    #[track_caller]
    pub fn top_k(&self, k: usize) -> (Tensor, Tensor) {
        let mut v = apply(Op::TopK { k }, &[self], CallSite::here());
        let i = v.swap_remove(1);
        let x = v.swap_remove(0);
        (x, i)
    }
}

// ---------------------------------------------------------------------------------------------
// VJP rules (through the selected indices)
// ---------------------------------------------------------------------------------------------

/// The VJP rules of the sort family. `sort`: the same sort with an iota appended gives the
/// permutation; each operand's cotangent is its output cotangent sorted back by that
/// permutation (a second sort keyed by it, so no scatter). `top_k`: the value cotangent goes to
/// the selected positions (a one-hot select summed over k); the indices are not differentiable.
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    _outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let x = ins.first().ok_or_else(|| super::unreachable_op(op))?;
    match op {
        Op::Sort {
            axis,
            descending,
            num_keys,
        } => {
            if cts.iter().all(|c| c.is_none()) {
                return Ok(vec![None; ins.len()]);
            }
            let mut with_iota = ins.to_vec();
            with_iota.push(Tensor::iota(&x.dims(), *axis, DType::I32));
            let sorted = Tensor::sort_multi(&with_iota, *axis, *num_keys, *descending);
            let perm = sorted
                .last()
                .cloned()
                .ok_or_else(|| super::unreachable_op(op))?;
            Ok(cts
                .iter()
                .map(|c| {
                    c.as_ref().and_then(|g| {
                        Tensor::sort_multi(&[perm.clone(), g.clone()], *axis, 1, false)
                            .get(1)
                            .cloned()
                    })
                })
                .collect())
        }
        Op::TopK { k } => {
            let (Some(Some(g)), Some(idx)) = (cts.first(), _outs.get(1)) else {
                return Ok(vec![None]);
            };
            let xd = x.dims();
            let r = xd.len();
            let n = xd[r - 1];
            let mut kn: Vec<usize> = xd[..r - 1].to_vec();
            kn.push(*k);
            kn.push(n);
            let lead: Vec<usize> = (0..r).collect();
            let pos = Tensor::iota(&kn, r, idx.dtype());
            let sel = pos.eq(&idx.broadcast_in_dim(&kn, &lead));
            let gb = g.broadcast_in_dim(&kn, &lead);
            let picked = Tensor::select(&sel, &gb, &crate::autodiff::zeros_like(&gb));
            Ok(vec![Some(crate::autodiff::reduce_sum(&picked, &[r - 1]))])
        }
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of the sort family: sort shifts its axis past the batch axis (every
/// operand batched); top_k works on the last axis, so it applies as is.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    use crate::vmap::apply_checked;
    match op {
        Op::Sort {
            axis,
            descending,
            num_keys,
        } => {
            let ts = bx.all_batched();
            let refs: Vec<&Tensor> = ts.iter().collect();
            apply_checked(
                Op::Sort {
                    axis: axis + 1,
                    descending: *descending,
                    num_keys: *num_keys,
                },
                &refs,
            )
        }
        Op::TopK { .. } => apply_checked(op.clone(), &[bx.arg(0)?]),
        _ => Err(super::unreachable_op(op)),
    }
}
