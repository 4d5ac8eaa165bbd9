//! Multi-head latent attention (MLA, DeepSeek-V2/V3).
//!
//! Queries come from a direct projection or a low-rank one (`q_a` → RMSNorm → `q_b`); keys and
//! values from one joint low-rank projection `kv_a` whose output splits into the latent
//! `c [kv_lora_rank]` (RMS-normalised) and a single decoupled RoPE key `k_rope [qk_rope_dim]`
//! shared by every head; `kv_b` expands `c` into per-head no-RoPE keys and values. Scores are
//! `q_nope·k_nope + q_rope·k_rope` times the softmax scale, accumulated and soft-maxed in f32.
//!
//! Three ways to evaluate it, which agree:
//! - [`forward`]: the training path, full keys and values for every position (causal mask);
//! - [`decode_naive`]: one or more new tokens against a [`LatentCache`], re-expanding the cached
//!   latents into full keys/values;
//! - [`decode_absorbed`]: the same with `kv_b`'s key half folded into the query
//!   (`q_lat = q_nope · W_uk`, scores against the latents directly) and its value half applied
//!   after attention (`o = (p · c) · W_uv`), so the cache is only ever read as latents.
//!
//! Weights are stored `[in, out]`. Depends on rax-core, `layers` and `rope`.

use crate::layers::{linear, rms_norm};
use crate::rope::{apply_rope, RopeLayout, RopeTable};
use rax_core::ir::DotDims;
use rax_core::{DType, Error, Result, Sensitive, Tensor};
use rax_macros::Tree;

/// Sizes and conventions of one MLA layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MlaConfig {
    /// Model width D.
    pub hidden: usize,
    /// Attention heads H.
    pub heads: usize,
    /// Rank of the query compression, or `None` for a direct `[D, H·(n+r)]` projection.
    pub q_lora_rank: Option<usize>,
    /// Rank of the joint key/value compression (the cached latent width).
    pub kv_lora_rank: usize,
    /// Per-head key/query width without RoPE (n).
    pub qk_nope_dim: usize,
    /// Width of the decoupled RoPE key/query (r).
    pub qk_rope_dim: usize,
    /// Per-head value width.
    pub v_dim: usize,
    /// RMSNorm epsilon of the latent norms.
    pub eps: f64,
    /// Pair layout of the RoPE dimensions in the checkpoint.
    pub rope_layout: RopeLayout,
    /// Multiplier of the scores (`(n+r)^(−½)`, YaRN-corrected).
    pub softmax_scale: f64,
}

impl MlaConfig {
    /// Cache bytes per token per layer: `(latent, full multi-head K and V)` in `dtype`.
    pub fn cache_bytes_per_token(&self, dtype: DType) -> (usize, usize) {
        let b = dtype.size_bytes();
        let latent = (self.kv_lora_rank + self.qk_rope_dim) * b;
        let full = self.heads * (self.qk_nope_dim + self.qk_rope_dim + self.v_dim) * b;
        (latent, full)
    }
}

/// Parameters of one MLA layer (`[in, out]` matrices; norm scales sensitive).
#[derive(Clone, Debug, Tree)]
pub struct MlaParams {
    /// Query down-projection `[D, q_lora]` (absent for a direct query projection).
    pub q_a: Option<Tensor>,
    /// RMSNorm scale of the query latent `[q_lora]`.
    pub q_a_norm: Option<Sensitive<Tensor>>,
    /// Query up-projection `[q_lora, H·(n+r)]`, or the direct projection `[D, H·(n+r)]`.
    pub q_b: Tensor,
    /// Joint KV down-projection `[D, kv_lora + r]`.
    pub kv_a: Tensor,
    /// RMSNorm scale of the KV latent `[kv_lora]`.
    pub kv_a_norm: Sensitive<Tensor>,
    /// KV up-projection `[kv_lora, H·(n+v)]` (per head: n key columns, then v value columns).
    pub kv_b: Tensor,
    /// Output projection `[H·v, D]`.
    pub o: Tensor,
}

