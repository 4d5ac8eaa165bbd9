//! The reference byte-level decoder LM of the benchmark issue: pre-norm RMSNorm blocks with
//! fused-QKV causal attention and a 4x tanh-GELU MLP, final RMSNorm, head tied to the embedding,
//! mean cross-entropy in f32. Parameters are f32 masters; `compute` is the policy's compute
//! dtype (weights and activations are cast to it inside the step; norm scales stay f32).
//!
//! Moved here from rax-nn unchanged in numbers (whole models live in rax-models).
//!
//! Depends on rax-core and rax-nn (`layers`).

use rax_core::{DType, Literal, Result, Sensitive, Tensor};
use rax_macros::Tree;
use rax_nn::layers::{causal_attention, cross_entropy, gelu_tanh, linear, rms_norm};

/// Sizes of the LM.
#[derive(Clone, Debug)]
pub struct LmConfig {
    /// Vocabulary size (256 for bytes).
    pub vocab: usize,
    /// Model width.
    pub width: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Compute dtype (f32 or bf16).
    pub compute: DType,
}

impl LmConfig {
    /// The benchmark's model: vocab 256, width 256, 4 layers, 4 heads.
    pub fn reference() -> LmConfig {
        LmConfig {
            vocab: 256,
            width: 256,
            layers: 4,
            heads: 4,
            compute: DType::F32,
        }
    }
}

/// One block's parameters.
#[derive(Clone, Debug, Tree)]
pub struct Block {
    /// Pre-attention RMSNorm scale [D] (sensitive: f32 whatever the policy).
    pub attn_norm: Sensitive<Tensor>,
    /// Fused QKV projection [D, 3D].
    pub wqkv: Tensor,
    /// Output projection [D, D].
    pub wo: Tensor,
    /// Pre-MLP RMSNorm scale [D] (sensitive).
    pub mlp_norm: Sensitive<Tensor>,
    /// MLP up projection [D, 4D].
    pub w1: Tensor,
    /// MLP down projection [4D, D].
    pub w2: Tensor,
}

/// The LM's parameters.
#[derive(Clone, Debug, Tree)]
pub struct LmParams {
    /// Token embedding [V, D], also the output head (tied).
    pub embed: Tensor,
    /// The blocks.
    pub layers: Vec<Block>,
    /// Final RMSNorm scale [D] (sensitive).
    pub final_norm: Sensitive<Tensor>,
}

/// A deterministic host-side normal sampler (SplitMix64 + Box–Muller) for initialisation when
/// the weights need not match another framework's bits (use a shared checkpoint for that).
struct HostRng(u64);

impl HostRng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn tensor(&mut self, shape: &[usize], std: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (self.normal() * std) as f32).collect();
        Tensor::from_vec(shape.to_vec(), v)
    }
}

impl LmParams {
    /// Fresh f32 parameters: weights ~ N(0, 0.02), norm scales 1.
    pub fn init(cfg: &LmConfig, seed: u64) -> Result<LmParams> {
        let mut rng = HostRng(seed);
        let d = cfg.width;
        let ones = || Sensitive(Tensor::full(&[d], 1.0, DType::F32));
        let mut layers = Vec::with_capacity(cfg.layers);
        for _ in 0..cfg.layers {
            layers.push(Block {
                attn_norm: ones(),
                wqkv: rng.tensor(&[d, 3 * d], 0.02)?,
                wo: rng.tensor(&[d, d], 0.02)?,
                mlp_norm: ones(),
                w1: rng.tensor(&[d, 4 * d], 0.02)?,
                w2: rng.tensor(&[4 * d, d], 0.02)?,
            });
        }
        Ok(LmParams {
            embed: rng.tensor(&[cfg.vocab, d], 0.02)?,
            layers,
            final_norm: ones(),
        })
    }

    /// Number of scalar parameters.
    pub fn count(&self) -> usize {
        rax_core::tree::flatten(self)
            .iter()
            .map(|t| t.shape().numel())
            .sum()
    }
}

/// Mean next-token cross-entropy of `tokens [B, T+1]` (i32): inputs are tokens 0..T, targets 1..T+1.
#[track_caller]
pub fn loss(cfg: &LmConfig, p: &LmParams, tokens: &Tensor) -> Tensor {
    let (b, t1) = match tokens.dims()[..] {
        [b, t1] if t1 >= 2 => (b, t1),
        _ => {
            let e = rax_core::Error::shape(
                "lm::loss",
                "tokens must be [batch, seq + 1] with seq >= 1",
                &[tokens.aval()],
            );
            return rax_core::trace::apply_error(e, tokens.aval(), rax_core::CallSite::here());
        }
    };
    let t = t1 - 1;
    let c = cfg.compute;
    let inputs = tokens.slice_axis(1, 0, t);
    let targets = tokens.slice_axis(1, 1, t1).reshape(&[b * t]);
    let embed = p.embed.cast(c);
    let mut x = embed
        .take(&inputs.reshape(&[b * t]), 0)
        .reshape(&[b, t, cfg.width]);
    for blk in &p.layers {
        let h = rms_norm(&x, &blk.attn_norm.0, 1e-6, c);
        x = &x + causal_attention(&h, &blk.wqkv.cast(c), &blk.wo.cast(c), cfg.heads);
        let h = rms_norm(&x, &blk.mlp_norm.0, 1e-6, c);
        x = &x + linear(&gelu_tanh(&linear(&h, &blk.w1.cast(c))), &blk.w2.cast(c));
    }
    let x = rms_norm(&x, &p.final_norm.0, 1e-6, c).reshape(&[b * t, cfg.width]);
    let logits = x.matmul(&embed.transpose(&[1, 0]));
    cross_entropy(&logits, &targets)
}

/// A random token batch `[batch, seq + 1]` of i32 in `0..vocab` (host-side, deterministic).
pub fn random_tokens(vocab: usize, batch: usize, seq: usize, seed: u64) -> Result<Tensor> {
    let mut rng = HostRng(seed ^ 0x5EED);
    let v: Vec<i32> = (0..batch * (seq + 1))
        .map(|_| (rng.next_u64() % vocab as u64) as i32)
        .collect();
    Ok(Tensor::from_literal(Literal::from_vec(
        [batch, seq + 1],
        v,
    )?))
}
