//! [`TreeResult`]: what a traced function may return — a tree, or a `Result` of a tree. It lets
//! one entry point (`Runtime::jit`, `rax::jit`) take both `|x| y` and `|x| { ...?; Ok(y) }`
//! bodies: the error of a `Result` body is the call's error.
//!
//! It lives beside [`Tree`] because the two impls below are coherent only in the crate that
//! defines `Tree` (no `Result` is a tree).
//!
//! Depends on `tree` and `error`.

use crate::error::Result;
use crate::tree::Tree;

/// A function's return value that is a tree (`Self::Tree`) or a `Result` of one.
pub trait TreeResult {
    /// The tree the function produces.
    type Tree: Tree;
    /// The tree, or the error the function returned.
    fn into_result(self) -> Result<Self::Tree>;
}

impl<T: Tree> TreeResult for T {
    type Tree = T;
    fn into_result(self) -> Result<T> {
        Ok(self)
    }
}

impl<T: Tree> TreeResult for Result<T> {
    type Tree = T;
    fn into_result(self) -> Result<T> {
        self
    }
}
