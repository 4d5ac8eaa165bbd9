//! Conformance builders and catalogue entries of the elementwise family.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_str};
use rax_core::{DType, Error, Result, Tensor};

fn unary(op: &str, x: &Tensor) -> Option<Tensor> {
    Some(match op {
        "neg" => x.neg(),
        "abs" => x.abs(),
        "sign" => x.sign(),
        "exp" => x.exp(),
        "expm1" => x.expm1(),
        "log" => x.log(),
        "log1p" => x.log1p(),
        "sqrt" => x.sqrt(),
        "rsqrt" => x.rsqrt(),
        "tanh" => x.tanh(),
        "logistic" => x.sigmoid(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "erf" => x.erf(),
        "erf_inv" => x.erf_inv(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round" => x.round(),
        "is_finite" => x.is_finite(),
        "not" => x.logical_not(),
        "real" => x.real(),
        "imag" => x.imag(),
        _ => return None,
    })
}

fn binary(op: &str, a: &Tensor, b: &Tensor) -> Option<Tensor> {
    Some(match op {
        "add" => a.add(b),
        "sub" => a.sub(b),
        "mul" => a.mul(b),
        "div" => a.div(b),
        "rem" => a.rem(b),
        "pow" => a.pow(b),
        "max" => a.maximum(b),
        "min" => a.minimum(b),
        "atan2" => a.atan2(b),
        "and" => a.and(b),
        "or" => a.or(b),
        "xor" => a.xor(b),
        "shift_left" => a.shift_left(b),
        "shift_right_logical" => a.shift_right_logical(b),
        "shift_right_arithmetic" => a.shift_right_arithmetic(b),
        "complex" => Tensor::complex(a, b),
        _ => return None,
    })
}

fn dtype_param(p: &serde_json::Value) -> Result<DType> {
    let s = p_str(p, "to")?;
    DType::parse(s).ok_or_else(|| Error::data("case params", format!("unknown dtype {s}")))
}

/// Builds a case's outputs.
pub fn build(op: &str, p: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    if let Some(x) = xs
        .first()
        .filter(|_| xs.len() == 1)
        .and_then(|x| unary(op, x))
    {
        return Ok(vec![x]);
    }
    if xs.len() == 2 {
        if let Some(y) = binary(op, &xs[0], &xs[1]) {
            return Ok(vec![y]);
        }
    }
    let out = match op {
        "compare" => {
            arity(op, xs, 2)?;
            let (a, b) = (&xs[0], &xs[1]);
            match p_str(p, "dir")? {
                "eq" => a.eq(b),
                "ne" => a.ne(b),
                "lt" => a.lt(b),
                "le" => a.le(b),
                "gt" => a.gt(b),
                "ge" => a.ge(b),
                d => return Err(Error::data("case params", format!("unknown direction {d}"))),
            }
        }
        "select" => {
            arity(op, xs, 3)?;
            Tensor::select(&xs[0], &xs[1], &xs[2])
        }
        "clamp" => {
            arity(op, xs, 3)?;
            xs[1].clamp(&xs[0], &xs[2])
        }
        "convert" => {
            arity(op, xs, 1)?;
            xs[0].cast(dtype_param(p)?)
        }
        "bitcast_convert" => {
            arity(op, xs, 1)?;
            xs[0].bitcast(dtype_param(p)?)
        }
        _ => return Err(Error::data("case", format!("elementwise: unknown op {op}"))),
    };
    Ok(vec![out])
}

macro_rules! e {
    ($name:expr, $shlo:expr, $rule:expr, $vjp:ident) => {
        Entry {
            name: $name,
            stablehlo: $shlo,
            rule: $rule,
            interp: true,
            vjp: Vjp::$vjp,
        }
    };
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    let fl = "T -> T; T float or complex";
    let rf = "T -> T; T real float";
    vec![
        e!(
            "neg",
            "stablehlo.negate",
            "T -> T; T int, float or complex",
            Yes
        ),
        e!(
            "abs",
            "stablehlo.abs",
            "T -> T (c64 -> f32); T signed int, float or complex",
            Yes
        ),
        e!(
            "sign",
            "stablehlo.sign",
            "T -> T; T int, float or complex",
            NotDifferentiable
        ),
        e!("exp", "stablehlo.exponential", fl, Yes),
        e!("expm1", "stablehlo.exponential_minus_one", fl, Yes),
        e!("log", "stablehlo.log", fl, Yes),
        e!("log1p", "stablehlo.log_plus_one", fl, Yes),
        e!("sqrt", "stablehlo.sqrt", fl, Yes),
        e!("rsqrt", "stablehlo.rsqrt", fl, Yes),
        e!("tanh", "stablehlo.tanh", fl, Yes),
        e!("logistic", "stablehlo.logistic", fl, Yes),
        e!("sin", "stablehlo.sine", fl, Yes),
        e!("cos", "stablehlo.cosine", fl, Yes),
        e!("erf", "chlo.erf", rf, Yes),
        e!("erf_inv", "chlo.erf_inv", rf, Yes),
        e!("floor", "stablehlo.floor", rf, NotDifferentiable),
        e!("ceil", "stablehlo.ceil", rf, NotDifferentiable),
        e!(
            "round",
            "stablehlo.round_nearest_even",
            rf,
            NotDifferentiable
        ),
        e!(
            "is_finite",
            "stablehlo.is_finite",
            "T -> bool; T real float",
            NotDifferentiable
        ),
        e!(
            "not",
            "stablehlo.not",
            "T -> T; T bool or int",
            NotDifferentiable
        ),
        e!("real", "stablehlo.real", "c64 -> f32", Yes),
        e!("imag", "stablehlo.imag", "c64 -> f32", Yes),
        e!(
            "add",
            "stablehlo.add",
            "(T, T) -> T, equal shapes; T int, float or complex",
            Yes
        ),
        e!(
            "sub",
            "stablehlo.subtract",
            "(T, T) -> T; T int, float or complex",
            Yes
        ),
        e!(
            "mul",
            "stablehlo.multiply",
            "(T, T) -> T; T int, float or complex",
            Yes
        ),
        e!(
            "div",
            "stablehlo.divide",
            "(T, T) -> T; ints: x/0 = -1, MIN/-1 = MIN",
            Yes
        ),
        e!(
            "rem",
            "stablehlo.remainder",
            "(T, T) -> T; sign of the dividend",
            Yes
        ),
        e!(
            "pow",
            "stablehlo.power",
            "(T, T) -> T; T float or complex",
            Yes
        ),
        e!(
            "max",
            "stablehlo.maximum",
            "(T, T) -> T; NaN-propagating",
            Yes
        ),
        e!(
            "min",
            "stablehlo.minimum",
            "(T, T) -> T; NaN-propagating",
            Yes
        ),
        e!("atan2", "stablehlo.atan2", "(T, T) -> T; T real float", Yes),
        e!(
            "and",
            "stablehlo.and",
            "(T, T) -> T; T bool or int",
            NotDifferentiable
        ),
        e!(
            "or",
            "stablehlo.or",
            "(T, T) -> T; T bool or int",
            NotDifferentiable
        ),
        e!(
            "xor",
            "stablehlo.xor",
            "(T, T) -> T; T bool or int",
            NotDifferentiable
        ),
        e!(
            "shift_left",
            "stablehlo.shift_left",
            "(T, T) -> T; T int; count >= bits gives 0",
            NotDifferentiable
        ),
        e!(
            "shift_right_logical",
            "stablehlo.shift_right_logical",
            "(T, T) -> T; T int",
            NotDifferentiable
        ),
        e!(
            "shift_right_arithmetic",
            "stablehlo.shift_right_arithmetic",
            "(T, T) -> T; T int",
            NotDifferentiable
        ),
        e!("complex", "stablehlo.complex", "(f32, f32) -> c64", Yes),
        e!(
            "compare",
            "stablehlo.compare",
            "(T, T) -> bool; FLOAT/SIGNED/UNSIGNED by T; c64 only EQ/NE",
            NotDifferentiable
        ),
        e!(
            "select",
            "stablehlo.select",
            "(bool, T, T) -> T; pred scalar or same shape",
            Yes
        ),
        e!(
            "clamp",
            "stablehlo.clamp",
            "(T, T, T) -> T; bounds scalar or same shape",
            Yes
        ),
        e!(
            "convert",
            "stablehlo.convert",
            "T -> U; floats round to nearest even, float->int truncates",
            Yes
        ),
        e!(
            "bitcast_convert",
            "stablehlo.bitcast_convert",
            "T -> U; same width, or a trailing dim of the width ratio",
            NotDifferentiable
        ),
    ]
}
