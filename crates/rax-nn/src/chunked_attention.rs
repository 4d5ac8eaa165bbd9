//! Megalodon's inner attention over already normalised queries and keys, with no
//! `1/sqrt(d)` temperature (the per-head RMS norm and Q/K affine set the scale):
//! - chunk-local: the sequence is cut into chunks of `chunk` tokens and each attends causally
//!   only within itself (context across chunks flows through the EMA); RoPE positions restart
//!   at every chunk (the caller builds the table from `position mod chunk`);
//! - the optional sliding window (`attention_window = w`): each token sees the previous w
//!   tokens (itself included) with absolute RoPE positions;
//! - packed sequences: attention never crosses a run, and chunks are re-anchored at each run
//!   start (a document starting mid-chunk sees the same pattern as alone): keys come from the
//!   current and the previous chunk, masked to the same run and run-local chunk;
//! - streaming: a ring cache of at most one chunk (or window) of rotated keys and values, with
//!   validity derived from token ages, so outputs do not depend on how a sequence is split.
//!
//! Scores are `q·k` accumulated in f32, masked, cast to the policy's softmax dtype for the
//! softmax, and rows with no valid key give zeros; probabilities are cast to the compute dtype
//! before the value product (f32 accumulation).
//!
//! Depends on rax-core, `rope` and `segments`.

use crate::rope::{apply_rope, RopeLayout, RopeTable};
use crate::segments::SegmentMetadata;
use rax_core::ir::DotDims;
use rax_core::{DType, PrngKey, Tensor};
use rax_macros::Tree;

/// The ring cache of one layer: rotated keys `[B, C, H, Dh]`, values `[B, C, H, Dv]` (compute
/// dtype) and i32 `count` (tokens seen: the next absolute position).
#[derive(Clone, Debug, Tree)]
pub struct AttentionCache {
    /// Rotated keys.
    pub k: Tensor,
    /// Values.
    pub v: Tensor,
    /// Tokens processed so far (i32 scalar).
    pub count: Tensor,
}

/// Attention dropout (training only).
#[derive(Clone, Debug)]
pub struct AttnDropout {
    /// Drop probability.
    pub rate: f64,
    /// DropKey (mask scores before the softmax) instead of dropping probabilities after it.
    pub dropkey: bool,
    /// Randomness.
    pub key: PrngKey,
}

/// Mask value of excluded scores: finite, so a row with no valid key stays finite (it is
/// zeroed afterwards), and below any real score so excluded keys get exactly zero weight.
const MASKED: f64 = -1e30;

/// Attention of `q [B, Lq, H, Dh]` over `k [B, Lk, H, Dh]`, `v [B, Lk, H, Dv]` with optional
/// `kv_mask [B, Lk]`, `qk_mask [B, Lq, Lk]` and a causal mask aligning the last query with the
/// last key. Returns `[B, Lq, H, Dv]` in q's dtype.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    kv_mask: Option<&Tensor>,
    qk_mask: Option<&Tensor>,
    causal: bool,
    softmax: DType,
    dropout: Option<&AttnDropout>,
) -> Tensor {
    let (qd, kd) = (q.dims(), k.dims());
    let (b, lq, h) = (qd[0], qd[1], qd[2]);
    let lk = kd[1];
    let cdt = q.dtype();
    let acc = if cdt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let s = q.dot_general(
        k,
        DotDims {
            lhs_batch: vec![0, 2],
            rhs_batch: vec![0, 2],
            lhs_contract: vec![3],
            rhs_contract: vec![3],
        },
        acc,
    ); // [B, H, Lq, Lk]
    let mut edges: Option<Tensor> = None;
    if causal {
        let qp = Tensor::iota(&[lq, lk], 0, DType::I32) + (lk as i32 - lq as i32);
        let kp = Tensor::iota(&[lq, lk], 1, DType::I32);
        edges = Some(kp.le(&qp).reshape(&[1, 1, lq, lk]));
    }
    let and = |e: Option<Tensor>, m: Tensor| {
        Some(match e {
            Some(e) => e.and(&m),
            None => m,
        })
    };
    if let Some(m) = kv_mask {
        edges = and(edges, m.cast(DType::Bool).reshape(&[b, 1, 1, lk]));
    }
    if let Some(m) = qk_mask {
        edges = and(edges, m.cast(DType::Bool).reshape(&[b, 1, lq, lk]));
    }
    if let Some(d) = dropout.filter(|d| d.dropkey && d.rate > 0.0) {
        let keep = d.key.bernoulli(1.0 - d.rate, &[b, h, lq, lk]);
        edges = and(edges, keep);
    }
    let s = match &edges {
        Some(e) => Tensor::select(e, &s, &Tensor::scalar_of(MASKED, acc)),
        None => s,
    };
    let mut p = s.cast(softmax).softmax(3);
    if let Some(e) = &edges {
        let any = e
            .broadcast_to(&[b, h, lq, lk])
            .any(&[3])
            .reshape(&[b, h, lq, 1]);
        p = Tensor::select(&any, &p, &p.scalar_like(0.0));
    }
    let mut p = p.cast(cdt);
    if let Some(d) = dropout.filter(|d| !d.dropkey && d.rate > 0.0) {
        let keep = d.key.bernoulli(1.0 - d.rate, &[b, h, lq, lk]);
        p = Tensor::select(&keep, &(&p * (1.0 / (1.0 - d.rate))), &p.scalar_like(0.0));
    }
    let o = p.dot_general(
        v,
        DotDims {
            lhs_batch: vec![0, 1],
            rhs_batch: vec![0, 2],
            lhs_contract: vec![3],
            rhs_contract: vec![1],
        },
        acc,
    ); // [B, H, Lq, Dv]
    o.transpose(&[0, 2, 1, 3]).cast(cdt)
}

