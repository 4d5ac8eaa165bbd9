//! Conformance builders and catalogue entries of the `prng` family: rax's `PrngKey`
//! (threefry2x32, partitionable counters) against `jax.random` 0.10.2. Every case but `key/*`
//! takes the raw key data as a traced input.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_str, p_usize, p_usizes};
use rax_core::{DType, Error, PrngKey, Result, Tensor};

fn p_f64(p: &serde_json::Value, key: &str) -> Result<f64> {
    match p.get(key) {
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| Error::data("case params", format!("bad number `{key}`"))),
        // JSON has no infinities: Python's json writes them as -Infinity/Infinity tokens.
        _ => Err(Error::data(
            "case params",
            format!("missing number `{key}`"),
        )),
    }
}

fn p_i64(p: &serde_json::Value, key: &str) -> Result<i64> {
    p.get(key)
        .and_then(|v| v.as_i64())
        .ok_or_else(|| Error::data("case params", format!("missing integer `{key}`")))
}

fn p_dtype(p: &serde_json::Value) -> Result<DType> {
    let s = p_str(p, "dtype")?;
    DType::parse(s).ok_or_else(|| Error::data("case params", format!("unknown dtype {s}")))
}

fn key(xs: &[Tensor]) -> Result<PrngKey> {
    arity("prng", xs, 1)?;
    PrngKey::from_data(&xs[0])
}

/// Builds a case's outputs.
pub fn build(op: &str, params: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let shape = || p_usizes(params, "shape");
    let out = match op {
        "key" => {
            let seed = params
                .get("seed")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| Error::data("case params", "missing integer `seed`"))?;
            PrngKey::new(seed).data().clone()
        }
        "split" => key(xs)?.split_data(p_usize(params, "n")?),
        "fold_in" => {
            let d = p_usize(params, "data")?;
            let d = u32::try_from(d).map_err(|e| Error::data("case params", e.to_string()))?;
            key(xs)?.fold_in(d).data().clone()
        }
        "bits" => key(xs)?.random_bits(&shape()?),
        "uniform" => key(xs)?.uniform(
            &shape()?,
            p_dtype(params)?,
            p_f64(params, "lo")?,
            p_f64(params, "hi")?,
        ),
        "normal" => key(xs)?.normal(&shape()?, p_dtype(params)?),
        "truncated_normal" => {
            let lower = match params.get("lower") {
                Some(v) if v.is_number() => p_f64(params, "lower")?,
                _ => f64::NEG_INFINITY,
            };
            key(xs)?.truncated_normal(lower, p_f64(params, "upper")?, &shape()?, p_dtype(params)?)
        }
        "bernoulli" => key(xs)?.bernoulli(p_f64(params, "p")?, &shape()?),
        "randint" => key(xs)?.randint(
            &shape()?,
            p_i64(params, "lo")?,
            p_i64(params, "hi")?,
            p_dtype(params)?,
        ),
        _ => return Err(Error::data("case", format!("prng: unknown op {op}"))),
    };
    Ok(vec![out])
}

/// Catalogue entries (PRNG functions are compositions of primitives, listed for coverage).
pub fn catalogue() -> Vec<Entry> {
    let e = |name, rule: &'static str| Entry {
        name,
        stablehlo: "plain ops (add, xor, shift, or, iota, bitcast_convert, ...)",
        rule: rule.into(),
        interp: true,
        vjp: Vjp::NotDifferentiable,
    };
    vec![
        e(
            "random.key",
            "u64 seed -> u32[2] = [seed >> 32, seed & 0xFFFFFFFF]",
        ),
        e(
            "random.split",
            "u32[2] -> u32[n, 2] (threefry2x32 of partitionable counters)",
        ),
        e("random.fold_in", "u32[2], u32 -> u32[2]"),
        e("random.bits", "u32[2] -> u32[shape] (bits1 ^ bits2)"),
        e(
            "random.uniform",
            "u32[2] -> float[shape] in [lo, hi) (mantissa bits)",
        ),
        e(
            "random.normal",
            "u32[2] -> float[shape] = sqrt(2) erf_inv(uniform(nextafter(-1, 0), 1))",
        ),
        e(
            "random.truncated_normal",
            "u32[2] -> float[shape] in (lower, upper)",
        ),
        e(
            "random.bernoulli",
            "u32[2], p -> bool[shape] = uniform(f32) < p",
        ),
        e(
            "random.randint",
            "u32[2] -> {i8,u8,i32,u32}[shape] in [lo, hi)",
        ),
    ]
}
