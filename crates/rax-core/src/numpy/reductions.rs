//! Reductions built from primitives (`jax.numpy` style): `mean` and `var` (narrow floats
//! widened to f32, as `jnp` does), and the keepdims forms of reductions. No `Op` of their own.
//!
//! Depends on `trace`, `prim` (reduce, convert, reshape, elementwise).

use crate::dtype::DType;
use crate::error::{CallSite, Error};
use crate::ir::{Op, ReduceKind};
use crate::shape::Shape;
use crate::trace::{apply1, apply_error, Tensor};

pub(crate) fn is_narrow(d: DType) -> bool {
    matches!(
        d,
        DType::BF16 | DType::F16 | DType::F8E4M3FN | DType::F8E5M2
    )
}

/// `f` of `x` computed in f32 when `x` is a narrow float (the result cast back once), else of
/// `x` itself; the error tensor of `op` when `x` is not inexact (or not real, if `real_only`).
pub(crate) fn widened(
    x: &Tensor,
    op: &str,
    real_only: bool,
    site: CallSite,
    f: impl FnOnce(&Tensor) -> Tensor,
) -> Tensor {
    if let Some(e) = x.check_inexact(op, real_only, site) {
        return e;
    }
    let d = x.dtype();
    if is_narrow(d) {
        f(&x.cast(DType::F32)).cast(d)
    } else {
        f(x)
    }
}

impl Tensor {
    /// Re-inserts size-1 dims at the (reduced) `axes` of the original rank: the keepdims form
    /// of a reduction's result.
    #[track_caller]
    pub fn keepdims(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        let rank = self.rank() + axes.len();
        let mut src = self.dims().into_iter();
        let mut shape = Vec::with_capacity(rank);
        for i in 0..rank {
            if axes.contains(&i) {
                shape.push(1);
            } else if let Some(d) = src.next() {
                shape.push(d);
            } else {
                return apply_error(
                    Error::arg(
                        "keepdims",
                        format!("axes {axes:?} do not fit a rank-{rank} result"),
                    ),
                    self.aval(),
                    site,
                );
            }
        }
        if shape == self.dims() {
            return self.clone();
        }
        apply1(Op::Reshape(Shape::new(shape)), &[self], site)
    }

    /// `sum` keeping the reduced axes as size-1 dims.
    #[track_caller]
    pub fn sum_keepdims(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        self.reduce_at(ReduceKind::Sum, axes, site)
            .keepdims_at(axes, site)
    }

    /// `max` keeping the reduced axes as size-1 dims.
    #[track_caller]
    pub fn max_keepdims(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        self.reduce_at(ReduceKind::Max, axes, site)
            .keepdims_at(axes, site)
    }

    /// `min` keeping the reduced axes as size-1 dims.
    #[track_caller]
    pub fn min_keepdims(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        self.reduce_at(ReduceKind::Min, axes, site)
            .keepdims_at(axes, site)
    }

    /// `mean` keeping the reduced axes as size-1 dims.
    #[track_caller]
    pub fn mean_keepdims(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        self.mean_at(axes, site).keepdims_at(axes, site)
    }

    pub(crate) fn keepdims_at(&self, axes: &[usize], site: CallSite) -> Tensor {
        if self.error().is_some() {
            return self.clone();
        }
        let rank = self.rank() + axes.len();
        let mut src = self.dims().into_iter();
        let shape: Vec<usize> = (0..rank)
            .map(|i| {
                if axes.contains(&i) {
                    1
                } else {
                    src.next().unwrap_or(1)
                }
            })
            .collect();
        if shape == self.dims() {
            return self.clone();
        }
        apply1(Op::Reshape(Shape::new(shape)), &[self], site)
    }

    pub(crate) fn check_inexact(&self, op: &str, real: bool, site: CallSite) -> Option<Tensor> {
        if let Some(e) = self.error() {
            return Some(Tensor::poison(self.aval(), e.clone()));
        }
        let d = self.dtype();
        let ok = if real { d.is_float() } else { d.is_inexact() };
        if ok {
            return None;
        }
        let expected = if real {
            "real float (cast integers first)"
        } else {
            "float or complex (cast integers first)"
        };
        Some(apply_error(
            Error::dtype(op, d, expected),
            self.aval(),
            site,
        ))
    }

    pub(crate) fn count(&self, axes: &[usize]) -> f64 {
        let dims = self.dims();
        axes.iter()
            .map(|&a| dims.get(a).copied().unwrap_or(1) as f64)
            .product()
    }

    pub(crate) fn mean_at(&self, axes: &[usize], site: CallSite) -> Tensor {
        if let Some(e) = self.check_inexact("mean", false, site) {
            return e;
        }
        let d = self.dtype();
        let x = if is_narrow(d) {
            apply1(Op::Convert(DType::F32), &[self], site)
        } else {
            self.clone()
        };
        let s = x.reduce_at(ReduceKind::Sum, axes, site);
        let n = s.scalar_like(self.count(axes)).broadcast_to(&s.dims());
        let m = apply1(Op::Binary(crate::ir::BinaryOp::Div), &[&s, &n], site);
        if is_narrow(d) {
            apply1(Op::Convert(d), &[&m], site)
        } else {
            m
        }
    }

    /// Mean over axes. bf16/f16/f8 are summed in f32 and the mean cast back once; float or
    /// complex only.
    #[track_caller]
    pub fn mean(&self, axes: &[usize]) -> Tensor {
        self.mean_at(axes, CallSite::here())
    }

    /// Population variance over axes (two passes: the mean, then the mean squared deviation;
    /// `|x - mean|^2` for complex, giving a real result). Narrow floats compute in f32.
    #[track_caller]
    pub fn var(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        let complex = self.dtype().is_complex();
        widened(self, "var", false, site, |x| {
            let m = x.mean_at(axes, site).keepdims_at(axes, site);
            let dev = x - &m;
            let sq = if complex {
                let a = dev.abs();
                &a * &a
            } else {
                &dev * &dev
            };
            sq.mean_at(axes, site)
        })
    }
}
