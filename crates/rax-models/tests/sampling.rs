//! The sampler of `rax_models::sampling` on the interpreter and both CPU plugins: greedy is the
//! argmax, top-k = 1 and a tiny top-p are greedy, draws follow the filtered, tempered softmax
//! (empirical frequencies within a binomial tolerance), a seed fixes the tokens, and a jitted
//! sampler compiles once for every key.
mod backends;

use rax_core::{DType, Literal, PrngKey, Result, Tensor};
use rax_models::family::GenerateOptions;
use rax_models::sampling::{decode_loop, sample, sample_step, try_sample};
use rax_runtime::Runtime;

fn opts(t: Option<f64>, k: Option<usize>, p: Option<f64>) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: 1,
        temperature: t,
        top_k: k,
        top_p: p,
        seed: 0,
    }
}

/// The jitted sampler `(logits, key data) -> tokens` on `rt`, called once.
fn run(rt: &Runtime, logits: &Literal, o: &GenerateOptions, seed: u64) -> Vec<i32> {
    let o = o.clone();
    let f = rt.jit(move |(l, k): &(Tensor, Tensor)| -> Result<Tensor> {
        try_sample(l, &o, &PrngKey::from_data(k)?)
    });
    let key = PrngKey::new(seed).data().to_literal().unwrap();
    let out = f
        .call(&(
            Tensor::from_literal(logits.clone()),
            Tensor::from_literal(key),
        ))
        .unwrap();
    out.to_vec::<i32>().unwrap()
}

