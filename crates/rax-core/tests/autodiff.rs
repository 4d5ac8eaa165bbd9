//! Reverse mode: VJP rules of the elementwise and layout families against central finite
//! differences (f64), the cotangent dtype rule, eager vs traced agreement, grad of grad,
//! trees with integer leaves, stop_gradient, custom_vjp and error cases.
#![allow(clippy::cloned_ref_to_slice_refs)]
mod autodiff_util;

use autodiff_util::{check64, check_vjp, host, Rng};
use rax_core::autodiff::{self, custom_vjp, grad, stop_gradient, value_and_grad_with_aux};
use rax_core::{interp, trace, DType, Tensor};

const F: DType = DType::F64;

fn r(seed: u64, dims: &[usize], lo: f64, hi: f64) -> Tensor {
    Rng(seed * 2654435761 + 17).tensor(dims, F, lo, hi)
}

macro_rules! unary_fd {
    ($($name:ident: $m:ident, $lo:expr, $hi:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let x = r(stringify!($name).len() as u64, &[2, 3], $lo, $hi);
                check64(stringify!($m), |a| vec![a[0].$m()], &[x]);
            }
        )*
    };
}

unary_fd! {
    vjp_neg: neg, -2.0, 2.0;
    vjp_abs: abs, 0.1, 2.0;
    vjp_abs_neg: abs, -2.0, -0.1;
    vjp_exp: exp, -2.0, 2.0;
    vjp_expm1: expm1, -2.0, 2.0;
    vjp_log: log, 0.2, 3.0;
    vjp_log1p: log1p, -0.5, 3.0;
    vjp_sqrt: sqrt, 0.2, 3.0;
    vjp_rsqrt: rsqrt, 0.2, 3.0;
    vjp_tanh: tanh, -2.0, 2.0;
    vjp_sigmoid: sigmoid, -3.0, 3.0;
    vjp_sin: sin, -3.0, 3.0;
    vjp_cos: cos, -3.0, 3.0;
    vjp_erf: erf, -2.0, 2.0;
    vjp_erf_inv: erf_inv, -0.8, 0.8;
    vjp_floor: floor, 0.1, 0.9;
    vjp_ceil: ceil, 0.1, 0.9;
    vjp_round: round, 0.1, 0.4;
    vjp_sign: sign, 0.1, 0.9;
}

macro_rules! binary_fd {
    ($($name:ident: $m:ident, $lo:expr, $hi:expr, $ylo:expr, $yhi:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let n = stringify!($name).len() as u64;
                let x = r(n, &[2, 3], $lo, $hi);
                let y = r(n + 100, &[2, 3], $ylo, $yhi);
                check64(stringify!($m), |a| vec![a[0].$m(&a[1])], &[x, y]);
            }
        )*
    };
}

binary_fd! {
    vjp_add: add, -2.0, 2.0, -2.0, 2.0;
    vjp_sub: sub, -2.0, 2.0, -2.0, 2.0;
    vjp_mul: mul, -2.0, 2.0, -2.0, 2.0;
    vjp_div: div, -2.0, 2.0, 0.5, 2.0;
    vjp_rem: rem, 0.1, 0.9, 1.0, 2.0;
    vjp_pow: pow, 0.5, 2.0, -1.5, 1.5;
    vjp_maximum: maximum, -2.0, 0.0, 0.1, 2.0;
    vjp_minimum: minimum, -2.0, 0.0, 0.1, 2.0;
    vjp_atan2: atan2, -2.0, 2.0, 0.3, 2.0;
}

