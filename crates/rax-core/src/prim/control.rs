//! Control-flow primitives: `while`, `cond` (an indexed case), `scan` and
//! `optimization_barrier` — each a single IR op holding traced sub-graphs, with its typing rule,
//! StableHLO lowering, interpreter kernel and the free functions users call (`while_loop`,
//! `cond`, `switch`, `scan`, `optimization_barrier`).
//!
//! Sub-graphs are traced with [`crate::trace::trace`]. Tensors a body closes over from an
//! enclosing trace come back as captures and become extra operands: for `while` they join the
//! carry as loop-invariant values passed through unchanged; for `cond` the captures of all
//! branches are unioned and appended to every branch's inputs (a branch ignores the ones it does
//! not use); for `scan` they are the loop-invariant consts. Lowerings follow what jax 0.10.2
//! prints: `lax.cond` converts the predicate to i32 and emits `stablehlo.case` with the false
//! branch first; `lax.switch` clamps the index; `lax.scan` is a `stablehlo.while` over
//! `(i, carry..., ys..., xs..., consts...)` with `dynamic_slice`/`dynamic_update_slice`.
//!
//! Depends on `ir`, `trace`, `interp` (kernels evaluate sub-graphs), `lower` and `elementwise`
//! (compare lowering, convert/clamp user ops).

use crate::autodiff::{check_all, poison_outputs, rebase, replay, vjp_graph, zeros, zeros_like};
use crate::dtype::DType;
use crate::error::{avals, CallSite, Error, Result};
use crate::ir::{CmpDir, Graph, Op, Value};
use crate::literal::Literal;
use crate::lower::{i64_array, LowerCtx, V};
use crate::shape::AVal;
use crate::trace::{apply, apply_error, trace, Tensor};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

fn while_rule(cond: &Graph, body: &Graph, ins: &[AVal]) -> Result<Vec<AVal>> {
    let op = "while";
    let cin = cond.in_avals();
    if cin != ins {
        return Err(Error::arg(
            op,
            format!("cond takes {} but the carry is {}", avals(&cin), avals(ins)),
        ));
    }
    let cout = cond.out_avals();
    if cout.len() != 1 || cout[0] != AVal::scalar(DType::Bool) {
        return Err(Error::arg(
            op,
            format!("cond must return one bool scalar, got {}", avals(&cout)),
        ));
    }
    let bin = body.in_avals();
    if bin != ins {
        return Err(Error::arg(
            op,
            format!("body takes {} but the carry is {}", avals(&bin), avals(ins)),
        ));
    }
    let bout = body.out_avals();
    check_carry(op, "body", &bout, ins)?;
    Ok(ins.to_vec())
}

/// Checks that a body's carry outputs have the carry's types, naming the first mismatch.
fn check_carry(op: &str, what: &str, outs: &[AVal], carry: &[AVal]) -> Result<()> {
    if outs.len() < carry.len() {
        return Err(Error::arg(
            op,
            format!(
                "{what} returns {} values but the carry has {}",
                outs.len(),
                carry.len()
            ),
        ));
    }
    for (i, (o, c)) in outs.iter().zip(carry).enumerate() {
        if o != c {
            return Err(Error::arg(
                op,
                format!("{what} output {i} is {o} but carry element {i} is {c}"),
            ));
        }
    }
    Ok(())
}

fn cond_rule(branches: &[Arc<Graph>], ins: &[AVal]) -> Result<Vec<AVal>> {
    let op = "cond";
    let Some((idx, operands)) = ins.split_first() else {
        return Err(Error::arg(op, "takes an index operand first, got none"));
    };
    if *idx != AVal::scalar(DType::I32) {
        return Err(Error::arg(
            op,
            format!("the branch index must be an i32 scalar, got {idx}"),
        ));
    }
    let Some(first) = branches.first() else {
        return Err(Error::arg(op, "needs at least one branch"));
    };
    let out0 = first.out_avals();
    for (i, b) in branches.iter().enumerate() {
        let bin = b.in_avals();
        if bin != operands {
            return Err(Error::arg(
                op,
                format!(
                    "branch {i} takes {} but the operands are {}",
                    avals(&bin),
                    avals(operands)
                ),
            ));
        }
        let bout = b.out_avals();
        if bout != out0 {
            return Err(Error::arg(
                op,
                format!(
                    "branch {i} returns {} but branch 0 returns {}",
                    avals(&bout),
                    avals(&out0)
                ),
            ));
        }
    }
    Ok(out0)
}

/// The type of one slice of a stacked operand (the leading axis removed).
fn slice_aval(a: &AVal) -> AVal {
    AVal::new(a.dims().get(1..).unwrap_or(&[]).to_vec(), a.dtype)
}

/// The type of `length` stacked slices.
fn stacked_aval(a: &AVal, length: usize) -> AVal {
    let mut d = vec![length];
    d.extend_from_slice(a.dims());
    AVal::new(d, a.dtype)
}