/// Pseudo-random logits in [-4, 4) from a simple LCG (no dependency on the sampler's PRNG).
fn logits(b: usize, v: usize, seed: u64) -> Literal {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut x = Vec::with_capacity(b * v);
    for _ in 0..b * v {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x.push(((s >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0);
    }
    Literal::from_vec([b, v], x).unwrap()
}

fn host_argmax(l: &Literal) -> Vec<i32> {
    let v = l.dims()[1];
    l.as_slice::<f32>()
        .unwrap()
        .chunks(v)
        .map(|r| {
            let mut best = 0;
            for (i, &x) in r.iter().enumerate() {
                if x > r[best] {
                    best = i;
                }
            }
            best as i32
        })
        .collect()
}

#[test]
fn greedy_is_argmax_with_first_index_on_ties() {
    let mut d = logits(6, 50, 1).as_slice::<f32>().unwrap().to_vec();
    // Row 0: a tie between ids 7 and 30 at the maximum; argmax must take 7.
    d[7] = 9.0;
    d[30] = 9.0;
    let l = Literal::from_vec([6, 50], d).unwrap();
    let want = host_argmax(&l);
    assert_eq!(want[0], 7);
    for (name, rt) in backends::all_runtimes() {
        assert_eq!(run(&rt, &l, &opts(None, None, None), 0), want, "{name}");
        // Temperature 0 also means greedy.
        assert_eq!(
            run(&rt, &l, &opts(Some(0.0), None, None), 3),
            want,
            "{name}"
        );
    }
}

#[test]
fn top_k_one_and_tiny_top_p_are_greedy() {
    let l = logits(16, 40, 2);
    let want = host_argmax(&l);
    for (name, rt) in backends::all_runtimes() {
        for seed in [0, 1, 2] {
            assert_eq!(
                run(&rt, &l, &opts(Some(1.5), Some(1), None), seed),
                want,
                "{name} top-k 1"
            );
            assert_eq!(
                run(&rt, &l, &opts(Some(1.5), None, Some(1e-6)), seed),
                want,
                "{name} top-p"
            );
            assert_eq!(
                run(&rt, &l, &opts(Some(0.7), Some(5), Some(1e-6)), seed),
                want,
                "{name} top-k 5 + top-p"
            );
        }
    }
}

/// Draws `n` samples of one distribution (the row `row` repeated) and returns the frequencies.
fn frequencies(rt: &Runtime, row: &[f32], n: usize, o: &GenerateOptions, seed: u64) -> Vec<f64> {
    let v = row.len();
    let data: Vec<f32> = (0..n).flat_map(|_| row.iter().copied()).collect();
    let l = Literal::from_vec([n, v], data).unwrap();
    let toks = run(rt, &l, o, seed);
    let mut c = vec![0usize; v];
    for t in toks {
        c[t as usize] += 1;
    }
    c.iter().map(|&x| x as f64 / n as f64).collect()
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Each count is Binomial(n, p): its frequency has standard deviation sqrt(p(1-p)/n). A 5-sigma
/// band fails a correct sampler with probability ~6e-7 per token (Gaussian tail; n is large),
/// so the few dozen cells checked here pass for essentially any seed, while an error of a few
/// percent in any probability (e.g. a missed temperature, an off-by-one in the filters) is
/// 10+ sigma away at n = 20000. Tokens of probability 0 must never appear.
fn assert_close(name: &str, got: &[f64], want: &[f64], n: usize) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w == 0.0 {
            assert_eq!(
                g, 0.0,
                "{name}: token {i} is filtered out but was drawn ({g})"
            );
            continue;
        }
        let sd = (w * (1.0 - w) / n as f64).sqrt();
        assert!(
            (g - w).abs() <= 5.0 * sd,
            "{name}: token {i} frequency {g} vs probability {w} (5 sd = {})\n got {got:?}\nwant {want:?}",
            5.0 * sd
        );
    }
}

#[test]
fn draws_follow_the_filtered_tempered_softmax() {
    let p = [0.35, 0.25, 0.15, 0.1, 0.08, 0.04, 0.02, 0.01];
    let row: Vec<f32> = p.iter().map(|&x: &f64| x.ln() as f32).collect();
    let row64: Vec<f64> = row.iter().map(|&x| x as f64).collect();
    let n = 20000;
    // Temperature 2: softmax(log p / 2).
    let t2 = softmax(&row64.iter().map(|x| x / 2.0).collect::<Vec<_>>());
    // Top-k 3 at temperature 1: the three largest, renormalised.
    let mut k3 = p.to_vec();
    k3[3..].iter_mut().for_each(|x| *x = 0.0);
    let s: f64 = k3.iter().sum();
    k3.iter_mut().for_each(|x| *x /= s);
    // Top-p 0.68: the mass before each token is 0, .35, .6, .75: keep the first three (their
    // predecessors' mass does not exceed .68), drop the rest.
    let mut p68 = p.to_vec();
    p68[3..].iter_mut().for_each(|x| *x = 0.0);
    let s: f64 = p68.iter().sum();
    p68.iter_mut().for_each(|x| *x /= s);
    // Top-k 5 then top-p 0.5 among them: probs renormalised over 5 (.93 total): .376, .269, ...
    // mass before: 0, .376, .645 -> keep two.
    let mut k5p = p.to_vec();
    k5p[2..].iter_mut().for_each(|x| *x = 0.0);
    let s: f64 = k5p.iter().sum();
    k5p.iter_mut().for_each(|x| *x /= s);
    let cases = [
        ("t=1", opts(Some(1.0), None, None), p.to_vec()),
        ("t=2", opts(Some(2.0), None, None), t2),
        ("top-k 3", opts(Some(1.0), Some(3), None), k3),
        ("top-p .68", opts(Some(1.0), None, Some(0.68)), p68),
        (
            "top-k 5 + top-p .5",
            opts(Some(1.0), Some(5), Some(0.5)),
            k5p,
        ),
    ];
    for (name, rt) in backends::all_runtimes() {
        for (case, o, want) in &cases {
            let got = frequencies(&rt, &row, n, o, 11);
            assert_close(&format!("{name} {case}"), &got, want, n);
        }
    }
}

#[test]
fn a_seed_fixes_the_tokens_and_backends_agree() {
    let l = logits(64, 30, 3);
    let o = opts(Some(1.0), Some(20), Some(0.9));
    let rts = backends::all_runtimes();
    let reference = run(&rts[0].1, &l, &o, 5);
    assert_eq!(
        run(&rts[0].1, &l, &o, 5),
        reference,
        "same seed, same tokens"
    );
    assert_ne!(
        run(&rts[0].1, &l, &o, 6),
        reference,
        "another seed, other tokens"
    );
    // The draw is a function of the threefry bits and the logits only: every backend gives
    // the same tokens (64 rows; a flip would need two Gumbel-perturbed logits within an ulp).
    for (name, rt) in &rts[1..] {
        assert_eq!(run(rt, &l, &o, 5), reference, "{name}");
    }
    // Eager (no jit) gives the same tokens too.
    let eager = sample(&Tensor::from_literal(l.clone()), &o, &PrngKey::new(5))
        .to_vec::<i32>()
        .unwrap();
    assert_eq!(eager, reference);
}

#[test]
fn a_jitted_sampler_compiles_once_for_every_key() {
    let rt = Runtime::interpreter();
    let o = opts(Some(0.8), Some(4), None);
    let f = rt.jit(move |(l, k): &(Tensor, Tensor)| sample_step(l, &o, k));
    let l = Tensor::from_literal(logits(2, 10, 4));
    let mut key = PrngKey::new(9).data().clone();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (t, k) = f.call(&(l.clone(), key.clone())).unwrap();
        assert_ne!(
            k.to_vec::<u32>().unwrap(),
            key.to_vec::<u32>().unwrap(),
            "key advances"
        );
        key = k;
        seen.push(t.to_vec::<i32>().unwrap());
    }
    assert_eq!(f.compile_count(), 1);
    assert!(seen.iter().any(|s| s != &seen[0]), "draws vary: {seen:?}");
}

