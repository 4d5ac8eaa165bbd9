//! Elementary transforms (docs/optim.md, "Transforms"; optax 0.2.8 names and formulas):
//! `identity`, `scale`, `scale_by_schedule`, `scale_by_learning_rate` (the sign flip lives
//! here), `scale_by_adam`, `scale_by_lion`, `trace` (SGD momentum), `scale_by_muon` (Newton–
//! Schulz NS5), `add_decayed_weights`, `clip`, `clip_by_global_norm`.
//!
//! Every update is computed in f32 (f64 for f64 leaves), whatever the gradient dtype.

use crate::{
    acc_dtype, check_lens, need_params, widen, GradientTransformation, LeafMeta, Mask, Scalar,
    Schedule, State,
};
use rax_core::{DType, Error, Result, Tensor};

/// A fresh i32 step count.
pub(crate) fn zero_count() -> Tensor {
    Tensor::scalar_of(0.0, DType::I32)
}

/// count + 1, saturating at i32::MAX (optax `safe_increment`).
#[track_caller]
pub(crate) fn safe_increment(c: &Tensor) -> Tensor {
    let max = Tensor::scalar_of(i32::MAX as f64, DType::I32);
    Tensor::select(&c.lt(&max), &(c + 1), c)
}

/// A transform from two closures (init, update) — how most elementary transforms are built.
pub struct FnTransform<I, U> {
    init: I,
    update: U,
}

impl<I, U> GradientTransformation for FnTransform<I, U>
where
    I: Fn(&[Tensor], &[LeafMeta]) -> Result<State>,
    U: Fn(Vec<Tensor>, State, Option<&[Tensor]>, &[LeafMeta]) -> Result<(Vec<Tensor>, State)>,
{
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        (self.init)(params, meta)
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("update", &updates, params, meta)?;
        (self.update)(updates, state, params, meta)
    }
}

/// Builds a transform from `init` and `update` closures.
pub fn from_fns<I, U>(init: I, update: U) -> FnTransform<I, U>
where
    I: Fn(&[Tensor], &[LeafMeta]) -> Result<State>,
    U: Fn(Vec<Tensor>, State, Option<&[Tensor]>, &[LeafMeta]) -> Result<(Vec<Tensor>, State)>,
{
    FnTransform { init, update }
}

/// The transform type returned by the constructors of this module.
pub type Transform = Box<dyn GradientTransformation>;

/// Leaves the updates unchanged (no state).
pub fn identity() -> Transform {
    Box::new(from_fns(|_, _| Ok(State::empty()), |u, s, _, _| Ok((u, s))))
}

/// u ← s·u.
pub fn scale(s: f64) -> Transform {
    Box::new(from_fns(
        |_, _| Ok(State::empty()),
        move |u, st, _, _| Ok((u.iter().map(|x| widen(x) * s).collect(), st)),
    ))
}

/// Multiplies by a scalar hyperparameter; keeps a `count` when it is a schedule.
fn scale_by_scalar(v: Scalar, sign: f64) -> Transform {
    let counted = v.needs_count();
    Box::new(from_fns(
        move |_, _| {
            Ok(if counted {
                State::node(vec![("count", State::Leaf(zero_count()))])
            } else {
                State::empty()
            })
        },
        move |u, st, _, _| {
            let (count, st) = if counted {
                let [c] = st.into_fields(["count"])?;
                let c = c.tensor()?.clone();
                let next = safe_increment(&c);
                (Some(c), State::node(vec![("count", State::Leaf(next))]))
            } else {
                (None, st)
            };
            let u = u
                .iter()
                .map(|x| {
                    let x = widen(x);
                    let k = v.value_in(count.as_ref(), x.dtype());
                    if sign < 0.0 {
                        &x * &(-k)
                    } else {
                        &x * &k
                    }
                })
                .collect();
            Ok((u, st))
        },
    ))
}

