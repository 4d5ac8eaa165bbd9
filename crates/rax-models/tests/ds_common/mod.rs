//! Shared helpers of the DeepSeek tests: the interpreter and the CPU plugins on this machine as
//! runtimes (both plugins must exist under CI), and the golden files.
#![allow(dead_code)]

use rax_runtime::{discover_plugins, Runtime};

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

/// The directory of the DeepSeek golden files.
pub fn data() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/deepseek")
}

/// The golden tensors `<name>_golden.safetensors` (v3 or v2).
pub fn golden(name: &str) -> std::collections::BTreeMap<String, rax_core::Literal> {
    rax_models::deepseek::checkpoint::read_safetensors(
        &data().join(format!("{name}_golden.safetensors")),
    )
    .expect("golden file")
}

/// Largest |a − b| over the largest |b|.
pub fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}
