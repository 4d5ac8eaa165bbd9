//! The run configuration of `rax train`: a TOML file read with serde. Every table denies
//! unknown keys, and every value is checked while it is read (positive learning rates, known
//! optimizer and schedule names, a valid policy string), so a mistake is an error naming the
//! key, the file and its line — the toml crate's spans give the line.
//!
//! The model is an enum with one variant per family (`family = "reference_lm"`, ...): adding a
//! family is adding a variant and its `TrainModel`.

use rax_core::{Error, Policy, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The embedded default run (`rax train` with no arguments).
pub const DEFAULT_CONFIG: &str = include_str!("../../../../examples/configs/default.toml");

/// A whole run.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of the initial weights, the data order and the PRNG key.
    #[serde(default)]
    pub seed: u64,
    /// Optimizer steps to run.
    pub steps: u64,
    /// The dtype policy, jmp style (`p=f32,c=bf16,a=f32,s=f32`, or `f32`).
    #[serde(default = "default_policy")]
    pub policy: PolicyString,
    /// `policy` (sensitive leaves stay f32) or `blanket` (every floating leaf, norm scales
    /// included, stored in the policy's param dtype: what `model.to(bfloat16)` does).
    #[serde(default)]
    pub cast: CastMode,
    /// The model family and its sizes.
    pub model: ModelConfig,
    /// The training data.
    pub data: DataConfig,
    /// Batch shape and gradient accumulation.
    pub batch: BatchConfig,
    /// Optimizer with parameter groups.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule (a multiplier on every group's `lr`).
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Checkpoint cadence.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// Held-out loss cadence.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Diagnostics cadence and thresholds.
    #[serde(default)]
    pub diagnostics: DiagnosticsConfig,
}

fn default_policy() -> PolicyString {
    PolicyString("f32".into())
}

/// A policy string, checked when read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyString(pub String);

impl PolicyString {
    /// The parsed and validated policy (`f32` is all-f32).
    pub fn policy(&self) -> Result<Policy> {
        Policy::parse_valid(&self.0, None)
    }
}

impl TryFrom<String> for PolicyString {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        let p = PolicyString(s);
        p.policy().map_err(|e| e.to_string())?;
        Ok(p)
    }
}

impl From<PolicyString> for String {
    fn from(p: PolicyString) -> String {
        p.0
    }
}

/// How the policy's param dtype is applied to stored parameters.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CastMode {
    /// Sensitive leaves (norm scales) stay f32 whatever the policy says.
    #[default]
    Policy,
    /// Every floating leaf is stored in the param dtype (the seed-000 bug, on purpose).
    Blanket,
}

/// A number that must be > 0 (checked while reading).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "f64", into = "f64")]
pub struct Positive(pub f64);

impl TryFrom<f64> for Positive {
    type Error = String;
    fn try_from(x: f64) -> std::result::Result<Self, String> {
        if x.is_finite() && x > 0.0 {
            Ok(Positive(x))
        } else {
            Err(format!("must be a finite number > 0, got {x}"))
        }
    }
}

impl From<Positive> for f64 {
    fn from(p: Positive) -> f64 {
        p.0
    }
}

/// A number in [0, 1) (checked while reading).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "f64", into = "f64")]
pub struct Fraction(pub f64);

impl TryFrom<f64> for Fraction {
    type Error = String;
    fn try_from(x: f64) -> std::result::Result<Self, String> {
        if (0.0..1.0).contains(&x) {
            Ok(Fraction(x))
        } else {
            Err(format!("must be in [0, 1), got {x}"))
        }
    }
}

impl From<Fraction> for f64 {
    fn from(p: Fraction) -> f64 {
        p.0
    }
}

/// An integer that must be >= 1 (checked while reading).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "u64", into = "u64")]
pub struct AtLeastOne(pub u64);

impl TryFrom<u64> for AtLeastOne {
    type Error = String;
    fn try_from(x: u64) -> std::result::Result<Self, String> {
        if x >= 1 {
            Ok(AtLeastOne(x))
        } else {
            Err("must be at least 1".into())
        }
    }
}