fn scan_rule(
    body: &Graph,
    length: usize,
    num_carry: usize,
    num_consts: usize,
    ins: &[AVal],
) -> Result<Vec<AVal>> {
    let op = "scan";
    if num_carry + num_consts > ins.len() {
        return Err(Error::arg(
            op,
            format!(
                "{num_carry} carry values and {num_consts} consts but only {} operands",
                ins.len()
            ),
        ));
    }
    let nx = ins.len() - num_carry - num_consts;
    let carry = &ins[..num_carry];
    let xs = &ins[num_carry..num_carry + nx];
    let consts = &ins[num_carry + nx..];
    for (i, x) in xs.iter().enumerate() {
        if x.rank() == 0 {
            return Err(Error::arg(
                op,
                format!("xs {i} is a scalar {x}; scanned operands need a leading axis"),
            ));
        }
        if x.dims()[0] != length {
            return Err(Error::arg(
                op,
                format!(
                    "xs {i} ({x}) has leading length {} but the scan length is {length}",
                    x.dims()[0]
                ),
            ));
        }
    }
    let mut want: Vec<AVal> = carry.to_vec();
    want.extend(xs.iter().map(slice_aval));
    want.extend_from_slice(consts);
    let bin = body.in_avals();
    if bin != want {
        return Err(Error::arg(
            op,
            format!(
                "body takes {} but (carry, x slices, consts) are {}",
                avals(&bin),
                avals(&want)
            ),
        ));
    }
    let bout = body.out_avals();
    check_carry(op, "body", &bout, carry)?;
    let mut out = carry.to_vec();
    out.extend(bout[num_carry..].iter().map(|a| stacked_aval(a, length)));
    Ok(out)
}

/// The typing rule of the control family.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    match op {
        Op::While { cond, body } => while_rule(cond, body, ins),
        Op::Cond { branches } => cond_rule(branches, ins),
        Op::Scan {
            body,
            length,
            num_carry,
            num_consts,
            ..
        } => scan_rule(body, *length, *num_carry, *num_consts, ins),
        Op::OptimizationBarrier => Ok(ins.to_vec()),
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

fn lower_scan(
    cx: &mut LowerCtx,
    body: &Graph,
    length: usize,
    reverse: bool,
    (nc, nk): (usize, usize),
    ins: &[V],
    outs: &[AVal],
) -> Result<Vec<V>> {
    let nx = ins.len() - nc - nk;
    let ny = outs.len() - nc;
    let i32s = AVal::scalar(DType::I32);
    let i0 = cx.splat(0.0, &i32s);
    let ys_init: Vec<V> = outs[nc..].iter().map(|a| cx.splat(0.0, a)).collect();
    if length == 0 {
        // No iteration: the carry passes through and the stacked outputs are empty. (A loop
        // whose body slices an empty xs is rejected by XLA's verifier.)
        let mut res: Vec<V> = ins[..nc].to_vec();
        res.extend(ys_init);
        return Ok(res);
    }
    let mut state: Vec<&V> = vec![&i0];
    state.extend(&ins[..nc]);
    state.extend(&ys_init);
    state.extend(&ins[nc..]);
    let state_avals: Vec<AVal> = state.iter().map(|v| v.aval.clone()).collect();
    let cond_r = cx.region(&state_avals, |cx, a| {
        let n = cx.splat(length as f64, &i32s);
        Ok(vec![super::elementwise::lower_compare(
            cx,
            CmpDir::Lt,
            &a[0],
            &n,
        )])
    })?;
    let body_r = cx.region(&state_avals, |cx, a| {
        let i = &a[0];
        let carry = &a[1..1 + nc];
        let ys = &a[1 + nc..1 + nc + ny];
        let xs = &a[1 + nc + ny..1 + nc + ny + nx];
        let consts = &a[1 + nc + ny + nx..];
        let idx = if reverse {
            let last = cx.splat(length as f64 - 1.0, &i32s);
            cx.op1("stablehlo.subtract", &[&last, i], "", i32s.clone())
        } else {
            i.clone()
        };
        let needs_zero =
            xs.iter().any(|x| x.aval.rank() > 1) || outs[nc..].iter().any(|y| y.rank() > 1);
        let zero = if needs_zero {
            Some(cx.splat(0.0, &i32s))
        } else {
            None
        };
        let starts = |r: usize| -> Vec<&V> {
            let mut s = vec![&idx];
            if let Some(z) = &zero {
                s.extend(std::iter::repeat_n(z, r.saturating_sub(1)));
            }
            s
        };
        let mut args: Vec<V> = carry.to_vec();
        for x in xs {
            let mut sizes = x.aval.dims().to_vec();
            sizes[0] = 1;
            let mut operands = vec![x];
            operands.extend(starts(x.aval.rank()));
            let sl = cx.op1(
                "stablehlo.dynamic_slice",
                &operands,
                &format!("slice_sizes = {}", i64_array(&sizes)),
                AVal::new(sizes.clone(), x.aval.dtype),
            );
            let r = cx.op1("stablehlo.reshape", &[&sl], "", slice_aval(&x.aval));
            args.push(r);
        }
        args.extend(consts.iter().cloned());
        let res = cx.inline_graph(body, &args)?;
        let one = cx.splat(1.0, &i32s);
        let next = cx.op1("stablehlo.add", &[i, &one], "", i32s.clone());
        let mut ret = vec![next];
        ret.extend(res[..nc].iter().cloned());
        for (acc, y) in ys.iter().zip(&res[nc..]) {
            let mut d1 = vec![1];
            d1.extend_from_slice(y.aval.dims());
            let y1 = cx.op1("stablehlo.reshape", &[y], "", AVal::new(d1, y.aval.dtype));
            let mut operands = vec![acc, &y1];
            operands.extend(starts(acc.aval.rank()));
            let upd = cx.op1(
                "stablehlo.dynamic_update_slice",
                &operands,
                "",
                acc.aval.clone(),
            );
            ret.push(upd);
        }
        ret.extend(xs.iter().cloned());
        ret.extend(consts.iter().cloned());
        Ok(ret)
    })?;
    let res = cx.op_with_regions(
        "stablehlo.while",
        &state,
        &[cond_r, body_r],
        "",
        &state_avals,
    );
    Ok(res[1..1 + nc + ny].to_vec())
}

