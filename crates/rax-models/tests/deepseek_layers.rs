//! MLA and MoE layers on their own: naive vs absorbed decode (f32 and bf16), decode vs the
//! training path, the latent cache size, the three dispatch paths agreeing, capacity dropping
//! counted exactly on a constructed routing, the aux-loss-free bias update, the auxiliary
//! losses and metrics on hand-computed cases.
mod ds_common;
use ds_common::{all_runtimes, data, max_rel};
use rax_core::{DType, Tensor};
use rax_models::deepseek::checkpoint::load_dir;
use rax_models::deepseek::model::rope_table;
use rax_nn::mla::{self, LatentCache, MlaParams};
use rax_nn::moe_aux;
use rax_nn::moe_dispatch::{dispatch, Dispatch};

fn randn(shape: &[usize], seed: u64, std: f64) -> Tensor {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let mut acc = 0.0;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                acc += (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            }
            (acc * std * 1.732) as f32
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    d / (na * nb)
}

/// Prefix of 7 positions written by the training path, then one token at position 7, decoded
/// naive and absorbed; also compared with row 7 of the training path over all 8 positions.
#[test]
fn absorbed_decode_agrees_with_naive_and_with_training_path() {
    let ck = load_dir(&data().join("v3_single")).unwrap();
    let cfg = ck.config.clone();
    let mc = cfg.mla();
    let attn: MlaParams = ck.params.layers[1].attn.clone();
    let (b, t, d) = (2, 8, cfg.hidden_size);
    let x = randn(&[b, t, d], 11, 1.0);
    for (label, rt) in all_runtimes() {
        for cd in [DType::F32, DType::BF16] {
            let (mc2, cfg2) = (mc.clone(), cfg.clone());
            let f = rt.jit(move |(p, x): &(MlaParams, Tensor)| {
                let x = x.cast(cd);
                let full_tab = rope_table(&cfg2, &Tensor::iota(&[t], 0, DType::I32))?;
                let full = mla::forward(&mc2, p, &x, &full_tab);
                let prefix = x.slice_axis(1, 0, t - 1);
                let ptab = rope_table(&cfg2, &Tensor::iota(&[t - 1], 0, DType::I32))?;
                let (c, kr) = mla::latents(&mc2, p, &prefix, &ptab);
                let zero = Tensor::scalar_of(0.0, DType::I32);
                let cache = LatentCache::zeros(&mc2, b, t + 4, cd).write(&c, &kr, &zero);
                let pos = Tensor::scalar_of((t - 1) as f64, DType::I32);
                let tab = rope_table(&cfg2, &pos.reshape(&[1]))?;
                let last = x.slice_axis(1, t - 1, t);
                let (naive, _) = mla::decode_naive(&mc2, p, &last, &tab, &cache, &pos);
                let (abs, c2) = mla::decode_absorbed(&mc2, p, &last, &tab, &cache, &pos);
                Ok((
                    full.slice_axis(1, t - 1, t).cast(DType::F32),
                    naive.cast(DType::F32),
                    abs.cast(DType::F32),
                    c2.c.cast(DType::F32),
                ))
            });
            let (full, naive, abs, c2) = f.call(&(attn.clone(), x.clone())).unwrap();
            let (full, naive, abs) = (
                full.to_f64_vec().unwrap(),
                naive.to_f64_vec().unwrap(),
                abs.to_f64_vec().unwrap(),
            );
            let rel = max_rel(&abs, &naive);
            let rel_full = max_rel(&naive, &full);
            let cos = cosine(&abs, &naive);
            eprintln!("[{label}] {cd:?}: absorbed vs naive rel {rel:.2e} cos {cos:.8}; naive vs training path rel {rel_full:.2e}");
            if cd == DType::F32 {
                // Same f32 arithmetic regrouped (q·W_uk·c instead of q·(W_uk·c)): a few ulps.
                assert!(rel < 1e-5, "[{label}] absorbed vs naive f32 rel {rel}");
                assert!(
                    rel_full < 1e-5,
                    "[{label}] decode vs training path f32 rel {rel_full}"
                );
            } else {
                // bf16 rounds every intermediate (8 significant bits) at different points on
                // the two paths; direction is what must agree.
                assert!(
                    cos > 0.9999,
                    "[{label}] absorbed vs naive bf16 cosine {cos}"
                );
            }
            // The cache holds the new latent at position 7 and nothing beyond it.
            let cv = c2.to_f64_vec().unwrap();
            let k = mc.kv_lora_rank;
            let row = |bb: usize, s: usize| &cv[(bb * (t + 4) + s) * k..(bb * (t + 4) + s + 1) * k];
            assert!(row(0, t - 1).iter().any(|v| *v != 0.0) && row(0, t).iter().all(|v| *v == 0.0));
        }
    }
    let (lat, full) = mc.cache_bytes_per_token(DType::BF16);
    eprintln!("cache bytes/token/layer (bf16): latent {lat}, full MHA {full}");
    assert_eq!(lat, (16 + 8) * 2);
    assert_eq!(full, 4 * (12 + 8 + 12) * 2);
}