impl From<AtLeastOne> for u64 {
    fn from(p: AtLeastOne) -> u64 {
        p.0
    }
}

/// A number that must be >= 0 (checked while reading).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "f64", into = "f64")]
pub struct NonNegative(pub f64);

impl TryFrom<f64> for NonNegative {
    type Error = String;
    fn try_from(x: f64) -> std::result::Result<Self, String> {
        if x.is_finite() && x >= 0.0 {
            Ok(NonNegative(x))
        } else {
            Err(format!("must be a finite number >= 0, got {x}"))
        }
    }
}

impl From<NonNegative> for f64 {
    fn from(p: NonNegative) -> f64 {
        p.0
    }
}

/// The MoE balance loss of a DeepSeek run.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BalanceLoss {
    /// No balance loss.
    #[default]
    None,
    /// The Switch Transformer loss.
    Switch,
    /// DeepSeek's sequence-wise loss.
    Sequence,
}

/// The MoE dispatch path of a DeepSeek run.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DispatchKind {
    /// Every expert on every token, masked.
    #[default]
    Dense,
    /// Static per-expert capacity; overflow dropped and counted.
    Capacity,
    /// Sort by expert, grouped GEMM, unsort.
    Dropless,
}

fn default_capacity() -> Positive {
    Positive(1.25)
}

/// The model family and its configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "family", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// The reference byte-level LM (rax_models::lm).
    ReferenceLm {
        /// Vocabulary size (256 for bytes).
        vocab: AtLeastOne,
        /// Model width.
        width: AtLeastOne,
        /// Blocks.
        layers: AtLeastOne,
        /// Attention heads (must divide width).
        heads: AtLeastOne,
    },
    /// DeepSeek V2/V3 (MLA + MoE, rax_models::deepseek): `config` holds the Hugging Face
    /// `config.json` fields (`model_type = "deepseek_v2"`, `hidden_size`, ...), checked by
    /// rax's DeepSeek config reader, which names any field it does not implement.
    Deepseek {
        /// The config.json fields.
        config: serde_json::Map<String, serde_json::Value>,
        /// Router z-loss coefficient (mean logsumexp² of the router logits, per MoE layer).
        #[serde(default)]
        router_z_loss: NonNegative,
        /// Balance loss: `none`, `switch` or `sequence` (DeepSeek's sequence-wise loss).
        #[serde(default)]
        balance_loss: BalanceLoss,
        /// Coefficient of the balance loss.
        #[serde(default)]
        balance_coef: NonNegative,
        /// MoE dispatch: `dense` (the oracle), `capacity` or `dropless`.
        #[serde(default)]
        dispatch: DispatchKind,
        /// Capacity factor of `dispatch = "capacity"`.
        #[serde(default = "default_capacity")]
        capacity_factor: Positive,
    },
    /// The test-time-training byte LM of seed 002 (rax_models::ttt): TTT-Linear blocks whose
    /// f32 fast weight takes an inner gradient step per chunk inside the forward.
    TttLm {
        /// Vocabulary size (256 for bytes).
        vocab: AtLeastOne,
        /// Model width.
        width: AtLeastOne,
        /// Blocks.
        layers: AtLeastOne,
        /// Tokens per inner step (must divide batch.seq_len).
        chunk: AtLeastOne,
        /// Inner learning rate η.
        inner_lr: Positive,
    },
    /// Megalodon (rax_models::megalodon): `config` holds megalodon-jax 0.2.2
    /// `MegalodonConfig` fields (`vocab_size`, `model_dim`, `num_layers`, ...; unknown fields
    /// are refused); its dtype fields are overridden by the run's policy.
    Megalodon {
        /// The MegalodonConfig fields.
        config: serde_json::Map<String, serde_json::Value>,
    },
}

