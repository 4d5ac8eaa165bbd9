//! Tests of `rax_core::random`: keys, split, fold_in and samplers against golden values from
//! `jax.random` 0.10.2 (threefry2x32, partitionable counters), eager vs traced agreement,
//! lowering snapshots (plain StableHLO ops, no custom call) and errors. The exhaustive JAX
//! comparison lives in `xla_ops/cases/prng.json`.
//!
//! Set `RAX_DUMP_MLIR=DIR` to also write the snapshot modules to `DIR/<name>.mlir`.
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::random::{next_after, threefry2x32};
use rax_core::*;

fn lowered(name: &str, g: &Graph) -> String {
    let text = lower_module(g, &ModuleOptions::default()).unwrap();
    if let Ok(dir) = std::env::var("RAX_DUMP_MLIR") {
        std::fs::write(format!("{dir}/{name}.mlir"), &text).unwrap();
    }
    text
}

fn u32s(t: &Tensor) -> Vec<u32> {
    t.to_vec::<u32>().unwrap()
}

#[test]
fn keys_match_jax_prngkey() {
    assert_eq!(u32s(PrngKey::new(42).data()), vec![0, 42]);
    assert_eq!(u32s(PrngKey::new(0).data()), vec![0, 0]);
    // jax with x64: the 64-bit seed split into words.
    assert_eq!(u32s(PrngKey::new((1 << 32) + 5).data()), vec![1, 5]);
    assert_eq!(
        u32s(PrngKey::new(u64::MAX).data()),
        vec![u32::MAX, u32::MAX]
    );
}

#[test]
fn threefry_known_answer() {
    // Random123's known-answer vector for threefry2x32_20 with key = counter = 0.
    let z = Tensor::scalar_of(0.0, DType::U32);
    let (a, b) = threefry2x32(&z, &z, &z, &z);
    assert_eq!((u32s(&a)[0], u32s(&b)[0]), (0x6b200159, 0x99ba4efe));
    // key = counter = all ones.
    let f = Tensor::scalar_of(u32::MAX as f64, DType::U32);
    let (a, b) = threefry2x32(&f, &f, &f, &f);
    assert_eq!((u32s(&a)[0], u32s(&b)[0]), (0x1cb996fc, 0xbb002be7));
}

#[test]
fn split_and_fold_in_match_jax() {
    let k = PrngKey::new(42);
    let s = k.split_data(3);
    assert_eq!(s.dims(), vec![3, 2]);
    assert_eq!(
        u32s(&s),
        vec![1832780943, 270669613, 64467757, 2916123636, 2465931498, 255383827]
    );
    let ks = k.split(3);
    assert_eq!(u32s(ks[2].data()), vec![2465931498, 255383827]);
    assert_eq!(
        u32s(&PrngKey::new(0).split_data(2).reshape(&[4])),
        vec![1797259609, 2579123966, 928981903, 3453687069]
    );
    assert_eq!(u32s(k.fold_in(7).data()), vec![2547012911, 1371500959]);
}

#[test]
fn samplers_match_jax() {
    let k = PrngKey::new(42);
    assert_eq!(
        u32s(&k.random_bits(&[2, 3])),
        vec![2098992034, 2919706841, 2646866425, 2409546199, 1935504149, 2516274904]
    );
    // Scalar shape: element 0's bits.
    assert_eq!(u32s(&k.random_bits(&[])), vec![2098992034]);
    let u: Vec<u32> = k
        .uniform(&[4], DType::F32, 0.0, 1.0)
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    assert_eq!(u, vec![0x3efa3824, 0x3f2e0730, 0x3f1dc3f8, 0x3f0f9ec0]);
    let b = k.uniform(&[4], DType::BF16, 0.0, 1.0).cast(DType::F32);
    assert_eq!(
        b.to_vec::<f32>().unwrap(),
        vec![0.6328125, 0.84375, 0.96875, 0.8359375]
    );
    let n = k.normal(&[4], DType::F32).to_vec::<f32>().unwrap();
    let want = [
        -0.02830461598932743f64,
        0.4671318531036377,
        0.2957029640674591,
        0.15354591608047485,
    ];
    for (g, w) in n.iter().zip(want) {
        // XLA's erf_inv polynomial vs rax's accurate kernel: a few ulps.
        assert!(
            (*g as f64 - w).abs() <= 8.0 * f32::EPSILON as f64 * w.abs().max(0.0625),
            "{g} vs {w}"
        );
    }
    let t = k
        .truncated_normal(-1.0, 1.0, &[4], DType::F32)
        .to_vec::<f32>()
        .unwrap();
    let want = [
        -0.01932193711400032f64,
        0.3126998543739319,
        0.20030078291893005,
        0.10460413247346878,
    ];
    for (g, w) in t.iter().zip(want) {
        assert!(
            (*g as f64 - w).abs() <= 8.0 * f32::EPSILON as f64 * w.abs().max(0.0625),
            "{g} vs {w}"
        );
    }
    assert_eq!(
        k.bernoulli(0.5, &[8]).to_vec::<bool>().unwrap(),
        vec![true, false, false, false, true, false, true, false]
    );
    assert_eq!(
        k.randint(&[6], -3, 4, DType::I32).to_vec::<i32>().unwrap(),
        vec![-2, 2, 1, 1, 2, 0]
    );
}

