//! `rax generate`: continues int32 prompts `[B, P]` by `N` tokens, greedy unless a temperature
//! is given, and writes int32 `[B, P + N]` (prompt included).

use crate::{backend, npy};
use clap::Args;
use rax_core::{Error, Policy, Result};
use rax_models::family::GenerateOptions;
use std::path::PathBuf;

/// Arguments of `rax generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A checkpoint: a megalodon-jax .safetensors file or a Hugging Face directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// int32 .npy prompt array [B, P], P >= 1.
    #[arg(long)]
    pub prompt: PathBuf,
    /// Number of tokens to generate.
    #[arg(long)]
    pub max_new_tokens: usize,
    /// Sampling temperature (greedy when absent or 0).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    /// Sample among the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Nucleus sampling threshold in (0, 1].
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f64>,
    /// PRNG seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output .npy file: int32 [B, P + N].
    #[arg(long)]
    pub out: PathBuf,
    /// Dtype policy, e.g. `f32` or `p=f32,c=bf16,a=f32,s=f32`.
    #[arg(long)]
    pub policy: Option<String>,
    /// `auto`, `interpreter`, or the path of a PJRT plugin.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

fn bad(flag: &str, msg: String) -> Error {
    Error::arg(&format!("rax generate {flag}"), msg)
}

/// Runs `rax generate`.
pub fn run(a: &GenerateArgs) -> Result<()> {
    if let Some(t) = a.temperature {
        if !(t.is_finite() && t >= 0.0) {
            return Err(bad(
                "--temperature",
                format!("must be finite and >= 0, got {t}"),
            ));
        }
    }
    if let Some(p) = a.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(bad("--top-p", format!("must be in (0, 1], got {p}")));
        }
    }
    if a.top_k == Some(0) {
        return Err(bad("--top-k", "must be at least 1".into()));
    }
    let policy = a.policy.as_deref().map(Policy::parse).transpose()?;
    let prompt = npy::read_tokens(&a.prompt, "--prompt", 1)?;
    let model = rax_models::family::load(&a.checkpoint, policy.as_ref())?;
    npy::check_vocab(&prompt, model.vocab_size(), &a.prompt)?;
    let rt = backend::runtime(&a.backend)?;
    let opts = GenerateOptions {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature.filter(|&t| t > 0.0),
        top_k: a.top_k,
        top_p: a.top_p,
        seed: a.seed,
    };
    let t0 = std::time::Instant::now();
    let out = model.generate(&rt, &prompt, &opts)?;
    let secs = t0.elapsed().as_secs_f64();
    npy::write(&a.out, &out)?;
    let dims = out.dims();
    let new_tokens = dims[0] * a.max_new_tokens;
    if a.json {
        let v = serde_json::json!({
            "model": model.family(),
            "backend": backend::name(&rt),
            "backend_description": rt.description(),
            "batch": dims[0],
            "prompt_len": prompt.dims()[1],
            "new_tokens": new_tokens,
            "seconds": secs,
            "tokens_per_s": new_tokens as f64 / secs.max(1e-12),
            "out": a.out.display().to_string(),
        });
        println!("{v}");
    } else {
        println!("model    {}", model.family());
        println!("backend  {}", rt.description());
        println!("wrote    {} ({} x {})", a.out.display(), dims[0], dims[1]);
        println!(
            "speed    {:.1} tokens/s",
            new_tokens as f64 / secs.max(1e-12)
        );
    }
    Ok(())
}
