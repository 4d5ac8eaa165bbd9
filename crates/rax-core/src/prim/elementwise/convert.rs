//! The `convert` and `bitcast_convert` primitives: the bitcast typing rule (a trailing
//! dimension appears or vanishes when the widths differ), the bitcast kernel and the `cast` /
//! `bitcast` methods. (`convert`'s kernel is `Literal::convert`.)
//!
//! Depends on `dtype`, `literal`, `trace`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::Op;
use crate::literal::Literal;
use crate::shape::AVal;
use crate::trace::{apply1, Tensor};

/// The typing rule of `bitcast_convert`.
pub fn bitcast_rule(x: &AVal, to: DType) -> Result<AVal> {
    let name = "bitcast_convert";
    if x.dtype == DType::Bool || to == DType::Bool {
        return Err(Error::dtype(
            name,
            DType::Bool,
            "bool has no defined bit layout; use convert",
        ));
    }
    if x.dtype.is_complex() != to.is_complex() {
        // StableHLO forbids it (the plugins refuse to compile it; found by the fuzzer).
        return Err(Error::dtype(
            name,
            if x.dtype.is_complex() { x.dtype } else { to },
            "a real dtype to a real dtype (complex values have no bitcast to real ones; use real/imag)",
        ));
    }
    let (wi, wo) = (x.dtype.size_bytes(), to.size_bytes());
    let mut dims = x.dims().to_vec();
    if wi == wo {
    } else if wi > wo {
        dims.push(wi / wo);
    } else {
        let ratio = wo / wi;
        if dims.last() != Some(&ratio) {
            return Err(Error::shape(
                name,
                format!(
                    "converting {} to {to} needs a trailing dimension of {ratio}",
                    x.dtype
                ),
                std::slice::from_ref(x),
            ));
        }
        dims.pop();
    }
    Ok(AVal::new(dims, to))
}

/// The interpreter kernel of `bitcast_convert`.
pub fn eval_bitcast(x: &Literal, to: DType) -> Result<Literal> {
    let out = bitcast_rule(&x.aval(), to)?;
    Literal::from_bytes(&out, &x.to_bytes())
}

impl Tensor {
    /// Element type conversion (`stablehlo.convert`). The identity when the dtype matches.
    #[track_caller]
    pub fn cast(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        apply1(Op::Convert(dtype), &[self], CallSite::here())
    }

    /// Reinterprets the bits as another dtype.
    #[track_caller]
    pub fn bitcast(&self, dtype: DType) -> Tensor {
        apply1(Op::BitcastConvert(dtype), &[self], CallSite::here())
    }
}
