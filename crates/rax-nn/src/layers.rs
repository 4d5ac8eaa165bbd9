//! Core layers as pure functions: RMSNorm, tanh-GELU, SiLU, causal multi-head attention from a
//! fused QKV projection, and mean cross-entropy. Numerics (docs/architecture.md, "Numerics
//! notes"): norms, softmax and the loss compute in f32 whatever the compute dtype; matmuls take
//! compute-dtype operands; attention scores accumulate in f32 (`dot_general` with an f32
//! result).
//!
//! Depends on rax-core.

use rax_core::autodiff::custom_vjp;
use rax_core::ir::DotDims;
use rax_core::{DType, Tensor};

/// RMSNorm over the last axis: `x_f32 · rsqrt(mean(x²) + eps) · w`, reduction in f32, result
/// in `out` dtype. `w` is an f32 (sensitive) scale.
#[track_caller]
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64, out: DType) -> Tensor {
    let last = x.rank().saturating_sub(1);
    let xf = x.cast(DType::F32);
    let ms = (&xf * &xf).mean_keepdims(&[last]);
    ((&xf * (ms + eps).rsqrt()) * w.cast(DType::F32)).cast(out)
}

const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)
const GELU_A: f64 = 0.044715;

fn gelu_tanh_value(x: &Tensor) -> Tensor {
    let inner = (x + x * x * x * GELU_A) * GELU_C;
    x * 0.5 * (inner.tanh() + 1.0)
}

/// GELU with the tanh approximation (as `jax.nn.gelu(approximate=True)`), with a VJP that keeps
/// only `x` for the backward pass and computes
/// `d/dx = ½(1 + t) + ½·x·(1 − t²)·c·(1 + 3a·x²)`, `t = tanh(c·(x + a·x³))`, in f32 (f64 for
/// f64 inputs), cast once to the cotangent's dtype. Differentiating the composite instead
/// would keep `x²`, `x³`, the tanh argument and `t` alive until the backward pass: four more
/// activations per MLP layer, 8 MB of bf16 temporaries per layer in the reference LM step,
/// which XLA maps and faults in on every step.
#[track_caller]
pub fn gelu_tanh(x: &Tensor) -> Tensor {
    let site = rax_core::CallSite::here();
    let f = custom_vjp(
        |a: &[Tensor]| vec![gelu_tanh_value(&a[0])],
        |a: &[Tensor]| (vec![gelu_tanh_value(&a[0])], vec![a[0].clone()]),
        |res: &[Tensor], ct: &[Tensor]| {
            let cd = if res[0].dtype() == DType::F64 {
                DType::F64
            } else {
                DType::F32
            };
            let x = res[0].cast(cd);
            let x2 = &x * &x;
            let t = ((&x + &x2 * &x * GELU_A) * GELU_C).tanh();
            let dt = (&t * &t * -1.0 + 1.0) * (x2 * (3.0 * GELU_A * GELU_C) + GELU_C);
            let d = (t + 1.0 + x * dt) * 0.5;
            vec![(ct[0].cast(cd) * d).cast(ct[0].dtype())]
        },
    );
    match f(std::slice::from_ref(x)).map(|mut y| y.pop()) {
        Ok(Some(y)) => y,
        Ok(None) => {
            let e = rax_core::Error::shape("gelu_tanh", "no result", &[x.aval()]);
            rax_core::trace::apply_error(e, x.aval(), site)
        }
        Err(e) => rax_core::trace::apply_error(e, x.aval(), site),
    }
}

/// SiLU: x · σ(x).
#[track_caller]
pub fn silu(x: &Tensor) -> Tensor {
    x * x.sigmoid()
}

/// `x @ w` for `x` of any rank ≥ 2 and a 2-D `w`: flattens the leading dims into one GEMM.
#[track_caller]
pub fn linear(x: &Tensor, w: &Tensor) -> Tensor {
    let dims = x.dims();
    let k = dims.last().copied().unwrap_or(1);
    let rows: usize = dims[..dims.len().saturating_sub(1)].iter().product();
    let n = w.dims().last().copied().unwrap_or(1);
    let y = x.reshape(&[rows, k]).matmul(w);
    let mut out = dims[..dims.len().saturating_sub(1)].to_vec();
    out.push(n);
    y.reshape(&out)
}

/// Causal multi-head self-attention with a fused QKV projection `wqkv [D, 3D]` and output
/// projection `wo [D, D]`, on `x [B, T, D]`. Scores and softmax in f32 (fully masked rows cannot
/// occur under a causal mask; the mask value is f32::MIN so no NaN arises); probabilities are cast
/// to the compute dtype before multiplying V.
#[track_caller]
pub fn causal_attention(x: &Tensor, wqkv: &Tensor, wo: &Tensor, heads: usize) -> Tensor {
    let site = rax_core::CallSite::here();
    let dims = x.dims();
    let (b, t, d) = match dims[..] {
        [b, t, d] if heads > 0 && d % heads == 0 && wqkv.dims() == [d, 3 * d] => (b, t, d),
        _ => {
            let msg =
                format!("expects x [B, T, D], wqkv [D, 3D] and D divisible by heads = {heads}");
            let e = rax_core::Error::shape("causal_attention", msg, &[x.aval(), wqkv.aval()]);
            return rax_core::trace::apply_error(e, x.aval(), site);
        }
    };
    let hd = d / heads;
    let cdt = x.dtype();
    let qkv = linear(x, wqkv);
    let parts = qkv.split(&[d, d, d], 2);
    let to_heads = |y: &Tensor| y.reshape(&[b, t, heads, hd]).transpose(&[0, 2, 1, 3]);
    let (q, k, v) = (
        to_heads(&parts[0]),
        to_heads(&parts[1]),
        to_heads(&parts[2]),
    );
    let qk = DotDims {
        lhs_batch: vec![0, 1],
        rhs_batch: vec![0, 1],
        lhs_contract: vec![3],
        rhs_contract: vec![3],
    };
    let s = q.dot_general(&k, qk, DType::F32) * (hd as f64).powf(-0.5);
    let row = Tensor::iota(&[t, t], 0, DType::I32);
    let col = Tensor::iota(&[t, t], 1, DType::I32);
    let mask = row.ge(&col);
    let s = Tensor::select(&mask, &s, &Tensor::scalar_of(f32::MIN as f64, DType::F32));
    let p = s.softmax(3).cast(cdt);
    let pv = DotDims {
        lhs_batch: vec![0, 1],
        rhs_batch: vec![0, 1],
        lhs_contract: vec![3],
        rhs_contract: vec![2],
    };
    let o = p.dot_general(&v, pv, cdt);
    linear(&o.transpose(&[0, 2, 1, 3]).reshape(&[b, t, d]), wo)
}

/// Mean cross-entropy of `logits [N, V]` (upcast to f32) against integer `targets [N]`:
/// `logsumexp(z) - z_y`, averaged, in f32.
#[track_caller]
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let v = logits.dims().last().copied().unwrap_or(1);
    let logp = logits.cast(DType::F32).log_softmax(1);
    let picked = (&logp * targets.one_hot(v, DType::F32)).sum(&[1]);
    -picked.mean(&[0])
}
