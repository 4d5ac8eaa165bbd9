//! Reverse mode across the primitive families (layout, dot, reduce, indexing, control) against
//! central finite differences in f64, mixed-precision dot cotangents, scan/cond/while, a
//! two-layer MLP trained by a traced `value_and_grad` step, and `checkpoint` (remat).
#![allow(clippy::cloned_ref_to_slice_refs)]
mod autodiff_util;

use autodiff_util::{check64, Rng};
use rax_core::autodiff::{self, checkpoint, checkpoint_name, grad, value_and_grad};
use rax_core::ir::{DotDims, Precision, RematPolicy};
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::{cond, interp, scan, trace, while_loop, DType, Literal, Tensor};

const F: DType = DType::F64;

fn r(seed: u64, dims: &[usize]) -> Tensor {
    Rng(seed * 2654435761 + 17).tensor(dims, F, -1.0, 1.0)
}

#[test]
fn vjp_layout_family() {
    let x = r(1, &[2, 3]);
    check64(
        "broadcast_in_dim",
        |a| vec![a[0].broadcast_in_dim(&[4, 2, 3], &[1, 2]).sin()],
        &[x.clone()],
    );
    let y = r(2, &[2, 1]);
    check64(
        "broadcast_size1",
        |a| vec![a[0].broadcast_in_dim(&[2, 5], &[0, 1]).sin()],
        &[y],
    );
    let x = r(3, &[5, 7]);
    check64(
        "slice_strided",
        |a| vec![a[0].slice(&[1, 0], &[5, 7], &[2, 3]).sin()],
        &[x.clone()],
    );
    let pv = Tensor::scalar_of(0.3, F);
    check64(
        "pad_interior_negative",
        |a| vec![a[0].pad(&a[1], &[1, -2], &[2, 1], &[1, 2]).sin()],
        &[x.clone(), pv],
    );
    let z = r(4, &[2, 7]);
    check64(
        "concat",
        |a| vec![Tensor::concat(&[a[0].clone(), a[1].clone()], 0).sin()],
        &[x.clone(), z],
    );
    check64("reverse", |a| vec![a[0].reverse(&[0, 1]).sin()], &[x]);
}

#[test]
fn vjp_dot_general() {
    let a = r(5, &[3, 4]);
    let b = r(6, &[4, 2]);
    check64("matmul", |a| vec![a[0].matmul(&a[1])], &[a, b]);
    // Batch dims not leading, several contracting dims in different orders.
    let x = r(7, &[4, 2, 3, 5]);
    let y = r(8, &[5, 3, 2, 6]);
    let dims = DotDims {
        lhs_batch: vec![1],
        rhs_batch: vec![2],
        lhs_contract: vec![3, 2],
        rhs_contract: vec![0, 1],
    };
    let d2 = dims.clone();
    check64(
        "dot_general_batched",
        move |a| vec![a[0].dot_general(&a[1], d2.clone(), F)],
        &[x, y],
    );
    // Two batch dimensions paired in crossed order (the rhs cotangent is computed as
    // dot_general(x, g) and must map the product's axes back to y's order).
    let x = r(10, &[2, 3, 4]);
    let y = r(11, &[3, 4, 2, 5]);
    let d3 = DotDims {
        lhs_batch: vec![1, 0],
        rhs_batch: vec![0, 2],
        lhs_contract: vec![2],
        rhs_contract: vec![1],
    };
    check64(
        "dot_general_crossed_batch",
        move |a| vec![a[0].dot_general(&a[1], d3.clone(), F)],
        &[x, y],
    );
}

