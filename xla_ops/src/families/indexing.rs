//! Conformance builders and catalogue entries of the `indexing` family: dynamic_slice,
//! dynamic_update_slice, gather and scatter_add, plus the `take` and `index_add` helpers
//! (built on gather / scatter_add with JAX's dimension numbers).

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_bool, p_usize, p_usizes};
use rax_core::ir::{GatherDims, ScatterDims};
use rax_core::{Error, Result, Tensor};

fn gather_dims(p: &serde_json::Value) -> Result<GatherDims> {
    Ok(GatherDims {
        offset_dims: p_usizes(p, "offset_dims")?,
        collapsed_slice_dims: p_usizes(p, "collapsed_slice_dims")?,
        operand_batching_dims: p_usizes(p, "operand_batching_dims")?,
        start_indices_batching_dims: p_usizes(p, "start_indices_batching_dims")?,
        start_index_map: p_usizes(p, "start_index_map")?,
        index_vector_dim: p_usize(p, "index_vector_dim")?,
        slice_sizes: p_usizes(p, "slice_sizes")?,
        indices_are_sorted: p_bool(p, "indices_are_sorted"),
    })
}

fn scatter_dims(p: &serde_json::Value) -> Result<ScatterDims> {
    Ok(ScatterDims {
        update_window_dims: p_usizes(p, "update_window_dims")?,
        inserted_window_dims: p_usizes(p, "inserted_window_dims")?,
        input_batching_dims: p_usizes(p, "input_batching_dims")?,
        scatter_indices_batching_dims: p_usizes(p, "scatter_indices_batching_dims")?,
        scatter_dims_to_operand_dims: p_usizes(p, "scatter_dims_to_operand_dims")?,
        index_vector_dim: p_usize(p, "index_vector_dim")?,
        indices_are_sorted: p_bool(p, "indices_are_sorted"),
        unique_indices: p_bool(p, "unique_indices"),
    })
}

/// Builds a case's outputs.
pub fn build(op: &str, p: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let need_some = |n: usize| -> Result<()> {
        if xs.len() < n {
            return Err(Error::data(
                "case",
                format!("{op} takes at least {n} inputs, case has {}", xs.len()),
            ));
        }
        Ok(())
    };
    let out = match op {
        "dynamic_slice" => {
            need_some(1)?;
            xs[0].dynamic_slice(&xs[1..], &p_usizes(p, "sizes")?)
        }
        "dynamic_update_slice" => {
            need_some(2)?;
            xs[0].dynamic_update_slice(&xs[1], &xs[2..])
        }
        "gather" => {
            arity(op, xs, 2)?;
            xs[0].gather(&xs[1], &gather_dims(p)?)
        }
        "scatter_add" => {
            arity(op, xs, 3)?;
            xs[0].scatter_add(&xs[1], &xs[2], &scatter_dims(p)?)
        }
        "take" => {
            arity(op, xs, 2)?;
            xs[0].take(&xs[1], p_usize(p, "axis")?)
        }
        "index_add" => {
            arity(op, xs, 3)?;
            xs[0].index_add(p_usize(p, "axis")?, &xs[1], &xs[2])
        }
        _ => return Err(Error::data("case", format!("indexing: unknown op {op}"))),
    };
    Ok(vec![out])
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    let e = |name, stablehlo, rule: &'static str| Entry {
        name,
        stablehlo,
        rule: rule.into(),
        interp: true,
        vjp: Vjp::Yes,
    };
    vec![
        e(
            "dynamic_slice",
            "stablehlo.dynamic_slice",
            "T[s], I[] x rank -> T[sizes]; sizes <= s; starts clamped to [0, s - sizes]",
        ),
        e(
            "dynamic_update_slice",
            "stablehlo.dynamic_update_slice",
            "T[s], T[u], I[] x rank -> T[s]; u <= s; starts clamped to [0, s - u]",
        ),
        e(
            "gather",
            "stablehlo.gather",
            "T[s], I[b] -> T[batch dims + offset dims] (StableHLO dimension numbers incl. batching); starts clamped",
        ),
        e(
            "scatter_add",
            "stablehlo.scatter (add region)",
            "T[s], I[b], T[u] -> T[s] (StableHLO dimension numbers incl. batching); T numeric; windows that do not fit are skipped",
        ),
    ]
}
