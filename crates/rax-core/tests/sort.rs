//! Tests of the sort family: rule errors, eager results on hand-checked inputs (jax's float
//! order, stability, lexicographic keys, descending), and lowering snapshots.
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn err_of(t: &Tensor) -> String {
    t.error().expect("an error").to_string()
}

fn lowered(avals: &[AVal], f: impl FnOnce(&[Tensor]) -> Vec<Tensor>) -> String {
    let t = trace(avals, f).unwrap();
    lower_module(&t.graph, &ModuleOptions::default()).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---- rules ----

#[test]
fn sort_rule_errors() {
    let s = Tensor::from_vec([], vec![1.0f32]).unwrap();
    let e = err_of(&s.sort(0, false));
    assert!(
        e.contains("sort") && e.contains("rank-0") && e.contains("f32[]"),
        "{e}"
    );
    let x = f32s(&[2, 3], &[0.0; 6]);
    let e = err_of(&x.sort(2, false));
    assert!(
        e.contains("sort") && e.contains("axis 2 is out of range for rank 2"),
        "{e}"
    );
    let y = f32s(&[3, 2], &[0.0; 6]);
    let outs = Tensor::sort_multi(&[x.clone(), y], 0, 1, false);
    let e = err_of(&outs[0]);
    assert!(
        e.contains("sort") && e.contains("same shape") && e.contains("f32[2, 3], f32[3, 2]"),
        "{e}"
    );
    let outs = Tensor::sort_multi(std::slice::from_ref(&x), 0, 2, false);
    let e = err_of(&outs[0]);
    assert!(e.contains("sort") && e.contains("num_keys = 2"), "{e}");
    let outs = Tensor::sort_multi(std::slice::from_ref(&x), 0, 0, false);
    assert!(err_of(&outs[0]).contains("num_keys = 0"));
    let e = err_of(&x.argsort(5, false));
    assert!(
        e.contains("sort") && e.contains("axis 5") && e.contains("f32[2, 3]"),
        "{e}"
    );
}

#[test]
fn sort_rule_error_carries_call_site() {
    let r = trace(&[AVal::new([4], DType::F32)], |a| vec![a[0].sort(1, false)]);
    let e = r.unwrap_err().to_string();
    assert!(e.contains("sort") && e.contains("tests/sort.rs"), "{e}");
}

#[test]
fn top_k_rule_errors() {
    let x = f32s(&[2, 3], &[0.0; 6]);
    let (v, _) = x.top_k(4);
    let e = err_of(&v);
    assert!(
        e.contains("top_k")
            && e.contains("k = 4 is larger than the last dimension (3)")
            && e.contains("f32[2, 3]"),
        "{e}"
    );
    let s = Tensor::from_vec([], vec![1.0f32]).unwrap();
    let e = err_of(&s.top_k(1).0);
    assert!(
        e.contains("top_k") && e.contains("rank >= 1") && e.contains("f32[]"),
        "{e}"
    );
    let c = Tensor::from_vec([2], vec![num_complex::Complex32::new(1.0, 0.0); 2]).unwrap();
    let e = err_of(&c.top_k(1).1);
    assert!(e.contains("top_k") && e.contains("c64"), "{e}");
}

#[test]
fn rules_give_result_types() {
    let t = trace(
        &[
            AVal::new([2, 5], DType::BF16),
            AVal::new([2, 5], DType::I32),
        ],
        |a| {
            let mut v = Tensor::sort_multi(a, 1, 1, true);
            let (tv, ti) = a[0].top_k(2);
            v.push(tv);
            v.push(ti);
            v.push(a[0].argsort(0, false));
            v
        },
    )
    .unwrap();
    let outs: Vec<String> = t.graph.out_avals().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        outs,
        [
            "bf16[2, 5]",
            "i32[2, 5]",
            "bf16[2, 2]",
            "i32[2, 2]",
            "i32[2, 5]"
        ]
    );
}

// ---- kernels ----

