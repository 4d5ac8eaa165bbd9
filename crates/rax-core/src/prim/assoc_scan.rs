//! The VJPs of cumulative prod, max and min (family `reduce`), as JAX defines them: JAX
//! differentiates `cumprod`/`cummax`/`cummin` through `lax.associative_scan` (Blelloch's
//! work-efficient scan: combine adjacent pairs, recurse on the half, combine back and
//! interleave). This file builds that same scan from rax primitives (strided slices, the
//! combining op, pads, concatenation) and differentiates it with the ordinary VJP rules, so the
//! cotangents are JAX's — for prod no division (zeros are fine), for max/min the tie-splitting
//! rule of `max`/`min` applied at each combine, exactly where JAX applies it.
//!
//! Depends on `autodiff` (vjp of the traced scan), `trace`, `ir`.

use crate::error::{Error, Result};
use crate::ir::{BinaryOp, ReduceKind};
use crate::trace::{trace, Tensor};

/// `x[start..limit:stride]` along `axis` (`lax.slice_in_dim`).
fn slice_in_dim(x: &Tensor, start: usize, limit: usize, stride: usize, axis: usize) -> Tensor {
    let d = x.dims();
    let mut s = vec![0; d.len()];
    let mut l = d.clone();
    let mut st = vec![1; d.len()];
    s[axis] = start;
    l[axis] = limit.max(start);
    st[axis] = stride;
    x.slice(&s, &l, &st)
}

/// Interleaves `a` and `b` along `axis` (`a[0], b[0], a[1], ...`): two interior-padded copies
/// added, as JAX's `_interleave` does. `a` is as long as `b` or one longer.
fn interleave(a: &Tensor, b: &Tensor, axis: usize) -> Tensor {
    let (na, nb) = (a.dims()[axis], b.dims()[axis]);
    let r = a.rank();
    let (mut alo, mut ahi, mut blo, mut bhi) = (vec![0; r], vec![0; r], vec![0; r], vec![0; r]);
    let mut interior = vec![0; r];
    interior[axis] = 1;
    ahi[axis] = i64::from(na == nb);
    blo[axis] = 1;
    bhi[axis] = i64::from(na != nb);
    alo[axis] = 0;
    let pa = a.pad(&a.scalar_like(0.0), &alo, &ahi, &interior);
    let pb = b.pad(&b.scalar_like(0.0), &blo, &bhi, &interior);
    &pa + &pb
}

/// JAX's `associative_scan(fn, x, axis)` (forward direction) for one elementwise combine.
fn scan(x: &Tensor, combine: BinaryOp, axis: usize) -> Tensor {
    let n = x.dims()[axis];
    if n < 2 {
        return x.clone();
    }
    let op = |a: &Tensor, b: &Tensor| match combine {
        BinaryOp::Mul => a * b,
        BinaryOp::Max => a.maximum(b),
        _ => a.minimum(b),
    };
    let reduced = op(
        &slice_in_dim(x, 0, n - 1, 2, axis),
        &slice_in_dim(x, 1, n, 2, axis),
    );
    let odd = scan(&reduced, combine, axis);
    let m = odd.dims()[axis];
    let even = if n & 1 == 0 {
        op(
            &slice_in_dim(&odd, 0, m - 1, 1, axis),
            &slice_in_dim(x, 2, n, 2, axis),
        )
    } else {
        op(&odd, &slice_in_dim(x, 2, n, 2, axis))
    };
    let even = Tensor::concat(&[slice_in_dim(x, 0, 1, 1, axis), even], axis);
    interleave(&even, &odd, axis)
}

/// The VJP of `cumulative(kind, axis, reverse)` for prod, max and min: the cotangent `g` of the
/// result pulled back through JAX's associative scan of `x`.
pub fn cumulative_vjp(
    kind: ReduceKind,
    axis: usize,
    reverse: bool,
    x: &Tensor,
    g: &Tensor,
) -> Result<Tensor> {
    let combine = match kind {
        ReduceKind::Prod => BinaryOp::Mul,
        ReduceKind::Max => BinaryOp::Max,
        ReduceKind::Min => BinaryOp::Min,
        _ => {
            return Err(Error::internal(format!(
                "cumulative_vjp: {kind:?} is not a cumulative prod, max or min"
            )))
        }
    };
    let traced = trace(&[x.aval()], |xs| {
        let x = if reverse {
            xs[0].reverse(&[axis])
        } else {
            xs[0].clone()
        };
        let s = scan(&x, combine, axis);
        vec![if reverse { s.reverse(&[axis]) } else { s }]
    })?;
    let (_, pb) = crate::autodiff::vjp_graph(&traced.graph, std::slice::from_ref(x))?;
    pb.call(std::slice::from_ref(g))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("cumulative_vjp: the pullback gave no cotangent"))
}
