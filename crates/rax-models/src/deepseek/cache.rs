//! Decoding with the latent cache: a prefill runs the prompt through the training path and
//! stores each layer's normalised latent and rotated RoPE key (compute dtype) in a fixed-length
//! [`ModelCache`]; each decode step writes the new token's latents at its position and attends
//! with the absorbed projections ([`rax_nn::mla::decode_absorbed`]) — or, for checking, by
//! re-expanding the cache ([`rax_nn::mla::decode_naive`]). A decode step's MoE layers use the
//! dense dispatch for a handful of tokens (no block padding, no drops).
//!
//! Depends on rax-nn and `model`.

use super::config::DeepseekConfig;
use super::model::{
    ffn, forward_full, head, rope_table, DeepseekParams, DeepseekState, RunOptions,
};
use rax_core::{DType, Error, Result, Tensor};
use rax_macros::Tree;
use rax_nn::layers::rms_norm;
use rax_nn::mla::{self, LatentCache};
use rax_nn::moe_dispatch::Dispatch;

/// Up to this many tokens per decode step, the MoE layers run every expert densely.
pub const DENSE_DECODE_MAX_TOKENS: usize = 64;

/// One latent cache per layer, `max_len` positions each.
#[derive(Clone, Debug, Tree)]
pub struct ModelCache {
    /// Per-layer caches.
    pub layers: Vec<LatentCache>,
}

impl ModelCache {
    /// Bytes the cache holds per token (all layers), and what full multi-head K/V would hold.
    pub fn bytes_per_token(cfg: &DeepseekConfig, dtype: DType) -> (usize, usize) {
        let (l, f) = cfg.mla().cache_bytes_per_token(dtype);
        (l * cfg.num_hidden_layers, f * cfg.num_hidden_layers)
    }
}

/// Runs `prompt [B, P]` and returns the f32 logits of its last position `[B, V]` and the cache
/// (length `max_len >= P`) holding the prompt's latents.
pub fn prefill(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    p: &DeepseekParams,
    st: &DeepseekState,
    prompt: &Tensor,
    max_len: usize,
) -> Result<(Tensor, ModelCache)> {
    let (b, pl) = match prompt.dims()[..] {
        [b, pl] if pl >= 1 && pl <= max_len => (b, pl),
        _ => {
            return Err(Error::shape(
                "deepseek::prefill",
                format!("prompt must be [batch, len] with 1 <= len <= max_len {max_len}"),
                &[prompt.aval()],
            ))
        }
    };
    let (lg, _, lat) = forward_full(cfg, opts, p, st, prompt)?;
    let mla_cfg = cfg.mla();
    let zero = Tensor::scalar_of(0.0, DType::I32);
    let layers = lat
        .iter()
        .map(|(c, kr)| LatentCache::zeros(&mla_cfg, b, max_len, opts.compute).write(c, kr, &zero))
        .collect();
    let last = lg.slice_axis(1, pl - 1, pl).reshape(&[b, cfg.vocab_size]);
    Ok((last, ModelCache { layers }))
}

/// One decode step: `token [B]` (int32) at position `pos` (i32 scalar) → f32 logits `[B, V]`
/// and the updated cache. `absorbed` selects the absorbed (default) or naive attention.
#[allow(clippy::too_many_arguments)]
pub fn decode_step(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    p: &DeepseekParams,
    st: &DeepseekState,
    cache: &ModelCache,
    token: &Tensor,
    pos: &Tensor,
    absorbed: bool,
) -> Result<(Tensor, ModelCache)> {
    let b = token.dims().first().copied().unwrap_or(0);
    if token.rank() != 1 || cache.layers.len() != p.layers.len() {
        return Err(Error::shape(
            "deepseek::decode_step",
            format!(
                "token must be [batch]; the cache must have one entry per layer ({})",
                p.layers.len()
            ),
            &[token.aval()],
        ));
    }
    let c = opts.compute;
    // A decode step routes only `b` tokens: the dense path (every expert on each token, the
    // gates zero outside its top-k) is the same sum as the dropless one without its block
    // padding (dropless pads each expert to a block of rows: 8 x 64 rows for one token), and
    // never drops a token as a capacity bound could. The training dispatch stays for prefill.
    let dense = RunOptions {
        dispatch: Dispatch::Dense,
        ..opts.clone()
    };
    let opts = if b <= DENSE_DECODE_MAX_TOKENS {
        &dense
    } else {
        opts
    };
    let posv = pos.cast(DType::I32).reshape(&[1]);
    let table = rope_table(cfg, &posv)?;
    let mla_cfg = cfg.mla();
    let mut x = super::model::embed(p, &token.reshape(&[b, 1]), c, cfg.hidden_size);
    let mut out = Vec::with_capacity(p.layers.len());
    let mut stats = Vec::new();
    let mut bi = 0;
    for (blk, lc) in p.layers.iter().zip(&cache.layers) {
        let h = rms_norm(&x, &blk.input_norm.0, cfg.rms_norm_eps, c);
        let start = pos.cast(DType::I32);
        let (a, nc) = if absorbed {
            mla::decode_absorbed(&mla_cfg, &blk.attn, &h, &table, lc, &start)
        } else {
            mla::decode_naive(&mla_cfg, &blk.attn, &h, &table, lc, &start)
        };
        out.push(nc);
        x = &x + &a;
        let h = rms_norm(&x, &blk.post_norm.0, cfg.rms_norm_eps, c);
        let bias = if blk.moe.is_some() && !st.biases.is_empty() {
            bi += 1;
            st.biases.get(bi - 1)
        } else {
            None
        };
        x = &x + &ffn(cfg, opts, blk, bias, &h, &mut stats);
    }
    let lg = head(cfg, p, &x).reshape(&[b, cfg.vocab_size]);
    Ok((lg, ModelCache { layers: out }))
}