/// The lowering of the control family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    let refs: Vec<&V> = ins.iter().collect();
    match op {
        Op::While { cond, body } => {
            let c = cx.graph_region(cond)?;
            let b = cx.graph_region(body)?;
            Ok(cx.op_with_regions("stablehlo.while", &refs, &[c, b], "", outs))
        }
        Op::Cond { branches } => {
            let (idx, operands) = ins.split_first().ok_or_else(|| super::unreachable_op(op))?;
            let regions = branches
                .iter()
                .map(|g| cx.region(&[], |cx, _| cx.inline_graph(g, operands)))
                .collect::<Result<Vec<String>>>()?;
            Ok(cx.op_with_regions("stablehlo.case", &[idx], &regions, "", outs))
        }
        Op::Scan {
            body,
            length,
            reverse,
            num_carry,
            num_consts,
        } => lower_scan(
            cx,
            body,
            *length,
            *reverse,
            (*num_carry, *num_consts),
            ins,
            outs,
        ),
        Op::OptimizationBarrier => {
            if ins.is_empty() {
                return Ok(vec![]);
            }
            Ok(cx.op("stablehlo.optimization_barrier", &refs, "", outs))
        }
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

fn truthy(l: &Literal) -> Result<bool> {
    match l.as_slice::<bool>()? {
        [b] => Ok(*b),
        _ => Err(Error::internal("while: cond did not return a bool scalar")),
    }
}

fn eval_while(cond: &Graph, body: &Graph, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let mut carry: Vec<Arc<Literal>> = ins.iter().map(|l| Arc::new((*l).clone())).collect();
    let budget = crate::limits::while_budget();
    let mut iterations: u64 = 0;
    loop {
        if budget != 0 && iterations >= budget {
            return Err(Error::arg(
                "while",
                format!(
                    "the loop ran {iterations} iterations without its condition turning false, \
                     the interpreter's budget (set RAX_WHILE_BUDGET or \
                     rax_core::limits::set_while_budget; 0 = unlimited)"
                ),
            ));
        }
        iterations += 1;
        let c = crate::interp::eval_graph_arc(cond, &carry)?;
        let go = match c.first() {
            Some(l) => truthy(l)?,
            None => false,
        };
        if !go {
            break;
        }
        carry = crate::interp::eval_graph_arc(body, &carry)?
            .into_iter()
            .map(Arc::new)
            .collect();
    }
    Ok(carry
        .into_iter()
        .map(|l| Arc::try_unwrap(l).unwrap_or_else(|a| (*a).clone()))
        .collect())
}

fn eval_cond(branches: &[Arc<Graph>], ins: &[&Literal]) -> Result<Vec<Literal>> {
    let (idx, operands) = ins
        .split_first()
        .ok_or_else(|| Error::internal("cond: missing index"))?;
    let i = match idx.as_slice::<i32>()? {
        [i] => *i,
        _ => return Err(Error::internal("cond: index is not a scalar")),
    };
    // stablehlo.case: an out-of-range index runs the last branch.
    let n = branches.len();
    let k = if i < 0 || i as usize >= n {
        n.saturating_sub(1)
    } else {
        i as usize
    };
    let g = branches
        .get(k)
        .ok_or_else(|| Error::internal("cond: no branches"))?;
    crate::interp::eval_graph(g, operands)
}

fn eval_scan(
    body: &Graph,
    length: usize,
    reverse: bool,
    (nc, nk): (usize, usize),
    ins: &[&Literal],
) -> Result<Vec<Literal>> {
    let nx = ins.len() - nc - nk;
    let mut carry: Vec<Arc<Literal>> = ins[..nc].iter().map(|l| Arc::new((*l).clone())).collect();
    let xs = &ins[nc..nc + nx];
    let consts: Vec<Arc<Literal>> = ins[nc + nx..]
        .iter()
        .map(|l| Arc::new((*l).clone()))
        .collect();
    let x_bytes: Vec<Vec<u8>> = xs.iter().map(|x| x.to_bytes()).collect();
    let x_slices: Vec<AVal> = xs.iter().map(|x| slice_aval(&x.aval())).collect();
    let y_avals: Vec<AVal> = body.out_avals().get(nc..).unwrap_or(&[]).to_vec();
    let mut y_bytes: Vec<Vec<u8>> = y_avals
        .iter()
        .map(|a| vec![0u8; length * a.shape.numel() * a.dtype.size_bytes()])
        .collect();
    for step in 0..length {
        let idx = if reverse { length - 1 - step } else { step };
        let mut args = carry.clone();
        for (b, a) in x_bytes.iter().zip(&x_slices) {
            let sz = b.len() / length;
            args.push(Arc::new(Literal::from_bytes(
                a,
                &b[idx * sz..(idx + 1) * sz],
            )?));
        }
        args.extend(consts.iter().cloned());
        let mut outs = crate::interp::eval_graph_arc(body, &args)?;
        let ys = outs.split_off(nc.min(outs.len()));
        carry = outs.into_iter().map(Arc::new).collect();
        for (acc, y) in y_bytes.iter_mut().zip(ys) {
            let b = y.to_bytes();
            let sz = b.len();
            acc[idx * sz..(idx + 1) * sz].copy_from_slice(&b);
        }
    }
    let mut out: Vec<Literal> = carry
        .into_iter()
        .map(|l| Arc::try_unwrap(l).unwrap_or_else(|a| (*a).clone()))
        .collect();
    for (a, b) in y_avals.iter().zip(y_bytes) {
        out.push(Literal::from_bytes(&stacked_aval(a, length), &b)?);
    }
    Ok(out)
}

/// The interpreter kernels of the control family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let in_avals: Vec<AVal> = ins.iter().map(|l| l.aval()).collect();
    rule(op, &in_avals)?;
    match op {
        Op::While { cond, body } => eval_while(cond, body, ins),
        Op::Cond { branches } => eval_cond(branches, ins),
        Op::Scan {
            body,
            length,
            reverse,
            num_carry,
            num_consts,
        } => eval_scan(body, *length, *reverse, (*num_carry, *num_consts), ins),
        Op::OptimizationBarrier => Ok(ins.iter().map(|l| (*l).clone()).collect()),
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Sub-graph plumbing: capture union and input padding
// ---------------------------------------------------------------------------------------------

/// Unions the captures of several traces (deduplicating the same outer value); returns the
/// union and, per trace, the union slot of each of its captures.
fn union_captures(lists: &[&[Tensor]]) -> (Vec<Tensor>, Vec<Vec<usize>>) {
    let mut all: Vec<Tensor> = Vec::new();
    let mut slots = Vec::with_capacity(lists.len());
    for list in lists {
        let mut s = Vec::with_capacity(list.len());
        for t in *list {
            let pos = all.iter().position(|u| {
                u.same(t) || (u.traced_value().is_some() && u.traced_value() == t.traced_value())
            });
            match pos {
                Some(p) => s.push(p),
                None => {
                    all.push(t.clone());
                    s.push(all.len() - 1);
                }
            }
        }
        slots.push(s);
    }
    (all, slots)
}

/// Rewrites a traced graph's inputs as `fixed inputs ++ one per union capture`, binding its
/// own captures to their slots and adding unused inputs for the others.
fn pad_inputs(mut g: Graph, n_fixed: usize, own_slots: &[usize], union: &[AVal]) -> Graph {
    let own: Vec<Value> = g.inputs.get(n_fixed..).unwrap_or(&[]).to_vec();
    let mut slots: Vec<Option<Value>> = vec![None; union.len()];
    for (v, &s) in own.iter().zip(own_slots) {
        if let Some(slot) = slots.get_mut(s) {
            *slot = Some(*v);
        }
    }
    let mut inputs: Vec<Value> = g.inputs.iter().take(n_fixed).copied().collect();
    for (s, a) in slots.into_iter().zip(union) {
        let v = match s {
            Some(v) => v,
            None => g.new_value(a.clone()),
        };
        inputs.push(v);
    }
    g.inputs = inputs;
    g
}

fn first_error(ts: &[Tensor]) -> Option<Error> {
    ts.iter().find_map(|t| t.error().cloned())
}

fn poisoned(e: &Error, avals_: &[AVal], site: CallSite) -> Vec<Tensor> {
    avals_
        .iter()
        .map(|a| apply_error(e.clone(), a.clone(), site))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// User API
// ---------------------------------------------------------------------------------------------

fn build_while(
    init: &[Tensor],
    cond: impl FnOnce(&[Tensor]) -> Tensor,
    body: impl FnOnce(&[Tensor]) -> Vec<Tensor>,
) -> Result<(Op, Vec<Tensor>)> {
    if let Some(e) = first_error(init) {
        return Err(e);
    }
    let carry: Vec<AVal> = init.iter().map(|t| t.aval()).collect();
    let tc = trace(&carry, |a| vec![cond(a)])?;
    let cout = tc.graph.out_avals();
    if cout.len() != 1 || cout[0] != AVal::scalar(DType::Bool) {
        return Err(Error::arg(
            "while",
            format!("cond must return one bool scalar, got {}", avals(&cout)),
        ));
    }
    let tb = trace(&carry, body)?;
    let bout = tb.graph.out_avals();
    if bout.len() != carry.len() {
        return Err(Error::arg(
            "while",
            format!(
                "body returns {} values but the carry has {}",
                bout.len(),
                carry.len()
            ),
        ));
    }
    check_carry("while", "body", &bout, &carry)?;
    let n = init.len();
    let (caps, slots) = union_captures(&[&tc.captures, &tb.captures]);
    let cap_avals: Vec<AVal> = caps.iter().map(|t| t.aval()).collect();
    let cond_g = pad_inputs(tc.graph, n, &slots[0], &cap_avals);
    let mut body_g = pad_inputs(tb.graph, n, &slots[1], &cap_avals);
    let pass: Vec<Value> = body_g.inputs[n..].to_vec();
    body_g.outputs.extend(pass);
    let mut operands = init.to_vec();
    operands.extend(caps);
    Ok((
        Op::While {
            cond: Arc::new(cond_g),
            body: Arc::new(body_g),
        },
        operands,
    ))
}

/// `while cond(carry) { carry = body(carry) }`: returns the final carry. `cond` must return a
/// bool scalar and `body` values of the carry's types. Outer tensors the closures use become
/// loop-invariant operands. Errors come back as poisoned results carrying the call site.
#[track_caller]
pub fn while_loop(
    init: &[Tensor],
    cond: impl FnOnce(&[Tensor]) -> Tensor,
    body: impl FnOnce(&[Tensor]) -> Vec<Tensor>,
) -> Vec<Tensor> {
    let site = CallSite::here();
    let carry: Vec<AVal> = init.iter().map(|t| t.aval()).collect();
    match build_while(init, cond, body) {
        Ok((op, operands)) => {
            let refs: Vec<&Tensor> = operands.iter().collect();
            let mut outs = apply(op, &refs, site);
            outs.truncate(init.len());
            outs
        }
        Err(e) => poisoned(&e, &carry, site),
    }
}

/// A branch of [`switch`]: a boxed closure from operands to results.
pub type Branch<'a> = Box<dyn FnOnce(&[Tensor]) -> Vec<Tensor> + 'a>;

/// Traces the branches on the operands' types, unions their captures and checks that they
/// return identical types; returns the op and its operands after the index.
fn build_cond(
    branches: Vec<Branch<'_>>,
    names: &[String],
    operands: &[Tensor],
) -> Result<(Op, Vec<Tensor>)> {
    if let Some(e) = first_error(operands) {
        return Err(e);
    }
    if branches.is_empty() {
        return Err(Error::arg("switch", "needs at least one branch"));
    }
    let in_avals: Vec<AVal> = operands.iter().map(|t| t.aval()).collect();
    let mut traced = Vec::with_capacity(branches.len());
    for b in branches {
        traced.push(trace(&in_avals, b)?);
    }
    let out0 = traced[0].graph.out_avals();
    for (i, t) in traced.iter().enumerate().skip(1) {
        let o = t.graph.out_avals();
        if o != out0 {
            let name = |k: usize| {
                names
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| format!("branch {k}"))
            };
            return Err(Error::arg(
                "cond",
                format!(
                    "{} returns {} but {} returns {}; branches must return identical types",
                    name(i),
                    avals(&o),
                    name(0),
                    avals(&out0)
                ),
            ));
        }
    }
    let cap_lists: Vec<&[Tensor]> = traced.iter().map(|t| t.captures.as_slice()).collect();
    let (caps, slots) = union_captures(&cap_lists);
    let cap_avals: Vec<AVal> = caps.iter().map(|t| t.aval()).collect();
    let n = operands.len();
    let graphs: Vec<Arc<Graph>> = traced
        .into_iter()
        .zip(&slots)
        .map(|(t, s)| Arc::new(pad_inputs(t.graph, n, s, &cap_avals)))
        .collect();
    let mut ops = operands.to_vec();
    ops.extend(caps);
    Ok((Op::Cond { branches: graphs }, ops))
}

fn finish_cond(
    index: Result<Tensor>,
    branches: Vec<Branch<'_>>,
    names: &[String],
    operands: &[Tensor],
    site: CallSite,
) -> Vec<Tensor> {
    let r = index.and_then(|idx| {
        let (op, ops) = build_cond(branches, names, operands)?;
        Ok((idx, op, ops))
    });
    match r {
        Ok((idx, op, ops)) => {
            let mut refs: Vec<&Tensor> = vec![&idx];
            refs.extend(ops.iter());
            apply(op, &refs, site)
        }
        Err(e) => {
            let n = operands.len().max(1);
            let a = operands
                .first()
                .map(|t| t.aval())
                .unwrap_or_else(|| AVal::scalar(DType::F32));
            poisoned(&e, &vec![a; n], site)
        }
    }
}

/// `pred ? on_true(operands) : on_false(operands)` with a bool scalar predicate. Both branches
/// are traced and must return identical types. Lowers like `lax.cond`: the predicate converted
/// to i32 selects between `[on_false, on_true]` of a `stablehlo.case`.
#[track_caller]
pub fn cond<'a>(
    pred: &Tensor,
    on_true: impl FnOnce(&[Tensor]) -> Vec<Tensor> + 'a,
    on_false: impl FnOnce(&[Tensor]) -> Vec<Tensor> + 'a,
    operands: &[Tensor],
) -> Vec<Tensor> {
    let site = CallSite::here();
    let index = pred.check().cloned().and_then(|p| {
        if p.aval() != AVal::scalar(DType::Bool) {
            return Err(Error::arg(
                "cond",
                format!("the predicate must be a bool scalar, got {}", p.aval()),
            ));
        }
        Ok(p.cast(DType::I32))
    });
    let names = ["on_false".to_string(), "on_true".to_string()];
    finish_cond(
        index,
        vec![Box::new(on_false), Box::new(on_true)],
        &names,
        operands,
        site,
    )
}

/// `branches[index](operands)` with an integer scalar index clamped into range (as
/// `lax.switch` does before its `stablehlo.case`). Branches must return identical types.
#[track_caller]
pub fn switch<'a>(index: &Tensor, branches: Vec<Branch<'a>>, operands: &[Tensor]) -> Vec<Tensor> {
    let site = CallSite::here();
    let n = branches.len();
    let idx = index.check().cloned().and_then(|i| {
        let a = i.aval();
        if a.rank() != 0 || !a.dtype.is_int() {
            return Err(Error::arg(
                "switch",
                format!("the index must be an integer scalar, got {a}"),
            ));
        }
        if n == 0 {
            return Err(Error::arg("switch", "needs at least one branch"));
        }
        let i = i.cast(DType::I32);
        Ok(if n > 1 {
            i.clamp_scalar(0.0, (n - 1) as f64)
        } else {
            i
        })
    });
    let names: Vec<String> = (0..n).map(|k| format!("branch {k}")).collect();
    finish_cond(idx, branches, &names, operands, site)
}

