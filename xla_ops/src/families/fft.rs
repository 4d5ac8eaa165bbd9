//! Conformance builders and catalogue entries of the `fft` family (being filled in).

use crate::catalogue::Entry;
use rax_core::{Error, Result, Tensor};

/// Builds a case's outputs.
pub fn build(op: &str, _params: &serde_json::Value, _xs: &[Tensor]) -> Result<Vec<Tensor>> {
    Err(Error::data("case", format!("fft: unknown op {op}")))
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    vec![]
}