#[test]
fn sampler_ranges() {
    let k = PrngKey::new(7);
    let u = k
        .uniform(&[1000], DType::F32, -2.0, 3.0)
        .to_vec::<f32>()
        .unwrap();
    assert!(u.iter().all(|&x| (-2.0..3.0).contains(&x)));
    let t = k
        .truncated_normal(0.5, 1.0, &[1000], DType::F32)
        .to_vec::<f32>()
        .unwrap();
    assert!(t.iter().all(|&x| x > 0.5 && x < 1.0));
    let r = k
        .randint(&[1000], 250, 300, DType::U8)
        .to_vec::<u8>()
        .unwrap();
    assert!(
        r.iter().all(|&x| (250..=255).contains(&x)),
        "clipped to the dtype"
    );
    let r = k.randint(&[50], 9, 3, DType::I32).to_vec::<i32>().unwrap();
    assert!(r.iter().all(|&x| x == 9), "hi <= lo gives lo");
    let b = k.bernoulli(0.0, &[100]).to_vec::<bool>().unwrap();
    assert!(b.iter().all(|&x| !x));
    let b = k.bernoulli(1.0, &[100]).to_vec::<bool>().unwrap();
    assert!(b.iter().all(|&x| x));
    let n = k.normal(&[4000], DType::F32).to_vec::<f32>().unwrap();
    let mean: f32 = n.iter().sum::<f32>() / n.len() as f32;
    let var: f32 = n.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n.len() as f32;
    assert!(
        mean.abs() < 0.06 && (var - 1.0).abs() < 0.08,
        "{mean} {var}"
    );
}

#[test]
fn next_after_per_dtype() {
    assert_eq!(next_after(-1.0, DType::F32, true), -(1.0 - 2f64.powi(-24)));
    assert_eq!(next_after(-1.0, DType::BF16, true), -(1.0 - 2f64.powi(-8)));
    assert_eq!(next_after(1.0, DType::F16, false), 1.0 - 2f64.powi(-11));
    assert_eq!(next_after(0.0, DType::F64, true), f64::from_bits(1));
    assert_eq!(
        next_after(f64::NEG_INFINITY, DType::F32, true),
        f32::MIN as f64
    );
    assert_eq!(next_after(f64::INFINITY, DType::F32, true), f64::INFINITY);
}

