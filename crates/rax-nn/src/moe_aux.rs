//! MoE auxiliary losses, per-step metrics and the aux-loss-free bias update, all in f32.
//!
//! - [`switch_balance_loss`]: `E · Σ_e f_e · P_e`, `f_e` the fraction of assignments routed to
//!   e (no gradient), `P_e` the mean normalised router probability of e.
//! - [`sequence_balance_loss`]: DeepSeek-V3's per-sequence version: for each sequence,
//!   `Σ_e f_e · P_e` with `f_e = E/(k·T) · (assignments to e in the sequence)` and `P_e` the
//!   sequence mean of the normalised scores; averaged over sequences.
//! - [`router_z_loss`]: the mean over tokens of `logsumexp(logits)²`.
//! - [`update_bias`]: `b ← b + γ · sign(mean(load) − load)`, outside any gradient.
//!
//! "Normalised" scores are the scores divided by their sum over experts (the softmax scores
//! already sum to 1; sigmoid scores do not).
//!
//! Depends on rax-core.

use rax_core::{stop_gradient as sg, DType, Tensor};

/// Scores divided by their sum over experts: `[N, E]`.
pub fn normalised(scores: &Tensor) -> Tensor {
    let s = scores.cast(DType::F32);
    &s / &(s.sum_keepdims(&[1]) + 1e-20)
}

/// Assignments per expert `[E]` (f32, no gradient) of `indices [N, k]`.
pub fn expert_counts(indices: &Tensor, experts: usize) -> Tensor {
    sg(&indices.one_hot(experts, DType::F32).sum(&[0, 1]))
}

/// The Switch-Transformer load-balance loss (≈ 1 when balanced).
pub fn switch_balance_loss(scores: &Tensor, indices: &Tensor) -> Tensor {
    let e = scores.dims()[1];
    let a = (indices.dims()[0] * indices.dims()[1]) as f64;
    let f = expert_counts(indices, e) * (1.0 / a);
    let p = normalised(scores).mean(&[0]);
    (f * p).sum(&[0]) * e as f64
}

/// DeepSeek-V3's sequence-wise balance loss for `scores [B·T, E]`, `indices [B·T, k]`.
pub fn sequence_balance_loss(scores: &Tensor, indices: &Tensor, batch: usize) -> Tensor {
    let (nt, e) = (scores.dims()[0], scores.dims()[1]);
    let k = indices.dims()[1];
    let t = nt / batch.max(1);
    let counts = sg(&indices
        .reshape(&[batch, t, k])
        .one_hot(e, DType::F32)
        .sum(&[1, 2])); // [B, E]
    let f = counts * (e as f64 / (k * t) as f64);
    let p = normalised(scores).reshape(&[batch, t, e]).mean(&[1]); // [B, E]
    (f * p).sum(&[1]).mean(&[0])
}

/// Router z-loss: mean of `logsumexp(logits)²` over tokens.
pub fn router_z_loss(logits: &Tensor) -> Tensor {
    let z = logits.cast(DType::F32).logsumexp(&[1]);
    (&z * &z).mean(&[0])
}

/// Mean entropy (nats) of the normalised router distribution.
pub fn router_entropy(scores: &Tensor) -> Tensor {
    let p = normalised(scores);
    let lp = p.maximum(&Tensor::scalar_of(1e-30, DType::F32)).log();
    -(p * lp).sum(&[1]).mean(&[0])
}

/// Expert load as fractions of all assignments `[E]`.
pub fn expert_load(indices: &Tensor, experts: usize) -> Tensor {
    let a = (indices.dims()[0] * indices.dims()[1]) as f64;
    expert_counts(indices, experts) * (1.0 / a)
}

/// The aux-loss-free bias update `b + γ · sign(mean(load) − load)` (f32), `load [E]` the
/// per-expert assignment counts (or fractions) of the step.
pub fn update_bias(bias: &Tensor, load: &Tensor, gamma: f64) -> Tensor {
    let l = sg(&load.cast(DType::F32));
    let err = l.mean_keepdims(&[0]) - &l;
    sg(&(bias.cast(DType::F32) + err.sign() * gamma))
}
