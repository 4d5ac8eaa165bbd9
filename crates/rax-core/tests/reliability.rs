//! Regression tests of rax-core's reliability promises (docs/reliability.md): huge or
//! overflowing shapes are errors naming the op and the byte count (no panic, no wrap, no
//! abort); a Rust scalar the tensor's dtype cannot represent exactly is an error naming the op,
//! the value and the dtype; index arithmetic never saturates in a narrow index dtype; the
//! first error of a computation is the one reported.
use rax_core::*;

fn err(t: &Tensor) -> String {
    t.error().expect("expected an error tensor").to_string()
}

#[test]
fn huge_zeros_full_iota_are_errors_naming_op_and_bytes() {
    // 2^80 elements: the element count overflows usize.
    let e = err(&Tensor::zeros(&[1 << 40, 1 << 40], DType::F32));
    assert!(e.contains("zeros") && e.contains("2^63"), "{e}");
    // 2^40 f32 elements = 4 TiB: fits usize, but more than any machine's memory.
    let e = err(&Tensor::zeros(&[1 << 40], DType::F32));
    assert!(
        e.contains("zeros") && e.contains("4398046511104 bytes"),
        "{e}"
    );
    let e = err(&Tensor::full(&[1 << 40], 1.0, DType::F32));
    assert!(
        e.contains("full") && e.contains("4398046511104 bytes"),
        "{e}"
    );
    let e = err(&Tensor::iota(&[1 << 40], 0, DType::F32));
    assert!(
        e.contains("iota") && e.contains("4398046511104 bytes"),
        "{e}"
    );
    let e = err(&Tensor::iota(&[1 << 40, 1 << 40], 0, DType::F32));
    assert!(e.contains("iota") && e.contains("2^63"), "{e}");
    // A zero dimension makes the product 0 whatever the others are.
    let z = Tensor::zeros(&[0, 1 << 40, 1 << 40], DType::F32);
    assert_eq!(z.to_f64_vec().unwrap(), Vec::<f64>::new());
}

#[test]
fn overflowing_reshape_and_broadcast_are_errors() {
    let x = Tensor::zeros(&[4], DType::F32);
    let e = err(&x.reshape(&[1 << 32, 1 << 32, 1]));
    assert!(e.contains("reshape") && e.contains("overflows"), "{e}");
    let e = err(&x.broadcast_to(&[1 << 40, 1 << 40, 4]));
    assert!(e.contains("broadcast_in_dim") && e.contains("2^63"), "{e}");
    // Under a trace the same is a trace error, so nothing reaches a backend.
    let r = trace(&[AVal::new([4], DType::F32)], |xs| {
        vec![Tensor::iota(&[1 << 40, 1 << 40], 0, DType::F32) + xs[0].sum_all()]
    });
    let e = r.unwrap_err().to_string();
    assert!(e.contains("iota") && e.contains("2^63"), "{e}");
    // A literal whose shape overflows is refused.
    assert!(Literal::from_vec(vec![1usize << 40, 1 << 40], vec![1.0f32]).is_err());
}

#[test]
fn inexact_rust_scalars_are_errors() {
    let i = Tensor::from_vec([3], vec![1i32, 2, 3]).unwrap();
    let e = err(&(&i + 0.5));
    assert!(
        e.contains("add") && e.contains("0.5") && e.contains("i32"),
        "{e}"
    );
    let e = err(&(&i * f64::NAN));
    assert!(
        e.contains("mul") && e.contains("NaN") && e.contains("i32"),
        "{e}"
    );
    let u = Tensor::from_vec([2], vec![1u8, 2]).unwrap();
    let e = err(&(&u + (-1.0)));
    assert!(
        e.contains("add") && e.contains("-1.0") && e.contains("u8"),
        "{e}"
    );
    let e = err(&(2.5 - &u));
    assert!(e.contains("sub") && e.contains("2.5"), "{e}");
    let e = err(&Tensor::full(&[2], 300.0, DType::I8));
    assert!(
        e.contains("full") && e.contains("300") && e.contains("i8"),
        "{e}"
    );
    let e = err(&Tensor::scalar_of(2.0, DType::Bool));
    assert!(e.contains("scalar_of") && e.contains("bool"), "{e}");
    // Exact values still work, and floats keep ordinary rounding.
    assert_eq!((&i + 2).to_vec::<i32>().unwrap(), vec![3, 4, 5]);
    assert_eq!((&u * 2.0).to_vec::<u8>().unwrap(), vec![2, 4]);
    let f = Tensor::from_vec([1], vec![1.0f32]).unwrap();
    assert_eq!((&f + 0.1).to_vec::<f32>().unwrap(), vec![1.1f32]);
    assert_eq!(
        Tensor::full(&[1], -128.0, DType::I8)
            .to_vec::<i8>()
            .unwrap(),
        vec![-128]
    );
}

