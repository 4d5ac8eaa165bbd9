//! The `select` and `clamp` primitives: interpreter kernels and the `Tensor` methods
//! (`select` broadcasts all three operands; `clamp` takes scalar or same-shape bounds), and
//! the storage concatenation other families' kernels share.
//!
//! Depends on `literal`, `trace`, `binary` (clamp is max then min), `layout` (broadcasting).

use super::binary::eval_binary;
use super::broadcast_pair;
use crate::error::{CallSite, Error, Result};
use crate::ir::{BinaryOp, Op};
use crate::literal::{Data, Literal};
use crate::trace::{apply1, Tensor};

/// The interpreter kernel of `select`.
pub fn eval_select(p: &Literal, t: &Literal, f: &Literal) -> Result<Literal> {
    let pv = p.as_slice::<bool>()?;
    let n = t.numel();
    let idx: Vec<usize> = (0..n)
        .map(|i| {
            let take_true = if pv.len() == 1 { pv[0] } else { pv[i] };
            if take_true {
                i
            } else {
                i + n
            }
        })
        .collect();
    // Gather from the concatenation [t, f] by flat index.
    let both = concat_data(t.data(), f.data());
    Literal::new(t.shape().clone(), both.gather_flat(&idx))
}

/// Concatenates two storages of one dtype.
pub fn concat_data(a: &Data, b: &Data) -> Data {
    macro_rules! cat {
        ($($c:ident),*) => {
            match (a, b) {
                $((Data::$c(x), Data::$c(y)) => Data::$c(x.iter().chain(y).copied().collect()),)*
                _ => a.clone(),
            }
        };
    }
    cat!(Bool, I8, I32, I64, U8, U32, F16, BF16, F32, F64, F8E4M3FN, F8E5M2, C64)
}

/// The interpreter kernel of `clamp`.
pub fn eval_clamp(lo: &Literal, x: &Literal, hi: &Literal) -> Result<Literal> {
    let n = x.numel();
    let bcast = |l: &Literal| -> Result<Literal> {
        if l.shape() == x.shape() {
            Ok(l.clone())
        } else {
            Literal::new(x.shape().clone(), l.data().gather_flat(&vec![0; n]))
        }
    };
    let (lo, hi) = (bcast(lo)?, bcast(hi)?);
    let m = eval_binary(BinaryOp::Max, &lo, x)?;
    eval_binary(BinaryOp::Min, &m, &hi)
}

impl Tensor {
    /// `where(pred, on_true, on_false)` with broadcasting of all three.
    #[track_caller]
    pub fn select(pred: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Tensor {
        let site = CallSite::here();
        let r = (|| {
            let (t, f) = broadcast_pair("select", on_true, on_false)?;
            let shape =
                crate::prim::layout::broadcast_shapes(pred.shape().dims(), t.shape().dims())
                    .ok_or_else(|| {
                        Error::shape(
                            "select",
                            "predicate does not broadcast",
                            &[pred.aval(), t.aval()],
                        )
                    })?;
            Ok::<_, Error>((
                pred.broadcast_to(&shape),
                t.broadcast_to(&shape),
                f.broadcast_to(&shape),
            ))
        })();
        match r {
            Ok((p, t, f)) => apply1(Op::Select, &[&p, &t, &f], site),
            Err(e) => crate::trace::apply_error(e, on_true.aval(), site),
        }
    }

    /// Clamps into `[lo, hi]` (scalars or same-shape tensors).
    #[track_caller]
    pub fn clamp(&self, lo: &Tensor, hi: &Tensor) -> Tensor {
        apply1(Op::Clamp, &[lo, self, hi], CallSite::here())
    }

    /// Clamps into `[lo, hi]` given as Rust scalars of the tensor's dtype.
    #[track_caller]
    pub fn clamp_scalar(&self, lo: f64, hi: f64) -> Tensor {
        let d = self.dtype();
        self.clamp(&Tensor::scalar_of(lo, d), &Tensor::scalar_of(hi, d))
    }
}
