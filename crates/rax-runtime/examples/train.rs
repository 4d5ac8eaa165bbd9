//! A small training run: fit `y = a * tanh(w * x + b) + c` to samples of `2 tanh(1.5 x - 0.5) + 0.3`
//! by gradient descent. The whole step — forward pass, `value_and_grad`, SGD update — is one
//! jitted program, compiled once; the parameters are donated, so the backend updates them in
//! place. Runs on the best backend `Runtime::auto()` finds (a PJRT plugin, else the embedded
//! interpreter).
//!
//! Run: `cargo run -p rax-runtime --example train`

use rax_core::{scan, value_and_grad, DType, Result, Tensor};
use rax_runtime::Runtime;

/// The parameters, a pytree of scalars: (a, w, b, c).
type Params = (Tensor, Tensor, Tensor, Tensor);

const N: usize = 64;
const LR: f64 = 0.1;

// ===== TO UPDATE when the VJPs of dot_general and reduce land ==============================
// The mean squared error is summed with a `scan` over the samples because, when this was
// written, `value_and_grad` did not yet differentiate `matmul` or `mean`. Then the model can
// become an MLP over the whole batch:
//
//     fn loss((w1, b1, w2, b2): &Mlp, x: &Tensor, y: &Tensor) -> Tensor {
//         let e = &((x.matmul(w1) + b1).tanh().matmul(w2) + b2) - y;
//         (&e * &e).mean(&[0, 1])
//     }
fn loss((a, w, b, c): &Params, x: &Tensor, y: &Tensor) -> Tensor {
    let (sum, _) = scan(
        |acc, xy| {
            let pred = &(a * &(&(&xy[0] * w) + b).tanh()) + c;
            let e = &pred - &xy[1];
            (vec![&acc[0] + &(&e * &e)], vec![])
        },
        &[Tensor::scalar_of(0.0, DType::F32)],
        &[x.clone(), y.clone()],
        None,
        false,
    );
    &sum[0] * (1.0 / N as f64)
}
// ============================================================================================

/// One training step: (params, x, y) -> (new params, loss).
fn step((p, x, y): &(Params, Tensor, Tensor)) -> Result<(Params, Tensor)> {
    let (l, g) = value_and_grad(|p: &Params| loss(p, x, y))(p)?;
    let sgd = |w: &Tensor, g: &Tensor| w - &(g * LR);
    Ok((
        (
            sgd(&p.0, &g.0),
            sgd(&p.1, &g.1),
            sgd(&p.2, &g.2),
            sgd(&p.3, &g.3),
        ),
        l,
    ))
}

fn main() -> Result<()> {
    let rt = Runtime::auto()?;
    println!("backend: {}", rt.description());

    let xs: Vec<f32> = (0..N)
        .map(|i| -2.0 + 4.0 * i as f32 / (N - 1) as f32)
        .collect();
    let ys: Vec<f32> = xs
        .iter()
        .map(|x| 2.0 * (1.5 * x - 0.5).tanh() + 0.3)
        .collect();
    let x = Tensor::from_vec([N], xs)?;
    let y = Tensor::from_vec([N], ys)?;

    let s = |v: f64| Tensor::scalar_of(v, DType::F32);
    // Parameters live on the device; the step donates them (top-level argument 0).
    let mut params: Params = rt.put_tree(&(s(1.0), s(0.5), s(0.0), s(0.0)))?;
    let train_step = rt.try_jit(step).donate_args(&[0]);

    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for i in 0..=400 {
        let (p, l) = train_step.call(&(params, x.clone(), y.clone()))?;
        params = p;
        if i % 50 == 0 {
            last = l.to_f64_vec()?[0];
            println!("step {i:3}  loss {last:.6}");
            if i == 0 {
                first = last;
            }
        }
    }
    let v = |t: &Tensor| t.to_f64_vec().map(|v| v[0]);
    println!(
        "a = {:.3}, w = {:.3}, b = {:.3}, c = {:.3} (true 2, 1.5, -0.5, 0.3); compiled {} time(s)",
        v(&params.0)?,
        v(&params.1)?,
        v(&params.2)?,
        v(&params.3)?,
        train_step.compile_count()
    );
    if last >= first * 0.01 {
        return Err(rax_core::Error::backend(
            "train",
            "the loss did not fall a hundredfold",
        ));
    }
    Ok(())
}
