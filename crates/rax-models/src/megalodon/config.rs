//! `MegalodonConfig`: every field of megalodon-jax 0.2.2's config, with its names, defaults and
//! validation, as serde JSON. Dtype fields are the strings megalodon-jax's checkpoints write
//! (`"float32"`, `"bfloat16"`). [`MegalodonConfig::canonical_json`] reproduces megalodon-jax's
//! canonical text (sorted keys, compact separators, Python float spelling), whose SHA-256 is the
//! checkpoint's `config_fingerprint`.
//!
//! Depends on rax-core, serde, `pyjson`.

use super::pyjson;
use rax_core::{DType, Error, Policy, Result};
use serde::{Deserialize, Serialize};

/// The Megalodon hyper-parameters (megalodon-jax 0.2.2 field names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct MegalodonConfig {
    pub vocab_size: i64,
    pub model_dim: i64,
    pub num_layers: i64,
    pub num_heads: i64,
    /// Shared Q/K projection width.
    pub z_dim: i64,
    pub value_dim: i64,
    pub ffn_hidden_dim: i64,
    /// Complex EMA orders per channel.
    pub cema_ndim: i64,
    /// Attention chunk width (ignored by attention in sliding mode).
    pub chunk_size: i64,
    /// A positive width selects sliding-window attention.
    pub attention_window: Option<i64>,
    pub norm_num_groups: i64,
    pub norm_eps: f64,
    /// RoPE base; `None` means 10000.
    pub rope_base: Option<f64>,
    pub swiglu: bool,
    pub rescale_nffn: bool,
    pub scale_emb: bool,
    pub share_emb: bool,
    /// RMSNorm and FFN LayerNorm affines (TimestepNorm is always affine).
    pub norm_affine: bool,
    pub dropout: f64,
    pub attention_dropout: f64,
    /// `post_softmax` or `dropkey`.
    pub attention_dropout_mode: String,
    pub hidden_dropout: f64,
    pub pad_token_id: Option<i64>,
    pub bos_token_id: i64,
    pub eos_token_id: i64,
    /// `gaussian`, `xavier`, `he` or `bert`.
    pub init_mode: String,
    /// Rematerialise each block in the backward pass (training).
    pub use_checkpoint: bool,
    /// Packed-sequence EMA by the associative scan (else the sequential recurrence).
    pub use_associative_segment_scan: bool,
    /// LM head width; -1 means `vocab_size`.
    pub output_size: i64,
    pub param_dtype: String,
    pub compute_dtype: String,
    pub accum_dtype: String,
    pub attention_softmax_dtype: String,
}

