//! Conformance builders and catalogue entries of the `reduce` family: `reduce` (params `kind`,
//! `axes`), `argmax`/`argmin` (`axis`, `index_dtype`), `cumulative` (`kind`, `axis`,
//! `reverse`), and the helpers `mean`, `var`, `logsumexp` (`axes`), `softmax`,
//! `log_softmax` (`axis`) and `one_hot` (`n`, `dtype`), compared with jnp / jax.nn.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_bool, p_str, p_usize, p_usizes};
use rax_core::ir::{Op, ReduceKind};
use rax_core::{CallSite, DType, Error, Result, Tensor};

fn kind(p: &serde_json::Value) -> Result<ReduceKind> {
    Ok(match p_str(p, "kind")? {
        "sum" => ReduceKind::Sum,
        "prod" => ReduceKind::Prod,
        "max" => ReduceKind::Max,
        "min" => ReduceKind::Min,
        "and" => ReduceKind::And,
        "or" => ReduceKind::Or,
        k => {
            return Err(Error::data(
                "case params",
                format!("unknown reduce kind {k}"),
            ))
        }
    })
}

fn dtype(p: &serde_json::Value, key: &str) -> Result<DType> {
    let s = p_str(p, key)?;
    DType::parse(s).ok_or_else(|| Error::data("case params", format!("unknown dtype {s}")))
}

/// Builds a case's outputs.
pub fn build(op: &str, p: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    arity(op, xs, 1)?;
    let x = &xs[0];
    Ok(vec![match op {
        "reduce" => x.reduce(kind(p)?, &p_usizes(p, "axes")?),
        "argmax" | "argmin" => rax_core::trace::apply1(
            Op::ArgReduce {
                is_max: op == "argmax",
                axis: p_usize(p, "axis")?,
                index_dtype: dtype(p, "index_dtype")?,
            },
            &[x],
            CallSite::here(),
        ),
        "cumulative" => x.cumulative(kind(p)?, p_usize(p, "axis")?, p_bool(p, "reverse")),
        "mean" => x.mean(&p_usizes(p, "axes")?),
        "var" => x.var(&p_usizes(p, "axes")?),
        "logsumexp" => x.logsumexp(&p_usizes(p, "axes")?),
        "softmax" => x.softmax(p_usize(p, "axis")?),
        "log_softmax" => x.log_softmax(p_usize(p, "axis")?),
        "one_hot" => x.one_hot(p_usize(p, "n")?, dtype(p, "dtype")?),
        _ => return Err(Error::data("case", format!("reduce: unknown op {op}"))),
    }])
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    vec![
        Entry {
            name: "reduce",
            stablehlo: "stablehlo.reduce",
            rule: "T[s], axes (unique, in range), sum/prod (int, float, complex), max/min (not complex), and/or (bool, int) -> T[s without axes]; accumulates in T".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "argmax",
            stablehlo: "stablehlo.reduce (variadic, with stablehlo.iota)",
            rule: "T[s] (not complex), axis (non-empty) -> I[s without axis]; NaN is the max, first index on ties".into(),
            interp: true,
            vjp: Vjp::NotDifferentiable,
        },
        Entry {
            name: "argmin",
            stablehlo: "stablehlo.reduce (variadic, with stablehlo.iota)",
            rule: "T[s] (not complex), axis (non-empty) -> I[s without axis]; NaN is the min, first index on ties".into(),
            interp: true,
            vjp: Vjp::NotDifferentiable,
        },
        Entry {
            name: "cumulative",
            stablehlo: "stablehlo.reduce_window",
            rule: "T[s] (int, float; complex for sum/prod), sum/prod/max/min, axis, reverse -> T[s]".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
    ]
}
