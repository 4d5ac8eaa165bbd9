//! Shared helpers: the CPU plugins on this machine as runtimes (both must exist under CI).
#![allow(dead_code)]

use rax::runtime::{discover_plugins, Runtime};

/// True when running under CI (`CI=true`): missing plugins are failures, not skips.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// One runtime per discovered CPU plugin, labelled by file name and API version.
pub fn cpu_runtimes() -> Vec<(String, Runtime)> {
    let found = discover_plugins();
    let mut out = Vec::new();
    for c in found.cpu() {
        let rt = Runtime::pjrt(&c.path).unwrap_or_else(|e| {
            panic!("{} was discovered but does not load: {e}", c.path.display())
        });
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
            panic!("{msg}");
        }
        eprintln!("WARNING (not CI, continuing): {msg}");
    }
    out
}

/// The interpreter plus every CPU plugin.
pub fn all_runtimes() -> Vec<(String, Runtime)> {
    let mut v = vec![("interpreter".to_string(), Runtime::interpreter())];
    v.extend(cpu_runtimes());
    v
}
