//! Megalodon generation against megalodon-jax 0.2.2 (tests/data/megalodon_generate, written by
//! gen/megalodon_generate_goldens.py: a tiny checkpoint with chunk_size 8, a [2, 11] prompt and
//! 13 new tokens, so prefill and decode cross chunk boundaries), on the interpreter and both CPU
//! plugins: the greedy continuation token for token, the sampled continuation (temperature 0.8,
//! top-k 12, top-p 0.9, seed 7) token for token, the prompt fed at once or in pieces giving the
//! same tokens, and prefill/decode compiled once per shape.
mod backends;

use rax_core::{DType, Literal, Policy, Tensor};
use rax_models::family::GenerateOptions;
use rax_models::megalodon::checkpoint::{load, Loaded};
use rax_models::megalodon::generate::{generate, initial_key, Generator};
use rax_runtime::Runtime;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/megalodon_generate");

/// A minimal reader of the little-endian int32 C-order `.npy` files the generator writes.
fn read_npy_i32(name: &str) -> Literal {
    let b = std::fs::read(format!("{DIR}/{name}")).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY", "{name} is not .npy");
    let (hlen, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).unwrap();
    assert!(header.contains("'descr': '<i4'") && header.contains("'fortran_order': False"));
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data: Vec<i32> = b[start + hlen..]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Literal::from_vec(shape, data).unwrap()
}

fn model() -> Loaded {
    load(format!("{DIR}/model.safetensors"), None).unwrap()
}

fn greedy_opts(n: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: n,
        ..GenerateOptions::default()
    }
}

fn sampled_opts(n: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: n,
        temperature: Some(0.8),
        top_k: Some(12),
        top_p: Some(0.9),
        seed: 7,
    }
}

fn rows(l: &Literal) -> Vec<Vec<i32>> {
    let t = l.dims()[1];
    l.as_slice::<i32>()
        .unwrap()
        .chunks(t)
        .map(|r| r.to_vec())
        .collect()
}

#[test]
fn greedy_and_sampled_continuations_match_megalodon_jax() {
    let m = model();
    let prompt = read_npy_i32("prompt.npy");
    let greedy = read_npy_i32("greedy.npy");
    let sampled = read_npy_i32("sampled.npy");
    let n = greedy.dims()[1] - prompt.dims()[1];
    for (name, rt) in backends::all_runtimes() {
        // Greedy: megalodon-jax's smallest top-1/top-2 margin on this path is 1.4e-3 (meta.json),
        // three orders above the f32 logit differences (~1e-6), so every token must agree.
        let got = generate(&rt, &m.config, &m.params, &prompt, &greedy_opts(n)).unwrap();
        assert_eq!(got.dims(), greedy.dims(), "{name}");
        assert_eq!(rows(&got), rows(&greedy), "{name}: greedy continuation");
        // Sampled with the same key schedule and the same Gumbel bits as jax.random.categorical.
        let got = generate(&rt, &m.config, &m.params, &prompt, &sampled_opts(n)).unwrap();
        assert_eq!(rows(&got), rows(&sampled), "{name}: sampled continuation");
    }
}

#[test]
fn prompt_at_once_or_in_pieces_gives_the_same_tokens() {
    let m = model();
    let prompt = read_npy_i32("prompt.npy");
    for (name, rt) in backends::all_runtimes() {
        let params = rt.put_tree(&m.params).unwrap();
        // 3 + 5 crosses the chunk boundary at 8 inside the second piece; 1 + 10 starts with a
        // one-token prefill; 8 + 3 ends a piece exactly at the boundary.
        for (opts, splits) in [
            (
                greedy_opts(6),
                &[&[3usize, 5, 3][..], &[1, 10], &[8, 3]][..],
            ),
            (sampled_opts(6), &[&[3usize, 5, 3][..]][..]),
        ] {
            let g = Generator::new(&rt, &m.config, &opts).unwrap();
            let once = g.generate(&params, &prompt).unwrap();
            for pieces in splits.iter().copied() {
                let split = g.generate_in_pieces(&params, &prompt, pieces).unwrap();
                assert_eq!(rows(&split), rows(&once), "{name} {pieces:?} {opts:?}");
            }
        }
    }
}

