//! The README's first program (a test checks it matches README.md).

use rax_core::{DType, Result, Tensor};
use rax_runtime::Runtime;

fn main() -> Result<()> {
    let rt = Runtime::auto()?; // PJRT GPU > PJRT CPU > embedded interpreter
    println!("{}", rt.description()); // which backend, and why

    // Traced and compiled once per input signature (tree structure + shapes + dtypes).
    // Argument 0 is donated: XLA updates it in place.
    let step = rt
        .jit(|(w, x): &(Tensor, Tensor)| (w - &(x * 0.1), (w * x).exp()))
        .donate_args(&[0]);

    let mut w = rt.put(&rax_core::Literal::from_vec([4], vec![1.0f32; 4])?)?;
    let x = Tensor::full(&[4], 2.0, DType::F32);
    for _ in 0..3 {
        let (new_w, y) = step.call(&(w, x.clone()))?; // results stay on the device
        w = new_w;
        println!("{:?}", y.to_vec::<f32>()?); // .to_vec / .to_literal fetch to the host
    }
    assert_eq!(step.compile_count(), 1);
    Ok(())
}
