//! Parity of rax-optim with optax 0.2.8 (and docs/optim.md's Muon): golden trajectories made by
//! `xla_ops/gen/optim.py` (`xla_ops/cases/optim/trajectories.json`), replayed on rax's
//! interpreter eagerly, and traced-then-interpreted for a subset.
//!
//! Tolerances (|rax − optax| ≤ atol + rtol·|optax| per element), measured max errors in
//! brackets (`cargo test -p rax-optim --test parity -- --nocapture`):
//! - f32 trajectories, including Muon: atol 5e-7 (≈4 ulps at |θ| ≈ 1) [max 1.8e-7]. rax and XLA
//!   CPU evaluate the same f32 expressions, but `pow` (bias corrections) and `cos` (schedules)
//!   may differ by an ulp, Muon's matmuls sum in a different order, and one ulp of difference in
//!   an update can flip the rounding of θ + u by one ulp of θ, once per step.
//! - bf16 params (f32 moments, with and without f32 masters): exact [0 differing elements]. Both
//!   sides compute the same f32 target and round it once to bf16; a 1-ulp f32 difference could
//!   only matter at an exact bf16 rounding tie, which these trajectories do not hit.
use rax_core::literal::Literal;
use rax_core::{AVal, DType, Tensor};
use rax_optim::alias::{adam_with, adamw_with, decay_matrices_only};
use rax_optim::combine::{masked, multi_steps, partition};
use rax_optim::{
    adam, adamw, apply_if_finite, apply_updates, chain, clip, clip_by_global_norm,
    inject_hyperparams, lion, muon, scale, scale_by_adam, schedule, sgd, with_master_weights,
    AdamConfig, GradientTransformation, LeafMeta, MuonConfig, Scalar, State,
};
use std::collections::BTreeMap;

type Params = BTreeMap<String, Tensor>;

fn decode(v: &serde_json::Value) -> Tensor {
    let dtype = DType::parse(v["dtype"].as_str().unwrap()).unwrap();
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let hex = v["hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Tensor::from_literal(Literal::from_bytes(&AVal::new(shape, dtype), &bytes).unwrap())
}

fn tree(v: &serde_json::Value) -> Params {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), decode(x)))
        .collect()
}

fn cases() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../xla_ops/cases/optim/trajectories.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn decay_mask() -> Option<rax_optim::Mask> {
    Some(std::sync::Arc::new(|m: &LeafMeta| m.ndim() >= 2))
}

fn sched() -> schedule::Schedule {
    schedule::warmup_cosine(1e-2, 2, 6, 1e-3)
}

/// The rax transform of each golden case (constants as in xla_ops/gen/optim.py).
fn transform(name: &str) -> Option<rax_optim::Boxed> {
    Some(match name {
        "adam" => adam(1e-2).boxed(),
        "adam_nesterov_eps_root" => adam_with(
            1e-2,
            AdamConfig {
                nesterov: true,
                eps_root: 1e-8,
                ..Default::default()
            },
        )
        .boxed(),
        "adamw_mask" => adamw_with(1e-2, AdamConfig::default(), 0.1, decay_mask()).boxed(),
        "lion" => lion(1e-3, 0.01).boxed(),
        "sgd_nesterov" => sgd(0.1, Some(0.9), true).boxed(),
        "sgd_momentum" => sgd(0.1, Some(0.9), false).boxed(),
        "sgd_plain" => sgd(0.1, None, false).boxed(),
        "clip_adamw" => chain((clip_by_global_norm(1.0), adamw(1e-2, 0.01))).boxed(),
        "clip_scale" => chain((clip(0.5), scale(-0.1))).boxed(),
        "adamw_warmup_cosine" => adamw(sched(), 0.01).boxed(),
        "inject_adamw" => inject_hyperparams(
            |h: &rax_optim::Hyper| {
                adamw_with(h.get("learning_rate"), AdamConfig::default(), 0.01, None)
            },
            vec![("learning_rate", Scalar::from(sched()))],
        )
        .boxed(),
        "multi_steps_adam" => multi_steps(adam(1e-2), 3).boxed(),
        "apply_if_finite_adam" => apply_if_finite(adam(1e-2), 2).boxed(),
        "partition_sgd_adam" => partition(
            vec![
                ("sgd", sgd(0.1, None, false).boxed()),
                ("adam", adam(1e-2).boxed()),
            ],
            |m: &LeafMeta| {
                if m.path == "b" {
                    "sgd".into()
                } else {
                    "adam".into()
                }
            },
        )
        .boxed(),
        "masked_adam" => chain((
            masked(scale_by_adam(AdamConfig::default()), |m: &LeafMeta| {
                m.ndim() >= 2
            }),
            scale(-1e-2),
        ))
        .boxed(),
        "muon" | "muon_tall" => muon(
            0.02,
            MuonConfig {
                momentum: 0.95,
                nesterov: true,
                ..Default::default()
            },
        )
        .boxed(),
        "bf16_adamw_f32_moments" => adamw(3e-4, 0.1).boxed(),
        "bf16_master_adamw" => with_master_weights(adamw(3e-4, 0.1)).boxed(),
        _ => return None,
    })
}

