//! The reference LM training step of the benchmark issue, in rax (see
//! examples/bench_lm/bench_lm_jax.py for the JAX + optax peer and run.sh for both side by side).
//!
//!     cargo run --release -p rax-examples --example bench_lm -- --json [--policy p=f32,c=bf16,a=f32,s=f32]
//!         [--backend auto|interpreter|PATH.so] [--steps 10] [--init lm_init.safetensors]
//!         [--batch 8 --seq 128 --width 256 --layers 4 --heads 4 --vocab 256]
//!         [--dump-stablehlo step.mlir] [--no-donate]
//!
//! One jitted program per step: forward, value_and_grad, clip_by_global_norm(1.0), AdamW
//! (3e-4, 0.9, 0.999, 1e-8, wd 0.1 on every parameter), apply; params and optimizer state
//! donated. `trace_lower_s` times tracing + lowering to StableHLO text; `compile_s` is the time of
//! `Jit::compile` (ahead of time, as JAX's `lowered.compile()`) less trace+lower; then one warm-up
//! step runs and `steps` steps are timed.
#[path = "../common/flags.rs"]
mod flags;
use flags::{median, Flags};
use rax::core::policy::Policy;
use rax::core::{DType, Error, Result, Tensor};
use rax::models::lm::{random_tokens, LmConfig, LmParams};
use rax::nn::checkpoint;
use rax::optim::GradientTransformation;
use rax_examples::lm_step;
use std::time::Instant;

fn main() -> Result<()> {
    let flags = Flags::from_env();
    let get = |flag: &str| flags.get(flag);
    let num = |flag: &str, d: usize| flags.num(flag, d);
    let policy_s = get("--policy").unwrap_or_else(|| "f32".into());
    let policy = Policy::parse(&policy_s)?;
    let (batch, seq, steps) = (num("--batch", 8)?, num("--seq", 128)?, num("--steps", 10)?);
    let cfg = LmConfig {
        vocab: num("--vocab", 256)?,
        width: num("--width", 256)?,
        layers: num("--layers", 4)?,
        heads: num("--heads", 4)?,
        compute: policy.compute,
    };
    let rt = flags.runtime()?;
    let template = LmParams::init(&cfg, 0)?;
    let (params, tokens) = match get("--init") {
        Some(path) => {
            let ck = checkpoint::load(&path)?;
            let toks = ck
                .get("tokens")
                .cloned()
                .ok_or_else(|| Error::data("--init", "no `tokens` tensor"))?;
            (
                checkpoint::load_into(&template, &ck)?,
                Tensor::from_literal(toks),
            )
        }
        None => (template, random_tokens(cfg.vocab, batch, seq, 0)?),
    };
    let n_params = params.count();
    let state = lm_step::optimizer().init(&params)?;
    let step = lm_step::reference_step(&rt, &cfg, !flags.has("--no-donate"));
    let mut x = (params, state, tokens.clone());
    let t0 = Instant::now();
    let text = step.stablehlo(&x)?;
    let trace_lower_s = t0.elapsed().as_secs_f64();
    if let Some(path) = get("--dump-stablehlo") {
        std::fs::write(&path, &text).map_err(|e| Error::data("--dump-stablehlo", e.to_string()))?;
    }
    let t1 = Instant::now();
    step.compile(&x)?; // traces and lowers again, then compiles
    let compile_s = (t1.elapsed().as_secs_f64() - trace_lower_s).max(0.0);
    let (p, s, mut l) = step.call(&x)?; // warm-up step
    l.to_f64_vec()?;
    x = (p, s, tokens.clone());
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        let (p, s, l2) = step.call(&x)?;
        l2.to_f64_vec()?; // wait for the step to finish
        times.push(t.elapsed().as_secs_f64());
        x = (p, s, tokens.clone());
        l = l2;
    }
    let med = median(&times);
    let min = times.iter().copied().fold(f64::NAN, f64::min);
    let info = rt.info();
    let out = serde_json::json!({
        "impl": "rax",
        "backend": info.name,
        "plugin_api_version": info.api_version.map(|(a, b)| format!("{a}.{b}")),
        "policy": policy_s,
        "trace_lower_s": trace_lower_s,
        "compile_s": compile_s,
        "step_median_s": med,
        "step_min_s": min,
        "loss": l.to_f64_vec()?[0],
        "params": n_params,
        "gflops": 6.0 * n_params as f64 * (batch * seq) as f64 / med / 1e9,
        "steps": steps + 1,
        "stablehlo_bytes": text.len(),
        "compiles": step.compile_count(),
        "compute_dtype": DType::name(cfg.compute),
    });
    println!("{out}");
    Ok(())
}
