//! The seed-004 training step for DeepSeek models, one jitted program: forward (dense first
//! layers, MoE after), mean next-token cross-entropy plus router z-loss (coefficient 1e-3 by
//! default) and a balance loss (sequence-wise by default) summed over MoE layers, gradients,
//! clip by global norm (1.0), AdamW or Lion under warmup + cosine; a non-finite loss or
//! gradient skips the step (parameters, optimizer state and biases unchanged) and the host side
//! names the first offending leaf; V3's correction biases follow the aux-loss-free update
//! `b ← b + γ·sign(mean load − load)` outside the gradient.
//!
//! fp8 hook point: [`TrainConfig::weight_hook`] is called on every parameter leaf (with its
//! path, e.g. `layers.3.moe.gate_up`) inside the traced step before the forward, so a
//! quantise/dequantise transform can be applied to chosen weights; [`is_mla_weight`] tells
//! the MLA projections apart so they can stay bf16 when the rest goes fp8.
//!
//! Depends on rax-optim, rax-runtime, `model`.

use super::config::DeepseekConfig;
use super::model::{loss_and_stats, DeepseekParams, DeepseekState, RunOptions};
use rax_core::autodiff::value_and_grad_with_aux;
use rax_core::tree::{leaves_with_paths, unflatten};
use rax_core::{DType, Error, Result, Tensor};
use rax_macros::Tree;
use rax_nn::moe::MoeStats;
use rax_nn::moe_aux;
use rax_optim::combine::Chain;
use rax_optim::{
    adamw, apply_updates, chain, clip_by_global_norm, global_norm, lion, warmup_cosine,
};
use rax_optim::{GradientTransformation, State};
use rax_runtime::Runtime;
use std::sync::Arc;

/// Which optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optimizer {
    /// AdamW (β 0.9/0.999, ε 1e-8).
    AdamW,
    /// Lion (β 0.9/0.99).
    Lion,
}

/// Which balance loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Balance {
    /// None.
    None,
    /// The Switch loss with this coefficient.
    Switch(f64),
    /// DeepSeek-V3's sequence-wise loss with this coefficient.
    Sequence(f64),
}

impl Balance {
    /// The coefficient (0 for `None`).
    pub fn coefficient(self) -> f64 {
        match self {
            Balance::None => 0.0,
            Balance::Switch(c) | Balance::Sequence(c) => c,
        }
    }
}

/// The auxiliary losses summed over the MoE layers' statistics, in f32: router z-loss (mean of
/// logsumexp² of the router logits) and the balance loss `balance` chooses (uncoefficiented;
/// the sequence-wise loss needs the `batch` size), as `(z, balance)`.
pub fn aux_losses(stats: &[MoeStats], balance: Balance, batch: usize) -> (Tensor, Tensor) {
    let zero = || Tensor::scalar_of(0.0, DType::F32);
    let (mut z, mut bal) = (zero(), zero());
    for s in stats {
        z = z + moe_aux::router_z_loss(&s.logits);
        bal = bal
            + match balance {
                Balance::None => zero(),
                Balance::Switch(_) => moe_aux::switch_balance_loss(&s.scores, &s.indices),
                Balance::Sequence(_) => {
                    moe_aux::sequence_balance_loss(&s.scores, &s.indices, batch)
                }
            };
    }
    (z, bal)
}

/// A transform of parameter leaves inside the step (`(path, weight) -> weight`), e.g. fp8
/// fake quantisation.
pub type WeightHook = Arc<dyn Fn(&str, &Tensor) -> Tensor + Send + Sync>;

/// True for the MLA projections' leaves (`layers.<i>.attn.*`).
pub fn is_mla_weight(path: &str) -> bool {
    path.split('.').nth(2) == Some("attn")
}

/// Training settings.
#[derive(Clone)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub peak_lr: f64,
    /// Linear warmup steps.
    pub warmup_steps: u32,
    /// Total steps (cosine to `end_lr` at the end).
    pub total_steps: u32,
    /// Final learning rate.
    pub end_lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Global-norm clip.
    pub clip_norm: f64,
    /// Router z-loss coefficient.
    pub z_loss: f64,
    /// Balance loss.
    pub balance: Balance,
    /// γ of the correction-bias update (0 disables it).
    pub bias_update_rate: f64,
    /// Compute dtype and dispatch.
    pub run: RunOptions,
    /// fp8 (or other) weight transform hook.
    pub weight_hook: Option<WeightHook>,
}

impl std::fmt::Debug for TrainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TrainConfig(lr {} warmup {} total {} {:?} wd {} clip {} z {} {:?} γ {} {:?} hook {})",
            self.peak_lr,
            self.warmup_steps,
            self.total_steps,
            self.optimizer,
            self.weight_decay,
            self.clip_norm,
            self.z_loss,
            self.balance,
            self.bias_update_rate,
            self.run,
            self.weight_hook.is_some()
        )
    }
}

