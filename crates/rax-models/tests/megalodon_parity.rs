//! Megalodon against megalodon-jax 0.2.2 (goldens from gen/megalodon_goldens.py): logits,
//! losses (every reduction, masks, ignored labels, chunked head), packed sequences, the sliding
//! window, bf16 compute — on the interpreter and both CPU plugins.
mod mega_common;
use mega_common::*;
use rax_core::{DType, Tensor};
use rax_models::megalodon::{compute_loss, Forward, LossOptions, Reduction};

/// bf16-compute logits against megalodon-jax's bf16 run, relative to the logit scale: 4 ulps of
/// bf16's 8-bit significand (2^-8 each).
const BF16_LOGITS_TOL: f64 = 4.0 / 256.0;

#[test]
fn tiny_logits_match_peer_eager() {
    let (cfg, p) = model("tiny");
    let g = golden("tiny");
    let tokens = t(&g, "tokens");
    let t0 = std::time::Instant::now();
    let logits = p.logits(&cfg, &tokens).unwrap();
    let e = rel(&logits, &t(&g, "logits"));
    eprintln!(
        "tiny f32 logits rel err {e:.3e} ({:.2}s)",
        t0.elapsed().as_secs_f64()
    );
    // f32 everywhere; megalodon-jax's own parity tolerance for logits is rtol 2e-5.
    assert!(e < 2e-5, "{e}");
}

fn loss_opts<'a>(red: Reduction) -> LossOptions<'a> {
    LossOptions {
        reduction: red,
        ..LossOptions::default()
    }
}

#[test]
fn losses_match_peer_every_reduction_mask_and_chunking() {
    let (cfg, p) = model("tiny");
    let g = golden("tiny");
    let (tokens, labels, mask) = (t(&g, "tokens"), t(&g, "labels"), t(&g, "attention_mask"));
    let (l, _) = compute_loss(&p, &cfg, &tokens, &tokens, &LossOptions::default()).unwrap();
    let e = rel(&l, &t(&g, "loss"));
    eprintln!("mean loss rel err {e:.2e}");
    // f32 loss of f32 logits: the same 2e-5 as the logits.
    assert!(e < 2e-5, "{e}");
    for (red, key) in [
        (Reduction::Mean, "loss_masked_mean"),
        (Reduction::Sum, "loss_masked_sum"),
        (Reduction::None, "loss_masked_none"),
    ] {
        let o = LossOptions {
            attention_mask: Some(&mask),
            ..loss_opts(red)
        };
        let (l, count) = compute_loss(&p, &cfg, &tokens, &labels, &o).unwrap();
        let e = rel(&l, &t(&g, key));
        eprintln!("{key} rel err {e:.2e}");
        assert!(e < 2e-5, "{key}: {e}");
        assert_eq!(
            count.to_vec::<i32>().unwrap(),
            t(&g, "loss_masked_count").to_vec::<i32>().unwrap()
        );
    }
    let o = LossOptions {
        loss_chunk_size: Some(7),
        ..LossOptions::default()
    };
    let (l, _) = compute_loss(&p, &cfg, &tokens, &labels, &o).unwrap();
    let e = rel(&l, &t(&g, "loss_chunked"));
    assert!(e < 2e-5, "chunked head: {e}");
    let lm = p
        .forward(
            &cfg,
            &tokens,
            &Forward {
                attention_mask: Some(&mask),
                ..Forward::default()
            },
        )
        .unwrap()
        .0;
    let e = rel(&lm, &t(&g, "logits_masked"));
    assert!(e < 2e-5, "masked logits: {e}");
}

