//! One training step traced into one program: loss and gradients (`value_and_grad`), the
//! optimizer update (clip + AdamW with a warmup-cosine schedule held in the state) and
//! `apply_updates`; the program lowers to StableHLO and, run by the interpreter, makes the
//! loss fall. Params and state go in and come out with the same avals, so they can be donated.

use rax_core::autodiff::value_and_grad;
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::tree::{flatten, unflatten};
use rax_core::{AVal, Literal, Tensor};
use rax_optim::{
    adamw, apply_updates, chain, clip_by_global_norm, warmup_cosine, GradientTransformation,
};
use std::collections::BTreeMap;

#[test]
fn traced_step_lowers_and_trains() {
    let mut p = BTreeMap::new();
    p.insert(
        "w".to_string(),
        Tensor::scalar_of(0.0, rax_core::DType::F32),
    );
    p.insert(
        "b".to_string(),
        Tensor::scalar_of(0.0, rax_core::DType::F32),
    );
    let data = [(1.0, 3.0), (2.0, 5.0), (-1.0, -1.0), (0.5, 2.0)]; // y = 2x + 1
    let opt = chain((
        clip_by_global_norm(1.0),
        adamw(warmup_cosine(0.1, 3, 100, 0.01), 1e-4),
    ));
    let s = opt.init(&p).unwrap();
    // Elementwise only (sum, mean and dot have no VJP rule yet).
    let loss_fn = |p: &BTreeMap<String, Tensor>| {
        let mut l = p["w"].scalar_like(0.0);
        for (xi, yi) in data {
            let d = &p["w"] * xi + &p["b"] - yi;
            l = l + &d * &d;
        }
        l * 0.25
    };
    let (np, ns) = (flatten(&p).len(), flatten(&s).len());
    let mut ins = flatten(&p);
    ins.extend(flatten(&s));
    let avals: Vec<AVal> = ins.iter().map(|t| t.aval()).collect();
    let (p0, s0) = (p.clone(), s.clone());
    let traced = rax_core::trace(&avals, |xs| {
        let pt = unflatten(&p0, xs[..np].to_vec()).unwrap();
        let st = unflatten(&s0, xs[np..].to_vec()).unwrap();
        let (loss, g) = value_and_grad(loss_fn)(&pt).unwrap();
        let (u, st) = opt.update(&g, st, Some(&pt)).unwrap();
        let mut out = flatten(&apply_updates(&pt, &u).unwrap());
        out.extend(flatten(&st));
        out.push(loss);
        out
    })
    .unwrap();
    let out_avals: Vec<AVal> = traced
        .graph
        .outputs
        .iter()
        .map(|v| traced.graph.aval(*v).clone())
        .collect();
    assert_eq!(
        &out_avals[..np + ns],
        &avals[..],
        "params and state keep their avals"
    );
    let opts = ModuleOptions {
        aliases: (0..np + ns).map(|i| (i, i)).collect(),
        ..Default::default()
    };
    let text = lower_module(&traced.graph, &opts).unwrap();
    assert!(text.contains("stablehlo.select") && text.contains("stablehlo.sqrt"));
    // Run 30 steps on the interpreter.
    let mut cur: Vec<Literal> = ins.iter().map(|t| t.to_literal().unwrap()).collect();
    let mut losses = vec![];
    for _ in 0..30 {
        let refs: Vec<&Literal> = cur.iter().collect();
        let mut o = rax_core::interp::eval_graph(&traced.graph, &refs).unwrap();
        losses.push(o.pop().unwrap().to_f64_vec()[0]);
        cur = o;
    }
    assert!(losses[29] < 0.2 * losses[0], "{losses:?}");
}
