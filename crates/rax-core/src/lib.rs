//! rax-core: the array language of rax — dtypes, shapes, host literals, the typed SSA IR,
//! the tracer (`Tensor`), the primitive catalogue (each primitive's shape rule, StableHLO
//! lowering, interpreter kernel and VJP in one family file), StableHLO text emission and the
//! reference interpreter.
//!
//! Higher crates (runtime, nn, optim) depend on this one; it depends on no rax crate.
#![warn(missing_docs)]

pub mod autodiff;
pub mod debug_nans;
pub mod dtype;
pub mod error;
pub mod float8;
pub mod interp;
pub mod ir;
pub mod item;
pub mod limits;
pub mod literal;
pub mod lower;
pub mod numpy;
pub mod policy;
pub mod precision;
pub mod prim;
pub mod random;
pub mod shape;
pub mod trace;
pub mod tree;
pub mod tree_result;
pub mod verify;
pub mod vmap;

pub use autodiff::{grad, stop_gradient, value_and_grad, vjp};
pub use dtype::DType;
pub use error::{CallSite, Error, Result};
pub use ir::{Graph, Op, Value};
pub use literal::{Data, Element, Literal};
pub use policy::{LossScale, LossScaleState, Policy};
pub use prim::control::{cond, optimization_barrier, scan, switch, while_loop, Branch};
pub use random::PrngKey;
pub use shape::{AVal, Shape};
pub use trace::{trace, Array, DeviceArray, Tensor, Traced};
pub use tree::{LeafInfo, Sensitive, Tree};
pub use tree_result::TreeResult;