#[test]
fn vjp_max_min_split_ties_like_jax() {
    let x = Tensor::from_vec([3], vec![1.0f64, 2.0, 3.0]).unwrap();
    let y = Tensor::from_vec([3], vec![1.0f64, 5.0, 0.0]).unwrap();
    for min in [false, true] {
        let (_, pb) = autodiff::vjp(
            |a| {
                vec![if min {
                    a[0].minimum(&a[1])
                } else {
                    a[0].maximum(&a[1])
                }]
            },
            &[x.clone(), y.clone()],
        )
        .unwrap();
        let g = pb.call(&[Tensor::full(&[3], 1.0, F)]).unwrap();
        let (gx, gy) = (g[0].to_vec::<f64>().unwrap(), g[1].to_vec::<f64>().unwrap());
        assert_eq!(gx[0], 0.5);
        assert_eq!(gy[0], 0.5);
        if min {
            assert_eq!((gx[1], gx[2]), (1.0, 0.0));
        } else {
            assert_eq!((gx[1], gx[2]), (0.0, 1.0));
        }
    }
}

#[test]
fn vjp_select_and_clamp() {
    let p = Tensor::from_vec([4], vec![true, false, true, false]).unwrap();
    let x = r(1, &[4], -1.0, 1.0);
    let y = r(2, &[4], -1.0, 1.0);
    let pp = p.clone();
    check64(
        "select",
        move |a| vec![Tensor::select(&pp, &a[0], &a[1])],
        &[x, y],
    );
    let lo = Tensor::from_vec([4], vec![-0.5f64, -0.5, 0.8, 0.0]).unwrap();
    let x = Tensor::from_vec([4], vec![0.1f64, -0.9, 0.3, 0.7]).unwrap();
    let hi = Tensor::from_vec([4], vec![0.5f64, 0.5, 0.9, 0.2]).unwrap();
    check64("clamp", |a| vec![a[1].clamp(&a[0], &a[2])], &[lo, x, hi]);
}

#[test]
fn vjp_complex_family() {
    // c64 only: f32 precision, so a larger step and tolerance.
    let re = Rng(5).tensor(&[3], DType::F32, 0.3, 1.0);
    let im = Rng(6).tensor(&[3], DType::F32, 0.3, 1.0);
    let f = |a: &[Tensor]| vec![Tensor::complex(&a[0], &a[1])];
    check_vjp("complex", f, &[re.clone(), im.clone()], 1e-2, 2e-3, 1);
    let z = Tensor::complex(&re, &im);
    check_vjp("real", |a| vec![a[0].real()], &[z.clone()], 1e-2, 2e-3, 2);
    check_vjp("imag", |a| vec![a[0].imag()], &[z.clone()], 1e-2, 2e-3, 3);
    check_vjp("abs_c64", |a| vec![a[0].abs()], &[z.clone()], 1e-2, 2e-3, 4);
    check_vjp("exp_c64", |a| vec![a[0].exp()], &[z.clone()], 1e-2, 2e-3, 5);
    check_vjp(
        "mul_c64",
        |a| vec![&a[0] * &a[0]],
        &[z.clone()],
        1e-2,
        2e-3,
        6,
    );
    // JAX: grad(abs)(3+4j) = 0.6-0.8j.
    let z = Tensor::from_vec([], vec![num_complex::Complex32::new(3.0, 4.0)]).unwrap();
    let (_, pb) = autodiff::vjp(|a| vec![a[0].abs()], &[z]).unwrap();
    let g = pb.call(&[Tensor::scalar_of(1.0, DType::F32)]).unwrap();
    let h = host(&g[0]);
    assert!(
        (h[0].0 - 0.6).abs() < 1e-6 && (h[0].1 + 0.8).abs() < 1e-6,
        "{h:?}"
    );
}