/// u ← η_t·u for a schedule evaluated at the step count in the state (optax
/// `scale_by_schedule`).
pub fn scale_by_schedule(s: Schedule) -> Transform {
    scale_by_scalar(Scalar::Schedule(s), 1.0)
}

/// u ← −η_t·u (the sign flip of gradient descent lives here). `lr` may be a constant, a
/// [`Schedule`] (a `count` is kept in the state) or a tensor.
pub fn scale_by_learning_rate(lr: impl Into<Scalar>) -> Transform {
    scale_by_scalar(lr.into(), -1.0)
}

/// Adam's moment estimates (see [`crate::AdamConfig`]; docs/optim.md `scale_by_adam`):
/// m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²; u = m̂ / (√(v̂ + eps_root) + eps).
/// The Nesterov variant follows optax: m̂ = b1·m/(1−b1^{t+1}) + (1−b1)·g/(1−b1^t).
/// State: `count` (i32), `mu`, `nu` (per leaf, in `mu_dtype` / `nu_dtype`, default f32).
pub fn scale_by_adam(c: crate::AdamConfig) -> Transform {
    Box::new(from_fns(
        move |p, meta| {
            let zeros = |d: DType| -> Vec<Tensor> {
                p.iter().map(|x| Tensor::zeros(&x.dims(), d)).collect()
            };
            Ok(State::node(vec![
                ("count", State::Leaf(zero_count())),
                ("mu", State::per_leaf(zeros(c.mu_dtype), meta)),
                ("nu", State::per_leaf(zeros(c.nu_dtype), meta)),
            ]))
        },
        move |u, st, _, meta| {
            let [count, mu, nu] = st.into_fields(["count", "mu", "nu"])?;
            let count = count.tensor()?.clone();
            let (mu, nu) = (mu.into_per_leaf(meta)?, nu.into_per_leaf(meta)?);
            let t = safe_increment(&count);
            let tf = t.cast(DType::F32);
            let bc = |b: f64, tf: &Tensor| 1.0 - Tensor::scalar_of(b, DType::F32).pow(tf);
            let bc1 = bc(c.b1, &tf);
            let bc2 = bc(c.b2, &tf);
            let bc1_next = bc(c.b1, &(&tf + 1.0));
            let (mut out, mut mus, mut nus) = (vec![], vec![], vec![]);
            for ((g, m), v) in u.iter().zip(&mu).zip(&nu) {
                let g = widen(g);
                let d = g.dtype();
                let m = (&g * (1.0 - c.b1)) + (m.cast(d) * c.b1);
                let v = (&g * &g * (1.0 - c.b2)) + (v.cast(d) * c.b2);
                let m_hat = if c.nesterov {
                    (&m / &bc1_next.cast(d)) * c.b1 + (&g / &bc1.cast(d)) * (1.0 - c.b1)
                } else {
                    &m / &bc1.cast(d)
                };
                let v_hat = &v / &bc2.cast(d);
                out.push(&m_hat / &((v_hat + c.eps_root).sqrt() + c.eps));
                mus.push(m.cast(c.mu_dtype));
                nus.push(v.cast(c.nu_dtype));
            }
            Ok((
                out,
                State::node(vec![
                    ("count", State::Leaf(t)),
                    ("mu", State::per_leaf(mus, meta)),
                    ("nu", State::per_leaf(nus, meta)),
                ]),
            ))
        },
    ))
}