impl ModelConfig {
    /// The family name.
    pub fn family(&self) -> &'static str {
        match self {
            ModelConfig::ReferenceLm { .. } => "reference_lm",
            ModelConfig::Deepseek { .. } => "deepseek",
            ModelConfig::Megalodon { .. } => "megalodon",
            ModelConfig::TttLm { .. } => "ttt_lm",
        }
    }

    /// The vocabulary size.
    pub fn vocab(&self) -> usize {
        match self {
            ModelConfig::ReferenceLm { vocab, .. } | ModelConfig::TttLm { vocab, .. } => {
                vocab.0 as usize
            }
            ModelConfig::Deepseek { config, .. } | ModelConfig::Megalodon { config } => config
                .get("vocab_size")
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
                as usize,
        }
    }
}

/// Where the tokens come from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A UTF-8 text file or directory (bytes, vocab 256), an int32 `.npy`, a raw little-endian
    /// int32 `.bin`, or `builtin` (the corpus embedded in the program). Relative paths are
    /// relative to the config file.
    pub path: String,
    /// `auto` (by extension), `text`, `npy` or `bin`.
    #[serde(default)]
    pub format: DataFormat,
    /// Fraction of the tokens held out for the eval loss (the tail of the stream).
    #[serde(default = "default_heldout")]
    pub heldout_fraction: Fraction,
}

fn default_heldout() -> Fraction {
    Fraction(0.05)
}

/// The data format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// By extension: `.npy`, `.bin`, else text.
    #[default]
    Auto,
    /// Bytes of UTF-8 text.
    Text,
    /// int32 `.npy`.
    Npy,
    /// Raw little-endian int32.
    Bin,
}

/// Batch shape.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Sequences per micro-batch.
    pub size: AtLeastOne,
    /// Tokens per sequence (the model sees `seq_len` inputs and predicts `seq_len` targets).
    pub seq_len: AtLeastOne,
    /// Micro-batches whose mean gradient makes one optimizer step.
    #[serde(default = "one")]
    pub grad_accum: AtLeastOne,
}

fn one() -> AtLeastOne {
    AtLeastOne(1)
}

/// The optimizer: an optional global-norm clip, then one optimizer per parameter group.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Clip the gradient to this global norm before the groups' optimizers.
    #[serde(default)]
    pub clip_global_norm: Option<Positive>,
    /// Keep f32 master copies of parameters stored below f32.
    #[serde(default)]
    pub master_weights: bool,
    /// The groups; each leaf goes to the first group whose rule matches it.
    pub groups: Vec<GroupConfig>,
}

/// The optimizers a group can use.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay).
    Adamw,
    /// Adam.
    Adam,
    /// Lion.
    Lion,
    /// Muon (2-D leaves only: Newton–Schulz orthogonalised momentum).
    Muon,
    /// SGD (optionally with momentum).
    Sgd,
}

impl OptimizerKind {
    /// The name used in configs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Lion => "lion",
            OptimizerKind::Muon => "muon",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

/// One parameter group: which leaves (path patterns and shape rules) and their optimizer.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name (reports, metrics).
    pub name: String,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: Positive,
    /// Decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Momentum (Muon 0.95, SGD none) or b1 (Adam/Lion).
    #[serde(default)]
    pub b1: Option<f64>,
    /// b2 (Adam 0.999, Lion 0.99).
    #[serde(default)]
    pub b2: Option<f64>,
    /// Glob patterns over dotted leaf paths (`*` within a segment, `**` across segments); a
    /// leaf matches when any pattern does. Empty: every path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Patterns a leaf must not match.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Shape rule: exactly this rank.
    #[serde(default)]
    pub ndim: Option<usize>,
    /// Shape rule: at least this rank.
    #[serde(default)]
    pub min_ndim: Option<usize>,
    /// Only leaves declared sensitive (true) or not sensitive (false).
    #[serde(default)]
    pub sensitive: Option<bool>,
}

/// The learning-rate schedule: a multiplier on each group's `lr`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `constant`, `warmup_cosine` or `linear`.
    #[serde(default)]
    pub kind: ScheduleKind,
    /// Linear warm-up steps from 0.
    #[serde(default)]
    pub warmup: u64,
    /// The multiplier reached at the end (cosine / linear).
    #[serde(default = "default_final")]
    pub final_factor: f64,
    /// Steps over which the schedule decays; default: the run's steps when it started.
    #[serde(default)]
    pub decay_steps: Option<u64>,
}