impl MlaParams {
    /// Fresh parameters: matrices from `normal(shape)`, norm scales 1.
    pub fn init(
        c: &MlaConfig,
        normal: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<MlaParams> {
        let qk = c.heads * (c.qk_nope_dim + c.qk_rope_dim);
        let ones = |n: usize| Sensitive(Tensor::full(&[n], 1.0, DType::F32));
        let (q_a, q_a_norm, q_b) = match c.q_lora_rank {
            Some(r) => (
                Some(normal(&[c.hidden, r])?),
                Some(ones(r)),
                normal(&[r, qk])?,
            ),
            None => (None, None, normal(&[c.hidden, qk])?),
        };
        Ok(MlaParams {
            q_a,
            q_a_norm,
            q_b,
            kv_a: normal(&[c.hidden, c.kv_lora_rank + c.qk_rope_dim])?,
            kv_a_norm: ones(c.kv_lora_rank),
            kv_b: normal(&[c.kv_lora_rank, c.heads * (c.qk_nope_dim + c.v_dim)])?,
            o: normal(&[c.heads * c.v_dim, c.hidden])?,
        })
    }
}

/// The latent cache of one layer: normalised latents `c [B, S, kv_lora]` and rotated RoPE keys
/// `k_rope [B, S, r]`, in the compute dtype, for `S` = the maximum length.
#[derive(Clone, Debug, Tree)]
pub struct LatentCache {
    /// Normalised KV latents.
    pub c: Tensor,
    /// Rotated decoupled RoPE keys.
    pub k_rope: Tensor,
}

impl LatentCache {
    /// An empty (zero) cache for `batch` sequences of up to `max_len` tokens.
    pub fn zeros(cfg: &MlaConfig, batch: usize, max_len: usize, dtype: DType) -> LatentCache {
        LatentCache {
            c: Tensor::zeros(&[batch, max_len, cfg.kv_lora_rank], dtype),
            k_rope: Tensor::zeros(&[batch, max_len, cfg.qk_rope_dim], dtype),
        }
    }

