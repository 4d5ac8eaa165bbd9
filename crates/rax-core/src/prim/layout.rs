//! Layout primitives: broadcast_in_dim, reshape, transpose, slice, concatenate, pad, reverse,
//! iota and constant — rule, lowering, kernel and `Tensor` methods side by side. Kernels are
//! dtype-agnostic: they compute, for each output element, which input element it copies.
//!
//! Depends on `ir`, `literal`, `lower`, `trace`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::Op;
use crate::literal::Literal;
use crate::lower::{i64_array, i64_array_signed, LowerCtx, V};
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
                std::slice::from_ref(x),
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

/// Checks that `axes` are distinct and each `< rank`, naming the op.
pub fn check_unique_axes(op: &str, axes: &[usize], rank: usize) -> Result<()> {
    let mut seen = vec![false; rank];
    for &a in axes {
        super::check_axis(op, a, rank)?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(Error::arg(op, format!("axis {a} is repeated in {axes:?}")));
        }
    }
    Ok(())
}

fn slice_rule(x: &AVal, start: &[usize], limit: &[usize], strides: &[usize]) -> Result<AVal> {
    let op = "slice";
    let r = x.rank();
    if start.len() != r || limit.len() != r || strides.len() != r {
        return Err(Error::arg(
            op,
            format!(
                "start {start:?}, limit {limit:?} and strides {strides:?} must each have one entry per dim of {x}"
            ),
        ));
    }
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        let (s, l, st, d) = (start[i], limit[i], strides[i], x.dims()[i]);
        if st == 0 {
            return Err(Error::arg(
                op,
                format!("stride of dim {i} must be >= 1, got 0"),
            ));
        }
        if s > l || l > d {
            return Err(Error::shape(
                op,
                format!("dim {i}: need 0 <= start ({s}) <= limit ({l}) <= size ({d})"),
                std::slice::from_ref(x),
            ));
        }
        out.push((l - s).div_ceil(st));
    }
    Ok(AVal::new(out, x.dtype))
}

fn concat_rule(ins: &[AVal], axis: usize) -> Result<AVal> {
    let op = "concatenate";
    let first = ins
        .first()
        .ok_or_else(|| Error::arg(op, "needs at least one operand"))?;
    super::check_axis(op, axis, first.rank())?;
    let mut out = first.dims().to_vec();
    for (k, a) in ins.iter().enumerate().skip(1) {
        if a.dtype != first.dtype {
            return Err(Error::DTypeMismatch {
                op: op.into(),
                lhs: first.dtype,
                rhs: a.dtype,
                site: None,
            });
        }
        let same_others = a.rank() == first.rank()
            && (0..a.rank()).all(|i| i == axis || a.dims()[i] == first.dims()[i]);
        if !same_others {
            return Err(Error::shape(
                op,
                format!("operand {k} must match operand 0 in every dim but axis {axis}"),
                ins,
            ));
        }
        out[axis] += a.dims()[axis];
    }
    Ok(AVal::new(out, first.dtype))
}

