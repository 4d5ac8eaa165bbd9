//! Tests of the layout family: typing rules (including every error case), eager results on
//! small hand-checked inputs, and one snapshot of the lowered module per primitive.
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn iota_f32(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    f32s(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap_or_else(|e| panic!("{e}"))
}

fn err(t: &Tensor) -> String {
    t.error().expect("expected an error").to_string()
}

fn lowered(avals: &[AVal], f: impl FnOnce(&[Tensor]) -> Vec<Tensor>) -> String {
    let t = trace(avals, f).unwrap();
    lower_module(&t.graph, &ModuleOptions::default()).unwrap()
}

fn f32a(shape: &[usize]) -> AVal {
    AVal::new(shape.to_vec(), DType::F32)
}

// ---- slice ----

#[test]
fn slice_strided() {
    let x = iota_f32(&[4, 5]);
    let y = x.slice(&[0, 1], &[3, 5], &[2, 2]);
    assert_eq!(y.dims(), vec![2, 2]);
    assert_eq!(vals(&y), vec![1.0, 3.0, 11.0, 13.0]);
    let e = x.slice(&[1, 0], &[1, 5], &[1, 1]);
    assert_eq!(e.dims(), vec![0, 5]);
    assert_eq!(
        vals(&x.slice_axis(1, 3, 5)),
        vec![3., 4., 8., 9., 13., 14., 18., 19.]
    );
}

#[test]
fn slice_errors() {
    let x = iota_f32(&[4, 5]);
    let e = err(&x.slice(&[0], &[3], &[1]));
    assert!(
        e.starts_with("slice: invalid argument") && e.contains("f32[4, 5]"),
        "{e}"
    );
    let e = err(&x.slice(&[0, 0], &[3, 6], &[1, 1]));
    assert!(
        e.contains("slice: dim 1: need 0 <= start (0) <= limit (6) <= size (5)"),
        "{e}"
    );
    assert!(e.contains("layout.rs"), "call site: {e}");
    let e = err(&x.slice(&[3, 0], &[2, 5], &[1, 1]));
    assert!(e.contains("start (3) <= limit (2)"), "{e}");
    let e = err(&x.slice(&[0, 0], &[3, 5], &[1, 0]));
    assert!(
        e.contains("slice: invalid argument: stride of dim 1"),
        "{e}"
    );
    let e = err(&x.slice_axis(2, 0, 1));
    assert!(
        e.contains("slice: invalid argument: axis 2 is out of range for rank 2"),
        "{e}"
    );
}

// ---- concatenate / stack / split ----

#[test]
fn concat_and_friends() {
    let a = iota_f32(&[2, 2]);
    let b = f32s(&[2, 1], &[10., 11.]);
    let e = f32s(&[2, 0], &[]);
    let y = Tensor::concat(&[a.clone(), e.clone(), b.clone(), e], 1);
    assert_eq!(y.dims(), vec![2, 3]);
    assert_eq!(vals(&y), vec![0., 1., 10., 2., 3., 11.]);
    let y0 = Tensor::concat(&[a.clone(), a.clone()], 0);
    assert_eq!(vals(&y0), vec![0., 1., 2., 3., 0., 1., 2., 3.]);
    let one = Tensor::concat(std::slice::from_ref(&b), 0);
    assert_eq!(vals(&one), vec![10., 11.]);
    let s = Tensor::stack(&[a.clone(), a.clone()], 2);
    assert_eq!(s.dims(), vec![2, 2, 2]);
    assert_eq!(vals(&s), vec![0., 0., 1., 1., 2., 2., 3., 3.]);
    let parts = y.split(&[2, 1], 1);
    assert_eq!(vals(&parts[0]), vals(&a));
    assert_eq!(vals(&parts[1]), vals(&b));
}

#[test]
fn concat_errors() {
    let a = iota_f32(&[2, 2]);
    let e = err(&Tensor::concat(&[], 0));
    assert!(
        e.contains("concatenate: invalid argument: needs at least one operand"),
        "{e}"
    );
    let e = err(&Tensor::concat(&[a.clone(), a.cast(DType::BF16)], 0));
    assert!(e.contains("concatenate: dtype mismatch f32 vs bf16"), "{e}");
    let e = err(&Tensor::concat(&[a.clone(), iota_f32(&[3, 3])], 0));
    assert!(
        e.contains("concatenate: operand 1 must match operand 0 in every dim but axis 0")
            && e.contains("(f32[2, 2], f32[3, 3])"),
        "{e}"
    );
    let e = err(&Tensor::concat(&[a.clone(), iota_f32(&[2])], 0));
    assert!(e.contains("concatenate: operand 1"), "{e}");
    let e = err(&Tensor::concat(std::slice::from_ref(&a), 2));
    assert!(
        e.contains("concatenate: invalid argument: axis 2 is out of range for rank 2"),
        "{e}"
    );
    let s = Tensor::scalar_of(1.0, DType::F32);
    let e = err(&Tensor::concat(&[s.clone(), s], 0));
    assert!(e.contains("axis 0 is out of range for rank 0"), "{e}");
    let e = err(&a.split(&[1, 2], 0)[0]);
    assert!(
        e.contains("split: sizes [1, 2] do not sum to the length of axis 0"),
        "{e}"
    );
}

// ---- pad ----

#[test]
fn pad_edges_interior_and_negative() {
    let x = f32s(&[3], &[1., 2., 3.]);
    let z = Tensor::scalar_of(0.0, DType::F32);
    let y = x.pad(&z, &[1], &[2], &[1]);
    assert_eq!(vals(&y), vec![0., 1., 0., 2., 0., 3., 0., 0.]);
    let y = x.pad(&z, &[-1], &[0], &[1]);
    assert_eq!(vals(&y), vec![0., 2., 0., 3.]);
    let y = x.pad(&z, &[-2], &[-1], &[0]);
    assert_eq!(vals(&y), Vec::<f64>::new());
    let x2 = iota_f32(&[2, 2]);
    let m = Tensor::scalar_of(-1.0, DType::F32);
    let y = x2.pad(&m, &[0, 1], &[1, -1], &[0, 0]);
    assert_eq!(y.dims(), vec![3, 2]);
    assert_eq!(vals(&y), vec![-1., 0., -1., 2., -1., -1.]);
    // Empty operand: only padding.
    let e = f32s(&[0], &[]);
    assert_eq!(vals(&e.pad(&m, &[1], &[1], &[3])), vec![-1., -1.]);
}

#[test]
fn pad_errors() {
    let x = iota_f32(&[3]);
    let z = Tensor::scalar_of(0.0, DType::F32);
    let e = err(&x.pad(&Tensor::scalar_of(0.0, DType::F64), &[0], &[0], &[0]));
    assert!(e.contains("pad: dtype mismatch f32 vs f64"), "{e}");
    let e = err(&x.pad(&x, &[0], &[0], &[0]));
    assert!(
        e.contains("pad: the padding value must be a scalar; operands (f32[3], f32[3])"),
        "{e}"
    );
    let e = err(&x.pad(&z, &[0, 0], &[0], &[0]));
    assert!(
        e.contains("pad: invalid argument") && e.contains("f32[3]"),
        "{e}"
    );
    let e = err(&x.pad(&z, &[-3], &[-1], &[0]));
    assert!(
        e.contains("pad: dim 0: padding lo -3 hi -1 interior 0 gives size -1"),
        "{e}"
    );
}

// ---- reverse ----

#[test]
fn reverse_axes() {
    let x = iota_f32(&[2, 3]);
    assert_eq!(vals(&x.reverse(&[1])), vec![2., 1., 0., 5., 4., 3.]);
    assert_eq!(vals(&x.reverse(&[0, 1])), vec![5., 4., 3., 2., 1., 0.]);
    assert_eq!(vals(&x.reverse(&[])), vals(&x));
    let e = err(&x.reverse(&[2]));
    assert!(
        e.contains("reverse: invalid argument: axis 2 is out of range for rank 2"),
        "{e}"
    );
    let e = err(&x.reverse(&[1, 1]));
    assert!(
        e.contains("reverse: invalid argument: axis 1 is repeated in [1, 1]"),
        "{e}"
    );
}

// ---- helpers over reshape/transpose ----

#[test]
fn reshape_helpers() {
    let x = iota_f32(&[2, 1, 3]);
    assert_eq!(x.squeeze(1).dims(), vec![2, 3]);
    assert_eq!(x.expand_dims(3).dims(), vec![2, 1, 3, 1]);
    assert_eq!(x.flatten().dims(), vec![6]);
    let t = x.swap_axes(0, 2);
    assert_eq!(t.dims(), vec![3, 1, 2]);
    assert_eq!(vals(&t), vec![0., 3., 1., 4., 2., 5.]);
    let m = iota_f32(&[2, 3, 4]).moveaxis(2, 0);
    assert_eq!(m.dims(), vec![4, 2, 3]);
    assert_eq!(vals(&m)[..6], [0., 4., 8., 12., 16., 20.]);
    let e = err(&x.squeeze(0));
    assert!(
        e.contains("squeeze: axis 0 has length 2, not 1; operands (f32[2, 1, 3])"),
        "{e}"
    );
    let e = err(&x.expand_dims(4));
    assert!(e.contains("expand_dims: invalid argument: axis 4"), "{e}");
    let e = err(&x.swap_axes(0, 3));
    assert!(
        e.contains("swap_axes: invalid argument: axis 3 is out of range for rank 3"),
        "{e}"
    );
    let e = err(&x.reshape(&[4]));
    assert!(
        e.contains("reshape: cannot reshape 6 elements into [4]"),
        "{e}"
    );
    let e = err(&x.transpose(&[0, 0, 1]));
    assert!(
        e.contains("transpose: invalid argument: [0, 0, 1] is not a permutation"),
        "{e}"
    );
    let e = err(&x.broadcast_in_dim(&[2, 1, 4], &[0, 1, 2]));
    assert!(
        e.contains("broadcast_in_dim: operand dim 2 (3) does not broadcast to [2, 1, 4]"),
        "{e}"
    );
    let e = err(&Tensor::iota(&[2], 1, DType::I32));
    assert!(
        e.contains("iota: invalid argument: axis 1 is out of range for rank 1"),
        "{e}"
    );
    let e = err(&Tensor::iota(&[2], 0, DType::Bool));
    assert!(e.contains("iota: unsupported dtype bool"), "{e}");
}

#[test]
fn every_dtype_moves_exactly() {
    for d in DType::ALL {
        let x =
            Tensor::from_literal(Literal::from_f64s([2, 3], d, &[0., 1., 0., 1., 1., 0.]).unwrap());
        let y = Tensor::concat(&[x.reverse(&[1]), x.slice(&[0, 0], &[2, 1], &[1, 1])], 1);
        let p = y.pad(
            &x.slice(&[0, 1], &[1, 2], &[1, 1]).reshape(&[]),
            &[1, 0],
            &[0, 0],
            &[0, 0],
        );
        assert_eq!(p.dims(), vec![3, 4], "{d}");
        assert_eq!(
            vals(&p),
            vec![1., 1., 1., 1., 0., 1., 0., 0., 0., 1., 1., 1.],
            "{d}"
        );
    }
}

// ---- traced == eager ----

#[test]
fn traced_matches_eager() {
    let x = iota_f32(&[3, 4]);
    let f = |x: &Tensor| {
        let z = Tensor::scalar_of(9.0, DType::F32);
        Tensor::concat(
            &[
                x.slice(&[0, 1], &[3, 4], &[2, 1]),
                x.reverse(&[0]).pad(&z, &[-1, 0], &[-1, -1], &[1, 0]),
            ],
            0,
        )
    };
    let eager = vals(&f(&x));
    let t = trace(&[x.aval()], |a| vec![f(&a[0])]).unwrap();
    let out = interp::eval_graph(&t.graph, &[&x.to_literal().unwrap()]).unwrap();
    assert_eq!(out[0].to_f64_vec(), eager);
}

// ---- snapshots of the lowered modules ----

#[test]
fn snapshots() {
    insta::assert_snapshot!(
        "broadcast_in_dim_rank1_to_rank3",
        lowered(&[f32a(&[3])], |a| vec![
            a[0].broadcast_in_dim(&[2, 3, 4], &[1])
        ])
    );
    insta::assert_snapshot!(
        "reshape_2x3_to_3x2",
        lowered(&[f32a(&[2, 3])], |a| vec![a[0].reshape(&[3, 2])])
    );
    insta::assert_snapshot!(
        "transpose_3d",
        lowered(&[f32a(&[2, 3, 4])], |a| vec![a[0].transpose(&[2, 0, 1])])
    );
    insta::assert_snapshot!(
        "iota_i32",
        lowered(&[], |_| vec![Tensor::iota(&[2, 3], 1, DType::I32)])
    );
    insta::assert_snapshot!(
        "constant_f32_and_bool",
        lowered(&[], |_| vec![
            Tensor::constant_node(Literal::from_vec([3], vec![1.0f32, -0.0, f32::NAN]).unwrap()),
            Tensor::constant_node(Literal::from_vec([2], vec![true, false]).unwrap()),
        ])
    );
    insta::assert_snapshot!(
        "slice_strided",
        lowered(&[f32a(&[4, 5])], |a| vec![a[0].slice(
            &[0, 1],
            &[3, 5],
            &[2, 2]
        )])
    );
    insta::assert_snapshot!(
        "concatenate_axis1",
        lowered(&[f32a(&[2, 2]), f32a(&[2, 3])], |a| vec![Tensor::concat(
            &a[..2],
            1
        )])
    );
    insta::assert_snapshot!(
        "pad_negative_interior",
        lowered(&[f32a(&[4, 5]), f32a(&[])], |a| vec![a[0].pad(
            &a[1],
            &[1, 0],
            &[-1, 2],
            &[1, 0]
        )])
    );
    insta::assert_snapshot!(
        "reverse_axis0",
        lowered(&[AVal::new([4, 5], DType::BF16)], |a| vec![
            a[0].reverse(&[0])
        ])
    );
}
