//! Routing tokens to experts and back: three paths that give the same result when no token is
//! dropped.
//!
//! - [`Dispatch::Dense`]: the oracle. Every expert runs on every token; the outputs are combined
//!   with a dense `[N, E]` weight matrix that is zero off the chosen experts.
//! - [`Dispatch::Capacity`]: static shapes. Each expert has `C = ceil(factor·N·k/E)` slots;
//!   assignments claim slots in priority order (every token's first choice, then every token's
//!   second, ...; within a choice rank, token order). Assignments beyond `C` are dropped (their
//!   routed contribution is zero, so the token passes through on the residual) and counted.
//! - [`Dispatch::Dropless`]: assignments are sorted by expert (stable argsort), each expert's
//!   run is padded to a multiple of `block` rows, and a grouped GEMM runs one expert per block
//!   (the block's expert weights gathered), then the rows are scattered back to their tokens
//!   with their weights. The padded length `N·k + E·(block−1)` bounds every routing, so shapes
//!   are static and nothing is dropped.
//!
//! Expert weights are stacked: `gate_up [E, D, 2I]` (gate columns, then up) and
//! `down [E, I, D]`; the FFN is SwiGLU. Routed outputs are weighted in f32 and cast to the
//! compute dtype.
//!
//! Depends on rax-core.

use crate::layers::silu;
use rax_core::ir::DotDims;
use rax_core::{DType, Error, Tensor};

/// Which dispatch path to use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dispatch {
    /// Every expert on every token, masked (the oracle).
    Dense,
    /// Static per-expert capacity `ceil(factor · N · k / E)`; overflow dropped and counted.
    Capacity {
        /// Capacity factor (1.0 = exactly balanced load fits).
        factor: f64,
    },
    /// Sort by expert, block-padded grouped GEMM, unsort; never drops.
    Dropless {
        /// Rows per GEMM block.
        block: usize,
    },
}

/// The combined routed output and how many assignments were dropped.
#[derive(Clone, Debug)]
pub struct Dispatched {
    /// `[N, D]` in the compute dtype.
    pub out: Tensor,
    /// f32 scalar: number of (token, expert) assignments dropped (0 unless `Capacity`).
    pub dropped: Tensor,
}

fn dd(lb: &[usize], rb: &[usize], lc: &[usize], rc: &[usize]) -> DotDims {
    DotDims {
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
    }
}

/// SwiGLU of grouped rows `x [G, M, D]` with per-group weights `gate_up [G, D, 2I]`,
/// `down [G, I, D]` → `[G, M, D]`.
pub fn grouped_ffn(x: &Tensor, gate_up: &Tensor, down: &Tensor) -> Tensor {
    let cd = x.dtype();
    let i = down.dims()[1];
    let h = x.dot_general(&gate_up.cast(cd), dd(&[0], &[0], &[2], &[1]), cd);
    let parts = h.split(&[i, i], 2);
    let a = silu(&parts[0]) * &parts[1];
    a.dot_general(&down.cast(cd), dd(&[0], &[0], &[2], &[1]), cd)
}

/// Slots per expert of the capacity path.
pub fn capacity(factor: f64, tokens: usize, top_k: usize, experts: usize) -> usize {
    ((factor * (tokens * top_k) as f64) / experts as f64)
        .ceil()
        .max(1.0) as usize
}

/// Runs the routed experts on `x [N, D]` for the routing `indices [N, k]` (i32) with f32
/// combine `weights [N, k]`.
#[track_caller]
pub fn dispatch(
    kind: Dispatch,
    x: &Tensor,
    indices: &Tensor,
    weights: &Tensor,
    gate_up: &Tensor,
    down: &Tensor,
) -> Dispatched {
    let site = rax_core::CallSite::here();
    let ok = x.rank() == 2
        && indices.rank() == 2
        && indices.dims()[0] == x.dims()[0]
        && weights.dims() == indices.dims()
        && gate_up.rank() == 3
        && down.rank() == 3
        && gate_up.dims()[1] == x.dims()[1]
        && down.dims()[0] == gate_up.dims()[0]
        && gate_up.dims()[2] == 2 * down.dims()[1]
        && down.dims()[2] == x.dims()[1]
        && match kind {
            Dispatch::Capacity { factor } => factor > 0.0,
            Dispatch::Dropless { block } => block > 0,
            Dispatch::Dense => true,
        };
    if !ok {
        let e = Error::shape(
            "moe::dispatch",
            format!(
                "expects x [N, D], indices/weights [N, k], gate_up [E, D, 2I], down [E, I, D] \
                 and a positive capacity factor / block ({kind:?})"
            ),
            &[x.aval(), indices.aval(), gate_up.aval(), down.aval()],
        );
        let p = rax_core::trace::apply_error(e, x.aval(), site);
        return Dispatched {
            out: p.clone(),
            dropped: p,
        };
    }
    match kind {
        Dispatch::Dense => dense(x, indices, weights, gate_up, down),
        Dispatch::Capacity { factor } => by_capacity(factor, x, indices, weights, gate_up, down),
        Dispatch::Dropless { block } => dropless(block, x, indices, weights, gate_up, down),
    }
}

