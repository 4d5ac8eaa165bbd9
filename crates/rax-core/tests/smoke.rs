//! Smoke tests of the tracer, eager mode, lowering and typing errors.
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

#[test]
fn eager_and_traced_agree() {
    let x = Tensor::from_vec([3], vec![1.0f32, 2.0, 3.0]).unwrap();
    let y = (&x * 2.0 + 1.0).exp();
    let eager = y.to_vec::<f32>().unwrap();
    let t = trace(&[x.aval()], |a| vec![(&a[0] * 2.0 + 1.0).exp()]).unwrap();
    let out = interp::eval_graph(&t.graph, &[&x.to_literal().unwrap()]).unwrap();
    assert_eq!(out[0].as_slice::<f32>().unwrap(), &eager[..]);
    let text = lower_module(&t.graph, &ModuleOptions::default()).unwrap();
    assert!(text.contains("stablehlo.exponential"), "{text}");
    println!("{text}");
}

#[test]
fn dtype_mix_is_a_trace_error_with_call_site() {
    let r = trace(
        &[AVal::new([2], DType::F32), AVal::new([2], DType::BF16)],
        |a| vec![&a[0] + &a[1]],
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("add: dtype mismatch f32 vs bf16"), "{e}");
    assert!(e.contains("smoke.rs"), "{e}");
}

#[test]
fn broadcast_error() {
    let r = trace(
        &[AVal::new([2, 3], DType::F32), AVal::new([4], DType::F32)],
        |a| vec![&a[0] * &a[1]],
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("mul: shapes are not broadcastable"), "{e}");
}
