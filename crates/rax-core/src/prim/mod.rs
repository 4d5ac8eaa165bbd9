//! The primitive catalogue. Each family file holds, for its primitives, side by side: the
//! shape/dtype rule, the StableHLO lowering, the interpreter kernel, the VJP, the batching
//! rule, and the `Tensor` methods that apply its ops. This module only dispatches an `Op` to
//! its family. Only primitives live here: methods that add no `Op` are in `crate::numpy`.
//!
//! Families: `elementwise` (unary, binary, compare, select, clamp, convert, bitcast),
//! `layout` (broadcast, reshape, transpose, slice, concatenate, pad, reverse, iota, constant),
//! `indexing` (dynamic slices, gather, scatter-add), `dot` (dot_general), `reduce` (reduce,
//! argmax/argmin, cumulative; `assoc_scan` holds the cumulative prod/max/min VJP), `sort`
//! (sort, top_k), `fft`, `control` (while, cond, scan, optimization barrier), `call`
//! (stop_gradient, checkpoint_name, checkpoint, custom_vjp).

pub mod assoc_scan;
pub mod call;
pub mod control;
pub mod dot;
pub mod elementwise;
pub mod fft;
pub mod indexing;
pub mod layout;
pub mod reduce;
pub mod sort;

use crate::error::Result;
use crate::ir::Op;
use crate::literal::Literal;
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;

/// The primitive's name as in the catalogue (`add`, `dot_general`, `scan`, ...).
pub fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Unary(u) => u.name(),
        Op::Binary(b) => elementwise::binary::binary_name(*b),
        Op::Compare(_) => "compare",
        Op::Select => "select",
        Op::Clamp => "clamp",
        Op::Convert(_) => "convert",
        Op::BitcastConvert(_) => "bitcast_convert",
        Op::BroadcastInDim { .. } => "broadcast_in_dim",
        Op::Reshape(_) => "reshape",
        Op::Transpose(_) => "transpose",
        Op::Slice { .. } => "slice",
        Op::DynamicSlice { .. } => "dynamic_slice",
        Op::DynamicUpdateSlice => "dynamic_update_slice",
        Op::Concatenate { .. } => "concatenate",
        Op::Pad { .. } => "pad",
        Op::Reverse { .. } => "reverse",
        Op::Iota { .. } => "iota",
        Op::Constant(_) => "constant",
        Op::Gather(_) => "gather",
        Op::ScatterAdd(_) => "scatter_add",
        Op::DotGeneral { .. } => "dot_general",
        Op::Reduce { .. } => "reduce",
        Op::ArgReduce { is_max: true, .. } => "argmax",
        Op::ArgReduce { is_max: false, .. } => "argmin",
        Op::Cumulative { .. } => "cumulative",
        Op::Sort { .. } => "sort",
        Op::TopK { .. } => "top_k",
        Op::Fft { .. } => "fft",
        Op::While { .. } => "while",
        Op::Cond { .. } => "cond",
        Op::Scan { .. } => "scan",
        Op::OptimizationBarrier => "optimization_barrier",
        Op::Call { kind, .. } => call::call_name(kind),
    }
}

/// How many results the op gives for `n_inputs` operands (used to shape error placeholders).
pub fn num_outputs(op: &Op, n_inputs: usize) -> usize {
    match op {
        Op::Sort { .. } | Op::OptimizationBarrier => n_inputs,
        Op::TopK { .. } => 2,
        Op::While { body, .. } => body.outputs.len(),
        Op::Cond { branches } => branches.first().map(|b| b.outputs.len()).unwrap_or(0),
        Op::Scan { body, .. } | Op::Call { body, .. } => body.outputs.len(),
        _ => 1,
    }
}

/// The family file that holds an op's rule, lowering, kernel and VJP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Elementwise,
    Layout,
    Indexing,
    Dot,
    Reduce,
    Sort,
    Fft,
    Control,
    Call,
}

/// The one place that says which family an op belongs to.
fn family(op: &Op) -> Family {
    match op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Clamp
        | Op::Convert(_)
        | Op::BitcastConvert(_) => Family::Elementwise,
        Op::BroadcastInDim { .. }
        | Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Slice { .. }
        | Op::Concatenate { .. }
        | Op::Pad { .. }
        | Op::Reverse { .. }
        | Op::Iota { .. }
        | Op::Constant(_) => Family::Layout,
        Op::DynamicSlice { .. } | Op::DynamicUpdateSlice | Op::Gather(_) | Op::ScatterAdd(_) => {
            Family::Indexing
        }
        Op::DotGeneral { .. } => Family::Dot,
        Op::Reduce { .. } | Op::ArgReduce { .. } | Op::Cumulative { .. } => Family::Reduce,
        Op::Sort { .. } | Op::TopK { .. } => Family::Sort,
        Op::Fft { .. } => Family::Fft,
        Op::While { .. } | Op::Cond { .. } | Op::Scan { .. } | Op::OptimizationBarrier => {
            Family::Control
        }
        Op::Call { .. } => Family::Call,
    }
}

/// Calls `$f(args)` in the op's family module.
macro_rules! dispatch {
    ($op:expr, $f:ident($($arg:expr),*)) => {
        match family($op) {
            Family::Elementwise => elementwise::$f($($arg),*),
            Family::Layout => layout::$f($($arg),*),
            Family::Indexing => indexing::$f($($arg),*),
            Family::Dot => dot::$f($($arg),*),
            Family::Reduce => reduce::$f($($arg),*),
            Family::Sort => sort::$f($($arg),*),
            Family::Fft => fft::$f($($arg),*),
            Family::Control => control::$f($($arg),*),
            Family::Call => call::$f($($arg),*),
        }
    };
}

/// The shape/dtype rule: result types from operand types, or a typing error.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    let outs = dispatch!(op, rule(op, ins))?;
    for a in &outs {
        crate::limits::check_aval(op_name(op), a)?;
    }
    Ok(outs)
}

/// Emits the op's StableHLO for lowered operands; returns the lowered results.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    dispatch!(op, lower(op, cx, ins, outs))
}

/// The interpreter kernel: results from operand literals.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    dispatch!(op, eval(op, ins))
}

/// The VJP rule: cotangents of the inputs from the primal inputs, outputs and the outputs'
/// cotangents (`None` for an input that gets no gradient).
pub fn vjp(
    op: &Op,
    ins: &[crate::trace::Tensor],
    outs: &[crate::trace::Tensor],
    cts: &[Option<crate::trace::Tensor>],
) -> Result<Vec<Option<crate::trace::Tensor>>> {
    dispatch!(op, vjp(op, ins, outs, cts))
}

/// The batching rule (vmap): the op's results batched along axis 0, from operands of which at
/// least one carries the batch as its leading axis. Every family has one; an op a family does
/// not vectorise says so there by calling [`crate::vmap::Batch::loop_over`].
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<crate::trace::Tensor>> {
    dispatch!(op, batch(op, bx))
}

/// Checks that `axis < rank`, naming the op.
pub fn check_axis(op: &str, axis: usize, rank: usize) -> Result<()> {
    if axis >= rank {
        return Err(crate::error::Error::arg(
            op,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(())
}

/// An internal error (a rax bug) for an op a family's function was reached with but does not
/// handle, or a kernel or lowering reached with operands its rule rejects.
pub fn unreachable_op(op: &Op) -> crate::error::Error {
    crate::error::Error::internal(format!(
        "{} reached a family function that does not handle it",
        op_name(op)
    ))
}
