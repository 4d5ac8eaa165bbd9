//! `vmap`: vectorising map over a leading batch axis, graph to graph. `f` is traced once on
//! the unbatched types; its graph is replayed with every value either unbatched or carrying the
//! batch as its leading axis, each op rewritten by a batching rule: elementwise ops broadcast
//! their operands to the batched shape; layout, reduce, dot, sort and fft ops shift their axis
//! parameters by one (dot_general adds a batch dimension). Ops without a rule (indexing,
//! control flow, calls) fall back to a loop over the batch (slice, apply, stack) — correct, and
//! still one program, but not vectorised.
//!
//! Depends on `trace`, `ir`, `prim` (typing rules).

use crate::error::{CallSite, Error, Result};
use crate::ir::{CallKind, DotDims, Graph, Op};
use crate::shape::{AVal, Shape};
use crate::trace::{apply, trace, Tensor};

fn err(msg: impl Into<String>) -> Error {
    Error::Transform {
        transform: "vmap".into(),
        op: "vmap".into(),
        msg: msg.into(),
        site: None,
    }
}

fn shift(v: &[usize]) -> Vec<usize> {
    v.iter().map(|a| a + 1).collect()
}

/// Gives `t` (batched or not, of unbatched type `a`) the batched type `[b] + target` by
/// broadcasting (rank-0 operands of elementwise ops broadcast to the full shape).
fn to_batched(t: &Tensor, batched: bool, b: usize, target: &[usize]) -> Tensor {
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

fn one(op: Op, ins: &[&Tensor]) -> Result<Vec<Tensor>> {
    let outs = apply(op, ins, CallSite::here());
    for o in &outs {
        o.check()?;
    }
    Ok(outs)
}

/// Applies `op` to (tensor, batched) operands; returns (results, batched).
fn batch_op(op: &Op, ins: &[(Tensor, bool)], b: usize) -> Result<(Vec<Tensor>, bool)> {
    if !ins.iter().any(|(_, bt)| *bt) {
        let refs: Vec<&Tensor> = ins.iter().map(|(t, _)| t).collect();
        return Ok((one(op.clone(), &refs)?, false));
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
    let all_batched = |ins: &[(Tensor, bool)], dims: &[Vec<usize>]| -> Vec<Tensor> {
        ins.iter()
            .zip(dims)
            .map(|((t, bt), d)| to_batched(t, *bt, b, d))
            .collect()
    };
    let same_dims: Vec<Vec<usize>> = un.iter().map(|a| a.dims().to_vec()).collect();
    let r = match op {
        Op::Unary(_) | Op::Convert(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Clamp => {
            let target = out_un[0].dims().to_vec();
            let ts: Vec<Tensor> = ins
                .iter()
                .zip(&un)
                .map(|((t, bt), a)| {
                    if a.rank() == 0 && !target.is_empty() && !*bt {
                        t.clone() // unbatched scalar bounds/preds stay scalars
                    } else {
                        to_batched(t, *bt, b, &target)
                    }
                })
                .collect();
            let refs: Vec<&Tensor> = ts.iter().collect();
            one(op.clone(), &refs)?
        }
        Op::BroadcastInDim { shape, dims } => {
            let mut s = vec![b];
            s.extend_from_slice(shape.dims());
            let mut d = vec![0];
            d.extend(shift(dims));
            one(
                Op::BroadcastInDim {
                    shape: Shape::new(s),
                    dims: d,
                },
                &[&ins[0].0],
            )?
        }
        Op::Reshape(shape) => {
            let mut s = vec![b];
            s.extend_from_slice(shape.dims());
            one(Op::Reshape(Shape::new(s)), &[&ins[0].0])?
        }
        Op::Transpose(perm) => {
            let mut p = vec![0];
            p.extend(shift(perm));
            one(Op::Transpose(p), &[&ins[0].0])?
        }
        Op::Reduce { kind, axes } => one(
            Op::Reduce {
                kind: *kind,
                axes: shift(axes),
            },
            &[&ins[0].0],
        )?,
        Op::ArgReduce {
            is_max,
            axis,
            index_dtype,
        } => one(
            Op::ArgReduce {
                is_max: *is_max,
                axis: axis + 1,
                index_dtype: *index_dtype,
            },
            &[&ins[0].0],
        )?,
        Op::Cumulative {
            kind,
            axis,
            reverse,
        } => one(
            Op::Cumulative {
                kind: *kind,
                axis: axis + 1,
                reverse: *reverse,
            },
            &[&ins[0].0],
        )?,
        Op::Slice {
            start,
            limit,
            strides,
        } => {
            let mut s = vec![0];
            s.extend_from_slice(start);
            let mut l = vec![b];
            l.extend_from_slice(limit);
            let mut st = vec![1];
            st.extend_from_slice(strides);
            one(
                Op::Slice {
                    start: s,
                    limit: l,
                    strides: st,
                },
                &[&ins[0].0],
            )?
        }
        Op::Reverse { axes } => one(Op::Reverse { axes: shift(axes) }, &[&ins[0].0])?,
        Op::Pad { lo, hi, interior } if !ins[1].1 => {
            let x = to_batched(&ins[0].0, ins[0].1, b, &same_dims[0]);
            let mut l = vec![0];
            l.extend_from_slice(lo);
            let mut h = vec![0];
            h.extend_from_slice(hi);
            let mut i = vec![0];
            i.extend_from_slice(interior);
            one(
                Op::Pad {
                    lo: l,
                    hi: h,
                    interior: i,
                },
                &[&x, &ins[1].0],
            )?
        }
        Op::Concatenate { axis } => {
            let ts = all_batched(ins, &same_dims);
            let refs: Vec<&Tensor> = ts.iter().collect();
            one(Op::Concatenate { axis: axis + 1 }, &refs)?
        }
        Op::Sort {
            axis,
            descending,
            num_keys,
        } => {
            let ts = all_batched(ins, &same_dims);
            let refs: Vec<&Tensor> = ts.iter().collect();
            one(
                Op::Sort {
                    axis: axis + 1,
                    descending: *descending,
                    num_keys: *num_keys,
                },
                &refs,
            )?
        }
        Op::TopK { .. } | Op::Fft { .. } => one(op.clone(), &[&ins[0].0])?,
        Op::DotGeneral {
            dims,
            precision,
            out,
        } => {
            let ts = all_batched(ins, &same_dims);
            let mut lb = vec![0];
            lb.extend(shift(&dims.lhs_batch));
            let mut rb = vec![0];
            rb.extend(shift(&dims.rhs_batch));
            let nd = DotDims {
                lhs_batch: lb,
                rhs_batch: rb,
                lhs_contract: shift(&dims.lhs_contract),
                rhs_contract: shift(&dims.rhs_contract),
            };
            one(
                Op::DotGeneral {
                    dims: nd,
                    precision: *precision,
                    out: *out,
                },
                &[&ts[0], &ts[1]],
            )?
        }
        // Identity calls (no gradient / a remat name) batch as themselves.
        Op::Call {
            kind: CallKind::StopGradient,
            ..
        } if ins.len() == 1 => vec![crate::autodiff::stop_gradient(&ins[0].0)],
        Op::Call {
            kind: CallKind::Name(name),
            ..
        } if ins.len() == 1 => vec![crate::autodiff::checkpoint_name(&ins[0].0, name)],
        _ => return loop_fallback(op, ins, b),
    };
    Ok((r, true))
}

/// The fallback batching rule: the op applied to each example, results stacked.
fn loop_fallback(op: &Op, ins: &[(Tensor, bool)], b: usize) -> Result<(Vec<Tensor>, bool)> {
    let mut per: Vec<Vec<Tensor>> = Vec::new();
    for i in 0..b {
        let args: Vec<Tensor> = ins
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
        per.push(one(op.clone(), &refs)?);
    }
    let n = per.first().map(|v| v.len()).unwrap_or(0);
    let outs = (0..n)
        .map(|j| {
            let parts: Vec<Tensor> = per.iter().map(|v| v[j].expand_dims(0)).collect();
            Tensor::concat(&parts, 0)
        })
        .collect();
    Ok((outs, true))
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
