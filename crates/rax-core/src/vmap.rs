//! `vmap`: vectorising map over a leading batch axis, graph to graph. `f` is traced once on
//! the unbatched types; its graph is replayed with every value either unbatched or carrying the
//! batch as its leading axis, each op rewritten by its family's batching rule (`prim::batch`,
//! one `batch` per family file, next to the op's other rules): elementwise ops broadcast their
//! operands to the batched shape; layout, reduce, dot, sort and fft ops shift their axis
//! parameters by one (dot_general adds a batch dimension). Ops a family does not vectorise
//! (indexing, control flow, most calls) say so in their rule by calling
//! [`Batch::loop_over`]: a loop over the batch (slice, apply, stack) — correct, and still one
//! program, but not vectorised. This module holds the walk and the helpers rules share.
//!
//! Depends on `trace`, `ir`, `prim` (typing and batching rules).

use crate::error::{CallSite, Error, Result};
use crate::ir::{Graph, Op};
use crate::shape::AVal;
use crate::trace::{apply, trace, Tensor};

fn err(msg: impl Into<String>) -> Error {
    Error::Transform {
        transform: "vmap".into(),
        op: "vmap".into(),
        msg: msg.into(),
        site: None,
    }
}

/// Gives `t` (batched or not, of unbatched type `a`) the batched type `[b] + target` by
/// broadcasting (rank-0 operands of elementwise ops broadcast to the full shape).
pub fn to_batched(t: &Tensor, batched: bool, b: usize, target: &[usize]) -> Tensor {
    let mut shape = vec![b];
    shape.extend_from_slice(target);
    let r = t.rank();
    if batched {
        if t.dims() == shape {
            return t.clone();
        }
        // [b] scalar-per-example to [b, target...]
        t.broadcast_in_dim(&shape, &(0..r).collect::<Vec<_>>())
    } else if r == 0 {
        t.broadcast_in_dim(&shape, &[])
    } else {
        t.broadcast_in_dim(&shape, &(1..=r).collect::<Vec<_>>())
    }
}

/// Applies an op in the current context, turning poisoned results into the error.
pub fn apply_checked(op: Op, ins: &[&Tensor]) -> Result<Vec<Tensor>> {
    let outs = apply(op, ins, CallSite::here());
    for o in &outs {
        o.check()?;
    }
    Ok(outs)
}

/// The axis list shifted past the new leading batch axis.
pub fn shift(v: &[usize]) -> Vec<usize> {
    v.iter().map(|a| a + 1).collect()
}

/// What a family's batching rule (`prim::batch`) gets: the operands, each with whether its
/// leading axis is the batch, the batch size, and the unbatched operand and result types.
/// A rule returns the op's results batched along axis 0.
pub struct Batch<'a> {
    /// The operands and whether each carries the batch as its leading axis.
    pub ins: &'a [(Tensor, bool)],
    /// The batch size.
    pub size: usize,
    /// The operands' types without the batch axis.
    pub un: Vec<AVal>,
    /// The results' types without the batch axis (the op's typing rule on `un`).
    pub out_un: Vec<AVal>,
}

impl Batch<'_> {
    /// Operand `i` (batched or not, as given).
    pub fn arg(&self, i: usize) -> Result<&Tensor> {
        self.ins.get(i).map(|(t, _)| t).ok_or_else(|| {
            Error::internal(format!(
                "vmap: batching rule reads operand {i} of {}",
                self.ins.len()
            ))
        })
    }

    /// Whether operand `i` is batched.
    pub fn is_batched(&self, i: usize) -> bool {
        self.ins.get(i).is_some_and(|(_, b)| *b)
    }

    /// Every operand with the batch as its leading axis (unbatched ones broadcast).
    pub fn all_batched(&self) -> Vec<Tensor> {
        self.ins
            .iter()
            .zip(&self.un)
            .map(|((t, bt), a)| to_batched(t, *bt, self.size, a.dims()))
            .collect()
    }

    /// The fallback for an op without a vectorised rule: the op applied to each example,
    /// results stacked — correct, and still one program, but not vectorised. A family calls
    /// it by name for each op it does not vectorise, so the choice is visible.
    pub fn loop_over(&self, op: &Op) -> Result<Vec<Tensor>> {
        let mut per: Vec<Vec<Tensor>> = Vec::new();
        for i in 0..self.size {
            let args: Vec<Tensor> = self
                .ins
                .iter()
                .map(|(t, bt)| {
                    if *bt {
                        let d = t.dims();
                        let mut start = vec![0; d.len()];
                        start[0] = i;
                        let mut limit = d.clone();
                        limit[0] = i + 1;
                        t.slice(&start, &limit, &vec![1; d.len()]).reshape(&d[1..])
                    } else {
                        t.clone()
                    }
                })
                .collect();
            let refs: Vec<&Tensor> = args.iter().collect();
            per.push(apply_checked(op.clone(), &refs)?);
        }
        let n = per.first().map(|v| v.len()).unwrap_or(0);
        Ok((0..n)
            .map(|j| {
                let parts: Vec<Tensor> = per.iter().map(|v| v[j].expand_dims(0)).collect();
                Tensor::concat(&parts, 0)
            })
            .collect())
    }
}

