//! The streaming state of a Megalodon model, as megalodon-jax keeps it: per layer the ring
//! attention cache (rotated keys and values of at most one chunk, or one window, in the compute
//! dtype, and the token count), the TimestepNorm statistics (i32 count, f32 mean/var) and the
//! complex64 EMA state; plus the final TimestepNorm's statistics. All are `Tree`s, so a cache
//! goes in and out of jitted prefill/decode programs as is.
//!
//! Depends on rax-core and rax-nn.

use rax_core::Tensor;
use rax_macros::Tree;
use rax_nn::chunked_attention::AttentionCache;
use rax_nn::timestep_norm::NormState;

/// The complex EMA state `h [B, D, N]` (c64).
#[derive(Clone, Debug, Tree)]
pub struct EmaState {
    /// Complex state.
    pub h: Tensor,
}

/// One layer's cache.
#[derive(Clone, Debug, Tree)]
pub struct LayerCache {
    /// Ring attention cache.
    pub attn: AttentionCache,
    /// TimestepNorm statistics.
    pub norm: NormState,
    /// EMA state.
    pub ema: EmaState,
    /// Tokens seen (mirrors `attn.count`, as megalodon-jax's `position`).
    pub position: Tensor,
}

/// The whole model's cache.
#[derive(Clone, Debug, Tree)]
pub struct ModelCache {
    /// One cache per block.
    pub layer_caches: Vec<LayerCache>,
    /// Final TimestepNorm statistics.
    pub final_norm: NormState,
}

impl ModelCache {
    /// Tokens the cache has seen (i32 scalar), or `None` for a model without layers.
    pub fn count(&self) -> Option<&Tensor> {
        self.layer_caches.first().map(|c| &c.attn.count)
    }
}