#[test]
fn cotangent_has_primal_dtype_through_convert() {
    let x = Tensor::from_vec([3], vec![1.0f32, 2.0, 3.0]).unwrap();
    let (_, pb) = autodiff::vjp(
        |a| {
            let b = a[0].cast(DType::BF16);
            vec![(&b * &b).cast(DType::F32)]
        },
        &[x],
    )
    .unwrap();
    let g = pb.call(&[Tensor::full(&[3], 1.0, DType::F32)]).unwrap();
    assert_eq!(
        g[0].dtype(),
        DType::F32,
        "gradient through convert(f32->bf16) is f32"
    );
    assert_eq!(g[0].to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0]);
    // A bf16 primal gets a bf16 cotangent even when the function computes in f32.
    let xb = Tensor::from_vec([2], vec![half::bf16::from_f32(1.5); 2]).unwrap();
    let (_, pb) = autodiff::vjp(|a| vec![a[0].cast(DType::F32).exp()], &[xb]).unwrap();
    let g = pb.call(&[Tensor::full(&[2], 1.0, DType::F32)]).unwrap();
    assert_eq!(g[0].dtype(), DType::BF16);
    // f64 <- f32 convert chain against finite differences.
    let x = r(3, &[4], -1.0, 1.0);
    let c = check_vjp(
        "convert",
        |a| vec![a[0].cast(DType::F32).sin().cast(F)],
        &[x],
        1e-3,
        1e-5,
        9,
    );
    assert_eq!(c[0].dtype(), F);
}

#[test]
fn eager_and_traced_gradients_agree() {
    let x = Tensor::from_vec([3], vec![0.5f64, -1.0, 2.0]).unwrap();
    let ct = Tensor::from_vec([3], vec![1.0f64, -2.0, 0.5]).unwrap();
    let f = |a: &[Tensor]| vec![(a[0].sin() * &a[0]).exp(), a[0].tanh()];
    let (o, pb) = autodiff::vjp(f, &[x.clone()]).unwrap();
    let g = pb.call(&[ct.clone(), ct.clone()]).unwrap();
    let t = trace(&[x.aval(), ct.aval()], |a| {
        let (mut o, pb) = autodiff::vjp(f, &[a[0].clone()]).unwrap();
        o.extend(pb.call(&[a[1].clone(), a[1].clone()]).unwrap());
        o
    })
    .unwrap();
    let out = interp::eval_graph(
        &t.graph,
        &[&x.to_literal().unwrap(), &ct.to_literal().unwrap()],
    )
    .unwrap();
    assert_eq!(out[0].to_f64_vec(), o[0].to_f64_vec().unwrap());
    assert_eq!(out[2].to_f64_vec(), g[0].to_f64_vec().unwrap());
    let x1: f64 = -1.0;
    let want = (x1 * x1.sin()).exp() * (x1.sin() + x1 * x1.cos()) * -2.0
        + (1.0 - x1.tanh().powi(2)) * -2.0;
    assert!((g[0].to_f64_vec().unwrap()[1] - want).abs() < 1e-12);
}

#[test]
fn grad_of_grad() {
    let x = Tensor::scalar_of(0.7, F);
    let d1 = |x: &Tensor| grad(|y: &Tensor| y.sin() * y)(x).unwrap();
    let d2 = grad(d1)(&x).unwrap().to_f64_vec().unwrap()[0];
    // (x sin x)'' = 2 cos x - x sin x
    let want = 2.0 * 0.7f64.cos() - 0.7 * 0.7f64.sin();
    assert!((d2 - want).abs() < 1e-12, "{d2} vs {want}");
    // Third order, traced.
    let t = trace(&[x.aval()], |a| {
        let d3 = grad(|z: &Tensor| grad(d1)(z).unwrap())(&a[0]).unwrap();
        vec![d3]
    })
    .unwrap();
    let out = interp::eval_graph(&t.graph, &[&x.to_literal().unwrap()]).unwrap();
    let want3 = -3.0 * 0.7f64.sin() - 0.7 * 0.7f64.cos();
    assert!((out[0].to_f64_vec()[0] - want3).abs() < 1e-12);
    // Closure over an outer traced value: d/dx [d/dy (x*y)] = 1.
    let d = grad(|x: &Tensor| {
        let xx = x.clone();
        grad(move |y: &Tensor| &xx * y)(&Tensor::scalar_of(3.0, F)).unwrap()
    })(&x)
    .unwrap();
    assert_eq!(d.to_f64_vec().unwrap(), vec![1.0]);
}

