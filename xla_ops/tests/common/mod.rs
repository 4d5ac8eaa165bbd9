//! Helpers shared by xla-ops' integration tests.
pub mod fuzz_plugins;