/// Applies `op` to (tensor, batched) operands; returns (results, batched). With no batched
/// operand the op applies as is; otherwise its family's batching rule (`prim::batch`) runs.
fn batch_op(op: &Op, ins: &[(Tensor, bool)], b: usize) -> Result<(Vec<Tensor>, bool)> {
    if !ins.iter().any(|(_, bt)| *bt) {
        let refs: Vec<&Tensor> = ins.iter().map(|(t, _)| t).collect();
        return Ok((apply_checked(op.clone(), &refs)?, false));
    }
    // Unbatched types of the operands (for the rule).
    let un: Vec<AVal> = ins
        .iter()
        .map(|(t, bt)| {
            let a = t.aval();
            if *bt {
                AVal::new(a.dims()[1..].to_vec(), a.dtype)
            } else {
                a
            }
        })
        .collect();
    let out_un = crate::prim::rule(op, &un)?;
    let bx = Batch {
        ins,
        size: b,
        un,
        out_un,
    };
    Ok((crate::prim::batch(op, &bx)?, true))
}

fn batch_graph(g: &Graph, inputs: &[(Tensor, bool)], b: usize) -> Result<Vec<(Tensor, bool)>> {
    let mut env: Vec<Option<(Tensor, bool)>> = vec![None; g.avals.len()];
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
                    .ok_or_else(|| err(format!("v{} undefined", v.0)))
            })
            .collect::<Result<Vec<_>>>()?;
        let (outs, bt) = batch_op(&node.op, &ins, b).map_err(|e| match node.site {
            Some(s) => e.with_site(s),
            None => e,
        })?;
        for (v, o) in node.outputs.iter().zip(outs) {
            env[v.index()] = Some((o, bt));
        }
    }
    g.outputs
        .iter()
        .map(|v| {
            env[v.index()]
                .clone()
                .ok_or_else(|| err(format!("output v{} undefined", v.0)))
        })
        .collect()
}

/// `jax.vmap(f, in_axes)(args)` with outputs batched along axis 0. `in_axes[i]` is the batch
/// axis of argument `i`, or `None` for an argument shared by all examples. Every batched
/// argument must have the same batch size.
#[track_caller]
pub fn vmap<F>(f: F, in_axes: &[Option<usize>]) -> impl Fn(&[Tensor]) -> Result<Vec<Tensor>>
where
    F: Fn(&[Tensor]) -> Vec<Tensor>,
{
    let site = CallSite::here();
    let in_axes = in_axes.to_vec();
    move |args: &[Tensor]| {
        let r = (|| {
            if args.len() != in_axes.len() {
                return Err(err(format!(
                    "{} in_axes for {} arguments",
                    in_axes.len(),
                    args.len()
                )));
            }
            let mut b: Option<usize> = None;
            let mut moved = Vec::new();
            let mut un = Vec::new();
            for (t, ax) in args.iter().zip(&in_axes) {
                t.check()?;
                match ax {
                    Some(a) => {
                        let d = t.dims();
                        let n = *d.get(*a).ok_or_else(|| {
                            err(format!("in_axis {a} is out of range for {}", t.aval()))
                        })?;
                        if b.is_some_and(|b| b != n) {
                            return Err(err(format!(
                                "batch sizes differ: {} vs {n}",
                                b.unwrap_or(0)
                            )));
                        }
                        b = Some(n);
                        let m = if *a == 0 {
                            t.clone()
                        } else {
                            t.moveaxis(*a, 0)
                        };
                        un.push(AVal::new(m.dims()[1..].to_vec(), t.dtype()));
                        moved.push((m, true));
                    }
                    None => {
                        un.push(t.aval());
                        moved.push((t.clone(), false));
                    }
                }
            }
            let b = b.ok_or_else(|| err("no argument is batched"))?;
            let tr = trace(&un, |xs| f(xs))?;
            let mut inputs = moved;
            inputs.extend(tr.captures.iter().map(|c| (c.clone(), false)));
            let outs = batch_graph(&tr.graph, &inputs, b)?;
            let res: Vec<Tensor> = outs
                .into_iter()
                .map(|(t, bt)| {
                    if bt {
                        t
                    } else {
                        let d = t.dims();
                        to_batched(&t, false, b, &d)
                    }
                })
                .collect();
            for t in &res {
                t.check()?;
            }
            Ok(res)
        })();
        r.map_err(|e: Error| e.with_site(site))
    }
}
