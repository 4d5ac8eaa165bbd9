//! Reverse-mode automatic differentiation, graph to graph.
//!
//! `vjp(f, primals)` traces `f` into a graph, *replays* the graph's nodes into the current
//! context with `trace::apply` (so the forward pass lands in the enclosing trace, or runs eagerly
//! when no trace is active), and returns a [`Pullback`] that walks the replayed nodes in reverse,
//! calling each primitive's VJP rule (`prim::vjp`, one `vjp` per family file). Rules build their
//! results with ordinary ops, so the backward pass is IR too: it is recorded in the enclosing
//! trace (one program for forward + backward), runs eagerly otherwise, and can itself be
//! differentiated (grad of grad).
//!
//! Conventions (as in JAX):
//! - A cotangent always has its primal's dtype and shape (a gradient through
//!   `convert(f32 -> bf16)` comes back as f32). The walker checks every rule's results.
//! - Only inexact (float/complex) values carry cotangents. `grad` over a `Tree` differentiates
//!   the inexact leaves; integer and bool leaves get a zero gradient of their own dtype
//!   (documented "zero", JAX's float0). `vjp` likewise returns zeros for integer primals.
//! - Complex cotangents follow JAX's convention (transpose of the JVP, no conjugation).
//! - `while_loop` is not reverse-differentiable: `Error::Transform` (use `scan`).
//! - Every primitive's VJP rule, control flow included, lives in its family file; this module
//!   is the tape, the walker and the special calls.
//!
//! Special calls (`Op::Call`): `stop_gradient` (zero cotangent), `checkpoint_name` (a named
//! identity used by remat policies), `checkpoint` (the backward pass recomputes the body behind
//! an `optimization_barrier`, keeping only what the policy saves), `custom_vjp` (user forward
//! with residuals and user backward, both traced into the program).
//!
//! Depends on `trace`, `ir`, `prim` (VJP rules), `tree`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::{CallKind, Graph, Op, ReduceKind, RematPolicy};
use crate::shape::AVal;
use crate::trace::{apply, apply1, trace, Tensor};
use crate::tree::{flatten, unflatten, Tree};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Helpers shared by the VJP rules of the family files
// ---------------------------------------------------------------------------------------------

/// Zeros of a type, built as a broadcast scalar (a splat, not a big constant, in a program).
pub fn zeros(aval: &AVal) -> Tensor {
    Tensor::scalar_of(0.0, aval.dtype).broadcast_to(aval.dims())
}

/// Zeros shaped like a tensor.
pub fn zeros_like(t: &Tensor) -> Tensor {
    zeros(&t.aval())
}

/// Sum over `axes` (removed from the shape); the identity for no axes.
#[track_caller]
pub fn reduce_sum(x: &Tensor, axes: &[usize]) -> Tensor {
    if axes.is_empty() {
        return x.clone();
    }
    apply1(
        Op::Reduce {
            kind: ReduceKind::Sum,
            axes: axes.to_vec(),
        },
        &[x],
        CallSite::here(),
    )
}

/// Sums a cotangent of a broadcast value back to `target` (numpy broadcasting: leading dims
/// added, size-1 dims expanded).
#[track_caller]
pub fn unbroadcast(ct: &Tensor, target: &AVal) -> Tensor {
    let (cd, td) = (ct.dims(), target.dims().to_vec());
    if cd == td {
        return ct.clone();
    }
    let lead = cd.len().saturating_sub(td.len());
    let mut axes: Vec<usize> = (0..lead).collect();
    for (i, &d) in td.iter().enumerate() {
        if d == 1 && cd.get(lead + i).copied() != Some(1) {
            axes.push(lead + i);
        }
    }
    reduce_sum(ct, &axes).reshape(&td)
}

/// Complex conjugate (the identity for real dtypes).
#[track_caller]
pub fn conj(x: &Tensor) -> Tensor {
    if x.dtype().is_complex() {
        Tensor::complex(&x.real(), &x.imag().neg())
    } else {
        x.clone()
    }
}

/// Applies an op with one result at the caller's site.
#[track_caller]
pub fn op1(op: Op, ins: &[&Tensor]) -> Tensor {
    apply1(op, ins, CallSite::here())
}

