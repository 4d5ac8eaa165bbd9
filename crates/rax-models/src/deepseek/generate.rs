//! [`DeepseekLm`]: a loaded DeepSeek-V2/V3 checkpoint as a [`CausalLm`] — jitted logits and
//! loss, and generation with the latent cache and the absorbed decode (a prefill program, then
//! all decode steps as one scanned program, the cache donated).
//!
//! Depends on rax-runtime, `model`, `cache`, `checkpoint` and the family-neutral sampling loop.

use super::cache::{decode_step, prefill, ModelCache};
use super::checkpoint::{load_dir, HfCheckpoint};
use super::config::DeepseekConfig;
use super::model::{logits, loss_and_stats, DeepseekParams, DeepseekState, RunOptions};
use crate::family::{CausalLm, GenerateOptions};
use crate::sampling::{decode_loop, decode_scanned, sample_step, scan_decode, validate};
use rax_core::{DType, Error, Literal, Policy, Result, Tensor};
use rax_runtime::Runtime;
use std::path::Path;

/// A DeepSeek model ready to run.
#[derive(Clone, Debug)]
pub struct DeepseekLm {
    /// Configuration.
    pub config: DeepseekConfig,
    /// f32 parameters.
    pub params: DeepseekParams,
    /// Correction biases.
    pub state: DeepseekState,
    /// Compute dtype and dispatch.
    pub opts: RunOptions,
    /// Loading notices.
    pub notices: Vec<String>,
}

impl DeepseekLm {
    /// Loads an HF directory; `policy` sets the compute dtype (router/norms/softmax stay f32).
    pub fn load(dir: &Path, policy: Option<&Policy>) -> Result<DeepseekLm> {
        let ck: HfCheckpoint = load_dir(dir)?;
        for n in &ck.notices {
            eprintln!("notice: {}: {n}", dir.display());
        }
        let mut opts = RunOptions::default();
        if let Some(p) = policy {
            opts.compute = p.compute;
        }
        Ok(DeepseekLm {
            config: ck.config,
            params: ck.params,
            state: ck.state,
            opts,
            notices: ck.notices,
        })
    }

    fn check_tokens(&self, tokens: &Literal, min_len: usize) -> Result<()> {
        let d = tokens.dims();
        if d.len() != 2 || d[1] < min_len || tokens.dtype() != DType::I32 {
            return Err(Error::arg(
                "deepseek",
                format!(
                    "tokens must be int32 [batch, len >= {min_len}], got {} {:?}",
                    tokens.dtype(),
                    d
                ),
            ));
        }
        let v = self.config.vocab_size as i32;
        if let Some(bad) = tokens.as_slice::<i32>()?.iter().find(|&&x| x < 0 || x >= v) {
            return Err(Error::arg(
                "deepseek",
                format!("token id {bad} is outside 0..{v}"),
            ));
        }
        Ok(())
    }

    /// Generates with the absorbed (`true`) or naive latent-cache decode: the prefill program,
    /// then every decode step in one program (a scan over the decode step), two executions in
    /// all.
    pub fn generate_with(
        &self,
        rt: &Runtime,
        prompt: &Literal,
        opts: &GenerateOptions,
        absorbed: bool,
    ) -> Result<Literal> {
        self.generate_impl(rt, prompt, opts, absorbed, true)
    }

    /// Like [`DeepseekLm::generate_with`], one decode execution per token driven from the
    /// host (the cache donated each call): the same tokens.
    pub fn generate_stepwise(
        &self,
        rt: &Runtime,
        prompt: &Literal,
        opts: &GenerateOptions,
        absorbed: bool,
    ) -> Result<Literal> {
        self.generate_impl(rt, prompt, opts, absorbed, false)
    }

