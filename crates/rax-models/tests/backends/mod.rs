//! The backends a rax-models test runs on: the interpreter and every CPU PJRT plugin found on
//! the machine (both must exist under CI, `CI=true`; elsewhere a missing one is a warning).
#![allow(dead_code)]

use rax_runtime::{test_backends, Runtime};

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
