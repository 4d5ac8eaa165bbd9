//! rax-examples: scripts on the `rax` facade (its only rax dependency, as in a user crate). The
//! programs are this package's examples (`cargo run -p rax-examples --example NAME`); the
//! library holds the one experiment both an example and an end-to-end test run:
//! [`norm_freeze`] (the bf16 norm-freeze demonstration, `tests/norm_freeze.rs`), and the
//! reference LM training step [`lm_step`] of `bench_lm` and `rss_soak`.
#![warn(missing_docs)]

#[path = "norm_freeze/experiment.rs"]
pub mod norm_freeze;

#[path = "lm_step.rs"]
pub mod lm_step;
