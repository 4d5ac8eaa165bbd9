//! A test-time-training layer (TTT-Linear): a fast weight `W [D, D]` is trained *inside* the
//! forward pass. The sequence is cut into chunks; for chunk `i` with keys `K = x·θ_K`, values
//! `V = x·θ_V` and queries `Q = x·θ_Q` (each `[B, c, D]`), the inner loss is the mean squared
//! reconstruction `ℓ(W) = Σ_t ‖k_t W − v_t‖² / c`, whose gradient is `2/c · Kᵀ(KW − V)`. One
//! inner gradient step `W ← W − η ∇ℓ(W)` is taken per chunk (per sequence: `W` is `[B, D, D]`,
//! starting from the learned initial fast weight `W₀`), and the chunk's output is `Q·W` with the
//! updated `W`, projected by `θ_O`. The outer gradient flows through every inner update.
//!
//! Precision: the inner updates are tiny (η·∇ℓ ~ 1e-5 at η = 1e-3), far below half the bf16
//! spacing at |W| ~ 0.02 (2^-14 ≈ 6e-5), so a bf16 fast weight would not learn at test time.
//! `W₀` is a sensitive leaf (stored f32 whatever the policy), the update is computed in f32,
//! and each updated `W` is written back into `W₀`'s slot with [`assign_checked`]. If `W₀` is
//! stored narrower (a blanket bf16 cast), `apply` refuses at trace time naming the leaf,
//! instead of narrowing every update silently.
//!
//! Depends on rax-core (`precision::assign_checked`) and `layers`.

use crate::layers::linear;
use rax_core::precision::assign_checked;
use rax_core::{DType, Error, PrngKey, Result, Tensor};
use rax_macros::Tree;

/// Parameters of one TTT-Linear layer.
#[derive(Clone, Debug, Tree)]
pub struct TttLinear {
    /// Key projection `[D, D]`.
    pub theta_k: Tensor,
    /// Value projection `[D, D]`.
    pub theta_v: Tensor,
    /// Query projection `[D, D]`.
    pub theta_q: Tensor,
    /// Output projection `[D, D]`.
    pub theta_o: Tensor,
    /// The initial fast weight `[D, D]` (f32 whatever the policy).
    #[tree(sensitive)]
    pub w0: Tensor,
}

/// How the layer runs.
#[derive(Clone, Copy, Debug)]
pub struct TttOptions {
    /// Tokens per inner step.
    pub chunk: usize,
    /// Inner learning rate η.
    pub inner_lr: f64,
    /// Compute dtype of the projections (the fast weight and its update stay f32).
    pub compute: DType,
}

/// The inner loss's gradient `2/c · Kᵀ(KW − V)` for `w [B, D, D]`, `k`, `v [B, c, D]` (f32).
/// Operands of other ranks give a shape error (a poisoned tensor), not a panic.
#[track_caller]
pub fn inner_grad(w: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    let c = k.dims().get(1).copied().unwrap_or(1).max(1) as f64;
    let r = Tensor::einsum("bcd,bde->bce", &[k, w]) - v;
    Tensor::einsum("bcd,bce->bde", &[k, &r]) * (2.0 / c)
}

impl TttLinear {
    /// Fresh f32 parameters: projections ~ N(0, 0.02²) (θ_O scaled by 1/√D), `W₀` ~ N(0, 0.02²).
    pub fn init(dim: usize, key: &PrngKey) -> Result<TttLinear> {
        let k = key.split(5);
        let n = |i: usize, s: f64| &k[i].normal(&[dim, dim], DType::F32) * s;
        let t = TttLinear {
            theta_k: n(0, 0.02),
            theta_v: n(1, 0.02),
            theta_q: n(2, 0.02),
            theta_o: n(3, 0.02 / (dim as f64).sqrt()),
            w0: n(4, 0.02),
        };
        rax_core::tree::flatten(&t)
            .iter()
            .try_for_each(|x| x.check().map(|_| ()))?;
        Ok(t)
    }

    /// `x [B, T, D]` → `[B, T, D]` (compute dtype). `T` must be a multiple of the chunk.
    #[track_caller]
    pub fn apply(&self, x: &Tensor, o: &TttOptions) -> Result<Tensor> {
        self.apply_at(x, o, "w0")
    }

    /// [`TttLinear::apply`], naming the fast weight by its path in the model (`w0_path`) in
    /// errors.
    #[track_caller]
    pub fn apply_at(&self, x: &Tensor, o: &TttOptions, w0_path: &str) -> Result<Tensor> {
        let (b, t, d) = match x.dims()[..] {
            [b, t, d] => (b, t, d),
            _ => {
                return Err(Error::shape(
                    "ttt_linear",
                    "x must be [batch, seq, dim]",
                    &[x.aval()],
                ))
            }
        };
        if o.chunk == 0 || t % o.chunk != 0 {
            return Err(Error::arg(
                "ttt_linear",
                format!(
                    "seq {t} must be a positive multiple of the chunk {}",
                    o.chunk
                ),
            ));
        }
        if self.w0.dims() != [d, d] {
            return Err(Error::shape(
                "ttt_linear",
                "w0 must be [dim, dim]",
                &[self.w0.aval(), x.aval()],
            ));
        }
        let wd = self.w0.dtype();
        if wd != DType::F32 {
            return Err(Error::arg(
                "ttt_linear",
                format!(
                    "fast weight `{w0_path}` is stored {wd}, but its inner updates are computed \
                     in f32 and would be narrowed into the {wd} slot at every step (silent \
                     precision loss: an update of ~1e-5 is below half the {wd} spacing at \
                     |w| ~ 0.02); keep it f32 (it is a sensitive leaf: a blanket cast overrode \
                     that)"
                ),
            ));
        }
        let c = o.compute;
        let kk = linear(x, &self.theta_k.cast(c)).cast(DType::F32);
        let vv = linear(x, &self.theta_v.cast(c)).cast(DType::F32);
        let qq = linear(x, &self.theta_q.cast(c)).cast(DType::F32);
        // The fast weight's slot: W₀'s dtype, broadcast per sequence.
        let slot = self.w0.broadcast_to(&[b, d, d]);
        let mut w = slot.clone();
        let mut outs = Vec::with_capacity(t / o.chunk);
        for i in 0..t / o.chunk {
            let (lo, hi) = (i * o.chunk, (i + 1) * o.chunk);
            let (k, v, q) = (
                kk.slice_axis(1, lo, hi),
                vv.slice_axis(1, lo, hi),
                qq.slice_axis(1, lo, hi),
            );
            let w32 = w.cast(DType::F32);
            let updated = &w32 - &(inner_grad(&w32, &k, &v) * o.inner_lr);
            // Never narrows here (the slot is f32); kept as the guard of the write-back.
            w = assign_checked(&slot, &updated)?;
            outs.push(Tensor::einsum("bcd,bde->bce", &[&q, &w.cast(DType::F32)]));
        }
        let z = Tensor::concat(&outs, 1).cast(c);
        Ok(linear(&z, &self.theta_o.cast(c)))
    }
}
