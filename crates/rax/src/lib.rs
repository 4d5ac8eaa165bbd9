//! rax: a JAX-style functional array framework. This facade re-exports the crates users need —
//! the array language (`core`), the runtime (`runtime`), optimizers (`optim`) and layers (`nn`)
//! — and a `prelude`. It also holds the precision demonstrations (`norm_freeze`) and the PNG line
//! charts (`plot`, drawn with plotters) that the examples and the `rax` program write.
//!
//! Depends on every other rax crate; only the `rax` program (rax-cli) depends on it.
#![warn(missing_docs)]

pub mod norm_freeze;
pub mod plot;

pub use rax_core as core;
pub use rax_macros::Tree;
pub use rax_models as models;
pub use rax_nn as nn;
pub use rax_optim as optim;
pub use rax_runtime as runtime;

/// The names a training script usually needs.
pub mod prelude {
    pub use rax_core::autodiff::{grad, value_and_grad};
    pub use rax_core::policy::Policy;
    pub use rax_core::random::PrngKey;
    pub use rax_core::{DType, Error, Literal, Result, Sensitive, Tensor, Tree};
    pub use rax_optim::{apply_updates, GradientTransformation};
    pub use rax_runtime::Runtime;
}
