//! The TTT-Linear layer (seed 002): the closed-form inner gradient is the gradient of the inner
//! loss (checked against rax's autodiff); the fast weight stays f32 at init, through a load
//! from an all-bf16 checkpoint, in every in-step update under bf16 compute, and on export; a
//! blanket-cast bf16 fast weight is refused at trace time naming the leaf.

use rax_core::autodiff::grad;
use rax_core::precision::{audit, cast_floating};
use rax_core::{DType, PrngKey, Tensor};
use rax_nn::checkpoint::{load, load_into, save};
use rax_nn::ttt::{inner_grad, TttLinear, TttOptions};

fn opts(compute: DType) -> TttOptions {
    TttOptions {
        chunk: 4,
        inner_lr: 1e-3,
        compute,
    }
}

#[test]
fn inner_gradient_is_the_gradient_of_the_inner_loss() {
    let key = PrngKey::new(3).split(3);
    let w = key[0].normal(&[2, 5, 5], DType::F32);
    let k = key[1].normal(&[2, 4, 5], DType::F32);
    let v = key[2].normal(&[2, 4, 5], DType::F32);
    let (k2, v2) = (k.clone(), v.clone());
    let g = grad(move |w: &Tensor| {
        let r = Tensor::einsum("bcd,bde->bce", &[&k2, w]) - &v2;
        (&r * &r).sum_all() * 0.25
    })(&w)
    .unwrap();
    let want = g.to_vec::<f32>().unwrap();
    let got = inner_grad(&w, &k, &v).to_vec::<f32>().unwrap();
    // Operands of the wrong rank are a shape error (naming the op and operands), not a panic.
    let e = inner_grad(&w, &Tensor::zeros(&[3], DType::F32), &v)
        .check()
        .unwrap_err()
        .to_string();
    assert!(e.contains("operands") && e.contains("f32[3]"), "{e}");
    // f32 sums of 4-5 products of N(0,1) values: agree to a few ulps of the largest (~10).
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn fast_weight_stays_f32_through_load_update_and_export_and_blanket_bf16_is_refused() {
    let p = TttLinear::init(8, &PrngKey::new(0)).unwrap();
    // Init under a bf16 policy: the fast weight is sensitive, so it stays f32.
    let pol = cast_floating(&p, DType::BF16, false);
    assert_eq!(pol.w0.dtype(), DType::F32);
    assert_eq!(pol.theta_k.dtype(), DType::BF16);
    assert!(audit(&pol).is_empty());
    // Load from a checkpoint where every tensor is bf16: w0 is widened back into its f32 slot.
    let dir = std::env::temp_dir().join(format!("rax_ttt_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let all_bf16 = cast_floating(&p, DType::BF16, true);
    let f = dir.join("bf16.safetensors");
    save(&all_bf16, &f).unwrap();
    let loaded = load_into(&pol, &load(&f).unwrap()).unwrap();
    assert_eq!(loaded.w0.dtype(), DType::F32);
    assert_eq!(
        loaded.w0.to_vec::<f32>().unwrap(),
        all_bf16.w0.cast(DType::F32).to_vec::<f32>().unwrap()
    );
    // Every in-step update under bf16 compute is f32 and moves the fast weight by ~η·|∇ℓ|,
    // which is below half the bf16 spacing at |w| ~ 0.02: it survives only because w0 is f32.
    let x = PrngKey::new(1)
        .normal(&[2, 8, 8], DType::F32)
        .cast(DType::BF16);
    let y = loaded.apply(&x, &opts(DType::BF16)).unwrap();
    assert_eq!(y.dims(), &[2, 8, 8]);
    assert!(y
        .cast(DType::F32)
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|v| v.is_finite()));
    // The inner steps change the output (f32 compute, so only the fast weight differs).
    let x32 = x.cast(DType::F32);
    let frozen = TttOptions {
        inner_lr: 0.0,
        ..opts(DType::F32)
    };
    let a = loaded
        .apply(&x32, &opts(DType::F32))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let b = loaded
        .apply(&x32, &frozen)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(
        a.iter().zip(&b).any(|(p, q)| p != q),
        "the inner update had no effect"
    );
    // Export: the saved fast weight is f32.
    let out = dir.join("export.safetensors");
    save(&loaded, &out).unwrap();
    assert_eq!(load(&out).unwrap()["w0"].dtype(), DType::F32);
    // The blanket cast (model.to(bfloat16)) stores w0 in bf16: the first inner update would
    // narrow the f32 update into the bf16 slot, and is an error naming the leaf.
    let e = all_bf16
        .apply(&x, &opts(DType::BF16))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`w0`") && e.contains("stored bf16") && e.contains("narrowed"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