#[test]
fn traced_equals_eager_and_snapshots() {
    let shape = [2, 3];
    let t = trace(&[AVal::new([2], DType::U32)], |a| {
        let k = PrngKey::from_data(&a[0]).unwrap();
        let ks = k.split(2);
        vec![
            ks[0].random_bits(&shape),
            ks[1].uniform(&shape, DType::F32, 0.0, 1.0),
            k.fold_in(3).data().clone(),
        ]
    })
    .unwrap();
    let key = PrngKey::new(123);
    let out = interp::eval_graph(&t.graph, &[&key.data().to_literal().unwrap()]).unwrap();
    let ks = key.split(2);
    assert_eq!(
        out[0].as_slice::<u32>().unwrap(),
        &u32s(&ks[0].random_bits(&shape))[..]
    );
    assert_eq!(
        out[1].as_slice::<f32>().unwrap(),
        &ks[1]
            .uniform(&shape, DType::F32, 0.0, 1.0)
            .to_vec::<f32>()
            .unwrap()[..]
    );
    let text = lowered("prng_split_bits_uniform", &t.graph);
    assert!(!text.contains("custom_call"), "{text}");

    // f64 (bitcast of a u32 pair) and bf16 (8 random bits) paths, lowered.
    let t = trace(&[AVal::new([2], DType::U32)], |a| {
        let k = PrngKey::from_data(&a[0]).unwrap();
        vec![
            k.uniform(&[3], DType::F64, -1.0, 2.0),
            k.normal(&[3], DType::BF16),
            k.randint(&[3], 0, 10, DType::U8),
        ]
    })
    .unwrap();
    let text = lowered("prng_f64_bf16_randint", &t.graph);
    assert!(text.contains("\"stablehlo.bitcast_convert\""), "{text}");

    // One snapshot per path, kept small: raw bits, and the f64 uniform tail.
    let t = trace(&[AVal::new([2], DType::U32)], |a| {
        vec![PrngKey::from_data(&a[0]).unwrap().random_bits(&[3])]
    })
    .unwrap();
    insta::assert_snapshot!("prng_bits", lowered("prng_bits", &t.graph));
    let t = trace(&[AVal::new([2], DType::U32)], |a| {
        vec![PrngKey::from_data(&a[0])
            .unwrap()
            .uniform(&[3], DType::F64, -1.0, 2.0)]
    })
    .unwrap();
    insta::assert_snapshot!("prng_uniform_f64", lowered("prng_uniform_f64", &t.graph));
}

#[test]
fn keys_work_inside_control_flow() {
    // A scan whose body folds the step index into a captured key.
    let t = trace(&[AVal::new([2], DType::U32)], |a| {
        let k = PrngKey::from_data(&a[0]).unwrap();
        let (c, ys) = scan(
            move |c, _| {
                let sub = PrngKey::from_data(&c[0]).unwrap().split(2);
                (
                    vec![sub[0].data().clone()],
                    vec![sub[1].uniform(&[2], DType::F32, 0.0, 1.0)],
                )
            },
            &[k.data().clone()],
            &[],
            Some(3),
            false,
        );
        vec![c[0].clone(), ys[0].clone()]
    })
    .unwrap();
    let key = PrngKey::new(5);
    let out = interp::eval_graph(&t.graph, &[&key.data().to_literal().unwrap()]).unwrap();
    // The same chain, eagerly.
    let mut k = key;
    let mut ys = vec![];
    for _ in 0..3 {
        let sub = k.split(2);
        ys.extend(
            sub[1]
                .uniform(&[2], DType::F32, 0.0, 1.0)
                .to_vec::<f32>()
                .unwrap(),
        );
        k = sub[0].clone();
    }
    assert_eq!(out[0].as_slice::<u32>().unwrap(), &u32s(k.data())[..]);
    assert_eq!(out[1].as_slice::<f32>().unwrap(), &ys[..]);
}

#[test]
fn errors() {
    let k = PrngKey::new(1);
    let e = k
        .uniform(&[2], DType::I32, 0.0, 1.0)
        .to_literal()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("uniform: unsupported dtype i32 (a real float dtype)"),
        "{e}"
    );
    assert!(e.contains("tests/random.rs"), "{e}");
    let e = k
        .normal(&[2], DType::C64)
        .to_literal()
        .unwrap_err()
        .to_string();
    assert!(e.contains("normal: unsupported dtype c64"), "{e}");
    let e = k
        .randint(&[2], 0, 5, DType::I64)
        .to_literal()
        .unwrap_err()
        .to_string();
    assert!(e.contains("randint: unsupported dtype i64"), "{e}");
    assert!(e.contains("tests/random.rs"), "{e}");
    let e = PrngKey::from_data(&Tensor::zeros(&[3], DType::U32))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("PrngKey: invalid argument: key data must be u32[2], got u32[3]"),
        "{e}"
    );
    assert!(e.contains("tests/random.rs"), "{e}");
    let r = trace(&[AVal::new([2], DType::U32)], |a| {
        let k = PrngKey::from_data(&a[0]).unwrap();
        vec![k.truncated_normal(-1.0, 1.0, &[2], DType::U8)]
    });
    let e = r.unwrap_err().to_string();
    assert!(e.contains("truncated_normal: unsupported dtype u8"), "{e}");
}