/// Scans `f(carry, x_slices) -> (carry, y_slices)` over the leading axis of `xs`: returns the
/// final carry and the y slices stacked along a new leading axis. `length` is required when
/// `xs` is empty and must agree with the xs otherwise; `reverse` iterates from the end (ys
/// are still stored at the index of their x). Outer tensors `f` uses become loop-invariant
/// consts.
#[track_caller]
pub fn scan<F>(
    f: F,
    init: &[Tensor],
    xs: &[Tensor],
    length: Option<usize>,
    reverse: bool,
) -> (Vec<Tensor>, Vec<Tensor>)
where
    F: FnOnce(&[Tensor], &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>),
{
    let site = CallSite::here();
    let carry: Vec<AVal> = init.iter().map(|t| t.aval()).collect();
    let mut ny: Option<usize> = None;
    let r = build_scan(f, init, xs, length, reverse, &mut ny);
    match r {
        Ok((op, operands)) => {
            let refs: Vec<&Tensor> = operands.iter().collect();
            let mut outs = apply(op, &refs, site);
            let ys = outs.split_off(init.len().min(outs.len()));
            (outs, ys)
        }
        Err(e) => {
            let c = poisoned(&e, &carry, site);
            let ys = poisoned(&e, &vec![AVal::scalar(DType::F32); ny.unwrap_or(0)], site);
            (c, ys)
        }
    }
}

