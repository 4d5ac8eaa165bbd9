//! Family `sort` (placeholder being filled in).

use crate::error::{Error, Result};
use crate::ir::Op;
use crate::literal::Literal;
use crate::lower::{LowerCtx, V};
use crate::shape::AVal;

/// Rule.
pub fn rule(op: &Op, _ins: &[AVal]) -> Result<Vec<AVal>> {
    Err(Error::unsupported(
        super::op_name(op),
        "not yet implemented",
    ))
}

/// Lowering.
pub fn lower(op: &Op, _cx: &mut LowerCtx, _ins: &[V], _outs: &[AVal]) -> Result<Vec<V>> {
    Err(Error::unsupported(
        super::op_name(op),
        "not yet implemented",
    ))
}

/// Kernel.
pub fn eval(op: &Op, _ins: &[&Literal]) -> Result<Vec<Literal>> {
    Err(Error::unsupported(
        super::op_name(op),
        "not yet implemented",
    ))
}
