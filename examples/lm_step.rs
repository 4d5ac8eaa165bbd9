//! The reference LM training step the benchmark and the memory soak both run: forward,
//! `value_and_grad`, `clip_by_global_norm(1.0)`, AdamW (3e-4, wd 0.1 on every parameter),
//! `apply_updates`; one jitted program, parameters and optimizer state donated unless told not.

use rax::core::autodiff::value_and_grad;
use rax::core::{Result, Tensor};
use rax::models::lm::{loss, LmConfig, LmParams};
use rax::optim::{adamw, apply_updates, chain, clip_by_global_norm, GradientTransformation, State};
use rax::runtime::{Jit, Runtime};

/// The step's inputs and outputs besides the loss: parameters, optimizer state, tokens.
pub type StepIn = (LmParams, State, Tensor);

/// The step's optimizer: clip to global norm 1.0, then AdamW (3e-4, weight decay 0.1).
pub fn optimizer() -> impl GradientTransformation {
    chain((clip_by_global_norm(1.0), adamw(3e-4, 0.1)))
}

/// The jitted step `(params, state, tokens) -> (params, state, loss)`; the state comes from
/// `optimizer().init(&params)`.
pub fn reference_step(
    rt: &Runtime,
    cfg: &LmConfig,
    donate: bool,
) -> Jit<StepIn, StepIn, impl Fn(&StepIn) -> Result<StepIn>> {
    let opt = optimizer();
    let c = cfg.clone();
    rt.jit(move |(p, s, toks): &StepIn| {
        let (l, g) = value_and_grad(|p: &LmParams| loss(&c, p, toks))(p)?;
        let (u, s) = opt.update(&g, s.clone(), Some(p))?;
        Ok((apply_updates(p, &u)?, s, l))
    })
    .donate_args(if donate { &[0, 1] } else { &[] })
}