/// The first error among tensors, if any.
pub(crate) fn check_all(ts: &[Tensor]) -> Result<()> {
    for t in ts {
        t.check()?;
    }
    Ok(())
}

/// True when values of this dtype carry cotangents.
pub fn is_differentiable(d: DType) -> bool {
    d.is_inexact()
}

// ---------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------

/// Runs a graph's nodes on `inputs` in the current context (eagerly, or recorded into the
/// active trace) and returns its outputs. This is how sub-graphs are "called" by transforms.
pub fn replay(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let env = replay_env(g, inputs)?;
    g.outputs
        .iter()
        .map(|v| {
            env[v.index()]
                .clone()
                .ok_or_else(|| Error::internal(format!("replay: output v{} undefined", v.0)))
        })
        .collect()
}

fn replay_env(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Option<Tensor>>> {
    if inputs.len() != g.inputs.len() {
        return Err(Error::arg(
            "replay",
            format!(
                "graph takes {} inputs, got {}",
                g.inputs.len(),
                inputs.len()
            ),
        ));
    }
    let mut env: Vec<Option<Tensor>> = vec![None; g.avals.len()];
    for (v, t) in g.inputs.iter().zip(inputs) {
        env[v.index()] = Some(t.clone());
    }
    for node in &g.nodes {
        let ins = node
            .inputs
            .iter()
            .map(|v| {
                env[v.index()]
                    .clone()
                    .ok_or_else(|| Error::internal(format!("replay: v{} undefined", v.0)))
            })
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor> = ins.iter().collect();
        let site = node.site.unwrap_or_else(CallSite::here);
        let outs = apply(node.op.clone(), &refs, site);
        check_all(&outs)?;
        for (v, o) in node.outputs.iter().zip(outs) {
            env[v.index()] = Some(o);
        }
    }
    Ok(env)
}

// ---------------------------------------------------------------------------------------------
// The tape
// ---------------------------------------------------------------------------------------------

enum Extra {
    /// An ordinary op: its family's VJP rule.
    Plain,
    /// A scan whose forward also emitted the stacked carries (residuals).
    Scan { carries: Vec<Tensor> },
    /// A checkpointed call: values the policy saves, by body node index.
    Checkpoint {
        body: Arc<Graph>,
        saved: HashMap<usize, Vec<Tensor>>,
    },
    /// A custom_vjp call: the residuals of its forward.
    Custom { bwd: Arc<Graph>, res: Vec<Tensor> },
}

struct Entry {
    op: Op,
    ins: Vec<usize>,
    outs: Vec<usize>,
    site: Option<CallSite>,
    extra: Extra,
}

#[derive(Default)]
struct Tape {
    vals: Vec<Tensor>,
    /// The value depends on a differentiated input (only active values get cotangents; ops
    /// with no active operand are applied but not recorded).
    active: Vec<bool>,
    entries: Vec<Entry>,
}

impl Tape {
    fn push(&mut self, t: Tensor, active: bool) -> usize {
        let active = active && is_differentiable(t.dtype());
        self.vals.push(t);
        self.active.push(active);
        self.vals.len() - 1
    }

    /// Replays `g` on tape values `inputs`, recording every node; nodes listed in `subst` are
    /// not run, their outputs are taken from `subst` (saved values of a checkpoint).
    fn forward(
        &mut self,
        g: &Graph,
        inputs: &[usize],
        subst: &HashMap<usize, Vec<Tensor>>,
    ) -> Result<Vec<usize>> {
        if inputs.len() != g.inputs.len() {
            return Err(Error::internal(format!(
                "vjp: graph takes {} inputs, got {}",
                g.inputs.len(),
                inputs.len()
            )));
        }
        let mut env: Vec<Option<usize>> = vec![None; g.avals.len()];
        for (v, &t) in g.inputs.iter().zip(inputs) {
            env[v.index()] = Some(t);
        }
        for (ni, node) in g.nodes.iter().enumerate() {
            let ins = node
                .inputs
                .iter()
                .map(|v| {
                    env[v.index()]
                        .ok_or_else(|| Error::internal(format!("vjp: v{} undefined", v.0)))
                })
                .collect::<Result<Vec<usize>>>()?;
            let outs = if let Some(vals) = subst.get(&ni) {
                // A saved value: not recomputed, but its VJP still runs (on the recomputed or
                // saved operands).
                let act = ins.iter().any(|&i| self.active[i]);
                let ids: Vec<usize> = vals.iter().map(|t| self.push(t.clone(), act)).collect();
                if act {
                    self.entries.push(Entry {
                        op: node.op.clone(),
                        ins: ins.clone(),
                        outs: ids.clone(),
                        site: node.site,
                        extra: Extra::Plain,
                    });
                }
                ids
            } else {
                self.record(&node.op, &ins, node.site)?
            };
            for (v, o) in node.outputs.iter().zip(outs) {
                env[v.index()] = Some(o);
            }
        }
        g.outputs
            .iter()
            .map(|v| {
                env[v.index()].ok_or_else(|| Error::internal(format!("vjp: v{} undefined", v.0)))
            })
            .collect()
    }

    /// Applies one node in the current context and records it.
    fn record(&mut self, op: &Op, ins: &[usize], site: Option<CallSite>) -> Result<Vec<usize>> {
        let in_t: Vec<Tensor> = ins.iter().map(|&i| self.vals[i].clone()).collect();
        let refs: Vec<&Tensor> = in_t.iter().collect();
        let s = site.unwrap_or_else(CallSite::here);
        if !ins.iter().any(|&i| self.active[i]) {
            let outs = apply(op.clone(), &refs, s);
            check_all(&outs)?;
            return Ok(outs.into_iter().map(|t| self.push(t, false)).collect());
        }
        let (outs, extra) = match op {
            Op::Scan {
                body,
                length,
                reverse,
                num_carry,
                num_consts,
            } => {
                let (outs, carries) = crate::prim::control::scan_forward_with_residuals(
                    body,
                    *length,
                    *reverse,
                    *num_carry,
                    *num_consts,
                    &in_t,
                    s,
                )?;
                (outs, Extra::Scan { carries })
            }
            Op::Call {
                body,
                kind: CallKind::Checkpoint(policy),
            } => {
                // Forward: the body inline; keep what the policy saves.
                let env = replay_env(body, &in_t)?;
                let mut saved = HashMap::new();
                for (ni, node) in body.nodes.iter().enumerate() {
                    if saveable(&node.op, policy) {
                        let vals: Option<Vec<Tensor>> = node
                            .outputs
                            .iter()
                            .map(|v| env[v.index()].clone())
                            .collect();
                        if let Some(vals) = vals {
                            saved.insert(ni, vals);
                        }
                    }
                }
                let outs: Option<Vec<Tensor>> = body
                    .outputs
                    .iter()
                    .map(|v| env[v.index()].clone())
                    .collect();
                let outs = outs.ok_or_else(|| Error::internal("checkpoint: undefined output"))?;
                (
                    outs,
                    Extra::Checkpoint {
                        body: body.clone(),
                        saved,
                    },
                )
            }
            Op::Call {
                body,
                kind: CallKind::CustomVjp { fwd, bwd },
            } => {
                let fo = replay(fwd, &in_t)?;
                let n = body.outputs.len();
                if fo.len() < n {
                    return Err(Error::internal("custom_vjp: forward has too few outputs"));
                }
                let res = fo[n..].to_vec();
                (
                    fo[..n].to_vec(),
                    Extra::Custom {
                        bwd: bwd.clone(),
                        res,
                    },
                )
            }
            _ => {
                let outs = apply(op.clone(), &refs, s);
                check_all(&outs)?;
                (outs, Extra::Plain)
            }
        };
        let out_ids: Vec<usize> = outs.into_iter().map(|t| self.push(t, true)).collect();
        self.entries.push(Entry {
            op: op.clone(),
            ins: ins.to_vec(),
            outs: out_ids.clone(),
            site,
            extra,
        });
        Ok(out_ids)
    }

    /// Walks the recorded entries in reverse, accumulating cotangents into `cts`.
    fn backward(&self, cts: &mut [Option<Tensor>]) -> Result<()> {
        for e in self.entries.iter().rev() {
            let out_cts: Vec<Option<Tensor>> = e.outs.iter().map(|&o| cts[o].clone()).collect();
            if out_cts.iter().all(|c| c.is_none()) {
                continue;
            }
            let ins: Vec<Tensor> = e.ins.iter().map(|&i| self.vals[i].clone()).collect();
            let outs: Vec<Tensor> = e.outs.iter().map(|&o| self.vals[o].clone()).collect();
            let in_cts = match &e.extra {
                Extra::Plain => crate::prim::vjp(&e.op, &ins, &outs, &out_cts),
                Extra::Scan { carries } => {
                    crate::prim::control::scan_vjp(&e.op, &ins, carries, &out_cts)
                }
                Extra::Checkpoint { body, saved } => checkpoint_bwd(body, saved, &ins, &out_cts),
                Extra::Custom { bwd, res } => {
                    let out_avals: Vec<AVal> = outs.iter().map(|t| t.aval()).collect();
                    custom_bwd(bwd, &ins, res, &out_cts, &out_avals)
                }
            };
            let in_cts = in_cts.map_err(|err| match e.site {
                Some(s) => err.with_site(s),
                None => err,
            })?;
            if in_cts.len() != ins.len() {
                return Err(Error::internal(format!(
                    "the VJP rule of {} gave {} cotangents for {} operands",
                    crate::prim::op_name(&e.op),
                    in_cts.len(),
                    ins.len()
                )));
            }
            for ((&i, x), ct) in e.ins.iter().zip(&ins).zip(in_cts) {
                let Some(ct) = ct else { continue };
                if !self.active[i] {
                    continue;
                }
                ct.check()?;
                if ct.aval() != x.aval() {
                    return Err(Error::internal(format!(
                        "the VJP rule of {} gave a {} cotangent for a {} operand",
                        crate::prim::op_name(&e.op),
                        ct.aval(),
                        x.aval()
                    )));
                }
                cts[i] = Some(match cts[i].take() {
                    None => ct,
                    Some(old) => &old + &ct,
                });
            }
        }
        Ok(())
    }
}

fn saveable(op: &Op, policy: &RematPolicy) -> bool {
    match policy {
        RematPolicy::NothingSaveable => false,
        RematPolicy::Everything => !matches!(op, Op::Constant(_)),
        RematPolicy::DotsSaveable => matches!(op, Op::DotGeneral { .. }),
        RematPolicy::SaveNames(names) => matches!(
            op,
            Op::Call { kind: CallKind::Name(n), .. } if names.contains(n)
        ),
    }
}

/// Backward of a checkpoint: recompute the body from its operands (and the saved values),
/// all passed through an `optimization_barrier` so the recomputation is not merged with the
/// forward pass, then differentiate the recomputed body.
fn checkpoint_bwd(
    body: &Graph,
    saved: &HashMap<usize, Vec<Tensor>>,
    ins: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let mut keys: Vec<usize> = saved.keys().copied().collect();
    keys.sort_unstable();
    let mut barrier_in: Vec<Tensor> = ins.to_vec();
    for k in &keys {
        barrier_in.extend(saved[k].iter().cloned());
    }
    let barred = if crate::trace::tracing() && !barrier_in.is_empty() {
        let refs: Vec<&Tensor> = barrier_in.iter().collect();
        let outs = apply(Op::OptimizationBarrier, &refs, CallSite::here());
        check_all(&outs)?;
        outs
    } else {
        barrier_in
    };
    let mut subst = HashMap::new();
    let mut pos = ins.len();
    for k in &keys {
        let n = saved[k].len();
        subst.insert(*k, barred[pos..pos + n].to_vec());
        pos += n;
    }
    let mut tape = Tape::default();
    let in_ids: Vec<usize> = barred[..ins.len()]
        .iter()
        .map(|t| tape.push(t.clone(), true))
        .collect();
    let out_ids = tape.forward(body, &in_ids, &subst)?;
    let mut all = vec![None; tape.vals.len()];
    seed(&tape, &mut all, &out_ids, cts)?;
    tape.backward(&mut all)?;
    Ok(in_ids.iter().map(|&i| all[i].take()).collect())
}

/// Backward of a custom_vjp: the user's backward graph on (operands, residuals, cotangents).
pub(crate) fn custom_bwd(
    bwd: &Graph,
    ins: &[Tensor],
    res: &[Tensor],
    cts: &[Option<Tensor>],
    out_avals: &[AVal],
) -> Result<Vec<Option<Tensor>>> {
    let mut args: Vec<Tensor> = ins.to_vec();
    args.extend(res.iter().cloned());
    for (c, a) in cts.iter().zip(out_avals) {
        args.push(c.clone().unwrap_or_else(|| zeros(a)));
    }
    let r = replay(bwd, &args)?;
    let mut out: Vec<Option<Tensor>> = r.into_iter().map(Some).collect();
    out.resize(ins.len(), None);
    Ok(out)
}

fn seed(
    tape: &Tape,
    all: &mut [Option<Tensor>],
    out_ids: &[usize],
    cts: &[Option<Tensor>],
) -> Result<()> {
    if cts.len() != out_ids.len() {
        return Err(Error::arg(
            "vjp",
            format!(
                "the function has {} outputs, {} cotangents were given",
                out_ids.len(),
                cts.len()
            ),
        ));
    }
    for (&o, c) in out_ids.iter().zip(cts) {
        let Some(c) = c else { continue };
        c.check()?;
        let want = tape.vals[o].aval();
        if c.aval() != want {
            return Err(Error::shape(
                "vjp",
                format!("a cotangent must have its output's type {want}"),
                &[c.aval()],
            ));
        }
        if !tape.active[o] {
            continue;
        }
        all[o] = Some(match all[o].take() {
            None => c.clone(),
            Some(old) => &old + c,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// vjp
// ---------------------------------------------------------------------------------------------

/// The backward half of `vjp`: maps output cotangents to input cotangents.
pub struct Pullback {
    tape: Tape,
    in_ids: Vec<usize>,
    out_ids: Vec<usize>,
}

impl std::fmt::Debug for Pullback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pullback({} inputs, {} outputs, {} recorded ops)",
            self.in_ids.len(),
            self.out_ids.len(),
            self.tape.entries.len()
        )
    }
}

impl Pullback {
    /// Input cotangents (one per primal, each of its primal's type; zeros for integer primals)
    /// from one cotangent per output, each of its output's type.
    #[track_caller]
    pub fn call(&self, cts: &[Tensor]) -> Result<Vec<Tensor>> {
        let site = CallSite::here();
        let opt: Vec<Option<Tensor>> = cts.iter().cloned().map(Some).collect();
        let r = self.call_opt(&opt).map_err(|e| e.with_site(site))?;
        Ok(r.into_iter()
            .zip(&self.in_ids)
            .map(|(c, &i)| c.unwrap_or_else(|| zeros(&self.tape.vals[i].aval())))
            .collect())
    }

    /// Like `call` with `None` for zero cotangents, returning `None` for zero results.
    pub fn call_opt(&self, cts: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let mut all = vec![None; self.tape.vals.len()];
        seed(&self.tape, &mut all, &self.out_ids, cts)?;
        self.tape.backward(&mut all)?;
        Ok(self.in_ids.iter().map(|&i| all[i].clone()).collect())
    }
}

/// Reverse mode over a graph: replays `g` on `inputs` (one per graph input) in the current
/// context and returns its outputs with the pullback.
pub fn vjp_graph(g: &Graph, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Pullback)> {
    vjp_graph_masked(g, inputs, inputs.len())
}

/// `vjp_graph` differentiating only the first `n_active` inputs (the others, e.g. captured
/// tensors, are treated as constants).
fn vjp_graph_masked(
    g: &Graph,
    inputs: &[Tensor],
    n_active: usize,
) -> Result<(Vec<Tensor>, Pullback)> {
    check_all(inputs)?;
    let mut tape = Tape::default();
    let in_ids: Vec<usize> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| tape.push(t.clone(), i < n_active))
        .collect();
    let out_ids = tape.forward(g, &in_ids, &HashMap::new())?;
    let outs = out_ids.iter().map(|&o| tape.vals[o].clone()).collect();
    Ok((
        outs,
        Pullback {
            tape,
            in_ids,
            out_ids,
        },
    ))
}

/// Reverse mode: `f`'s outputs at `primals` and the pullback. `f` is traced once; its forward
/// runs in the current context (eagerly or into the enclosing trace).
#[track_caller]
pub fn vjp<F>(f: F, primals: &[Tensor]) -> Result<(Vec<Tensor>, Pullback)>
where
    F: FnOnce(&[Tensor]) -> Vec<Tensor>,
{
    let site = CallSite::here();
    let r = (|| {
        check_all(primals)?;
        let avals: Vec<AVal> = primals.iter().map(|t| t.aval()).collect();
        let t = trace(&avals, f)?;
        let mut inputs = primals.to_vec();
        inputs.extend(t.captures.iter().cloned());
        let (outs, mut pb) = vjp_graph_masked(&t.graph, &inputs, primals.len())?;
        pb.in_ids.truncate(primals.len());
        Ok((outs, pb))
    })();
    r.map_err(|e: Error| e.with_site(site))
}

// ---------------------------------------------------------------------------------------------
// grad over trees
// ---------------------------------------------------------------------------------------------

fn value_and_grad_core<T, A, F>(f: &F, params: &T, site: CallSite) -> Result<(Tensor, A, T)>
where
    T: Tree,
    A: Tree,
    F: Fn(&T) -> (Tensor, A),
{
    let leaves = flatten(params);
    check_all(&leaves)?;
    let avals: Vec<AVal> = leaves.iter().map(|t| t.aval()).collect();
    let aux_template: RefCell<Option<A>> = RefCell::new(None);
    let unflatten_err: RefCell<Option<Error>> = RefCell::new(None);
    let traced = trace(&avals, |xs| match unflatten(params, xs.to_vec()) {
        Ok(p) => {
            let (loss, aux) = f(&p);
            let mut outs = vec![loss];
            outs.extend(flatten(&aux));
            *aux_template.borrow_mut() = Some(aux);
            outs
        }
        Err(e) => {
            *unflatten_err.borrow_mut() = Some(e);
            vec![]
        }
    })?;
    if let Some(e) = unflatten_err.into_inner() {
        return Err(e);
    }
    let aux_template = aux_template
        .into_inner()
        .ok_or_else(|| Error::internal("grad: the function did not run"))?;
    let loss_aval = traced
        .graph
        .outputs
        .first()
        .map(|v| traced.graph.aval(*v).clone())
        .ok_or_else(|| Error::internal("grad: no loss output"))?;
    if loss_aval.rank() != 0 || !loss_aval.dtype.is_float() {
        return Err(Error::Transform {
            transform: "grad".into(),
            op: "loss".into(),
            msg: format!(
                "grad requires a real floating scalar output, got {loss_aval} (use vjp for other outputs)"
            ),
            site: Some(site),
        });
    }
    let mut inputs = leaves.clone();
    inputs.extend(traced.captures.iter().cloned());
    let (outs, mut pb) = vjp_graph_masked(&traced.graph, &inputs, leaves.len())?;
    pb.in_ids.truncate(leaves.len());
    let loss = outs[0].clone();
    let aux = unflatten(&aux_template, outs[1..].to_vec())?;
    let mut cts = vec![None; outs.len()];
    cts[0] = Some(Tensor::scalar_of(1.0, loss_aval.dtype));
    let g = pb.call_opt(&cts)?;
    let grads: Vec<Tensor> = g
        .into_iter()
        .zip(&leaves)
        .map(|(c, x)| c.unwrap_or_else(|| zeros_like(x)))
        .collect();
    check_all(&grads)?;
    Ok((loss, aux, unflatten(params, grads)?))
}

/// `value_and_grad(f)(&params)`: the loss and its gradient with respect to every inexact leaf
/// of `params` (a tree of the same structure; integer/bool leaves get zeros of their dtype).
/// The loss must be a real floating scalar.
#[track_caller]
pub fn value_and_grad<T, F>(f: F) -> impl Fn(&T) -> Result<(Tensor, T)>
where
    T: Tree,
    F: Fn(&T) -> Tensor,
{
    let site = CallSite::here();
    move |p: &T| {
        let (l, (), g) =
            value_and_grad_core(&|p: &T| (f(p), ()), p, site).map_err(|e| e.with_site(site))?;
        Ok((l, g))
    }
}

/// `value_and_grad` with auxiliary outputs (`has_aux=True`): `f` returns `(loss, aux)` where
/// `aux` is any tree; the result is `((loss, aux), grads)`.
#[track_caller]
pub fn value_and_grad_with_aux<T, A, F>(f: F) -> impl Fn(&T) -> Result<((Tensor, A), T)>
where
    T: Tree,
    A: Tree,
    F: Fn(&T) -> (Tensor, A),
{
    let site = CallSite::here();
    move |p: &T| {
        let (l, a, g) = value_and_grad_core(&f, p, site).map_err(|e| e.with_site(site))?;
        Ok(((l, a), g))
    }
}

/// `grad(f)(&params)`: the gradient of a scalar loss (see `value_and_grad`).
#[track_caller]
pub fn grad<T, F>(f: F) -> impl Fn(&T) -> Result<T>
where
    T: Tree,
    F: Fn(&T) -> Tensor,
{
    let vg = value_and_grad(f);
    move |p: &T| vg(p).map(|(_, g)| g)
}

/// `grad` with auxiliary outputs: returns `(grads, aux)`.
#[track_caller]
pub fn grad_with_aux<T, A, F>(f: F) -> impl Fn(&T) -> Result<(T, A)>
where
    T: Tree,
    A: Tree,
    F: Fn(&T) -> (Tensor, A),
{
    let vg = value_and_grad_with_aux(f);
    move |p: &T| vg(p).map(|((_, a), g)| (g, a))
}

// ---------------------------------------------------------------------------------------------
// stop_gradient, checkpoint_name, checkpoint, custom_vjp
// ---------------------------------------------------------------------------------------------

fn identity_graph(aval: &AVal) -> Graph {
    let mut g = Graph::default();
    let v = g.new_value(aval.clone());
    g.inputs.push(v);
    g.outputs.push(v);
    g
}

/// The identity whose cotangent is zero (`jax.lax.stop_gradient`).
#[track_caller]
pub fn stop_gradient(x: &Tensor) -> Tensor {
    apply1(
        Op::Call {
            body: Arc::new(identity_graph(&x.aval())),
            kind: CallKind::StopGradient,
        },
        &[x],
        CallSite::here(),
    )
}

/// Names a value for `checkpoint` policies (`jax.ad_checkpoint.checkpoint_name`); the identity.
#[track_caller]
pub fn checkpoint_name(x: &Tensor, name: &str) -> Tensor {
    apply1(
        Op::Call {
            body: Arc::new(identity_graph(&x.aval())),
            kind: CallKind::Name(name.to_string()),
        },
        &[x],
        CallSite::here(),
    )
}

/// Rebases a traced graph onto a list of operands: its own inputs are `xs[own]`, followed by
/// its captures `xs[caps]`.
pub(crate) fn rebase(
    g: &Graph,
    all_avals: &[AVal],
    own: std::ops::Range<usize>,
    caps: std::ops::Range<usize>,
) -> Result<Graph> {
    Ok(trace(all_avals, |xs| {
        let mut ins: Vec<Tensor> = xs[own.clone()].to_vec();
        ins.extend(xs[caps.clone()].iter().cloned());
        replay(g, &ins).unwrap_or_else(poison_outputs)
    })?
    .graph)
}

/// Inside a trace closure: records `e` in the active trace (so `trace` returns it).
pub(crate) fn poison_outputs(e: Error) -> Vec<Tensor> {
    vec![crate::trace::apply_error(
        e,
        AVal::scalar(DType::F32),
        CallSite::here(),
    )]
}

/// `jax.checkpoint` (remat): `f` computes as usual, but under differentiation the backward pass
/// recomputes it (behind an `optimization_barrier`), keeping from the forward pass only the
/// values `policy` saves.
#[track_caller]
pub fn checkpoint<F>(f: F, policy: RematPolicy) -> impl Fn(&[Tensor]) -> Result<Vec<Tensor>>
where
    F: Fn(&[Tensor]) -> Vec<Tensor>,
{
    let site = CallSite::here();
    move |args: &[Tensor]| {
        check_all(args)?;
        let avals: Vec<AVal> = args.iter().map(|t| t.aval()).collect();
        let t = trace(&avals, |xs| f(xs)).map_err(|e| e.with_site(site))?;
        let mut operands = args.to_vec();
        operands.extend(t.captures.iter().cloned());
        let refs: Vec<&Tensor> = operands.iter().collect();
        let outs = apply(
            Op::Call {
                body: Arc::new(t.graph),
                kind: CallKind::Checkpoint(policy.clone()),
            },
            &refs,
            site,
        );
        check_all(&outs)?;
        Ok(outs)
    }
}

/// `jax.custom_vjp`: a function with a user-defined VJP. `f(args) -> outs` is what runs when not
/// differentiated; `fwd(args) -> (outs, residuals)` runs in the forward pass under
/// differentiation, and `bwd(residuals, output cotangents) -> argument cotangents` (each of its
/// argument's type) is traced into the backward pass. Tensors the closures capture get no
/// gradient.
#[track_caller]
pub fn custom_vjp<F, Fw, Bw>(f: F, fwd: Fw, bwd: Bw) -> impl Fn(&[Tensor]) -> Result<Vec<Tensor>>
where
    F: Fn(&[Tensor]) -> Vec<Tensor>,
    Fw: Fn(&[Tensor]) -> (Vec<Tensor>, Vec<Tensor>),
    Bw: Fn(&[Tensor], &[Tensor]) -> Vec<Tensor>,
{
    let site = CallSite::here();
    move |args: &[Tensor]| {
        let r = (|| {
            check_all(args)?;
            let n = args.len();
            let avals: Vec<AVal> = args.iter().map(|t| t.aval()).collect();
            let tf = trace(&avals, |xs| f(xs))?;
            let n_out = tf.graph.outputs.len();
            let n_res = RefCell::new(0usize);
            let tfw = trace(&avals, |xs| {
                let (mut o, r) = fwd(xs);
                *n_res.borrow_mut() = r.len();
                o.extend(r);
                o
            })?;
            let n_res = n_res.into_inner();
            let fw_avals = tfw.graph.out_avals();
            if fw_avals.len() != n_out + n_res || fw_avals[..n_out] != tf.graph.out_avals()[..] {
                return Err(Error::Transform {
                    transform: "custom_vjp".into(),
                    op: "fwd".into(),
                    msg: format!(
                        "fwd must return f's outputs {} first, got {}",
                        crate::error::avals(&tf.graph.out_avals()),
                        crate::error::avals(&fw_avals[..n_out.min(fw_avals.len())])
                    ),
                    site: None,
                });
            }
            let res_avals = fw_avals[n_out..].to_vec();
            let mut bw_in = res_avals.clone();
            bw_in.extend(tf.graph.out_avals());
            let tbw = trace(&bw_in, |xs| bwd(&xs[..n_res], &xs[n_res..]))?;
            if tbw.graph.out_avals() != avals {
                return Err(Error::Transform {
                    transform: "custom_vjp".into(),
                    op: "bwd".into(),
                    msg: format!(
                        "bwd must return one cotangent per argument with its type {}, got {}",
                        crate::error::avals(&avals),
                        crate::error::avals(&tbw.graph.out_avals())
                    ),
                    site: None,
                });
            }
            // Operands: args, then every closure's captures.
            let mut operands = args.to_vec();
            let c0 = operands.len();
            operands.extend(tf.captures.iter().cloned());
            let c1 = operands.len();
            operands.extend(tfw.captures.iter().cloned());
            let c2 = operands.len();
            operands.extend(tbw.captures.iter().cloned());
            let c3 = operands.len();
            let op_avals: Vec<AVal> = operands.iter().map(|t| t.aval()).collect();
            let body = rebase(&tf.graph, &op_avals, 0..n, c0..c1)?;
            let fwd_g = rebase(&tfw.graph, &op_avals, 0..n, c1..c2)?;
            let mut bwd_avals = op_avals.clone();
            bwd_avals.extend(res_avals.iter().cloned());
            bwd_avals.extend(tf.graph.out_avals());
            let nb = bwd_avals.len();
            let bwd_g = rebase(&tbw.graph, &bwd_avals, c3..nb, c2..c3)?;
            let refs: Vec<&Tensor> = operands.iter().collect();
            let outs = apply(
                Op::Call {
                    body: Arc::new(body),
                    kind: CallKind::CustomVjp {
                        fwd: Arc::new(fwd_g),
                        bwd: Arc::new(bwd_g),
                    },
                },
                &refs,
                site,
            );
            check_all(&outs)?;
            Ok(outs)
        })();
        r.map_err(|e: Error| e.with_site(site))
    }
}

/// Dead-code elimination (now in the IR module, [`crate::ir::dce`]); kept here for callers.
pub use crate::ir::dce;
