//! Next-token sampling, traceable (it runs inside a jitted decode step): greedy argmax, or
//! temperature scaling, a top-k filter, a top-p (nucleus) filter and a categorical draw by the
//! Gumbel-max trick with rax's PRNG (`argmax(logits + G)`, `G = -log(-log(U))`, exactly how
//! `jax.random.categorical` draws). The settings come from [`GenerateOptions`]; the family-neutral
//! autoregressive loop of [`decode_loop`] drives a model's prefill and decode programs.
//!
//! Conventions (megalodon-jax's `sample_token`): the logits are cast to f32 first; top-k keeps
//! exactly `k` tokens (ties broken lower index first); top-p keeps, of the tokens sorted by
//! descending probability, each one whose predecessors' mass does not exceed `p` (so at least
//! one token, and the smallest prefix whose mass exceeds `p`), computed among the top-k
//! survivors when both are given; `top_p >= 1` and `top_k = 0` or `top_k >= V` filter nothing.
//! One key draws the whole batch: `U` has shape `[B, V]`, as `jax.random.categorical` draws, so
//! with the same key and logits the tokens are megalodon-jax's.

use crate::family::GenerateOptions;
use rax_core::tree::{flatten, unflatten, Tree};
use rax_core::{AVal, CallSite, DType, Error, Literal, PrngKey, Result, Tensor};

/// Checks the sampling settings (also the ones a traced [`sample`] would otherwise poison on).
pub fn validate(opts: &GenerateOptions, vocab: usize) -> Result<()> {
    if let Some(t) = opts.temperature {
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::arg(
                "sample",
                format!("temperature must be finite and >= 0, got {t}"),
            ));
        }
    }
    if let Some(p) = opts.top_p {
        if !(p.is_finite() && p > 0.0 && p <= 1.0) {
            return Err(Error::arg(
                "sample",
                format!("top_p must be in (0, 1], got {p}"),
            ));
        }
    }
    if let Some(k) = opts.top_k {
        if k > vocab {
            return Err(Error::arg(
                "sample",
                format!("top_k must be at most the vocabulary size {vocab}, got {k}"),
            ));
        }
    }
    Ok(())
}

/// True when `opts` means greedy decoding (no temperature, or temperature 0).
pub fn is_greedy(opts: &GenerateOptions) -> bool {
    !matches!(opts.temperature, Some(t) if t > 0.0)
}

/// Picks one token per row of f32 `logits [B, V]`: int32 `[B]`. Greedy (argmax, first index on
/// ties) unless `opts.temperature > 0`; otherwise a draw from `softmax(logits / T)` restricted
/// by `top_k` / `top_p`, with `key`. Deterministic for a given key. Bad input (rank, dtype,
/// settings) gives a poisoned tensor carrying the error, like every rax op.
#[track_caller]
pub fn sample(logits: &Tensor, opts: &GenerateOptions, key: &PrngKey) -> Tensor {
    let site = CallSite::here();
    let b = logits.dims().first().copied().unwrap_or(0);
    match try_sample(logits, opts, key) {
        Ok(t) => t,
        Err(e) => rax_core::trace::apply_error(e, AVal::new([b], DType::I32), site),
    }
}