fn default_final() -> f64 {
    0.1
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            kind: ScheduleKind::Constant,
            warmup: 0,
            final_factor: default_final(),
            decay_steps: None,
        }
    }
}

/// Schedule shapes.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// 1 after the warm-up.
    #[default]
    Constant,
    /// Warm-up then cosine decay to `final_factor`.
    WarmupCosine,
    /// Warm-up then linear decay to `final_factor`.
    Linear,
}

/// Checkpoint cadence.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Save every this many steps (and at the end); 0: only at the end.
    #[serde(default = "default_ckpt_every")]
    pub every: u64,
    /// Committed checkpoints kept (the oldest are deleted).
    #[serde(default = "default_keep")]
    pub keep: AtLeastOne,
}

fn default_ckpt_every() -> u64 {
    100
}
fn default_keep() -> AtLeastOne {
    AtLeastOne(3)
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            every: default_ckpt_every(),
            keep: default_keep(),
        }
    }
}

/// Held-out loss cadence.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Every this many steps (and at the end); 0: only at the end.
    #[serde(default = "default_eval_every")]
    pub every: u64,
    /// Held-out batches per evaluation.
    #[serde(default = "default_eval_batches")]
    pub batches: AtLeastOne,
}

fn default_eval_every() -> u64 {
    50
}
fn default_eval_batches() -> AtLeastOne {
    AtLeastOne(2)
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            every: default_eval_every(),
            batches: default_eval_batches(),
        }
    }
}

/// Diagnostics cadence and thresholds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsConfig {
    /// Per-group statistics every this many steps (and at the end).
    #[serde(default = "default_diag_every")]
    pub every: u64,
    /// Stop after this many consecutive skipped (non-finite) steps.
    #[serde(default = "default_max_skips")]
    pub max_consecutive_skips: AtLeastOne,
    /// A loss above `spike_factor` x the recent mean is flagged as a spike.
    #[serde(default = "default_spike")]
    pub spike_factor: Positive,
    /// Progress lines (when not on a terminal) every this many steps.
    #[serde(default = "default_log_every")]
    pub log_every: AtLeastOne,
}

fn default_diag_every() -> u64 {
    50
}
fn default_max_skips() -> AtLeastOne {
    AtLeastOne(5)
}
fn default_spike() -> Positive {
    Positive(2.0)
}
fn default_log_every() -> AtLeastOne {
    AtLeastOne(10)
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        DiagnosticsConfig {
            every: default_diag_every(),
            max_consecutive_skips: default_max_skips(),
            spike_factor: default_spike(),
            log_every: default_log_every(),
        }
    }
}

/// The 1-based line of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses a config from its text; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<RunConfig> {
    let cfg: RunConfig = toml::from_str(text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        let msg = msg.trim_end_matches('.').to_string();
        let key = e
            .span()
            .map(|s| {
                let mut line = line_of(text, s.start);
                // serde reads a tagged enum (`[model]` with `family = ...`) from a buffered
                // table, so toml's span covers the whole table; an unknown field is then
                // located by its own `name =` line inside that table.
                if let Some(name) = unknown_field(&msg) {
                    if let Some(l) = key_line_from(text, name, line, true) {
                        line = l;
                    }
                }
                let src = text.lines().nth(line - 1).unwrap_or("").trim();
                format!("{origin}:{line}: {msg} (at `{src}`)")
            })
            .unwrap_or_else(|| format!("{origin}: {msg}"));
        Error::data("rax train config", key)
    })?;
    check(&cfg, text, origin)?;
    Ok(cfg)
}

/// The field named by serde's "unknown field `name`, expected ..." message.
fn unknown_field(msg: &str) -> Option<&str> {
    let rest = msg.split("unknown field `").nth(1)?;
    rest.split('`').next()
}