fn expert_weights(e: usize, d: usize, i: usize) -> (Tensor, Tensor) {
    (randn(&[e, d, 2 * i], 3, 0.3), randn(&[e, i, d], 4, 0.3))
}

#[test]
fn three_dispatch_paths_agree_when_nothing_is_dropped() {
    let (n, d, e, i, k) = (20, 8, 6, 5, 2);
    let x = randn(&[n, d], 1, 1.0);
    let (gu, dn) = expert_weights(e, d, i);
    let scores = randn(&[n, e], 2, 1.0);
    let (w, idx) = scores.softmax(1).top_k(k);
    for (label, rt) in all_runtimes() {
        let run = |kind: Dispatch| {
            let f = rt.jit(
                move |(x, idx, w, gu, dn): &(Tensor, Tensor, Tensor, Tensor, Tensor)| {
                    let r = dispatch(kind, x, idx, w, gu, dn);
                    (r.out, r.dropped)
                },
            );
            let (o, dr) = f
                .call(&(x.clone(), idx.clone(), w.clone(), gu.clone(), dn.clone()))
                .unwrap();
            (o.to_f64_vec().unwrap(), dr.to_f64_vec().unwrap()[0])
        };
        let (dense, _) = run(Dispatch::Dense);
        for kind in [
            Dispatch::Capacity {
                factor: e as f64 / k as f64,
            },
            Dispatch::Dropless { block: 4 },
            Dispatch::Dropless { block: 1 },
        ] {
            let (o, dropped) = run(kind);
            let rel = max_rel(&o, &dense);
            eprintln!("[{label}] {kind:?} vs dense: rel {rel:.2e}, dropped {dropped}");
            // Same f32 products summed in a different order: a few ulps.
            assert!(rel < 1e-5, "[{label}] {kind:?}: rel {rel}");
            assert_eq!(dropped, 0.0);
        }
    }
}

#[test]
fn capacity_dropping_is_counted_exactly() {
    // N=4 tokens, E=3, k=2, factor 0.75: C = ceil(0.75·8/3) = 2 slots per expert. Priority is
    // choice-major: first choices t0→0, t1→0, t2→1, t3→0, then second t0→1, t1→2, t2→0, t3→1.
    // Expert 0 keeps t0, t1 and drops t3 (first) and t2 (second); expert 1 keeps t2, t0 and
    // drops t3 (second); expert 2 keeps t1. Dropped: 3.
    let (n, d, e, i) = (4, 6, 3, 4);
    let x = randn(&[n, d], 7, 1.0);
    let (gu, dn) = expert_weights(e, d, i);
    let idx = Tensor::from_vec(vec![n, 2], vec![0i32, 1, 0, 2, 1, 0, 0, 1]).unwrap();
    let w = Tensor::from_vec(vec![n, 2], vec![0.6f32, 0.4, 0.7, 0.3, 0.5, 0.5, 0.9, 0.1]).unwrap();
    let keep =
        Tensor::from_vec(vec![n, 2], vec![1.0f32, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]).unwrap();
    for (label, rt) in all_runtimes() {
        let f = rt.jit(
            move |(x, idx, w, keep, gu, dn): &(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)| {
                let c = dispatch(Dispatch::Capacity { factor: 0.75 }, x, idx, w, gu, dn);
                let oracle = dispatch(Dispatch::Dense, x, idx, &(w * keep), gu, dn);
                (c.out, c.dropped, oracle.out)
            },
        );
        let (o, dropped, oracle) = f
            .call(&(
                x.clone(),
                idx.clone(),
                w.clone(),
                keep.clone(),
                gu.clone(),
                dn.clone(),
            ))
            .unwrap();
        assert_eq!(
            dropped.to_f64_vec().unwrap()[0],
            3.0,
            "[{label}] dropped count"
        );
        let (o, oracle) = (o.to_f64_vec().unwrap(), oracle.to_f64_vec().unwrap());
        assert!(
            max_rel(&o, &oracle) < 1e-6,
            "[{label}] kept contributions equal the masked oracle"
        );
        assert!(
            o[3 * d..4 * d].iter().all(|v| *v == 0.0),
            "[{label}] token 3 fully dropped: zero routed output"
        );
    }
}

