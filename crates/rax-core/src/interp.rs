//! The reference interpreter: evaluates a `Graph` on host literals by calling each primitive's
//! kernel (`prim::eval`) in program order, freeing each value after its last use. It is the
//! embedded backend, the engine of eager mode, and the oracle of the tests.
//!
//! Depends on `ir`, `literal`, `prim`.

use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::literal::Literal;
use std::sync::Arc;

/// Evaluates a graph on input literals.
pub fn eval_graph(g: &Graph, inputs: &[&Literal]) -> Result<Vec<Literal>> {
    let arcs: Vec<Arc<Literal>> = inputs.iter().map(|l| Arc::new((*l).clone())).collect();
    eval_graph_arc(g, &arcs)
}

/// Evaluates a graph on shared input literals (no copies of the inputs are made).
pub fn eval_graph_arc(g: &Graph, inputs: &[Arc<Literal>]) -> Result<Vec<Literal>> {
    if inputs.len() != g.inputs.len() {
        return Err(Error::backend(
            "interpreter",
            format!(
                "graph takes {} inputs, got {}",
                g.inputs.len(),
                inputs.len()
            ),
        ));
    }
    for (i, (v, l)) in g.inputs.iter().zip(inputs).enumerate() {
        let want = g.aval(*v);
        if &l.aval() != want {
            return Err(Error::backend(
                "interpreter",
                format!("input {i} must be {want}, got {}", l.aval()),
            ));
        }
    }
    // Last use of every value (outputs live to the end).
    let n = g.avals.len();
    let mut last_use = vec![0usize; n];
    for (i, node) in g.nodes.iter().enumerate() {
        for v in &node.inputs {
            last_use[v.index()] = i;
        }
    }
    for v in &g.outputs {
        last_use[v.index()] = usize::MAX;
    }
    let mut env: Vec<Option<Arc<Literal>>> = vec![None; n];
    for (v, l) in g.inputs.iter().zip(inputs) {
        env[v.index()] = Some(l.clone());
    }
    for (i, node) in g.nodes.iter().enumerate() {
        let ins: Vec<Arc<Literal>> = node
            .inputs
            .iter()
            .map(|v| {
                env[v.index()].clone().ok_or_else(|| {
                    Error::internal(format!("interpreter: value v{} undefined", v.0))
                })
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&Literal> = ins.iter().map(|l| &**l).collect();
        let with_site = |e: Error| match node.site {
            Some(s) => e.with_site(s),
            None => e,
        };
        for v in &node.outputs {
            crate::limits::check_alloc(crate::prim::op_name(&node.op), g.aval(*v))
                .map_err(with_site)?;
        }
        let outs = crate::prim::eval(&node.op, &refs).map_err(with_site)?;
        if crate::debug_nans::enabled() {
            crate::debug_nans::check(&node.op, &outs, node.site)?;
        }
        drop(ins);
        for v in &node.inputs {
            if last_use[v.index()] == i {
                env[v.index()] = None;
            }
        }
        for (v, o) in node.outputs.iter().zip(outs) {
            env[v.index()] = Some(Arc::new(o));
        }
    }
    g.outputs
        .iter()
        .map(|v| {
            env[v.index()]
                .as_ref()
                .map(|l| (**l).clone())
                .ok_or_else(|| Error::internal(format!("interpreter: output v{} undefined", v.0)))
        })
        .collect()
}
