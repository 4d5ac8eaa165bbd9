//! The interface every model family offers the `rax` program, and recognition of a checkpoint's
//! family from the checkpoint itself: a Hugging Face directory (`config.json` with `model_type`)
//! or a megalodon-jax native safetensors file (`config_json` in the header metadata).

use rax_core::{Error, Literal, Policy, Result};
use rax_runtime::Runtime;
use std::path::Path;

/// Sampling settings of [`CausalLm::generate`]: greedy unless a temperature is given.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Tokens to append after the prompt.
    pub max_new_tokens: usize,
    /// Softmax temperature; `None` (or 0) means greedy (argmax).
    pub temperature: Option<f64>,
    /// Keep only the k most likely tokens before sampling.
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches p (nucleus sampling).
    pub top_p: Option<f64>,
    /// Seed of rax's PRNG for sampling.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 16,
            temperature: None,
            top_k: None,
            top_p: None,
            seed: 0,
        }
    }
}

/// A loaded causal language model, ready to evaluate and generate on a runtime.
pub trait CausalLm {
    /// The family name reported by `rax eval` (`megalodon`, `deepseek_v3`, `deepseek_v2`, ...).
    fn family(&self) -> String;
    /// Vocabulary size: valid token ids are `0..vocab_size()`.
    fn vocab_size(&self) -> usize;
    /// Number of scalar parameters.
    fn param_count(&self) -> usize;
    /// f32 logits `[B, T, V]` of int32 `tokens [B, T]`.
    fn logits(&self, rt: &Runtime, tokens: &Literal) -> Result<Literal>;
    /// Mean next-token cross-entropy of `tokens[:, 1:]` given `tokens[:, :-1]`, in f32.
    fn loss(&self, rt: &Runtime, tokens: &Literal) -> Result<f64>;
    /// int32 `[B, P + N]`: the prompt `[B, P]` followed by `N = max_new_tokens` new tokens.
    fn generate(&self, rt: &Runtime, prompt: &Literal, opts: &GenerateOptions) -> Result<Literal>;
}

/// Which family a checkpoint holds, recognised from its own files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// A megalodon-jax 0.2.2 native checkpoint (safetensors with `config_json` metadata).
    Megalodon,
    /// A Hugging Face directory whose `config.json` names this `model_type`.
    HuggingFace(String),
}

fn io(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// Reads the JSON metadata map of a safetensors file's header without reading the tensors.
pub fn safetensors_metadata(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e.to_string()))?;
    let file_len = f.metadata().map_err(|e| io(path, e.to_string()))?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| {
        io(
            path,
            "not a safetensors file: shorter than its 8-byte header length",
        )
    })?;
    let n = u64::from_le_bytes(n);
    if n > 100 << 20 || n + 8 > file_len {
        return Err(io(
            path,
            format!("not a safetensors file: header length {n} does not fit the file ({file_len} bytes)"),
        ));
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf)
        .map_err(|e| io(path, e.to_string()))?;
    let header: serde_json::Value = serde_json::from_slice(&buf).map_err(|e| {
        io(
            path,
            format!("not a safetensors file: header is not JSON ({e})"),
        )
    })?;
    Ok(header
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .cloned()
        .unwrap_or_default())
}

/// Recognises the family of the checkpoint at `path`.
pub fn detect(path: &Path) -> Result<Format> {
    if path.is_dir() {
        let cfg = path.join("config.json");
        let text = std::fs::read_to_string(&cfg).map_err(|e| {
            io(
                path,
                format!("not a checkpoint directory: cannot read config.json ({e})"),
            )
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| io(&cfg, format!("config.json is not valid JSON: {e}")))?;
        let mt = v
            .get("model_type")
            .and_then(|m| m.as_str())
            .ok_or_else(|| io(&cfg, "config.json has no string field `model_type`"))?;
        return Ok(Format::HuggingFace(mt.to_string()));
    }
    if !path.exists() {
        return Err(io(path, "no such file or directory"));
    }
    let meta = safetensors_metadata(path)?;
    if meta.contains_key("config_json") {
        return Ok(Format::Megalodon);
    }
    Err(io(
        path,
        "unrecognised checkpoint: a safetensors file without `config_json` metadata (expected a \
         megalodon-jax checkpoint or a Hugging Face directory)",
    ))
}

/// Loads the checkpoint at `path` as a [`CausalLm`], recognising its family. `policy` overrides
/// the compute policy (sensitive parameters stay f32 whatever it says).
pub fn load(path: &Path, policy: Option<&Policy>) -> Result<Box<dyn CausalLm>> {
    let _ = policy;
    match detect(path)? {
        Format::Megalodon => Ok(Box::new(crate::megalodon::causal_lm::MegalodonLm::from(
            crate::megalodon::checkpoint::load(path, policy)?,
        ))),
        Format::HuggingFace(mt) if mt == "deepseek_v3" || mt == "deepseek_v2" => Ok(Box::new(
            crate::deepseek::generate::DeepseekLm::load(path, policy)?,
        )),
        Format::HuggingFace(mt) => Err(io(
            path,
            format!("model_type `{mt}` is not supported (supported: deepseek_v2, deepseek_v3)"),
        )),
    }
}
