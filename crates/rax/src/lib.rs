//! rax: a JAX-style functional array framework. This facade is the one dependency a user crate
//! needs: it re-exports the array language ([`core`]), the runtime ([`runtime`]), optimizers
//! ([`optim`]), layers ([`nn`]) and models ([`models`]), `#[derive(Tree)]` ([`Tree`]), and a
//! [`prelude`] with what a training script uses.
//!
//! ```no_run
//! use rax::prelude::*;
//!
//! #[derive(Clone, Debug, Tree)]
//! struct Params {
//!     w: Tensor,
//!     b: Tensor,
//! }
//!
//! fn loss(p: &Params, x: &Tensor, y: &Tensor) -> Tensor {
//!     let e = &(x.matmul(&p.w) + &p.b) - y;
//!     (&e * &e).mean(&[0, 1])
//! }
//!
//! fn main() -> Result<()> {
//!     let k = PrngKey::new(0).split(2);
//!     let (x, y) = (k[0].normal(&[8, 3], DType::F32), k[1].normal(&[8, 1], DType::F32));
//!     let params = Params { w: Tensor::zeros(&[3, 1], DType::F32), b: Tensor::zeros(&[1], DType::F32) };
//!     let opt = adamw(1e-2, 1e-4);
//!     let state = opt.init(&params)?;
//!     let step = jit(move |(p, s, x, y): &(Params, State, Tensor, Tensor)| {
//!         let (l, g) = value_and_grad(|p: &Params| loss(p, x, y))(p)?;
//!         let (u, s) = opt.update(&g, s.clone(), Some(p))?;
//!         Ok((apply_updates(p, &u)?, s, l))
//!     })?
//!     .donate_args(&[0, 1]);
//!     let (params, _state, l) = step.call(&(params, state, x, y))?;
//!     println!("loss {} (w {:?})", l.item::<f32>()?, params.w.dims());
//!     Ok(())
//! }
//! ```
//!
//! Depends on every library crate of rax; holds no code of its own beyond these re-exports.
#![warn(missing_docs)]

pub use rax_core as core;
pub use rax_models as models;
pub use rax_nn as nn;
pub use rax_optim as optim;
pub use rax_runtime as runtime;

/// The pytree trait ([`core::Tree`]).
pub use rax_core::Tree;
/// `#[derive(Tree)]` for a crate that depends only on `rax` (the generated code names
/// `::rax::core`; `#[tree(crate = "...")]` overrides it, see rax-macros).
pub use rax_macros::FacadeTree as Tree;
pub use rax_runtime::jit;

/// The names a training script usually needs: tensors and dtypes, `#[derive(Tree)]` and tree
/// maps, transforms (`grad`, `value_and_grad`, `vmap`, `jit`), the optimizers and their
/// combinators (`chain`, `clip_by_global_norm`, schedules), the dtype `Policy` and `PrngKey`.
pub mod prelude {
    pub use crate::Tree;
    pub use rax_core::autodiff::{grad, stop_gradient, value_and_grad, value_and_grad_with_aux};
    pub use rax_core::policy::Policy;
    pub use rax_core::random::PrngKey;
    pub use rax_core::tree::{
        flatten, leaf_paths, tree_map, tree_map2, tree_map_with_path, unflatten,
    };
    pub use rax_core::vmap::vmap;
    pub use rax_core::{cond, scan, while_loop};
    pub use rax_core::{DType, Error, Literal, Result, Sensitive, Tensor};
    pub use rax_optim::{
        adam, adamw, apply_updates, chain, clip_by_global_norm, constant, cosine_decay, lion, sgd,
        warmup_cosine, GradientTransformation, Schedule, State,
    };
    pub use rax_runtime::{jit, Jit, Runtime};
}
