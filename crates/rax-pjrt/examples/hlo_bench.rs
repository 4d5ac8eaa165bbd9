//! Compiles StableHLO text files on each discovered CPU plugin (or the plugins named with
//! `--plugin PATH`) and runs each compiled program on zero-filled inputs of its `@main`
//! signature. Prints one JSON line per (plugin, file): best-of-N compile time and the median and
//! minimum execution times (the minimum is the steadier figure on a shared machine). A
//! diagnostic for "is it the program or the compiler?": run it on rax's and JAX's lowering of the
//! same step (e.g. `bench_lm --dump-stablehlo`) to compare the two programs on one XLA, and the
//! same program on XLAs of different versions.
//!
//!     cargo run --release -p rax-pjrt --example hlo_bench -- [--plugin P.so]... [--compiles 3]
//!         [--runs 5] [--times] FILE.mlir...
//!
//! `--times` adds `step_s`, every run's time in run order: on a shared host, slow phases that
//! last tens of runs show there, not in the minimum.
//!
//! Inputs are fresh zero buffers for every run (programs may donate them) and are not donated;
//! each is ready before the clock starts.
//! Set `XLA_FLAGS` as the runtime would (rax's runtime adds `--xla_cpu_enable_fast_min_max=false`).
use std::path::PathBuf;
use std::time::Instant;

use rax_pjrt::{
    dense_byte_size, discover, main_signature, Client, CompileOptions, Error, Plugin, Result,
};

struct Args {
    plugins: Vec<PathBuf>,
    files: Vec<PathBuf>,
    compiles: usize,
    runs: usize,
    /// Also print every run's time, in order (`step_s`): a shared host's slow phases show.
    times: bool,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut a = Args {
        plugins: Vec::new(),
        files: Vec::new(),
        compiles: 3,
        runs: 5,
        times: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--plugin" => a.plugins.push(value("--plugin")?.into()),
            "--times" => a.times = true,
            "--compiles" | "--runs" => {
                let v = value(&arg)?;
                let n: usize = v.parse().map_err(|e| format!("{arg} {v}: {e}"))?;
                if arg == "--compiles" {
                    a.compiles = n.max(1);
                } else {
                    a.runs = n.max(1);
                }
            }
            _ => a.files.push(arg.into()),
        }
    }
    if a.files.is_empty() {
        return Err(
            "usage: hlo_bench [--plugin P.so]... [--compiles N] [--runs N] [--times] FILE.mlir..."
                .into(),
        );
    }
    if a.plugins.is_empty() {
        a.plugins = discover().cpu().map(|c| c.path.clone()).collect();
    }
    if a.plugins.is_empty() {
        return Err(format!(
            "no CPU PJRT plugin found:\n{}",
            discover().report()
        ));
    }
    Ok(a)
}

/// Each compile's time and every timed run's time, in run order.
fn bench(client: &Client, text: &str, a: &Args) -> Result<(Vec<f64>, Vec<f64>)> {
    let device = client.default_device()?;
    let mut compile_s = Vec::with_capacity(a.compiles);
    let mut exe = None;
    for _ in 0..a.compiles {
        let t = Instant::now();
        exe = Some(client.compile(text, &CompileOptions::default())?);
        compile_s.push(t.elapsed().as_secs_f64());
    }
    compile_s.sort_by(f64::total_cmp);
    let exe = exe.ok_or_else(|| Error::InvalidArgument("no compile ran".into()))?;
    let specs = main_signature(text)
        .ok_or_else(|| Error::InvalidArgument("cannot read the @main signature".into()))?;
    let mut inputs = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let ty = s.element_type.ok_or_else(|| {
            Error::InvalidArgument(format!("argument {i}: element type not understood"))
        })?;
        let dims: Option<Vec<i64>> = s.dims.iter().copied().collect();
        let dims =
            dims.ok_or_else(|| Error::InvalidArgument(format!("argument {i}: dynamic dims")))?;
        inputs.push((ty, dims));
    }
    let mut times = Vec::with_capacity(a.runs);
    // One warm-up run, then `runs` timed ones; each gets fresh zero inputs.
    for run in 0..=a.runs {
        let bufs = inputs
            .iter()
            .map(|(ty, dims)| {
                let bytes = vec![0u8; dense_byte_size(*ty, dims)?];
                client.buffer_from_host(&bytes, *ty, dims, &device)
            })
            .collect::<Result<Vec<_>>>()?;
        // A host-to-device copy may still be under way when `buffer_from_host` returns: wait
        // for it outside the timing.
        for b in &bufs {
            b.block_until_ready()?;
        }
        let refs: Vec<_> = bufs.iter().collect();
        let t = Instant::now();
        let outs = exe.execute(&refs, &[])?;
        for o in &outs {
            o.block_until_ready()?;
        }
        if run > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    Ok((compile_s, times))
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut failed = false;
    for path in &a.plugins {
        let client = match Plugin::load(path).and_then(|p| Client::new(&p).map(|c| (p, c))) {
            Ok((_, c)) => c,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let (major, minor) = client.plugin().api_version();
        for file in &a.files {
            let result = std::fs::read_to_string(file)
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", file.display())))
                .and_then(|text| bench(&client, &text, &a));
            match result {
                Ok((compile_s, times)) => {
                    let mut sorted = times.clone();
                    sorted.sort_by(f64::total_cmp);
                    let mut line = serde_json::json!({
                        "plugin_api_version": format!("{major}.{minor}"),
                        "file": file.display().to_string(),
                        "compile_s": compile_s,
                        "step_median_s": sorted[sorted.len() / 2],
                        "step_min_s": sorted[0],
                    });
                    if a.times {
                        line["step_s"] = serde_json::json!(times);
                    }
                    println!("{line}");
                }
                Err(e) => {
                    eprintln!("{} on {}: {e}", file.display(), path.display());
                    failed = true;
                }
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