#[test]
fn narrow_index_dtypes_index_long_axes_correctly() {
    let x = Tensor::from_vec([300], (0..300).map(|i| i as f32).collect::<Vec<_>>()).unwrap();
    // i8 indices on an axis of 300: -1 is the last element, -100 is element 200.
    let idx = Tensor::from_vec([2], vec![-1i8, -100]).unwrap();
    assert_eq!(x.take(&idx, 0).to_vec::<f32>().unwrap(), vec![299.0, 200.0]);
    // u8 index 255 on the same axis.
    let idx = Tensor::from_vec([1], vec![255u8]).unwrap();
    assert_eq!(x.take(&idx, 0).to_vec::<f32>().unwrap(), vec![255.0]);
    // dynamic_slice with an i8 start of -1 on an axis of 300: clamped to 298 for a size of 2.
    let s = Tensor::from_literal(Literal::scalar(-1i8));
    let d = x.dynamic_slice(&[s], &[2]);
    assert_eq!(d.to_vec::<f32>().unwrap(), vec![298.0, 299.0]);
    let s = Tensor::from_literal(Literal::scalar(-50i8));
    let d = x.dynamic_slice(&[s], &[1]);
    assert_eq!(d.to_vec::<f32>().unwrap(), vec![250.0]);
    // The same under a trace (what the lowering sees).
    let t = trace(&[AVal::new([2], DType::I8)], |xs| vec![x.take(&xs[0], 0)]).unwrap();
    let out = interp::eval_graph(
        &t.graph,
        &[&Literal::from_vec([2], vec![-1i8, -100]).unwrap()],
    )
    .unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![299.0, 200.0]);
}

#[test]
fn the_first_error_is_kept() {
    let x = Tensor::zeros(&[6], DType::F32);
    let first = x.reshape(&[7]); // error 1
    let second = x.reshape(&[5]); // error 2, later
    let both = &second + &first;
    let e = err(&both);
    assert!(e.contains("into [7]"), "the earliest error must win: {e}");
    // Inside a trace too: the trace reports the first failure.
    let r = trace(&[AVal::new([6], DType::F32)], |xs| {
        let a = xs[0].reshape(&[7]);
        let b = xs[0].reshape(&[5]);
        vec![&b * &a]
    });
    let e = r.unwrap_err().to_string();
    assert!(e.contains("into [7]"), "{e}");
}

#[test]
fn a_while_loop_that_never_ends_hits_the_interpreter_budget() {
    rax_core::limits::set_while_budget(1000);
    let x = Tensor::from_literal(Literal::scalar(0i32));
    let out = while_loop(
        std::slice::from_ref(&x),
        |c| c[0].ge(&c[0].scalar_like(0.0)), // always true
        |c| vec![&c[0] + 1],
    );
    let e = err(&out[0]);
    assert!(
        e.contains("while") && e.contains("1000 iterations") && e.contains("RAX_WHILE_BUDGET"),
        "{e}"
    );
    assert!(
        e.contains("reliability.rs"),
        "the error names the call site: {e}"
    );
    // A loop that ends within the budget is unaffected.
    let out = while_loop(
        &[x],
        |c| c[0].lt(&c[0].scalar_like(10.0)),
        |c| vec![&c[0] + 1],
    );
    assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![10]);
    rax_core::limits::set_while_budget(rax_core::limits::DEFAULT_WHILE_BUDGET);
}

/// Found by the differential fuzzer (xla_ops/examples/fuzz.rs): programs rax accepted that
/// crash or are refused by the XLA plugins, and a value the interpreter got wrong.
#[test]
fn fuzzer_findings_stay_fixed() {
    let z = Tensor::from_vec([3], vec![1.0f32, 2.0, 3.0])
        .unwrap()
        .cast(DType::C64);
    // Complex remainder: both CPU plugins crashed (SIGSEGV) compiling it.
    let e = err(&z.rem(&z));
    assert!(e.contains("rem") && e.contains("c64"), "{e}");
    // Bitcast between complex and real: StableHLO forbids it; the plugins refused to compile.
    let e = err(&z.bitcast(DType::BF16));
    assert!(e.contains("bitcast_convert") && e.contains("c64"), "{e}");
    // max/min select an operand: a subnormal keeps its bits (XLA compares with DAZ but
    // selects the original value); the interpreter used to flush it to 0.
    let d = f32::from_bits(9); // 1.26e-44, subnormal
    let x = Tensor::from_vec([2], vec![d, 0.0]).unwrap();
    assert_eq!(x.maximum(&x).to_vec::<f32>().unwrap(), vec![d, 0.0]);
    assert_eq!(x.minimum(&x).to_vec::<f32>().unwrap(), vec![d, 0.0]);
    // Signed zeros keep XLA's rule.
    let a = Tensor::from_vec([1], vec![-0.0f32]).unwrap();
    let b = Tensor::from_vec([1], vec![0.0f32]).unwrap();
    assert!(a.maximum(&b).to_vec::<f32>().unwrap()[0].is_sign_positive());
    assert!(a.minimum(&b).to_vec::<f32>().unwrap()[0].is_sign_negative());
}
