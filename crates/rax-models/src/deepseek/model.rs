//! The DeepSeek-V2/V3 causal LM: token embedding, `num_hidden_layers` pre-norm blocks (MLA, then
//! a dense SwiGLU for layers below `first_k_dense_replace` and an MoE layer after), a final
//! RMSNorm and an untied or tied head. Parameters are the trainable tree [`DeepseekParams`]; the
//! V3 correction biases are state ([`DeepseekState`]) that no gradient reaches.
//!
//! Depends on rax-nn (layers) and `config`.

use super::config::DeepseekConfig;
use rax_core::{DType, Result, Sensitive, Tensor};
use rax_macros::Tree;
use rax_nn::layers::{cross_entropy, linear, rms_norm};
use rax_nn::mla::{self, MlaParams};
use rax_nn::moe::{self, MoeParams, MoeStats};
use rax_nn::moe_dispatch::Dispatch;
use rax_nn::rope::RopeTable;
use rax_nn::swiglu::SwiGlu;

/// One decoder block.
#[derive(Clone, Debug, Tree)]
pub struct Block {
    /// `input_layernorm` scale `[D]`.
    pub input_norm: Sensitive<Tensor>,
    /// Attention.
    pub attn: MlaParams,
    /// `post_attention_layernorm` scale `[D]`.
    pub post_norm: Sensitive<Tensor>,
    /// The dense feed-forward (layers below `first_k_dense_replace`).
    pub dense: Option<SwiGlu>,
    /// The MoE feed-forward (the other layers).
    pub moe: Option<MoeParams>,
}

/// The trainable parameters.
#[derive(Clone, Debug, Tree)]
pub struct DeepseekParams {
    /// Token embedding `[V, D]`.
    pub embed: Tensor,
    /// The blocks.
    pub layers: Vec<Block>,
    /// Final norm scale `[D]`.
    pub norm: Sensitive<Tensor>,
    /// Head `[D, V]`; `None` when tied to the embedding.
    pub lm_head: Option<Tensor>,
}

/// Non-trainable state: the V3 `e_score_correction_bias` of each MoE layer (`[E]` f32; empty
/// for V2).
#[derive(Clone, Debug, Tree)]
pub struct DeepseekState {
    /// One bias per MoE layer, in layer order.
    pub biases: Vec<Tensor>,
}

/// How to run the model.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// Compute dtype of activations and matmuls (router, norms, softmax and loss stay f32).
    pub compute: DType,
    /// MoE dispatch path.
    pub dispatch: Dispatch,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            compute: DType::F32,
            dispatch: Dispatch::Dropless { block: 16 },
        }
    }
}

/// SplitMix64 + Box–Muller normal sampler for host-side initialisation.
pub(crate) struct HostRng(pub u64);

impl HostRng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn normal(&mut self) -> f64 {
        let u = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let v = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    pub(crate) fn tensor(&mut self, shape: &[usize], std: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (self.normal() * std) as f32).collect();
        Tensor::from_vec(shape.to_vec(), v)
    }
    pub(crate) fn below(&mut self, n: usize) -> i32 {
        (self.next_u64() % n as u64) as i32
    }
}

impl DeepseekParams {
    /// Fresh f32 parameters: matrices ~ N(0, std), norm scales 1; and zero biases.
    pub fn init(
        cfg: &DeepseekConfig,
        seed: u64,
        std: f64,
    ) -> Result<(DeepseekParams, DeepseekState)> {
        let mut rng = HostRng(seed);
        let mut normal = |s: &[usize]| rng.tensor(s, std);
        let d = cfg.hidden_size;
        let ones = |n: usize| Sensitive(Tensor::full(&[n], 1.0, DType::F32));
        let (mla_cfg, moe_cfg) = (cfg.mla(), cfg.moe(Dispatch::Dense));
        let mut layers = Vec::new();
        let mut biases = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let attn = MlaParams::init(&mla_cfg, &mut normal)?;
            let (dense, moe) = if cfg.is_moe(i) {
                if cfg.variant == super::config::Variant::V3 {
                    biases.push(Tensor::zeros(&[cfg.n_routed_experts], DType::F32));
                }
                (None, Some(MoeParams::init(&moe_cfg, &mut normal)?))
            } else {
                (
                    Some(SwiGlu::init(d, cfg.intermediate_size, &mut normal)?),
                    None,
                )
            };
            layers.push(Block {
                input_norm: ones(d),
                attn,
                post_norm: ones(d),
                dense,
                moe,
            });
        }
        let embed = normal(&[cfg.vocab_size, d])?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(normal(&[d, cfg.vocab_size])?)
        };
        Ok((
            DeepseekParams {
                embed,
                layers,
                norm: ones(d),
                lm_head,
            },
            DeepseekState { biases },
        ))
    }

    /// Number of scalar parameters.
    pub fn count(&self) -> usize {
        rax_core::tree::flatten(self)
            .iter()
            .map(|t| t.shape().numel())
            .sum()
    }
}

/// The rotary table for positions `positions` (`[T]` or `[B, T]`).
pub fn rope_table(cfg: &DeepseekConfig, positions: &Tensor) -> Result<RopeTable> {
    cfg.rope_scaling
        .table(positions, cfg.qk_rope_head_dim, cfg.rope_theta)
}