fn pad_rule(x: &AVal, v: &AVal, lo: &[i64], hi: &[i64], interior: &[usize]) -> Result<AVal> {
    let op = "pad";
    if v.dtype != x.dtype {
        return Err(Error::DTypeMismatch {
            op: op.into(),
            lhs: x.dtype,
            rhs: v.dtype,
            site: None,
        });
    }
    if v.rank() != 0 {
        return Err(Error::shape(
            op,
            "the padding value must be a scalar",
            &[x.clone(), v.clone()],
        ));
    }
    let r = x.rank();
    if lo.len() != r || hi.len() != r || interior.len() != r {
        return Err(Error::arg(
            op,
            format!("lo {lo:?}, hi {hi:?} and interior {interior:?} must each have one entry per dim of {x}"),
        ));
    }
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        let d = x.dims()[i] as i128;
        let n = lo[i] as i128 + hi[i] as i128 + d + (d - 1).max(0) * interior[i] as i128;
        if n < 0 || n > i64::MAX as i128 {
            return Err(Error::shape(
                op,
                format!(
                    "dim {i}: padding lo {} hi {} interior {} gives size {n}",
                    lo[i], hi[i], interior[i]
                ),
                std::slice::from_ref(x),
            ));
        }
        out.push(n as usize);
    }
    Ok(AVal::new(out, x.dtype))
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
            if shape.try_numel(name)? != ins[0].shape.numel() {
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
        Op::Slice {
            start,
            limit,
            strides,
        } => {
            need(1)?;
            slice_rule(&ins[0], start, limit, strides)?
        }
        Op::Concatenate { axis } => concat_rule(ins, *axis)?,
        Op::Pad { lo, hi, interior } => {
            need(2)?;
            pad_rule(&ins[0], &ins[1], lo, hi, interior)?
        }
        Op::Reverse { axes } => {
            need(1)?;
            check_unique_axes(name, axes, ins[0].rank())?;
            ins[0].clone()
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
        Op::Slice {
            start,
            limit,
            strides,
        } => cx.op1(
            "stablehlo.slice",
            &refs,
            &format!(
                "start_indices = {}, limit_indices = {}, strides = {}",
                i64_array(start),
                i64_array(limit),
                i64_array(strides)
            ),
            out,
        ),
        Op::Concatenate { axis } => cx.op1(
            "stablehlo.concatenate",
            &refs,
            &format!("dimension = {axis} : i64"),
            out,
        ),
        Op::Pad { lo, hi, interior } => cx.op1(
            "stablehlo.pad",
            &refs,
            &format!(
                "edge_padding_low = {}, edge_padding_high = {}, interior_padding = {}",
                i64_array_signed(lo),
                i64_array_signed(hi),
                i64_array(interior)
            ),
            out,
        ),
        Op::Reverse { axes } => cx.op1(
            "stablehlo.reverse",
            &refs,
            &format!("dimensions = {}", i64_array(axes)),
            out,
        ),
        _ => return Err(super::unreachable_op(op)),
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
        Op::Slice { start, strides, .. } => {
            let x = ins[0];
            let xs = x.shape().strides();
            remap(x, &out, |idx| {
                (0..idx.len())
                    .map(|i| (start[i] + idx[i] * strides[i]) * xs[i])
                    .sum()
            })?
        }
        Op::Concatenate { axis } => eval_concat(ins, *axis, &out)?,
        Op::Pad { lo, interior, .. } => eval_pad(ins[0], ins[1], lo, interior, &out)?,
        Op::Reverse { axes } => {
            let x = ins[0];
            let xs = x.shape().strides();
            let xd = x.dims().to_vec();
            remap(x, &out, |idx| {
                (0..idx.len())
                    .map(|i| {
                        let j = if axes.contains(&i) {
                            xd[i] - 1 - idx[i]
                        } else {
                            idx[i]
                        };
                        j * xs[i]
                    })
                    .sum()
            })?
        }
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![lit])
}

/// Concatenation: copies from the flat concatenation of all operands' storage.
fn eval_concat(ins: &[&Literal], axis: usize, out: &AVal) -> Result<Literal> {
    let mut all = match ins.first() {
        Some(x) => x.data().clone(),
        None => return Err(Error::arg("concatenate", "needs at least one operand")),
    };
    // Offset of each operand in `all`.
    let mut bases = vec![0usize];
    for x in ins.iter().skip(1) {
        bases.push(all.len());
        all = super::elementwise::concat_data(&all, x.data());
    }
    let strides: Vec<Vec<usize>> = ins.iter().map(|x| x.shape().strides()).collect();
    let sizes: Vec<usize> = ins.iter().map(|x| x.dims()[axis]).collect();
    let whole = Literal::new([all.len()], all)?;
    let mut src = vec![0usize; out.rank()];
    remap(&whole, out, |idx| {
        src.copy_from_slice(idx);
        let mut k = 0;
        while k + 1 < sizes.len() && src[axis] >= sizes[k] {
            src[axis] -= sizes[k];
            k += 1;
        }
        bases[k] + ravel(&src, &strides[k])
    })
}