fn pad_axis1(x: &Tensor, n: usize, value: f64) -> Tensor {
    if n == 0 {
        return x.clone();
    }
    let r = x.rank();
    let mut hi = vec![0i64; r];
    hi[1] = n as i64;
    x.pad(&x.scalar_like(value), &vec![0; r], &hi, &vec![0; r])
}

/// Prepends each chunk's predecessor along the key axis: `[B, Lp, ..] → [B·NC, 2·chunk, ..]`.
fn window_keys(z: &Tensor, chunk: usize, fill: f64) -> Tensor {
    let d = z.dims();
    let (b, lp) = (d[0], d[1]);
    let nc = lp / chunk;
    let mut cd = vec![b, nc, chunk];
    cd.extend_from_slice(&d[2..]);
    let zc = z.reshape(&cd);
    let mut hd = cd.clone();
    hd[1] = 1;
    let prev = Tensor::concat(
        &[
            Tensor::full(&hd, fill, z.dtype()),
            zc.slice_axis(1, 0, nc - 1),
        ],
        1,
    );
    let mut out = vec![b * nc, 2 * chunk];
    out.extend_from_slice(&d[2..]);
    Tensor::concat(&[prev, zc], 2).reshape(&out)
}

/// Chunk-local causal attention of `q, k [B, L, H, Dh]`, `v [B, L, H, Dv]` (not yet rotated;
/// `table` holds the RoPE factors of the L positions). `mask [B, L]` marks valid tokens;
/// `segments` isolates packed runs.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn chunked(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    chunk: usize,
    table: &RopeTable,
    mask: Option<&Tensor>,
    segments: Option<&SegmentMetadata>,
    softmax: DType,
    dropout: Option<&AttnDropout>,
) -> Tensor {
    let qd = q.dims();
    let (b, l, h, dh) = (qd[0], qd[1], qd[2], qd[3]);
    let dv = v.dims()[3];
    let qr = apply_rope(q, table, RopeLayout::Interleaved);
    let kr = apply_rope(k, table, RopeLayout::Interleaved);
    if l <= chunk {
        let qk = segments.map(|m| {
            let r = &m.run_ids;
            let same = r.reshape(&[b, l, 1]).eq(&r.reshape(&[b, 1, l]));
            same.and(&m.valid.reshape(&[b, l, 1]))
                .and(&m.valid.reshape(&[b, 1, l]))
        });
        return attend(&qr, &kr, v, mask, qk.as_ref(), true, softmax, dropout);
    }
    let pad = (chunk - l % chunk) % chunk;
    let lp = l + pad;
    let nc = lp / chunk;
    let (qr, kr, v) = (
        pad_axis1(&qr, pad, 0.0),
        pad_axis1(&kr, pad, 0.0),
        pad_axis1(v, pad, 0.0),
    );
    let mask = mask.map(|m| pad_axis1(&m.cast(DType::Bool), pad, 0.0));
    let qc = qr.reshape(&[b * nc, chunk, h, dh]);
    let out = match segments {
        None => {
            let kc = kr.reshape(&[b * nc, chunk, h, dh]);
            let vc = v.reshape(&[b * nc, chunk, h, dv]);
            let mc = mask.map(|m| m.reshape(&[b * nc, chunk]));
            attend(&qc, &kc, &vc, mc.as_ref(), None, true, softmax, dropout)
        }
        Some(meta) => {
            let runs = pad_axis1(&meta.run_ids, pad, 0.0);
            let local = pad_axis1(&meta.local_positions, pad, 0.0)
                / Tensor::scalar_of(chunk as f64, DType::I32);
            let valid = pad_axis1(&meta.valid, pad, 0.0);
            let rq = runs.reshape(&[b * nc, chunk, 1]);
            let lq = local.reshape(&[b * nc, chunk, 1]);
            let vq = valid.reshape(&[b * nc, chunk, 1]);
            let rk = window_keys(&runs, chunk, 0.0).reshape(&[b * nc, 1, 2 * chunk]);
            let lk = window_keys(&local, chunk, 0.0).reshape(&[b * nc, 1, 2 * chunk]);
            let vk = window_keys(&valid, chunk, 0.0).reshape(&[b * nc, 1, 2 * chunk]);
            let qk = rq.eq(&rk).and(&lq.eq(&lk)).and(&vq).and(&vk);
            let km = mask.map(|m| window_keys(&m, chunk, 0.0));
            attend(
                &qc,
                &window_keys(&kr, chunk, 0.0),
                &window_keys(&v, chunk, 0.0),
                km.as_ref(),
                Some(&qk),
                true,
                softmax,
                dropout,
            )
        }
    };
    out.reshape(&[b, lp, h, dv]).slice_axis(1, 0, l)
}

