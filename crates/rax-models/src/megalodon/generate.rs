//! Megalodon generation: two jitted programs over the streaming cache of `cache.rs`.
//!
//! - **prefill** `(params, cache?, prompt [B, P], key) -> (token [B], key, cache)`: runs the
//!   prompt (continuing a cache when one is given), projects only the last position through the
//!   head and samples the first new token. Compiled once per prompt shape (and once more for the
//!   continuing form).
//! - **decode** `(params, cache, token [B], key) -> (token [B], key, cache)`: one token through
//!   every block, then the head and the sampler. The cache has a fixed shape (a ring of one
//!   chunk of keys and values, the TimestepNorm and EMA states), so the step compiles once for
//!   a whole generation; the cache argument is donated.
//!
//! - **decode loop** `(params, cache, token [B], key, steps [N]) -> (tokens [N, B], key, cache)`:
//!   N decode steps as one program (a `scan` whose body is the decode step), so a generation
//!   is two executions (prefill, then the loop) instead of one per token; the host's dispatch,
//!   the cache's donation round trip and the token's copy back per token are gone. Compiled
//!   once per number of new tokens; its tokens are the step-by-step decode's, bit for bit
//!   (test), since the body is the same traced step.
//!
//! Sampling happens inside the programs ([`crate::sampling::sample_step`], megalodon-jax's key
//! schedule `key, sub = split(key)` per token), so tokens stay on the device until the end.
//! The attention cache is kept in the compute dtype (bf16 under `c=bf16`), the TimestepNorm
//! statistics in f32 and the EMA state in complex64, as megalodon-jax keeps them.
//!
//! Depends on rax-core, rax-runtime, `crate::sampling`, `model`, `cache`, `config`.

use super::cache::ModelCache;
use super::config::MegalodonConfig;
use super::model::{check_tokens, Forward, MegalodonForCausalLM};
use crate::family::GenerateOptions;
use crate::sampling::{decode_loop, decode_scanned, sample_step, scan_decode, validate};
use rax_core::{Error, Literal, PrngKey, Result, Tensor};
use rax_runtime::{Jit, Runtime};

type PrefillIn = (MegalodonForCausalLM, Option<ModelCache>, Tensor, Tensor);
type StepOut = (Tensor, Tensor, ModelCache);
type DecodeIn = (MegalodonForCausalLM, ModelCache, Tensor, Tensor);
/// `(params, cache, token, key, steps)`: `steps` is an int32 `[N]` whose length is the number
/// of decode steps (its values are unused), so the loop's length is part of the signature.
type LoopIn = (MegalodonForCausalLM, ModelCache, Tensor, Tensor, Tensor);
/// A boxed traced step (prefill or decode).
type StepFn<In> = Box<dyn Fn(&In) -> Result<StepOut>>;
type Program<In> = Jit<In, StepOut, StepFn<In>>;

/// `n` decode steps from `(tok [B], key, cache)` as one scan: `(tokens [n, B], key, cache)`.
fn decode_scan(
    cfg: &MegalodonConfig,
    opts: &GenerateOptions,
    p: &MegalodonForCausalLM,
    cache: &ModelCache,
    tok: &Tensor,
    key: &Tensor,
    steps: &Tensor,
) -> Result<StepOut> {
    let b = tok.dims().first().copied().unwrap_or(0);
    scan_decode("megalodon generate", tok, key, cache, steps, |t, k, c| {
        step(cfg, opts, p, Some(c), &t.reshape(&[b, 1]), k)
    })
}

/// The hidden state of the last position of `ids` through the model (continuing `cache`),
/// projected to f32 logits `[B, V]`, sampled; returns `(token, next key, new cache)`.
fn step(
    cfg: &MegalodonConfig,
    opts: &GenerateOptions,
    p: &MegalodonForCausalLM,
    cache: Option<&ModelCache>,
    ids: &Tensor,
    key: &Tensor,
) -> Result<StepOut> {
    let f = Forward {
        cache,
        return_cache: true,
        ..Forward::default()
    };
    let (h, new_cache) = p.model.forward(cfg, ids, &f)?;
    let dims = h.dims();
    let (b, l, d) = (dims[0], dims[1], dims[2]);
    let last = h
        .slice(&[0, l - 1, 0], &[b, l, d], &[1, 1, 1])
        .reshape(&[b, d]);
    let logits = p.project_logits(cfg, &last);
    let (tok, key) = sample_step(&logits, opts, key)?;
    let cache = new_cache.ok_or_else(|| {
        Error::arg(
            "megalodon generate",
            "the forward pass returned no cache with return_cache",
        )
    })?;
    Ok((tok, key, cache))
}

