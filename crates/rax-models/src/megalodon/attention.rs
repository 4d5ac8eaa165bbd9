//! The attention half of a Megalodon block (megalodon-jax's `MegalodonAttention`):
//!
//! `x → TimestepNorm → x_tn`; `x_tn → ComplexEMA → RMSNorm → mx`;
//! `z = wz(mx)` split into heads, per-head RMS-normalised in f32, then the Q/K affine
//! `q = ẑ·(γ₀+1)/√d + β₀`, `k = ẑ·(γ₁+1)/√d + β₁`; `v = SiLU(wv(x_tn))`, gate `r = SiLU(wr(mx))`;
//! `out = chunked_attention(q, k, v)`; `y = wh1(mx) + wh2(out ⊙ r) + x`.
//!
//! Everything runs in the compute dtype except the norms' statistics, the EMA, the Q/K affine
//! (f32) and the softmax (the policy's softmax dtype); matmuls accumulate in f32.
//!
//! Depends on rax-core, rax-nn, `config`, `cache`, `dropout`.

use super::cache::{EmaState, LayerCache};
use super::config::MegalodonConfig;
use super::dropout::Dropout;
use rax_core::{DType, PrngKey, Sensitive, Tensor};
use rax_macros::Tree;
use rax_nn::cema::{ComplexEma, Cplx, SegmentScan};
use rax_nn::chunked_attention::{chunked, sliding, streaming, AttnDropout};
use rax_nn::init::{initialize, InitMode};
use rax_nn::layers::silu;
use rax_nn::linear::Linear;
use rax_nn::rms_norm::{rms_normalize, RmsNorm};
use rax_nn::rope::RopeTable;
use rax_nn::segments::SegmentMetadata;
use rax_nn::timestep_norm::TimestepNorm;

/// Parameters of the attention half of a block (names as megalodon-jax's checkpoint keys).
#[derive(Clone, Debug, Tree)]
pub struct MegalodonAttention {
    /// Causal group norm of the block input.
    pub timenorm: TimestepNorm,
    /// Complex EMA.
    pub cema: ComplexEma,
    /// RMSNorm of the EMA output.
    pub rmsnorm: RmsNorm,
    /// Shared Q/K projection `[z, D]` (with bias).
    pub wz: Linear,
    /// Value projection `[V, D]` (with bias).
    pub wv: Linear,
    /// Gate projection `[V, D]` (with bias).
    pub wr: Linear,
    /// Skip projection `[D, D]` (with bias).
    pub wh1: Linear,
    /// Output projection `[D, V]` (no bias).
    pub wh2: Linear,
    /// Q/K plus-one scales `[2, z]`.
    pub gamma: Sensitive<Tensor>,
    /// Q/K offsets `[2, z]`.
    pub beta: Sensitive<Tensor>,
}

/// Per-call inputs shared by every layer.
pub struct CallContext<'a> {
    /// Valid-token mask `[B, L]`.
    pub mask: Option<&'a Tensor>,
    /// Packed-sequence metadata.
    pub segments: Option<&'a SegmentMetadata>,
    /// RoPE factors of the call's positions.
    pub table: &'a RopeTable,
    /// Return (or continue) a cache.
    pub return_cache: bool,
    /// Training randomness.
    pub dropout: Option<Dropout>,
}

/// Integer config field as usize.
pub(crate) fn us(v: i64) -> usize {
    v.max(0) as usize
}

impl MegalodonAttention {
    /// Fresh parameters for block `_layer` (projections drawn by `init`, then re-drawn by the
    /// model's init mode as megalodon-jax does).
    #[track_caller]
    pub fn init(cfg: &MegalodonConfig, key: &PrngKey) -> rax_core::Result<MegalodonAttention> {
        let k = key.split(9);
        let d = us(cfg.model_dim);
        let (z, v) = (us(cfg.z_dim), us(cfg.value_dim));
        let pd = cfg.param();
        let mode = InitMode::parse(&cfg.init_mode)?;
        let dim = (mode != InitMode::Gaussian).then_some(d);
        let lin = |i, o, b, k: &PrngKey| Linear::init(i, o, b, mode, dim, pd, k);
        let _ = initialize;
        Ok(MegalodonAttention {
            timenorm: TimestepNorm::init(d, us(cfg.norm_num_groups), 0, cfg.norm_eps)?,
            cema: ComplexEma::init(d, us(cfg.cema_ndim), &k[0]),
            rmsnorm: RmsNorm::init(d, cfg.norm_eps, cfg.norm_affine),
            wz: lin(d, z, true, &k[2]),
            wv: lin(d, v, true, &k[3]),
            wr: lin(d, v, true, &k[4]),
            wh1: lin(d, d, true, &k[5]),
            wh2: lin(v, d, false, &k[6]),
            gamma: Sensitive(Tensor::zeros(&[2, z], DType::F32)),
            beta: Sensitive(Tensor::zeros(&[2, z], DType::F32)),
        })
    }

