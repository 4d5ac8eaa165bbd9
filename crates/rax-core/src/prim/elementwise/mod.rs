//! Family `elementwise`: unary math (declared once each in `unary_ops`), binary
//! arithmetic/bitwise, compare, select, clamp, convert and bitcast_convert. This module
//! dispatches the family's typing rule, lowering, kernel, VJP and batching rule to the files
//! that hold them, and has the helpers they share. Binary operators broadcast numpy-style
//! (inserting `broadcast_in_dim`) but never promote dtypes; Rust scalars are weakly typed and
//! take the tensor's dtype, as in JAX.
//!
//! Files: `unary_ops` (the unary table), `unary` (its macro and shared rule/lowering/kernel/
//! VJP), `float` (the generic kernels' math), `binary`, `compare`, `select` (select, clamp),
//! `convert` (convert, bitcast_convert), `operators` (Rust scalars and `std::ops`).
//!
//! Depends on `ir`, `literal`, `lower`, `trace`, and `layout` (broadcasting).

pub mod binary;
pub mod compare;
pub mod complex;
pub mod convert;
pub mod float;
pub mod operators;
pub mod select;
pub mod unary;
pub mod unary_ops;

pub use compare::{compare_type, lower_compare};
pub use select::concat_data;
pub use unary_ops::UnaryOp;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ir::{BinaryOp, CmpDir, Op};
use crate::literal::Literal;
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::Tensor;
use crate::vmap::{apply_checked, to_batched, Batch};

/// Checks that two operands have equal shapes.
pub(crate) fn same_shape(op: &str, a: &AVal, b: &AVal) -> Result<()> {
    if a.shape != b.shape {
        return Err(Error::shape(
            op,
            "operands must have equal shapes",
            &[a.clone(), b.clone()],
        ));
    }
    Ok(())
}

/// Checks that two operands have equal dtypes.
pub(crate) fn same_dtype(op: &str, a: &AVal, b: &AVal) -> Result<()> {
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

/// `select(x == 0, 1, x)`.
pub(crate) fn replace_zero(x: &Tensor) -> Tensor {
    Tensor::select(&x.eq(&x.scalar_like(0.0)), &x.scalar_like(1.0), x)
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
        Op::Unary(u) => unary::rule(u.def(), &ins[0])?,
        Op::Binary(b) => binary::binary_rule(*b, &ins[0], &ins[1])?,
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
        Op::BitcastConvert(to) => convert::bitcast_rule(&ins[0], *to)?,
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
}

/// The lowering of the elementwise family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    let out = outs
        .first()
        .cloned()
        .ok_or_else(|| super::unreachable_op(op))?;
    let refs: Vec<&V> = ins.iter().collect();
    let v = match op {
        Op::Unary(u) => unary::lower(u.def(), cx, &ins[0], &out),
        Op::Binary(b @ (BinaryOp::Div | BinaryOp::Rem)) if out.dtype.is_int() => {
            binary::lower_int_div_rem(cx, *b, &ins[0], &ins[1], &out)
        }
        Op::Binary(b) => cx.op1(binary::binary_mlir(*b), &refs, "", out),
        Op::Compare(c) => lower_compare(cx, *c, &ins[0], &ins[1]),
        Op::Select => cx.op1("stablehlo.select", &refs, "", out),
        Op::Clamp => cx.op1("stablehlo.clamp", &refs, "", out),
        Op::Convert(_) => cx.op1("stablehlo.convert", &refs, "", out),
        Op::BitcastConvert(_) => cx.op1("stablehlo.bitcast_convert", &refs, "", out),
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![v])
}

/// The interpreter kernels of the elementwise family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let out = match op {
        Op::Unary(u) => unary::eval(u.def(), ins[0])?,
        Op::Binary(b) => binary::eval_binary(*b, ins[0], ins[1])?,
        Op::Compare(c) => compare::eval_compare(*c, ins[0], ins[1])?,
        Op::Select => select::eval_select(ins[0], ins[1], ins[2])?,
        Op::Clamp => select::eval_clamp(ins[0], ins[1], ins[2])?,
        Op::Convert(to) => ins[0].convert(*to),
        Op::BitcastConvert(to) => convert::eval_bitcast(ins[0], *to)?,
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
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
        Op::Unary(u) => vec![unary::vjp(
            u.def(),
            ins.first().ok_or_else(arity_err)?,
            z,
            g,
        )],
        Op::Binary(b) => {
            let (Some(x), Some(y)) = (ins.first(), ins.get(1)) else {
                return Err(arity_err());
            };
            binary::binary_vjp(*b, x, y, z, g)
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

/// The batching rule of the elementwise family: the operands broadcast to the batched result
/// shape (unbatched scalar bounds and predicates stay scalars), then the op as is.
pub fn batch(op: &Op, bx: &Batch) -> Result<Vec<Tensor>> {
    match op {
        Op::Unary(_) | Op::Convert(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Clamp => {
            let target = bx
                .out_un
                .first()
                .ok_or_else(|| super::unreachable_op(op))?
                .dims()
                .to_vec();
            let ts: Vec<Tensor> = bx
                .ins
                .iter()
                .zip(&bx.un)
                .map(|((t, bt), a)| {
                    if a.rank() == 0 && !target.is_empty() && !*bt {
                        t.clone() // unbatched scalar bounds/preds stay scalars
                    } else {
                        to_batched(t, *bt, bx.size, &target)
                    }
                })
                .collect();
            let refs: Vec<&Tensor> = ts.iter().collect();
            apply_checked(op.clone(), &refs)
        }
        // One operand, batched: the bits of each example are reinterpreted in place.
        Op::BitcastConvert(_) => apply_checked(op.clone(), &[bx.arg(0)?]),
        _ => Err(super::unreachable_op(op)),
    }
}