/// The prefill and decode programs of one model config and one set of sampling settings, on
/// one runtime. Keep it to generate many times without compiling again.
pub struct Generator {
    cfg: MegalodonConfig,
    opts: GenerateOptions,
    prefill: Program<PrefillIn>,
    decode: Program<DecodeIn>,
    decode_loop: Program<LoopIn>,
}

impl Generator {
    /// Builds (does not compile yet) the programs. Refuses a head that is not the vocabulary
    /// (`output_size != vocab_size`: generated ids would not be tokens) and bad settings.
    pub fn new(rt: &Runtime, cfg: &MegalodonConfig, opts: &GenerateOptions) -> Result<Generator> {
        let vocab = cfg.vocab_size as usize;
        if cfg.effective_output_size() != vocab {
            return Err(Error::arg(
                "megalodon generate",
                format!(
                    "generation needs the head to cover the vocabulary: output_size {} != \
                     vocab_size {vocab}",
                    cfg.effective_output_size()
                ),
            ));
        }
        validate(opts, vocab)?;
        let (c1, o1) = (cfg.clone(), opts.clone());
        let prefill_fn: StepFn<PrefillIn> = Box::new(move |(p, cache, ids, key): &PrefillIn| {
            step(&c1, &o1, p, cache.as_ref(), ids, key)
        });
        let (c2, o2) = (cfg.clone(), opts.clone());
        let decode_fn: StepFn<DecodeIn> = Box::new(move |(p, cache, tok, key): &DecodeIn| {
            let b = tok.dims().first().copied().unwrap_or(0);
            step(&c2, &o2, p, Some(cache), &tok.reshape(&[b, 1]), key)
        });
        let (c3, o3) = (cfg.clone(), opts.clone());
        let loop_fn: StepFn<LoopIn> = Box::new(move |(p, cache, tok, key, steps): &LoopIn| {
            decode_scan(&c3, &o3, p, cache, tok, key, steps)
        });
        Ok(Generator {
            cfg: cfg.clone(),
            opts: opts.clone(),
            prefill: rt.jit(prefill_fn),
            // The cache (argument 1) is updated in place.
            decode: rt.jit(decode_fn).donate_args(&[1]),
            decode_loop: rt.jit(loop_fn).donate_args(&[1]),
        })
    }

    /// The config the programs were built for.
    pub fn config(&self) -> &MegalodonConfig {
        &self.cfg
    }

    /// Runs `ids [B, L]` through the model, continuing `cache` when given; returns the sampled
    /// next token `[B]`, the next key data and the new cache.
    pub fn prefill(
        &self,
        params: &MegalodonForCausalLM,
        cache: Option<&ModelCache>,
        ids: &Tensor,
        key: &Tensor,
    ) -> Result<StepOut> {
        if ids.rank() != 2 || ids.dims()[1] == 0 {
            return Err(Error::shape(
                "megalodon generate",
                "the prompt must be [batch, len] with len >= 1",
                &[ids.aval()],
            ));
        }
        check_tokens(ids, self.cfg.vocab_size as usize, "prompt")?;
        self.prefill
            .call(&(params.clone(), cache.cloned(), ids.clone(), key.clone()))
    }

    /// One decode step on the last tokens `[B]`: `(next token, next key, new cache)`. The cache
    /// is consumed (its buffers are donated).
    pub fn decode(
        &self,
        params: &MegalodonForCausalLM,
        cache: ModelCache,
        token: &Tensor,
        key: &Tensor,
    ) -> Result<StepOut> {
        self.decode
            .call(&(params.clone(), cache, token.clone(), key.clone()))
    }

    /// `n >= 1` decode steps after `token [B]` as one program: `(tokens [n, B], key, cache)`,
    /// the tokens of `n` calls of [`Generator::decode`]. The cache is consumed.
    pub fn decode_n(
        &self,
        params: &MegalodonForCausalLM,
        cache: ModelCache,
        token: &Tensor,
        key: &Tensor,
        n: usize,
    ) -> Result<StepOut> {
        if n == 0 {
            return Err(Error::arg("megalodon decode_n", "n must be at least 1"));
        }
        let steps = Tensor::zeros(&[n], rax_core::DType::I32);
        self.decode_loop
            .call(&(params.clone(), cache, token.clone(), key.clone(), steps))
    }

