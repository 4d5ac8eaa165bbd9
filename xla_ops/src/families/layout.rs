//! Conformance builders and catalogue entries of the `layout` family: broadcast_in_dim,
//! reshape, transpose, iota, constant, slice, concatenate, pad and reverse.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_str, p_usize, p_usizes, StoredArray};
use rax_core::{DType, Error, Result, Tensor};

/// Reads a list of signed integers.
fn p_i64s(p: &serde_json::Value, key: &str) -> Result<Vec<i64>> {
    p.get(key)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
        .ok_or_else(|| Error::data("case params", format!("missing integer list `{key}`")))
}

/// Builds a case's outputs.
pub fn build(op: &str, p: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let out = match op {
        "broadcast_in_dim" => {
            arity(op, xs, 1)?;
            xs[0].broadcast_in_dim(&p_usizes(p, "shape")?, &p_usizes(p, "dims")?)
        }
        "reshape" => {
            arity(op, xs, 1)?;
            xs[0].reshape(&p_usizes(p, "shape")?)
        }
        "transpose" => {
            arity(op, xs, 1)?;
            xs[0].transpose(&p_usizes(p, "perm")?)
        }
        "iota" => {
            arity(op, xs, 0)?;
            let d = p_str(p, "dtype")?;
            let dtype =
                DType::parse(d).ok_or_else(|| Error::data("case", format!("bad dtype {d}")))?;
            Tensor::iota(&p_usizes(p, "shape")?, p_usize(p, "dim")?, dtype)
        }
        "constant" => {
            arity(op, xs, 0)?;
            let v = p
                .get("value")
                .cloned()
                .ok_or_else(|| Error::data("case params", "missing `value`"))?;
            let a: StoredArray =
                serde_json::from_value(v).map_err(|e| Error::data("case params", e.to_string()))?;
            Tensor::constant_node(a.to_literal()?)
        }
        "slice" => {
            arity(op, xs, 1)?;
            xs[0].slice(
                &p_usizes(p, "start")?,
                &p_usizes(p, "limit")?,
                &p_usizes(p, "strides")?,
            )
        }
        "concatenate" => Tensor::concat(xs, p_usize(p, "axis")?),
        "pad" => {
            arity(op, xs, 2)?;
            xs[0].pad(
                &xs[1],
                &p_i64s(p, "lo")?,
                &p_i64s(p, "hi")?,
                &p_usizes(p, "interior")?,
            )
        }
        "reverse" => {
            arity(op, xs, 1)?;
            xs[0].reverse(&p_usizes(p, "axes")?)
        }
        _ => return Err(Error::data("case", format!("layout: unknown op {op}"))),
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
            "broadcast_in_dim",
            "stablehlo.broadcast_in_dim",
            "T[s] -> T[shape]; operand dim i -> dims[i] (strictly increasing), size 1 or equal",
        ),
        e(
            "reshape",
            "stablehlo.reshape",
            "T[s] -> T[shape] with equal element count (row-major)",
        ),
        e(
            "transpose",
            "stablehlo.transpose",
            "T[s] -> T[s[perm[0]], ...]; perm a permutation of the axes",
        ),
        Entry {
            name: "iota",
            stablehlo: "stablehlo.iota",
            rule: "() -> T[shape] counting along dim; T numeric".into(),
            interp: true,
            vjp: Vjp::NotDifferentiable,
        },
        Entry {
            name: "constant",
            stablehlo: "stablehlo.constant",
            rule: "() -> the literal's T[shape]".into(),
            interp: true,
            vjp: Vjp::NotDifferentiable,
        },
        e(
            "slice",
            "stablehlo.slice",
            "T[s] -> T[ceil((limit-start)/stride)]; 0 <= start <= limit <= s, stride >= 1",
        ),
        e(
            "concatenate",
            "stablehlo.concatenate",
            ">= 1 operands T[s_k] equal except on axis -> T[sum along axis]",
        ),
        e(
            "pad",
            "stablehlo.pad",
            "T[s], T[] -> T[lo + hi + s + max(s-1,0)*interior]; lo/hi may be negative, result >= 0",
        ),
        e(
            "reverse",
            "stablehlo.reverse",
            "T[s] -> T[s]; axes distinct and in range",
        ),
    ]
}
