//! RMSNorm with the plus-one scale convention: `x / sqrt(mean(x²) + eps)` computed in f32,
//! rounded to the input dtype, then multiplied by `(gamma + 1)` (stored `gamma` starts at zero).
//! `gamma` is sensitive (f32 whatever the policy).
//!
//! Depends on rax-core.

use rax_core::{DType, Sensitive, Tensor};
use rax_macros::Tree;

/// RMS normalisation over the last axis in f32 (no scale): `x / sqrt(mean(x²) + eps)`.
#[track_caller]
pub fn rms_normalize(x: &Tensor, eps: f64) -> Tensor {
    let last = x.rank().saturating_sub(1);
    let xf = x.cast(DType::F32);
    let ms = (&xf * &xf).mean_keepdims(&[last]);
    &xf / (ms + eps).sqrt()
}

/// RMSNorm layer.
#[derive(Clone, Debug, Tree)]
pub struct RmsNorm {
    /// Plus-one scale `[dim]`, absent without an affine.
    pub gamma: Option<Sensitive<Tensor>>,
    /// Added to the mean square.
    #[tree(static)]
    pub eps: f64,
}

impl RmsNorm {
    /// A fresh layer (gamma zeros, i.e. scale 1).
    pub fn init(dim: usize, eps: f64, affine: bool) -> RmsNorm {
        RmsNorm {
            gamma: affine.then(|| Sensitive(Tensor::zeros(&[dim], DType::F32))),
            eps,
        }
    }

    /// Normalises the last axis; the result has `x`'s dtype.
    #[track_caller]
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let y = rms_normalize(x, self.eps).cast(x.dtype());
        match &self.gamma {
            Some(g) => y * (&g.0 + 1.0).cast(x.dtype()),
            None => y,
        }
    }
}
