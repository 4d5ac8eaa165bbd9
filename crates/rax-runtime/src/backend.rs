//! The `Backend` trait: what every way of running a rax program provides — a name and
//! version information, compilation of a `Graph` (with donation information) into an
//! [`Executable`], execution on [`Array`] arguments, and host<->device transfers.
//!
//! Implementations: [`crate::Interpreter`] (embedded, `rax_core::interp`) and [`crate::Pjrt`]
//! (StableHLO through a PJRT plugin). Both validate arguments (count, shapes, dtypes, donated
//! buffers) before running anything, so a bad call is an `Err`, never a plugin abort.
//!
//! Depends on rax-core only.

use rax_core::lower::ModuleOptions;
use rax_core::{AVal, Array, DeviceArray, Error, Graph, Literal, Result};
use std::fmt;
use std::sync::Arc;

/// Which inputs of a program are donated (their buffers may be reused for outputs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Donation {
    /// `(input, output)`: the input's buffer holds that output (`tf.aliasing_output`).
    pub aliases: Vec<(usize, usize)>,
    /// Donated inputs without a designated output (`jax.buffer_donor`).
    pub donors: Vec<usize>,
}

impl Donation {
    /// Lowering options declaring this donation (`tf.aliasing_output` / `jax.buffer_donor`).
    pub fn module_options(&self) -> ModuleOptions {
        ModuleOptions {
            module_name: "rax".into(),
            aliases: self.aliases.clone(),
            donors: self.donors.clone(),
        }
    }

    /// No donation.
    pub fn none() -> Donation {
        Donation::default()
    }

    /// Donates the inputs flagged `true`: each aliases the first not yet aliased output of the
    /// same type (shape and dtype); the rest become plain buffer donors. This is how `jit`
    /// turns "donate these leaves" into an in-place update.
    pub fn assign(in_avals: &[AVal], out_avals: &[AVal], donate: &[bool]) -> Donation {
        let mut used = vec![false; out_avals.len()];
        let mut d = Donation::default();
        for (i, a) in in_avals.iter().enumerate() {
            if !donate.get(i).copied().unwrap_or(false) {
                continue;
            }
            match (0..out_avals.len()).find(|&o| !used[o] && &out_avals[o] == a) {
                Some(o) => {
                    used[o] = true;
                    d.aliases.push((i, o));
                }
                None => d.donors.push(i),
            }
        }
        d
    }

    /// True when input `i` is donated (aliased or donor).
    pub fn is_donated(&self, i: usize) -> bool {
        self.aliases.iter().any(|(a, _)| *a == i) || self.donors.contains(&i)
    }

    /// One flag per input (all false when nothing is donated).
    pub fn flags(&self, n_inputs: usize) -> Vec<bool> {
        (0..n_inputs).map(|i| self.is_donated(i)).collect()
    }

    /// Checks indices against the program's inputs and outputs.
    pub fn validate(&self, in_avals: &[AVal], out_avals: &[AVal]) -> Result<()> {
        let mut seen_in = vec![false; in_avals.len()];
        let mut seen_out = vec![false; out_avals.len()];
        let bad = |m: String| Err(Error::arg("donation", m));
        for &(i, o) in &self.aliases {
            if i >= in_avals.len() || o >= out_avals.len() {
                return bad(format!(
                    "alias ({i}, {o}) out of range: the program has {} inputs and {} outputs",
                    in_avals.len(),
                    out_avals.len()
                ));
            }
            if in_avals[i] != out_avals[o] {
                return bad(format!(
                    "input {i} ({}) cannot hold output {o} ({})",
                    in_avals[i], out_avals[o]
                ));
            }
            if seen_in[i] || seen_out[o] {
                return bad(format!("alias ({i}, {o}) repeats an input or an output"));
            }
            seen_in[i] = true;
            seen_out[o] = true;
        }
        for &i in &self.donors {
            if i >= in_avals.len() || seen_in[i] {
                return bad(format!("donor input {i} is out of range or repeated"));
            }
            seen_in[i] = true;
        }
        Ok(())
    }
}

/// What a backend is, for reports (`Runtime::description`, benchmark JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// `interpreter` or `pjrt`.
    pub name: String,
    /// The platform (`host`, `cpu`, `cuda`).
    pub platform: String,
    /// The platform's version string (plugin's `PlatformVersion`, or rax's version).
    pub platform_version: String,
    /// PJRT C API version (major, minor), for plugins.
    pub api_version: Option<(u32, u32)>,
    /// The plugin's shared library, for plugins.
    pub plugin_path: Option<String>,
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.name, self.platform)?;
        if let Some((a, b)) = self.api_version {
            write!(f, ", PJRT C API {a}.{b}")?;
        }
        if !self.platform_version.is_empty() {
            write!(f, ", {}", self.platform_version)?;
        }
        if let Some(p) = &self.plugin_path {
            write!(f, " ({p})")?;
        }
        Ok(())
    }
}

