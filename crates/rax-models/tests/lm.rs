//! The reference LM against JAX: the same weights (tests/data/tiny_lm.safetensors, written by
//! examples/bench_lm/bench_lm_jax.py with width 32, 2 layers, 2 heads, vocab 64, seq 16,
//! batch 2) give the same initial loss.
use rax_core::{DType, Tensor};
use rax_models::lm::{loss, LmConfig, LmParams};
use rax_nn::checkpoint;

fn tiny(compute: DType) -> LmConfig {
    LmConfig {
        vocab: 64,
        width: 32,
        layers: 2,
        heads: 2,
        compute,
    }
}

fn load(cfg: &LmConfig) -> (LmParams, Tensor) {
    let ck = checkpoint::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tiny_lm.safetensors"
    ))
    .unwrap();
    let template = LmParams::init(cfg, 0).unwrap();
    let p = checkpoint::load_into(&template, &ck).unwrap();
    (p, Tensor::from_literal(ck["tokens"].clone()))
}

#[test]
fn initial_loss_matches_jax_f32() {
    let cfg = tiny(DType::F32);
    let (p, tokens) = load(&cfg);
    let l = loss(&cfg, &p, &tokens).to_f64_vec().unwrap()[0];
    eprintln!("{:?} loss {l}", cfg.compute);
    // JAX (XLA CPU) gives 4.160661697387695; rax measured 4.160661220550537 (1 ulp apart: the
    // f32 spacing at 4.16 is 4.8e-7). Both compute in f32 and differ only in summation order
    // inside the matmuls and reductions: allow 4 ulps.
    assert!(
        (l - 4.160661697387695).abs() < 2e-6,
        "rax {l} vs jax 4.160661697387695"
    );
}

#[test]
fn initial_loss_matches_jax_bf16_compute() {
    let cfg = tiny(DType::BF16);
    let (p, tokens) = load(&cfg);
    let l = loss(&cfg, &p, &tokens).to_f64_vec().unwrap()[0];
    eprintln!("{:?} loss {l}", cfg.compute);
    // JAX gives 4.160788536071777 with bf16 compute; rax measured 4.160671710968018 (1.2e-4
    // apart). bf16 keeps 8 significant bits (spacing 2^-8 ≈ 0.4% relative): activations round
    // at every matmul output and XLA fuses some elementwise chains in f32 where rax rounds each
    // op, so the losses differ by a small fraction of one bf16 ulp of the loss (0.016 at 4.16):
    // allow 1e-3 (1/16 of that ulp).
    assert!(
        (l - 4.160788536071777).abs() < 1e-3,
        "rax {l} vs jax 4.160788536071777"
    );
}

#[test]
fn checkpoint_refuses_narrowing_and_round_trips() {
    let cfg = tiny(DType::F32);
    let (p, _) = load(&cfg);
    let dir = std::env::temp_dir().join(format!("rax_nn_ckpt_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.safetensors");
    checkpoint::save(&p, &path).unwrap();
    let back = checkpoint::load(&path).unwrap();
    assert_eq!(back["layers.1.mlp_norm"].dtype(), DType::F32);
    assert_eq!(back.len(), rax_core::tree::flatten(&p).len());
    // A bf16 template for an f32 checkpoint: loading would narrow, and is refused with the path.
    let bf = rax_core::tree::tree_map(&p, |t| t.cast(DType::BF16));
    let e = checkpoint::load_into(&bf, &back).unwrap_err().to_string();
    assert!(e.contains("would narrow"), "{e}");
}

#[test]
fn gradient_of_the_loss_is_finite_and_descends() {
    let cfg = tiny(DType::F32);
    let (p, tokens) = load(&cfg);
    let vg = rax_core::autodiff::value_and_grad(|p: &LmParams| loss(&cfg, p, &tokens));
    let (l0, g) = vg(&p).unwrap();
    let l0 = l0.to_f64_vec().unwrap()[0];
    let leaves = rax_core::tree::flatten(&g);
    assert_eq!(leaves.len(), rax_core::tree::flatten(&p).len());
    for t in &leaves {
        assert!(t.to_f64_vec().unwrap().iter().all(|x| x.is_finite()));
    }
    // One SGD step along -g lowers the loss.
    let p2 = rax_core::tree::tree_map2(&p, &g, |w, gw| w - gw * 0.5).unwrap();
    let l1 = loss(&cfg, &p2, &tokens).to_f64_vec().unwrap()[0];
    assert!(l1 < l0, "{l1} !< {l0}");
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let cfg = tiny(DType::F32);
    let (p, _) = load(&cfg);
    let flat = Tensor::from_vec([5], vec![1i32; 5]).unwrap();
    let e = loss(&cfg, &p, &flat).to_literal().unwrap_err().to_string();
    assert!(e.contains("lm::loss") && e.contains("tests/lm.rs"), "{e}");
    let x = Tensor::zeros(&[2, 32], DType::F32);
    let e = rax_nn::layers::causal_attention(&x, &p.layers[0].wqkv, &p.layers[0].wo, 2)
        .to_literal()
        .unwrap_err()
        .to_string();
    assert!(e.contains("causal_attention"), "{e}");
}
