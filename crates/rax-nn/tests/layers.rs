//! Layer functions: the tanh-GELU's hand-written VJP against the derivative of its composite
//! formula (f64, exact to rounding) and in bf16 (the cotangent keeps the input's dtype).
use rax_core::autodiff::grad;
use rax_core::{DType, Tensor};
use rax_nn::layers::gelu_tanh;

/// The composite formula, differentiated by rax's autodiff (the reference).
fn gelu_composite(x: &Tensor) -> Tensor {
    let inner = (x + x * x * x * 0.044715) * 0.797_884_560_802_865_4;
    x * 0.5 * (inner.tanh() + 1.0)
}

fn xs(dtype: DType) -> Tensor {
    let v: Vec<f64> = (0..41).map(|i| -6.0 + 0.3 * i as f64).collect();
    Tensor::from_vec(vec![v.len()], v).unwrap().cast(dtype)
}

#[test]
fn gelu_tanh_value_and_gradient_match_the_composite_f64() {
    let x = xs(DType::F64);
    let y = gelu_tanh(&x).to_f64_vec().unwrap();
    let y_ref = gelu_composite(&x).to_f64_vec().unwrap();
    let g = grad(|x: &Tensor| gelu_tanh(x).sum(&[0]))(&x)
        .unwrap()
        .to_f64_vec()
        .unwrap();
    let g_ref = grad(|x: &Tensor| gelu_composite(x).sum(&[0]))(&x)
        .unwrap()
        .to_f64_vec()
        .unwrap();
    for i in 0..y.len() {
        assert_eq!(y[i], y_ref[i], "value at {i}");
        // Two f64 evaluations of the same derivative in different operation orders: a few ulps.
        assert!(
            (g[i] - g_ref[i]).abs() <= 1e-14 * g_ref[i].abs().max(1.0),
            "grad at {i}: {} vs {}",
            g[i],
            g_ref[i]
        );
    }
    // The derivative is not trivially 0/1 on this range (the test can fail).
    assert!(g.iter().any(|&d| d > 1.05) && g.iter().any(|&d| d < -0.05));
}

#[test]
fn gelu_tanh_bf16_gradient_is_bf16_and_accurate() {
    let x = xs(DType::BF16);
    let g = grad(|x: &Tensor| gelu_tanh(x).cast(DType::F32).sum(&[0]))(&x).unwrap();
    assert_eq!(g.dtype(), DType::BF16);
    let exact = grad(|x: &Tensor| gelu_composite(x).sum(&[0]))(&x.cast(DType::F64))
        .unwrap()
        .to_f64_vec()
        .unwrap();
    // Computed in f32 and rounded once to bf16: within half a bf16 ulp of the exact derivative
    // at the same (bf16) points (half an ulp is at most 2^-8 of the value), plus f32 noise.
    for (i, (a, b)) in g.to_f64_vec().unwrap().iter().zip(&exact).enumerate() {
        assert!(
            (a - b).abs() <= b.abs() * 2f64.powi(-8) + 1e-6,
            "at {i}: {a} vs {b}"
        );
    }
}
