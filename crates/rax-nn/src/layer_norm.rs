//! LayerNorm over the last axis with the plus-one scale convention: statistics in f32
//! (`var = mean((x − mean)²)`, never `E[x²] − E[x]²`), the normalised value rounded to the input
//! dtype, then `· (weight + 1) + bias` in that dtype. Weight and bias are sensitive.
//!
//! Depends on rax-core.

use rax_core::{DType, Sensitive, Tensor};
use rax_macros::Tree;

/// LayerNorm layer; without an affine it only normalises.
#[derive(Clone, Debug, Tree)]
pub struct LayerNorm {
    /// Plus-one scale `[dim]`, absent without an affine.
    pub weight: Option<Sensitive<Tensor>>,
    /// Bias `[dim]`, absent without an affine.
    pub bias: Option<Sensitive<Tensor>>,
    /// Added to the variance.
    #[tree(static)]
    pub eps: f64,
}

impl LayerNorm {
    /// A fresh layer (zeros: scale 1, bias 0).
    pub fn init(dim: usize, eps: f64, affine: bool) -> LayerNorm {
        let z = || Sensitive(Tensor::zeros(&[dim], DType::F32));
        LayerNorm {
            weight: affine.then(z),
            bias: affine.then(z),
            eps,
        }
    }

    /// Normalises the last axis; the result has `x`'s dtype.
    #[track_caller]
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let last = x.rank().saturating_sub(1);
        let xf = x.cast(DType::F32);
        let mean = xf.mean_keepdims(&[last]);
        let c = &xf - &mean;
        let var = (&c * &c).mean_keepdims(&[last]);
        let y = (c * (var + self.eps).rsqrt()).cast(x.dtype());
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => y * (&w.0 + 1.0).cast(x.dtype()) + b.0.cast(x.dtype()),
            (Some(w), None) => y * (&w.0 + 1.0).cast(x.dtype()),
            (None, Some(b)) => y + b.0.cast(x.dtype()),
            (None, None) => y,
        }
    }
}
