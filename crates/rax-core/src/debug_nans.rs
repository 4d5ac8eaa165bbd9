//! An opt-in `debug_nans` mode (as JAX's `jax_debug_nans`): every op the interpreter runs
//! (eagerly or in a graph) has its floating results checked, and the first op that produces
//! a NaN is an error naming the op, the element and the user's call site. With
//! `RAX_DEBUG_NANS=inf` (or [`set_mode`]`(Mode::NonFinite)`) infinities count too.
//!
//! On a PJRT plugin the compiled program cannot be checked op by op; rax-runtime's `jit`
//! checks the program's results instead and, when one is non-finite, re-runs the same graph
//! op by op on the interpreter to name the op (what JAX does).
//!
//! Off by default (checking every result costs a pass over it). Enabled by the environment
//! variable `RAX_DEBUG_NANS` (`1`/`true`/`nan`: NaN; `inf`: NaN and ±inf) or [`set_mode`].

use crate::error::{CallSite, Error, Result};
use crate::ir::Op;
use crate::literal::{Data, Literal};
use std::sync::atomic::{AtomicU8, Ordering};

/// What the check looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No checking (the default).
    Off,
    /// NaN results are errors.
    Nan,
    /// NaN and infinite results are errors.
    NonFinite,
}

const UNSET: u8 = u8::MAX;
static MODE: AtomicU8 = AtomicU8::new(UNSET);

fn encode(m: Mode) -> u8 {
    match m {
        Mode::Off => 0,
        Mode::Nan => 1,
        Mode::NonFinite => 2,
    }
}

/// The current mode (the environment is read on first use).
pub fn mode() -> Mode {
    let mut v = MODE.load(Ordering::Relaxed);
    if v == UNSET {
        let m = match std::env::var("RAX_DEBUG_NANS")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            Some("1" | "true" | "nan" | "on") => Mode::Nan,
            Some("inf" | "nonfinite" | "2") => Mode::NonFinite,
            _ => Mode::Off,
        };
        let _ = MODE.compare_exchange(UNSET, encode(m), Ordering::Relaxed, Ordering::Relaxed);
        v = MODE.load(Ordering::Relaxed);
    }
    match v {
        1 => Mode::Nan,
        2 => Mode::NonFinite,
        _ => Mode::Off,
    }
}

/// True unless the mode is [`Mode::Off`].
pub fn enabled() -> bool {
    mode() != Mode::Off
}

/// Sets the mode for the process (overrides `RAX_DEBUG_NANS`).
pub fn set_mode(m: Mode) {
    MODE.store(encode(m), Ordering::Relaxed);
}

/// The first element of `lit` the mode flags (index and value), if any.
pub fn first_bad(lit: &Literal, mode: Mode) -> Option<(usize, f64)> {
    let bad = |x: f64| match mode {
        Mode::Off => false,
        Mode::Nan => x.is_nan(),
        Mode::NonFinite => !x.is_finite(),
    };
    match lit.data() {
        Data::F16(_)
        | Data::BF16(_)
        | Data::F32(_)
        | Data::F64(_)
        | Data::F8E4M3FN(_)
        | Data::F8E5M2(_) => (0..lit.numel())
            .map(|i| (i, lit.data().get_f64(i)))
            .find(|&(_, x)| bad(x)),
        Data::C64(v) => v
            .iter()
            .position(|c| bad(c.re as f64) || bad(c.im as f64))
            .map(|i| (i, f64::NAN)),
        _ => None,
    }
}

/// True for ops whose sub-graphs the interpreter evaluates (their inner ops are checked).
fn has_subgraphs(op: &Op) -> bool {
    matches!(
        op,
        Op::While { .. } | Op::Cond { .. } | Op::Scan { .. } | Op::Call { .. }
    )
}

/// Checks an op's results under the current mode; the error names the op, the element, the
/// value and the call site.
pub fn check(op: &Op, outs: &[Literal], site: Option<CallSite>) -> Result<()> {
    let m = mode();
    if m == Mode::Off || has_subgraphs(op) {
        return Ok(());
    }
    for (k, o) in outs.iter().enumerate() {
        if let Some((i, x)) = first_bad(o, m) {
            let what = if x.is_nan() { "NaN" } else { "an infinity" };
            let out = if outs.len() > 1 {
                format!(" (result {k})")
            } else {
                String::new()
            };
            let e = Error::InvalidArgument {
                op: "debug_nans".into(),
                msg: format!(
                    "{} produced {what} ({x}) at element {i} of its {} result{out}; \
                     this is the first op producing a non-finite value",
                    crate::prim::op_name(op),
                    o.aval()
                ),
                site,
            };
            return Err(e);
        }
    }
    Ok(())
}
