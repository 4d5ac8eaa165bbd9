//! The model families `rax train` can train: each implements [`TrainModel`] (initial
//! parameters and the traced loss of a token batch), and [`with_model`] turns the config's
//! family variant into a concrete model for generic code (training, inspect, diff).

use super::config::{ModelConfig, RunConfig};
use rax_core::{DType, Result, Tensor, Tree};
use rax_models::deepseek::config::DeepseekConfig;
use rax_models::deepseek::model::{loss_and_stats, DeepseekParams, DeepseekState, RunOptions};
use rax_models::lm::{loss, LmConfig, LmParams};
use rax_nn::moe_dispatch::Dispatch;

/// A model `rax train` can train.
pub trait TrainModel: 'static {
    /// The parameter tree.
    type Params: Tree + Clone + 'static;
    /// Fresh f32 parameters from a seed.
    fn init(&self, seed: u64) -> Result<Self::Params>;
    /// Mean next-token loss (f32 scalar) of `tokens [B, T+1]` (i32), traced.
    fn loss(&self, p: &Self::Params, tokens: &Tensor) -> Result<Tensor>;
}

/// The reference LM with its compute dtype.
pub struct ReferenceLm(pub LmConfig);

impl TrainModel for ReferenceLm {
    type Params = LmParams;
    fn init(&self, seed: u64) -> Result<LmParams> {
        LmParams::init(&self.0, seed)
    }
    fn loss(&self, p: &LmParams, tokens: &Tensor) -> Result<Tensor> {
        let l = loss(&self.0, p, tokens);
        l.check()?;
        Ok(l)
    }
}

/// DeepSeek V2/V3 (MLA + MoE) with its non-trainable state (V3 routing biases, kept at their
/// initial zeros: rax train does not run the bias update yet) and run options.
pub struct Deepseek {
    cfg: DeepseekConfig,
    opts: RunOptions,
    state: DeepseekState,
}

impl TrainModel for Deepseek {
    type Params = DeepseekParams;
    fn init(&self, seed: u64) -> Result<DeepseekParams> {
        Ok(DeepseekParams::init(&self.cfg, seed, 0.02)?.0)
    }
    fn loss(&self, p: &DeepseekParams, tokens: &Tensor) -> Result<Tensor> {
        Ok(loss_and_stats(&self.cfg, &self.opts, p, &self.state, tokens)?.0)
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
        ModelConfig::Deepseek { config } => {
            let c = DeepseekConfig::from_json(&serde_json::Value::Object(config.clone()))?;
            let state = DeepseekParams::init(&c, 0, 0.02)?.1;
            v.visit(Deepseek {
                cfg: c,
                opts: RunOptions {
                    compute,
                    dispatch: Dispatch::Dense,
                },
                state,
            })
        }
    })
}