#[test]
fn packed_sequences_and_sliding_window_match_peer() {
    let mut cfgp = model("tiny");
    let g = golden("tiny");
    let (tokens, seg) = (t(&g, "tokens"), t(&g, "segment_ids"));
    let f = Forward {
        segment_ids: Some(&seg),
        ..Forward::default()
    };
    let (cfg, p) = (&cfgp.0, &cfgp.1);
    let l = p.forward(cfg, &tokens, &f).unwrap().0;
    let e = rel(&l, &t(&g, "logits_packed"));
    eprintln!("packed logits rel err {e:.2e}");
    assert!(e < 2e-5, "packed: {e}");
    let o = LossOptions {
        segment_ids: Some(&seg),
        ..LossOptions::default()
    };
    let (ls, _) = compute_loss(p, cfg, &tokens, &tokens, &o).unwrap();
    assert!(rel(&ls, &t(&g, "loss_packed")) < 2e-5);
    cfgp.0.use_associative_segment_scan = false;
    let l = cfgp.1.forward(&cfgp.0, &tokens, &f).unwrap().0;
    let e = rel(&l, &t(&g, "logits_packed_sequential"));
    assert!(e < 2e-5, "packed sequential: {e}");
    cfgp.0.use_associative_segment_scan = true;
    cfgp.0.attention_window = Some(5);
    let l = cfgp.1.logits(&cfgp.0, &tokens).unwrap();
    let e = rel(&l, &t(&g, "logits_window5"));
    eprintln!("window logits rel err {e:.2e}");
    assert!(e < 2e-5, "window: {e}");
}

#[test]
fn options_config_matches_peer() {
    // swiglu, rescale_nffn, scale_emb, share_emb (tied head), norm_affine=false, rope_base.
    let (cfg, p) = model("options");
    assert!(p.lm_head.is_none() && cfg.share_emb);
    let g = golden("options");
    let tokens = t(&g, "tokens");
    let e = rel(&p.logits(&cfg, &tokens).unwrap(), &t(&g, "logits"));
    eprintln!("options logits rel err {e:.2e}");
    assert!(e < 2e-5, "{e}");
    let (l, _) = compute_loss(&p, &cfg, &tokens, &tokens, &LossOptions::default()).unwrap();
    assert!(rel(&l, &t(&g, "loss")) < 2e-5);
}

#[test]
fn bf16_compute_logits_within_bf16_tolerance() {
    for name in ["tiny", "options"] {
        let (mut cfg, p) = model(name);
        cfg.compute_dtype = "bfloat16".into();
        let g = golden(name);
        let l = p.logits(&cfg, &t(&g, "tokens")).unwrap();
        assert_eq!(l.dtype(), DType::F32);
        let e = rel(&l, &t(&g, "logits_bf16"));
        let e32 = rel(&l, &t(&g, "logits"));
        eprintln!("{name} bf16 logits rel err vs peer bf16 {e:.2e} (vs f32 {e32:.2e})");
        // bf16 keeps 8 significant bits (relative spacing 2^-8 = 3.9e-3); activations round at
        // every op of 2 blocks and XLA fuses some chains in f32 where rax rounds per op, so
        // allow 4 bf16 ulps of the logit scale (4·2^-8 = 1.6e-2; measured at most 6.5e-3).
        assert!(e < BF16_LOGITS_TOL, "{name}: {e}");
    }
}

#[test]
fn backends_agree_with_peer_f32_and_bf16() {
    let (cfg, p) = model("tiny");
    let g = golden("tiny");
    let tokens = t(&g, "tokens");
    for (name, rt) in all_runtimes() {
        for compute in ["float32", "bfloat16"] {
            let mut c = cfg.clone();
            c.compute_dtype = compute.into();
            let t0 = std::time::Instant::now();
            let f = rt.jit(
                |(p, x): &(rax_models::megalodon::MegalodonForCausalLM, Tensor)| p.logits(&c, x),
            );
            let l = f.call(&(p.clone(), tokens.clone())).unwrap();
            let key = if compute == "float32" {
                "logits"
            } else {
                "logits_bf16"
            };
            let e = rel(&l, &t(&g, key));
            eprintln!(
                "{name} {compute} logits rel err {e:.2e} ({:.2}s)",
                t0.elapsed().as_secs_f64()
            );
            // f32: rtol 2e-5 as megalodon-jax's tests; bf16: see bf16_compute_logits_...
            assert!(
                e < if compute == "float32" {
                    2e-5
                } else {
                    BF16_LOGITS_TOL
                },
                "{name} {compute}: {e}"
            );
        }
    }
}
