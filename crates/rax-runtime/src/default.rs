//! The process's default runtime and the free [`jit`] on it: `jit(step)?` reads as JAX's
//! `jax.jit(step)` (default backend), `rt.jit(step)` picks the runtime explicitly.
//!
//! The default runtime is [`Runtime::auto`], chosen once per process on first use (its error,
//! e.g. a broken `RAX_PJRT_PLUGIN`, is returned by every later call too).
//!
//! Depends on `runtime` and `jit`.

use crate::jit::Jit;
use crate::runtime::Runtime;
use rax_core::{Result, Tree, TreeResult};
use std::sync::OnceLock;

impl Runtime {
    /// The process's default runtime: [`Runtime::auto`], chosen on first use and shared after
    /// (a clone: cheap). What [`jit`] compiles on.
    pub fn global() -> Result<Runtime> {
        static GLOBAL: OnceLock<Result<Runtime>> = OnceLock::new();
        GLOBAL.get_or_init(Runtime::auto).clone()
    }
}

/// [`Runtime::jit`] on the default runtime ([`Runtime::global`]): `f` returns a tree or a
/// `Result` of one, and is compiled once per input signature.
///
/// ```no_run
/// use rax_core::{DType, Tensor};
/// let double = rax_runtime::jit(|x: &Tensor| x * 2.0)?;
/// let y = double.call(&Tensor::full(&[3], 1.0, DType::F32))?;
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0; 3]);
/// # Ok::<(), rax_core::Error>(())
/// ```
pub fn jit<In, R, F>(f: F) -> Result<Jit<In, R::Tree, F>>
where
    In: Tree,
    R: TreeResult,
    F: Fn(&In) -> R,
{
    Ok(Runtime::global()?.jit(f))
}
