//! Layout primitives: broadcast_in_dim, reshape, transpose, slice, concatenate, pad, reverse,
//! iota and constant — rule, lowering, kernel and `Tensor` methods side by side. Kernels are
//! dtype-agnostic: they compute, for each output element, which input element it copies.
//!
//! Depends on `ir`, `literal`, `lower`, `trace`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::Op;
use crate::literal::Literal;
use crate::lower::{i64_array, LowerCtx, V};
use crate::shape::{AVal, Shape};
use crate::trace::{apply1, Tensor};
use std::sync::Arc;

/// The numpy broadcast of two shapes, or None when they do not broadcast.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Unravels a flat row-major index into a multi-index.
pub fn unravel(mut flat: usize, dims: &[usize], out: &mut [usize]) {
    for i in (0..dims.len()).rev() {
        let d = dims[i].max(1);
        out[i] = flat % d;
        flat /= d;
    }
}

/// Flat row-major index of a multi-index.
pub fn ravel(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Builds an output literal by mapping each output multi-index to an input flat index.
pub fn remap(x: &Literal, out: &AVal, mut f: impl FnMut(&[usize]) -> usize) -> Result<Literal> {
    let n = out.shape.numel();
    let mut idx = vec![0usize; out.rank()];
    let mut src = Vec::with_capacity(n);
    for flat in 0..n {
        unravel(flat, out.dims(), &mut idx);
        src.push(f(&idx));
    }
    Literal::new(out.shape.clone(), x.data().gather_flat(&src))
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

fn broadcast_rule(x: &AVal, shape: &Shape, dims: &[usize]) -> Result<AVal> {
    let op = "broadcast_in_dim";
    if dims.len() != x.rank() {
        return Err(Error::arg(
            op,
            format!(
                "{} broadcast dims given for an operand of rank {}",
                dims.len(),
                x.rank()
            ),
        ));
    }
    for (i, &d) in dims.iter().enumerate() {
        if d >= shape.rank() {
            return Err(Error::arg(
                op,
                format!(
                    "broadcast dim {d} is out of range for output rank {}",
                    shape.rank()
                ),
            ));
        }
        if i > 0 && dims[i - 1] >= d {
            return Err(Error::arg(
                op,
                format!("broadcast dims {dims:?} must be strictly increasing"),
            ));
        }
        if x.dims()[i] != 1 && x.dims()[i] != shape.dims()[d] {
            return Err(Error::shape(
                op,
                format!(
                    "operand dim {i} ({}) does not broadcast to {shape}",
                    x.dims()[i]
                ),
                &[x.clone()],
            ));
        }
    }
    Ok(AVal::new(shape.clone(), x.dtype))
}

fn transpose_rule(x: &AVal, perm: &[usize]) -> Result<AVal> {
    let mut seen = vec![false; x.rank()];
    if perm.len() != x.rank()
        || perm
            .iter()
            .any(|&p| p >= x.rank() || std::mem::replace(&mut seen[p], true))
    {
        return Err(Error::arg(
            "transpose",
            format!(
                "{perm:?} is not a permutation of the {} axes of {x}",
                x.rank()
            ),
        ));
    }
    Ok(AVal::new(
        perm.iter().map(|&p| x.dims()[p]).collect::<Vec<_>>(),
        x.dtype,
    ))
}

/// The typing rule of the layout family.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    let name = super::op_name(op);
    let need = |n: usize| -> Result<()> {
        if ins.len() != n {
            return Err(Error::arg(
                name,
                format!("takes {n} operands, got {}", ins.len()),
            ));
        }
        Ok(())
    };
    let out = match op {
        Op::BroadcastInDim { shape, dims } => {
            need(1)?;
            broadcast_rule(&ins[0], shape, dims)?
        }
        Op::Reshape(shape) => {
            need(1)?;
            if shape.numel() != ins[0].shape.numel() {
                return Err(Error::shape(
                    name,
                    format!(
                        "cannot reshape {} elements into {shape}",
                        ins[0].shape.numel()
                    ),
                    ins,
                ));
            }
            AVal::new(shape.clone(), ins[0].dtype)
        }
        Op::Transpose(perm) => {
            need(1)?;
            transpose_rule(&ins[0], perm)?
        }
        Op::Iota { aval, dim } => {
            need(0)?;
            super::check_axis(name, *dim, aval.rank())?;
            if aval.dtype.is_bool() {
                return Err(Error::dtype(name, aval.dtype, "numeric"));
            }
            aval.clone()
        }
        Op::Constant(lit) => {
            need(0)?;
            lit.aval()
        }
        Op::Slice { .. } | Op::Concatenate { .. } | Op::Pad { .. } | Op::Reverse { .. } => {
            return Err(Error::unsupported(name, "not yet implemented"))
        }
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

/// The lowering of the layout family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    let out = outs
        .first()
        .cloned()
        .ok_or_else(|| super::unreachable_op(op))?;
    let refs: Vec<&V> = ins.iter().collect();
    let v = match op {
        Op::BroadcastInDim { dims, .. } => cx.op1(
            "stablehlo.broadcast_in_dim",
            &refs,
            &format!("broadcast_dimensions = {}", i64_array(dims)),
            out,
        ),
        Op::Reshape(_) => cx.op1("stablehlo.reshape", &refs, "", out),
        Op::Transpose(perm) => cx.op1(
            "stablehlo.transpose",
            &refs,
            &format!("permutation = {}", i64_array(perm)),
            out,
        ),
        Op::Iota { dim, .. } => cx.op1(
            "stablehlo.iota",
            &[],
            &format!("iota_dimension = {dim} : i64"),
            out,
        ),
        Op::Constant(lit) => cx.constant(lit),
        _ => {
            return Err(Error::unsupported(
                super::op_name(op),
                "lowering not yet implemented",
            ))
        }
    };
    Ok(vec![v])
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/// The interpreter kernels of the layout family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let in_avals: Vec<AVal> = ins.iter().map(|l| l.aval()).collect();
    let out = rule(op, &in_avals)?.remove(0);
    let lit = match op {
        Op::BroadcastInDim { dims, .. } => {
            let x = ins[0];
            let strides = x.shape().strides();
            let xd = x.dims().to_vec();
            let mut src = vec![0usize; x.dims().len()];
            remap(x, &out, |idx| {
                for (i, &d) in dims.iter().enumerate() {
                    src[i] = if xd[i] == 1 { 0 } else { idx[d] };
                }
                ravel(&src, &strides)
            })?
        }
        Op::Reshape(shape) => ins[0].reshape(shape.clone())?,
        Op::Transpose(perm) => {
            let x = ins[0];
            let strides = x.shape().strides();
            remap(x, &out, |idx| {
                perm.iter()
                    .enumerate()
                    .map(|(o, &p)| idx[o] * strides[p])
                    .sum()
            })?
        }
        Op::Iota { aval, dim } => {
            let n = aval.shape.numel();
            let mut idx = vec![0usize; aval.rank()];
            let vals: Vec<f64> = (0..n)
                .map(|f| {
                    unravel(f, aval.dims(), &mut idx);
                    idx[*dim] as f64
                })
                .collect();
            Literal::from_f64s(aval.shape.clone(), aval.dtype, &vals)?
        }
        Op::Constant(lit) => (**lit).clone(),
        _ => {
            return Err(Error::unsupported(
                super::op_name(op),
                "kernel not yet implemented",
            ))
        }
    };
    Ok(vec![lit])
}

// ---------------------------------------------------------------------------------------------
// Tensor API
// ---------------------------------------------------------------------------------------------

impl Tensor {
    /// `broadcast_in_dim`: operand dim i goes to output dim `dims[i]`.
    #[track_caller]
    pub fn broadcast_in_dim(&self, shape: &[usize], dims: &[usize]) -> Tensor {
        apply1(
            Op::BroadcastInDim {
                shape: Shape::new(shape),
                dims: dims.to_vec(),
            },
            &[self],
            CallSite::here(),
        )
    }

    /// Numpy-style broadcast to a shape (trailing dims aligned).
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        if self.dims() == shape {
            return self.clone();
        }
        let r = self.rank();
        if r > shape.len() {
            return crate::trace::apply_error(
                Error::shape(
                    "broadcast_to",
                    format!("cannot broadcast to lower rank {shape:?}"),
                    &[self.aval()],
                ),
                self.aval(),
                CallSite::here(),
            );
        }
        let dims: Vec<usize> = (shape.len() - r..shape.len()).collect();
        self.broadcast_in_dim(shape, &dims)
    }

    /// Reshape (row-major) to a shape with the same number of elements.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        if self.dims() == shape {
            return self.clone();
        }
        apply1(Op::Reshape(Shape::new(shape)), &[self], CallSite::here())
    }

    /// Permutes the axes.
    #[track_caller]
    pub fn transpose(&self, perm: &[usize]) -> Tensor {
        apply1(Op::Transpose(perm.to_vec()), &[self], CallSite::here())
    }

    /// `0, 1, 2, ...` along `dim` of a shape.
    #[track_caller]
    pub fn iota(shape: &[usize], dim: usize, dtype: DType) -> Tensor {
        apply1(
            Op::Iota {
                aval: AVal::new(shape, dtype),
                dim,
            },
            &[],
            CallSite::here(),
        )
    }

    /// A constant tensor (concrete; becomes a `stablehlo.constant` when used in a trace).
    pub fn constant(lit: Literal) -> Tensor {
        Tensor::from_literal(lit)
    }

    /// Zeros of a shape and dtype.
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::from_literal(Literal::zeros(&AVal::new(shape, dtype)))
    }

    /// A tensor filled with one value.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        Tensor::from_literal(Literal::full(&AVal::new(shape, dtype), value))
    }

    /// Records a constant node explicitly (used by transformations).
    #[track_caller]
    pub fn constant_node(lit: Literal) -> Tensor {
        apply1(Op::Constant(Arc::new(lit)), &[], CallSite::here())
    }
}