#[test]
fn the_decode_loop_program_gives_the_step_by_step_tokens() {
    let m = model();
    let prompt = read_npy_i32("prompt.npy");
    for (name, rt) in backends::all_runtimes() {
        let params = rt.put_tree(&m.params).unwrap();
        for opts in [greedy_opts(7), sampled_opts(7)] {
            let g = Generator::new(&rt, &m.config, &opts).unwrap();
            let scanned = g.generate(&params, &prompt).unwrap();
            let stepwise = g.generate_stepwise(&params, &prompt).unwrap();
            // One traced step is the scan's body and the stepwise program: the same ops on the
            // same values, so the tokens are equal, not merely close.
            assert_eq!(rows(&scanned), rows(&stepwise), "{name} {opts:?}");
            assert_eq!(
                (g.decode_loop_compiles(), g.decode_compiles()),
                (1, 1),
                "{name}"
            );
        }
    }
}

#[test]
fn prefill_and_decode_compile_once_per_shape() {
    let m = model();
    let prompt = read_npy_i32("prompt.npy");
    for (name, rt) in backends::all_runtimes() {
        let params = rt.put_tree(&m.params).unwrap();
        let g = Generator::new(&rt, &m.config, &sampled_opts(6)).unwrap();
        g.generate(&params, &prompt).unwrap();
        assert_eq!(
            (g.prefill_compiles(), g.decode_loop_compiles()),
            (1, 1),
            "{name}"
        );
        // The same prompt shape again: nothing new to compile.
        g.generate(&params, &prompt).unwrap();
        assert_eq!(
            (g.prefill_compiles(), g.decode_loop_compiles()),
            (1, 1),
            "{name}"
        );
        // Another prompt length: one more prefill, the same decode loop.
        let short =
            Literal::from_vec([2, 4], prompt.as_slice::<i32>().unwrap()[..8].to_vec()).unwrap();
        g.generate(&params, &short).unwrap();
        assert_eq!(
            (g.prefill_compiles(), g.decode_loop_compiles()),
            (2, 1),
            "{name}"
        );
    }
}

#[test]
fn the_cache_is_kept_in_the_compute_dtype() {
    let m = model();
    let prompt = Tensor::from_literal(read_npy_i32("prompt.npy"));
    let rt = Runtime::interpreter();
    for (policy, kv) in [
        (Policy::default(), DType::F32),
        (Policy::parse("p=f32,c=bf16").unwrap(), DType::BF16),
    ] {
        let cfg = m.config.with_policy(&policy).unwrap();
        let policy = format!("{policy:?}");
        let g = Generator::new(&rt, &cfg, &greedy_opts(2)).unwrap();
        let (tok, _, cache) = g
            .prefill(&m.params, None, &prompt, &initial_key(0))
            .unwrap();
        assert_eq!(tok.dims(), vec![2]);
        for lc in &cache.layer_caches {
            assert_eq!(lc.attn.k.dtype(), kv, "{policy}: keys");
            assert_eq!(lc.attn.v.dtype(), kv, "{policy}: values");
            // A ring of at most one chunk.
            assert_eq!(
                lc.attn.k.dims()[1],
                m.config.chunk_size as usize,
                "{policy}"
            );
            assert_eq!(lc.ema.h.dtype(), DType::C64, "{policy}: EMA state");
            assert_eq!(
                lc.norm.mean.dtype(),
                DType::F32,
                "{policy}: norm statistics"
            );
        }
        // A bf16 generation runs and gives in-vocabulary tokens.
        let out = g.generate(&m.params, &read_npy_i32("prompt.npy")).unwrap();
        assert!(out
            .as_slice::<i32>()
            .unwrap()
            .iter()
            .all(|&t| (0..64).contains(&t)));
    }
}

#[test]
fn bad_prompts_and_settings_are_errors() {
    let m = model();
    let rt = Runtime::interpreter();
    let oov = Literal::from_vec([1, 3], vec![1i32, 64, 2]).unwrap();
    let e = generate(&rt, &m.config, &m.params, &oov, &greedy_opts(2)).unwrap_err();
    assert!(e.to_string().contains("64"), "{e}");
    let rank1 = Literal::from_vec([3], vec![1i32, 2, 3]).unwrap();
    assert!(generate(&rt, &m.config, &m.params, &rank1, &greedy_opts(2)).is_err());
    let o = GenerateOptions {
        top_k: Some(65),
        ..sampled_opts(2)
    };
    let e = Generator::new(&rt, &m.config, &o).err().unwrap();
    assert!(e.to_string().contains("top_k"), "{e}");
    // No new tokens: the prompt itself, without running the model.
    let p = read_npy_i32("prompt.npy");
    assert_eq!(
        generate(&rt, &m.config, &m.params, &p, &greedy_opts(0)).unwrap(),
        p
    );
}
