//! `argsort`: a two-operand sort of the values with an iota. No `Op` of its own.
//!
//! Depends on `trace`, `prim` (sort, layout).

use crate::dtype::DType;
use crate::error::{CallSite, Error};
use crate::ir::Op;
use crate::trace::{apply, apply_error, Tensor};

impl Tensor {
    /// The i32 indices that sort along `axis` (stable: equal keys keep their input order, also
    /// when descending). A sort of `(self, iota)` keyed by `self`.
    #[track_caller]
    pub fn argsort(&self, axis: usize, descending: bool) -> Tensor {
        let site = CallSite::here();
        let aval = self.aval();
        if self.error().is_none() && (aval.rank() == 0 || axis >= aval.rank()) {
            return apply_error(
                Error::arg(
                    "sort",
                    format!("argsort axis {axis} is out of range for {aval}"),
                ),
                aval.with_dtype(DType::I32),
                site,
            );
        }
        let iota = crate::trace::apply1(
            Op::Iota {
                aval: aval.with_dtype(DType::I32),
                dim: axis,
            },
            &[],
            site,
        );
        let op = Op::Sort {
            axis,
            descending,
            num_keys: 1,
        };
        let mut v = apply(op, &[self, &iota], site);
        v.swap_remove(1)
    }
}