#[test]
fn sort_uses_jax_float_order() {
    let nan = f32::NAN;
    let neg_nan = -f32::NAN;
    let x = f32s(
        &[8],
        &[
            1.0,
            neg_nan,
            0.0,
            -0.0,
            f32::NEG_INFINITY,
            nan,
            -2.0,
            f32::INFINITY,
        ],
    );
    let y = x.sort(0, false).to_vec::<f32>().unwrap();
    // -0.0 ties with 0.0 (input order kept), NaNs of both signs last in input order.
    assert_eq!(
        bits(&y),
        bits(&[
            f32::NEG_INFINITY,
            -2.0,
            0.0,
            -0.0,
            1.0,
            f32::INFINITY,
            neg_nan,
            nan
        ])
    );
    let i = x.argsort(0, false).to_vec::<i32>().unwrap();
    assert_eq!(i, vec![4, 6, 2, 3, 0, 7, 1, 5]);
    // Descending: NaNs first, ties still in input order.
    let i = x.argsort(0, true).to_vec::<i32>().unwrap();
    assert_eq!(i, vec![1, 5, 7, 0, 2, 3, 6, 4]);
}

#[test]
fn f32_denormals_tie_with_zero_like_xla() {
    let x = f32s(&[4], &[1e-40, 0.0, -1e-40, -0.0]);
    assert_eq!(
        x.argsort(0, false).to_vec::<i32>().unwrap(),
        vec![0, 1, 2, 3]
    );
    // f16 subnormals are normal once widened to f32: they stay ordered.
    let h: Vec<half::f16> = [6e-8f32, 0.0, -6e-8]
        .iter()
        .map(|&v| half::f16::from_f32(v))
        .collect();
    let h = Tensor::from_vec([3], h).unwrap();
    assert_eq!(h.argsort(0, false).to_vec::<i32>().unwrap(), vec![2, 1, 0]);
}

#[test]
fn sort_along_axis0_of_matrix_and_ints() {
    let x = Tensor::from_vec([3, 2], vec![3i32, -1, 1, 5, 2, i32::MIN]).unwrap();
    assert_eq!(
        x.sort(0, false).to_vec::<i32>().unwrap(),
        vec![1, i32::MIN, 2, -1, 3, 5]
    );
    assert_eq!(
        x.sort(1, true).to_vec::<i32>().unwrap(),
        vec![3, -1, 5, 1, 2, i32::MIN]
    );
    let u = Tensor::from_vec([3], vec![200u8, 1, 255]).unwrap();
    assert_eq!(u.sort(0, false).to_vec::<u8>().unwrap(), vec![1, 200, 255]);
    let b = Tensor::from_vec([4], vec![true, false, true, false]).unwrap();
    assert_eq!(
        b.argsort(0, false).to_vec::<i32>().unwrap(),
        vec![1, 3, 0, 2]
    );
}

#[test]
fn sort_multi_is_lexicographic_and_stable() {
    let k0 = Tensor::from_vec([6], vec![1i32, 0, 1, 0, 1, 0]).unwrap();
    let k1 = f32s(&[6], &[2.0, 1.0, 1.0, 1.0, 2.0, 0.0]);
    let v = Tensor::from_vec([6], vec![10u32, 11, 12, 13, 14, 15]).unwrap();
    let out = Tensor::sort_multi(&[k0.clone(), k1.clone(), v.clone()], 0, 2, false);
    assert_eq!(
        out[2].to_vec::<u32>().unwrap(),
        vec![15, 11, 13, 12, 10, 14]
    );
    let out = Tensor::sort_multi(&[k0.clone(), k1.clone(), v.clone()], 0, 2, true);
    assert_eq!(
        out[2].to_vec::<u32>().unwrap(),
        vec![10, 14, 12, 11, 13, 15]
    );
    // One key: the second operand only travels along.
    let out = Tensor::sort_multi(&[k0, k1, v], 0, 1, false);
    assert_eq!(
        out[2].to_vec::<u32>().unwrap(),
        vec![11, 13, 15, 10, 12, 14]
    );
    assert_eq!(
        out[1].to_vec::<f32>().unwrap(),
        vec![1.0, 1.0, 0.0, 2.0, 1.0, 2.0]
    );
}

