//! One Megalodon decoder block: the attention half, then the normalized FFN whose residual is
//! the block's *input* (megalodon-jax's two-hop residual: the FFN normalises the attention
//! output but adds back what entered the block, so variance does not pile up across blocks).
//!
//! Depends on rax-core, rax-nn, `attention`, `cache`, `config`.

use super::attention::{us, CallContext, MegalodonAttention};
use super::cache::LayerCache;
use super::config::MegalodonConfig;
use rax_core::{PrngKey, Result, Tensor};
use rax_macros::Tree;
use rax_nn::ffn::{FfnConfig, NormalizedFfn};
use rax_nn::init::InitMode;

/// A block's parameters.
#[derive(Clone, Debug, Tree)]
pub struct MegalodonBlock {
    /// Attention half.
    pub attn: MegalodonAttention,
    /// Feed-forward half.
    pub ffn: NormalizedFfn,
}

impl MegalodonBlock {
    /// Fresh parameters of block `layer_id`.
    #[track_caller]
    pub fn init(cfg: &MegalodonConfig, layer_id: usize, key: &PrngKey) -> Result<MegalodonBlock> {
        let k = key.split(2);
        let mode = InitMode::parse(&cfg.init_mode)?;
        let fc = FfnConfig {
            model_dim: us(cfg.model_dim),
            hidden_dim: us(cfg.ffn_hidden_dim),
            norm_eps: cfg.norm_eps,
            norm_affine: cfg.norm_affine,
            swiglu: cfg.swiglu,
            rescale: cfg.rescale_nffn,
            layer_id,
            init: mode,
            init_dim: (mode != InitMode::Gaussian).then_some(us(cfg.model_dim)),
            param_dtype: cfg.param(),
        };
        Ok(MegalodonBlock {
            attn: MegalodonAttention::init(cfg, &k[0])?,
            ffn: NormalizedFfn::init(&fc, &k[1]),
        })
    }

    /// `ffn(attn(x), residual = x)`, with the layer cache threaded through the attention.
    #[track_caller]
    pub fn apply(
        &self,
        cfg: &MegalodonConfig,
        x: &Tensor,
        cache: Option<&LayerCache>,
        ctx: &CallContext<'_>,
    ) -> (Tensor, Option<LayerCache>) {
        let (h, new_cache) = self.attn.apply(cfg, x, cache, ctx);
        let drop = ctx.dropout.clone();
        let f = move |t: &Tensor, site: usize| match &drop {
            Some(d) => {
                let rate = if site == 0 {
                    cfg.hidden_dropout
                } else {
                    cfg.dropout
                };
                d.apply(t, rate, 10 + site as u32)
            }
            None => t.clone(),
        };
        let y = self.ffn.apply(&h, Some(x), cfg.compute(), Some(&f));
        (y, new_cache)
    }
}