#[test]
fn dot_mixed_precision_cotangents_have_operand_dtype() {
    let a = Tensor::full(&[2, 3], 0.5, DType::BF16);
    let b = Tensor::full(&[3, 2], 0.25, DType::BF16);
    let (o, pb) = autodiff::vjp(|x| vec![x[0].matmul_acc(&x[1], DType::F32)], &[a, b]).unwrap();
    assert_eq!(o[0].dtype(), DType::F32);
    let g = pb.call(&[Tensor::full(&[2, 2], 1.0, DType::F32)]).unwrap();
    assert_eq!(g[0].dtype(), DType::BF16);
    assert_eq!(g[1].dtype(), DType::BF16);
    assert_eq!(g[0].to_f64_vec().unwrap(), vec![0.5; 6]);
    assert_eq!(g[1].to_f64_vec().unwrap(), vec![1.0; 6]);
    let _ = Precision::Default;
}

#[test]
fn vjp_reduce_family() {
    let x = r(9, &[3, 4]);
    check64("sum", |a| vec![a[0].sum(&[1]).sin()], &[x.clone()]);
    check64("max", |a| vec![a[0].max(&[0])], &[x.clone()]);
    check64("min", |a| vec![a[0].min(&[0, 1])], &[x.clone()]);
    check64("prod", |a| vec![a[0].prod(&[1])], &[x.clone()]);
    check64(
        "cumsum",
        |a| vec![a[0].cumsum(1, false).sin()],
        &[x.clone()],
    );
    check64(
        "cumsum_rev",
        |a| vec![a[0].cumsum(0, true).sin()],
        &[x.clone()],
    );
    check64("logsumexp", |a| vec![a[0].logsumexp(&[1])], &[x.clone()]);
    check64("softmax", |a| vec![a[0].softmax(1)], &[x]);
    // Ties in max split evenly (JAX).
    let t = Tensor::from_vec([3], vec![2.0f64, 2.0, 1.0]).unwrap();
    let g = grad(|x: &Tensor| x.max(&[0]))(&t).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![0.5, 0.5, 0.0]);
    // argmax is not differentiable: zero cotangent, no error.
    let g = grad(|x: &Tensor| (x * x.argmax(0).cast(F)).sum_all())(&t).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![0.0; 3]);
}

#[test]
fn vjp_indexing_family() {
    let x = r(10, &[5, 4]);
    let i = Tensor::scalar_of(3.0, DType::I32);
    let j = Tensor::scalar_of(1.0, DType::I32);
    let (ii, jj) = (i.clone(), j.clone());
    check64(
        "dynamic_slice",
        move |a| vec![a[0].dynamic_slice(&[ii.clone(), jj.clone()], &[2, 2]).sin()],
        &[x.clone()],
    );
    let u = r(11, &[2, 3]);
    check64(
        "dynamic_update_slice",
        move |a| {
            vec![a[0]
                .dynamic_update_slice(&a[1], &[i.clone(), j.clone()])
                .sin()]
        },
        &[x.clone(), u],
    );
    let idx = Tensor::from_vec([4], vec![4i32, 0, 4, 2]).unwrap();
    let id2 = idx.clone();
    check64(
        "take(gather)",
        move |a| vec![a[0].take(&id2, 0).sin()],
        &[x.clone()],
    );
    let upd = r(12, &[4, 4]);
    check64(
        "index_add(scatter_add)",
        move |a| vec![a[0].index_add(0, &idx, &a[1]).sin()],
        &[x, upd],
    );
}

#[test]
fn vjp_scan_and_cond() {
    // A scan with a carry, xs, and a closed-over (const) weight.
    let w = r(13, &[3]);
    let xs = r(14, &[4, 3]);
    let c0 = r(15, &[3]);
    for rev in [false, true] {
        check64(
            "scan",
            move |a| {
                let (w, xs, c0) = (a[0].clone(), a[1].clone(), a[2].clone());
                let (c, ys) = scan(
                    |c, x| {
                        let n = (&c[0] * &w + &x[0]).tanh();
                        (vec![n.clone()], vec![n.sin()])
                    },
                    &[c0],
                    &[xs],
                    None,
                    rev,
                );
                vec![c[0].clone(), ys[0].clone()]
            },
            &[w.clone(), xs.clone(), c0.clone()],
        );
    }
    // cond: both branches, operand cotangents through the taken one.
    for p in [true, false] {
        let x = r(16, &[3]);
        check64(
            "cond",
            move |a| {
                let pred = Tensor::from_vec([], vec![p]).unwrap();
                cond(
                    &pred,
                    |o| vec![o[0].sin() * &o[1]],
                    |o| vec![o[0].exp() + &o[1]],
                    &[a[0].clone(), a[1].clone()],
                )
            },
            &[x.clone(), r(17, &[3])],
        );
    }
}

