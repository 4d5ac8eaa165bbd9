//! RoPE frequencies with optional YaRN scaling, computed on the host as Hugging Face's
//! `rope_type: "yarn"` does: the inverse frequencies blend interpolated (`ω/factor`) and
//! extrapolated (`ω`) values with a linear ramp between the correction dimensions given by
//! `beta_fast` / `beta_slow` and the original context length; the attention factor scales
//! cos/sin; and DeepSeek's MLA multiplies its softmax scale by `mscale(factor, mscale_all_dim)²`.
//! The arithmetic is done in f64 and rounded once to f32 (the checkpoint's reference computes
//! in f32; the two differ by at most an f32 ulp of each frequency).
//!
//! Depends on rax-core and `rope`.

use crate::rope::RopeTable;
use rax_core::{Result, Tensor};

/// YaRN parameters (the `rope_parameters` of a Hugging Face config with `rope_type: "yarn"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Yarn {
    /// Context extension factor (`factor`).
    pub factor: f64,
    /// Pre-extension context length (`original_max_position_embeddings`).
    pub original_max_position: usize,
    /// Rotations at which extrapolation ends (`beta_fast`, default 32).
    pub beta_fast: f64,
    /// Rotations at which interpolation starts (`beta_slow`, default 1).
    pub beta_slow: f64,
    /// `mscale` (numerator of the attention factor when both mscales are set).
    pub mscale: Option<f64>,
    /// `mscale_all_dim` (denominator of the attention factor; also the MLA softmax correction).
    pub mscale_all_dim: Option<f64>,
    /// An explicit `attention_factor`, overriding the one inferred from the mscales.
    pub attention_factor: Option<f64>,
    /// Round the correction range to whole dimensions (`truncate`, default true).
    pub truncate: bool,
}

/// How the rotary frequencies are formed.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE: `ω_i = base^(−2i/d)`.
    Default,
    /// YaRN.
    Yarn(Yarn),
}

/// `0.1 · m · ln(s) + 1` for `s > 1`, else 1 (YaRN's magnitude correction).
pub fn yarn_mscale(scale: f64, m: f64) -> f64 {
    if scale <= 1.0 {
        1.0
    } else {
        0.1 * m * scale.ln() + 1.0
    }
}

impl RopeScaling {
    /// The inverse frequencies `[dim/2]` for a rotary dimension `dim` and base `theta`.
    pub fn inverse_frequencies(&self, dim: usize, theta: f64) -> Vec<f32> {
        let half = dim / 2;
        let plain: Vec<f64> = (0..half)
            .map(|i| 1.0 / theta.powf((2 * i) as f64 / dim as f64))
            .collect();
        let y = match self {
            RopeScaling::Default => return plain.iter().map(|&w| w as f32).collect(),
            RopeScaling::Yarn(y) => y,
        };
        let corr = |rot: f64| {
            (dim as f64
                * (y.original_max_position as f64 / (rot * 2.0 * std::f64::consts::PI)).ln())
                / (2.0 * theta.ln())
        };
        let (mut low, mut high) = (corr(y.beta_fast), corr(y.beta_slow));
        if y.truncate {
            low = low.floor();
            high = high.ceil();
        }
        let low = low.max(0.0);
        let mut high = high.min(dim as f64 - 1.0);
        if low == high {
            high += 0.001;
        }
        (0..half)
            .map(|i| {
                let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                let extrapolation = 1.0 - ramp;
                let w = plain[i];
                (w / y.factor * (1.0 - extrapolation) + w * extrapolation) as f32
            })
            .collect()
    }

    /// The factor multiplying cos and sin (1 for plain RoPE).
    pub fn attention_factor(&self) -> f64 {
        match self {
            RopeScaling::Default => 1.0,
            RopeScaling::Yarn(y) => match (y.attention_factor, y.mscale, y.mscale_all_dim) {
                (Some(a), _, _) => a,
                (None, Some(m), Some(ma)) if m != 0.0 && ma != 0.0 => {
                    yarn_mscale(y.factor, m) / yarn_mscale(y.factor, ma)
                }
                _ => yarn_mscale(y.factor, 1.0),
            },
        }
    }

    /// MLA's softmax scale: `qk_head_dim^(−½)`, times `mscale(factor, mscale_all_dim)²` under
    /// YaRN when `mscale_all_dim` is set and non-zero.
    pub fn mla_softmax_scale(&self, qk_head_dim: usize) -> f64 {
        let base = (qk_head_dim as f64).powf(-0.5);
        match self {
            RopeScaling::Yarn(Yarn {
                factor,
                mscale_all_dim: Some(ma),
                ..
            }) if *ma != 0.0 => {
                let m = yarn_mscale(*factor, *ma);
                base * m * m
            }
            _ => base,
        }
    }

    /// The f32 cos/sin table for integer `positions` (`[T]` or `[B, T]`), scaled by the
    /// attention factor.
    #[track_caller]
    pub fn table(&self, positions: &Tensor, dim: usize, theta: f64) -> Result<RopeTable> {
        let inv = self.inverse_frequencies(dim, theta);
        let inv = Tensor::from_vec(vec![inv.len()], inv)?;
        let t = RopeTable::from_positions(positions, &inv);
        let a = self.attention_factor();
        if a == 1.0 {
            return Ok(t);
        }
        Ok(RopeTable {
            cos: t.cos * a,
            sin: t.sin * a,
        })
    }
}
