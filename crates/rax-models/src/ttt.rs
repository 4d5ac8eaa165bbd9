//! A small byte LM around a test-time-training layer (seed 002): embedding, pre-norm residual
//! blocks of [`TttLinear`] and a tanh-GELU MLP, final RMSNorm, head tied to the embedding, mean
//! cross-entropy in f32. The TTT layer's fast weight is updated inside every forward by an
//! inner gradient step and must stay f32 end to end: at init (sensitive leaf), on load
//! (`rax_nn::checkpoint::load_into` widens a bf16 tensor into the f32 slot), in every in-step
//! update (`assign_checked` refuses to narrow), and on export (checkpoints store leaves in
//! their dtype).
//!
//! Depends on rax-core and rax-nn (`layers`, `ttt`).

use rax_core::{DType, Error, PrngKey, Result, Sensitive, Tensor};
use rax_macros::Tree;
use rax_nn::layers::{cross_entropy, gelu_tanh, linear, rms_norm};
use rax_nn::ttt::{TttLinear, TttOptions};

/// Sizes and inner-loop settings.
#[derive(Clone, Copy, Debug)]
pub struct TttLmConfig {
    /// Vocabulary (256 for bytes).
    pub vocab: usize,
    /// Width.
    pub width: usize,
    /// Blocks.
    pub layers: usize,
    /// Tokens per inner step.
    pub chunk: usize,
    /// Inner learning rate η.
    pub inner_lr: f64,
    /// Compute dtype.
    pub compute: DType,
}

/// One block.
#[derive(Clone, Debug, Tree)]
pub struct TttBlock {
    /// Pre-norm of the TTT layer.
    pub ttt_norm: Sensitive<Tensor>,
    /// The TTT layer.
    pub ttt: TttLinear,
    /// Pre-norm of the MLP.
    pub mlp_norm: Sensitive<Tensor>,
    /// MLP up `[D, 4D]`.
    pub w1: Tensor,
    /// MLP down `[4D, D]`.
    pub w2: Tensor,
}

/// The whole model.
#[derive(Clone, Debug, Tree)]
pub struct TttLm {
    /// Token embedding `[V, D]` (also the head).
    pub embed: Tensor,
    /// Blocks.
    pub layers: Vec<TttBlock>,
    /// Final norm.
    pub final_norm: Sensitive<Tensor>,
}

impl TttLm {
    /// Fresh f32 parameters from a seed.
    pub fn init(cfg: &TttLmConfig, seed: u64) -> Result<TttLm> {
        let key = PrngKey::new(seed);
        let ks = key.split(cfg.layers + 1);
        let d = cfg.width;
        let ones = || Sensitive(Tensor::full(&[d], 1.0, DType::F32));
        let mut layers = Vec::with_capacity(cfg.layers);
        for k in &ks[1..] {
            let k = k.split(3);
            layers.push(TttBlock {
                ttt_norm: ones(),
                ttt: TttLinear::init(d, &k[0])?,
                mlp_norm: ones(),
                w1: &k[1].normal(&[d, 4 * d], DType::F32) * 0.02,
                w2: &k[2].normal(&[4 * d, d], DType::F32) * 0.02,
            });
        }
        Ok(TttLm {
            embed: &ks[0].normal(&[cfg.vocab, d], DType::F32) * 0.02,
            layers,
            final_norm: ones(),
        })
    }
}

/// Mean next-token loss of `tokens [B, T+1]` (i32); `T` a multiple of the chunk.
#[track_caller]
pub fn loss(cfg: &TttLmConfig, p: &TttLm, tokens: &Tensor) -> Result<Tensor> {
    let (b, t1) = match tokens.dims()[..] {
        [b, t1] if t1 >= 2 => (b, t1),
        _ => {
            return Err(Error::shape(
                "ttt_lm::loss",
                "tokens must be [batch, seq + 1] with seq >= 1",
                &[tokens.aval()],
            ))
        }
    };
    let t = t1 - 1;
    let c = cfg.compute;
    let o = TttOptions {
        chunk: cfg.chunk,
        inner_lr: cfg.inner_lr,
        compute: c,
    };
    let embed = p.embed.cast(c);
    let mut x = embed
        .take(&tokens.slice_axis(1, 0, t).reshape(&[b * t]), 0)
        .reshape(&[b, t, cfg.width]);
    for (i, blk) in p.layers.iter().enumerate() {
        let h = rms_norm(&x, &blk.ttt_norm.0, 1e-6, c);
        let y = blk.ttt.apply_at(&h, &o, &format!("layers.{i}.ttt.w0"))?;
        x = &x + &y;
        let h = rms_norm(&x, &blk.mlp_norm.0, 1e-6, c);
        x = &x + linear(&gelu_tanh(&linear(&h, &blk.w1.cast(c))), &blk.w2.cast(c));
    }
    let x = rms_norm(&x, &p.final_norm.0, 1e-6, c).reshape(&[b * t, cfg.width]);
    let logits = x.matmul(&embed.transpose(&[1, 0]));
    let targets = tokens.slice_axis(1, 1, t1).reshape(&[b * t]);
    let l = cross_entropy(&logits, &targets);
    l.check()?;
    Ok(l)
}