#[test]
fn while_loop_is_a_clear_error() {
    let x = Tensor::scalar_of(1.5, F);
    let e = grad(|x: &Tensor| {
        let out = while_loop(
            &[x.clone(), Tensor::scalar_of(0.0, DType::I32)],
            |c| c[1].lt(&Tensor::scalar_of(3.0, DType::I32)),
            |c| vec![&c[0] * &c[0], &c[1] + 1],
        );
        out[0].clone()
    })(&x)
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("while_loop is not supported; use scan with a fixed trip count"),
        "{e}"
    );
}

fn mlp_loss(p: &(Tensor, Tensor, Tensor, Tensor), x: &Tensor, y: &Tensor) -> Tensor {
    let h = (x.matmul(&p.0) + &p.1).tanh();
    let out = h.matmul(&p.2) + &p.3;
    let d = out - y;
    (&d * &d).mean(&[0, 1])
}

#[test]
fn mlp_trains_with_traced_value_and_grad_step() {
    let mut rng = Rng(42);
    let n = 32;
    let x = rng.tensor(&[n, 2], DType::F32, -1.0, 1.0);
    // Target: a smooth function of the inputs.
    let xv = x.to_vec::<f32>().unwrap();
    let yv: Vec<f32> = (0..n)
        .map(|i| (xv[2 * i] * 2.0).sin() * 0.5 + xv[2 * i + 1] * 0.3)
        .collect();
    let y = Tensor::from_vec([n, 1], yv).unwrap();
    let mut params = vec![
        rng.tensor(&[2, 16], DType::F32, -1.0, 1.0),
        Tensor::zeros(&[16], DType::F32),
        rng.tensor(&[16, 1], DType::F32, -0.3, 0.3),
        Tensor::zeros(&[1], DType::F32),
    ];
    let avals: Vec<_> = params
        .iter()
        .map(|t| t.aval())
        .chain([x.aval(), y.aval()])
        .collect();
    let step = trace(&avals, |a| {
        let p = (a[0].clone(), a[1].clone(), a[2].clone(), a[3].clone());
        let (x, y) = (a[4].clone(), a[5].clone());
        let (loss, g) =
            value_and_grad(|p: &(Tensor, Tensor, Tensor, Tensor)| mlp_loss(p, &x, &y))(&p).unwrap();
        let lr = 0.3;
        vec![
            loss,
            &p.0 - &g.0 * lr,
            &p.1 - &g.1 * lr,
            &p.2 - &g.2 * lr,
            &p.3 - &g.3 * lr,
        ]
    })
    .unwrap();
    let (xl, yl) = (x.to_literal().unwrap(), y.to_literal().unwrap());
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..600 {
        let lits: Vec<Literal> = params.iter().map(|t| t.to_literal().unwrap()).collect();
        let mut ins: Vec<&Literal> = lits.iter().collect();
        ins.push(&xl);
        ins.push(&yl);
        let mut out = interp::eval_graph(&step.graph, &ins).unwrap();
        last = out[0].to_f64_vec()[0];
        first.get_or_insert(last);
        params = out.drain(1..).map(Tensor::from_literal).collect();
    }
    let first = first.unwrap();
    assert!(last < 0.01 * first, "loss {first} -> {last}");
    // The program lowers to StableHLO.
    let text = lower_module(&step.graph, &ModuleOptions::default()).unwrap();
    assert!(text.contains("stablehlo.dot_general"));
}

fn count(text: &str, op: &str) -> usize {
    text.matches(op).count()
}

