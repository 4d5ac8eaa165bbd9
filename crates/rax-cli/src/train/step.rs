//! The jitted training step: for each of the `A` micro-batches of `tokens [A, B, T+1]` (with
//! their segment ids, and the step's PRNG key folded with the micro-batch index) the
//! loss and gradient (summed in f32 when A > 1, then averaged), the global gradient norm, the
//! optimizer update and its application; a non-finite loss or gradient keeps the parameters
//! and optimizer state as they were (a select, so it traces). Parameters and state are donated.
//! Besides them it returns `[loss, grad_norm, finite]` and, per leaf, the statistics of
//! [`super::diagnostics::PER_LEAF`]: Σg², Σu², Σθ² (new θ), elements moved, max |u|.

use super::model::{MicroBatch, TrainModel};
use rax_core::autodiff::value_and_grad;
use rax_core::precision::{all_finite, select_tree};
use rax_core::tree::{flatten, tree_map, tree_map2};
use rax_core::{DType, PrngKey, Result, Tensor};
use rax_optim::{apply_updates, global_norm, Boxed, GradientTransformation, State};
use rax_runtime::{Jit, Runtime};
use std::rc::Rc;

/// The step's inputs: parameters, optimizer state, tokens and segment ids `[A, B, T+1]`,
/// the step's PRNG key data (u32[2]).
pub type StepIn<P> = (P, State, Tensor, Tensor, Tensor);
/// Parameters, state, `[loss, grad_norm, finite]`, per-leaf statistics.
pub type StepOut<P> = (P, State, Tensor, Tensor);

/// A boxed step body.
pub type StepFn<P> = Box<dyn Fn(&StepIn<P>) -> Result<StepOut<P>>>;

/// The traced body of one step.
pub fn body<M: TrainModel>(model: Rc<M>, opt: Rc<Boxed>, accum: usize) -> StepFn<M::Params> {
    Box::new(move |(p, s, toks, segs, key): &StepIn<M::Params>| {
        let key = PrngKey::from_data(key)?;
        let mut loss_sum: Option<Tensor> = None;
        let mut g_sum: Option<M::Params> = None;
        for a in 0..accum {
            let dims = toks.dims();
            let t = toks.slice_axis(0, a, a + 1).reshape(&[dims[1], dims[2]]);
            let sg = segs.slice_axis(0, a, a + 1).reshape(&[dims[1], dims[2]]);
            let mb = MicroBatch {
                tokens: &t,
                segments: &sg,
                key: Some(key.fold_in(a as u32)),
            };
            let m = model.clone();
            let err = std::cell::RefCell::new(None);
            let (l, g) = value_and_grad(|p: &M::Params| match m.loss(p, &mb) {
                Ok(l) => l,
                Err(e) => {
                    *err.borrow_mut() = Some(e);
                    Tensor::scalar_of(f64::NAN, DType::F32)
                }
            })(p)?;
            if let Some(e) = err.into_inner() {
                return Err(e);
            }
            let l = l.cast(DType::F32);
            if accum == 1 {
                loss_sum = Some(l);
                g_sum = Some(g);
                break;
            }
            let g32 = tree_map(&g, |x| x.cast(DType::F32));
            loss_sum = Some(match loss_sum {
                Some(s) => s + l,
                None => l,
            });
            g_sum = Some(match g_sum {
                Some(s) => tree_map2(&s, &g32, |a, b| a + b)?,
                None => g32,
            });
        }
        let (loss, g) = match (loss_sum, g_sum) {
            (Some(l), Some(g)) if accum > 1 => {
                let k = 1.0 / accum as f64;
                (l * k, tree_map(&g, |x| x * k))
            }
            (Some(l), Some(g)) => (l, g),
            _ => {
                return Err(rax_core::Error::arg(
                    "rax train",
                    "grad_accum must be at least 1",
                ))
            }
        };
        let gl = flatten(&g);
        let gnorm = global_norm(&gl);
        let finite = &loss.is_finite() & &all_finite(&g);
        let (u, s2) = opt.update(&g, s.clone(), Some(p))?;
        let p2 = apply_updates(p, &u)?;
        let p_out = select_tree(&finite, &p2, p)?;
        let s_out = State::select(&finite, &s2, s)?;
        let mut stats = Vec::with_capacity(gl.len() * super::diagnostics::PER_LEAF);
        let (ul, pl, p2l, pol) = (flatten(&u), flatten(p), flatten(&p2), flatten(&p_out));
        for i in 0..gl.len() {
            let g32 = gl[i].cast(DType::F32);
            let u32_ = ul[i].cast(DType::F32);
            let po = pol[i].cast(DType::F32);
            let axes: Vec<usize> = (0..u32_.rank()).collect();
            stats.push((&g32 * &g32).sum_all());
            stats.push((&u32_ * &u32_).sum_all());
            stats.push((&po * &po).sum_all());
            stats.push(p2l[i].ne(&pl[i]).cast(DType::F32).sum_all());
            stats.push(u32_.abs().max(&axes));
        }
        let head = Tensor::stack(&[loss, gnorm, finite.cast(DType::F32)], 0);
        Ok((p_out, s_out, head, Tensor::stack(&stats, 0)))
    })
}

/// The jitted step with parameters and state donated.
/// The jitted training step.
pub type StepJit<P> = Jit<StepIn<P>, StepOut<P>, StepFn<P>>;

/// The jitted held-out loss.
pub type EvalJit<P> = Jit<(P, Tensor, Tensor), Tensor, EvalFn<P>>;

pub fn jit<M: TrainModel>(
    rt: &Runtime,
    model: Rc<M>,
    opt: Rc<Boxed>,
    accum: usize,
) -> StepJit<M::Params> {
    rt.jit(body(model, opt, accum)).donate_args(&[0, 1])
}

/// The eval program: the loss of one `[B, T+1]` batch (tokens, segment ids), no dropout.
pub type EvalFn<P> = Box<dyn Fn(&(P, Tensor, Tensor)) -> Result<Tensor>>;

/// The jitted held-out loss.
pub fn eval_jit<M: TrainModel>(rt: &Runtime, model: Rc<M>) -> EvalJit<M::Params> {
    let f: EvalFn<M::Params> = Box::new(move |(p, t, s): &(M::Params, Tensor, Tensor)| {
        let mb = MicroBatch {
            tokens: t,
            segments: s,
            key: None,
        };
        Ok(model.loss(p, &mb)?.cast(DType::F32))
    });
    rt.jit(f)
}