/// Padding: output element o of a dim maps to p = o - lo; it is operand element p / (interior
/// + 1) when that divides exactly and is in range, and the padding value otherwise.
fn eval_pad(
    x: &Literal,
    v: &Literal,
    lo: &[i64],
    interior: &[usize],
    out: &AVal,
) -> Result<Literal> {
    let n = x.numel();
    let both = super::elementwise::concat_data(x.data(), v.data());
    let whole = Literal::new([both.len()], both)?;
    let xs = x.shape().strides();
    let xd = x.dims().to_vec();
    remap(&whole, out, |idx| {
        let mut flat = 0usize;
        for i in 0..idx.len() {
            let p = idx[i] as i64 - lo[i];
            let step = interior[i] as i64 + 1;
            if p < 0 || p % step != 0 || p / step >= xd[i] as i64 {
                return n;
            }
            flat += (p / step) as usize * xs[i];
        }
        flat
    })
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

    /// Zeros of a shape and dtype. Inside a trace, a scalar constant broadcast to the shape
    /// (no host memory is allocated; the program makes the array); eagerly, a host array (an
    /// error tensor, naming the byte count, when it is too large to allocate).
    #[track_caller]
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::filled("zeros", shape, 0.0, dtype, CallSite::here())
    }

    /// A tensor filled with one value; an error tensor when the dtype cannot represent the
    /// value exactly (`full(&[2], 300.0, I8)`). Inside a trace, a scalar constant broadcast to
    /// the shape; eagerly, a host array (an error tensor when too large to allocate).
    #[track_caller]
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        Tensor::filled("full", shape, value, dtype, CallSite::here())
    }

    fn filled(op: &str, shape: &[usize], value: f64, dtype: DType, site: CallSite) -> Tensor {
        let aval = AVal::new(shape, dtype);
        if crate::trace::tracing() {
            let r = crate::literal::exact_scalar(op, value, dtype)
                .and_then(|()| crate::limits::check_aval(op, &aval));
            if let Err(e) = r {
                return crate::trace::apply_error(e, aval, site);
            }
            let s = Tensor::from_literal(Literal::full(&AVal::scalar(dtype), value));
            if shape.is_empty() {
                return s;
            }
            return apply1(
                Op::BroadcastInDim {
                    shape: Shape::new(shape.to_vec()),
                    dims: vec![],
                },
                &[&s],
                site,
            );
        }
        match Literal::try_full(op, &aval, value) {
            Ok(l) => Tensor::from_literal(l),
            Err(e) => crate::trace::apply_error(e, aval, site),
        }
    }

    /// Strided slice `x[start:limit:strides]` (one entry per dim; `stablehlo.slice`).
    #[track_caller]
    pub fn slice(&self, start: &[usize], limit: &[usize], strides: &[usize]) -> Tensor {
        apply1(
            Op::Slice {
                start: start.to_vec(),
                limit: limit.to_vec(),
                strides: strides.to_vec(),
            },
            &[self],
            CallSite::here(),
        )
    }

    /// Concatenates tensors of one dtype along `axis` (all other dims equal; at least one).
    #[track_caller]
    pub fn concat(xs: &[Tensor], axis: usize) -> Tensor {
        let refs: Vec<&Tensor> = xs.iter().collect();
        apply1(Op::Concatenate { axis }, &refs, CallSite::here())
    }

    /// Pads with a scalar `value` of the same dtype: `lo`/`hi` elements before/after each dim
    /// (negative values crop) and `interior` elements between neighbours (`stablehlo.pad`).
    #[track_caller]
    pub fn pad(&self, value: &Tensor, lo: &[i64], hi: &[i64], interior: &[usize]) -> Tensor {
        apply1(
            Op::Pad {
                lo: lo.to_vec(),
                hi: hi.to_vec(),
                interior: interior.to_vec(),
            },
            &[self, value],
            CallSite::here(),
        )
    }

    /// Reverses the order of elements along each of `axes` (`stablehlo.reverse`).
    #[track_caller]
    pub fn reverse(&self, axes: &[usize]) -> Tensor {
        apply1(
            Op::Reverse {
                axes: axes.to_vec(),
            },
            &[self],
            CallSite::here(),
        )
    }

    /// Records a constant node explicitly (used by transformations).
    #[track_caller]
    pub fn constant_node(lit: Literal) -> Tensor {
        apply1(Op::Constant(Arc::new(lit)), &[], CallSite::here())
    }
}

// ---------------------------------------------------------------------------------------------
// VJP rules (linear ops: each cotangent is the transpose applied to the output cotangent)
// ---------------------------------------------------------------------------------------------