#[test]
fn sort_complex_by_real_then_imag() {
    use num_complex::Complex32 as C;
    let x = Tensor::from_vec(
        [4],
        vec![
            C::new(1.0, 2.0),
            C::new(0.0, 5.0),
            C::new(1.0, -1.0),
            C::new(f32::NAN, 0.0),
        ],
    )
    .unwrap();
    assert_eq!(
        x.argsort(0, false).to_vec::<i32>().unwrap(),
        vec![1, 2, 0, 3]
    );
}

#[test]
fn top_k_ties_and_nans() {
    let x = Tensor::from_vec([2, 4], vec![2i32, 5, 5, 1, 7, 7, 7, 7]).unwrap();
    let (v, i) = x.top_k(3);
    assert_eq!(v.to_vec::<i32>().unwrap(), vec![5, 5, 2, 7, 7, 7]);
    assert_eq!(i.to_vec::<i32>().unwrap(), vec![1, 2, 0, 0, 1, 2]);
    // XLA's raw total order: +NaN largest, +0 > -0, -NaN smallest.
    let y = f32s(&[6], &[-0.0, f32::NAN, 0.0, -f32::NAN, f32::INFINITY, 1.0]);
    let (v, i) = y.top_k(6);
    assert_eq!(i.to_vec::<i32>().unwrap(), vec![1, 4, 5, 2, 0, 3]);
    assert_eq!(v.to_vec::<f32>().unwrap()[3].to_bits(), 0.0f32.to_bits());
    let (v, i) = y.top_k(0);
    assert_eq!(v.dims(), vec![0]);
    assert_eq!(i.dims(), vec![0]);
}

#[test]
fn traced_sort_matches_eager() {
    let x = f32s(&[2, 3], &[3.0, 1.0, 2.0, -1.0, f32::NAN, 0.5]);
    let t = trace(&[x.aval()], |a| {
        let (v, i) = a[0].top_k(2);
        vec![a[0].sort(1, false), a[0].argsort(1, true), v, i]
    })
    .unwrap();
    let out = interp::eval_graph(&t.graph, &[&x.to_literal().unwrap()]).unwrap();
    assert_eq!(
        bits(out[0].as_slice::<f32>().unwrap()),
        bits(&x.sort(1, false).to_vec::<f32>().unwrap())
    );
    assert_eq!(out[1].as_slice::<i32>().unwrap(), &[0, 2, 1, 1, 2, 0]);
    assert_eq!(out[3].as_slice::<i32>().unwrap(), &[0, 2, 1, 2]);
}

// ---- lowering ----

#[test]
fn sort_lowering_snapshots() {
    let text = lowered(&[AVal::new([3, 4], DType::F32)], |a| {
        vec![a[0].sort(1, false)]
    });
    insta::assert_snapshot!("sort_f32_ascending", text);
    let text = lowered(
        &[
            AVal::new([5], DType::BF16),
            AVal::new([5], DType::I32),
            AVal::new([5], DType::U8),
        ],
        |a| Tensor::sort_multi(a, 0, 2, true),
    );
    insta::assert_snapshot!("sort_two_keys_descending", text);
    let text = lowered(&[AVal::new([3], DType::C64)], |a| {
        vec![a[0].argsort(0, false)]
    });
    insta::assert_snapshot!("sort_argsort_c64", text);
    let text = lowered(
        &[AVal::new([4], DType::Bool)],
        |a| vec![a[0].sort(0, false)],
    );
    insta::assert_snapshot!("sort_bool", text);
}

#[test]
fn top_k_lowering_snapshot() {
    let text = lowered(&[AVal::new([2, 6], DType::F32)], |a| {
        let (v, i) = a[0].top_k(3);
        vec![v, i]
    });
    assert!(
        text.contains("\"chlo.top_k\"(%arg0) {k = 3 : i64}"),
        "{text}"
    );
    insta::assert_snapshot!("top_k_f32", text);
}
