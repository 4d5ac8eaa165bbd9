//! `Graph::verify`, the IR's well-formedness check (JAX's `check_jaxpr`): every value is
//! defined once, before its uses (graph inputs, then node results in order); every node's
//! operand count and types satisfy its op's typing rule and its results have the types the rule
//! gives; the outputs are defined; sub-graphs (loop bodies, branches, callees) are verified too.
//! A failure is an [`Error::Internal`]: graphs come from rax's tracer and transformations, so an
//! ill-formed one is a rax bug. The tracer runs it on every graph it builds (every
//! transformation — autodiff, vmap, remat, custom_vjp, control-flow bodies — builds its graphs
//! by tracing) and the lowering on every graph it lowers, in debug builds and tests.
//!
//! Depends on `ir`, `prim` (typing rules), `error`.

use crate::error::{avals, Error, Result};
use crate::ir::{CallKind, Graph, Op};

/// Whether the tracer and the lowering verify graphs (debug builds and tests).
pub const ENABLED: bool = cfg!(debug_assertions);

fn bad(path: &str, msg: String) -> Error {
    Error::internal(format!("ill-formed graph{path}: {msg}"))
}

impl Graph {
    /// Checks the graph's well-formedness (see the module doc); an `Error::Internal` naming
    /// the node and what is wrong.
    pub fn verify(&self) -> Result<()> {
        self.verify_at("")
    }

    fn verify_at(&self, path: &str) -> Result<()> {
        let n = self.avals.len();
        let mut defined_nodes = vec![false; n];
        for v in &self.inputs {
            let slot = defined_nodes.get_mut(v.index()).ok_or_else(|| {
                bad(
                    path,
                    format!("input v{} has no type (only {n} values)", v.0),
                )
            })?;
            if *slot {
                return Err(bad(path, format!("input v{} is listed twice", v.0)));
            }
            *slot = true;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let name = crate::prim::op_name(&node.op);
            let here = format!("{path}, node {i} ({name})");
            for v in &node.inputs {
                if !defined_nodes.get(v.index()).copied().unwrap_or(false) {
                    return Err(bad(
                        &here,
                        format!("operand v{} is used before it is defined", v.0),
                    ));
                }
            }
            let in_avals: Vec<_> = node.inputs.iter().map(|v| self.aval(*v).clone()).collect();
            let want = crate::prim::rule(&node.op, &in_avals).map_err(|e| {
                bad(
                    &here,
                    format!("operands {} fail the typing rule: {e}", avals(&in_avals)),
                )
            })?;
            if want.len() != node.outputs.len() {
                return Err(bad(
                    &here,
                    format!(
                        "{} results, the rule gives {}",
                        node.outputs.len(),
                        want.len()
                    ),
                ));
            }
            for (v, w) in node.outputs.iter().zip(&want) {
                let slot = defined_nodes
                    .get_mut(v.index())
                    .ok_or_else(|| bad(&here, format!("result v{} has no type", v.0)))?;
                if *slot {
                    return Err(bad(&here, format!("v{} is defined twice", v.0)));
                }
                *slot = true;
                let got = self.aval(*v);
                if got != w {
                    return Err(bad(
                        &here,
                        format!("result v{} is {got}, the rule gives {w}", v.0),
                    ));
                }
            }
            for (k, sub) in sub_graphs(&node.op).into_iter().enumerate() {
                sub.verify_at(&format!("{here}, sub-graph {k}"))?;
            }
        }
        for v in &self.outputs {
            if !defined_nodes.get(v.index()).copied().unwrap_or(false) {
                return Err(bad(path, format!("output v{} is never defined", v.0)));
            }
        }
        Ok(())
    }
}

/// The sub-graphs an op holds.
fn sub_graphs(op: &Op) -> Vec<&Graph> {
    match op {
        Op::While { cond, body } => vec![cond, body],
        Op::Cond { branches } => branches.iter().map(|b| &**b).collect(),
        Op::Scan { body, .. } => vec![body],
        Op::Call {
            body,
            kind: CallKind::CustomVjp { fwd, bwd },
        } => vec![body, fwd, bwd],
        Op::Call { body, .. } => vec![body],
        _ => vec![],
    }
}
