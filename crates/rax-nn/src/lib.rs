//! rax-nn: layers and models as pure functions over parameter trees (`Tree`s of `Tensor`s).
//! A model is a parameter struct plus functions `(cfg, params, inputs) -> outputs`; nothing here
//! holds state. Precision-sensitive parameters (norm scales) are declared `Sensitive` where the
//! layer creates them, so the dtype policy keeps them f32.
//!
//! Depends on rax-core only.
#![warn(missing_docs)]

pub mod cema;
pub mod checkpoint;
pub mod chunked_attention;
pub mod embedding;
pub mod ffn;
pub mod init;
pub mod layer_norm;
pub mod layers;
pub mod linear;
pub mod mla;
pub mod moe;
pub mod moe_aux;
pub mod moe_dispatch;
pub mod moe_router;
pub mod rms_norm;
pub mod rope;
pub mod segments;
pub mod swiglu;
pub mod timestep_norm;
pub mod ttt;
pub mod yarn;