    fn generate_impl(
        &self,
        rt: &Runtime,
        prompt: &Literal,
        opts: &GenerateOptions,
        absorbed: bool,
        scanned: bool,
    ) -> Result<Literal> {
        self.check_tokens(prompt, 1)?;
        validate(opts, self.config.vocab_size)?;
        let max_len = prompt.dims()[1] + opts.max_new_tokens;
        let (cfg, ro) = (self.config.clone(), self.opts.clone());
        let params = rt.put_tree(&self.params)?;
        let state = rt.put_tree(&self.state)?;
        let o1 = opts.clone();
        let (c1, r1) = (cfg.clone(), ro.clone());
        let pre = rt.jit(
            move |(p, s, prompt, key): &(DeepseekParams, DeepseekState, Tensor, Tensor)| {
                let (lg, cache) = prefill(&c1, &r1, p, s, prompt, max_len)?;
                let (tok, key) = sample_step(&lg, &o1, key)?;
                Ok((tok, key, cache))
            },
        );
        let prefill_call = |pr: &Tensor, key: &Tensor| {
            pre.call(&(params.clone(), state.clone(), pr.clone(), key.clone()))
        };
        let start = prompt.dims()[1];
        if scanned {
            let o2 = opts.clone();
            let steps = rt
                .jit(
                    move |(ps, cache, tok, key, pos, steps): &(
                        (DeepseekParams, DeepseekState),
                        ModelCache,
                        Tensor,
                        Tensor,
                        Tensor,
                        Tensor,
                    )| {
                        decode_scan(&cfg, &ro, &o2, ps, cache, tok, key, pos, steps, absorbed)
                    },
                )
                .donate_args(&[1]);
            return decode_scanned(prompt, opts, prefill_call, |tok, key, cache, m| {
                let (toks, _key, _cache) = steps.call(&(
                    (params.clone(), state.clone()),
                    cache,
                    tok.clone(),
                    key.clone(),
                    Tensor::scalar_of(start as f64, DType::I32),
                    Tensor::zeros(&[m], DType::I32),
                ))?;
                Ok(toks)
            });
        }
        let o2 = opts.clone();
        let step = rt
            .jit(
                move |(p, s, cache, tok, key, pos): &(
                    DeepseekParams,
                    DeepseekState,
                    ModelCache,
                    Tensor,
                    Tensor,
                    Tensor,
                )| {
                    let (lg, cache) = decode_step(&cfg, &ro, p, s, cache, tok, pos, absorbed)?;
                    let (t, k) = sample_step(&lg, &o2, key)?;
                    Ok((t, k, cache))
                },
            )
            .donate_args(&[2]);
        let mut pos = start;
        decode_loop(prompt, opts, prefill_call, |tok, key, cache| {
            let p = Tensor::scalar_of(pos as f64, DType::I32);
            pos += 1;
            step.call(&(
                params.clone(),
                state.clone(),
                cache,
                tok.clone(),
                key.clone(),
                p,
            ))
        })
    }
}

/// `steps.len()` decode steps from `(tok [B], key, cache)` at position `pos` as one scan (the
/// carry: token, key, position, cache leaves): `(tokens [n, B], key, cache)`.
#[allow(clippy::too_many_arguments)]
fn decode_scan(
    cfg: &DeepseekConfig,
    ro: &RunOptions,
    opts: &GenerateOptions,
    (p, s): &(DeepseekParams, DeepseekState),
    cache: &ModelCache,
    tok: &Tensor,
    key: &Tensor,
    pos: &Tensor,
    steps: &Tensor,
    absorbed: bool,
) -> Result<(Tensor, Tensor, ModelCache)> {
    let state = (pos.clone(), cache.clone());
    let (toks, key, (_pos, cache)) = scan_decode(
        "deepseek generate",
        tok,
        key,
        &state,
        steps,
        |t, k, (pos, c): &(Tensor, ModelCache)| {
            let (lg, nc) = decode_step(cfg, ro, p, s, c, t, pos, absorbed)?;
            let (t, k) = sample_step(&lg, opts, k)?;
            Ok((t, k, (pos + 1, nc)))
        },
    )?;
    Ok((toks, key, cache))
}

impl CausalLm for DeepseekLm {
    fn family(&self) -> String {
        self.config.family().to_string()
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn param_count(&self) -> usize {
        self.params.count()
    }
    fn logits(&self, rt: &Runtime, tokens: &Literal) -> Result<Literal> {
        self.check_tokens(tokens, 1)?;
        let (cfg, ro) = (self.config.clone(), self.opts.clone());
        let f = rt.jit(move |(p, s, t): &(DeepseekParams, DeepseekState, Tensor)| {
            logits(&cfg, &ro, p, s, t)
        });
        f.call(&(
            self.params.clone(),
            self.state.clone(),
            Tensor::from_literal(tokens.clone()),
        ))?
        .to_literal()
    }
    fn loss(&self, rt: &Runtime, tokens: &Literal) -> Result<f64> {
        self.check_tokens(tokens, 2)?;
        let (cfg, ro) = (self.config.clone(), self.opts.clone());
        let f = rt.jit(move |(p, s, t): &(DeepseekParams, DeepseekState, Tensor)| {
            Ok(loss_and_stats(&cfg, &ro, p, s, t)?.0)
        });
        let l = f.call(&(
            self.params.clone(),
            self.state.clone(),
            Tensor::from_literal(tokens.clone()),
        ))?;
        Ok(l.to_f64_vec()?.first().copied().unwrap_or(f64::NAN))
    }
    fn generate(&self, rt: &Runtime, prompt: &Literal, opts: &GenerateOptions) -> Result<Literal> {
        self.generate_with(rt, prompt, opts, true)
    }
}