#[test]
fn bias_update_follows_the_sign_rule_and_is_outside_the_gradient() {
    let b = Tensor::from_vec(vec![4], vec![0.0f32, 0.1, -0.1, 0.0]).unwrap();
    let load = Tensor::from_vec(vec![4], vec![5.0f32, 1.0, 3.0, 3.0]).unwrap();
    let nb = moe_aux::update_bias(&b, &load, 0.01).to_f64_vec().unwrap();
    // mean load 3: overloaded expert 0 goes down, underloaded expert 1 up, the rest stay.
    let want = [-0.01, 0.11, -0.1, 0.0];
    for (g, w) in nb.iter().zip(want) {
        assert!((g - w).abs() < 1e-7, "{nb:?}");
    }
    // The bias changes which experts are chosen, not the weights' gradient path: the
    // gradient of the combine weights with respect to the bias is zero.
    use rax_nn::moe_router::{route, GroupLimit, RouterConfig, Scoring};
    let cfg = RouterConfig {
        experts: 4,
        top_k: 2,
        scoring: Scoring::Sigmoid,
        group: GroupLimit::TopTwoSum,
        n_group: 2,
        topk_group: 1,
        norm_topk_prob: true,
        routed_scaling_factor: 2.5,
    };
    let x = randn(&[5, 3], 9, 1.0);
    let wr = randn(&[3, 4], 10, 1.0);
    let g =
        rax_core::grad(|bias: &Tensor| route(&cfg, &wr, Some(bias), &x).weights.sum(&[0, 1]))(&b)
            .unwrap();
    assert!(g.to_f64_vec().unwrap().iter().all(|v| *v == 0.0));
    // A large bias on expert 3 moves every token's selection to its group (experts 2, 3).
    let big = Tensor::from_vec(vec![4], vec![0.0f32, 0.0, 0.0, 10.0]).unwrap();
    let idx = route(&cfg, &wr, Some(&big), &x)
        .indices
        .to_vec::<i32>()
        .unwrap();
    assert!(idx.iter().all(|&i| i == 2 || i == 3), "{idx:?}");
}

#[test]
fn aux_losses_and_metrics_on_hand_computed_cases() {
    // Uniform scores, perfectly balanced assignments: Switch loss 1, entropy ln E.
    let scores = Tensor::full(&[4, 4], 0.25, DType::F32);
    let idx = Tensor::from_vec(vec![4, 1], vec![0i32, 1, 2, 3]).unwrap();
    let l = moe_aux::switch_balance_loss(&scores, &idx)
        .to_f64_vec()
        .unwrap()[0];
    assert!((l - 1.0).abs() < 1e-6, "{l}");
    let h = moe_aux::router_entropy(&scores).to_f64_vec().unwrap()[0];
    assert!((h - 4f64.ln()).abs() < 1e-6, "{h}");
    // All tokens to expert 0 with probability mass 0.7 there: 4 · (1 · 0.7) = 2.8.
    let s = Tensor::from_vec(vec![2, 4], vec![0.7f32, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1]).unwrap();
    let i0 = Tensor::from_vec(vec![2, 1], vec![0i32, 0]).unwrap();
    let l = moe_aux::switch_balance_loss(&s, &i0).to_f64_vec().unwrap()[0];
    assert!((l - 2.8).abs() < 1e-6, "{l}");
    // Sequence-wise: 2 sequences of 1 token; f = E/(k·T)·count = 4 for expert 0: 4 · 0.7.
    let l = moe_aux::sequence_balance_loss(&s, &i0, 2)
        .to_f64_vec()
        .unwrap()[0];
    assert!((l - 2.8).abs() < 1e-6, "{l}");
    let load = moe_aux::expert_load(&i0, 4).to_f64_vec().unwrap();
    assert_eq!(load, vec![1.0, 0.0, 0.0, 0.0]);
    // z-loss: logits [0, ln 3] -> logsumexp = ln 4; squared.
    let z = Tensor::from_vec(vec![1, 2], vec![0.0f32, 3f32.ln()]).unwrap();
    let zl = moe_aux::router_z_loss(&z).to_f64_vec().unwrap()[0];
    assert!((zl - 4f64.ln().powi(2)).abs() < 1e-6, "{zl}");
}
