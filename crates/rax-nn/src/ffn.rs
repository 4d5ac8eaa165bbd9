//! Megalodon's normalized feed-forward network: pre-LayerNorm, `SiLU(fc1 h)` (times `fc3 h` with
//! SwiGLU), `fc2`, an optional per-feature residual rescale `alpha` (sensitive, initialised to
//! `0.1 · 0.5^layer`), added to a residual that may come from further back (the block's two-hop
//! residual). Projections have no bias; operands are in the compute dtype, products accumulate
//! in f32.
//!
//! Depends on rax-core, `layer_norm`, `linear`, `layers::silu`, `init`.

use crate::init::InitMode;
use crate::layer_norm::LayerNorm;
use crate::layers::silu;
use crate::linear::Linear;
use rax_core::{DType, PrngKey, Sensitive, Tensor};
use rax_macros::Tree;

/// Sizes and options of a [`NormalizedFfn`].
#[derive(Clone, Debug)]
pub struct FfnConfig {
    /// Model width.
    pub model_dim: usize,
    /// Hidden width.
    pub hidden_dim: usize,
    /// LayerNorm epsilon.
    pub norm_eps: f64,
    /// LayerNorm has weight and bias.
    pub norm_affine: bool,
    /// Gated (SwiGLU) hidden layer with a third projection.
    pub swiglu: bool,
    /// Learned residual rescale.
    pub rescale: bool,
    /// Block index (sets the rescale's initial value).
    pub layer_id: usize,
    /// Weight initialiser and its gaussian std dimension.
    pub init: InitMode,
    /// Gaussian std dimension of the initialiser.
    pub init_dim: Option<usize>,
    /// Storage dtype of the projections.
    pub param_dtype: DType,
}

/// A dropout hook: `(activation, site) -> activation`, site 0 = hidden, 1 = output.
pub type DropoutFn<'a> = &'a dyn Fn(&Tensor, usize) -> Tensor;

/// Parameters of the FFN.
#[derive(Clone, Debug, Tree)]
pub struct NormalizedFfn {
    /// Pre-norm.
    pub norm: LayerNorm,
    /// Up projection `[hidden, dim]`.
    pub fc1: Linear,
    /// Down projection `[dim, hidden]`.
    pub fc2: Linear,
    /// Gate projection `[hidden, dim]` (SwiGLU only).
    pub fc3: Option<Linear>,
    /// Residual rescale `[dim]`.
    pub alpha: Option<Sensitive<Tensor>>,
}

impl NormalizedFfn {
    /// Fresh parameters.
    #[track_caller]
    pub fn init(c: &FfnConfig, key: &PrngKey) -> NormalizedFfn {
        let k = key.split(3);
        let lin = |i: usize, o: usize, k: &PrngKey| {
            Linear::init(i, o, false, c.init, c.init_dim, c.param_dtype, k)
        };
        NormalizedFfn {
            norm: LayerNorm::init(c.model_dim, c.norm_eps, c.norm_affine),
            fc1: lin(c.model_dim, c.hidden_dim, &k[0]),
            fc2: lin(c.hidden_dim, c.model_dim, &k[1]),
            fc3: c.swiglu.then(|| lin(c.model_dim, c.hidden_dim, &k[2])),
            alpha: c.rescale.then(|| {
                Sensitive(Tensor::full(
                    &[c.model_dim],
                    0.1 * 0.5f64.powi(c.layer_id as i32),
                    DType::F32,
                ))
            }),
        }
    }

    /// `residual + rescale(fc2(act(norm(x))))` in `compute`; `residual` defaults to `x`.
    /// `dropout` (if given) is applied to the hidden activations and to the output.
    #[track_caller]
    pub fn apply(
        &self,
        x: &Tensor,
        residual: Option<&Tensor>,
        compute: DType,
        dropout: Option<DropoutFn<'_>>,
    ) -> Tensor {
        let x = x.cast(compute);
        let res = residual
            .map(|r| r.cast(compute))
            .unwrap_or_else(|| x.clone());
        let h = self.norm.apply(&x);
        let up = silu(&self.fc1.apply(&h, compute, compute));
        let mut h = match &self.fc3 {
            Some(fc3) => up * fc3.apply(&h, compute, compute),
            None => up,
        };
        if let Some(d) = dropout {
            h = d(&h, 0);
        }
        let mut out = self.fc2.apply(&h, compute, compute);
        if let Some(d) = dropout {
            out = d(&out, 1);
        }
        if let Some(a) = &self.alpha {
            out = out * a.0.cast(compute);
        }
        res + out
    }
}
