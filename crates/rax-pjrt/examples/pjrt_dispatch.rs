//! Per-call dispatch cost of `x + 1` on f32[8] for each discovered CPU
//! plugin: the output is fed back as the next input for 20,000 calls.
//! Prints one JSON line per plugin.
//!
//! Run with `cargo run --release -p rax-pjrt --example pjrt_dispatch`.
use std::time::Instant;

use rax_pjrt::{discover, Client, CompileOptions, ElementType, Plugin, Result};

const ADD_ONE: &str = r#"module @m {
  func.func public @main(%arg0: tensor<8xf32>) -> (tensor<8xf32>) {
    %c = stablehlo.constant dense<1.0> : tensor<8xf32>
    %0 = stablehlo.add %arg0, %c : tensor<8xf32>
    return %0 : tensor<8xf32>
  }
}"#;

const CALLS: usize = 20_000;
const WARMUP: usize = 1_000;

fn bench(path: &std::path::Path) -> Result<String> {
    let plugin = Plugin::load(path)?;
    let client = Client::new(&plugin)?;
    let device = client.default_device()?;
    let t = Instant::now();
    let exe = client.compile(ADD_ONE, &CompileOptions::default())?;
    let compile_s = t.elapsed().as_secs_f64();

    let zeros = [0u8; 32];
    let mut x = client.buffer_from_host(&zeros, ElementType::F32, &[8], &device)?;
    for _ in 0..WARMUP {
        x = exe.execute(&[&x], &[])?.swap_remove(0);
    }
    let t = Instant::now();
    for _ in 0..CALLS {
        x = exe.execute(&[&x], &[])?.swap_remove(0);
    }
    let us_per_call = t.elapsed().as_secs_f64() * 1e6 / CALLS as f64;
    let out = x.to_host()?;
    let first = f32::from_ne_bytes([out[0], out[1], out[2], out[3]]);
    let expected = (WARMUP + CALLS) as f32;
    let (major, minor) = plugin.api_version();
    Ok(format!(
        "{{\"plugin\":\"{}\",\"api_version\":\"{major}.{minor}\",\"compile_s\":{compile_s:.4},\
         \"us_per_call\":{us_per_call:.3},\"calls\":{CALLS},\"result_ok\":{}}}",
        path.display(),
        first == expected
    ))
}

fn main() {
    let found = discover();
    let mut any = false;
    for candidate in found.cpu() {
        any = true;
        match bench(&candidate.path) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("{}: {e}", candidate.path.display()),
        }
    }
    if !any {
        eprintln!("no CPU PJRT plugin found:\n{}", found.report());
        std::process::exit(1);
    }
}
