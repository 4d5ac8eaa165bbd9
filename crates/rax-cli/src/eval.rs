//! `rax eval`: the mean next-token cross-entropy of a checkpoint on an int32 token array
//! `[B, T]` (the loss of `tokens[:, 1:]` given `tokens[:, :-1]`), optionally the f32 logits.

use crate::{backend, npy};
use clap::Args;
use rax_core::{Policy, Result};
use std::path::PathBuf;

/// Arguments of `rax eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint: a megalodon-jax .safetensors file or a Hugging Face directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// int32 .npy token array [B, T], T >= 2.
    #[arg(long)]
    pub tokens: PathBuf,
    /// Dtype policy, e.g. `f32` or `p=f32,c=bf16,a=f32,s=f32`.
    #[arg(long)]
    pub policy: Option<String>,
    /// `auto`, `interpreter`, or the path of a PJRT plugin.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Write the f32 logits [B, T, V] to this .npy file.
    #[arg(long)]
    pub logits: Option<PathBuf>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rax eval`.
pub fn run(a: &EvalArgs) -> Result<()> {
    let policy = a.policy.as_deref().map(Policy::parse).transpose()?;
    let tokens = npy::read_tokens(&a.tokens, "--tokens", 2)?;
    let model = rax_models::family::load(&a.checkpoint, policy.as_ref())?;
    npy::check_vocab(&tokens, model.vocab_size(), &a.tokens)?;
    let rt = backend::runtime(&a.backend)?;
    let loss = model.loss(&rt, &tokens)?;
    if let Some(out) = &a.logits {
        let logits = model.logits(&rt, &tokens)?;
        npy::write(out, &logits)?;
    }
    let dims = tokens.dims();
    if a.json {
        let v = serde_json::json!({
            "model": model.family(),
            "backend": backend::name(&rt),
            "backend_description": rt.description(),
            "tokens": dims[0] * dims[1],
            "batch": dims[0],
            "seq": dims[1],
            "params": model.param_count(),
            "loss": loss,
        });
        println!("{v}");
    } else {
        println!("model    {}", model.family());
        println!("backend  {}", rt.description());
        println!("tokens   {} ({} x {})", dims[0] * dims[1], dims[0], dims[1]);
        println!("loss     {loss}");
    }
    Ok(())
}
