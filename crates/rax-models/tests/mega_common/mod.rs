//! Shared helpers of the Megalodon tests: golden files written by
//! crates/rax-models/gen/megalodon_goldens.py (megalodon-jax 0.2.2), relative-error measures,
//! and the runtimes to test on (the interpreter and both CPU plugins; under CI=true a missing
//! plugin is a failure) (rax_runtime::test_backends).
#![allow(dead_code)]

use rax_core::{Literal, Tensor};
use rax_models::megalodon::checkpoint;
use rax_models::megalodon::{MegalodonConfig, MegalodonForCausalLM};
use rax_runtime::{test_backends, Runtime};
use std::collections::BTreeMap;

pub fn data(name: &str) -> String {
    format!("{}/tests/data/megalodon/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn golden(name: &str) -> BTreeMap<String, Literal> {
    rax_nn::checkpoint::load(data(&format!("{name}_golden.safetensors"))).expect("golden file")
}

pub fn model(name: &str) -> (MegalodonConfig, MegalodonForCausalLM) {
    let l = checkpoint::load(data(&format!("{name}.safetensors")), None).expect("checkpoint");
    (l.config, l.params)
}

pub fn t(g: &BTreeMap<String, Literal>, k: &str) -> Tensor {
    Tensor::from_literal(g.get(k).unwrap_or_else(|| panic!("golden key {k}")).clone())
}

/// max |a − b| / max(max |b|, floor): the error relative to the tensor's scale (elements near
/// zero do not blow it up).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-6);
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

pub fn rel(a: &Tensor, b: &Tensor) -> f64 {
    rel_err(&a.to_f64_vec().expect("a"), &b.to_f64_vec().expect("b"))
}

/// True when running under CI (`CI=true`): missing plugins are failures, not skips.
pub fn ci() -> bool {
    test_backends::ci()
}

/// One runtime per discovered CPU plugin, labelled by file name and API version.
pub fn cpu_runtimes() -> Vec<(String, Runtime)> {
    test_backends::cpu_runtimes().unwrap_or_else(|e| panic!("{e}"))
}

/// The interpreter plus every CPU plugin.
pub fn all_runtimes() -> Vec<(String, Runtime)> {
    test_backends::all_runtimes().unwrap_or_else(|e| panic!("{e}"))
}