/// The line of `key = ` at or after line `from` (1-based); with `one_table`, the search stops
/// at the next table header.
fn key_line_from(text: &str, key: &str, from: usize, one_table: bool) -> Option<usize> {
    for (i, l) in text.lines().enumerate().skip(from.saturating_sub(1)) {
        let l = l.trim_start();
        if one_table && i + 1 > from && l.starts_with('[') {
            return None;
        }
        if l.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return Some(i + 1);
        }
    }
    None
}

/// The line of `key = ` in a table (best effort, for checks made after reading).
fn key_line(text: &str, key: &str) -> Option<usize> {
    key_line_from(text, key, 1, false)
}

fn at(text: &str, origin: &str, key: &str, msg: String) -> Error {
    let loc = key_line(text, key)
        .map(|l| format!("{origin}:{l}"))
        .unwrap_or_else(|| origin.to_string());
    Error::data("rax train config", format!("{loc}: `{key}` {msg}"))
}

/// A `[model.config]` the family's reader refused: the error at the line of the field it
/// names (the first backquoted word that is a key of the file), else at `family`.
fn model_config_error(text: &str, origin: &str, family: &str, msg: &str) -> Error {
    let named = msg
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|w| !w.is_empty() && key_line(text, w).is_some());
    match named {
        Some(k) => at(
            text,
            origin,
            k,
            format!("in [model.config] ({family}): {msg}"),
        ),
        None => at(
            text,
            origin,
            "family",
            format!("= \"{family}\": [model.config] {msg}"),
        ),
    }
}

/// Checks that involve several keys.
fn check(cfg: &RunConfig, text: &str, origin: &str) -> Result<()> {
    match &cfg.model {
        ModelConfig::ReferenceLm { width, heads, .. } => {
            if width.0 % heads.0 != 0 {
                return Err(at(
                    text,
                    origin,
                    "heads",
                    format!("= {} does not divide width = {}", heads.0, width.0),
                ));
            }
        }
        ModelConfig::Deepseek { config, .. } => {
            rax_models::deepseek::config::DeepseekConfig::from_json(&serde_json::Value::Object(
                config.clone(),
            ))
            .map_err(|e| model_config_error(text, origin, "deepseek", &e.to_string()))?;
        }
        ModelConfig::TttLm { chunk, .. } => {
            if !cfg.batch.seq_len.0.is_multiple_of(chunk.0) {
                return Err(at(
                    text,
                    origin,
                    "chunk",
                    format!(
                        "= {} does not divide batch.seq_len = {}",
                        chunk.0, cfg.batch.seq_len.0
                    ),
                ));
            }
        }
        ModelConfig::Megalodon { config } => {
            rax_models::megalodon::config::MegalodonConfig::from_json(
                &serde_json::Value::Object(config.clone()).to_string(),
            )
            .map_err(|e| model_config_error(text, origin, "megalodon", &e.to_string()))?;
        }
    }
    if cfg.optimizer.groups.is_empty() {
        return Err(at(
            text,
            origin,
            "groups",
            "is empty: give at least one [[optimizer.groups]]".into(),
        ));
    }
    for g in &cfg.optimizer.groups {
        for p in g.paths.iter().chain(&g.exclude) {
            if p.is_empty() {
                return Err(at(
                    text,
                    origin,
                    "paths",
                    format!("of group `{}` has an empty pattern", g.name),
                ));
            }
        }
        if !(0.0..1.0).contains(&g.b1.unwrap_or(0.5)) || !(0.0..1.0).contains(&g.b2.unwrap_or(0.5))
        {
            return Err(at(
                text,
                origin,
                "b1",
                format!("/ b2 of group `{}` must be in [0, 1)", g.name),
            ));
        }
    }
    if cfg.schedule.warmup
        > cfg
            .schedule
            .decay_steps
            .unwrap_or(cfg.steps.max(cfg.schedule.warmup))
    {
        return Err(at(
            text,
            origin,
            "warmup",
            format!("= {} exceeds the decay steps", cfg.schedule.warmup),
        ));
    }
    Ok(())
}

