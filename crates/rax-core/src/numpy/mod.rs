//! The composite array API, apart from the primitives (as JAX separates `jax.numpy` and
//! `jax.nn` from `lax`): `Tensor` methods that add no `Op` of their own but build on the
//! primitives' methods — reductions with widening (`mean`, `var`, keepdims forms), `softmax`,
//! `log_softmax`, `logsumexp`, `matmul`, `einsum`, `take`, `index_add`, `one_hot`, `argsort`
//! and shape helpers. `prim/` holds primitives only: each method there applies its family's
//! `Op`. The methods are on `Tensor` either way, so users' paths do not change.
//!
//! Depends on `trace` and `prim`.

pub mod indexing;
pub mod linalg;
pub mod reductions;
pub mod shape;
pub mod softmax;
pub mod sorting;
