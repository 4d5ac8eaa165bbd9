//! Conformance builders and catalogue entries of the `dot` family: `dot_general` (with
//! dimension numbers and a result dtype), `matmul` (numpy semantics, optional accumulation
//! dtype) and two-operand `einsum`.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_str, p_usizes};
use rax_core::ir::DotDims;
use rax_core::{DType, Error, Result, Tensor};

fn dtype(p: &serde_json::Value, key: &str) -> Result<DType> {
    let s = p_str(p, key)?;
    DType::parse(s).ok_or_else(|| Error::data("case params", format!("unknown dtype {s}")))
}

/// Builds a case's outputs.
pub fn build(op: &str, p: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    arity(op, xs, 2)?;
    let (a, b) = (&xs[0], &xs[1]);
    Ok(vec![match op {
        "dot_general" => {
            let dims = DotDims {
                lhs_batch: p_usizes(p, "lhs_batch")?,
                rhs_batch: p_usizes(p, "rhs_batch")?,
                lhs_contract: p_usizes(p, "lhs_contract")?,
                rhs_contract: p_usizes(p, "rhs_contract")?,
            };
            a.dot_general(b, dims, dtype(p, "out")?)
        }
        "matmul" => match p.get("acc") {
            Some(_) => a.matmul_acc(b, dtype(p, "acc")?),
            None => a.matmul(b),
        },
        "einsum" => Tensor::einsum(p_str(p, "spec")?, &[a, b]),
        _ => return Err(Error::data("case", format!("dot: unknown op {op}"))),
    }])
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    vec![Entry {
        name: "dot_general",
        stablehlo: "stablehlo.dot_general",
        rule: "T[lhs] x T[rhs], batch/contracting dims (equal sizes) -> out[batch, lhs free, rhs free]; out same kind as T (e.g. bf16 -> f32)".into(),
        interp: true,
        vjp: Vjp::Yes,
    }]
}