/// Embeds int32 `tokens [B, T]` in the compute dtype.
pub(crate) fn embed(p: &DeepseekParams, tokens: &Tensor, c: DType, d: usize) -> Tensor {
    let (b, t) = (tokens.dims()[0], tokens.dims()[1]);
    p.embed
        .cast(c)
        .take(&tokens.reshape(&[b * t]), 0)
        .reshape(&[b, t, d])
}

/// The final norm and head: hidden `[B, T, D]` → f32 logits `[B, T, V]`.
pub(crate) fn head(cfg: &DeepseekConfig, p: &DeepseekParams, x: &Tensor) -> Tensor {
    let c = x.dtype();
    let h = rms_norm(x, &p.norm.0, cfg.rms_norm_eps, c);
    let w = match &p.lm_head {
        Some(w) => w.cast(c),
        None => p.embed.cast(c).transpose(&[1, 0]),
    };
    linear(&h, &w).cast(DType::F32)
}

/// The feed-forward of block `blk` on normalised `h`; MoE layers push their stats.
pub(crate) fn ffn(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    blk: &Block,
    bias: Option<&Tensor>,
    h: &Tensor,
    stats: &mut Vec<MoeStats>,
) -> Tensor {
    match (&blk.dense, &blk.moe) {
        (_, Some(m)) => {
            let (y, s) = moe::apply(&cfg.moe(opts.dispatch), m, bias, h);
            stats.push(s);
            y
        }
        (Some(mlp), None) => mlp.apply(h, h.dtype()),
        (None, None) => h.clone() * 0.0,
    }
}

/// Logits `[B, T, V]` (f32) of int32 `tokens [B, T]` and each MoE layer's routing stats.
/// With `keep_latents`, also each layer's `(c, k_rope)` for a latent cache.
#[allow(clippy::type_complexity)]
pub fn forward_full(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    p: &DeepseekParams,
    st: &DeepseekState,
    tokens: &Tensor,
) -> Result<(Tensor, Vec<MoeStats>, Vec<(Tensor, Tensor)>)> {
    let t = tokens.dims().get(1).copied().unwrap_or(0);
    if tokens.rank() != 2 || !tokens.dtype().is_int() || t == 0 {
        return Err(rax_core::Error::shape(
            "deepseek::forward",
            "tokens must be int32 [batch, seq] with seq >= 1",
            &[tokens.aval()],
        ));
    }
    if p.layers.len() != cfg.num_hidden_layers {
        return Err(rax_core::Error::data(
            "deepseek::forward",
            format!(
                "{} blocks in the parameters, config says {}",
                p.layers.len(),
                cfg.num_hidden_layers
            ),
        ));
    }
    let c = opts.compute;
    let table = rope_table(cfg, &Tensor::iota(&[t], 0, DType::I32))?;
    let mla_cfg = cfg.mla();
    let mut x = embed(p, tokens, c, cfg.hidden_size);
    let mut stats = Vec::new();
    let mut lat = Vec::new();
    let mut bi = 0;
    for blk in &p.layers {
        let h = rms_norm(&x, &blk.input_norm.0, cfg.rms_norm_eps, c);
        let (a, l) = mla::forward_with_latents(&mla_cfg, &blk.attn, &h, &table);
        lat.push(l);
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
    Ok((head(cfg, p, &x), stats, lat))
}

/// f32 logits `[B, T, V]` of int32 `tokens [B, T]`.
pub fn logits(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    p: &DeepseekParams,
    st: &DeepseekState,
    tokens: &Tensor,
) -> Result<Tensor> {
    Ok(forward_full(cfg, opts, p, st, tokens)?.0)
}

/// Mean next-token cross-entropy (transformers' loss with `labels = input_ids`): logits of
/// positions `0..T-1` against tokens `1..T`, f32; and the MoE stats.
pub fn loss_and_stats(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    p: &DeepseekParams,
    st: &DeepseekState,
    tokens: &Tensor,
) -> Result<(Tensor, Vec<MoeStats>)> {
    let (b, t) = match tokens.dims()[..] {
        [b, t] if t >= 2 => (b, t),
        _ => {
            return Err(rax_core::Error::shape(
                "deepseek::loss",
                "tokens must be [batch, seq] with seq >= 2",
                &[tokens.aval()],
            ))
        }
    };
    let (lg, stats, _) = forward_full(cfg, opts, p, st, tokens)?;
    let v = cfg.vocab_size;
    let pred = lg.slice_axis(1, 0, t - 1).reshape(&[b * (t - 1), v]);
    let tgt = tokens.slice_axis(1, 1, t).reshape(&[b * (t - 1)]);
    Ok((cross_entropy(&pred, &tgt), stats))
}

/// [`loss_and_stats`]'s loss as a plain tensor for differentiation: an error becomes a
/// poisoned scalar that carries it (the enclosing trace or jit reports it).
#[track_caller]
pub fn loss_tensor(
    cfg: &DeepseekConfig,
    opts: &RunOptions,
    p: &DeepseekParams,
    st: &DeepseekState,
    tokens: &Tensor,
) -> Tensor {
    match loss_and_stats(cfg, opts, p, st, tokens) {
        Ok((l, _)) => l,
        Err(e) => rax_core::trace::apply_error(
            e,
            rax_core::AVal::scalar(DType::F32),
            rax_core::CallSite::here(),
        ),
    }
}