/// A way of running rax programs.
pub trait Backend: fmt::Debug + Send + Sync {
    /// Name, platform and version.
    fn info(&self) -> &BackendInfo;

    /// Compiles a program; `donation` says which inputs it may overwrite.
    fn compile(&self, graph: &Graph, donation: &Donation) -> Result<Arc<dyn Executable>>;

    /// The options this backend lowers a program with (module name, donation attributes), so
    /// that `Jit::stablehlo` shows exactly the text `compile` would compile.
    fn module_options(&self, donation: &Donation) -> ModuleOptions {
        donation.module_options()
    }

    /// Copies a host literal to this backend's device.
    fn to_device(&self, lit: &Literal) -> Result<Array>;

    /// Copies an array to the host (waits for it to be computed).
    fn to_host(&self, a: &Array) -> Result<Literal> {
        a.to_literal()
    }

    /// Counters of the persistent compilation cache, when this backend uses one.
    fn compile_cache_stats(&self) -> Option<crate::compile_cache::CacheStats> {
        None
    }
}

/// A compiled program of some backend.
pub trait Executable: fmt::Debug + Send + Sync {
    /// The parameters' types.
    fn in_avals(&self) -> &[AVal];
    /// The results' types.
    fn out_avals(&self) -> &[AVal];
    /// The donation the program was compiled with.
    fn donation(&self) -> &Donation;
    /// The program text the backend compiled (StableHLO for PJRT), if any.
    fn text(&self) -> Option<&str> {
        None
    }
    /// Runs the program. Arguments are checked first (count, types, donated buffers); donated
    /// device arguments are consumed (any later use is an error). Host arguments are copied in.
    fn execute(&self, args: &[Array]) -> Result<Vec<Array>>;
    /// Like [`Executable::execute`], appending the results to `out` (lets callers reuse it).
    fn execute_into(&self, args: &[Array], out: &mut Vec<Array>) -> Result<()> {
        out.extend(self.execute(args)?);
        Ok(())
    }
}

/// Buffers that can be donated (consumed by a call) report it here; a runtime's own device
/// arrays implement it, so reuse of a donated buffer is a clear error before any backend call.
pub(crate) fn donated_state(d: &dyn DeviceArray) -> bool {
    let any = d.as_any();
    if let Some(p) = any.downcast_ref::<crate::pjrt::PjrtArray>() {
        return p.is_donated();
    }
    if let Some(p) = any.downcast_ref::<crate::interp::InterpArray>() {
        return p.is_donated();
    }
    false
}

/// True when a (device) array was donated to an earlier call.
pub fn is_donated(a: &Array) -> bool {
    match a {
        Array::Host(_) => false,
        Array::Device(d) => donated_state(&**d),
    }
}

/// The error for a donated buffer passed again.
pub(crate) fn donated_error(backend: &str, what: &str) -> Error {
    Error::backend(
        backend,
        format!(
            "{what} was donated to an earlier call and its buffer now belongs to that call's \
             result; pass the result instead (or do not donate it)"
        ),
    )
}

/// Checks argument count and types against a program's parameters, without allocating.
pub(crate) fn check_args(backend: &str, in_avals: &[AVal], args: &[Array]) -> Result<()> {
    if args.len() != in_avals.len() {
        return Err(Error::backend(
            backend,
            format!(
                "the program takes {} arguments, {} given",
                in_avals.len(),
                args.len()
            ),
        ));
    }
    for (i, (a, want)) in args.iter().zip(in_avals).enumerate() {
        let ok = match a {
            Array::Host(l) => l.dtype() == want.dtype && l.shape() == &want.shape,
            Array::Device(d) => d.aval() == want,
        };
        if !ok {
            return Err(Error::backend(
                backend,
                format!("argument {i} must be {want}, got {}", a.aval()),
            ));
        }
        if let Array::Device(d) = a {
            if donated_state(&**d) {
                return Err(donated_error(backend, &format!("argument {i}")));
            }
        }
    }
    Ok(())
}

/// Checks that no donated argument is also passed in another position.
pub(crate) fn check_donated_unique(backend: &str, flags: &[bool], args: &[Array]) -> Result<()> {
    for (i, a) in args.iter().enumerate() {
        if !flags.get(i).copied().unwrap_or(false) {
            continue;
        }
        let Array::Device(d) = a else { continue };
        let p = Arc::as_ptr(d) as *const ();
        for (j, b) in args.iter().enumerate() {
            if j != i {
                if let Array::Device(e) = b {
                    if Arc::as_ptr(e) as *const () == p {
                        return Err(Error::backend(
                            backend,
                            format!(
                                "argument {i} is donated but the same buffer is also argument {j}"
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