#[test]
fn checkpoint_recomputes_in_the_lowered_program() {
    let w = r(20, &[4, 4]);
    let x = r(21, &[4, 4]);
    let lowered = |policy: Option<RematPolicy>| {
        let t = trace(&[w.aval(), x.aval()], |a| {
            let x = a[1].clone();
            let f = move |w: &Tensor| {
                let block = |v: &[Tensor]| {
                    let h = checkpoint_name(&v[0].matmul(&v[1]), "h");
                    vec![h.sin().matmul(&v[1]).sin()]
                };
                let y = match &policy {
                    Some(p) => checkpoint(block, p.clone())(&[x.clone(), w.clone()])
                        .unwrap()
                        .remove(0),
                    None => block(&[x.clone(), w.clone()]).remove(0),
                };
                y.sum_all()
            };
            let (l, g) = value_and_grad(f)(&a[0]).unwrap();
            vec![l, g]
        })
        .unwrap();
        let out = interp::eval_graph(
            &t.graph,
            &[&w.to_literal().unwrap(), &x.to_literal().unwrap()],
        )
        .unwrap();
        let text = lower_module(&autodiff::dce(&t.graph), &ModuleOptions::default()).unwrap();
        (out[1].to_f64_vec(), text)
    };
    let (g0, plain) = lowered(None);
    let (g1, nothing) = lowered(Some(RematPolicy::NothingSaveable));
    let (g2, dots) = lowered(Some(RematPolicy::DotsSaveable));
    let (g3, named) = lowered(Some(RematPolicy::SaveNames(vec!["h".into()])));
    for g in [&g1, &g2, &g3] {
        for (a, b) in g.iter().zip(&g0) {
            assert!((a - b).abs() < 1e-12);
        }
    }
    let sines = |t: &str| count(t, "stablehlo.sine");
    let dots_n = |t: &str| count(t, "stablehlo.dot_general");
    // Plain: forward has 2 sines, backward reuses them (cos for the VJP).
    assert_eq!(sines(&plain), 2, "{plain}");
    // The lowering puts the left operand of each weight-gradient dot (`xᵀ·g`) behind a
    // one-operand barrier of its own (prim/dot.rs, `lhs_minor_contracting`); remat's barrier
    // holds the block's inputs together, so count the barriers over more than one operand.
    let barriers = |t: &str| {
        t.lines()
            .filter_map(|l| l.split("\"stablehlo.optimization_barrier\"(").nth(1))
            .filter(|rest| rest.split(')').next().is_some_and(|ops| ops.contains(',')))
            .count()
    };
    assert_eq!(barriers(&plain), 0, "{plain}");
    // Nothing saveable: both sines and both forward dots are recomputed behind a barrier.
    assert!(barriers(&nothing) > barriers(&plain), "{nothing}");
    assert_eq!(
        sines(&nothing),
        3,
        "sin(h) is recomputed (its cos is needed; the last sine is dead)"
    );
    assert_eq!(dots_n(&nothing), dots_n(&plain) + 2);
    // Dots saveable: the dots are not recomputed.
    assert_eq!(dots_n(&dots), dots_n(&plain));
    assert!(barriers(&dots) > barriers(&plain), "{dots}");
    // Saving the named h: only the second dot is recomputed.
    assert_eq!(dots_n(&named), dots_n(&plain) + 1);
}

#[test]
fn vjp_sort_and_top_k() {
    let x = r(30, &[3, 5]);
    check64("sort", |a| vec![a[0].sort(1, false).sin()], &[x.clone()]);
    check64(
        "sort_desc_axis0",
        |a| vec![a[0].sort(0, true).sin()],
        &[x.clone()],
    );
    let y = r(31, &[3, 5]);
    check64(
        "sort_multi",
        |a| Tensor::sort_multi(&[a[0].clone(), a[1].clone()], 1, 1, false),
        &[x.clone(), y],
    );
    check64(
        "top_k",
        |a| {
            let (v, i) = a[0].top_k(2);
            vec![v.sin(), i]
        },
        &[x],
    );
}

