//! Case builders and catalogue entries, one file per primitive family (mirroring
//! `rax_core::prim`). A builder maps a case's op name and params to rax `Tensor` calls.

pub mod control;
pub mod dot;
pub mod elementwise;
pub mod fft;
pub mod grads;
pub mod indexing;
pub mod layout;
pub mod prng;
pub mod reduce;
pub mod sort;

use crate::catalogue::Entry;
use rax_core::{Error, Result, Tensor};

/// Builds the outputs of a case of a family.
pub fn build(
    family: &str,
    op: &str,
    params: &serde_json::Value,
    xs: &[Tensor],
) -> Result<Vec<Tensor>> {
    match family {
        "elementwise" => elementwise::build(op, params, xs),
        "layout" => layout::build(op, params, xs),
        "indexing" => indexing::build(op, params, xs),
        "dot" => dot::build(op, params, xs),
        "reduce" => reduce::build(op, params, xs),
        "sort" => sort::build(op, params, xs),
        "fft" => fft::build(op, params, xs),
        "grads" => grads::build(op, params, xs),
        "control" => control::build(op, params, xs),
        "prng" => prng::build(op, params, xs),
        _ => Err(Error::data("case", format!("unknown family {family}"))),
    }
}

/// Every family's catalogue entries.
pub fn catalogue() -> Vec<(&'static str, Vec<Entry>)> {
    vec![
        ("elementwise", elementwise::catalogue()),
        ("layout", layout::catalogue()),
        ("indexing", indexing::catalogue()),
        ("dot", dot::catalogue()),
        ("reduce", reduce::catalogue()),
        ("sort", sort::catalogue()),
        ("fft", fft::catalogue()),
        ("grads", grads::catalogue()),
        ("control", control::catalogue()),
        ("prng", prng::catalogue()),
    ]
}