/// [`sample`] returning the error instead of a poisoned tensor.
#[track_caller]
pub fn try_sample(logits: &Tensor, opts: &GenerateOptions, key: &PrngKey) -> Result<Tensor> {
    logits.check()?;
    let dims = logits.dims();
    if dims.len() != 2 || dims[1] == 0 {
        return Err(Error::shape(
            "sample",
            "logits must be [batch, vocab] with vocab >= 1",
            &[logits.aval()],
        )
        .with_site(CallSite::here()));
    }
    if !logits.dtype().is_float() {
        return Err(
            Error::dtype("sample", logits.dtype(), "a float dtype for the logits")
                .with_site(CallSite::here()),
        );
    }
    let (bsz, vocab) = (dims[0], dims[1]);
    validate(opts, vocab)?;
    let x = logits.cast(DType::F32);
    if is_greedy(opts) {
        return Ok(x.argmax(1));
    }
    let t = opts.temperature.unwrap_or(1.0);
    let x = if t != 1.0 { &x / t } else { x };
    let k = opts.top_k.filter(|&k| k > 0 && k < vocab);
    let p = opts.top_p.filter(|&p| p < 1.0);
    if k.is_none() && p.is_none() {
        return Ok(gumbel_argmax(&x, key, bsz, vocab));
    }
    // The filters are decided in descending order (a stable sort: ties keep the lower id first,
    // as `lax.top_k`), then mapped back to vocabulary order, so that the draw is the same
    // `categorical(key, filtered logits)` over the whole vocabulary as megalodon-jax's.
    let iota = Tensor::iota(&[bsz, vocab], 1, DType::I32);
    let mut sorted = Tensor::sort_multi(&[x.clone(), iota.clone()], 1, 1, true);
    let ids = sorted.swap_remove(1);
    let vals = sorted.swap_remove(0);
    let neg_inf = Tensor::scalar_of(f64::NEG_INFINITY, DType::F32);
    let mut drop = match k {
        Some(k) => iota.ge(&Tensor::scalar_of(k as f64, DType::I32)),
        None => Tensor::full(&[bsz, vocab], 0.0, DType::Bool),
    };
    if let Some(p) = p {
        // Nucleus among the survivors of top-k: a token is dropped once the mass of the tokens
        // before it exceeds p (the first one always survives).
        let probs = Tensor::select(&drop, &neg_inf, &vals).softmax(1);
        let cum = probs.cumsum(1, false);
        let before = Tensor::concat(
            &[
                Tensor::zeros(&[bsz, 1], DType::F32),
                cum.slice(&[0, 0], &[bsz, vocab - 1], &[1, 1]),
            ],
            1,
        );
        drop = Tensor::select(
            &before.gt(&Tensor::scalar_of(p, DType::F32)),
            &Tensor::full(&[bsz, vocab], 1.0, DType::Bool),
            &drop,
        );
    }
    // Back to vocabulary order: sort the flags by token id.
    let mut back = Tensor::sort_multi(&[ids, drop.cast(DType::I32)], 1, 1, false);
    let drop = back.swap_remove(1).gt(&Tensor::scalar_of(0.0, DType::I32));
    let x = Tensor::select(&drop, &neg_inf, &x);
    Ok(gumbel_argmax(&x, key, bsz, vocab))
}

/// `argmax(x + gumbel)` along axis 1 of f32 `x [b, n]`: a categorical draw from `softmax(x)`
/// (`-inf` entries are never drawn). `U` is uniform in `[tiny, 1)` as in `jax.random.gumbel`.
fn gumbel_argmax(x: &Tensor, key: &PrngKey, b: usize, n: usize) -> Tensor {
    let u = key.uniform(&[b, n], DType::F32, f32::MIN_POSITIVE as f64, 1.0);
    let g = -(-u.log()).log();
    (x + &g).argmax(1)
}

/// One sampling step inside a decode program: splits the carried key data `u32[2]` like
/// megalodon-jax's loop (`key, sub = split(key)`; `sub` draws), samples with `sub`, and returns
/// `(tokens [B] i32, next key data)`. Greedy steps pass the key through unchanged.
#[track_caller]
pub fn sample_step(
    logits: &Tensor,
    opts: &GenerateOptions,
    key_data: &Tensor,
) -> Result<(Tensor, Tensor)> {
    if is_greedy(opts) {
        return Ok((
            try_sample(logits, opts, &PrngKey::new(0))?,
            key_data.clone(),
        ));
    }
    let key = PrngKey::from_data(key_data)?;
    let keys = key.split_data(2);
    let next = keys.slice(&[0, 0], &[1, 2], &[1, 1]).reshape(&[2]);
    let sub = PrngKey::from_data(&keys.slice(&[1, 0], &[2, 2], &[1, 1]).reshape(&[2]))?;
    Ok((try_sample(logits, opts, &sub)?, next))
}

/// The family-neutral generation loop. `prefill(prompt, key)` runs the prompt `[B, P]` and
/// returns the first new token `[B]`, the next key data and the model cache; `step(token, key,
/// cache)` runs one decode step on the last token. Tokens stay on the device until the end.
/// Returns int32 `[B, P + N]`, prompt included (`N = opts.max_new_tokens`; `N = 0` returns the
/// prompt without running the model).
pub fn decode_loop<C>(
    prompt: &Literal,
    opts: &GenerateOptions,
    prefill: impl FnOnce(&Tensor, &Tensor) -> Result<(Tensor, Tensor, C)>,
    mut step: impl FnMut(&Tensor, &Tensor, C) -> Result<(Tensor, Tensor, C)>,
) -> Result<Literal> {
    let (b, n) = check_prompt(prompt, opts)?;
    if n == 0 {
        return Ok(prompt.clone());
    }
    let key = PrngKey::new(opts.seed).data().clone();
    let (mut tok, mut key, mut cache) = prefill(&Tensor::from_literal(prompt.clone()), &key)?;
    let mut toks = vec![tok.to_vec::<i32>()?];
    for _ in 1..n {
        let (t, k, c) = step(&tok, &key, cache)?;
        tok = t;
        key = k;
        cache = c;
        toks.push(tok.to_vec::<i32>()?);
    }
    append_tokens(prompt, b, &toks)
}