    /// Applies the attention half to `x [B, L, D]`, continuing `cache` if given. Returns the
    /// output (compute dtype) and, with `ctx.return_cache`, the new layer cache.
    #[track_caller]
    pub fn apply(
        &self,
        cfg: &MegalodonConfig,
        x: &Tensor,
        cache: Option<&LayerCache>,
        ctx: &CallContext<'_>,
    ) -> (Tensor, Option<LayerCache>) {
        let c = cfg.compute();
        let dims = x.dims();
        let (b, l) = (dims[0], dims[1]);
        let h = us(cfg.num_heads);
        let (dh, dv) = (cfg.head_dim(), cfg.value_head_dim());
        let x = x.cast(c);
        let (x_tn, norm_state) =
            self.timenorm
                .apply(&x, cache.map(|c| &c.norm), ctx.mask, ctx.segments);
        let streaming_mode = ctx.return_cache || cache.is_some();
        let h0 = cache.map(|c| Cplx::from_c64(&c.ema.h));
        let scan = if cfg.use_associative_segment_scan {
            SegmentScan::Associative
        } else {
            SegmentScan::Sequential
        };
        let (y_cema, h_last) = self.cema.apply(
            &x_tn.transpose(&[0, 2, 1]),
            h0.as_ref(),
            streaming_mode,
            ctx.mask,
            ctx.segments.map(|m| (m, scan)),
        );
        let y_cema = y_cema.transpose(&[0, 2, 1]);
        let mut mx = self.rmsnorm.apply(&y_cema);
        if let Some(d) = &ctx.dropout {
            mx = d.apply(&mx, cfg.hidden_dropout, 1);
        }
        let z = self.wz.apply(&mx, c, c).reshape(&[b, l, h, dh]);
        let zn = rms_normalize(&z, cfg.norm_eps);
        let g = self.gamma.0.cast(DType::F32).reshape(&[2, h, dh]);
        let be = self.beta.0.cast(DType::F32).reshape(&[2, h, dh]);
        let scale = (g + 1.0) / Tensor::scalar_of(dh as f64, DType::F32).sqrt();
        let row = |t: &Tensor, i: usize| t.slice_axis(0, i, i + 1).reshape(&[1, 1, h, dh]);
        let q = (&zn * row(&scale, 0) + row(&be, 0)).cast(c);
        let k = (&zn * row(&scale, 1) + row(&be, 1)).cast(c);
        let v = silu(&self.wv.apply(&x_tn, c, c)).reshape(&[b, l, h, dv]);
        let r = silu(&self.wr.apply(&mx, c, c));
        let softmax = cfg.softmax();
        let chunk = us(cfg.chunk_size);
        let window = cfg.attention_window.map(us);
        let attn_drop = ctx.dropout.as_ref().map(|d| AttnDropout {
            rate: cfg.attention_dropout,
            dropkey: cfg.attention_dropout_mode == "dropkey",
            key: d.site(0),
        });
        let (out, attn_cache) = if streaming_mode {
            let (o, ac) = streaming(
                &q,
                &k,
                &v,
                cache.map(|c| &c.attn),
                chunk,
                window,
                ctx.table,
                softmax,
            );
            (o, Some(ac))
        } else {
            let o = match window {
                None => chunked(
                    &q,
                    &k,
                    &v,
                    chunk,
                    ctx.table,
                    ctx.mask,
                    ctx.segments,
                    softmax,
                    attn_drop.as_ref(),
                ),
                Some(w) => sliding(
                    &q,
                    &k,
                    &v,
                    w,
                    ctx.table,
                    ctx.mask,
                    ctx.segments,
                    softmax,
                    attn_drop.as_ref(),
                ),
            };
            (o, None)
        };
        let out = out.reshape(&[b, l, us(cfg.value_dim)]);
        let mut gated = out * r;
        if let Some(d) = &ctx.dropout {
            gated = d.apply(&gated, cfg.hidden_dropout, 2);
        }
        let mut hh = self.wh1.apply(&mx, c, c) + self.wh2.apply(&gated, c, c);
        if let Some(d) = &ctx.dropout {
            hh = d.apply(&hh, cfg.dropout, 3);
        }
        let y = hh + &x;
        let new_cache = match (attn_cache, h_last) {
            (Some(attn), Some(hl)) if ctx.return_cache => Some(LayerCache {
                position: attn.count.clone(),
                attn,
                norm: norm_state,
                ema: EmaState { h: hl.to_c64() },
            }),
            _ => None,
        };
        (y, new_cache)
    }
}