/// Lion's sign update (docs/optim.md `lion`; optax `scale_by_lion`): c = b1·m + (1−b1)·g,
/// u = sign(c), m ← b2·m + (1−b2)·g. State: `mu` per leaf in `mu_dtype`.
pub fn scale_by_lion(b1: f64, b2: f64, mu_dtype: DType) -> Transform {
    Box::new(from_fns(
        move |p, meta| {
            Ok(State::node(vec![(
                "mu",
                State::per_leaf(
                    p.iter()
                        .map(|x| Tensor::zeros(&x.dims(), mu_dtype))
                        .collect(),
                    meta,
                ),
            )]))
        },
        move |u, st, _, meta| {
            let [mu] = st.into_fields(["mu"])?;
            let mu = mu.into_per_leaf(meta)?;
            let (mut out, mut mus) = (vec![], vec![]);
            for (g, m) in u.iter().zip(&mu) {
                let g = widen(g);
                let m = m.cast(g.dtype());
                out.push(((&g * (1.0 - b1)) + (&m * b1)).sign());
                mus.push(((&g * (1.0 - b2)) + (&m * b2)).cast(mu_dtype));
            }
            Ok((out, State::node(vec![("mu", State::per_leaf(mus, meta))])))
        },
    ))
}

/// SGD momentum (optax `trace`): b ← μ·b + g; u = g + μ·b if `nesterov` else b.
/// State: `trace` per leaf (f32).
pub fn trace(momentum: f64, nesterov: bool) -> Transform {
    Box::new(from_fns(
        move |p, meta| {
            Ok(State::node(vec![(
                "trace",
                State::per_leaf(
                    p.iter()
                        .map(|x| Tensor::zeros(&x.dims(), acc_dtype(x.dtype())))
                        .collect(),
                    meta,
                ),
            )]))
        },
        move |u, st, _, meta| {
            let [tr] = st.into_fields(["trace"])?;
            let tr = tr.into_per_leaf(meta)?;
            let (mut out, mut trs) = (vec![], vec![]);
            for (g, b) in u.iter().zip(&tr) {
                let g = widen(g);
                let b = &g + &(b.cast(g.dtype()) * momentum);
                out.push(if nesterov {
                    &g + &(&b * momentum)
                } else {
                    b.clone()
                });
                trs.push(b);
            }
            Ok((
                out,
                State::node(vec![("trace", State::per_leaf(trs, meta))]),
            ))
        },
    ))
}

/// Newton–Schulz orthogonalisation, 5 iterations by default (docs/optim.md `muon`): X = G/(‖G‖_F +
/// 1e-7), transposed if rows > cols, then `steps` times X ← a·X + (b·A + c·A²)·X with A = X·Xᵀ
/// and (a, b, c) = (3.4445, −4.7750, 2.0315), transposed back. The iteration runs in `dtype`
/// (bf16 or f32; matmuls accumulate in f32); the Frobenius norm is computed in f32. Errors for
/// a tensor that is not 2-D.
#[track_caller]
pub fn newton_schulz5(g: &Tensor, steps: usize, dtype: DType) -> Result<Tensor> {
    let dims = g.dims();
    let [m, n] = dims[..] else {
        return Err(Error::shape(
            "muon",
            "Newton–Schulz needs a 2-D tensor; partition other leaves to another optimizer",
            &[g.aval()],
        ));
    };
    let (a, b, c) = (3.4445, -4.7750, 2.0315);
    let g32 = g.cast(DType::F32);
    let norm = (&g32 * &g32).sum_all().sqrt();
    let mut x = (&g32 / &(norm + 1e-7)).cast(dtype);
    let transposed = m > n;
    if transposed {
        x = x.transpose(&[1, 0]);
    }
    for _ in 0..steps {
        let xt = x.transpose(&[1, 0]);
        let aa = x.matmul_acc(&xt, DType::F32).cast(dtype);
        let aa2 = aa.matmul_acc(&aa, DType::F32).cast(dtype);
        let bm = (&aa * b) + (&aa2 * c);
        x = (&x * a) + bm.matmul_acc(&x, DType::F32).cast(dtype);
    }
    if transposed {
        x = x.transpose(&[1, 0]);
    }
    x.check()?;
    Ok(x)
}

