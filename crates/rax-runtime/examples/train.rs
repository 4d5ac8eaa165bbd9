//! A small training run: fit `y = w * x + b` to noisy data by gradient descent, with the
//! whole step (forward, gradient, update) in one jitted program whose parameters are donated
//! (updated in place). Runs on the best backend `Runtime::auto()` finds.
//!
//! Run: `cargo run -p rax-runtime --example train`

use rax_core::scan;
use rax_core::{DType, Result, Tensor};
use rax_runtime::Runtime;

/// The parameters, a pytree: (w, b).
type Params = (Tensor, Tensor);

const N: usize = 64;
const LR: f64 = 0.1;

// ===== UPDATE WHEN value_and_grad LANDS =====================================================
// The gradient below is derived by hand and the batch sum is a `scan`, because rax's autodiff
// and reductions were still being built when this example was written. With them, the loss
// and step become:
//
//     fn loss((w, b): &Params, x: &Tensor, y: &Tensor) -> Tensor {
//         let e = &(x * w + b) - y;
//         (&e * &e).mean(&[0])
//     }
//     let (l, g) = value_and_grad(|p: &Params| loss(p, x, y))(p)?;
//     ((&p.0 - &(&g.0 * LR), &p.1 - &(&g.1 * LR)), l)
//
fn step((p, x, y): &(Params, Tensor, Tensor)) -> (Params, Tensor) {
    let (w, b) = p;
    let zero = Tensor::scalar_of(0.0, DType::F32);
    // Sum over the batch of the squared error and of its gradient.
    let (sums, _) = scan(
        |carry, xy| {
            let (xi, yi) = (&xy[0], &xy[1]);
            let e = &(xi * w + b) - yi;
            let two_e = &e * 2.0;
            (
                vec![
                    &carry[0] + &(&e * &e),
                    &carry[1] + &(&two_e * xi),
                    &carry[2] + &two_e,
                ],
                vec![],
            )
        },
        &[zero.clone(), zero.clone(), zero],
        &[x.clone(), y.clone()],
        None,
        false,
    );
    let inv_n = 1.0 / N as f64;
    let loss = &sums[0] * inv_n;
    let new_w = w - &(&sums[1] * (LR * inv_n));
    let new_b = b - &(&sums[2] * (LR * inv_n));
    ((new_w, new_b), loss)
}
// ============================================================================================

fn main() -> Result<()> {
    let rt = Runtime::auto()?;
    println!("backend: {}", rt.description());

    // Data: y = 3x - 1 plus a little deterministic noise.
    let xs: Vec<f32> = (0..N).map(|i| i as f32 / N as f32 * 2.0 - 1.0).collect();
    let ys: Vec<f32> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * x - 1.0 + 0.05 * ((i * 7919 % 13) as f32 / 13.0 - 0.5))
        .collect();
    let x = Tensor::from_vec([N], xs)?;
    let y = Tensor::from_vec([N], ys)?;

    // Parameters live on the device; the step donates them (top-level argument 0).
    let train_step = rt.jit(step).donate_args(&[0]);
    let mut params: Params = rt.put_tree(&(
        Tensor::scalar_of(0.0, DType::F32),
        Tensor::scalar_of(0.0, DType::F32),
    ))?;
    let mut first = f64::NAN;
    let mut last = f64::NAN;
    for i in 0..200 {
        let (p, loss) = train_step.call(&(params, x.clone(), y.clone()))?;
        params = p;
        if i % 40 == 0 || i == 199 {
            last = loss.to_f64_vec()?[0];
            println!("step {i:3}  loss {last:.6}");
            if i == 0 {
                first = last;
            }
        }
    }
    let (w, b) = (params.0.to_f64_vec()?[0], params.1.to_f64_vec()?[0]);
    println!(
        "w = {w:.4} (true 3), b = {b:.4} (true -1); compiled {} time(s)",
        train_step.compile_count()
    );
    if !(last < first * 0.01) {
        return Err(rax_core::Error::backend("train", "the loss did not fall"));
    }
    Ok(())
}