fn build_scan<F>(
    f: F,
    init: &[Tensor],
    xs: &[Tensor],
    length: Option<usize>,
    reverse: bool,
    ny: &mut Option<usize>,
) -> Result<(Op, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor], &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>),
{
    if let Some(e) = first_error(init).or_else(|| first_error(xs)) {
        return Err(e);
    }
    let mut len = length;
    for (i, x) in xs.iter().enumerate() {
        let a = x.aval();
        let Some(&d0) = a.dims().first() else {
            return Err(Error::arg(
                "scan",
                format!("xs {i} is a scalar {a}; scanned operands need a leading axis"),
            ));
        };
        match len {
            None => len = Some(d0),
            Some(l) if l != d0 => {
                let what = if length.is_some() {
                    "the given length".to_string()
                } else {
                    "xs 0".to_string()
                };
                return Err(Error::arg(
                    "scan",
                    format!(
                        "xs {i} ({a}) has leading length {d0} but {what} is {l}; all xs must share the leading length"
                    ),
                ));
            }
            _ => {}
        }
    }
    let Some(length) = len else {
        return Err(Error::arg(
            "scan",
            "needs a length when there are no xs to scan over",
        ));
    };
    let nc = init.len();
    let mut in_avals: Vec<AVal> = init.iter().map(|t| t.aval()).collect();
    let carry = in_avals.clone();
    in_avals.extend(xs.iter().map(|x| slice_aval(&x.aval())));
    let mut n_carry_out = 0;
    let mut n_y = 0;
    let t = trace(&in_avals, |a| {
        let (c, y) = f(&a[..nc], &a[nc..]);
        n_carry_out = c.len();
        n_y = y.len();
        let mut v = c;
        v.extend(y);
        v
    })?;
    *ny = Some(n_y);
    if n_carry_out != nc {
        return Err(Error::arg(
            "scan",
            format!("f returns {n_carry_out} carry values but init has {nc}"),
        ));
    }
    check_carry("scan", "f", &t.graph.out_avals(), &carry)?;
    let num_consts = t.captures.len();
    let mut operands = init.to_vec();
    operands.extend(xs.iter().cloned());
    operands.extend(t.captures);
    Ok((
        Op::Scan {
            body: Arc::new(t.graph),
            length,
            reverse,
            num_carry: nc,
            num_consts,
        },
        operands,
    ))
}

