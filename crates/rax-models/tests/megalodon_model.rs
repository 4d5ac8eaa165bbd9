//! Megalodon model behaviour: packed-document isolation (bitwise), streaming continuation with
//! a cache equals the full forward pass, the 80-step overfit gate, rematerialised blocks give
//! the same gradients, errors instead of panics, and a StableHLO snapshot of a small block.
mod mega_common;
use mega_common::*;
use rax_core::{DType, PrngKey, Tensor};
use rax_models::megalodon::{
    compute_loss, lm_loss, Forward, LossOptions, MegalodonConfig, MegalodonForCausalLM,
};
use rax_optim::{adamw, apply_updates, GradientTransformation};

fn ids(v: Vec<i32>, b: usize) -> Tensor {
    let l = v.len() / b;
    Tensor::from_vec([b, l], v).unwrap()
}

#[test]
fn packed_documents_are_isolated_bitwise() {
    let (cfg, p) = model("tiny");
    let g = golden("tiny");
    let tok = t(&g, "tokens").to_vec::<i32>().unwrap();
    // One row: document A = 0..9 (id 1), document B = 9..20 (id 2), B starting mid-chunk.
    let mut seg = vec![1i32; 9];
    seg.extend(vec![2i32; 11]);
    let seg = ids(seg, 1);
    let a = ids(tok[..20].to_vec(), 1);
    let mut changed = tok[..20].to_vec();
    for (i, x) in changed.iter_mut().enumerate().take(9) {
        *x = (*x + 7 + i as i32) % 64;
    }
    let b = ids(changed, 1);
    let f = Forward {
        segment_ids: Some(&seg),
        ..Forward::default()
    };
    let la = p.forward(&cfg, &a, &f).unwrap().0.to_vec::<f32>().unwrap();
    let lb = p.forward(&cfg, &b, &f).unwrap().0.to_vec::<f32>().unwrap();
    let v = 64;
    assert_ne!(la[..9 * v], lb[..9 * v], "document A must change");
    let (da, db) = (&la[9 * v..], &lb[9 * v..]);
    assert!(
        da.iter().zip(db).all(|(x, y)| x.to_bits() == y.to_bits()),
        "document B changed"
    );
    // B alone (its own row, no packing) gives the same logits up to f32 rounding.
    let alone = p
        .logits(&cfg, &ids(tok[9..20].to_vec(), 1))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let e = rel_err(
        &da.iter().map(|x| *x as f64).collect::<Vec<_>>(),
        &alone.iter().map(|x| *x as f64).collect::<Vec<_>>(),
    );
    eprintln!("packed document vs alone: rel err {e:.2e}");
    // Same math, different EMA path (associative scan vs FFT): f32 rounding only.
    assert!(e < 2e-5, "{e}");
    let o = LossOptions {
        segment_ids: Some(&seg),
        ..LossOptions::default()
    };
    let (sa, ca) = compute_loss(
        &p,
        &cfg,
        &a,
        &a,
        &LossOptions {
            reduction: rax_models::megalodon::Reduction::None,
            ..o.clone()
        },
    )
    .unwrap();
    let (sb, _) = compute_loss(
        &p,
        &cfg,
        &b,
        &b,
        &LossOptions {
            reduction: rax_models::megalodon::Reduction::None,
            ..o
        },
    )
    .unwrap();
    // 19 shifted pairs, 1 straddles the boundary.
    assert_eq!(ca.to_vec::<i32>().unwrap(), vec![18]);
    let (sa, sb) = (sa.to_vec::<f32>().unwrap(), sb.to_vec::<f32>().unwrap());
    assert_eq!(sa[8], 0.0, "the boundary-straddling pair is excluded");
    assert!(sa[9..]
        .iter()
        .zip(&sb[9..])
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn cached_continuation_equals_the_full_forward() {
    let (cfg, p) = model("tiny");
    let g = golden("tiny");
    let tokens = t(&g, "tokens");
    let full = t(&g, "logits");
    // Prefill 13 tokens (crosses a chunk), then 5 one by one... then a 2-token piece.
    let (l1, c1) = p
        .forward(
            &cfg,
            &tokens.slice_axis(1, 0, 13),
            &Forward {
                return_cache: true,
                ..Forward::default()
            },
        )
        .unwrap();
    let mut pieces = vec![l1];
    let mut cache = c1.unwrap();
    assert_eq!(cache.layer_caches[0].attn.k.dims(), vec![2, 8, 2, 8]);
    assert_eq!(cache.layer_caches[0].ema.h.dtype(), DType::C64);
    for (s, e) in [(13, 14), (14, 15), (15, 16), (16, 17), (17, 18), (18, 20)] {
        let f = Forward {
            cache: Some(&cache),
            return_cache: true,
            ..Forward::default()
        };
        let (l, c) = p.forward(&cfg, &tokens.slice_axis(1, s, e), &f).unwrap();
        pieces.push(l);
        cache = c.unwrap();
    }
    assert_eq!(cache.count().unwrap().to_vec::<i32>().unwrap(), vec![20]);
    let joined = Tensor::concat(&pieces, 1);
    let e = rel(&joined, &full);
    eprintln!("streamed vs full logits rel err {e:.2e}");
    // The prefix runs the FFT path, the continuation the recurrence: f32 rounding only.
    assert!(e < 2e-5, "{e}");
    // Sliding-window mode streams too.
    let mut cw = cfg.clone();
    cw.attention_window = Some(5);
    let (_, c) = p
        .forward(
            &cw,
            &tokens.slice_axis(1, 0, 11),
            &Forward {
                return_cache: true,
                ..Forward::default()
            },
        )
        .unwrap();
    let c = c.unwrap();
    let (l2, _) = p
        .forward(
            &cw,
            &tokens.slice_axis(1, 11, 20),
            &Forward {
                cache: Some(&c),
                return_cache: true,
                ..Forward::default()
            },
        )
        .unwrap();
    let e = rel(&l2, &t(&g, "logits_window5").slice_axis(1, 11, 20));
    assert!(e < 2e-5, "window streaming: {e}");
}

fn fresh_tiny() -> MegalodonConfig {
    MegalodonConfig {
        vocab_size: 32,
        model_dim: 16,
        num_layers: 1,
        num_heads: 1,
        z_dim: 8,
        value_dim: 16,
        ffn_hidden_dim: 32,
        cema_ndim: 2,
        chunk_size: 8,
        norm_num_groups: 2,
        ..MegalodonConfig::default()
    }
}

#[test]
fn overfits_a_batch_in_80_steps() {
    let cfg = fresh_tiny();
    let p0 = MegalodonForCausalLM::init(&cfg, &PrngKey::new(0)).unwrap();
    assert!(rax_core::precision::audit(&p0).is_empty());
    let tokens = ids((0..32).map(|i| (i * 7 + 3) % 32).collect(), 2);
    let rt = rax_runtime::Runtime::interpreter();
    let tx = adamw(1e-2, 0.0);
    let c = cfg.clone();
    let step = rt.jit(
        move |(p, s, x): &(MegalodonForCausalLM, rax_optim::State, Tensor)| {
            let (l, g) =
                rax_core::value_and_grad(|p: &MegalodonForCausalLM| lm_loss(p, &c, x).unwrap())(p)?;
            let (u, s) = tx.update(&g, s.clone(), Some(p))?;
            Ok((l, apply_updates(p, &u)?, s))
        },
    );
    let t0 = std::time::Instant::now();
    let (mut p, mut s) = (p0.clone(), adamw(1e-2, 0.0).init(&p0).unwrap());
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..80 {
        let (l, np, ns) = step.call(&(p, s, tokens.clone())).unwrap();
        last = l.to_f64_vec().unwrap()[0];
        first.get_or_insert(last);
        p = np;
        s = ns;
    }
    let first = first.unwrap();
    eprintln!(
        "overfit: loss {first:.4} -> {last:.4} (ratio {:.3}) in {:.2}s, {} compile(s)",
        last / first,
        t0.elapsed().as_secs_f64(),
        step.compile_count()
    );
    assert!(last / first < 0.35, "{first} -> {last}");
    assert_eq!(step.compile_count(), 1);
}

#[test]
fn remat_blocks_give_the_same_gradients_and_dropout_trains() {
    let (mut cfg, p) = model("tiny");
    let g = golden("tiny");
    let tokens = t(&g, "tokens");
    let key = PrngKey::new(3);
    let o = LossOptions {
        dropout: Some(key.clone()),
        ..LossOptions::default()
    };
    let gr = |cfg: &MegalodonConfig| {
        rax_core::value_and_grad(|p: &MegalodonForCausalLM| {
            compute_loss(p, cfg, &tokens, &tokens, &o).unwrap().0
        })(&p)
        .unwrap()
    };
    let (l0, g0) = gr(&cfg);
    cfg.use_checkpoint = true;
    let (l1, g1) = gr(&cfg);
    assert_eq!(l0.to_vec::<f32>().unwrap(), l1.to_vec::<f32>().unwrap());
    for (a, b) in rax_core::tree::flatten(&g0)
        .iter()
        .zip(rax_core::tree::flatten(&g1).iter())
    {
        assert!(rel(a, b) < 1e-6);
    }
    // With dropout the training loss differs from the evaluation loss, deterministically.
    cfg.dropout = 0.1;
    cfg.hidden_dropout = 0.1;
    cfg.attention_dropout = 0.1;
    cfg.attention_dropout_mode = "dropkey".into();
    let (ld, _) = gr(&cfg);
    let (ld2, _) = gr(&cfg);
    assert_eq!(ld.to_vec::<f32>().unwrap(), ld2.to_vec::<f32>().unwrap());
    assert!((ld.to_f64_vec().unwrap()[0] - l0.to_f64_vec().unwrap()[0]).abs() > 1e-4);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (cfg, p) = model("tiny");
    let e = p
        .logits(&cfg, &ids(vec![1, 2, 64, 3], 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("out-of-bounds value 64"), "{e}");
    let e = p
        .logits(&cfg, &Tensor::from_vec([4], vec![1i32; 4]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input_ids must be an integer [batch, seq]"),
        "{e}"
    );
    let x = ids(vec![1, 2, 3, 4], 1);
    let bad_mask = ids(vec![1, 0, 1, 1], 1);
    let e = p
        .forward(
            &cfg,
            &x,
            &Forward {
                attention_mask: Some(&bad_mask),
                ..Forward::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("contiguous valid prefix"), "{e}");
    let seg = ids(vec![1, 1, 2, 2], 1);
    let e = p
        .forward(
            &cfg,
            &x,
            &Forward {
                segment_ids: Some(&seg),
                return_cache: true,
                ..Forward::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-cached"), "{e}");
    let lab = ids(vec![1, 2, 99, 3], 1);
    let e = compute_loss(&p, &cfg, &x, &lab, &LossOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels contain out-of-bounds value 99"), "{e}");
    let mut c = cfg.clone();
    c.z_dim = 15;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("z_dim (15) must be divisible"));
    let e = MegalodonConfig::from_json(r#"{"vocab_size": 10, "bogus": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn block_stablehlo_snapshot() {
    let cfg = MegalodonConfig {
        num_layers: 1,
        ..fresh_tiny()
    };
    let p = MegalodonForCausalLM::init(&cfg, &PrngKey::new(1)).unwrap();
    let blk = p.model.layers[0].clone();
    let rt = rax_runtime::Runtime::interpreter();
    let c = cfg.clone();
    let f = rt.jit(
        move |(b, x): &(rax_models::megalodon::block::MegalodonBlock, Tensor)| {
            let inv = rax_models::megalodon::model::inverse_frequencies(
                c.head_dim(),
                c.effective_rope_base(),
            );
            let pos = Tensor::iota(&[12], 0, DType::I32) % Tensor::scalar_of(8.0, DType::I32);
            let table = rax_nn::rope::RopeTable::from_positions(&pos, &inv);
            let ctx = rax_models::megalodon::attention::CallContext {
                mask: None,
                segments: None,
                table: &table,
                return_cache: false,
                dropout: None,
            };
            b.apply(&c, x, None, &ctx).0
        },
    );
    let x = Tensor::zeros(&[1, 12, 16], DType::F32);
    let text = f.stablehlo(&(blk, x)).unwrap();
    insta::assert_snapshot!("megalodon_block_stablehlo", text);
}
