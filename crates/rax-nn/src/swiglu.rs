//! The SwiGLU feed-forward block of Llama/DeepSeek models: `down(silu(x·gate) ⊙ (x·up))`, with
//! weights stored `[in, out]` (a checkpoint's torch `[out, in]` matrices transposed).
//!
//! Depends on rax-core and `layers`.

use crate::layers::{linear, silu};
use rax_core::{DType, Result, Tensor};
use rax_macros::Tree;

/// Parameters of one SwiGLU block.
#[derive(Clone, Debug, Tree)]
pub struct SwiGlu {
    /// Gate projection `[D, I]`.
    pub gate: Tensor,
    /// Up projection `[D, I]`.
    pub up: Tensor,
    /// Down projection `[I, D]`.
    pub down: Tensor,
}

impl SwiGlu {
    /// Fresh parameters drawn by `normal(shape)` (the caller chooses the distribution).
    pub fn init(
        hidden: usize,
        inter: usize,
        normal: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<SwiGlu> {
        Ok(SwiGlu {
            gate: normal(&[hidden, inter])?,
            up: normal(&[hidden, inter])?,
            down: normal(&[inter, hidden])?,
        })
    }

    /// `x [..., D]` → `[..., D]`, weights cast to `compute`.
    #[track_caller]
    pub fn apply(&self, x: &Tensor, compute: DType) -> Tensor {
        let g = linear(x, &self.gate.cast(compute));
        let u = linear(x, &self.up.cast(compute));
        linear(&(silu(&g) * u), &self.down.cast(compute))
    }
}
