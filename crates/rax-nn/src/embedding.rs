//! Token embedding: a `[vocab, dim]` table gathered by integer ids.
//!
//! Depends on rax-core.

use rax_core::{DType, Tensor};
use rax_macros::Tree;

/// The embedding table.
#[derive(Clone, Debug, Tree)]
pub struct Embedding {
    /// `[vocab, dim]`.
    pub weight: Tensor,
}

impl Embedding {
    /// The rows of `ids [..]` (any integer dtype): `[.., dim]` in the table's dtype.
    #[track_caller]
    pub fn apply(&self, ids: &Tensor) -> Tensor {
        let dims = ids.dims();
        let d = self.weight.dims().get(1).copied().unwrap_or(0);
        let flat = ids.cast(DType::I32).reshape(&[dims.iter().product()]);
        let mut out = dims.clone();
        out.push(d);
        self.weight.take(&flat, 0).reshape(&out)
    }
}
