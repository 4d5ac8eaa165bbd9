//! Gradients of the loss (labels = input_ids) for every parameter of the tiny V3 and V2 models
//! against torch autograd (goldens from crates/rax-models/gen/deepseek_goldens.py), on the
//! interpreter and both CPU plugins, for the three dispatch paths.
mod ds_common;
use ds_common::{all_runtimes, data, golden, max_rel};
use rax_core::{value_and_grad, DType, Tensor};
use rax_models::deepseek::checkpoint::{load_dir, to_tensors};
use rax_models::deepseek::model::{loss_tensor, DeepseekParams, DeepseekState, RunOptions};
use rax_nn::moe_dispatch::Dispatch;

fn check(name: &str, dir: &str, dispatches: &[Dispatch], all: bool) {
    let g = golden(name);
    let ck = load_dir(&data().join(dir)).expect("load");
    let ids = Tensor::from_literal(g["input_ids"].clone());
    let want_loss = g["loss"].to_f64_vec()[0];
    let rts = if all {
        all_runtimes()
    } else {
        all_runtimes().into_iter().take(1).collect()
    };
    for (label, rt) in rts {
        for &dispatch in dispatches {
            let opts = RunOptions {
                compute: DType::F32,
                dispatch,
            };
            let cfg = ck.config.clone();
            let f = rt.jit(move |(p, s, t): &(DeepseekParams, DeepseekState, Tensor)| {
                value_and_grad(|p: &DeepseekParams| loss_tensor(&cfg, &opts, p, s, t))(p)
            });
            let (loss, grads) = f
                .call(&(ck.params.clone(), ck.state.clone(), ids.clone()))
                .expect("grad");
            let loss = loss.to_f64_vec().expect("loss")[0];
            assert!(
                ((loss - want_loss) / want_loss).abs() < 1e-5,
                "{label} {dispatch:?} loss {loss}"
            );
            let named = to_tensors(&ck.config, &grads, &ck.state, &|_| DType::F32).expect("names");
            let mut worst = (0.0f64, String::new());
            let mut n = 0;
            for (hf, got) in &named {
                if hf.ends_with("e_score_correction_bias") {
                    continue; // state, not a parameter: no gradient on either side
                }
                let want = g
                    .get(&format!("grad.{hf}"))
                    .unwrap_or_else(|| panic!("no golden gradient for {hf}"));
                assert_eq!(got.dims(), want.dims(), "{hf}");
                let (a, b) = (got.to_f64_vec(), want.to_f64_vec());
                let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let err = if scale == 0.0 {
                    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
                } else {
                    max_rel(&a, &b)
                };
                if err > worst.0 {
                    worst = (err, hf.clone());
                }
                // f32 on both sides; a gradient is a sum over the 24 positions of products of
                // f32 activations through ~3 layers: 1e-4 of each tensor's largest entry
                // (measured worst below 2e-5). Tensors whose golden is all zero (experts no
                // token chose) must be zero to 1e-7 absolute.
                let tol = if scale == 0.0 { 1e-7 } else { 1e-4 };
                assert!(
                    err < tol,
                    "{name} [{label}] {dispatch:?}: gradient of {hf}: rel err {err}"
                );
                n += 1;
            }
            let golden_count = g.keys().filter(|k| k.starts_with("grad.")).count();
            assert_eq!(n, golden_count, "every parameter's gradient compared");
            eprintln!(
                "{name} [{label}] {dispatch:?}: {n} gradients, worst rel err {:.3e} ({})",
                worst.0, worst.1
            );
        }
    }
}

#[test]
fn v3_gradients_match_torch_autograd() {
    check("v3", "v3_single", &[Dispatch::Dropless { block: 4 }], true);
}

#[test]
fn v2_gradients_match_torch_autograd() {
    check("v2", "v2_sharded", &[Dispatch::Dropless { block: 4 }], true);
}

#[test]
fn v3_gradients_agree_for_every_dispatch_path() {
    // Capacity factor 4 = E/k: every expert can take every token, so nothing is dropped.
    check(
        "v3",
        "v3_single",
        &[
            Dispatch::Dense,
            Dispatch::Capacity { factor: 4.0 },
            Dispatch::Dropless { block: 3 },
        ],
        false,
    );
}