#[test]
fn integer_leaves_get_documented_zero_and_aux_works() {
    let params = (
        Tensor::scalar_of(2.0, F),
        Tensor::scalar_of(3.0, DType::I32),
    );
    let ((l, aux), g) = value_and_grad_with_aux(|p: &(Tensor, Tensor)| {
        let k = p.1.cast(F);
        let loss = &p.0 * &p.0 * &k;
        (loss.clone(), (loss.exp(), p.1.clone()))
    })(&params)
    .unwrap();
    assert_eq!(l.to_f64_vec().unwrap(), vec![12.0]);
    assert_eq!(aux.1.to_vec::<i32>().unwrap(), vec![3]);
    assert_eq!(g.0.to_f64_vec().unwrap(), vec![12.0]);
    assert_eq!(
        g.1.dtype(),
        DType::I32,
        "integer leaves get a zero of their own dtype"
    );
    assert_eq!(g.1.to_vec::<i32>().unwrap(), vec![0]);
}

#[test]
fn grad_rejects_non_scalar_loss() {
    let x = Tensor::full(&[2], 1.0, F);
    let e = grad(|x: &Tensor| x * 2.0)(&x).unwrap_err().to_string();
    assert!(e.contains("grad") && e.contains("scalar"), "{e}");
    assert!(
        e.contains("autodiff.rs"),
        "error names the user's call site: {e}"
    );
}

#[test]
fn stop_gradient_blocks() {
    let x = Tensor::scalar_of(3.0, F);
    let g = grad(|x: &Tensor| x * stop_gradient(x))(&x).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![3.0]);
}

#[test]
fn custom_vjp_runs_user_backward() {
    // f = sin, with a deliberately different backward (2 * ct * cos x) to see it is used.
    let f = custom_vjp(
        |a: &[Tensor]| vec![a[0].sin()],
        |a: &[Tensor]| (vec![a[0].sin()], vec![a[0].cos()]),
        |res: &[Tensor], ct: &[Tensor]| vec![&ct[0] * &res[0] * 2.0],
    );
    let x = Tensor::scalar_of(0.3, F);
    let y = f(&[x.clone()]).unwrap();
    assert!((y[0].to_f64_vec().unwrap()[0] - 0.3f64.sin()).abs() < 1e-15);
    let g = grad(|x: &Tensor| f(&[x.clone()]).unwrap().remove(0))(&x).unwrap();
    assert!((g.to_f64_vec().unwrap()[0] - 2.0 * 0.3f64.cos()).abs() < 1e-15);
    let t = trace(&[x.aval()], |a| {
        vec![grad(|x: &Tensor| f(&[x.clone()]).unwrap().remove(0))(&a[0]).unwrap()]
    })
    .unwrap();
    let out = interp::eval_graph(&t.graph, &[&x.to_literal().unwrap()]).unwrap();
    assert!((out[0].to_f64_vec()[0] - 2.0 * 0.3f64.cos()).abs() < 1e-15);
    // bwd with the wrong type is a clear error.
    let bad = custom_vjp(
        |a: &[Tensor]| vec![a[0].sin()],
        |a: &[Tensor]| (vec![a[0].sin()], vec![]),
        |_res: &[Tensor], ct: &[Tensor]| vec![ct[0].cast(DType::F32)],
    );
    let e = bad(&[x]).unwrap_err().to_string();
    assert!(e.contains("custom_vjp") && e.contains("bwd"), "{e}");
}

#[test]
fn layout_reshape_transpose() {
    let x = r(11, &[2, 3], -1.0, 1.0);
    check64(
        "reshape",
        |a| vec![a[0].reshape(&[3, 2]).sin()],
        &[x.clone()],
    );
    check64("transpose", |a| vec![a[0].transpose(&[1, 0]).sin()], &[x]);
}
