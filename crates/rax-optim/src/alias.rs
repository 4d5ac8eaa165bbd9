//! Ready-made optimizers (docs/optim.md; optax 0.2.8 `adam`, `adamw`, `lion`, `sgd`, and `muon` as
//! docs/optim.md defines it): chains of the elementary transforms of [`crate::transform`].

use crate::combine::{chain, partition, Chain, Partition};
use crate::transform::{
    add_decayed_weights, scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_muon, trace,
};
use crate::{GradientTransformation, LeafMeta, Mask, Scalar};
use rax_core::DType;

/// Adam's constants (optax defaults) and moment dtypes (f32 whatever the parameter dtype).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// First-moment decay (0.9).
    pub b1: f64,
    /// Second-moment decay (0.999).
    pub b2: f64,
    /// Added to √v̂ (1e-8).
    pub eps: f64,
    /// Added to v̂ under the square root (0).
    pub eps_root: f64,
    /// Nesterov momentum (NAdam, as optax).
    pub nesterov: bool,
    /// Storage dtype of the first moment (f32).
    pub mu_dtype: DType,
    /// Storage dtype of the second moment (f32).
    pub nu_dtype: DType,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
            eps_root: 0.0,
            nesterov: false,
            mu_dtype: DType::F32,
            nu_dtype: DType::F32,
        }
    }
}

/// Adam: chain(scale_by_adam, scale_by_learning_rate).
pub fn adam(lr: impl Into<Scalar>) -> Chain {
    adam_with(lr, AdamConfig::default())
}

/// Adam with explicit constants.
pub fn adam_with(lr: impl Into<Scalar>, c: AdamConfig) -> Chain {
    chain((scale_by_adam(c), scale_by_learning_rate(lr)))
}

/// AdamW (decoupled weight decay, multiplied by η as in optax and PyTorch):
/// chain(scale_by_adam, add_decayed_weights(λ), scale_by_learning_rate(η)).
pub fn adamw(lr: impl Into<Scalar>, weight_decay: f64) -> Chain {
    adamw_with(lr, AdamConfig::default(), weight_decay, None)
}

/// AdamW with explicit constants and an optional decay mask (true = decayed).
pub fn adamw_with(
    lr: impl Into<Scalar>,
    c: AdamConfig,
    weight_decay: f64,
    mask: Option<Mask>,
) -> Chain {
    chain((
        scale_by_adam(c),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(lr),
    ))
}

/// A decay mask that skips sensitive leaves and leaves of rank < 2 (norms, biases): the usual
/// AdamW convention.
pub fn decay_matrices_only() -> Mask {
    std::sync::Arc::new(|m: &LeafMeta| !m.info.sensitive && m.ndim() >= 2)
}

/// Lion (b1 0.9, b2 0.99): u = −η·(sign(b1·m + (1−b1)·g) + λ·θ); m ← b2·m + (1−b2)·g.
pub fn lion(lr: impl Into<Scalar>, weight_decay: f64) -> Chain {
    lion_with(lr, 0.9, 0.99, weight_decay, None)
}

/// Lion with explicit constants and decay mask.
pub fn lion_with(
    lr: impl Into<Scalar>,
    b1: f64,
    b2: f64,
    weight_decay: f64,
    mask: Option<Mask>,
) -> Chain {
    chain((
        scale_by_lion(b1, b2, DType::F32),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(lr),
    ))
}

/// SGD: b ← μ·b + g; u = −η·(g + μ·b) if `nesterov` else −η·b; plain −η·g without momentum.
pub fn sgd(lr: impl Into<Scalar>, momentum: Option<f64>, nesterov: bool) -> Chain {
    match momentum {
        Some(m) => chain((trace(m, nesterov), scale_by_learning_rate(lr))),
        None => chain((scale_by_learning_rate(lr),)),
    }
}

/// Muon's settings (docs/optim.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MuonConfig {
    /// Momentum μ (0.95).
    pub momentum: f64,
    /// Nesterov momentum: NS5 of g + μ·b (true).
    pub nesterov: bool,
    /// Newton–Schulz iterations (5).
    pub ns_steps: usize,
    /// Dtype of the Newton–Schulz iteration: the policy's compute dtype (f32 or bf16).
    pub ns_dtype: DType,
    /// Decoupled weight decay of the Muon leaves (0).
    pub weight_decay: f64,
    /// AdamW for the other leaves.
    pub adam: AdamConfig,
    /// Weight decay of the AdamW leaves (0).
    pub adam_weight_decay: f64,
}

impl Default for MuonConfig {
    fn default() -> Self {
        MuonConfig {
            momentum: 0.95,
            nesterov: true,
            ns_steps: 5,
            ns_dtype: DType::F32,
            weight_decay: 0.0,
            adam: AdamConfig::default(),
            adam_weight_decay: 0.0,
        }
    }
}

/// Muon for 2-D leaves that are not sensitive, AdamW (same η) for the rest: partition with
/// labels `muon` / `adam`. Muon leaves: u = −η·(NS5(momentum)·√max(1, rows/cols) + λ·θ).
/// (Embeddings and the output head are 2-D: route them to AdamW with your own `partition`.)
pub fn muon(lr: impl Into<Scalar>, c: MuonConfig) -> Partition {
    let lr: Scalar = lr.into();
    let muon_chain = chain((
        scale_by_muon(c.momentum, c.nesterov, c.ns_steps, c.ns_dtype),
        add_decayed_weights(c.weight_decay, None),
        scale_by_learning_rate(lr.clone()),
    ));
    let adam = adamw_with(lr, c.adam, c.adam_weight_decay, None);
    partition(
        vec![("muon", muon_chain.boxed()), ("adam", adam.boxed())],
        |m: &LeafMeta| {
            if m.ndim() == 2 && !m.info.sensitive {
                "muon".to_string()
            } else {
                "adam".to_string()
            }
        },
    )
}