/// Sliding-window attention without a cache: token t sees tokens `t−w+1..=t` of its own run.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn sliding(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    window: usize,
    table: &RopeTable,
    mask: Option<&Tensor>,
    segments: Option<&SegmentMetadata>,
    softmax: DType,
    dropout: Option<&AttnDropout>,
) -> Tensor {
    let qd = q.dims();
    let (b, l) = (qd[0], qd[1]);
    let (pos, mut qk) = match segments {
        Some(m) => {
            let r = &m.run_ids;
            let same = r.reshape(&[b, l, 1]).eq(&r.reshape(&[b, 1, l]));
            let both = m
                .valid
                .reshape(&[b, l, 1])
                .and(&m.valid.reshape(&[b, 1, l]));
            (m.local_positions.clone(), same.and(&both))
        }
        None => (
            Tensor::iota(&[b, l], 1, DType::I32),
            Tensor::full(&[b, l, l], 1.0, DType::Bool),
        ),
    };
    let age = pos.reshape(&[b, l, 1]) - pos.reshape(&[b, 1, l]);
    let zero = Tensor::scalar_of(0.0, DType::I32);
    let w = Tensor::scalar_of(window as f64, DType::I32);
    qk = qk.and(&age.ge(&zero)).and(&age.lt(&w));
    if let Some(m) = mask {
        let m = m.cast(DType::Bool);
        qk = qk.and(&m.reshape(&[b, l, 1])).and(&m.reshape(&[b, 1, l]));
    }
    let qr = apply_rope(q, table, RopeLayout::Interleaved);
    let kr = apply_rope(k, table, RopeLayout::Interleaved);
    attend(&qr, &kr, v, None, Some(&qk), false, softmax, dropout)
}

fn floor_mod(a: &Tensor, c: i32) -> Tensor {
    let c = Tensor::scalar_of(c as f64, DType::I32);
    (&(a % &c) + &c) % &c
}