/// Identity on its operands that keeps the compiler from moving computations across it.
#[track_caller]
pub fn optimization_barrier(xs: &[Tensor]) -> Vec<Tensor> {
    if xs.is_empty() {
        return vec![];
    }
    let refs: Vec<&Tensor> = xs.iter().collect();
    apply(Op::OptimizationBarrier, &refs, CallSite::here())
}

// ---------------------------------------------------------------------------------------------
// VJP rules
// ---------------------------------------------------------------------------------------------

fn transform_err(op: &str, msg: impl Into<String>) -> Error {
    Error::Transform {
        transform: "grad".into(),
        op: op.into(),
        msg: msg.into(),
        site: None,
    }
}

/// The forward of a scan under differentiation: the same scan whose body also emits its input
/// carry, so the carries of every step come out stacked (the residuals of the backward scan).
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_forward_with_residuals(
    body: &Arc<Graph>,
    length: usize,
    reverse: bool,
    num_carry: usize,
    num_consts: usize,
    ins: &[Tensor],
    site: CallSite,
) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
    let aug = trace(&body.in_avals(), |xs| {
        let mut o = replay(body, xs).unwrap_or_else(poison_outputs);
        o.extend(xs[..num_carry.min(xs.len())].iter().cloned());
        o
    })?;
    let refs: Vec<&Tensor> = ins.iter().collect();
    let outs = apply(
        Op::Scan {
            body: Arc::new(aug.graph),
            length,
            reverse,
            num_carry,
            num_consts,
        },
        &refs,
        site,
    );
    check_all(&outs)?;
    let n = body.outputs.len();
    Ok((outs[..n].to_vec(), outs[n..].to_vec()))
}