fn tol(name: &str, d: DType) -> (f64, f64) {
    let _ = name;
    match d {
        DType::BF16 => (0.0, 0.0),
        _ => (5e-7, 0.0),
    }
}

/// Compares, returning the max error and the number of bf16 elements that differ at all.
fn compare(name: &str, step: usize, got: &Params, want: &Params) -> (f64, usize) {
    let mut worst: f64 = 0.0;
    let mut differ = 0;
    for (k, w) in want {
        let g = &got[k];
        assert_eq!(g.dtype(), w.dtype(), "{name} step {step} {k}: dtype");
        let (atol, rtol) = tol(name, w.dtype());
        let (gv, wv) = (g.to_f64_vec().unwrap(), w.to_f64_vec().unwrap());
        for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
            let e = (a - b).abs();
            worst = worst.max(e);
            if e > 0.0 && w.dtype() == DType::BF16 {
                differ += 1;
            }
            assert!(
                e <= atol + rtol * b.abs(),
                "{name} step {step} leaf {k}[{i}]: rax {a} vs optax {b} (err {e:e})"
            );
        }
    }
    (worst, differ)
}

fn step(tx: &dyn GradientTransformation, p: &Params, g: &Params, s: State) -> (Params, State) {
    let meta = LeafMeta::of(p);
    let pl: Vec<Tensor> = p.values().cloned().collect();
    let gl: Vec<Tensor> = g.values().cloned().collect();
    let (u, s) = tx.update_flat(gl, s, Some(&pl), &meta).unwrap();
    let u: Params = p.keys().cloned().zip(u).collect();
    (apply_updates(p, &u).unwrap(), s)
}

#[test]
fn trajectories_match_optax_eager() {
    let c = cases();
    let mut n = 0;
    for t in c["trajectories"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let tx = transform(name).unwrap_or_else(|| panic!("no rax transform for case {name}"));
        let mut p = tree(&t["params"]);
        let mut s = tx.init(&p).unwrap();
        let mut worst: f64 = 0.0;
        let mut differ = 0;
        for (i, (g, e)) in t["grads"]
            .as_array()
            .unwrap()
            .iter()
            .zip(t["expected"].as_array().unwrap())
            .enumerate()
        {
            let (np, ns) = step(&*tx, &p, &tree(g), s);
            let (w, d) = compare(name, i + 1, &np, &tree(e));
            worst = worst.max(w);
            differ += d;
            p = np;
            s = ns;
        }
        eprintln!("{name}: max abs err {worst:e}, bf16 elements differing {differ}");
        n += 1;
    }
    assert!(n >= 19, "only {n} trajectories");
}