#[test]
fn bad_input_is_an_error_naming_the_op() {
    let k = PrngKey::new(0);
    let e = try_sample(
        &Tensor::zeros(&[3], DType::F32),
        &opts(None, None, None),
        &k,
    )
    .unwrap_err();
    assert!(e.to_string().contains("sample"), "{e}");
    let e = try_sample(
        &Tensor::zeros(&[2, 3], DType::I32),
        &opts(None, None, None),
        &k,
    )
    .unwrap_err();
    assert!(e.to_string().contains("sample"), "{e}");
    let e = try_sample(
        &Tensor::zeros(&[2, 3], DType::F32),
        &opts(Some(1.0), None, Some(1.5)),
        &k,
    )
    .unwrap_err();
    assert!(e.to_string().contains("top_p"), "{e}");
    let e = try_sample(
        &Tensor::zeros(&[2, 3], DType::F32),
        &opts(Some(1.0), Some(4), None),
        &k,
    )
    .unwrap_err();
    assert!(e.to_string().contains("top_k"), "{e}");
    // The poisoned form carries the error to the result.
    let t = sample(
        &Tensor::zeros(&[2, 3], DType::F32),
        &opts(Some(-1.0), None, None),
        &k,
    );
    assert!(t.to_vec::<i32>().is_err());
}

#[test]
fn decode_loop_appends_tokens_after_the_prompt() {
    // A toy "model": the next token is (last + 1) mod 7; the cache counts the steps.
    let prompt = Literal::from_vec([2, 3], vec![0i32, 1, 2, 4, 5, 6]).unwrap();
    let o = GenerateOptions {
        max_new_tokens: 4,
        ..opts(None, None, None)
    };
    let mut steps = 0;
    let out = decode_loop(
        &prompt,
        &o,
        |p, k| {
            let last = p.slice(&[0, 2], &[2, 3], &[1, 1]).reshape(&[2]);
            Ok(((&last + 1) % 7, k.clone(), 1usize))
        },
        |t, k, c| {
            steps += 1;
            Ok(((t + 1) % 7, k.clone(), c + 1))
        },
    )
    .unwrap();
    assert_eq!(steps, 3);
    assert_eq!(out.dims(), &[2, 7]);
    assert_eq!(
        out.as_slice::<i32>().unwrap(),
        &[0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 0, 1, 2, 3]
    );
}

/// megalodon-jax's `sample_token` on fixed logits with `PRNGKey(3)`
/// (tests/data/megalodon_generate/sampler.safetensors, from gen/megalodon_generate_goldens.py):
/// the same key and logits give the same tokens on every backend, because rax's threefry bits,
/// uniform floats and Gumbel transform are JAX's and the filters are applied over the whole
/// vocabulary as megalodon-jax does. 64 rows x 5 cases; a token could only flip if two
/// Gumbel-perturbed logits were within an f32 ulp (log/exp may differ by an ulp between XLA and
/// the interpreter), which these fixed inputs do not hit.
#[test]
fn sampled_tokens_match_megalodon_jax() {
    let g = rax_nn::checkpoint::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/megalodon_generate/sampler.safetensors"
    ))
    .unwrap();
    let logits = g["logits"].clone();
    let cases = [
        ("t1", Some(1.0), None, None),
        ("t0.5", Some(0.5), None, None),
        ("k5", Some(1.0), Some(5), None),
        ("p0.8", Some(1.0), None, Some(0.8)),
        ("t0.7_k10_p0.6", Some(0.7), Some(10), Some(0.6)),
    ];
    for (name, rt) in backends::all_runtimes() {
        for (case, t, k, p) in cases {
            let want = g[&format!("tokens.{case}")]
                .as_slice::<i32>()
                .unwrap()
                .to_vec();
            let got = run(&rt, &logits, &opts(t, k, p), 3);
            let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(
                diff, 0,
                "{name} {case}: {diff}/64 tokens differ\n got {got:?}\nwant {want:?}"
            );
        }
    }
}
