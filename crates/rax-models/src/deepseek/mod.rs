//! DeepSeek-V2 / V3 (MLA + MoE) causal LMs, interchangeable with Hugging Face checkpoints:
//! [`config`] (config.json), [`model`] (parameters and forward), [`checkpoint`] (HF
//! directories both ways), [`cache`] (latent-cache decoding), [`generate`] (the
//! [`crate::family::CausalLm`] implementation) and [`train`] (the seed-004 training step).
//!
//! Depends on rax-core, rax-nn, rax-optim and rax-runtime.

pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod model;

pub mod train;