/// The same steps traced into one graph per step (params, state, grads in; params, state out)
/// and run by the interpreter: the optimizer is traceable (select-based, no host control flow).
#[test]
fn trajectories_match_optax_traced() {
    let c = cases();
    for t in c["trajectories"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if !matches!(
            name,
            "adamw_mask"
                | "clip_adamw"
                | "inject_adamw"
                | "multi_steps_adam"
                | "apply_if_finite_adam"
                | "muon"
                | "bf16_master_adamw"
        ) {
            continue;
        }
        let tx = transform(name).unwrap();
        let mut p = tree(&t["params"]);
        let mut s = tx.init(&p).unwrap();
        for (i, (g, e)) in t["grads"]
            .as_array()
            .unwrap()
            .iter()
            .zip(t["expected"].as_array().unwrap())
            .enumerate()
        {
            let g = tree(g);
            let (np_leaves, ns_leaves) = (rax_core::tree::flatten(&p), rax_core::tree::flatten(&s));
            let gl = rax_core::tree::flatten(&g);
            let all: Vec<Tensor> = np_leaves
                .iter()
                .chain(&ns_leaves)
                .chain(&gl)
                .cloned()
                .collect();
            let avals: Vec<AVal> = all.iter().map(|x| x.aval()).collect();
            let (np_n, ns_n) = (np_leaves.len(), ns_leaves.len());
            let (p0, s0, g0) = (p.clone(), s.clone(), g.clone());
            let traced = rax_core::trace(&avals, |xs| {
                let pt = rax_core::tree::unflatten(&p0, xs[..np_n].to_vec()).unwrap();
                let st = rax_core::tree::unflatten(&s0, xs[np_n..np_n + ns_n].to_vec()).unwrap();
                let gt = rax_core::tree::unflatten(&g0, xs[np_n + ns_n..].to_vec()).unwrap();
                let (p2, s2) = step(&*tx, &pt, &gt, st);
                let mut out = rax_core::tree::flatten(&p2);
                out.extend(rax_core::tree::flatten(&s2));
                out
            })
            .unwrap_or_else(|e| panic!("{name}: trace failed: {e}"));
            assert!(traced.captures.is_empty());
            let lits: Vec<Literal> = all.iter().map(|x| x.to_literal().unwrap()).collect();
            let refs: Vec<&Literal> = lits.iter().collect();
            let outs = rax_core::interp::eval_graph(&traced.graph, &refs).unwrap();
            let outs: Vec<Tensor> = outs.into_iter().map(Tensor::from_literal).collect();
            p = rax_core::tree::unflatten(&p, outs[..np_n].to_vec()).unwrap();
            s = rax_core::tree::unflatten(&s, outs[np_n..].to_vec()).unwrap();
            compare(name, i + 1, &p, &tree(e));
        }
    }
}

#[test]
fn schedules_match_optax() {
    let c = cases();
    for s in c["schedules"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let sch = match name {
            "constant" => schedule::constant(0.5),
            "linear" => schedule::linear(1.0, 0.1, 10),
            "cosine_decay" => schedule::cosine_decay(1e-2, 20, 0.1),
            "warmup_cosine" => schedule::warmup_cosine(1e-3, 5, 20, 1e-5),
            "join" => schedule::join(
                vec![schedule::constant(1.0), schedule::linear(1.0, 0.0, 4)],
                vec![3],
            ),
            "cyclic" => schedule::cyclic(1e-4, 1e-3, 8),
            other => panic!("unknown schedule {other}"),
        };
        for (i, v) in s["values"].as_array().unwrap().iter().enumerate() {
            let want = v.as_f64().unwrap();
            let got = sch.value(i as i32).unwrap() as f64;
            // f32 values; cos may differ by an ulp from XLA's: 4 ulps relative.
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON as f64 * want.abs().max(1e-30),
                "{name}[{i}]: rax {got} vs optax {want}"
            );
        }
    }
}

#[test]
fn decay_mask_helper_skips_vectors_and_sensitive() {
    let m = decay_matrices_only();
    let meta = |dims: Vec<usize>, sensitive| LeafMeta {
        path: "x".into(),
        info: rax_core::LeafInfo { sensitive },
        dims,
        dtype: DType::F32,
    };
    assert!(m(&meta(vec![2, 3], false)));
    assert!(!m(&meta(vec![3], false)));
    assert!(!m(&meta(vec![2, 3], true)));
}