#[test]
fn vjp_fft_family() {
    use autodiff_util::check_vjp;
    let re = Rng(40).tensor(&[2, 8], DType::F32, -1.0, 1.0);
    let im = Rng(41).tensor(&[2, 8], DType::F32, -1.0, 1.0);
    let z = Tensor::complex(&re, &im);
    check_vjp("fft", |a| vec![a[0].fft()], &[z.clone()], 1e-2, 2e-3, 1);
    check_vjp("ifft", |a| vec![a[0].ifft()], &[z.clone()], 1e-2, 2e-3, 2);
    check_vjp("rfft", |a| vec![a[0].rfft()], &[re.clone()], 1e-2, 2e-3, 3);
    let zh = z.slice(&[0, 0], &[2, 5], &[1, 1]);
    check_vjp("irfft_even", |a| vec![a[0].irfft(8)], &[zh], 1e-2, 2e-3, 4);
    let zo = z.slice(&[0, 0], &[2, 4], &[1, 1]);
    check_vjp("irfft_odd", |a| vec![a[0].irfft(7)], &[zo], 1e-2, 2e-3, 5);
}

/// A fused, numerically stable softmax cross-entropy with a hand-written VJP
/// (`softmax(logits) - onehot`), via `custom_vjp`.
fn softmax_xent(logits: &Tensor, labels: &Tensor) -> Tensor {
    let f = autodiff::custom_vjp(
        |a: &[Tensor]| {
            let lse = a[0].logsumexp(&[1]);
            vec![(lse - (&a[0] * &a[1]).sum(&[1])).mean(&[0])]
        },
        |a: &[Tensor]| {
            let lse = a[0].logsumexp(&[1]);
            let loss = (&lse - (&a[0] * &a[1]).sum(&[1])).mean(&[0]);
            (vec![loss], vec![a[0].softmax(1), a[1].clone()])
        },
        |res: &[Tensor], ct: &[Tensor]| {
            let n = res[0].dims()[0] as f64;
            let d = (&res[0] - &res[1]) * (&ct[0] / n);
            vec![d, autodiff::zeros_like(&res[1])]
        },
    );
    f(&[logits.clone(), labels.clone()]).unwrap().remove(0)
}

#[test]
fn custom_vjp_softmax_cross_entropy() {
    let logits = r(50, &[4, 6]) * 3.0;
    let labels = Tensor::from_vec([4], vec![0i32, 5, 2, 2])
        .unwrap()
        .one_hot(6, F);
    let lab = labels.clone();
    let (l1, g1) = value_and_grad(|x: &Tensor| softmax_xent(x, &lab))(&logits).unwrap();
    let lab = labels.clone();
    let (l2, g2) =
        value_and_grad(|x: &Tensor| (x.logsumexp(&[1]) - (x * &lab).sum(&[1])).mean(&[0]))(&logits)
            .unwrap();
    assert!((l1.to_f64_vec().unwrap()[0] - l2.to_f64_vec().unwrap()[0]).abs() < 1e-12);
    for (a, b) in g1
        .to_f64_vec()
        .unwrap()
        .iter()
        .zip(g2.to_f64_vec().unwrap())
    {
        assert!((a - b).abs() < 1e-12);
    }
    // Stable at huge logits, and the backward is the fused one in the program.
    let big = &logits * 1e4;
    let lab = labels.clone();
    let g = grad(|x: &Tensor| softmax_xent(x, &lab))(&big).unwrap();
    assert!(g.to_f64_vec().unwrap().iter().all(|v| v.is_finite()));
    let lab = labels.clone();
    let t = trace(&[logits.aval()], |a| {
        vec![grad(|x: &Tensor| softmax_xent(x, &lab))(&a[0]).unwrap()]
    })
    .unwrap();
    let out = interp::eval_graph(&t.graph, &[&logits.to_literal().unwrap()]).unwrap();
    assert_eq!(out[0].to_f64_vec(), g1.to_f64_vec().unwrap());
}
