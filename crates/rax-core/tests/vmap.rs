//! `vmap` equals a loop over examples: per-example losses of an MLP, per-example gradients
//! (vmap of grad), unbatched arguments, a non-leading in_axis, and the loop fallback (gather).
#![allow(clippy::cloned_ref_to_slice_refs)]
mod autodiff_util;

use autodiff_util::Rng;
use rax_core::autodiff::grad;
use rax_core::vmap::vmap;
use rax_core::{interp, trace, DType, Tensor};

const F: DType = DType::F64;

fn example(x: &Tensor, i: usize) -> Tensor {
    let d = x.dims();
    let mut s = vec![0; d.len()];
    s[0] = i;
    let mut l = d.clone();
    l[0] = i + 1;
    x.slice(&s, &l, &vec![1; d.len()]).reshape(&d[1..])
}

fn close(a: &Tensor, b: &Tensor) {
    assert_eq!(a.aval(), b.aval());
    for (x, y) in a.to_f64_vec().unwrap().iter().zip(b.to_f64_vec().unwrap()) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
}

fn loss(w: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    let h = x.matmul(w).tanh();
    let d = h.sum(&[0]) - y;
    (&d * &d) + w.max(&[0, 1]) * 0.1
}

#[test]
fn per_example_losses_and_gradients_equal_a_loop() {
    let mut rng = Rng(3);
    let w = rng.tensor(&[3, 4], F, -1.0, 1.0);
    let xs = rng.tensor(&[5, 3], F, -1.0, 1.0);
    let ys = rng.tensor(&[5], F, -1.0, 1.0);
    let per = vmap(
        |a| vec![loss(&a[0], &a[1], &a[2])],
        &[None, Some(0), Some(0)],
    );
    let out = per(&[w.clone(), xs.clone(), ys.clone()]).unwrap();
    let pg = vmap(
        |a| {
            let (x, y) = (a[1].clone(), a[2].clone());
            vec![grad(move |w: &Tensor| loss(w, &x, &y))(&a[0]).unwrap()]
        },
        &[None, Some(0), Some(0)],
    );
    let g = pg(&[w.clone(), xs.clone(), ys.clone()]).unwrap();
    assert_eq!(g[0].dims(), vec![5, 3, 4]);
    for i in 0..5 {
        let (x, y) = (example(&xs, i), example(&ys, i));
        close(&example(&out[0], i), &loss(&w, &x, &y));
        let gi = grad(|w: &Tensor| loss(w, &x, &y))(&w).unwrap();
        close(&example(&g[0], i), &gi);
    }
    // The same inside a trace (one program).
    let t = trace(&[w.aval(), xs.aval(), ys.aval()], |a| per(a).unwrap()).unwrap();
    let lits: Vec<_> = [&w, &xs, &ys]
        .iter()
        .map(|t| t.to_literal().unwrap())
        .collect();
    let o = interp::eval_graph(&t.graph, &lits.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(o[0].to_f64_vec(), out[0].to_f64_vec().unwrap());
}

#[test]
fn in_axis_and_fallback() {
    let mut rng = Rng(4);
    let xs = rng.tensor(&[3, 6], F, -1.0, 1.0); // batch along axis 1
    let idx = Tensor::from_vec([2], vec![2i32, 0]).unwrap();
    let i2 = idx.clone();
    let f = move |a: &[Tensor]| vec![a[0].take(&i2, 0).sin().cumsum(0, false), a[0].sort(0, true)];
    let out = vmap(f.clone(), &[Some(1)])(&[xs.clone()]).unwrap();
    let xt = xs.transpose(&[1, 0]);
    for i in 0..6 {
        let r = f(&[example(&xt, i)]);
        close(&example(&out[0], i), &r[0]);
        close(&example(&out[1], i), &r[1]);
    }
    let e = vmap(|a| vec![a[0].clone()], &[Some(3)])(&[xs])
        .unwrap_err()
        .to_string();
    assert!(e.contains("vmap") && e.contains("out of range"), "{e}");
}

#[test]
fn stop_gradient_and_softmax_batch_without_the_loop_fallback() {
    let f = |a: &[Tensor]| {
        vec![
            a[0].softmax(1),
            a[0].logsumexp(&[1]),
            rax_core::autodiff::stop_gradient(&a[0]).sin(),
        ]
    };
    let mut rng = Rng(5);
    let mut ops = |b: usize| {
        let x = rng.tensor(&[b, 3, 4], F, -2.0, 2.0);
        let out = vmap(f, &[Some(0)])(&[x.clone()]).unwrap();
        for i in 0..b {
            let r = f(&[example(&x, i)]);
            for (o, ri) in out.iter().zip(&r) {
                close(&example(o, i), ri);
            }
        }
        let t = trace(&[x.aval()], |a| vmap(f, &[Some(0)])(a).unwrap()).unwrap();
        t.graph.nodes.len()
    };
    // A loop fallback would add slices and a stack per example: the graph would grow with b.
    assert_eq!(ops(2), ops(7));
}
