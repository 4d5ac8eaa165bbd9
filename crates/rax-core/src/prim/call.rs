//! `Op::Call`: a call of a sub-graph, inlined when lowered and interpreted. Transformations give
//! calls their meaning through `CallKind` (`stop_gradient`, `checkpoint_name`, `checkpoint`,
//! `custom_vjp`; see `autodiff`). Rule, lowering, kernel and VJP side by side like a family.
//!
//! Depends on `ir`, `lower`, `interp`, `autodiff`.

use crate::error::{Error, Result};
use crate::ir::{CallKind, Op};
use crate::literal::Literal;
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;
use crate::trace::Tensor;

/// Catalogue name of a call.
pub fn call_name(kind: &CallKind) -> &'static str {
    match kind {
        CallKind::StopGradient => "stop_gradient",
        CallKind::Name(_) => "checkpoint_name",
        CallKind::Checkpoint(_) => "checkpoint",
        CallKind::CustomVjp { .. } => "custom_vjp",
    }
}

/// Rule: the operands must match the callee's inputs; the results are its outputs.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    let Op::Call { body, kind } = op else {
        return Err(super::unreachable_op(op));
    };
    let want = body.in_avals();
    if want.as_slice() != ins {
        return Err(Error::shape(
            call_name(kind),
            format!(
                "the callee takes {}, got operands",
                crate::error::avals(&want)
            ),
            ins,
        ));
    }
    Ok(body.out_avals())
}

/// Lowering: the callee inlined.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], _outs: &[AVal]) -> Result<Vec<V>> {
    let Op::Call { body, .. } = op else {
        return Err(super::unreachable_op(op));
    };
    cx.inline_graph(body, ins)
}

/// Kernel: the callee interpreted.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let Op::Call { body, .. } = op else {
        return Err(super::unreachable_op(op));
    };
    crate::interp::eval_graph(body, ins)
}

/// VJP of a call applied as a single op (outside the tape's special handling): the callee is
/// differentiated as a graph (its forward is recomputed); `stop_gradient` gives zero and
/// `custom_vjp` runs the user's backward.
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    _outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let Op::Call { body, kind } = op else {
        return Err(super::unreachable_op(op));
    };
    match kind {
        CallKind::StopGradient => Ok(vec![None; ins.len()]),
        CallKind::Name(_) => Ok(cts.to_vec()),
        CallKind::Checkpoint(_) => {
            let (_, pb) = crate::autodiff::vjp_graph(body, ins)?;
            pb.call_opt(cts)
        }
        CallKind::CustomVjp { fwd, bwd } => {
            let fo = crate::autodiff::replay(fwd, ins)?;
            let n_out = body.outputs.len();
            crate::autodiff::custom_bwd(
                bwd,
                ins,
                &fo[n_out.min(fo.len())..],
                cts,
                &body.out_avals(),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of calls: the identities (`stop_gradient`, `checkpoint_name`) batch as
/// themselves; `checkpoint` and `custom_vjp` loop over the batch.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    let Op::Call { kind, .. } = op else {
        return Err(super::unreachable_op(op));
    };
    match kind {
        CallKind::StopGradient if bx.ins.len() == 1 => {
            Ok(vec![crate::autodiff::stop_gradient(bx.arg(0)?)])
        }
        CallKind::Name(name) if bx.ins.len() == 1 => {
            Ok(vec![crate::autodiff::checkpoint_name(bx.arg(0)?, name)])
        }
        CallKind::StopGradient
        | CallKind::Name(_)
        | CallKind::Checkpoint(_)
        | CallKind::CustomVjp { .. } => bx.loop_over(op),
    }
}
