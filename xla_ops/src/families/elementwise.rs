//! Conformance builders and catalogue entries of the elementwise family.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_str};
use rax_core::ir::{Op, UnaryOp};
use rax_core::prim::elementwise::unary::{Accepts, OutDType, UnaryDef};
use rax_core::trace::apply1;
use rax_core::{CallSite, DType, Error, Result, Tensor};

/// A unary primitive by its catalogue name: every entry of rax's unary table, so a new
/// primitive needs no code here.
fn unary(op: &str, x: &Tensor) -> Option<Tensor> {
    let u = UnaryOp::from_name(op)?;
    Some(apply1(Op::Unary(u), &[x], CallSite::here()))
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
            rule: $rule.into(),
            interp: true,
            vjp: Vjp::$vjp,
        }
    };
}

/// The catalogue entry of a unary primitive, from its definition in rax's unary table.
fn unary_entry(d: &UnaryDef) -> Entry {
    let kinds = match d.accepts {
        Accepts::Numeric => "int, float or complex",
        Accepts::SignedOrInexact => "signed int, float or complex",
        Accepts::Inexact => "float or complex",
        Accepts::RealFloat => "real float",
        Accepts::BoolOrInt => "bool or int",
        Accepts::Complex => "",
    };
    let rule = match (d.accepts, d.out) {
        (Accepts::Complex, _) => "c64 -> f32".to_string(),
        (_, OutDType::Same) => format!("T -> T; T {kinds}"),
        (_, OutDType::Real) => format!("T -> T (c64 -> f32); T {kinds}"),
        (_, OutDType::Bool) => format!("T -> bool; T {kinds}"),
    };
    Entry {
        name: d.name,
        stablehlo: d.mlir,
        rule: rule.into(),
        interp: true,
        vjp: if d.vjp.is_some() {
            Vjp::Yes
        } else {
            Vjp::NotDifferentiable
        },
    }
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    let mut entries: Vec<Entry> = UnaryOp::ALL.iter().map(|u| unary_entry(u.def())).collect();
    entries.extend(vec![
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
    ]);
    entries
}
