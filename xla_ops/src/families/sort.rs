//! Conformance builders and catalogue entries of the `sort` family: `sort` (params `axis`,
//! `num_keys`, `descending`; every input is an operand, every output a sorted operand),
//! `argsort` (params `axis`, `descending`; a sort of `(x, iota)`) and `top_k` (param `k`).

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_bool, p_usize};
use rax_core::{Error, Result, Tensor};

/// Builds a case's outputs.
pub fn build(op: &str, params: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    match op {
        "sort" => {
            let axis = p_usize(params, "axis")?;
            let num_keys = p_usize(params, "num_keys")?;
            Ok(Tensor::sort_multi(
                xs,
                axis,
                num_keys,
                p_bool(params, "descending"),
            ))
        }
        "argsort" => {
            arity(op, xs, 1)?;
            let axis = p_usize(params, "axis")?;
            Ok(vec![xs[0].argsort(axis, p_bool(params, "descending"))])
        }
        "top_k" => {
            arity(op, xs, 1)?;
            let (v, i) = xs[0].top_k(p_usize(params, "k")?);
            Ok(vec![v, i])
        }
        _ => Err(Error::data("case", format!("sort: unknown op {op}"))),
    }
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    vec![
        Entry {
            name: "sort",
            stablehlo: "stablehlo.sort",
            rule: "n operands of equal shape (any dtype), sorted along an axis by the first num_keys (stable, jax float order) -> same types".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "top_k",
            stablehlo: "chlo.top_k",
            rule: "T[..., n] (real or int or bool), k <= n -> (T[..., k], i32[..., k])".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
    ]
}