impl Default for MegalodonConfig {
    fn default() -> Self {
        MegalodonConfig {
            vocab_size: 32_000,
            model_dim: 1024,
            num_layers: 12,
            num_heads: 1,
            z_dim: 256,
            value_dim: 2048,
            ffn_hidden_dim: 2560,
            cema_ndim: 16,
            chunk_size: 2048,
            attention_window: None,
            norm_num_groups: 32,
            norm_eps: 1e-5,
            rope_base: None,
            swiglu: false,
            rescale_nffn: false,
            scale_emb: false,
            share_emb: false,
            norm_affine: true,
            dropout: 0.0,
            attention_dropout: 0.0,
            attention_dropout_mode: "post_softmax".into(),
            hidden_dropout: 0.0,
            pad_token_id: None,
            bos_token_id: 1,
            eos_token_id: 2,
            init_mode: "he".into(),
            use_checkpoint: false,
            use_associative_segment_scan: true,
            output_size: -1,
            param_dtype: "float32".into(),
            compute_dtype: "float32".into(),
            accum_dtype: "float32".into(),
            attention_softmax_dtype: "float32".into(),
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::arg("MegalodonConfig", msg)
}

/// The rax dtype of a megalodon-jax dtype name.
pub fn dtype_of(field: &str, name: &str) -> Result<DType> {
    match name {
        "float32" => Ok(DType::F32),
        "bfloat16" => Ok(DType::BF16),
        "float16" => Err(bad(format!(
            "{field}=float16 is unsupported: f16 needs a loss scale (its 5 exponent bits flush \
             small gradients to zero) and megalodon-jax checkpoints only hold float32 or bfloat16; \
             use bfloat16, which has f32's exponent range"
        ))),
        _ => Err(bad(format!(
            "{field}={name:?} is not a supported dtype (expected \"float32\" or \"bfloat16\")"
        ))),
    }
}

/// The megalodon-jax name of an f32 or bf16 dtype.
pub fn dtype_name(d: DType) -> Result<&'static str> {
    match d {
        DType::F32 => Ok("float32"),
        DType::BF16 => Ok("bfloat16"),
        DType::F16 => Err(bad(
            "f16 is refused: it needs a loss scale (gradients below ~6e-8 flush to zero) and \
             megalodon-jax has no f16 policy; use bf16, which has f32's exponent range",
        )),
        _ => Err(bad(format!("{d} is not a Megalodon dtype (f32 or bf16)"))),
    }
}

impl MegalodonConfig {
    /// Parses and validates a JSON config.
    pub fn from_json(text: &str) -> Result<MegalodonConfig> {
        let c: MegalodonConfig = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "config JSON does not match the megalodon-jax 0.2.2 schema: {e}"
            ))
        })?;
        c.validate()?;
        Ok(c)
    }

    /// megalodon-jax's canonical JSON of this config (its `config_json` metadata).
    pub fn canonical_json(&self) -> Result<String> {
        let v = serde_json::to_value(self).map_err(|e| bad(e.to_string()))?;
        Ok(pyjson::dumps(&v))
    }

    /// SHA-256 (hex) of [`Self::canonical_json`]: the checkpoint's `config_fingerprint`.
    pub fn fingerprint(&self) -> Result<String> {
        Ok(super::sha256::hex(self.canonical_json()?.as_bytes()))
    }

    /// Checks every constraint megalodon-jax checks, naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.vocab_size <= 0 {
            return Err(bad(format!(
                "vocab_size must be positive, got {}",
                self.vocab_size
            )));
        }
        if self.output_size < -1 || self.output_size == 0 {
            return Err(bad(format!(
                "output_size must be -1 or positive, got {}",
                self.output_size
            )));
        }
        if self.share_emb && self.effective_output_size() != self.vocab_size as usize {
            return Err(bad(
                "share_emb requires output_size to resolve to vocab_size",
            ));
        }
        for (name, v) in [
            ("model_dim", self.model_dim),
            ("z_dim", self.z_dim),
            ("value_dim", self.value_dim),
            ("ffn_hidden_dim", self.ffn_hidden_dim),
            ("cema_ndim", self.cema_ndim),
            ("norm_num_groups", self.norm_num_groups),
        ] {
            if v <= 0 {
                return Err(bad(format!("{name} must be positive, got {v}")));
            }
        }
        if self.num_layers < 0 {
            return Err(bad(format!(
                "num_layers must be non-negative, got {}",
                self.num_layers
            )));
        }
        if self.num_heads <= 0 {
            return Err(bad(format!(
                "num_heads must be positive, got {}",
                self.num_heads
            )));
        }
        if self.chunk_size <= 0 {
            return Err(bad(format!(
                "chunk_size must be positive, got {}",
                self.chunk_size
            )));
        }
        if self.z_dim % self.num_heads != 0 {
            return Err(bad(format!(
                "z_dim ({}) must be divisible by num_heads ({})",
                self.z_dim, self.num_heads
            )));
        }
        if self.value_dim % self.num_heads != 0 {
            return Err(bad(format!(
                "value_dim ({}) must be divisible by num_heads ({})",
                self.value_dim, self.num_heads
            )));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(bad(format!(
                "head_dim must be even for RoPE, got {}",
                self.head_dim()
            )));
        }
        if self.model_dim % self.norm_num_groups != 0 {
            return Err(bad(format!(
                "model_dim ({}) must be divisible by norm_num_groups ({})",
                self.model_dim, self.norm_num_groups
            )));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(bad(format!(
                "norm_eps must be finite and positive, got {}",
                self.norm_eps
            )));
        }
        if let Some(b) = self.rope_base {
            if !(b.is_finite() && b > 0.0) {
                return Err(bad(format!(
                    "rope_base must be finite and positive, got {b}"
                )));
            }
        }
        for (name, v) in [
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
            ("hidden_dropout", self.hidden_dropout),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(bad(format!("{name} must be in [0, 1), got {v}")));
            }
        }
        if !matches!(
            self.attention_dropout_mode.as_str(),
            "post_softmax" | "dropkey"
        ) {
            return Err(bad(format!(
                "attention_dropout_mode must be 'post_softmax' or 'dropkey', got {:?}",
                self.attention_dropout_mode
            )));
        }
        rax_nn::init::InitMode::parse(&self.init_mode).map_err(|_| {
            bad(format!(
                "unsupported fresh-model init_mode: {:?}",
                self.init_mode
            ))
        })?;
        for (name, t) in [
            ("pad_token_id", self.pad_token_id),
            ("bos_token_id", Some(self.bos_token_id)),
            ("eos_token_id", Some(self.eos_token_id)),
        ] {
            if let Some(t) = t {
                if !(0..self.vocab_size).contains(&t) {
                    return Err(bad(format!(
                        "{name} must be in [0, {}) or None, got {t}",
                        self.vocab_size
                    )));
                }
            }
        }
        if let Some(w) = self.attention_window {
            if w <= 0 {
                return Err(bad("attention_window must be positive when provided"));
            }
        }
        dtype_of("param_dtype", &self.param_dtype)?;
        dtype_of("compute_dtype", &self.compute_dtype)?;
        if dtype_of("accum_dtype", &self.accum_dtype)? != DType::F32 {
            return Err(bad("accum_dtype must be float32"));
        }
        dtype_of("attention_softmax_dtype", &self.attention_softmax_dtype)?;
        Ok(())
    }

    /// Per-head Q/K width.
    pub fn head_dim(&self) -> usize {
        (self.z_dim / self.num_heads.max(1)) as usize
    }
    /// Per-head value width.
    pub fn value_head_dim(&self) -> usize {
        (self.value_dim / self.num_heads.max(1)) as usize
    }
    /// RoPE base (10000 by default).
    pub fn effective_rope_base(&self) -> f64 {
        self.rope_base.unwrap_or(10000.0)
    }
    /// Ring-cache capacity: the chunk, or the window in sliding mode.
    pub fn cache_capacity(&self) -> usize {
        self.attention_window.unwrap_or(self.chunk_size) as usize
    }
    /// LM head width.
    pub fn effective_output_size(&self) -> usize {
        if self.output_size == -1 {
            self.vocab_size as usize
        } else {
            self.output_size as usize
        }
    }
    /// Parameter storage dtype of ordinary (non-sensitive) parameters.
    pub fn param(&self) -> DType {
        dtype_of("param_dtype", &self.param_dtype).unwrap_or(DType::F32)
    }
    /// Compute dtype.
    pub fn compute(&self) -> DType {
        dtype_of("compute_dtype", &self.compute_dtype).unwrap_or(DType::F32)
    }
    /// Attention softmax dtype.
    pub fn softmax(&self) -> DType {
        dtype_of("attention_softmax_dtype", &self.attention_softmax_dtype).unwrap_or(DType::F32)
    }

    /// This config with the dtypes of a rax [`Policy`] (validated: accum must be f32, and f16 is
    /// refused with an explanation; megalodon-jax has no f16 policy).
    pub fn with_policy(&self, p: &Policy) -> Result<MegalodonConfig> {
        p.validate(None)?;
        let mut c = self.clone();
        c.param_dtype = dtype_name(p.param)?.into();
        c.compute_dtype = dtype_name(p.compute)?.into();
        c.attention_softmax_dtype = dtype_name(p.softmax)?.into();
        c.accum_dtype = dtype_name(p.accum)?.into();
        c.validate()?;
        Ok(c)
    }

    /// The rax [`Policy`] this config describes.
    pub fn policy(&self) -> Policy {
        Policy {
            param: self.param(),
            compute: self.compute(),
            accum: DType::F32,
            softmax: self.softmax(),
        }
    }
}
