//! `logsumexp`, `softmax` and `log_softmax` (`jax.nn` / `jax.scipy.special` style): max-shifted
//! (the shift carries no gradient), computed in f32 for narrow floats, results in the input
//! dtype. No `Op` of their own.
//!
//! Depends on `trace`, `autodiff` (stop_gradient), `numpy::reductions`, `prim`.

use super::reductions::widened;
use crate::error::CallSite;
use crate::ir::ReduceKind;
use crate::trace::Tensor;

/// The stop-gradient max of `x` along `axis`, kept as a size-1 axis: the shift of softmax and
/// log-softmax. It carries no gradient (as in JAX): the result does not depend on it, and
/// differentiating the max would only add compares, selects and saved values.
fn max_shift(x: &Tensor, axis: usize, site: CallSite) -> Tensor {
    crate::autodiff::stop_gradient(
        &x.reduce_at(ReduceKind::Max, &[axis], site)
            .keepdims_at(&[axis], site),
    )
}

impl Tensor {
    /// `log(sum(exp(x)))` over axes, stably: shifted by the (finite) maximum, accumulated in
    /// f32 for narrow floats, result in the input dtype. Real floats only.
    #[track_caller]
    pub fn logsumexp(&self, axes: &[usize]) -> Tensor {
        let site = CallSite::here();
        widened(self, "logsumexp", true, site, |x| {
            // The shift carries no gradient (as in JAX): the result does not depend on it.
            let m = crate::autodiff::stop_gradient(&x.reduce_at(ReduceKind::Max, axes, site));
            let zero = m.scalar_like(0.0).broadcast_to(&m.dims());
            let m = Tensor::select(&m.is_finite(), &m, &zero);
            let shifted = x - &m.keepdims_at(axes, site);
            let s = shifted.exp().reduce_at(ReduceKind::Sum, axes, site);
            &s.log() + &m
        })
    }

    /// Softmax along an axis (max-shifted; f32 inside for narrow floats, result in the input
    /// dtype). Real floats only.
    #[track_caller]
    pub fn softmax(&self, axis: usize) -> Tensor {
        let site = CallSite::here();
        widened(self, "softmax", true, site, |x| {
            let e = (x - &max_shift(x, axis, site)).exp();
            let s = e
                .reduce_at(ReduceKind::Sum, &[axis], site)
                .keepdims_at(&[axis], site);
            &e / &s
        })
    }

    /// Log-softmax along an axis: `x - max - log(sum(exp(x - max)))` (f32 inside for narrow
    /// floats, result in the input dtype). Real floats only.
    #[track_caller]
    pub fn log_softmax(&self, axis: usize) -> Tensor {
        let site = CallSite::here();
        widened(self, "log_softmax", true, site, |x| {
            let shifted = x - &max_shift(x, axis, site);
            let s = shifted
                .exp()
                .reduce_at(ReduceKind::Sum, &[axis], site)
                .keepdims_at(&[axis], site);
            &shifted - &s.log()
        })
    }
}
