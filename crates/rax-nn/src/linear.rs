//! Linear layer with the weight stored `[out, in]` (the equinox / PyTorch layout, so checkpoint
//! tensors map one to one) and an optional bias. The product runs on compute-dtype operands
//! with f32 accumulation; a bias is rounded to the compute dtype and added to the f32 product
//! before the single rounding of the result (as megalodon-jax's `linear_3d`).
//!
//! Depends on rax-core and `init`.

use crate::init::{initialize, InitMode};
use rax_core::ir::DotDims;
use rax_core::{DType, PrngKey, Tensor};
use rax_macros::Tree;

/// `y = x Wᵀ (+ b)`.
#[derive(Clone, Debug, Tree)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A fresh layer: weight drawn by `mode` (`std_dim` as in [`initialize`]), bias zeros.
    #[track_caller]
    pub fn init(
        in_features: usize,
        out_features: usize,
        bias: bool,
        mode: InitMode,
        std_dim: Option<usize>,
        dtype: DType,
        key: &PrngKey,
    ) -> Linear {
        Linear {
            weight: initialize(mode, std_dim, key, &[out_features, in_features], dtype),
            bias: bias.then(|| Tensor::zeros(&[out_features], dtype)),
        }
    }

    /// `x [.., in]` → `[.., out]` in `out` dtype: operands in `compute`, f32 accumulation.
    #[track_caller]
    pub fn apply(&self, x: &Tensor, compute: DType, out: DType) -> Tensor {
        project(x, &self.weight, self.bias.as_ref(), compute, out)
    }
}

/// `x [.., in] · w[out, in]ᵀ (+ b)` with compute-dtype operands, f32 accumulation, `out` result.
#[track_caller]
pub fn project(x: &Tensor, w: &Tensor, b: Option<&Tensor>, compute: DType, out: DType) -> Tensor {
    let r = x.rank().saturating_sub(1);
    let dims = DotDims {
        lhs_batch: vec![],
        rhs_batch: vec![],
        lhs_contract: vec![r],
        rhs_contract: vec![1],
    };
    let acc = if compute == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let mut y = x.cast(compute).dot_general(&w.cast(compute), dims, acc);
    if let Some(b) = b {
        y = y + b.cast(compute).cast(acc);
    }
    y.cast(out)
}
