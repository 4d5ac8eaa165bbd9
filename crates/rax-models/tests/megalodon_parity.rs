//! Megalodon against megalodon-jax 0.2.2 (goldens from gen/megalodon_goldens.py): logits,
//! losses (every reduction, masks, ignored labels, chunked head), packed sequences, the sliding
//! window, bf16 compute — on the interpreter and both CPU plugins.
mod mega_common;
use mega_common::*;
use rax_core::{DType, Tensor};
use rax_models::megalodon::{compute_loss, Forward, LossOptions, Reduction};

#[test]
fn tiny_logits_match_peer_eager() {
    let (cfg, p) = model("tiny");
    let g = golden("tiny");
    let tokens = t(&g, "tokens");
    let t0 = std::time::Instant::now();
    let logits = p.logits(&cfg, &tokens).unwrap();
    let e = rel(&logits, &t(&g, "logits"));
    eprintln!("tiny f32 logits rel err {e:.3e} ({:.2}s)", t0.elapsed().as_secs_f64());
    // f32 everywhere; megalodon-jax's own parity tolerance for logits is rtol 2e-5.
    assert!(e < 2e-5, "{e}");
}
