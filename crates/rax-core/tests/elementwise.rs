//! Elementwise family: typing rules and their errors, eager results, and one lowered-module
//! snapshot per primitive (review snapshot diffs like code).
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn lowered(avals: &[AVal], f: impl FnOnce(&[Tensor]) -> Vec<Tensor>) -> String {
    let t = trace(avals, f).expect("traces");
    lower_module(&t.graph, &ModuleOptions::default()).expect("lowers")
}

type UnaryFn = fn(&Tensor) -> Tensor;
type BinaryFn = fn(&Tensor, &Tensor) -> Tensor;

fn f32s(shape: &[usize]) -> AVal {
    AVal::new(shape.to_vec(), DType::F32)
}

#[test]
fn unary_snapshots() {
    let ops: Vec<(&str, DType, UnaryFn)> = vec![
        ("neg", DType::F32, |x| x.neg()),
        ("abs", DType::C64, |x| x.abs()),
        ("sign", DType::I32, |x| x.sign()),
        ("exp", DType::BF16, |x| x.exp()),
        ("expm1", DType::F32, |x| x.expm1()),
        ("log", DType::F32, |x| x.log()),
        ("log1p", DType::F16, |x| x.log1p()),
        ("sqrt", DType::F64, |x| x.sqrt()),
        ("rsqrt", DType::F32, |x| x.rsqrt()),
        ("tanh", DType::F32, |x| x.tanh()),
        ("logistic", DType::F32, |x| x.sigmoid()),
        ("sin", DType::F32, |x| x.sin()),
        ("cos", DType::F32, |x| x.cos()),
        ("erf", DType::F32, |x| x.erf()),
        ("erf_inv", DType::F32, |x| x.erf_inv()),
        ("floor", DType::F32, |x| x.floor()),
        ("ceil", DType::F32, |x| x.ceil()),
        ("round", DType::F32, |x| x.round()),
        ("is_finite", DType::F32, |x| x.is_finite()),
        ("not", DType::Bool, |x| x.logical_not()),
        ("real", DType::C64, |x| x.real()),
        ("imag", DType::C64, |x| x.imag()),
        ("tan", DType::F32, |x| x.tan()),
        ("cbrt", DType::F64, |x| x.cbrt()),
        ("convert", DType::F32, |x| x.cast(DType::BF16)),
        ("bitcast_convert", DType::F32, |x| x.bitcast(DType::U32)),
    ];
    for (name, d, f) in ops {
        let text = lowered(&[AVal::new([2, 3], d)], |a| vec![f(&a[0])]);
        insta::assert_snapshot!(format!("unary_{name}"), text);
    }
}

#[test]
fn binary_snapshots() {
    let ops: Vec<(&str, DType, BinaryFn)> = vec![
        ("add", DType::F32, |a, b| a + b),
        ("sub", DType::F32, |a, b| a - b),
        ("mul", DType::BF16, |a, b| a * b),
        ("div", DType::I32, |a, b| a / b),
        ("rem", DType::F32, |a, b| a % b),
        ("pow", DType::F32, |a, b| a.pow(b)),
        ("max", DType::F32, |a, b| a.maximum(b)),
        ("min", DType::U32, |a, b| a.minimum(b)),
        ("atan2", DType::F32, |a, b| a.atan2(b)),
        ("and", DType::Bool, |a, b| a & b),
        ("or", DType::I32, |a, b| a | b),
        ("xor", DType::U32, |a, b| a ^ b),
        ("shift_left", DType::U32, |a, b| a.shift_left(b)),
        ("shift_right_logical", DType::U32, |a, b| {
            a.shift_right_logical(b)
        }),
        ("shift_right_arithmetic", DType::I32, |a, b| {
            a.shift_right_arithmetic(b)
        }),
        ("complex", DType::F32, |a, b| Tensor::complex(a, b)),
        ("compare_lt_f32", DType::F32, |a, b| a.lt(b)),
        ("compare_ge_u32", DType::U32, |a, b| a.ge(b)),
        ("compare_eq_i32", DType::I32, |a, b| a.eq(b)),
    ];
    for (name, d, f) in ops {
        let av = AVal::new([4], d);
        let text = lowered(&[av.clone(), av], |a| vec![f(&a[0], &a[1])]);
        insta::assert_snapshot!(format!("binary_{name}"), text);
    }
}

#[test]
fn select_clamp_and_broadcasting_snapshots() {
    let text = lowered(
        &[AVal::new([3], DType::Bool), f32s(&[2, 3]), f32s(&[1])],
        |a| vec![Tensor::select(&a[0], &a[1], &a[2])],
    );
    insta::assert_snapshot!("select_broadcast", text);
    let text = lowered(&[f32s(&[4])], |a| vec![a[0].clamp_scalar(-1.0, 1.0)]);
    insta::assert_snapshot!("clamp_scalar_bounds", text);
    let text = lowered(&[f32s(&[2, 1]), f32s(&[3])], |a| vec![&a[0] * &a[1] + 1.0]);
    insta::assert_snapshot!("mul_broadcast_scalar", text);
}

