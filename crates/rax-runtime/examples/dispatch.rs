//! Dispatch cost of a tiny jitted program: `x + 1` on f32[8], the result fed back as the next
//! input, 20,000 calls — through rax's `jit` and through the raw rax-pjrt API on the same
//! plugin. Prints one JSON line per CPU plugin found (plus one for the interpreter):
//! compile seconds, µs/call of each path (best of 9 interleaved rounds) and their ratio.
//!
//! Run: `cargo run --release -p rax-runtime --example dispatch`
//! (The target: rax within 1.2x of the raw PJRT loop.)

use rax_core::{DType, Literal, Tensor};
use rax_pjrt::{CompileOptions, ElementType};
use rax_runtime::{discover_plugins, Pjrt, Runtime};
use std::time::Instant;

const CALLS: usize = 20_000;
const WARMUP: usize = 1_000;
const ROUNDS: usize = 9;

const ADD_ONE: &str = r#"module @m {
  func.func public @main(%arg0: tensor<8xf32>) -> (tensor<8xf32>) {
    %c = stablehlo.constant dense<1.0> : tensor<8xf32>
    %0 = stablehlo.add %arg0, %c : tensor<8xf32>
    return %0 : tensor<8xf32>
  }
}"#;

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn add_one(x: &Tensor) -> Tensor {
    x + 1.0
}

/// rax jit: (first-call seconds = trace + lower + compile + run, µs/call).
fn rax_loop(rt: &Runtime, rounds: usize) -> R<(f64, f64, bool)> {
    let f = rt.jit(add_one);
    let zeros = Literal::zeros(&rax_core::AVal::new([8], DType::F32));
    let mut x = rt.put(&zeros)?;
    let t = Instant::now();
    x = f.call(&x)?;
    let compile_s = t.elapsed().as_secs_f64();
    for _ in 0..WARMUP {
        x = f.call(&x)?;
    }
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..CALLS {
            x = f.call(&x)?;
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / CALLS as f64);
    }
    let want = (1 + WARMUP + rounds * CALLS) as f32;
    let ok = x.to_vec::<f32>()?.iter().all(|&v| v == want) && f.compile_count() == 1;
    Ok((compile_s, best, ok))
}

/// The raw rax-pjrt loop on the same client.
fn raw_loop(b: &Pjrt, rounds: usize) -> R<(f64, f64, bool)> {
    let client = b.client();
    let t = Instant::now();
    let exe = client.compile(ADD_ONE, &CompileOptions::default())?;
    let compile_s = t.elapsed().as_secs_f64();
    let mut x = client.buffer_from_host(&[0u8; 32], ElementType::F32, &[8], b.device())?;
    for _ in 0..WARMUP {
        x = exe.execute(&[&x], &[])?.swap_remove(0);
    }
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..CALLS {
            x = exe.execute(&[&x], &[])?.swap_remove(0);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / CALLS as f64);
    }
    let out = x.to_host()?;
    let first = f32::from_le_bytes([out[0], out[1], out[2], out[3]]);
    Ok((compile_s, best, first == (WARMUP + rounds * CALLS) as f32))
}

fn bench(path: &std::path::Path) -> R<String> {
    let rt = Runtime::pjrt(path)?;
    let raw = Pjrt::load(path)?;
    // Interleave rounds so machine noise hits both paths alike.
    let (mut rax_best, mut raw_best) = (f64::INFINITY, f64::INFINITY);
    let (mut rax_compile, mut raw_compile, mut ok) = (0.0, 0.0, true);
    for round in 0..ROUNDS {
        let (c1, us1, ok1) = raw_loop(&raw, 1)?;
        let (c2, us2, ok2) = rax_loop(&rt, 1)?;
        if round == 0 {
            raw_compile = c1;
            rax_compile = c2;
        }
        raw_best = raw_best.min(us1);
        rax_best = rax_best.min(us2);
        ok &= ok1 && ok2;
    }
    let (a, b) = rt.info().api_version.unwrap_or((0, 0));
    Ok(format!(
        "{{\"plugin\":\"{}\",\"api_version\":\"{a}.{b}\",\"rax_first_call_s\":{rax_compile:.4},\
         \"raw_compile_s\":{raw_compile:.4},\"rax_jit_us_per_call\":{rax_best:.3},\
         \"raw_pjrt_us_per_call\":{raw_best:.3},\"ratio\":{:.3},\"calls\":{CALLS},\"result_ok\":{ok}}}",
        path.display(),
        rax_best / raw_best
    ))
}

fn main() {
    let found = discover_plugins();
    let mut any = false;
    for c in found.cpu() {
        any = true;
        match bench(&c.path) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("{}: {e}", c.path.display()),
        }
    }
    match rax_loop(&Runtime::interpreter(), 1) {
        Ok((c, us, ok)) => println!(
            "{{\"plugin\":\"interpreter\",\"rax_first_call_s\":{c:.4},\"rax_jit_us_per_call\":{us:.3},\"calls\":{CALLS},\"result_ok\":{ok}}}"
        ),
        Err(e) => eprintln!("interpreter: {e}"),
    }
    if !any {
        eprintln!(
            "no CPU PJRT plugin found (see README to install one):\n{}",
            found.report()
        );
        std::process::exit(1);
    }
}
