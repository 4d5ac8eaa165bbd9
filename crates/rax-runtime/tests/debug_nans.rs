//! `debug_nans` mode names the first op producing a NaN and the user's call site: eagerly, on
//! the interpreter, and on both CPU plugins (whose results are checked, then the graph re-run
//! op by op on the interpreter). Its own test binary: the mode is process-wide.
mod common;

use rax_core::debug_nans::{set_mode, Mode};
use rax_core::Tensor;

thread_local! {
    /// The line of the `sqrt` call inside the jitted closure (recorded while tracing).
    static SQRT_LINE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[test]
fn debug_nans_names_the_first_op_and_call_site() {
    set_mode(Mode::Nan);
    // Eager: the op's error tensor says which op and where.
    let x = Tensor::from_vec([3], vec![1.0f32, -1.0, 2.0]).unwrap();
    let (y, log_line) = (x.log(), line!());
    let e = y.error().expect("log(-1) is NaN").to_string();
    assert!(
        e.contains("debug_nans") && e.contains("log produced NaN"),
        "{e}"
    );
    assert!(
        e.contains("element 1") && e.contains(&format!("debug_nans.rs:{log_line}")),
        "{e}"
    );
    // Jitted, on every backend: the first NaN comes from sqrt (line below), not from the
    // later ops it propagates through.
    for (name, rt) in common::all_runtimes() {
        let f = rt.jit(|x: &Tensor| {
            let a = x * 2.0;
            let b = a.sqrt(); // NaN for negative x
            SQRT_LINE.with(|l| l.set(line!() - 1));
            (&b + 1.0).exp().sum_all()
        });
        let e = f.call(&x).unwrap_err().to_string();
        assert!(e.contains("sqrt produced NaN"), "{name}: {e}");
        assert!(
            e.contains(&format!("debug_nans.rs:{}", SQRT_LINE.with(|l| l.get()))),
            "{name}: names the user's line: {e}"
        );
        // Finite inputs run normally.
        let ok = Tensor::from_vec([3], vec![1.0f32, 0.5, 2.0]).unwrap();
        assert!(
            f.call(&ok).unwrap().to_vec::<f32>().unwrap()[0].is_finite(),
            "{name}"
        );
    }
    // Off: NaN flows through as IEEE says.
    set_mode(Mode::Off);
    assert!(x.log().to_vec::<f32>().unwrap()[1].is_nan());
    set_mode(Mode::NonFinite);
    let z = Tensor::from_vec([1], vec![0.0f32]).unwrap();
    let e = (&Tensor::from_vec([1], vec![1.0f32]).unwrap() / &z)
        .error()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("div produced an infinity")));
    set_mode(Mode::Off);
}