/// VJP of a scan from its stacked input carries: a scan in the opposite direction whose body is
/// the VJP of the forward body (recomputed from the saved carry of each step), carrying the
/// carry cotangent and the accumulated cotangents of the loop-invariant consts.
pub(crate) fn scan_vjp(
    op: &Op,
    ins: &[Tensor],
    carries: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let Op::Scan {
        body,
        length,
        reverse,
        num_carry,
        num_consts,
    } = op
    else {
        return Err(crate::prim::unreachable_op(op));
    };
    let (nc, nk) = (*num_carry, *num_consts);
    let nx = ins.len() - nc - nk;
    let out_avals = body.out_avals();
    let ny = out_avals.len() - nc;
    let body_in = body.in_avals();
    // Backward scan operands: carry = (ct_carry..., ct_consts_acc...), xs = (carries, xs, ct_ys),
    // consts = consts.
    let mut init: Vec<Tensor> = Vec::new();
    for (i, a) in body_in[..nc].iter().enumerate() {
        init.push(cts.get(i).cloned().flatten().unwrap_or_else(|| zeros(a)));
    }
    for k in &ins[nc + nx..] {
        init.push(zeros_like(k));
    }
    let mut xs: Vec<Tensor> = carries.to_vec();
    xs.extend(ins[nc..nc + nx].iter().cloned());
    for j in 0..ny {
        let stacked = {
            let a = &out_avals[nc + j];
            let mut dims = vec![*length];
            dims.extend_from_slice(a.dims());
            AVal::new(dims, a.dtype)
        };
        xs.push(
            cts.get(nc + j)
                .cloned()
                .flatten()
                .unwrap_or_else(|| zeros(&stacked)),
        );
    }
    let consts = &ins[nc + nx..];
    let mut bwd_in: Vec<AVal> = init.iter().map(|t| t.aval()).collect();
    bwd_in.extend(body_in[..nc].iter().cloned());
    bwd_in.extend(body_in[nc..nc + nx].iter().cloned());
    bwd_in.extend(out_avals[nc..].iter().cloned());
    bwd_in.extend(body_in[nc + nx..].iter().cloned());
    let body2 = body.clone();
    let bwd = trace(&bwd_in, |a| {
        let r = (|| {
            let ct_c = &a[..nc];
            let ct_k = &a[nc..nc + nk];
            let p = nc + nk;
            let c_t = &a[p..p + nc];
            let x_t = &a[p + nc..p + nc + nx];
            let ct_y = &a[p + nc + nx..p + nc + nx + ny];
            let k = &a[p + nc + nx + ny..];
            let mut prim: Vec<Tensor> = c_t.to_vec();
            prim.extend(x_t.iter().cloned());
            prim.extend(k.iter().cloned());
            let (_, pb) = vjp_graph(&body2, &prim)?;
            let mut oc: Vec<Option<Tensor>> = ct_c.iter().cloned().map(Some).collect();
            oc.extend(ct_y.iter().cloned().map(Some));
            let ic = pb.call_opt(&oc)?;
            let mut out = Vec::new();
            for (i, c) in ic[..nc].iter().enumerate() {
                out.push(c.clone().unwrap_or_else(|| zeros_like(&prim[i])));
            }
            for (j, c) in ic[nc + nx..].iter().enumerate() {
                out.push(match c {
                    Some(c) => &ct_k[j] + c,
                    None => ct_k[j].clone(),
                });
            }
            for (j, c) in ic[nc..nc + nx].iter().enumerate() {
                out.push(c.clone().unwrap_or_else(|| zeros_like(&prim[nc + j])));
            }
            Ok::<_, Error>(out)
        })();
        r.unwrap_or_else(poison_outputs)
    })?;
    let mut operands = init;
    operands.extend(xs);
    operands.extend(consts.iter().cloned());
    operands.extend(bwd.captures.iter().cloned());
    let refs: Vec<&Tensor> = operands.iter().collect();
    let outs = apply(
        Op::Scan {
            body: Arc::new(bwd.graph),
            length: *length,
            reverse: !*reverse,
            num_carry: nc + nk,
            num_consts: nk + bwd.captures.len(),
        },
        &refs,
        CallSite::here(),
    );
    check_all(&outs)?;
    let mut res: Vec<Option<Tensor>> = outs[..nc].iter().cloned().map(Some).collect();
    res.extend(outs[nc + nk..].iter().cloned().map(Some));
    res.extend(outs[nc..nc + nk].iter().cloned().map(Some));
    Ok(res)
}

