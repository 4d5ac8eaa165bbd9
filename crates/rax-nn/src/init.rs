//! Weight initialisers of the Megalodon family (megalodon-jax's `he`, `xavier`, `bert` and
//! `gaussian` modes, drawn with rax's JAX-compatible PRNG; values are sampled in f32 and cast to
//! the storage dtype). Fan-in is the last axis of an `[out, in]` weight.
//!
//! Depends on rax-core.

use rax_core::{DType, Error, PrngKey, Result, Tensor};

/// How weights are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitMode {
    /// `N(0, 1) / sqrt(3·fan_in)` (PyTorch's `kaiming_normal_(a=√5)`).
    He,
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))`.
    Xavier,
    /// `N(0, 0.02²)`.
    Bert,
    /// Normal truncated to `±3` standard deviations, std `1/sqrt(dim)` (or 1 without a dim).
    Gaussian,
}

impl InitMode {
    /// Parses `he`, `xavier`, `bert` or `gaussian`.
    pub fn parse(s: &str) -> Result<InitMode> {
        Ok(match s {
            "he" => InitMode::He,
            "xavier" => InitMode::Xavier,
            "bert" => InitMode::Bert,
            "gaussian" => InitMode::Gaussian,
            _ => {
                return Err(Error::arg(
                    "init_mode",
                    format!("unsupported init_mode {s:?} (expected he, xavier, bert or gaussian)"),
                ))
            }
        })
    }
}

/// A fresh `[.., out, in]` weight of `dtype` drawn by `mode`; `std_dim` sets the gaussian
/// standard deviation `1/sqrt(std_dim)` (1 when `None`).
#[track_caller]
pub fn initialize(
    mode: InitMode,
    std_dim: Option<usize>,
    key: &PrngKey,
    shape: &[usize],
    dtype: DType,
) -> Tensor {
    let n = shape.len();
    let fan_in = if n >= 1 { shape[n - 1] } else { 1 } as f64;
    let fan_out = if n >= 2 { shape[n - 2] } else { 1 } as f64;
    let v = match mode {
        InitMode::He => key.normal(shape, DType::F32) * (1.0 / (3.0 * fan_in).sqrt()),
        InitMode::Xavier => {
            let bound = (6.0 / (fan_in + fan_out)).sqrt();
            key.uniform(shape, DType::F32, -bound, bound)
        }
        InitMode::Bert => key.normal(shape, DType::F32) * 0.02,
        InitMode::Gaussian => {
            let std = std_dim.map(|d| 1.0 / (d as f64).sqrt()).unwrap_or(1.0);
            key.truncated_normal(-3.0, 3.0, shape, DType::F32) * std
        }
    };
    v.cast(dtype)
}
