//! The `compare` primitive: direction names, the StableHLO lowering (also used by other
//! families), the interpreter kernel (IEEE floats, signed/unsigned integers, complex eq/ne)
//! and the `Tensor` comparison methods (numpy broadcasting).
//!
//! Depends on `ir`, `literal`, `lower`, `trace` and the family's helpers.

use super::binary::to_i64s;
use super::broadcast_pair;
use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::{CmpDir, Op};
use crate::literal::{Data, Literal};
use crate::lower::{LowerCtx, V};
use crate::trace::{apply1, Tensor};

fn cmp_name(c: CmpDir) -> &'static str {
    match c {
        CmpDir::Eq => "EQ",
        CmpDir::Ne => "NE",
        CmpDir::Lt => "LT",
        CmpDir::Le => "LE",
        CmpDir::Gt => "GT",
        CmpDir::Ge => "GE",
    }
}

/// The StableHLO `compare_type` for a dtype.
pub fn compare_type(d: DType) -> &'static str {
    if d.is_inexact() {
        "FLOAT"
    } else if d.is_signed_int() {
        "SIGNED"
    } else {
        "UNSIGNED"
    }
}

/// Emits a `stablehlo.compare` (also used by other families' lowerings).
pub fn lower_compare(cx: &mut LowerCtx, c: CmpDir, a: &V, b: &V) -> V {
    let attrs = format!(
        "comparison_direction = #stablehlo<comparison_direction {}>, compare_type = #stablehlo<comparison_type {}>",
        cmp_name(c),
        compare_type(a.aval.dtype)
    );
    cx.op1(
        "stablehlo.compare",
        &[a, b],
        &attrs,
        a.aval.with_dtype(DType::Bool),
    )
}

/// The interpreter kernel of `compare`.
pub fn eval_compare(c: CmpDir, x: &Literal, y: &Literal) -> Result<Literal> {
    use std::cmp::Ordering;
    let n = x.numel();
    let ord: Vec<Option<Ordering>> = match (x.data(), y.data()) {
        (Data::C64(a), Data::C64(b)) => a
            .iter()
            .zip(b)
            .map(|(p, q)| if p == q { Some(Ordering::Equal) } else { None })
            .collect(),
        (Data::U32(a), Data::U32(b)) => a.iter().zip(b).map(|(p, q)| p.partial_cmp(q)).collect(),
        (dx, dy) if x.dtype().is_int() || x.dtype().is_bool() => {
            let (Some(a), Some(b)) = (to_i64s(dx), to_i64s(dy)) else {
                return Err(Error::dtype("compare", x.dtype(), "any"));
            };
            a.iter().zip(&b).map(|(p, q)| p.partial_cmp(q)).collect()
        }
        _ => {
            let (a, b) = (x.to_f64_vec(), y.to_f64_vec());
            a.iter().zip(&b).map(|(p, q)| p.partial_cmp(q)).collect()
        }
    };
    let complex_ne = |i: usize| -> bool {
        // Complex NE is true when unequal (including NaN parts).
        ord[i].is_none()
    };
    let out: Vec<bool> = (0..n)
        .map(|i| match (c, ord[i]) {
            (CmpDir::Eq, o) => o == Some(Ordering::Equal),
            (CmpDir::Ne, _) if x.dtype().is_complex() => complex_ne(i),
            (CmpDir::Ne, o) => o != Some(Ordering::Equal),
            (CmpDir::Lt, o) => o == Some(Ordering::Less),
            (CmpDir::Le, o) => matches!(o, Some(Ordering::Less | Ordering::Equal)),
            (CmpDir::Gt, o) => o == Some(Ordering::Greater),
            (CmpDir::Ge, o) => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
        })
        .collect();
    Literal::new(x.shape().clone(), Data::Bool(out))
}

impl Tensor {
    #[track_caller]
    fn compare(&self, other: &Tensor, c: CmpDir) -> Tensor {
        let site = CallSite::here();
        match broadcast_pair("compare", self, other) {
            Ok((x, y)) => apply1(Op::Compare(c), &[&x, &y], site),
            Err(e) => crate::trace::apply_error(e, self.aval(), site),
        }
    }

    /// self == other, elementwise (bool).
    #[track_caller]
    pub fn eq(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Eq)
    }
    /// self != other.
    #[track_caller]
    pub fn ne(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Ne)
    }
    /// self < other.
    #[track_caller]
    pub fn lt(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Lt)
    }
    /// self <= other.
    #[track_caller]
    pub fn le(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Le)
    }
    /// self > other.
    #[track_caller]
    pub fn gt(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Gt)
    }
    /// self >= other.
    #[track_caller]
    pub fn ge(&self, other: &Tensor) -> Tensor {
        self.compare(other, CmpDir::Ge)
    }
}