/// The VJP rules of the control family: scan runs a reverse scan of the body's VJP over the
/// stacked carries (the tape's forward gives scans their residuals; reached without it, the
/// residuals are recomputed here); cond is a cond of the branches' VJPs;
/// optimization_barrier passes cotangents through; while is an `Error::Transform` (use scan
/// with a fixed trip count).
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    _outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::While { .. } => Err(transform_err(
            "while",
            "reverse-mode differentiation of while_loop is not supported; use scan with a fixed trip count",
        )),
        Op::OptimizationBarrier => Ok(cts.to_vec()),
        Op::Scan {
            body,
            length,
            reverse,
            num_carry,
            num_consts,
        } => {
            let (_, carries) = scan_forward_with_residuals(
                body,
                *length,
                *reverse,
                *num_carry,
                *num_consts,
                ins,
                CallSite::here(),
            )?;
            scan_vjp(op, ins, &carries, cts)
        }
        Op::Cond { branches } => {
            let ops = &ins[1..];
            let op_avals: Vec<AVal> = ops.iter().map(|t| t.aval()).collect();
            let out_avals = branches
                .first()
                .map(|b| b.out_avals())
                .unwrap_or_default();
            let mut bwd_in = op_avals.clone();
            bwd_in.extend(out_avals.iter().cloned());
            let n = ops.len();
            let mut graphs = Vec::new();
            let mut all_caps: Vec<Tensor> = Vec::new();
            let mut caps_of: Vec<(usize, usize)> = Vec::new();
            for b in branches {
                let t = trace(&bwd_in, |a| {
                    let r = (|| {
                        let (_, pb) = vjp_graph(b, &a[..n])?;
                        let oc: Vec<Option<Tensor>> = a[n..].iter().cloned().map(Some).collect();
                        let ic = pb.call_opt(&oc)?;
                        Ok::<_, Error>(
                            ic.into_iter()
                                .zip(&a[..n])
                                .map(|(c, x)| c.unwrap_or_else(|| zeros_like(x)))
                                .collect::<Vec<_>>(),
                        )
                    })();
                    r.unwrap_or_else(poison_outputs)
                })?;
                caps_of.push((all_caps.len(), t.captures.len()));
                all_caps.extend(t.captures.iter().cloned());
                graphs.push(t.graph);
            }
            // Every branch takes (ops, cts, all captures).
            let mut full_avals = bwd_in.clone();
            full_avals.extend(all_caps.iter().map(|t| t.aval()));
            let nb = bwd_in.len();
            let mut rebased = Vec::new();
            for (g, (start, len)) in graphs.iter().zip(&caps_of) {
                rebased.push(Arc::new(rebase(
                    g,
                    &full_avals,
                    0..nb,
                    nb + start..nb + start + len,
                )?));
            }
            let mut operands = vec![ins[0].clone()];
            operands.extend(ops.iter().cloned());
            for (c, a) in cts.iter().zip(&out_avals) {
                operands.push(c.clone().unwrap_or_else(|| zeros(a)));
            }
            operands.extend(all_caps);
            let refs: Vec<&Tensor> = operands.iter().collect();
            let outs = apply(
                Op::Cond { branches: rebased },
                &refs,
                CallSite::here(),
            );
            check_all(&outs)?;
            let mut res = vec![None];
            res.extend(outs.into_iter().map(Some));
            Ok(res)
        }
        _ => Err(crate::prim::unreachable_op(op)),
    }
}
// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of the control family: `optimization_barrier` is one barrier over the
/// batched operands (unbatched ones broadcast); `while`, `cond` and `scan` have no vectorised
/// rule yet (JAX batches the bodies) and loop over the batch.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    match op {
        Op::OptimizationBarrier => {
            let ins = bx.all_batched();
            let refs: Vec<&Tensor> = ins.iter().collect();
            crate::vmap::apply_checked(Op::OptimizationBarrier, &refs)
        }
        Op::While { .. } | Op::Cond { .. } | Op::Scan { .. } => bx.loop_over(op),
        _ => Err(super::unreachable_op(op)),
    }
}