    /// How many times the decode loop was compiled (once per number of new tokens).
    pub fn decode_loop_compiles(&self) -> usize {
        self.decode_loop.compile_count()
    }

    /// How many times the prefill program was compiled (once per prompt signature).
    pub fn prefill_compiles(&self) -> usize {
        self.prefill.compile_count()
    }

    /// How many times the decode program was compiled (once per batch size and dtype policy).
    pub fn decode_compiles(&self) -> usize {
        self.decode.compile_count()
    }

    /// int32 `[B, P + N]`: the prompt followed by `N = max_new_tokens` tokens. `params` should
    /// already be on the runtime's device (`Runtime::put_tree`) when generating repeatedly.
    /// The decode steps run as one program ([`Generator::decode_n`]).
    pub fn generate(&self, params: &MegalodonForCausalLM, prompt: &Literal) -> Result<Literal> {
        decode_scanned(
            prompt,
            &self.opts,
            |ids, key| self.prefill(params, None, ids, key),
            |tok, key, cache, m| Ok(self.decode_n(params, cache, tok, key, m)?.0),
        )
    }

    /// Like [`Generator::generate`], one decode program execution per token (the host drives
    /// the loop): the same tokens.
    pub fn generate_stepwise(
        &self,
        params: &MegalodonForCausalLM,
        prompt: &Literal,
    ) -> Result<Literal> {
        decode_loop(
            prompt,
            &self.opts,
            |ids, key| self.prefill(params, None, ids, key),
            |tok, key, cache| self.decode(params, cache, tok, key),
        )
    }

    /// Like [`Generator::generate`] with the prompt fed in pieces: `pieces` are the lengths of
    /// consecutive prompt slices (summing to `P`); every piece but the last only advances the
    /// cache. The tokens equal [`Generator::generate`]'s (the cache makes the split invisible).
    pub fn generate_in_pieces(
        &self,
        params: &MegalodonForCausalLM,
        prompt: &Literal,
        pieces: &[usize],
    ) -> Result<Literal> {
        let dims = prompt.dims().to_vec();
        if dims.len() != 2 || pieces.iter().sum::<usize>() != dims[1] || pieces.contains(&0) {
            return Err(Error::arg(
                "megalodon generate_in_pieces",
                format!(
                    "pieces {pieces:?} must be positive and sum to the prompt length of {dims:?}"
                ),
            ));
        }
        let b = dims[0];
        decode_loop(
            prompt,
            &self.opts,
            |ids, key| {
                let mut cache: Option<ModelCache> = None;
                let mut start = 0;
                let mut out = None;
                for &n in pieces {
                    let piece = ids.slice(&[0, start], &[b, start + n], &[1, 1]);
                    let (tok, k, c) = self.prefill(params, cache.as_ref(), &piece, key)?;
                    start += n;
                    // Only the last piece's token (and key) continue; earlier ones are discarded
                    // so the key schedule is the one-shot prefill's.
                    out = Some((tok, k));
                    cache = Some(c);
                }
                match (out, cache) {
                    (Some((t, k)), Some(c)) => Ok((t, k, c)),
                    _ => Err(Error::arg("megalodon generate_in_pieces", "no pieces")),
                }
            },
            |tok, key, cache| self.decode(params, cache, tok, key),
        )
    }
}

/// Continues `prompt [B, P]` (int32) by `opts.max_new_tokens` tokens with the Megalodon model
/// `params`: int32 `[B, P + N]`. Greedy unless `opts.temperature > 0`; sampled with rax's PRNG
/// seeded by `opts.seed` (megalodon-jax's key schedule, so its `generate` with
/// `PRNGKey(seed)` gives the same tokens for the same weights).
pub fn generate(
    rt: &Runtime,
    cfg: &MegalodonConfig,
    params: &MegalodonForCausalLM,
    prompt: &Literal,
    opts: &GenerateOptions,
) -> Result<Literal> {
    let g = Generator::new(rt, cfg, opts)?;
    check_tokens(
        &Tensor::from_literal(prompt.clone()),
        cfg.vocab_size as usize,
        "prompt",
    )?;
    let params = rt.put_tree(params)?;
    g.generate(&params, prompt)
}

/// The key data a generation with `seed` starts from (`PRNGKey(seed)`).
pub fn initial_key(seed: u64) -> Tensor {
    PrngKey::new(seed).data().clone()
}
