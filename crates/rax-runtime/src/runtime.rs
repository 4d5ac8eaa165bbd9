//! `Runtime`: the chosen backend plus the reason it was chosen.
//!
//! [`Runtime::auto`] follows this order: an explicit plugin (`RAX_PJRT_PLUGIN`; the API
//! form is [`Runtime::with_plugin`]), then plugins pip installed in the Python environments on
//! the machine (GPU > CPU), then the embedded interpreter. An explicit plugin that is missing
//! or broken is an error (the user asked for it); a discovered plugin that fails to load is
//! skipped and the failure is reported in [`Runtime::description`]. `RAX_BACKEND=interpreter`
//! forces the interpreter. Extra Python prefixes to search can be given in `RAX_PJRT_SEARCH`
//! (separated by `:`), e.g. `$(python3 -c 'import sys; print(sys.prefix)')`.
//!
//! Depends on `backend`, `interp`, `pjrt`, `jit`.

use crate::backend::{Backend, BackendInfo};
use crate::interp::Interpreter;
use crate::jit::Jit;
use crate::pjrt::Pjrt;
use rax_core::{Error, Literal, Result, Tensor, Tree, TreeResult};
use rax_pjrt::discover::{discover_with, CandidateSource, Discovery, DiscoveryEnv, PLUGIN_ENV};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable with extra Python prefixes (`:`-separated) searched for plugins.
pub const SEARCH_ENV: &str = "RAX_PJRT_SEARCH";
/// Environment variable forcing a backend kind (`interpreter`).
pub const BACKEND_ENV: &str = "RAX_BACKEND";

/// A backend and why it was chosen. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    backend: Arc<dyn Backend>,
    description: Arc<str>,
}

/// Finds PJRT plugins: rax-pjrt's discovery over the process environment, with the prefixes
/// of `RAX_PJRT_SEARCH` searched first.
pub fn discover_plugins() -> Discovery {
    let mut env = DiscoveryEnv::from_process();
    if let Some(extra) = std::env::var_os(SEARCH_ENV) {
        let extra: Vec<PathBuf> = std::env::split_paths(&extra)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        env.prefixes.splice(0..0, extra);
    }
    discover_with(&env)
}

impl Runtime {
    /// A runtime on any backend, with a description of the choice.
    pub fn from_backend(backend: Arc<dyn Backend>, why: &str) -> Runtime {
        let description = format!("{}\n  why: {why}", backend.info());
        Runtime {
            backend,
            description: description.into(),
        }
    }

    /// The embedded interpreter.
    pub fn interpreter() -> Runtime {
        Runtime::from_backend(Arc::new(Interpreter::new()), "asked for the interpreter")
    }

    /// The PJRT plugin at `path`; an error (never an abort) if it is missing, is not a PJRT
    /// plugin, or cannot create a client.
    pub fn pjrt(path: impl AsRef<Path>) -> Result<Runtime> {
        let path = path.as_ref();
        let b = Pjrt::load(path)?;
        Ok(Runtime::from_backend(
            Arc::new(b),
            &format!("explicit plugin path {}", path.display()),
        ))
    }

    /// The first step of the `auto` order given through the API: this plugin, or an error.
    /// (Same as [`Runtime::pjrt`].)
    pub fn with_plugin(path: impl AsRef<Path>) -> Result<Runtime> {
        Runtime::pjrt(path)
    }

    /// Picks a backend: `RAX_BACKEND=interpreter`, else the plugin named by `RAX_PJRT_PLUGIN`
    /// (an error if it cannot be used), else the best pip-installed plugin that loads
    /// (GPU > CPU; failures are reported and skipped), else the interpreter.
    pub fn auto() -> Result<Runtime> {
        if let Ok(v) = std::env::var(BACKEND_ENV) {
            match v.as_str() {
                "" | "auto" | "pjrt" => {}
                "interpreter" | "interp" => {
                    return Ok(Runtime::from_backend(
                        Arc::new(Interpreter::new()),
                        &format!("{BACKEND_ENV}={v}"),
                    ))
                }
                other => {
                    return Err(Error::arg(
                        "Runtime::auto",
                        format!("{BACKEND_ENV}={other}: expected `auto`, `pjrt` or `interpreter`"),
                    ))
                }
            }
        }
        if let Some(p) = std::env::var_os(PLUGIN_ENV).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(p);
            let b = Pjrt::load(&path).map_err(|e| {
                Error::backend(
                    "pjrt",
                    format!(
                        "{PLUGIN_ENV}={} cannot be used ({e}); unset it to let rax choose",
                        path.display()
                    ),
                )
            })?;
            return Ok(Runtime::from_backend(
                Arc::new(b),
                &format!("explicit plugin {PLUGIN_ENV}={}", path.display()),
            ));
        }
        let found = discover_plugins();
        let mut tried = String::new();
        for c in &found.candidates {
            if c.source == CandidateSource::EnvVar {
                continue;
            }
            match Pjrt::load_candidate(c) {
                Ok(b) => {
                    let mut why = format!(
                        "best pip-installed plugin that loads ({:?}; order GPU > CPU)",
                        c.kind
                    );
                    why.push_str(&tried);
                    return Ok(Runtime::from_backend(Arc::new(b), &why));
                }
                Err(e) => {
                    let _ = write!(tried, "\n  skipped {}: {e}", c.path.display());
                }
            }
        }
        let mut why = String::from("no usable PJRT plugin; ");
        why.push_str("install one with `pip install --no-deps xla-cpu-pjrt==0.0.1` (see README)");
        why.push_str(&tried);
        for d in &found.decisions {
            let _ = write!(why, "\n  {d}");
        }
        Ok(Runtime::from_backend(Arc::new(Interpreter::new()), &why))
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Name, platform and version of the backend.
    pub fn info(&self) -> &BackendInfo {
        self.backend.info()
    }

    /// Which backend this is and why it was chosen (several lines).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Hits and misses of the persistent compilation cache (`RAX_COMPILATION_CACHE_DIR`), if
    /// the backend uses one.
    pub fn compile_cache_stats(&self) -> Option<crate::CacheStats> {
        self.backend.compile_cache_stats()
    }

    /// True for a PJRT backend.
    pub fn is_pjrt(&self) -> bool {
        self.info().name == "pjrt"
    }

    /// Copies a host literal to the device: a device-backed tensor.
    pub fn put(&self, lit: &Literal) -> Result<Tensor> {
        Ok(Tensor::from_array(self.backend.to_device(lit)?))
    }

    /// Copies every concrete leaf of a tree to the device.
    pub fn put_tree<T: Tree>(&self, t: &T) -> Result<T> {
        let mut first_err = None;
        let out =
            rax_core::tree::tree_map(t, |x| match x.to_literal().and_then(|l| self.put(&l)) {
                Ok(y) => y,
                Err(e) => {
                    first_err.get_or_insert(e);
                    x.clone()
                }
            });
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Compiles `f` once per input signature and runs it on this backend (see [`Jit`]). `f`
    /// returns a tree, or a `Result` of one (a body using `value_and_grad(...)?`); its error is
    /// the call's error.
    pub fn jit<In, R, F>(&self, f: F) -> Jit<In, R::Tree, F>
    where
        In: Tree,
        R: TreeResult,
        F: Fn(&In) -> R,
    {
        Jit::new(self.clone(), f)
    }
}
