//! The backends a test suite runs on: the interpreter and one runtime per CPU PJRT plugin found
//! on the machine. Under CI (`CI=true`) both CPU plugins rax is tested against (xla-cpu-pjrt,
//! API 0.81, and lammps-jax-pjrt-cpu, API 0.115) must be present: a missing one is an error
//! instead of a warning, so a suite cannot pass by skipping them. Every crate's tests (and a
//! user's) share this one definition.

use crate::{discover_plugins, Runtime};
use rax_core::{Error, Result};

/// True when running under CI (`CI` is `true` or `1`).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// One runtime per discovered CPU plugin, labelled `file name (API a.b)`. A plugin that is
/// discovered but does not load is an error; fewer than both CPU plugins is an error under CI
/// and a warning on stderr elsewhere.
pub fn cpu_runtimes() -> Result<Vec<(String, Runtime)>> {
    let found = discover_plugins();
    let mut out = Vec::new();
    for c in found.cpu() {
        let rt = Runtime::pjrt(&c.path).map_err(|e| {
            Error::data(
                "test_backends",
                format!("{} was discovered but does not load: {e}", c.path.display()),
            )
        })?;
        let name = c
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (a, b) = rt.info().api_version.unwrap_or((0, 0));
        out.push((format!("{name} (API {a}.{b})"), rt));
    }
    if out.len() < 2 {
        let msg = format!(
            "expected both CPU plugins (xla-cpu-pjrt API 0.81 and lammps-jax-pjrt-cpu API 0.115), \
             found {}: run `bash scripts/test.sh` to install them.\n{}",
            out.len(),
            found.report()
        );
        if ci() {
            return Err(Error::data("test_backends", msg));
        }
        eprintln!("WARNING (not CI, continuing): {msg}");
    }
    Ok(out)
}

/// The interpreter plus every CPU plugin ([`cpu_runtimes`]).
pub fn all_runtimes() -> Result<Vec<(String, Runtime)>> {
    let mut v = vec![("interpreter".to_string(), Runtime::interpreter())];
    v.extend(cpu_runtimes()?);
    Ok(v)
}
