//! Golden gradients (`cases/grads.json`, made by `gen/grads.py` with `jax.vjp`): each case is a
//! function of some inputs followed by an output cotangent; rax's `autodiff::vjp` must give
//! JAX's input cotangents (same dtypes). The catalogue lists the transformation-level calls
//! (`stop_gradient`, `checkpoint_name`, `checkpoint`, `custom_vjp`).

use crate::catalogue::{Entry, Vjp};
use rax_core::ir::DotDims;
use rax_core::{autodiff, scan, DType, Error, Result, Tensor};

fn func(op: &str) -> Result<fn(&[Tensor]) -> Tensor> {
    Ok(match op {
        "tanh_mul" => |a| a[0].tanh() * &a[1],
        "exp_log1p" => |a| a[0].exp() + (&a[0] * &a[0]).log1p(),
        "logistic_rsqrt" => |a| a[0].sigmoid() * a[0].rsqrt(),
        "erf_erf_inv" => |a| a[0].erf() + (&a[0] * 0.9).erf_inv(),
        "tan_cbrt" => |a| a[0].tan() * a[1].cbrt(),
        "max_ties" => |a| a[0].maximum(&a[1]),
        "min_ties" => |a| a[0].minimum(&a[1]),
        "clamp_edges" => |a| a[1].clamp(&a[0], &a[2]),
        "abs_zero" => |a| a[0].abs(),
        "pow" => |a| a[0].pow(&a[1]),
        "atan2_div" => |a| a[0].atan2(&a[1]) + &a[0] / &a[1],
        "select" => |a| Tensor::select(&a[0].gt(&a[1]), &a[0], &(&a[1] * 2.0)),
        "convert_bf16" => |a| {
            let b = a[0].cast(DType::BF16);
            (&b * &b).cast(DType::F32)
        },
        "dot_bf16_acc_f32" => |a| a[0].matmul_acc(&a[1], DType::F32),
        "dot_batched" => |a| {
            let d = DotDims {
                lhs_batch: vec![1],
                rhs_batch: vec![2],
                lhs_contract: vec![3, 2],
                rhs_contract: vec![0, 1],
            };
            a[0].dot_general(&a[1], d, DType::F32)
        },
        "reduce_max_ties" => |a| a[0].max(&[1]),
        "reduce_prod" => |a| a[0].prod(&[0]),
        "logsumexp" => |a| a[0].logsumexp(&[1]),
        "softmax" => |a| a[0].softmax(1),
        "cumsum" => |a| a[0].cumsum(1, false),
        "cumprod" => |a| a[0].cumprod(1, false),
        "cumprod_reverse" => |a| a[0].cumprod(0, true),
        "cummax_ties" => |a| a[0].cummax(1, false),
        "cummax_reverse" => |a| a[0].cummax(0, true),
        "cummin_ties" => |a| a[0].cummin(0, false),
        "sort" => |a| a[0].sort(1, false),
        "top_k" => |a| a[0].top_k(2).0,
        "take" => |a| {
            let i = Tensor::from_vec([4], vec![4i32, 0, 4, 2])
                .unwrap_or_else(|e| Tensor::poison(rax_core::AVal::new([4], DType::I32), e));
            a[0].take(&i, 0)
        },
        "pad_slice" => |a| {
            a[0].pad(&a[0].scalar_like(0.0), &[1, 0], &[-1, 2], &[1, 0])
                .slice(&[0, 1], &[7, 5], &[2, 1])
        },
        "rfft" => |a| a[0].rfft(),
        "irfft" => |a| a[0].irfft(8),
        "scan_tanh" => |a| {
            let (_, ys) = scan(
                |c, x| {
                    let n = (&c[0] * 0.9 + &x[0]).tanh();
                    (vec![n], vec![&c[0] * &x[0]])
                },
                &[a[0].clone()],
                &[a[1].clone()],
                None,
                false,
            );
            ys.into_iter().next().unwrap_or_else(|| a[0].clone())
        },
        _ => return Err(Error::data("case", format!("grads: unknown op {op}"))),
    })
}

/// Builds a case's outputs: the input cotangents of the case's function for the last input
/// taken as the output cotangent.
pub fn build(op: &str, _p: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let f = func(op)?;
    let n = xs
        .len()
        .checked_sub(1)
        .ok_or_else(|| Error::data("case", "grads: needs a cotangent input"))?;
    let (_, pb) = autodiff::vjp(|a| vec![f(a)], &xs[..n])?;
    pb.call(&xs[n..])
}

/// Catalogue entries of the transformation-level calls (`Op::Call`).
pub fn catalogue() -> Vec<Entry> {
    vec![
        Entry {
            name: "stop_gradient",
            stablehlo: "(none: identity)",
            rule: "T -> T; zero cotangent".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "checkpoint_name",
            stablehlo: "(none: identity)",
            rule: "T -> T; names a value for remat policies".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "checkpoint",
            stablehlo: "inlined body; backward recomputes it behind stablehlo.optimization_barrier",
            rule: "body T... -> U...; policy: nothing / dots / names / everything saveable".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "custom_vjp",
            stablehlo: "inlined body (fwd and bwd inlined under differentiation)",
            rule: "body T... -> U...; fwd T... -> (U..., R...); bwd (T..., R..., U...) -> T..."
                .into(),
            interp: true,
            vjp: Vjp::Yes,
        },
    ]
}