/// The VJP rules of the layout family: broadcast sums, reshape/transpose/reverse invert, slice
/// pads (interior padding for strides), concatenate slices, pad unpads (negative padding, then
/// a strided slice) and gives the padding value the sum of the padding cotangents.
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    _outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    use crate::autodiff::{op1, reduce_sum, zeros_like};
    let Some(Some(g)) = cts.first() else {
        return Ok(vec![None; ins.len()]);
    };
    let x = match ins.first() {
        Some(x) => x,
        None => return Ok(vec![]),
    };
    let xd = x.dims();
    let r = match op {
        Op::BroadcastInDim { shape, dims } => {
            let mut axes: Vec<usize> = (0..shape.rank()).filter(|d| !dims.contains(d)).collect();
            for (i, &d) in dims.iter().enumerate() {
                if xd[i] == 1 && shape.dims()[d] != 1 {
                    axes.push(d);
                }
            }
            axes.sort_unstable();
            vec![Some(reduce_sum(g, &axes).reshape(&xd))]
        }
        Op::Reshape(_) => vec![Some(g.reshape(&xd))],
        Op::Transpose(perm) => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            vec![Some(g.transpose(&inv))]
        }
        Op::Reverse { axes } => vec![Some(op1(Op::Reverse { axes: axes.clone() }, &[g]))],
        Op::Slice {
            start,
            limit: _,
            strides,
        } => {
            if g.shape().numel() == 0 {
                return Ok(vec![Some(zeros_like(x))]);
            }
            let gd = g.dims();
            let mut lo = Vec::new();
            let mut hi = Vec::new();
            let mut interior = Vec::new();
            for i in 0..xd.len() {
                let used = start[i] + (gd[i] - 1) * strides[i] + 1;
                lo.push(start[i] as i64);
                hi.push(xd[i] as i64 - used as i64);
                interior.push(strides[i] - 1);
            }
            let zero = g.scalar_like(0.0);
            vec![Some(op1(Op::Pad { lo, hi, interior }, &[g, &zero]))]
        }
        Op::Concatenate { axis } => {
            let gd = g.dims();
            let mut pos = 0;
            let mut v = Vec::new();
            for t in ins {
                let n = t.dims()[*axis];
                let mut start = vec![0; gd.len()];
                let mut limit = gd.clone();
                start[*axis] = pos;
                limit[*axis] = pos + n;
                pos += n;
                v.push(Some(op1(
                    Op::Slice {
                        start,
                        limit,
                        strides: vec![1; gd.len()],
                    },
                    &[g],
                )));
            }
            v
        }
        Op::Pad { lo, hi, interior } => {
            let zero = g.scalar_like(0.0);
            let unpadded = op1(
                Op::Pad {
                    lo: lo.iter().map(|v| -v).collect(),
                    hi: hi.iter().map(|v| -v).collect(),
                    interior: vec![0; lo.len()],
                },
                &[g, &zero],
            );
            let ud = unpadded.dims();
            let ct_x = op1(
                Op::Slice {
                    start: vec![0; ud.len()],
                    limit: ud.clone(),
                    strides: interior.iter().map(|i| i + 1).collect(),
                },
                &[&unpadded],
            );
            let all: Vec<usize> = (0..gd_rank(g)).collect();
            let ct_pad = reduce_sum(g, &all) - reduce_sum(&ct_x, &all);
            vec![Some(ct_x), Some(ct_pad)]
        }
        Op::Iota { .. } | Op::Constant(_) => vec![],
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(r)
}

fn gd_rank(t: &Tensor) -> usize {
    t.rank()
}

// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of the layout family: each op gains the leading batch axis in its
/// parameters (broadcast dims, shape, permutation, slice bounds, axes, padding); a pad whose
/// padding value is batched loops over the batch.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    use crate::vmap::{apply_checked, shift, to_batched};
    let b = bx.size;
    let lead = |first: usize, rest: &[usize]| -> Vec<usize> {
        let mut v = vec![first];
        v.extend_from_slice(rest);
        v
    };
    match op {
        Op::BroadcastInDim { shape, dims } => {
            let mut d = vec![0];
            d.extend(shift(dims));
            apply_checked(
                Op::BroadcastInDim {
                    shape: Shape::new(lead(b, shape.dims())),
                    dims: d,
                },
                &[bx.arg(0)?],
            )
        }
        Op::Reshape(shape) => apply_checked(
            Op::Reshape(Shape::new(lead(b, shape.dims()))),
            &[bx.arg(0)?],
        ),
        Op::Transpose(perm) => apply_checked(Op::Transpose(lead(0, &shift(perm))), &[bx.arg(0)?]),
        Op::Slice {
            start,
            limit,
            strides,
        } => apply_checked(
            Op::Slice {
                start: lead(0, start),
                limit: lead(b, limit),
                strides: lead(1, strides),
            },
            &[bx.arg(0)?],
        ),
        Op::Reverse { axes } => apply_checked(Op::Reverse { axes: shift(axes) }, &[bx.arg(0)?]),
        Op::Pad { lo, hi, interior } if !bx.is_batched(1) => {
            let x = to_batched(bx.arg(0)?, bx.is_batched(0), b, bx.un[0].dims());
            let mut l = vec![0];
            l.extend_from_slice(lo);
            let mut h = vec![0];
            h.extend_from_slice(hi);
            apply_checked(
                Op::Pad {
                    lo: l,
                    hi: h,
                    interior: lead(0, interior),
                },
                &[&x, bx.arg(1)?],
            )
        }
        Op::Pad { .. } => bx.loop_over(op),
        Op::Concatenate { axis } => {
            let ts = bx.all_batched();
            let refs: Vec<&Tensor> = ts.iter().collect();
            apply_checked(Op::Concatenate { axis: axis + 1 }, &refs)
        }
        Op::Iota { .. } | Op::Constant(_) => Err(Error::internal(format!(
            "vmap: {} has no operands, so none can be batched",
            super::op_name(op)
        ))),
        _ => Err(super::unreachable_op(op)),
    }
}
