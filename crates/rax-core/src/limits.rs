//! Size limits checked before memory is allocated or a plugin is called, so that a huge or
//! overflowing shape is an error naming the op and the byte count instead of an abort.
//!
//! Two bounds:
//! - [`check_aval`]: every value's element count and byte size must fit in `i64` (what
//!   StableHLO and XLA use for sizes; beyond it XLA throws a C++ exception that cannot cross
//!   the C API). Applied to every result type a shape rule computes, at trace time.
//! - [`check_alloc`]: an array rax (or a plugin, for a program's results) materialises must
//!   not exceed [`max_array_bytes`]: `RAX_MAX_ARRAY_BYTES` if set, else the machine's physical
//!   memory. Applied before the interpreter allocates a result and before a program is
//!   compiled by a plugin.
//!
//! Depends on `error`, `shape`.

use crate::error::{Error, Result};
use crate::shape::AVal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The largest array, in bytes, rax allocates or asks a plugin to produce.
/// `RAX_MAX_ARRAY_BYTES` overrides it (read once); the default is the physical memory
/// (`MemTotal` in `/proc/meminfo`), or 1 TiB where that cannot be read.
pub fn max_array_bytes() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        if let Some(v) = std::env::var("RAX_MAX_ARRAY_BYTES")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        {
            return v;
        }
        physical_memory().unwrap_or(1 << 40)
    })
}

fn physical_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The byte size of an abstract value, or an error naming the op when its element count or
/// byte size does not fit in `i64`.
pub fn check_aval(op: &str, aval: &AVal) -> Result<usize> {
    let numel = aval
        .shape
        .checked_numel()
        .filter(|&n| n <= i64::MAX as usize);
    let Some(numel) = numel else {
        return Err(Error::arg(
            op,
            format!(
                "result {aval} has more than 2^63 elements (the element count overflows); \
                 no backend can hold it"
            ),
        ));
    };
    match numel.checked_mul(aval.dtype.size_bytes()) {
        Some(b) if b <= i64::MAX as usize => Ok(b),
        _ => Err(Error::arg(
            op,
            format!(
                "result {aval} needs {numel} x {} bytes, more than 2^63 bytes; no backend can hold it",
                aval.dtype.size_bytes()
            ),
        )),
    }
}

/// Checks that an array of `aval` may be materialised: its byte size is at most
/// [`max_array_bytes`]. The error names the op, the value and the byte count.
pub fn check_alloc(op: &str, aval: &AVal) -> Result<()> {
    let bytes = check_aval(op, aval)?;
    let limit = max_array_bytes();
    if bytes > limit {
        return Err(Error::arg(
            op,
            format!(
                "result {aval} needs {bytes} bytes, more than the {limit}-byte limit on one array \
                 (the physical memory, or RAX_MAX_ARRAY_BYTES)"
            ),
        ));
    }
    Ok(())
}

/// Iterations a `while_loop` may run on the interpreter before it is stopped with an error
/// (a condition that never turns false would otherwise hang the process). Default
/// [`DEFAULT_WHILE_BUDGET`]; `RAX_WHILE_BUDGET` (read once) or [`set_while_budget`] change
/// it, 0 meaning unlimited. PJRT plugins compile the loop to native code and offer no budget:
/// there a non-terminating loop runs until the process is killed.
pub fn while_budget() -> u64 {
    let v = WHILE_BUDGET.load(Ordering::Relaxed);
    if v != UNSET {
        return v;
    }
    let v = std::env::var("RAX_WHILE_BUDGET")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_WHILE_BUDGET);
    // Only the first reader stores the environment's value; a concurrent set wins.
    let _ = WHILE_BUDGET.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed);
    WHILE_BUDGET.load(Ordering::Relaxed)
}

/// Sets the interpreter's `while_loop` iteration budget for the process (0 = unlimited).
pub fn set_while_budget(iterations: u64) {
    WHILE_BUDGET.store(iterations.min(UNSET - 1), Ordering::Relaxed);
}

/// The default `while_loop` budget on the interpreter: 10^9 iterations (hours of
/// interpretation; a loop that long is almost surely a condition that never turns false).
pub const DEFAULT_WHILE_BUDGET: u64 = 1_000_000_000;

const UNSET: u64 = u64::MAX;
static WHILE_BUDGET: AtomicU64 = AtomicU64::new(UNSET);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn limits_name_the_op_and_bytes() {
        let e = check_aval("iota", &AVal::new([1usize << 40, 1 << 40], DType::F32))
            .unwrap_err()
            .to_string();
        assert!(e.contains("iota") && e.contains("2^63"), "{e}");
        let e = check_alloc("zeros", &AVal::new([1usize << 40], DType::F32))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("zeros") && e.contains("4398046511104 bytes"),
            "{e}"
        );
        assert!(check_alloc("zeros", &AVal::new([0, 1 << 40, 1 << 40], DType::F32)).is_ok());
    }
}