fn dense(x: &Tensor, idx: &Tensor, w: &Tensor, gate_up: &Tensor, down: &Tensor) -> Dispatched {
    let cd = x.dtype();
    let e = gate_up.dims()[0];
    let i = down.dims()[1];
    // [N, E, 2I]
    let h = x.dot_general(&gate_up.cast(cd), dd(&[], &[], &[1], &[1]), cd);
    let parts = h.split(&[i, i], 2);
    let a = silu(&parts[0]) * &parts[1];
    // [N,E,I] · [E,I,D], batch E -> [E, N, D]
    let y = a.dot_general(&down.cast(cd), dd(&[1], &[0], &[2], &[1]), cd);
    let cw = (idx.one_hot(e, DType::F32) * w.expand_dims(2)).sum(&[1]); // [N, E]
                                                                        // [N,E] · [E,N,D], batch N -> [N, D]
    let out = cw.dot_general(&y.cast(DType::F32), dd(&[0], &[1], &[1], &[0]), DType::F32);
    Dispatched {
        out: out.cast(cd),
        dropped: Tensor::scalar_of(0.0, DType::F32),
    }
}

/// Assignments in priority order (choice rank major): `(expert [kN], token [kN], weight [kN])`.
fn flat_assignments(idx: &Tensor, w: &Tensor) -> (Tensor, Tensor, Tensor) {
    let (n, k) = (idx.dims()[0], idx.dims()[1]);
    let e = idx.transpose(&[1, 0]).reshape(&[k * n]);
    let tok = Tensor::iota(&[k, n], 1, DType::I32).reshape(&[k * n]);
    let wf = w.transpose(&[1, 0]).reshape(&[k * n]);
    (e, tok, wf)
}

fn by_capacity(
    factor: f64,
    x: &Tensor,
    idx: &Tensor,
    w: &Tensor,
    gate_up: &Tensor,
    down: &Tensor,
) -> Dispatched {
    let cd = x.dtype();
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let (k, e) = (idx.dims()[1], gate_up.dims()[0]);
    let c = capacity(factor, n, k, e);
    let (ef, tok, wf) = flat_assignments(idx, w);
    let oh = ef.one_hot(e, DType::I32); // [kN, E]
    let before = oh.cumsum(0, false) - &oh; // assignments to the same expert ahead of this one
    let pos = (before * &oh).sum(&[1]); // [kN]
    let keep = pos.lt(&Tensor::scalar_of(c as f64, DType::I32));
    let slot = &ef * (c as f64) + &pos;
    let oob = Tensor::scalar_of((e * c) as f64, DType::I32);
    let slot = Tensor::select(&keep, &slot, &oob);
    let rows = x.take(&tok, 0); // [kN, D]
    let buf = Tensor::zeros(&[e * c, d], cd).index_add(0, &slot, &rows);
    let y = grouped_ffn(&buf.reshape(&[e, c, d]), gate_up, down).reshape(&[e * c, d]);
    let back = y.take(&slot.clamp_scalar(0.0, (e * c - 1) as f64), 0);
    let keepf = keep.cast(DType::F32);
    let scaled = back.cast(DType::F32) * (&wf * &keepf).expand_dims(1);
    let out = Tensor::zeros(&[n, d], DType::F32).index_add(0, &tok, &scaled);
    Dispatched {
        out: out.cast(cd),
        dropped: (keepf * -1.0 + 1.0).sum(&[0]),
    }
}

fn dropless(
    block: usize,
    x: &Tensor,
    idx: &Tensor,
    w: &Tensor,
    gate_up: &Tensor,
    down: &Tensor,
) -> Dispatched {
    let cd = x.dtype();
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let (k, e) = (idx.dims()[1], gate_up.dims()[0]);
    let a = n * k;
    let tiles = (a + e * (block - 1)).div_ceil(block);
    let rows_p = tiles * block;
    let (ef, tok, wf) = flat_assignments(idx, w);
    let perm = ef.argsort(0, false);
    let se = ef.take(&perm, 0); // sorted experts [A]
    let stok = tok.take(&perm, 0);
    let sw = wf.take(&perm, 0);
    let counts = ef.one_hot(e, DType::I32).sum(&[0]); // [E]
    let start = counts.cumsum(0, false) - &counts;
    let bl = Tensor::scalar_of(block as f64, DType::I32);
    let padded = (&(&counts + (block as f64 - 1.0)) / &bl) * &bl;
    let pstart = padded.cumsum(0, false) - &padded;
    let pend = &pstart + &padded;
    let rank = Tensor::iota(&[a], 0, DType::I32);
    let dest = pstart.take(&se, 0) + rank - start.take(&se, 0); // [A], unique rows
    let buf = Tensor::zeros(&[rows_p, d], cd).index_add(0, &dest, &x.take(&stok, 0));
    let tile_start = Tensor::iota(&[tiles, 1], 0, DType::I32) * (block as f64);
    let tile_expert = pend
        .expand_dims(0)
        .le(&tile_start)
        .cast(DType::I32)
        .sum(&[1])
        .clamp_scalar(0.0, (e - 1) as f64); // [tiles]
    let y = grouped_ffn(
        &buf.reshape(&[tiles, block, d]),
        &gate_up.take(&tile_expert, 0),
        &down.take(&tile_expert, 0),
    )
    .reshape(&[rows_p, d]);
    let back = y.take(&dest, 0).cast(DType::F32) * sw.expand_dims(1);
    let out = Tensor::zeros(&[n, d], DType::F32).index_add(0, &stok, &back);
    Dispatched {
        out: out.cast(cd),
        dropped: Tensor::scalar_of(0.0, DType::F32),
    }
}