/// Muon's direction for 2-D leaves (docs/optim.md `muon`): b ← μ·b + g; O = NS5(g + μ·b if
/// `nesterov` else b); u = O·√max(1, m/n) for a leaf of shape m×n (rows/cols: the scaling of
/// docs/optim.md). The momentum `mu` is kept f32; NS5 runs in `ns_dtype`. Non-2-D leaves are an
/// error (route them elsewhere with `partition`, as [`crate::muon`] does).
pub fn scale_by_muon(momentum: f64, nesterov: bool, ns_steps: usize, ns_dtype: DType) -> Transform {
    Box::new(from_fns(
        move |p, meta| {
            Ok(State::node(vec![(
                "mu",
                State::per_leaf(
                    p.iter()
                        .map(|x| Tensor::zeros(&x.dims(), DType::F32))
                        .collect(),
                    meta,
                ),
            )]))
        },
        move |u, st, _, meta| {
            let [mu] = st.into_fields(["mu"])?;
            let mu = mu.into_per_leaf(meta)?;
            let (mut out, mut mus) = (vec![], vec![]);
            for (g, b) in u.iter().zip(&mu) {
                let g = g.cast(DType::F32);
                let b = &g + &(b * momentum);
                let dir = if nesterov {
                    &g + &(&b * momentum)
                } else {
                    b.clone()
                };
                let o = newton_schulz5(&dir, ns_steps, ns_dtype)?;
                let dims = g.dims();
                let (m, n) = (dims[0] as f64, dims[1] as f64);
                out.push(o.cast(DType::F32) * (m / n).max(1.0).sqrt());
                mus.push(b);
            }
            Ok((out, State::node(vec![("mu", State::per_leaf(mus, meta))])))
        },
    ))
}

/// u ← u + λ·θ on the leaves selected by `mask` (all when `None`). Needs the params.
pub fn add_decayed_weights(weight_decay: impl Into<Scalar>, mask: Option<Mask>) -> Transform {
    let wd: Scalar = weight_decay.into();
    Box::new(from_fns(
        |_, _| Ok(State::empty()),
        move |u, st, params, meta| {
            let p = need_params("add_decayed_weights", params)?;
            let out = u
                .iter()
                .zip(p)
                .zip(meta)
                .map(|((x, p), m)| {
                    let x = widen(x);
                    if mask.as_ref().is_none_or(|f| f(m)) {
                        let k = wd.value_in(None, x.dtype());
                        &x + &(p.cast(x.dtype()) * &k)
                    } else {
                        x
                    }
                })
                .collect();
            Ok((out, st))
        },
    ))
}

/// Clips each element into [−δ, δ].
pub fn clip(max_delta: f64) -> Transform {
    Box::new(from_fns(
        |_, _| Ok(State::empty()),
        move |u, st, _, _| {
            Ok((
                u.iter()
                    .map(|x| widen(x).clamp_scalar(-max_delta, max_delta))
                    .collect(),
                st,
            ))
        },
    ))
}

/// √(Σ over leaves of Σ u²), accumulated in f32 (an f32 scalar).
#[track_caller]
pub fn global_norm(xs: &[Tensor]) -> Tensor {
    let mut s = Tensor::scalar_of(0.0, DType::F32);
    for x in xs {
        let x = x.cast(DType::F32);
        s = s + (&x * &x).sum_all();
    }
    s.sqrt()
}

/// Rescales all updates by c/n when the global norm n exceeds c (optax form: `where(n < c, u,
/// u/n·c)`, a select, so n = 0 is safe). The norm is computed in f32.
pub fn clip_by_global_norm(max_norm: f64) -> Transform {
    Box::new(from_fns(
        |_, _| Ok(State::empty()),
        move |u, st, _, _| {
            let n = global_norm(&u);
            let keep = n.lt(&Tensor::scalar_of(max_norm, DType::F32));
            let out = u
                .iter()
                .map(|x| {
                    let x = widen(x);
                    let nd = n.cast(x.dtype());
                    Tensor::select(&keep, &x, &((&x / &nd) * max_norm))
                })
                .collect();
            Ok((out, st))
        },
    ))
}