/// Streaming attention with a ring cache of `capacity` slots (`chunk` without a window, else
/// the window). `table` holds the RoPE factors of the new tokens' positions. Without a cache
/// the prompt is evaluated vectorially and its tail written to a fresh ring; with one, tokens
/// are processed one by one by a `scan`. Returns the outputs and the new cache.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn streaming(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cache: Option<&AttentionCache>,
    chunk: usize,
    window: Option<usize>,
    table: &RopeTable,
    softmax: DType,
) -> (Tensor, AttentionCache) {
    let qd = q.dims();
    let (b, l, h, dh) = (qd[0], qd[1], qd[2], qd[3]);
    let dv = v.dims()[3];
    let cap = window.unwrap_or(chunk);
    let Some(cache) = cache else {
        let out = match window {
            None => chunked(q, k, v, chunk, table, None, None, softmax, None),
            Some(w) => sliding(q, k, v, w, table, None, None, softmax, None),
        };
        let keep = l.min(cap);
        let start = l - keep;
        let kr = apply_rope(k, table, RopeLayout::Interleaved).slice_axis(1, start, l);
        let vt = v.slice_axis(1, start, l);
        // Slots of absolute times start..l are (t mod cap): a rotation of the kept tail.
        let first = start % cap;
        let place = |t: &Tensor| {
            let t = if keep < cap {
                pad_axis1(t, cap - keep, 0.0)
            } else {
                t.clone()
            };
            if first == 0 {
                t
            } else {
                Tensor::concat(
                    &[
                        t.slice_axis(1, cap - first, cap),
                        t.slice_axis(1, 0, cap - first),
                    ],
                    1,
                )
            }
        };
        let new = AttentionCache {
            k: place(&kr),
            v: place(&vt),
            count: Tensor::scalar_of(l as f64, DType::I32),
        };
        return (out, new);
    };
    let slots = Tensor::iota(&[cap], 0, DType::I32);
    let cos = table.cos.moveaxis(1, 0);
    let sin = table.sin.moveaxis(1, 0);
    let tb = table.cos.dims()[0];
    let half = table.cos.dims()[3];
    let (carry, ys) = rax_core::scan(
        |c: &[Tensor], xs: &[Tensor]| {
            let (ck, cv, pos) = (&c[0], &c[1], &c[2]);
            let t = RopeTable {
                cos: xs[3].reshape(&[tb, 1, 1, half]),
                sin: xs[4].reshape(&[tb, 1, 1, half]),
            };
            let qt = apply_rope(&xs[0].reshape(&[b, 1, h, dh]), &t, RopeLayout::Interleaved);
            let kt = apply_rope(&xs[1].reshape(&[b, 1, h, dh]), &t, RopeLayout::Interleaved);
            let vt = xs[2].reshape(&[b, 1, h, dv]);
            let slot = floor_mod(pos, cap as i32);
            let z = Tensor::scalar_of(0.0, DType::I32);
            let ck = ck.dynamic_update_slice(
                &kt.cast(ck.dtype()),
                &[z.clone(), slot.clone(), z.clone(), z.clone()],
            );
            let cv =
                cv.dynamic_update_slice(&vt.cast(cv.dtype()), &[z.clone(), slot, z.clone(), z]);
            let st = pos - &floor_mod(&(pos - &slots), cap as i32);
            let mut valid = st.ge(&Tensor::scalar_of(0.0, DType::I32));
            if window.is_none() {
                let c = Tensor::scalar_of(chunk as f64, DType::I32);
                valid = valid.and(&(&st / &c).eq(&(pos / &c)));
            }
            let kv = valid.reshape(&[1, cap]).broadcast_to(&[b, cap]);
            let o = attend(&qt, &ck, &cv, Some(&kv), None, false, softmax, None);
            (vec![ck, cv, pos + 1], vec![o.reshape(&[b, h, dv])])
        },
        &[
            cache.k.clone(),
            cache.v.clone(),
            cache.count.cast(DType::I32),
        ],
        &[
            q.swap_axes(0, 1),
            k.swap_axes(0, 1),
            v.swap_axes(0, 1),
            cos,
            sin,
        ],
        None,
        false,
    );
    let out = ys[0].swap_axes(0, 1);
    (
        out,
        AttentionCache {
            k: carry[0].clone(),
            v: carry[1].clone(),
            count: carry[2].clone(),
        },
    )
}
