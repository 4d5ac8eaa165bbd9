//! Writes two checkpoints with rax's megalodon-jax writer, for the generator script's
//! `--check-rax-save` (which loads them with megalodon-jax's `load_checkpoint`):
//! `OUT/rax_tiny.safetensors` (the tiny golden checkpoint, loaded and saved again by rax) and
//! `OUT/rax_fresh.safetensors` (a fresh rax init of the options-style config, bf16 params),
//! plus `OUT/rax_fresh_logits.safetensors` (rax's logits of that model for the golden tokens).
//!
//! `cargo run -p rax-models --example megalodon_save -- OUT_DIR`

use rax_core::{PrngKey, Tensor};
use rax_models::megalodon::checkpoint;
use rax_models::megalodon::{MegalodonConfig, MegalodonForCausalLM};
use std::path::PathBuf;

fn main() -> rax_core::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp".into()));
    std::fs::create_dir_all(&out).map_err(|e| rax_core::Error::Io {
        path: out.display().to_string(),
        msg: e.to_string(),
    })?;
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/megalodon");
    let tiny = checkpoint::load(format!("{data}/tiny.safetensors"), None)?;
    checkpoint::save(&tiny.config, &tiny.params, out.join("rax_tiny.safetensors"))?;
    let cfg = MegalodonConfig {
        vocab_size: 64,
        model_dim: 16,
        num_layers: 2,
        num_heads: 2,
        z_dim: 8,
        value_dim: 16,
        ffn_hidden_dim: 24,
        cema_ndim: 3,
        chunk_size: 8,
        norm_num_groups: 4,
        swiglu: true,
        rescale_nffn: true,
        share_emb: true,
        init_mode: "xavier".into(),
        param_dtype: "bfloat16".into(),
        ..MegalodonConfig::default()
    };
    let p = MegalodonForCausalLM::init(&cfg, &PrngKey::new(42))?;
    checkpoint::save(&cfg, &p, out.join("rax_fresh.safetensors"))?;
    let g = rax_nn::checkpoint::load(format!("{data}/tiny_golden.safetensors"))?;
    let tokens = Tensor::from_literal(g["tokens"].clone());
    let logits = p.logits(&cfg, &tokens)?;
    let mut m = std::collections::BTreeMap::new();
    m.insert("logits".to_string(), logits);
    rax_nn::checkpoint::save(&m, out.join("rax_fresh_logits.safetensors"))?;
    println!("wrote {}", out.display());
    Ok(())
}