    /// The cache with `c [B, T, kv_lora]` and `k_rope [B, T, r]` written at positions
    /// `start..start+T` (`start` an i32 scalar, possibly traced).
    #[track_caller]
    pub fn write(&self, c: &Tensor, k_rope: &Tensor, start: &Tensor) -> LatentCache {
        let z = Tensor::scalar_of(0.0, DType::I32);
        let s = start.cast(DType::I32);
        LatentCache {
            c: self
                .c
                .dynamic_update_slice(&c.cast(self.c.dtype()), &[z.clone(), s.clone(), z.clone()]),
            k_rope: self
                .k_rope
                .dynamic_update_slice(&k_rope.cast(self.k_rope.dtype()), &[z.clone(), s, z]),
        }
    }
}

fn bad(op: &str, msg: String, x: &Tensor) -> Tensor {
    let e = Error::shape(op, msg, &[x.aval()]);
    rax_core::trace::apply_error(e, x.aval(), rax_core::CallSite::here())
}

fn check_x(cfg: &MlaConfig, op: &str, x: &Tensor) -> Option<Tensor> {
    match x.dims()[..] {
        [_, _, d] if d == cfg.hidden && cfg.heads > 0 => None,
        _ => Some(bad(
            op,
            format!("expects x [B, T, {}] (hidden size)", cfg.hidden),
            x,
        )),
    }
}

/// Queries of `x [B, T, D]`: `(q_nope [B, T, H, n], q_rope [B, T, H, r])`, q_rope rotated.
fn queries(cfg: &MlaConfig, p: &MlaParams, x: &Tensor, table: &RopeTable) -> (Tensor, Tensor) {
    let c = x.dtype();
    let (b, t) = (x.dims()[0], x.dims()[1]);
    let q = match (&p.q_a, &p.q_a_norm) {
        (Some(a), Some(n)) => {
            let ql = rms_norm(&linear(x, &a.cast(c)), &n.0, cfg.eps, c);
            linear(&ql, &p.q_b.cast(c))
        }
        _ => linear(x, &p.q_b.cast(c)),
    };
    let q = q.reshape(&[b, t, cfg.heads, cfg.qk_nope_dim + cfg.qk_rope_dim]);
    let parts = q.split(&[cfg.qk_nope_dim, cfg.qk_rope_dim], 3);
    let q_rope = apply_rope(&parts[1], table, cfg.rope_layout);
    (parts[0].clone(), q_rope)
}

/// The cacheable latents of `x [B, T, D]`: `(c [B, T, kv_lora], k_rope [B, T, r])`, c
/// normalised and k_rope rotated, both in x's dtype.
#[track_caller]
pub fn latents(cfg: &MlaConfig, p: &MlaParams, x: &Tensor, table: &RopeTable) -> (Tensor, Tensor) {
    if let Some(e) = check_x(cfg, "mla::latents", x) {
        return (e.clone(), e);
    }
    let cd = x.dtype();
    let (b, t) = (x.dims()[0], x.dims()[1]);
    let ckv = linear(x, &p.kv_a.cast(cd));
    let parts = ckv.split(&[cfg.kv_lora_rank, cfg.qk_rope_dim], 2);
    let c = rms_norm(&parts[0], &p.kv_a_norm.0, cfg.eps, cd);
    let kr = parts[1].reshape(&[b, t, 1, cfg.qk_rope_dim]);
    let kr = apply_rope(&kr, table, cfg.rope_layout).reshape(&[b, t, cfg.qk_rope_dim]);
    (c, kr)
}

fn dims(lb: &[usize], rb: &[usize], lc: &[usize], rc: &[usize]) -> DotDims {
    DotDims {
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
    }
}

/// Masked softmax of f32 scores `[B, H, T, S]` (mask `[T, S]` or broadcastable, true = keep),
/// in f32, cast to `cd`.
fn softmax_masked(s: &Tensor, mask: &Tensor, cd: DType) -> Tensor {
    let s = Tensor::select(mask, s, &Tensor::scalar_of(f32::MIN as f64, DType::F32));
    s.softmax(3).cast(cd)
}

/// Attention with full keys: `q_nope [B,T,H,n]`, `q_rope [B,T,H,r]`, `k_nope [B,S,H,n]`,
/// `k_rope [B,S,r]`, `v [B,S,H,v]`, `mask [T,S]` → `[B, T, H·v]`.
#[allow(clippy::too_many_arguments)]
fn attend_full(
    cfg: &MlaConfig,
    q_nope: &Tensor,
    q_rope: &Tensor,
    k_nope: &Tensor,
    k_rope: &Tensor,
    v: &Tensor,
    mask: &Tensor,
) -> Tensor {
    let cd = q_nope.dtype();
    let (b, t) = (q_nope.dims()[0], q_nope.dims()[1]);
    // [B, H, T, S]
    let s_nope = q_nope.dot_general(k_nope, dims(&[0, 2], &[0, 2], &[3], &[3]), DType::F32);
    // [B, T, H, S] -> [B, H, T, S]
    let s_rope = q_rope
        .dot_general(k_rope, dims(&[0], &[0], &[3], &[2]), DType::F32)
        .transpose(&[0, 2, 1, 3]);
    let s = (s_nope + s_rope) * cfg.softmax_scale;
    let p = softmax_masked(&s, mask, cd);
    // p [B,H,T,S] · v [B,S,H,v] -> [B, H, T, v]
    let o = p.dot_general(v, dims(&[0, 1], &[0, 2], &[3], &[1]), cd);
    o.transpose(&[0, 2, 1, 3])
        .reshape(&[b, t, cfg.heads * cfg.v_dim])
}

/// Per-head keys and values from latents `c [B, S, kv_lora]`: `(k_nope [B,S,H,n], v [B,S,H,v])`.
fn expand(cfg: &MlaConfig, p: &MlaParams, c: &Tensor) -> (Tensor, Tensor) {
    let (b, s) = (c.dims()[0], c.dims()[1]);
    let kv =
        linear(c, &p.kv_b.cast(c.dtype())).reshape(&[b, s, cfg.heads, cfg.qk_nope_dim + cfg.v_dim]);
    let parts = kv.split(&[cfg.qk_nope_dim, cfg.v_dim], 3);
    (parts[0].clone(), parts[1].clone())
}

/// The training path on `x [B, T, D]` (compute dtype) with a causal mask; `table` holds the
/// positions' cos/sin. Returns `(out [B, T, D], (c, k_rope))` — the latents for a cache.
#[track_caller]
pub fn forward_with_latents(
    cfg: &MlaConfig,
    p: &MlaParams,
    x: &Tensor,
    table: &RopeTable,
) -> (Tensor, (Tensor, Tensor)) {
    if let Some(e) = check_x(cfg, "mla::forward", x) {
        return (e.clone(), (e.clone(), e));
    }
    let t = x.dims()[1];
    let (q_nope, q_rope) = queries(cfg, p, x, table);
    let (c, kr) = latents(cfg, p, x, table);
    let (k_nope, v) = expand(cfg, p, &c);
    let row = Tensor::iota(&[t, t], 0, DType::I32);
    let col = Tensor::iota(&[t, t], 1, DType::I32);
    let o = attend_full(cfg, &q_nope, &q_rope, &k_nope, &kr, &v, &row.ge(&col));
    (linear(&o, &p.o.cast(x.dtype())), (c, kr))
}

/// The training path: `x [B, T, D]` → `[B, T, D]`, full keys and values, causal.
#[track_caller]
pub fn forward(cfg: &MlaConfig, p: &MlaParams, x: &Tensor, table: &RopeTable) -> Tensor {
    forward_with_latents(cfg, p, x, table).0
}

/// Mask `[T, S]`: key position `s` is visible to query `t` when `s ≤ start + t`.
fn decode_mask(t: usize, s: usize, start: &Tensor) -> Tensor {
    let q = Tensor::iota(&[t, s], 0, DType::I32) + start.cast(DType::I32);
    let k = Tensor::iota(&[t, s], 1, DType::I32);
    q.ge(&k)
}

fn check_cache(cfg: &MlaConfig, op: &str, x: &Tensor, cache: &LatentCache) -> Option<Tensor> {
    if let Some(e) = check_x(cfg, op, x) {
        return Some(e);
    }
    let (b, _) = (x.dims()[0], x.dims()[1]);
    match (&cache.c.dims()[..], &cache.k_rope.dims()[..]) {
        ([cb, s, k], [rb, rs, r])
            if *cb == b
                && *rb == b
                && s == rs
                && *k == cfg.kv_lora_rank
                && *r == cfg.qk_rope_dim =>
        {
            None
        }
        _ => Some(bad(
            op,
            format!(
                "cache must be c [B, S, {}] and k_rope [B, S, {}] for x {:?}; got {:?} and {:?}",
                cfg.kv_lora_rank,
                cfg.qk_rope_dim,
                x.dims(),
                cache.c.dims(),
                cache.k_rope.dims()
            ),
            x,
        )),
    }
}

/// Decodes `x [B, T, D]` (new tokens at positions `start..start+T`, `table` for those
/// positions) against `cache`, after writing their latents into it, by re-expanding every
/// cached latent into full keys and values (the reference for [`decode_absorbed`]).
/// Returns `(out [B, T, D], updated cache)`.
#[track_caller]
pub fn decode_naive(
    cfg: &MlaConfig,
    p: &MlaParams,
    x: &Tensor,
    table: &RopeTable,
    cache: &LatentCache,
    start: &Tensor,
) -> (Tensor, LatentCache) {
    if let Some(e) = check_cache(cfg, "mla::decode_naive", x, cache) {
        return (e, cache.clone());
    }
    let (q_nope, q_rope) = queries(cfg, p, x, table);
    let (c, kr) = latents(cfg, p, x, table);
    let cache = cache.write(&c, &kr, start);
    let cd = x.dtype();
    let (k_nope, v) = expand(cfg, p, &cache.c.cast(cd));
    let mask = decode_mask(x.dims()[1], cache.c.dims()[1], start);
    let o = attend_full(
        cfg,
        &q_nope,
        &q_rope,
        &k_nope,
        &cache.k_rope.cast(cd),
        &v,
        &mask,
    );
    (linear(&o, &p.o.cast(cd)), cache)
}

/// [`decode_naive`] with the absorbed projections: scores `q_lat · c + q_rope · k_rope` with
/// `q_lat = q_nope · W_uk`, then `o = (p · c) · W_uv`; keys and values are never expanded.
#[track_caller]
pub fn decode_absorbed(
    cfg: &MlaConfig,
    p: &MlaParams,
    x: &Tensor,
    table: &RopeTable,
    cache: &LatentCache,
    start: &Tensor,
) -> (Tensor, LatentCache) {
    if let Some(e) = check_cache(cfg, "mla::decode_absorbed", x, cache) {
        return (e, cache.clone());
    }
    let cd = x.dtype();
    let (b, t) = (x.dims()[0], x.dims()[1]);
    let (q_nope, q_rope) = queries(cfg, p, x, table);
    let (c, kr) = latents(cfg, p, x, table);
    let cache = cache.write(&c, &kr, start);
    let (cc, ckr) = (cache.c.cast(cd), cache.k_rope.cast(cd));
    let w = p
        .kv_b
        .cast(cd)
        .reshape(&[cfg.kv_lora_rank, cfg.heads, cfg.qk_nope_dim + cfg.v_dim]);
    let wp = w.split(&[cfg.qk_nope_dim, cfg.v_dim], 2);
    let (w_uk, w_uv) = (&wp[0], &wp[1]);
    // q_nope [B,T,H,n] · W_uk [c,H,n] over n, batch H -> [H, B, T, c]
    let q_lat = q_nope.dot_general(w_uk, dims(&[2], &[1], &[3], &[2]), cd);
    // [H,B,T,c] · c [B,S,c] -> [B, H, T, S]
    let s_nope = q_lat.dot_general(&cc, dims(&[1], &[0], &[3], &[2]), DType::F32);
    let s_rope = q_rope
        .dot_general(&ckr, dims(&[0], &[0], &[3], &[2]), DType::F32)
        .transpose(&[0, 2, 1, 3]);
    let s = (s_nope + s_rope) * cfg.softmax_scale;
    let mask = decode_mask(t, cc.dims()[1], start);
    let pr = softmax_masked(&s, &mask, cd);
    // p [B,H,T,S] · c [B,S,c] -> [B, H, T, c]
    let o_lat = pr.dot_general(&cc, dims(&[0], &[0], &[3], &[1]), cd);
    // [B,H,T,c] · W_uv [c,H,v], batch H -> [H, B, T, v]
    let o = o_lat.dot_general(w_uv, dims(&[1], &[1], &[3], &[0]), cd);
    let o = o
        .transpose(&[1, 2, 0, 3])
        .reshape(&[b, t, cfg.heads * cfg.v_dim]);
    (linear(&o, &p.o.cast(cd)), cache)
}
