//! `logsumexp`, `softmax` and `log_softmax` (`jax.nn` / `jax.scipy.special` style): max-shifted
//! (the shift carries no gradient), computed in f32 for narrow floats, results in the input
//! dtype. No `Op` of their own.
//!
//! Depends on `trace`, `autodiff` (stop_gradient), `numpy::reductions`, `prim`.

use super::reductions::is_narrow;
use crate::dtype::DType;
use crate::error::CallSite;
use crate::ir::ReduceKind;
use crate::trace::Tensor;

impl Tensor {
    /// `log(sum(exp(x)))` over axes, stably: shifted by the (finite) maximum, accumulated in
    /// f32 for narrow floats, result in the input dtype. Real floats only.
    #[track_caller]
    pub fn logsumexp(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        if let Some(e) = self.check_inexact("logsumexp", true, site) {
            return e;
        }
        let d = self.dtype();
        let x = if is_narrow(d) {
            self.cast(DType::F32)
        } else {
            self.clone()
        };
        // The shift carries no gradient (as in JAX): the result does not depend on it.
        let m = crate::autodiff::stop_gradient(&x.reduce_at(ReduceKind::Max, axes, site));
        let zero = m.scalar_like(0.0).broadcast_to(&m.dims());
        let m = Tensor::select(&m.is_finite(), &m, &zero);
        let shifted = &x - &m.keepdims_at(axes, site);
        let s = shifted.exp().reduce_at(ReduceKind::Sum, axes, site);
        let r = &s.log() + &m;
        if is_narrow(d) {
            r.cast(d)
        } else {
            r
        }
    }

    /// Softmax along an axis (max-shifted; f32 inside for narrow floats, result in the input
    /// dtype). Real floats only.
    #[track_caller]
    pub fn softmax(&self, axis: usize) -> Tensor {
        let site = CallSite::here();
        if let Some(e) = self.check_inexact("softmax", true, site) {
            return e;
        }
        let d = self.dtype();
        let x = if is_narrow(d) {
            self.cast(DType::F32)
        } else {
            self.clone()
        };
        // The shift carries no gradient (as in JAX): the result does not depend on it, and
        // differentiating the max would only add compares, selects and saved values.
        let m = crate::autodiff::stop_gradient(
            &x.reduce_at(ReduceKind::Max, &[axis], site)
                .keepdims_at(&[axis], site),
        );
        let e = (&x - &m).exp();
        let s = e
            .reduce_at(ReduceKind::Sum, &[axis], site)
            .keepdims_at(&[axis], site);
        let r = &e / &s;
        if is_narrow(d) {
            r.cast(d)
        } else {
            r
        }
    }

    /// Log-softmax along an axis: `x - max - log(sum(exp(x - max)))` (f32 inside for narrow
    /// floats, result in the input dtype). Real floats only.
    #[track_caller]
    pub fn log_softmax(&self, axis: usize) -> Tensor {
        let site = CallSite::here();
        if let Some(e) = self.check_inexact("log_softmax", true, site) {
            return e;
        }
        let d = self.dtype();
        let x = if is_narrow(d) {
            self.cast(DType::F32)
        } else {
            self.clone()
        };
        // The shift carries no gradient (as in JAX): the result does not depend on it, and
        // differentiating the max would only add compares, selects and saved values.
        let m = crate::autodiff::stop_gradient(
            &x.reduce_at(ReduceKind::Max, &[axis], site)
                .keepdims_at(&[axis], site),
        );
        let shifted = &x - &m;
        let s = shifted
            .exp()
            .reduce_at(ReduceKind::Sum, &[axis], site)
            .keepdims_at(&[axis], site);
        let r = &shifted - &s.log();
        if is_narrow(d) {
            r.cast(d)
        } else {
            r
        }
    }
}