/// [`decode_loop`] with the decode steps run as one program: `steps(token, key, cache, m)`
/// runs `m = N - 1` decode steps after the prefill's token and returns their tokens `[m, B]`.
/// Two executions per generation (prefill, then the loop) instead of one per token.
pub fn decode_scanned<C>(
    prompt: &Literal,
    opts: &GenerateOptions,
    prefill: impl FnOnce(&Tensor, &Tensor) -> Result<(Tensor, Tensor, C)>,
    steps: impl FnOnce(&Tensor, &Tensor, C, usize) -> Result<Tensor>,
) -> Result<Literal> {
    let (b, n) = check_prompt(prompt, opts)?;
    if n == 0 {
        return Ok(prompt.clone());
    }
    let key = PrngKey::new(opts.seed).data().clone();
    let (tok, key, cache) = prefill(&Tensor::from_literal(prompt.clone()), &key)?;
    let mut toks = vec![tok.to_vec::<i32>()?];
    if n > 1 {
        let rest = steps(&tok, &key, cache, n - 1)?;
        if rest.dims() != [n - 1, b] {
            return Err(Error::arg(
                "generate",
                format!(
                    "the decode loop returned tokens {:?}, want [{}, {b}]",
                    rest.dims(),
                    n - 1
                ),
            ));
        }
        let flat = rest.to_vec::<i32>()?;
        toks.extend(flat.chunks(b.max(1)).map(|c| c.to_vec()));
    }
    append_tokens(prompt, b, &toks)
}

/// `steps.len()` decode steps as one traced `scan` (the body of a decode-loop program):
/// `step(token [B], key, state)` returns the next token, key and state; the carry is the token,
/// the key and the state's leaves (`state` is the model cache and whatever else advances, e.g.
/// a position). Returns `(tokens [n, B], key, state)`. An error from `step` while tracing the
/// body is returned, not poisoned into the loop.
pub fn scan_decode<S: Tree>(
    op: &str,
    tok: &Tensor,
    key: &Tensor,
    state: &S,
    steps: &Tensor,
    step: impl Fn(&Tensor, &Tensor, &S) -> Result<(Tensor, Tensor, S)>,
) -> Result<(Tensor, Tensor, S)> {
    let mut init = vec![tok.clone(), key.clone()];
    init.extend(flatten(state));
    let failed = std::cell::RefCell::new(None);
    let (carry, ys) = rax_core::scan(
        |c, _xs| {
            let run = || -> Result<Vec<Tensor>> {
                let st = unflatten(state, c[2..].to_vec())?;
                let (t, k, ns) = step(&c[0], &c[1], &st)?;
                let mut next = vec![t, k];
                next.extend(flatten(&ns));
                Ok(next)
            };
            match run() {
                Ok(next) => {
                    let y = next[0].clone();
                    (next, vec![y])
                }
                Err(e) => {
                    *failed.borrow_mut() = Some(e);
                    (c.to_vec(), vec![c[0].clone()])
                }
            }
        },
        &init,
        std::slice::from_ref(steps),
        None,
        false,
    );
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let (Some(toks), Some(key)) = (ys.into_iter().next(), carry.get(1).cloned()) else {
        return Err(Error::arg(op, "the decode loop returned no tokens"));
    };
    let state = unflatten(state, carry[2..].to_vec())?;
    Ok((toks, key, state))
}

/// Checks the prompt is int32 `[B, P]`; returns `(B, N)`.
fn check_prompt(prompt: &Literal, opts: &GenerateOptions) -> Result<(usize, usize)> {
    let dims = prompt.dims();
    if dims.len() != 2 || prompt.dtype() != DType::I32 {
        return Err(Error::arg(
            "generate",
            format!(
                "the prompt must be int32 [batch, len], got {:?} {:?}",
                prompt.dtype(),
                dims
            ),
        ));
    }
    Ok((dims[0], opts.max_new_tokens))
}

/// `prompt [B, P]` followed by the new tokens (one `[B]` row per step): int32 `[B, P + N]`.
fn append_tokens(prompt: &Literal, b: usize, new: &[Vec<i32>]) -> Result<Literal> {
    let p = prompt.dims()[1];
    let n = new.len();
    let src = prompt.as_slice::<i32>()?;
    let mut out = Vec::with_capacity(b * (p + n));
    for row in 0..b {
        out.extend_from_slice(&src[row * p..(row + 1) * p]);
        for t in new {
            let v = t.get(row).copied().ok_or_else(|| {
                Error::arg(
                    "generate",
                    format!("a step returned {} tokens for batch {b}", t.len()),
                )
            })?;
            out.push(v);
        }
    }
    Literal::from_vec([b, p + n], out)
}
