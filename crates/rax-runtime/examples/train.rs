//! A small training run: a 1-32-1 tanh MLP learns `y = sin(x)` by gradient descent. The whole
//! step — forward pass, `value_and_grad`, SGD update — is one jitted program, compiled once;
//! the parameters are donated, so the backend updates them in place. Runs on the best backend
//! `Runtime::auto()` finds (a PJRT plugin, else the embedded interpreter).
//!
//! Run: `cargo run -p rax-runtime --example train`

use rax_core::{value_and_grad, DType, PrngKey, Result, Tensor};
use rax_runtime::Runtime;

/// The parameters, a pytree: (w1 [1, H], b1 [H], w2 [H, 1], b2 [1]).
type Params = (Tensor, Tensor, Tensor, Tensor);

const N: usize = 64;
const H: usize = 32;
const LR: f64 = 0.05;

fn loss((w1, b1, w2, b2): &Params, x: &Tensor, y: &Tensor) -> Tensor {
    let h = (x.matmul(w1) + b1).tanh();
    let e = &(h.matmul(w2) + b2) - y;
    (&e * &e).mean(&[0, 1])
}

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
    let ys: Vec<f32> = xs.iter().map(|x| x.sin()).collect();
    let x = Tensor::from_vec([N, 1], xs)?;
    let y = Tensor::from_vec([N, 1], ys)?;

    let k = PrngKey::new(0).split(2);
    let init: Params = (
        k[0].normal(&[1, H], DType::F32),
        Tensor::zeros(&[H], DType::F32),
        &k[1].normal(&[H, 1], DType::F32) * (1.0 / (H as f64).sqrt()),
        Tensor::zeros(&[1], DType::F32),
    );
    // Parameters live on the device; the step donates them (top-level argument 0).
    let mut params = rt.put_tree(&init)?;
    let train_step = rt.jit(step).donate_args(&[0]);

    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for i in 0..=500 {
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
    println!("compiled {} time(s)", train_step.compile_count());
    if last >= first * 0.1 {
        return Err(rax_core::Error::backend(
            "train",
            "the loss did not fall tenfold",
        ));
    }
    Ok(())
}