/// Reads and parses a config file.
pub fn load(path: &Path) -> Result<RunConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        msg: format!("cannot read the run config: {e}"),
    })?;
    parse(&text, &path.display().to_string())
}

/// The config as TOML text (what is saved in the run directory).
pub fn to_toml(cfg: &RunConfig) -> Result<String> {
    toml::to_string(cfg).map_err(|e| Error::data("rax train config", e.to_string()))
}

/// Resolves a data path relative to the config file's directory.
pub fn resolve_data_path(data: &str, base: Option<&Path>) -> PathBuf {
    let p = PathBuf::from(data);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    }
}

/// What identifies a run for resuming: the config without the keys that may change between
/// invocations (`steps`, cadences). Two checkpoints of one identity continue the same run.
pub fn identity(cfg: &RunConfig) -> String {
    let mut c = cfg.clone();
    c.steps = 0;
    c.checkpoint = CheckpointConfig::default();
    c.eval.every = 0;
    c.diagnostics.every = 0;
    c.diagnostics.log_every = AtLeastOne(1);
    serde_json::to_string(&c).unwrap_or_default()
}

/// The keys whose values differ between two configs (for the refusal message).
pub fn differing_keys(a: &RunConfig, b: &RunConfig) -> Vec<String> {
    fn walk(p: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let q = if p.is_empty() {
                        k.clone()
                    } else {
                        format!("{p}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => walk(&q, u, v, out),
                        _ => out.push(q),
                    }
                }
            }
            _ if a != b => out.push(format!("{p} ({a} vs {b})")),
            _ => {}
        }
    }
    let (x, y) = (
        serde_json::from_str(&identity(a)).unwrap_or_default(),
        serde_json::from_str(&identity(b)).unwrap_or_default(),
    );
    let mut out = Vec::new();
    walk("", &x, &y, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = include_str!("../../../../examples/configs/smoke.toml");

    #[test]
    fn the_smoke_config_parses() {
        let c = parse(GOOD, "smoke.toml").unwrap();
        assert_eq!(c.model.family(), "reference_lm");
        assert!(!c.optimizer.groups.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let bad = GOOD.replacen("[batch]\n", "[batch]\nsizee = 3\n", 1);
        let line = bad.lines().position(|l| l.starts_with("sizee")).unwrap() + 1;
        let e = parse(&bad, "run.toml").unwrap_err().to_string();
        assert!(
            e.contains("sizee") && e.contains(&format!("run.toml:{line}")),
            "{e}"
        );
    }

    #[test]
    fn bad_value_names_key_and_line() {
        let bad = GOOD.replacen("lr = ", "lr = -", 1);
        let line = bad.lines().position(|l| l.starts_with("lr = -")).unwrap() + 1;
        let e = parse(&bad, "run.toml").unwrap_err().to_string();
        assert!(
            e.contains("> 0") && e.contains(&format!("run.toml:{line}")),
            "{e}"
        );
        let bad = GOOD.replacen("policy = \"", "policy = \"q=f32,", 1);
        let e = parse(&bad, "run.toml").unwrap_err().to_string();
        assert!(
            e.contains("unknown key `q`") && e.contains("run.toml:"),
            "{e}"
        );
        let bad = GOOD.replacen("optimizer = \"", "optimizer = \"x", 1);
        let e = parse(&bad, "run.toml").unwrap_err().to_string();
        assert!(
            e.contains("unknown variant") && e.contains("run.toml:"),
            "{e}"
        );
    }

    #[test]
    fn identity_ignores_steps_but_not_the_model() {
        let a = parse(GOOD, "a").unwrap();
        let mut b = a.clone();
        b.steps += 10;
        assert_eq!(identity(&a), identity(&b));
        b.seed += 1;
        assert_ne!(identity(&a), identity(&b));
        assert_eq!(
            differing_keys(&a, &b),
            vec![format!("seed ({} vs {})", a.seed, a.seed + 1)]
        );
    }
}
