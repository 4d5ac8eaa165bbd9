//! Behaviour of rax-optim beyond the optax goldens: errors on user paths, state naming,
//! select-based edge cases (zero gradients under clipping), bf16 storage (the norm-freeze the
//! f32 masters prevent), stochastic rounding's expectation, and Muon's shape handling.

use rax_core::{DType, Sensitive, Tensor, Tree};
use rax_optim::combine::partition;
use rax_optim::master::round_bf16_stochastic;
use rax_optim::{
    adamw, apply_updates, clip_by_global_norm, multi_steps, newton_schulz5, scale_by_muon, sgd,
    stochastic_rounding, with_master_weights, GradientTransformation, LeafMeta, State,
};
use std::collections::BTreeMap;

fn params() -> BTreeMap<String, Tensor> {
    let mut m = BTreeMap::new();
    m.insert("w".to_string(), Tensor::full(&[2, 3], 0.5, DType::F32));
    m.insert("b".to_string(), Tensor::full(&[3], 0.1, DType::F32));
    m
}

#[test]
fn state_is_a_named_tree() {
    let p = params();
    let s = adamw(1e-3, 0.1).init(&p).unwrap();
    let paths = rax_core::tree::leaf_paths(&s);
    assert_eq!(
        paths,
        vec!["0.count", "0.mu.b", "0.mu.w", "0.nu.b", "0.nu.w"]
    );
    assert!(rax_core::tree::flatten(&s)[1..]
        .iter()
        .all(|x| x.dtype() == DType::F32));
    let mut st = String::new();
    s.write_structure(&mut st);
    assert!(st.starts_with("{0:{count:*"));
}

#[test]
fn user_errors_are_errors() {
    let p = params();
    // add_decayed_weights without params.
    let tx = adamw(1e-3, 0.1);
    let s = tx.init(&p).unwrap();
    let e = tx.update(&p, s.clone(), None).unwrap_err().to_string();
    assert!(e.contains("needs the parameters"), "{e}");
    // State of another transform.
    let e = sgd(0.1, Some(0.9), false)
        .update(&p, s, Some(&p))
        .unwrap_err()
        .to_string();
    assert!(e.contains("state from another transform"), "{e}");
    // A leaf without a partition label.
    let tx = partition(
        vec![("a", sgd(0.1, None, false).boxed())],
        |m: &LeafMeta| {
            if m.ndim() == 2 {
                "a".into()
            } else {
                "zzz".into()
            }
        },
    );
    let e = tx.init(&p).unwrap_err().to_string();
    assert!(e.contains("leaf `b` has label `zzz`"), "{e}");
    // Muon on a vector.
    let mu = scale_by_muon(0.95, true, 5, DType::F32);
    let v = vec![Tensor::full(&[3], 1.0, DType::F32)];
    let s = mu.init(&v).unwrap();
    let e = mu.update(&v, s, None).unwrap_err().to_string();
    assert!(e.contains("Newton–Schulz needs a 2-D tensor"), "{e}");
}

#[test]
fn clip_by_global_norm_zero_gradients() {
    let g = vec![Tensor::zeros(&[4], DType::F32)];
    let tx = clip_by_global_norm(1.0);
    let (u, _) = tx.update(&g, tx.init(&g).unwrap(), None).unwrap();
    assert_eq!(u[0].to_vec::<f32>().unwrap(), vec![0.0; 4]);
    let g = vec![Tensor::full(&[4], 1.0, DType::F32)]; // norm 2 -> halved
    let (u, _) = tx.update(&g, State::empty(), None).unwrap();
    assert_eq!(u[0].to_vec::<f32>().unwrap(), vec![0.5; 4]);
}

#[test]
fn multi_steps_emits_every_k() {
    let p = vec![Tensor::full(&[2], 1.0, DType::F32)];
    let tx = multi_steps(sgd(1.0, None, false), 2);
    let mut s = tx.init(&p).unwrap();
    let g1 = vec![Tensor::full(&[2], 1.0, DType::F32)];
    let g2 = vec![Tensor::full(&[2], 3.0, DType::F32)];
    let (u, s1) = tx.update(&g1, s, Some(&p)).unwrap();
    assert_eq!(u[0].to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    s = s1;
    let (u, _) = tx.update(&g2, s, Some(&p)).unwrap();
    assert_eq!(
        u[0].to_vec::<f32>().unwrap(),
        vec![-2.0, -2.0],
        "mean of 1 and 3"
    );
}

/// docs/optim.md: a bf16 norm weight at 1.0 under AdamW (η = 3e-4) never moves; with f32 masters
/// (or stochastic rounding) it does.
#[test]
fn bf16_norm_freeze_and_masters() {
    let p = (Sensitive(Tensor::full(&[4], 1.0, DType::BF16)),);
    let g = (Sensitive(Tensor::full(&[4], 1.0, DType::BF16)),);
    let run = |tx: &dyn GradientTransformation, steps: usize| {
        let meta = LeafMeta::of(&p);
        let mut pl = rax_core::tree::flatten(&p);
        let gl = rax_core::tree::flatten(&g);
        let mut s = tx.init_flat(&pl, &meta).unwrap();
        for _ in 0..steps {
            let (u, ns) = tx.update_flat(gl.clone(), s, Some(&pl), &meta).unwrap();
            pl = apply_updates(&pl, &u).unwrap();
            s = ns;
        }
        pl[0].to_vec::<half::bf16>().unwrap()[0].to_f32()
    };
    assert_eq!(run(&adamw(3e-4, 0.0), 20), 1.0, "frozen in bf16");
    let m = run(&with_master_weights(adamw(3e-4, 0.0)), 20);
    assert!(m < 1.0 && m > 0.99, "{m}");
    let sr = run(&stochastic_rounding(adamw(3e-4, 0.0), 7), 100);
    assert!(sr < 1.0, "{sr}");
}

#[test]
fn stochastic_rounding_is_unbiased() {
    // x = 1 + 2^-9 lies a quarter of the way from 1.0 to the next bf16 (1 + 2^-7).
    let n = 4096;
    let x = Tensor::full(&[n], 1.0 + 2f64.powi(-9), DType::F32);
    let bits = Tensor::iota(&[n], 0, DType::U32) * 16u32 as i32; // spread over the low 16 bits
    let r = round_bf16_stochastic(&x, &bits.cast(DType::U32)).cast(DType::F32);
    let v = r.to_vec::<f32>().unwrap();
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    assert!((mean - (1.0 + 2f64.powi(-9))).abs() < 1e-5, "{mean}");
    assert!(v.iter().all(|&x| x == 1.0 || x == 1.0 + 2f32.powi(-7)));
}

#[test]
fn newton_schulz_orthogonalises() {
    // NS5's quintic does not converge to exactly 1: it maps singular values into about
    // [0.7, 1.2], so the diagonal of O·Oᵀ (squared norms of rows) lies in about [0.45, 1.45].
    let g = Tensor::from_vec([3, 3], vec![2.0f32, 0.1, 0.0, 0.1, 1.0, 0.2, 0.0, 0.2, 1.5]).unwrap();
    let o = newton_schulz5(&g, 5, DType::F32).unwrap();
    let oo = o.matmul(&o.transpose(&[1, 0])).to_vec::<f32>().unwrap();
    for i in 0..3 {
        assert!(oo[i * 4] > 0.45 && oo[i * 4] < 1.45, "{oo:?}");
    }
    let b = newton_schulz5(&g.cast(DType::BF16), 5, DType::BF16).unwrap();
    assert_eq!(b.dtype(), DType::BF16);
}