fn err_of(avals: &[AVal], f: impl FnOnce(&[Tensor]) -> Vec<Tensor>) -> String {
    trace(avals, f)
        .expect_err("must be a typing error")
        .to_string()
}

#[test]
fn typing_errors_name_op_dtypes_and_call_site() {
    let e = err_of(&[f32s(&[2]), AVal::new([2], DType::BF16)], |a| {
        vec![a[0].maximum(&a[1])]
    });
    assert!(
        e.contains("max: dtype mismatch f32 vs bf16") && e.contains("tests/elementwise.rs:"),
        "{e}"
    );
    let e = err_of(&[AVal::new([2], DType::I32)], |a| vec![a[0].exp()]);
    assert!(
        e.contains("exp: unsupported dtype i32 (float or complex)"),
        "{e}"
    );
    let e = err_of(&[f32s(&[2])], |a| vec![a[0].shift_left(&a[0])]);
    assert!(
        e.contains("shift_left: unsupported dtype f32 (integer)"),
        "{e}"
    );
    let e = err_of(&[f32s(&[2, 3]), f32s(&[3, 2])], |a| vec![&a[0] - &a[1]]);
    assert!(
        e.contains("sub: shapes are not broadcastable; operands (f32[2, 3], f32[3, 2])"),
        "{e}"
    );
    let e = err_of(&[f32s(&[2]), f32s(&[2])], |a| {
        vec![Tensor::select(&a[0], &a[0], &a[1])]
    });
    assert!(
        e.contains("select: unsupported dtype f32 (the predicate must be bool)"),
        "{e}"
    );
    let e = err_of(&[AVal::new([2], DType::C64)], |a| vec![a[0].lt(&a[0])]);
    assert!(e.contains("compare: unsupported dtype c64"), "{e}");
    let e = err_of(&[AVal::new([3], DType::BF16)], |a| {
        vec![a[0].bitcast(DType::F32)]
    });
    assert!(
        e.contains("bitcast_convert") && e.contains("trailing dimension of 2"),
        "{e}"
    );
    let e = err_of(&[AVal::new([2], DType::I32)], |a| {
        vec![Tensor::complex(&a[0], &a[0])]
    });
    assert!(e.contains("complex: unsupported dtype i32"), "{e}");
}

#[test]
fn first_error_wins_and_later_ops_do_not_cascade() {
    let e = err_of(&[f32s(&[2]), AVal::new([2], DType::I32)], |a| {
        let bad = &a[0] + &a[1];
        vec![(bad.exp() * 2.0).log()]
    });
    assert!(e.starts_with("add: dtype mismatch f32 vs i32"), "{e}");
}

#[test]
fn eager_errors_are_values_not_panics() {
    let x = Tensor::from_vec([2], vec![1.0f32, 2.0]).unwrap();
    let y = Tensor::from_vec([3], vec![1.0f32, 2.0, 3.0]).unwrap();
    let z = &x + &y;
    assert!(z
        .to_literal()
        .unwrap_err()
        .to_string()
        .contains("add: shapes are not broadcastable"));
}

#[test]
fn eager_semantics() {
    let x = Tensor::from_vec([4], vec![-2.5f32, -0.5, 0.5, 2.5]).unwrap();
    assert_eq!(
        x.round().to_vec::<f32>().unwrap(),
        vec![-2.0, -0.0, 0.0, 2.0]
    );
    let i = Tensor::from_vec([3], vec![7i32, i32::MIN, 5]).unwrap();
    let d = Tensor::from_vec([3], vec![0i32, -1, -2]).unwrap();
    assert_eq!((&i / &d).to_vec::<i32>().unwrap(), vec![-1, i32::MIN, -2]);
    assert_eq!((&i % &d).to_vec::<i32>().unwrap(), vec![7, 0, 1]);
    let u = Tensor::from_vec([2], vec![1u32, 0x8000_0000]).unwrap();
    let s = Tensor::from_vec([2], vec![31u32, 32]).unwrap();
    assert_eq!(
        u.shift_left(&s).to_vec::<u32>().unwrap(),
        vec![0x8000_0000, 0]
    );
    // Weak scalars take the tensor's dtype: bf16 + 1.0 stays bf16.
    let b = Tensor::full(&[2], 1.0, DType::BF16);
    assert_eq!((&b + 1.0).dtype(), DType::BF16);
    // An AdamW-sized step on a bf16 weight of 1.0 rounds away (spacing 2^-7 at 1.0).
    assert_eq!((&b - 1e-4).to_f64_vec().unwrap(), vec![1.0, 1.0]);
}
