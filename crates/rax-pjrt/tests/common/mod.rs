//! Shared test helpers: locate both CPU plugins via discovery and apply the
//! CI policy (missing plugin = failure when `CI=true`, skip otherwise).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use rax_pjrt::{discover, Client, CompileOptions, ElementType, Executable, Plugin};

/// The CPU plugins the tests run against: (label, pip layout suffix).
pub const CPU_PLUGINS: &[(&str, &str)] = &[
    ("xla_cpu_pjrt", "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so"),
    ("lammps", "lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so"),
];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Paths of the CPU plugins found by discovery, keyed by label. A missing
/// plugin fails the test under `CI=true` and is skipped (with a notice)
/// otherwise.
pub fn cpu_plugin_paths() -> Vec<(&'static str, PathBuf)> {
    let found = discover();
    let mut out = Vec::new();
    for &(label, suffix) in CPU_PLUGINS {
        match found.cpu().find(|c| c.path.ends_with(suffix)) {
            Some(c) => out.push((label, c.path.clone())),
            None if in_ci() => panic!(
                "CI=true but PJRT plugin {label} ({suffix}) was not found:\n{}",
                found.report()
            ),
            None => eprintln!("SKIP: PJRT plugin {label} ({suffix}) not installed"),
        }
    }
    out
}

/// Loads each available CPU plugin and creates a client.
pub fn clients() -> Vec<(&'static str, Arc<Plugin>, Client)> {
    cpu_plugin_paths()
        .into_iter()
        .map(|(label, path)| {
            let plugin = Plugin::load(&path).unwrap_or_else(|e| panic!("{label}: {e}"));
            let client = Client::new(&plugin).unwrap_or_else(|e| panic!("{label}: {e}"));
            (label, plugin, client)
        })
        .collect()
}

/// `x + 1` on f32[8].
pub const ADD_ONE: &str = r#"module @m {
  func.func public @main(%arg0: tensor<8xf32>) -> (tensor<8xf32>) {
    %c = stablehlo.constant dense<1.0> : tensor<8xf32>
    %0 = stablehlo.add %arg0, %c : tensor<8xf32>
    return %0 : tensor<8xf32>
  }
}"#;

/// Compiles with default options, panicking with the plugin label.
pub fn compile(label: &str, client: &Client, text: &str) -> Executable {
    client
        .compile(text, &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{label}: {e}"))
}

/// f32 slice -> bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// bytes -> f32 vec.
pub fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Uploads f32 data to the client's first device.
pub fn upload_f32(client: &Client, v: &[f32], dims: &[i64]) -> rax_pjrt::Buffer {
    let dev = client.default_device().expect("device");
    client
        .buffer_from_host(&f32_bytes(v), ElementType::F32, dims, &dev)
        .expect("upload")
}
