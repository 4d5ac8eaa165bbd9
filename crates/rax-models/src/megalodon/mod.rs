//! Megalodon (megalodon-jax 0.2.2 compatible): config, parameter tree, forward pass with an
//! optional streaming cache, the causal-LM loss, native checkpoints both ways, and the
//! [`crate::family::CausalLm`] interface. Layers (ComplexEMA, TimestepNorm, chunked attention,
//! RMSNorm, LayerNorm, FFN, Linear, Embedding, RoPE) live in rax-nn. Conventions, precision and
//! checkpoint format are described in docs/megalodon.md.
//!
//! Files: `config` (serde config), `attention` / `block` / `model` (parameters and forward),
//! `cache` (streaming state), `loss` (`compute_loss`), `checkpoint` (native format),
//! `causal_lm` (the `CausalLm` implementation), `dropout`, `pyjson` and `sha256` (megalodon-jax's
//! canonical JSON and hashes). Generation (`generate`) is written separately on top of the
//! forward pass with a cache.

pub mod attention;
pub mod block;
pub mod cache;
pub mod causal_lm;
pub mod checkpoint;
pub mod config;
pub mod dropout;
pub mod generate;
pub mod loss;
pub mod model;
pub mod pyjson;
pub mod sha256;

pub use cache::{EmaState, LayerCache, ModelCache};
pub use config::MegalodonConfig;
pub use loss::{compute_loss, lm_loss, LossOptions, Reduction};
pub use model::{Forward, MegalodonForCausalLM, MegalodonModel};
