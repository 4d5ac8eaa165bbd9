//! rax-models: whole models built from rax-nn's layers, their configs (serde, with the peer's
//! field names) and their checkpoint formats. Every family implements [`family::CausalLm`], the
//! interface the `rax` program (`rax eval`, `rax generate`) drives; [`family::load`] recognises
//! the family from the checkpoint itself.
//!
//! Depends on rax-core, rax-nn, rax-optim and rax-runtime.
#![warn(missing_docs)]

pub mod deepseek;
pub mod family;
pub mod lm;
pub mod megalodon;
pub mod sampling;
pub mod ttt;
