//! The [`CausalLm`] interface for a loaded Megalodon checkpoint: logits and the mean
//! next-token loss run as jitted programs on the given runtime; generation is delegated to
//! `crate::megalodon::generate::generate` (written by the inference work in
//! `megalodon/generate.rs`); until that module exists, `generate` reports
//! [`Error::Unsupported`].
//!
//! Depends on rax-core, rax-runtime, `crate::family`, `checkpoint`, `loss`, `model`.

use super::checkpoint::Loaded;
use super::config::MegalodonConfig;
use super::loss::lm_loss;
use super::model::{check_tokens, MegalodonForCausalLM};
use crate::family::{CausalLm, GenerateOptions};
use rax_core::{DType, Error, Literal, Result, Tensor};
use rax_runtime::Runtime;

/// A Megalodon model ready for `rax eval` / `rax generate`.
#[derive(Clone, Debug)]
pub struct MegalodonLm {
    /// Config (with any policy override).
    pub config: MegalodonConfig,
    /// Parameters.
    pub params: MegalodonForCausalLM,
}

impl From<Loaded> for MegalodonLm {
    fn from(l: Loaded) -> Self {
        MegalodonLm {
            config: l.config,
            params: l.params,
        }
    }
}

fn tokens_tensor(cfg: &MegalodonConfig, tokens: &Literal) -> Result<Tensor> {
    let t = Tensor::from_literal(tokens.clone());
    if t.rank() != 2 || !t.dtype().is_int() {
        return Err(Error::shape(
            "megalodon",
            "tokens must be an integer [batch, seq] array",
            &[t.aval()],
        ));
    }
    check_tokens(&t, cfg.vocab_size as usize, "tokens")?;
    Ok(t.cast(DType::I32))
}

impl CausalLm for MegalodonLm {
    fn family(&self) -> String {
        "megalodon".into()
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size as usize
    }
    fn param_count(&self) -> usize {
        self.params.param_count()
    }
    fn logits(&self, rt: &Runtime, tokens: &Literal) -> Result<Literal> {
        let t = tokens_tensor(&self.config, tokens)?;
        let cfg = self.config.clone();
        let f = rt.jit(move |(p, t): &(MegalodonForCausalLM, Tensor)| p.logits(&cfg, t));
        f.call(&(self.params.clone(), t))?.to_literal()
    }
    fn loss(&self, rt: &Runtime, tokens: &Literal) -> Result<f64> {
        let t = tokens_tensor(&self.config, tokens)?;
        if t.dims()[1] < 2 {
            return Err(Error::shape(
                "megalodon loss",
                "tokens need at least 2 positions",
                &[t.aval()],
            ));
        }
        let cfg = self.config.clone();
        let f = rt.jit(move |(p, t): &(MegalodonForCausalLM, Tensor)| lm_loss(p, &cfg, t));
        let v = f.call(&(self.params.clone(), t))?.to_f64_vec()?;
        v.first()
            .copied()
            .ok_or_else(|| Error::data("megalodon loss", "empty result"))
    }
    fn generate(&self, rt: &Runtime, prompt: &Literal, opts: &GenerateOptions) -> Result<Literal> {
        super::generate::generate(rt, &self.config, &self.params, prompt, opts)
    }
}
