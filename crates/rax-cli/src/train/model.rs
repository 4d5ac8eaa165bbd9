//! The model families `rax train` can train: each implements [`TrainModel`] (initial
//! parameters and the traced loss of a token batch), and [`with_model`] turns the config's
//! family variant into a concrete model for generic code (training, inspect, diff).

use super::config::{BalanceLoss, DispatchKind, ModelConfig, RunConfig};
use rax_core::{DType, PrngKey, Result, Tensor, Tree};
use rax_models::deepseek::config::DeepseekConfig;
use rax_models::deepseek::model::{loss_and_stats, DeepseekParams, DeepseekState, RunOptions};
use rax_models::deepseek::train::{aux_losses, Balance};
use rax_models::lm::{loss, LmConfig, LmParams};
use rax_models::megalodon::config::MegalodonConfig;
use rax_models::megalodon::loss::{compute_loss, LossOptions};
use rax_models::megalodon::model::MegalodonForCausalLM;
use rax_models::ttt::TttLmConfig;
use rax_nn::moe_dispatch::Dispatch;

/// One micro-batch as the loss sees it (traced tensors).
pub struct MicroBatch<'a> {
    /// int32 tokens `[B, T+1]`.
    pub tokens: &'a Tensor,
    /// int32 segment ids `[B, T+1]`: 0 for the document a window starts in, +1 at each new
    /// document (families that isolate packed documents read them).
    pub segments: &'a Tensor,
    /// The step's training randomness (dropout); `None` for held-out evaluation.
    pub key: Option<PrngKey>,
}

/// A model `rax train` can train.
pub trait TrainModel: 'static {
    /// The parameter tree.
    type Params: Tree + Clone + 'static;
    /// Fresh f32 parameters from a seed.
    fn init(&self, seed: u64) -> Result<Self::Params>;
    /// Mean next-token loss (f32 scalar) of a micro-batch, traced.
    fn loss(&self, p: &Self::Params, b: &MicroBatch<'_>) -> Result<Tensor>;
}

/// The reference LM with its compute dtype.
pub struct ReferenceLm(pub LmConfig);

impl TrainModel for ReferenceLm {
    type Params = LmParams;
    fn init(&self, seed: u64) -> Result<LmParams> {
        LmParams::init(&self.0, seed)
    }
    fn loss(&self, p: &LmParams, b: &MicroBatch<'_>) -> Result<Tensor> {
        let l = loss(&self.0, p, b.tokens);
        l.check()?;
        Ok(l)
    }
}

/// DeepSeek V2/V3 (MLA + MoE) with its non-trainable state (V3 routing biases, kept at their
/// initial zeros: rax train does not run the aux-loss-free bias update; `rax_models::deepseek::
/// train` does), run options and auxiliary-loss coefficients. The loss is the mean next-token
/// cross-entropy plus `z_loss ×` router z-loss plus the balance loss, all in f32.
pub struct Deepseek {
    cfg: DeepseekConfig,
    opts: RunOptions,
    state: DeepseekState,
    z_loss: f64,
    balance: Balance,
}

impl TrainModel for Deepseek {
    type Params = DeepseekParams;
    fn init(&self, seed: u64) -> Result<DeepseekParams> {
        Ok(DeepseekParams::init(&self.cfg, seed, 0.02)?.0)
    }
    fn loss(&self, p: &DeepseekParams, b: &MicroBatch<'_>) -> Result<Tensor> {
        let (ce, stats) = loss_and_stats(&self.cfg, &self.opts, p, &self.state, b.tokens)?;
        if self.z_loss == 0.0 && self.balance.coefficient() == 0.0 {
            return Ok(ce);
        }
        let batch = b.tokens.dims().first().copied().unwrap_or(1);
        let (z, bal) = aux_losses(&stats, self.balance, batch);
        Ok(&ce + &(&z * self.z_loss) + &bal * self.balance.coefficient())
    }
}