impl TrainConfig {
    /// The seed-004 recipe: AdamW 3e-4 (wd 0.1), warmup 100 then cosine to 10% over 1000 steps,
    /// clip 1.0, z-loss 1e-3, sequence-wise balance 1e-4, bias update γ = 1e-3, dropless.
    pub fn seed004() -> TrainConfig {
        TrainConfig {
            peak_lr: 3e-4,
            warmup_steps: 100,
            total_steps: 1000,
            end_lr: 3e-5,
            weight_decay: 0.1,
            optimizer: Optimizer::AdamW,
            clip_norm: 1.0,
            z_loss: 1e-3,
            balance: Balance::Sequence(1e-4),
            bias_update_rate: 1e-3,
            run: RunOptions::default(),
            weight_hook: None,
        }
    }

    /// The optimizer chain: clip, then AdamW/Lion under the schedule.
    pub fn optimizer_chain(&self) -> Chain {
        let s = warmup_cosine(
            self.peak_lr,
            self.warmup_steps,
            self.total_steps.max(self.warmup_steps + 1),
            self.end_lr,
        );
        match self.optimizer {
            Optimizer::AdamW => chain((
                clip_by_global_norm(self.clip_norm),
                adamw(s, self.weight_decay),
            )),
            Optimizer::Lion => chain((
                clip_by_global_norm(self.clip_norm),
                lion(s, self.weight_decay),
            )),
        }
    }
}

/// Everything a step carries.
#[derive(Clone, Debug, Tree)]
pub struct TrainState {
    /// Parameters (f32 masters).
    pub params: DeepseekParams,
    /// Optimizer state.
    pub opt: State,
    /// Correction biases.
    pub biases: DeepseekState,
}

/// What a step reports (f32 scalars unless noted).
#[derive(Clone, Debug, Tree)]
pub struct StepMetrics {
    /// Cross-entropy.
    pub ce: Tensor,
    /// The optimised total (ce + z + balance).
    pub total: Tensor,
    /// Summed router z-loss (before its coefficient).
    pub z_loss: Tensor,
    /// Summed balance loss (before its coefficient).
    pub balance: Tensor,
    /// Global gradient norm before clipping.
    pub grad_norm: Tensor,
    /// Per-leaf finiteness of the gradients (bool `[leaves]`), and of the loss last.
    pub finite: Tensor,
    /// Per MoE layer: expert load fractions `[E]`.
    pub load: Vec<Tensor>,
    /// Per MoE layer: dropped fraction.
    pub dropped: Vec<Tensor>,
    /// Per MoE layer: router entropy.
    pub entropy: Vec<Tensor>,
}

/// The auxiliary outputs of the loss: three scalars and three per-layer lists.
type LossAux = (
    Tensor,
    Tensor,
    Tensor,
    Vec<Tensor>,
    Vec<Tensor>,
    Vec<Tensor>,
);

/// The traced step: `(state, tokens [B, T]) -> (state', metrics)`.
pub fn train_step(
    cfg: &DeepseekConfig,
    tc: &TrainConfig,
    opt: &Chain,
    st: &TrainState,
    tokens: &Tensor,
) -> Result<(TrainState, StepMetrics)> {
    let b = tokens.dims().first().copied().unwrap_or(1);
    let t = tokens.dims().get(1).copied().unwrap_or(1);
    let biases = st.biases.clone();
    let lossf = |p: &DeepseekParams| -> (Tensor, LossAux) {
        let p = match &tc.weight_hook {
            Some(h) => {
                let leaves: Vec<Tensor> =
                    leaves_with_paths(p).iter().map(|(n, x)| h(n, x)).collect();
                match unflatten(p, leaves) {
                    Ok(q) => q,
                    Err(_) => p.clone(),
                }
            }
            None => p.clone(),
        };
        let (ce, stats) = match loss_and_stats(cfg, &tc.run, &p, &biases, tokens) {
            Ok(x) => x,
            Err(e) => {
                let bad = rax_core::trace::apply_error(
                    e,
                    rax_core::AVal::scalar(DType::F32),
                    rax_core::CallSite::here(),
                );
                return (
                    bad.clone(),
                    (bad.clone(), bad.clone(), bad, vec![], vec![], vec![]),
                );
            }
        };
        let (z, bal) = aux_losses(&stats, tc.balance, b);
        let (mut load, mut dropped, mut ent) = (vec![], vec![], vec![]);
        for s in &stats {
            load.push(s.counts());
            dropped.push(s.dropped_fraction());
            ent.push(moe_aux::router_entropy(&s.scores));
        }
        let total = &ce + &(&z * tc.z_loss) + &bal * tc.balance.coefficient();
        (total, (ce, z, bal, load, dropped, ent))
    };
    let ((total, (ce, z, bal, counts, dropped, ent)), grads) =
        value_and_grad_with_aux(lossf)(&st.params)?;
    let leaves = rax_core::tree::flatten(&grads);
    let gnorm = global_norm(&leaves);
    let mut flags: Vec<Tensor> = leaves
        .iter()
        .map(|g| g.is_finite().all(&(0..g.rank()).collect::<Vec<_>>()))
        .collect();
    flags.push(total.is_finite());
    let finite = Tensor::stack(&flags, 0);
    let ok = finite.all(&[0]);
    let (updates, new_opt) = opt.update(&grads, st.opt.clone(), Some(&st.params))?;
    let new_params = apply_updates(&st.params, &updates)?;
    let keep = |a: &DeepseekParams, b: &DeepseekParams| -> Result<DeepseekParams> {
        let (la, lb) = (rax_core::tree::flatten(a), rax_core::tree::flatten(b));
        unflatten(
            a,
            la.iter()
                .zip(&lb)
                .map(|(x, y)| Tensor::select(&ok, x, y))
                .collect(),
        )
    };
    let params = keep(&new_params, &st.params)?;
    let opt_state = State::select(&ok, &new_opt, &st.opt)?;
    let biases = if tc.bias_update_rate > 0.0 && !st.biases.biases.is_empty() {
        DeepseekState {
            biases: st
                .biases
                .biases
                .iter()
                .zip(&counts)
                .map(|(bb, c)| {
                    Tensor::select(&ok, &moe_aux::update_bias(bb, c, tc.bias_update_rate), bb)
                })
                .collect(),
        }
    } else {
        st.biases.clone()
    };
    let a = (b * t.saturating_sub(1)).max(1) as f64 * cfg.num_experts_per_tok as f64;
    let load = counts.iter().map(|c| c * (1.0 / a)).collect();
    Ok((
        TrainState {
            params,
            opt: opt_state,
            biases,
        },
        StepMetrics {
            ce,
            total,
            z_loss: z,
            balance: bal,
            grad_norm: gnorm,
            finite,
            load,
            dropped,
            entropy: ent,
        },
    ))
}

