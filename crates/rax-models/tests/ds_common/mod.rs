//! Shared helpers of the DeepSeek tests: the interpreter and the CPU plugins on this machine as
//! runtimes (both plugins must exist under CI), and the golden files.
#![allow(dead_code)]

use rax_runtime::{test_backends, Runtime};

/// True when running under CI (`CI=true`): missing plugins are failures, not skips.
pub fn ci() -> bool {
    test_backends::ci()
}

/// One runtime per discovered CPU plugin, labelled by file name and API version.
pub fn cpu_runtimes() -> Vec<(String, Runtime)> {
    test_backends::cpu_runtimes().unwrap_or_else(|e| panic!("{e}"))
}

/// The interpreter plus every CPU plugin.
pub fn all_runtimes() -> Vec<(String, Runtime)> {
    test_backends::all_runtimes().unwrap_or_else(|e| panic!("{e}"))
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
