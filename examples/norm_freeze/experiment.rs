//! The norm-freeze demonstration: a small residual RMSNorm regression model trained with AdamW
//! (lr 3e-4) twice from the same initial weights —
//! (a) **blanket bf16**: every parameter, norm scales included, cast to bf16 and updated in
//!     bf16 (what a `model.to(bfloat16)` does);
//! (b) **policy `p=f32,c=bf16`**: f32 master parameters, a bf16 compute copy made inside the
//!     step, norm scales kept f32 (they are declared sensitive).
//!
//! AdamW moves each weight by about lr = 3e-4 per step, while bf16's spacing at 1.0 is 2^-7
//! (2^-8 just below): in (a) every norm scale initialised to 1.0 rounds back to exactly 1.0 at
//! every step and never trains, while the small projection weights (spacing ≈ 1e-4 near 0.02)
//! do move — which is why the bug hides. In (b) every norm scale moves.
//!
//! Written on the `rax` facade only (autodiff, policy, precision, rax-optim, rax-nn layers, the
//! runtime).

use rax::core::precision::{audit, cast_floating};
use rax::core::tree::leaves_with_info;
use rax::nn::layers::{linear, rms_norm};
use rax::prelude::*;

/// One residual block: `h + W · rmsnorm(h) ⊙ g`.
#[derive(Clone, Debug, Tree)]
pub struct Layer {
    /// RMSNorm scale, initialised to 1 (sensitive: kept f32 by the policy).
    #[tree(sensitive)]
    pub norm: Tensor,
    /// Projection [D, D].
    pub w: Tensor,
}

/// The model: a stack of residual RMSNorm blocks.
#[derive(Clone, Debug, Tree)]
pub struct Model {
    /// The blocks.
    pub layers: Vec<Layer>,
}

/// Settings of one experiment.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Width.
    pub width: usize,
    /// Blocks (each has one norm).
    pub layers: usize,
    /// Examples in the (fixed) batch.
    pub batch: usize,
    /// Training steps.
    pub steps: usize,
    /// AdamW learning rate.
    pub lr: f64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            width: 32,
            layers: 2,
            batch: 128,
            steps: 300,
            lr: 3e-4,
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Fraction of norm-scale elements that moved away from their initial 1.0.
    pub norm_moved_frac: f64,
    /// How many leaves `precision::audit` flags (sensitive leaves not stored f32).
    pub audit_flagged: usize,
    /// Loss after training.
    pub final_loss: f64,
    /// Loss at every step.
    pub losses: Vec<f64>,
}

fn init(s: &Setup, key: &PrngKey, norm_scale: f64, w_std: f64) -> Model {
    let keys = key.split(s.layers);
    let layers = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let ks = k.split(2);
            let noise = ks[0].normal(&[s.width], DType::F32) * 0.3 * norm_scale;
            Layer {
                norm: Tensor::full(&[s.width], 1.0, DType::F32) + noise,
                w: ks[1].normal(&[s.width, s.width], DType::F32) * (w_std / (1.0 + i as f64)),
            }
        })
        .collect();
    Model { layers }
}

/// The forward pass in a compute dtype (norms computed in f32 from their stored scale).
pub fn forward(m: &Model, x: &Tensor, compute: DType) -> Tensor {
    let mut h = x.cast(compute);
    for l in &m.layers {
        let n = rms_norm(&h, &l.norm, 1e-6, compute);
        h = &h + linear(&n, &l.w.cast(compute));
    }
    h
}

fn mse(m: &Model, x: &Tensor, y: &Tensor, compute: DType) -> Tensor {
    let d = &forward(m, x, compute).cast(DType::F32) - y;
    (&d * &d).mean(&[0, 1])
}

/// Runs one experiment: `blanket` casts every parameter to bf16; otherwise `policy` decides.
pub fn run(rt: &Runtime, s: &Setup, blanket: bool, policy: &Policy) -> Result<RunResult> {
    let key = PrngKey::new(0);
    let ks = key.split(3);
    let teacher = init(s, &ks[0], 1.0, 0.3);
    let student0 = init(s, &ks[1], 0.0, 0.02);
    let x = ks[2].normal(&[s.batch, s.width], DType::F32);
    let y = forward(&teacher, &x, DType::F32);
    let (params, compute) = if blanket {
        (cast_floating(&student0, DType::BF16, true), DType::BF16)
    } else {
        (
            cast_floating(&student0, policy.param, false),
            policy.compute,
        )
    };
    let opt = adamw(s.lr, 0.1);
    let state = opt.init(&params)?;
    let step = rt
        .jit(move |(p, st, x, y): &(Model, State, Tensor, Tensor)| {
            let (l, g) = value_and_grad(|p: &Model| mse(p, x, y, compute))(p)?;
            let (u, st) = opt.update(&g, st.clone(), Some(p))?;
            Ok((apply_updates(p, &u)?, st, l))
        })
        .donate_args(&[0, 1]);
    let (mut p, mut st) = (params, state);
    let mut losses = Vec::with_capacity(s.steps);
    for _ in 0..s.steps {
        let (p2, st2, l) = step.call(&(p, st, x.clone(), y.clone()))?;
        losses.push(f64::from(l.item::<f32>()?));
        p = p2;
        st = st2;
    }
    let mut moved = 0usize;
    let mut total = 0usize;
    for (_, t, info) in leaves_with_info(&p) {
        if info.sensitive {
            let v = t.to_f64_vec()?;
            total += v.len();
            moved += v.iter().filter(|&&x| x != 1.0).count();
        }
    }
    Ok(RunResult {
        norm_moved_frac: moved as f64 / total.max(1) as f64,
        audit_flagged: audit(&p).len(),
        final_loss: f64::from(mse(&p, &x, &y, DType::F32).item::<f32>()?),
        losses,
    })
}