/// A host-side report of one step.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// Cross-entropy.
    pub ce: f64,
    /// Optimised total.
    pub total: f64,
    /// Gradient norm.
    pub grad_norm: f64,
    /// `Some(leaf path)` when the step was skipped for a non-finite value.
    pub skipped: Option<String>,
    /// The device-side metrics.
    pub metrics: StepMetrics,
}

/// The jitted step: (state, tokens) -> (new state, metrics).
type StepFn = Box<dyn Fn(&(TrainState, Tensor)) -> Result<(TrainState, StepMetrics)>>;

/// A compiled trainer: call [`Trainer::step`] per batch.
pub struct Trainer {
    step: StepFn,
    leaf_names: Vec<String>,
}

impl Trainer {
    /// Builds the jitted step (state donated) and the initial state for `params`/`biases`.
    pub fn new(
        rt: &Runtime,
        cfg: &DeepseekConfig,
        tc: &TrainConfig,
        params: DeepseekParams,
        biases: DeepseekState,
    ) -> Result<(Trainer, TrainState)> {
        let opt = tc.optimizer_chain();
        let opt_state = opt.init(&params)?;
        let leaf_names = leaves_with_paths(&params)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let state = rt.put_tree(&TrainState {
            params,
            opt: opt_state,
            biases,
        })?;
        let (cfg, tc) = (cfg.clone(), tc.clone());
        let jit = rt
            .jit(move |(s, tok): &(TrainState, Tensor)| train_step(&cfg, &tc, &opt, s, tok))
            .donate_args(&[0]);
        Ok((
            Trainer {
                step: Box::new(move |x| jit.call(x)),
                leaf_names,
            },
            state,
        ))
    }

    /// One step on int32 `tokens [B, T]`.
    pub fn step(&self, state: TrainState, tokens: &Tensor) -> Result<(TrainState, StepReport)> {
        let (s, m) = (self.step)(&(state, tokens.clone()))?;
        let flags = m.finite.to_literal()?.to_f64_vec();
        let skipped = flags.iter().position(|f| *f == 0.0).map(|i| {
            self.leaf_names
                .get(i)
                .map(|n| format!("gradient of `{n}`"))
                .unwrap_or_else(|| "the loss".to_string())
        });
        let one = |t: &Tensor| -> Result<f64> {
            t.to_f64_vec()?
                .first()
                .copied()
                .ok_or_else(|| Error::arg("train", "empty metric"))
        };
        Ok((
            s,
            StepReport {
                ce: one(&m.ce)?,
                total: one(&m.total)?,
                grad_norm: one(&m.grad_norm)?,
                skipped,
                metrics: m,
            },
        ))
    }
}

/// Random int32 tokens `[batch, seq]` in `0..vocab` (host-side, deterministic).
pub fn random_tokens(vocab: usize, batch: usize, seq: usize, seed: u64) -> Result<Tensor> {
    let mut rng = super::model::HostRng(seed ^ 0x5EED);
    let v: Vec<i32> = (0..batch * seq).map(|_| rng.below(vocab)).collect();
    Tensor::from_vec(vec![batch, seq], v)
}
