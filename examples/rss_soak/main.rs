//! Memory soak: the reference LM training step (value_and_grad, clip, AdamW, apply; params and
//! optimizer state donated) run for many steps, with the process's resident set size sampled
//! from /proc/self/status. Prints one JSON line: RSS after warm-up, at the end, the drift
//! between them and per step, and the RSS samples.
//!
//!     cargo run --release -p rax-examples --example rss_soak -- --steps 10000 [--sample-every 1000]
//!         [--warmup 1000] [--backend auto|interpreter|PATH.so] [--batch 4 --seq 64 --width 64 --layers 2]
//!
//! A leak of one device buffer or host literal per step (a few KiB at this size) would show as
//! tens of MiB of drift over 10,000 steps; allocator noise is a few MiB at most.
#[path = "../common/flags.rs"]
mod flags;
use flags::Flags;
use rax::core::{Error, Result};
use rax::models::lm::{random_tokens, LmConfig, LmParams};
use rax::optim::GradientTransformation;
use rax_examples::lm_step;

fn rss_kib() -> Result<u64> {
    let s = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::data("rss_soak", format!("/proc/self/status: {e}")))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| Error::data("rss_soak", "no VmRSS line in /proc/self/status"))
}

fn main() -> Result<()> {
    let flags = Flags::from_env();
    let num = |flag: &str, d: usize| flags.num(flag, d);
    let (steps, every, warmup) = (
        num("--steps", 10_000)?,
        num("--sample-every", 1000)?.max(1),
        num("--warmup", 1000)?,
    );
    let (batch, seq) = (num("--batch", 4)?, num("--seq", 64)?);
    let cfg = LmConfig {
        vocab: 256,
        width: num("--width", 64)?,
        layers: num("--layers", 2)?,
        heads: 2,
        compute: rax::core::DType::F32,
    };
    let rt = flags.runtime()?;
    let params = LmParams::init(&cfg, 0)?;
    let tokens = random_tokens(cfg.vocab, batch, seq, 0)?;
    let state = lm_step::optimizer().init(&params)?;
    let step = lm_step::reference_step(&rt, &cfg, true);
    let mut x = (params, state, tokens.clone());
    let mut samples = Vec::new();
    let mut base = None;
    let mut last_loss = f64::NAN;
    let t0 = std::time::Instant::now();
    for i in 1..=warmup + steps {
        let (p, s, l) = step.call(&x)?;
        last_loss = l.to_f64_vec()?.first().copied().unwrap_or(f64::NAN);
        x = (p, s, tokens.clone());
        if i == warmup {
            base = Some(rss_kib()?);
            samples.push((0, base.unwrap_or(0)));
        } else if i > warmup && (i - warmup) % every == 0 {
            samples.push((i - warmup, rss_kib()?));
        }
    }
    let start = base.unwrap_or(0) as f64;
    let end = samples.last().map_or(start, |s| s.1 as f64);
    let drift_kib = end - start;
    let out = serde_json::json!({
        "backend": rt.info().name,
        "steps": steps,
        "warmup_steps": warmup,
        "rss_after_warmup_mib": start / 1024.0,
        "rss_end_mib": end / 1024.0,
        "drift_mib": drift_kib / 1024.0,
        "drift_bytes_per_step": drift_kib * 1024.0 / steps.max(1) as f64,
        "max_rss_mib": samples.iter().map(|s| s.1).max().unwrap_or(0) as f64 / 1024.0,
        "samples_kib": samples,
        "compiles": step.compile_count(),
        "final_loss": last_loss,
        "wall_s": t0.elapsed().as_secs_f64(),
    });
    println!("{out}");
    Ok(())
}
