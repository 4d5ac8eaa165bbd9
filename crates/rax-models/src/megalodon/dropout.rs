//! Training-time randomness of a Megalodon forward pass: inverted dropout (`keep ~
//! Bernoulli(1 − rate)`, kept values scaled by `1/(1 − rate)`, in the activation's dtype) with a
//! distinct key per site, derived by folding site numbers into one PRNG key. Absent (`None`) at
//! evaluation time, when every dropout is the identity.
//!
//! Depends on rax-core.

use rax_core::{PrngKey, Tensor};

/// A dropout key for one forward pass.
#[derive(Clone, Debug)]
pub struct Dropout {
    /// The pass's key.
    pub key: PrngKey,
}

impl Dropout {
    /// A child for a sub-module (layer `i`, ...).
    pub fn child(&self, i: u32) -> Dropout {
        Dropout {
            key: self.key.fold_in(i),
        }
    }

    /// The key of site `i`.
    pub fn site(&self, i: u32) -> PrngKey {
        self.key.fold_in(1_000_003 + i)
    }

    /// Inverted dropout of `x` at site `i` with `rate` (identity for rate 0).
    #[track_caller]
    pub fn apply(&self, x: &Tensor, rate: f64, i: u32) -> Tensor {
        if rate <= 0.0 {
            return x.clone();
        }
        let keep = self.site(i).bernoulli(1.0 - rate, &x.dims());
        Tensor::select(&keep, &(x * (1.0 / (1.0 - rate))), &x.scalar_like(0.0))
    }
}
