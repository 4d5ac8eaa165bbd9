//! rax-runtime: running rax programs.
//!
//! - [`Backend`] / [`Executable`]: compile a `Graph` (with [`Donation`] information), run it
//!   on [`Array`](rax_core::Array) arguments, move arrays between host and device. Two
//!   implementations: [`Interpreter`] (embedded, rax-core's reference interpreter) and
//!   [`Pjrt`] (StableHLO through a PJRT plugin, results kept on the device).
//! - [`Runtime`]: the chosen backend and why ([`Runtime::auto`]: explicit plugin, then
//!   pip-installed plugins GPU > CPU, then the interpreter).
//! - [`CompileCache`]: compiled programs kept on disk across processes
//!   (`RAX_COMPILATION_CACHE_DIR`).
//! - [`Jit`]: `rt.jit(f)` traces `f` over pytrees once per signature, caches the compiled
//!   program, donates chosen inputs so they are updated in place; `f` returns a tree or a
//!   `Result` of one. [`jit`]`(f)` does the same on the default runtime ([`Runtime::global`]).
//!
//! ```no_run
//! use rax_core::{DType, Tensor};
//! use rax_runtime::Runtime;
//! let rt = Runtime::auto()?;
//! println!("{}", rt.description());
//! let step = rt.jit(|x: &Tensor| x + 1.0).donate_args(&[0]);
//! let mut x = rt.put(&rax_core::Literal::zeros(&rax_core::AVal::new([8], DType::F32)))?;
//! for _ in 0..10 {
//!     x = step.call(&x)?;
//! }
//! assert_eq!(x.to_vec::<f32>()?, vec![10.0; 8]);
//! # Ok::<(), rax_core::Error>(())
//! ```
//!
//! Depends on rax-core (IR, tracer, lowering, interpreter) and rax-pjrt (plugins).
#![warn(missing_docs)]

pub mod backend;
pub mod compile_cache;
pub mod default;
pub mod interp;
pub mod jit;
pub mod pjrt;
pub mod runtime;
pub mod test_backends;

pub use backend::{is_donated, Backend, BackendInfo, Donation, Executable};
pub use compile_cache::{CacheStats, CompileCache, CACHE_DIR_ENV};
pub use default::jit;
pub use interp::{InterpArray, Interpreter};
pub use jit::{Jit, TraceFn};
pub use pjrt::{aliases_supported, Pjrt, PjrtArray};
pub use runtime::{discover_plugins, Runtime};
