//! DeepSeek-V2 / V3 configuration read from a Hugging Face `config.json`, with the field names
//! and defaults of transformers 5.23's `DeepseekV2Config` / `DeepseekV3Config`. Every field is
//! either understood, validated against what rax implements, or refused by name: an unknown
//! field is an error, not silently ignored.
//!
//! Depends on rax-nn (layer configs) and serde_json.

use rax_core::{Error, Result};
use rax_nn::mla::MlaConfig;
use rax_nn::moe::MoeConfig;
use rax_nn::moe_dispatch::Dispatch;
use rax_nn::moe_router::{GroupLimit, RouterConfig, Scoring};
use rax_nn::rope::RopeLayout;
use rax_nn::yarn::{RopeScaling, Yarn};
use serde_json::{Map, Value};

/// Which architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `model_type: deepseek_v2` (softmax routing, greedy / group-limited greedy).
    V2,
    /// `model_type: deepseek_v3` (sigmoid routing with correction bias, top-2-sum groups).
    V3,
}

/// A DeepSeek causal-LM configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct DeepseekConfig {
    /// V2 or V3.
    pub variant: Variant,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size` (the dense layers' SwiGLU width).
    pub intermediate_size: usize,
    /// `moe_intermediate_size` (each routed expert's width).
    pub moe_intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `n_shared_experts`.
    pub n_shared_experts: usize,
    /// `n_routed_experts`.
    pub n_routed_experts: usize,
    /// `routed_scaling_factor`.
    pub routed_scaling_factor: f64,
    /// `kv_lora_rank`.
    pub kv_lora_rank: usize,
    /// `q_lora_rank` (`null`: a direct query projection).
    pub q_lora_rank: Option<usize>,
    /// `qk_rope_head_dim`.
    pub qk_rope_head_dim: usize,
    /// `qk_nope_head_dim`.
    pub qk_nope_head_dim: usize,
    /// `v_head_dim`.
    pub v_head_dim: usize,
    /// `n_group`.
    pub n_group: usize,
    /// `topk_group`.
    pub topk_group: usize,
    /// `num_experts_per_tok`.
    pub num_experts_per_tok: usize,
    /// `first_k_dense_replace`: layers below it are dense.
    pub first_k_dense_replace: usize,
    /// `norm_topk_prob` (V3 normalises the chosen weights).
    pub norm_topk_prob: bool,
    /// V2's `topk_method`: `greedy` or `group_limited_greedy` (V3: always group-limited).
    pub topk_method: String,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `tie_word_embeddings`.
    pub tie_word_embeddings: bool,
    /// `rope_parameters.rope_theta`.
    pub rope_theta: f64,
    /// `rope_parameters` scaling (default or YaRN).
    pub rope_scaling: RopeScaling,
    /// V3's `rope_interleave` (V2 checkpoints are always interleaved).
    pub rope_interleave: bool,
    /// V3's multi-token-prediction layers (`num_nextn_predict_layers` / `num_mtp_layers`).
    pub num_mtp_layers: usize,
    /// The original JSON object (written back on save, so transformers reads the same config).
    pub raw: Map<String, Value>,
}

fn cfg_err(key: &str, msg: impl std::fmt::Display) -> Error {
    Error::data("deepseek config.json", format!("`{key}`: {msg}"))
}

struct Fields<'a> {
    m: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn get(&self, k: &str) -> Option<&Value> {
        self.m.get(k).filter(|v| !v.is_null())
    }
    fn usize(&self, k: &str, default: Option<usize>) -> Result<usize> {
        match self.get(k) {
            Some(v) => v
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| cfg_err(k, format!("expected a non-negative integer, got {v}"))),
            None => default.ok_or_else(|| cfg_err(k, "is required (no default)")),
        }
    }
    fn opt_usize(&self, k: &str, default: Option<usize>) -> Result<Option<usize>> {
        if self.m.get(k).is_some_and(|v| v.is_null()) {
            return Ok(None);
        }
        match self.get(k) {
            Some(_) => self.usize(k, None).map(Some),
            None => Ok(default),
        }
    }
    fn f64(&self, k: &str, default: f64) -> Result<f64> {
        match self.get(k) {
            Some(v) => v
                .as_f64()
                .ok_or_else(|| cfg_err(k, format!("expected a number, got {v}"))),
            None => Ok(default),
        }
    }
    fn bool(&self, k: &str, default: bool) -> Result<bool> {
        match self.get(k) {
            Some(v) => v
                .as_bool()
                .ok_or_else(|| cfg_err(k, format!("expected true/false, got {v}"))),
            None => Ok(default),
        }
    }
    fn str(&self, k: &str, default: &str) -> Result<String> {
        match self.get(k) {
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| cfg_err(k, format!("expected a string, got {v}"))),
            None => Ok(default.to_string()),
        }
    }
}

/// Fields rax reads or checks (both variants unless noted in [`DeepseekConfig::from_json`]).
const MODEL_FIELDS: &[&str] = &[
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "moe_intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "n_shared_experts",
    "n_routed_experts",
    "routed_scaling_factor",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "n_group",
    "topk_group",
    "num_experts_per_tok",
    "first_k_dense_replace",
    "norm_topk_prob",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "tie_word_embeddings",
    "rope_parameters",
    "rope_scaling",
    "rope_theta",
    "attention_bias",
    "attention_dropout",
    "head_dim",
    "qk_head_dim",
    "pretraining_tp",
    "topk_method",
    "scoring_func",
    "moe_layer_freq",
    "mlp_bias",
    "rope_interleave",
    "num_nextn_predict_layers",
    "num_mtp_layers",
];

/// Fields that do not change the computation (metadata, inference-time switches, training
/// coefficients rax takes from its own recipe, parallelism hints).
const NEUTRAL_FIELDS: &[&str] = &[
    "architectures",
    "model_type",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "use_cache",
    "output_router_logits",
    "initializer_range",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "_name_or_path",
    "aux_loss_alpha",
    "seq_aux",
    "ep_size",
    "router_aux_loss_coef",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
];

fn rope_from(f: &Fields, max_pos: usize) -> Result<(f64, RopeScaling)> {
    let mut theta = f.f64("rope_theta", 10_000.0)?;
    let params = f.get("rope_parameters").or_else(|| f.get("rope_scaling"));
    let Some(p) = params else {
        return Ok((theta, RopeScaling::Default));
    };
    let key = if f.get("rope_parameters").is_some() {
        "rope_parameters"
    } else {
        "rope_scaling"
    };
    let m = p
        .as_object()
        .ok_or_else(|| cfg_err(key, "expected an object"))?;
    let known = [
        "rope_type",
        "type",
        "rope_theta",
        "factor",
        "original_max_position_embeddings",
        "beta_fast",
        "beta_slow",
        "mscale",
        "mscale_all_dim",
        "attention_factor",
        "truncate",
    ];
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(cfg_err(
            &format!("{key}.{k}"),
            "is not supported by rax's DeepSeek models",
        ));
    }
    let rf = Fields { m };
    theta = rf.f64("rope_theta", theta)?;
    let ty = match rf.get("rope_type") {
        Some(_) => rf.str("rope_type", "default")?,
        None => rf.str("type", "default")?,
    };
    match ty.as_str() {
        "default" => Ok((theta, RopeScaling::Default)),
        "yarn" => {
            let orig = rf.usize("original_max_position_embeddings", Some(max_pos))?;
            let factor = match rf.get("factor") {
                Some(_) => rf.f64("factor", 1.0)?,
                None => max_pos as f64 / orig as f64,
            };
            let opt = |k: &str| -> Result<Option<f64>> {
                match rf.get(k) {
                    Some(_) => rf.f64(k, 0.0).map(Some),
                    None => Ok(None),
                }
            };
            // transformers treats 0/absent beta as the paper's defaults (`x or 32`).
            let bf = rf.f64("beta_fast", 32.0)?;
            let bs = rf.f64("beta_slow", 1.0)?;
            Ok((
                theta,
                RopeScaling::Yarn(Yarn {
                    factor,
                    original_max_position: orig,
                    beta_fast: if bf == 0.0 { 32.0 } else { bf },
                    beta_slow: if bs == 0.0 { 1.0 } else { bs },
                    mscale: opt("mscale")?,
                    mscale_all_dim: opt("mscale_all_dim")?,
                    attention_factor: opt("attention_factor")?,
                    truncate: rf.bool("truncate", true)?,
                }),
            ))
        }
        other => Err(cfg_err(
            &format!("{key}.rope_type"),
            format!("`{other}` is not supported (supported: default, yarn)"),
        )),
    }
}

impl DeepseekConfig {
    /// Parses a `config.json` object. `model_type` must be `deepseek_v2` or `deepseek_v3`.
    pub fn from_json(v: &Value) -> Result<DeepseekConfig> {
        let m = v
            .as_object()
            .ok_or_else(|| cfg_err("(root)", "config.json must hold a JSON object"))?;
        let f = Fields { m };
        let mt = f.str("model_type", "")?;
        let variant = match mt.as_str() {
            "deepseek_v2" => Variant::V2,
            "deepseek_v3" => Variant::V3,
            other => {
                return Err(cfg_err(
                    "model_type",
                    format!("`{other}` is not a DeepSeek model (deepseek_v2, deepseek_v3)"),
                ))
            }
        };
        for k in m.keys() {
            if !MODEL_FIELDS.contains(&k.as_str()) && !NEUTRAL_FIELDS.contains(&k.as_str()) {
                return Err(cfg_err(
                    k,
                    "unknown or unsupported field (rax refuses fields it does not implement)",
                ));
            }
            let v3_only = [
                "rope_interleave",
                "num_nextn_predict_layers",
                "num_mtp_layers",
            ];
            let v2_only = ["mlp_bias"];
            if (variant == Variant::V2 && v3_only.contains(&k.as_str()))
                || (variant == Variant::V3 && v2_only.contains(&k.as_str()))
            {
                return Err(cfg_err(k, format!("is not a field of {mt}")));
            }
        }
        let v3 = variant == Variant::V3;
        let d = |a: usize, b: usize| Some(if v3 { a } else { b });
        let heads = f.usize("num_attention_heads", d(128, 32))?;
        let max_pos = f.usize("max_position_embeddings", d(4096, 2048))?;
        let (rope_theta, rope_scaling) = rope_from(&f, max_pos)?;
        let default_method = if v3 { "noaux_tc" } else { "greedy" };
        let cfg = DeepseekConfig {
            variant,
            vocab_size: f.usize("vocab_size", d(129280, 102400))?,
            hidden_size: f.usize("hidden_size", d(7168, 4096))?,
            intermediate_size: f.usize("intermediate_size", d(18432, 11008))?,
            moe_intermediate_size: f.usize("moe_intermediate_size", d(2048, 1407))?,
            num_hidden_layers: f.usize("num_hidden_layers", d(61, 32))?,
            num_attention_heads: heads,
            n_shared_experts: f.usize("n_shared_experts", d(1, 2))?,
            n_routed_experts: f.usize("n_routed_experts", d(256, 64))?,
            routed_scaling_factor: f.f64("routed_scaling_factor", if v3 { 2.5 } else { 1.0 })?,
            kv_lora_rank: f.usize("kv_lora_rank", Some(512))?,
            q_lora_rank: f.opt_usize("q_lora_rank", Some(1536))?,
            qk_rope_head_dim: f.usize("qk_rope_head_dim", Some(64))?,
            qk_nope_head_dim: f.usize("qk_nope_head_dim", Some(128))?,
            v_head_dim: f.usize("v_head_dim", Some(128))?,
            n_group: f
                .opt_usize("n_group", if v3 { Some(8) } else { None })?
                .unwrap_or(1),
            topk_group: f
                .opt_usize("topk_group", if v3 { Some(4) } else { None })?
                .unwrap_or(1),
            num_experts_per_tok: f.usize("num_experts_per_tok", if v3 { Some(8) } else { None })?,
            first_k_dense_replace: f.usize("first_k_dense_replace", d(3, 0))?,
            norm_topk_prob: f.bool("norm_topk_prob", v3)?,
            topk_method: f.str("topk_method", default_method)?,
            max_position_embeddings: max_pos,
            rms_norm_eps: f.f64("rms_norm_eps", 1e-6)?,
            tie_word_embeddings: f.bool("tie_word_embeddings", false)?,
            rope_theta,
            rope_scaling,
            rope_interleave: f.bool("rope_interleave", true)?,
            num_mtp_layers: match f.get("num_mtp_layers") {
                Some(_) => f.usize("num_mtp_layers", None)?,
                None => f.usize("num_nextn_predict_layers", Some(if v3 { 1 } else { 0 }))?,
            },
            raw: m.clone(),
        };
        cfg.check(&f)?;
        Ok(cfg)
    }

    fn check(&self, f: &Fields) -> Result<()> {
        let kv = f.opt_usize("num_key_value_heads", None)?;
        if kv.is_some_and(|k| k != self.num_attention_heads) {
            return Err(cfg_err(
                "num_key_value_heads",
                "must equal num_attention_heads (MLA expands per-head keys from the latent)",
            ));
        }
        let act = f.str("hidden_act", "silu")?;
        if act != "silu" {
            return Err(cfg_err(
                "hidden_act",
                format!("`{act}` is not supported (silu)"),
            ));
        }
        for k in ["attention_bias", "mlp_bias"] {
            if f.bool(k, false)? {
                return Err(cfg_err(k, "biases are not supported (false)"));
            }
        }
        if f.f64("attention_dropout", 0.0)? != 0.0 {
            return Err(cfg_err(
                "attention_dropout",
                "dropout is not supported (0.0)",
            ));
        }
        if f.usize("pretraining_tp", Some(1))? != 1 {
            return Err(cfg_err("pretraining_tp", "must be 1"));
        }
        if f.usize("moe_layer_freq", Some(1))? != 1 {
            return Err(cfg_err(
                "moe_layer_freq",
                "must be 1 (every layer after the dense ones is MoE)",
            ));
        }
        if let Some(h) = f.opt_usize("head_dim", None)? {
            if h != self.qk_rope_head_dim {
                return Err(cfg_err(
                    "head_dim",
                    format!("must equal qk_rope_head_dim {}", self.qk_rope_head_dim),
                ));
            }
        }
        if let Some(h) = f.opt_usize("qk_head_dim", None)? {
            if h != self.qk_nope_head_dim + self.qk_rope_head_dim {
                return Err(cfg_err(
                    "qk_head_dim",
                    "must equal qk_nope_head_dim + qk_rope_head_dim",
                ));
            }
        }
        let scoring = f.str(
            "scoring_func",
            if self.variant == Variant::V3 {
                "sigmoid"
            } else {
                "softmax"
            },
        )?;
        let want = if self.variant == Variant::V3 {
            "sigmoid"
        } else {
            "softmax"
        };
        if scoring != want {
            return Err(cfg_err(
                "scoring_func",
                format!("`{scoring}` differs from transformers' {want} for this model_type"),
            ));
        }
        match (self.variant, self.topk_method.as_str()) {
            (Variant::V3, "noaux_tc")
            | (Variant::V2, "greedy")
            | (Variant::V2, "group_limited_greedy") => {}
            (_, m) => {
                return Err(cfg_err(
                    "topk_method",
                    format!("`{m}` is not supported for this model_type"),
                ))
            }
        }
        if self.variant == Variant::V2 && self.norm_topk_prob {
            return Err(cfg_err(
                "norm_topk_prob",
                "true is not supported for deepseek_v2 (transformers 5.23 ignores it; rax refuses rather than guess)",
            ));
        }
        let e = self.n_routed_experts;
        let moe = self.first_k_dense_replace < self.num_hidden_layers && e > 0;
        if moe {
            let grouped = self.variant == Variant::V3 || self.topk_method == "group_limited_greedy";
            if grouped
                && (self.n_group == 0
                    || !e.is_multiple_of(self.n_group)
                    || self.topk_group > self.n_group
                    || self.topk_group == 0)
            {
                return Err(cfg_err("n_group", format!("n_routed_experts {e} must divide into n_group {} groups, 1 <= topk_group {} <= n_group", self.n_group, self.topk_group)));
            }
            let reachable = if grouped {
                self.topk_group * (e / self.n_group.max(1))
            } else {
                e
            };
            if self.num_experts_per_tok == 0 || self.num_experts_per_tok > reachable {
                return Err(cfg_err(
                    "num_experts_per_tok",
                    format!("must be in 1..={reachable} (experts in the kept groups)"),
                ));
            }
        }
        if !self.qk_rope_head_dim.is_multiple_of(2)
            || self.num_attention_heads == 0
            || self.hidden_size == 0
        {
            return Err(cfg_err(
                "qk_rope_head_dim",
                "must be even, with non-zero heads and hidden size",
            ));
        }
        Ok(())
    }

    /// Reads `dir/config.json`.
    pub fn from_dir(dir: &std::path::Path) -> Result<DeepseekConfig> {
        let p = dir.join("config.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::Io {
            path: p.display().to_string(),
            msg: e.to_string(),
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::Io {
            path: p.display().to_string(),
            msg: format!("not valid JSON: {e}"),
        })?;
        Self::from_json(&v)
    }

    /// The MLA layer configuration.
    pub fn mla(&self) -> MlaConfig {
        let layout = if self.variant == Variant::V2 || self.rope_interleave {
            RopeLayout::Interleaved
        } else {
            RopeLayout::HalfSplit
        };
        MlaConfig {
            hidden: self.hidden_size,
            heads: self.num_attention_heads,
            q_lora_rank: self.q_lora_rank,
            kv_lora_rank: self.kv_lora_rank,
            qk_nope_dim: self.qk_nope_head_dim,
            qk_rope_dim: self.qk_rope_head_dim,
            v_dim: self.v_head_dim,
            eps: 1e-6,
            rope_layout: layout,
            softmax_scale: self
                .rope_scaling
                .mla_softmax_scale(self.qk_nope_head_dim + self.qk_rope_head_dim),
        }
    }

    /// The MoE layer configuration with a dispatch path.
    pub fn moe(&self, dispatch: Dispatch) -> MoeConfig {
        let (scoring, group) = match self.variant {
            Variant::V3 => (Scoring::Sigmoid, GroupLimit::TopTwoSum),
            Variant::V2 if self.topk_method == "group_limited_greedy" => {
                (Scoring::Softmax, GroupLimit::MaxGreedy)
            }
            Variant::V2 => (Scoring::Softmax, GroupLimit::None),
        };
        MoeConfig {
            hidden: self.hidden_size,
            expert_inter: self.moe_intermediate_size,
            n_shared: self.n_shared_experts,
            router: RouterConfig {
                experts: self.n_routed_experts,
                top_k: self.num_experts_per_tok,
                scoring,
                group,
                n_group: self.n_group.max(1),
                topk_group: self.topk_group.max(1),
                norm_topk_prob: self.norm_topk_prob && self.variant == Variant::V3,
                routed_scaling_factor: self.routed_scaling_factor,
            },
            dispatch,
        }
    }

    /// True when layer `i` is an MoE layer.
    pub fn is_moe(&self, i: usize) -> bool {
        i >= self.first_k_dense_replace && self.n_routed_experts > 0
    }

    /// The `family()` name.
    pub fn family(&self) -> &'static str {
        match self.variant {
            Variant::V2 => "deepseek_v2",
            Variant::V3 => "deepseek_v3",
        }
    }
}
