//! A small training script on the `rax` facade, step for step the JAX + optax one (the README
//! puts the two side by side): a 1-32-1 tanh MLP learns `y = sin(x)`. The whole step — forward,
//! `value_and_grad`, clip + AdamW (rax-optim) and `apply_updates` — is one jitted program,
//! compiled once; parameters and optimizer state are donated, so the backend updates them in
//! place. Runs on the best backend `Runtime::auto()` finds (a PJRT plugin, else the embedded
//! interpreter), and fails unless the loss falls tenfold.
//!
//!     cargo run -p rax-examples --example train

use rax::prelude::*;

#[derive(Clone, Debug, Tree)]
struct Mlp {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

fn init(key: &PrngKey, hidden: usize) -> Mlp {
    let k = key.split(2);
    Mlp {
        w1: k[0].normal(&[1, hidden], DType::F32),
        b1: Tensor::zeros(&[hidden], DType::F32),
        w2: k[1].normal(&[hidden, 1], DType::F32) * (1.0 / (hidden as f64).sqrt()),
        b2: Tensor::zeros(&[1], DType::F32),
    }
}

fn loss(p: &Mlp, x: &Tensor, y: &Tensor) -> Tensor {
    let h = (x.matmul(&p.w1) + &p.b1).tanh();
    let e = &(h.matmul(&p.w2) + &p.b2) - y;
    (&e * &e).mean(&[0, 1])
}

fn main() -> Result<()> {
    let xs: Vec<f32> = (0..64).map(|i| -2.0 + 4.0 * i as f32 / 63.0).collect();
    let x = Tensor::from_vec([64, 1], xs)?;
    let y = x.sin();

    let params = init(&PrngKey::new(0), 32);
    let opt = chain((clip_by_global_norm(1.0), adamw(1e-2, 1e-4)));
    let opt_state = opt.init(&params)?;

    let train_step = move |(params, opt_state, x, y): &(Mlp, State, Tensor, Tensor)| {
        let (l, grads) = value_and_grad(|p: &Mlp| loss(p, x, y))(params)?;
        let (updates, opt_state) = opt.update(&grads, opt_state.clone(), Some(params))?;
        Ok((apply_updates(params, &updates)?, opt_state, l))
    };
    let step = jit(train_step)?.donate_args(&[0, 1]);

    let (mut params, mut opt_state) = (params, opt_state);
    let mut losses = Vec::new();
    for i in 0..=500 {
        let (p, s, l) = step.call(&(params, opt_state, x.clone(), y.clone()))?;
        (params, opt_state) = (p, s);
        if i % 100 == 0 {
            let l = l.item::<f32>()?;
            println!("step {i:3}  loss {l:.6}");
            losses.push(l);
        }
    }
    println!("{}", step.runtime().description());
    println!("compiled {} time(s)", step.compile_count());
    let fell = matches!((losses.first(), losses.last()), (Some(&a), Some(&b)) if b < a * 0.1);
    if !fell {
        let msg = format!("the loss did not fall tenfold: {losses:?}");
        return Err(Error::arg("train", msg));
    }
    Ok(())
}