/// Megalodon (rax_models::megalodon) with the run's compute and softmax dtypes; initialised in
/// f32 (the run's cast then stores it as the policy says). Packed documents are isolated:
/// the window's segment ids (+1, as megalodon-jax reserves 0 for padding) go to
/// `compute_loss`, which restarts CEMA, TimestepNorm, attention and RoPE at each document
/// and drops the targets that cross a boundary. Dropout draws from the step's key.
pub struct Megalodon(pub MegalodonConfig);

impl TrainModel for Megalodon {
    type Params = MegalodonForCausalLM;
    fn init(&self, seed: u64) -> Result<MegalodonForCausalLM> {
        MegalodonForCausalLM::init(&self.0, &PrngKey::new(seed))
    }
    fn loss(&self, p: &MegalodonForCausalLM, b: &MicroBatch<'_>) -> Result<Tensor> {
        let seg = b.segments + 1;
        let o = LossOptions {
            segment_ids: Some(&seg),
            dropout: b.key.clone(),
            ..LossOptions::default()
        };
        Ok(compute_loss(p, &self.0, b.tokens, b.tokens, &o)?.0)
    }
}

/// The seed-002 test-time-training LM.
pub struct TttLm(pub TttLmConfig);

impl TrainModel for TttLm {
    type Params = rax_models::ttt::TttLm;
    fn init(&self, seed: u64) -> Result<Self::Params> {
        rax_models::ttt::TttLm::init(&self.0, seed)
    }
    fn loss(&self, p: &Self::Params, b: &MicroBatch<'_>) -> Result<Tensor> {
        rax_models::ttt::loss(&self.0, p, b.tokens)
    }
}

/// Generic code over a model (Rust has no generic closures).
pub trait ModelVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the concrete model.
    fn visit<M: TrainModel>(self, model: M) -> Self::Out;
}

/// Builds the config's model (compute dtype from the policy) and visits it.
pub fn with_model<V: ModelVisitor>(cfg: &RunConfig, compute: DType, v: V) -> Result<V::Out> {
    Ok(match &cfg.model {
        ModelConfig::TttLm {
            vocab,
            width,
            layers,
            chunk,
            inner_lr,
        } => v.visit(TttLm(TttLmConfig {
            vocab: vocab.0 as usize,
            width: width.0 as usize,
            layers: layers.0 as usize,
            chunk: chunk.0 as usize,
            inner_lr: inner_lr.0,
            compute,
        })),
        ModelConfig::Megalodon { config } => {
            let c =
                MegalodonConfig::from_json(&serde_json::Value::Object(config.clone()).to_string())
                    .map_err(|e| {
                        rax_core::Error::data("model.config (megalodon)", e.to_string())
                    })?;
            let policy = cfg.policy.policy()?;
            let c = c.with_policy(&rax_core::Policy {
                param: DType::F32,
                compute,
                accum: DType::F32,
                softmax: policy.softmax,
            })?;
            v.visit(Megalodon(c))
        }
        ModelConfig::ReferenceLm {
            vocab,
            width,
            layers,
            heads,
        } => v.visit(ReferenceLm(LmConfig {
            vocab: vocab.0 as usize,
            width: width.0 as usize,
            layers: layers.0 as usize,
            heads: heads.0 as usize,
            compute,
        })),
        ModelConfig::Deepseek {
            config,
            router_z_loss,
            balance_loss,
            balance_coef,
            dispatch,
            capacity_factor,
        } => {
            let c = DeepseekConfig::from_json(&serde_json::Value::Object(config.clone()))?;
            let state = DeepseekParams::init(&c, 0, 0.02)?.1;
            let bc = balance_coef.0;
            v.visit(Deepseek {
                cfg: c,
                opts: RunOptions {
                    compute,
                    dispatch: match dispatch {
                        DispatchKind::Dense => Dispatch::Dense,
                        DispatchKind::Capacity => Dispatch::Capacity {
                            factor: capacity_factor.0,
                        },
                        DispatchKind::Dropless => Dispatch::Dropless { block: 8 },
                    },
                },
                state,
                z_loss: router_z_loss.0,
                balance: match balance_loss {
                    BalanceLoss::None => Balance::None,
                    BalanceLoss::Switch => Balance::Switch(bc),
                    BalanceLoss::Sequence => Balance::Sequence(bc),
                },
            })
        }
    })
}
