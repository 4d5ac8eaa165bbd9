//! Precision-sensitive parameters and the narrowing guard.
//!
//! Sensitive leaves (declared with [`crate::tree::Sensitive`] or `#[tree(sensitive)]`: norm
//! weights and biases, EMA coefficients, per-head Q/K affines, router weights) are stored f32
//! whatever the policy says. This module finds the ones that are not ([`audit`],
//! [`audit_policy`]), restores them ([`ensure`]), casts trees while skipping them
//! ([`cast_floating`]), and refuses at trace time to write a value declared f32 into a narrower
//! slot ([`assign_checked`]), naming the leaf path, both dtypes and the call site.
//! It also has the tree-level helpers of loss scaling and skipped steps: [`all_finite`] and the
//! select-based [`select_tree`].
//!
//! Depends on `dtype`, `error`, `trace` (Tensor), `tree` and the reduce family (`all`).

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::Op;
use crate::policy::Policy;
use crate::trace::{apply1, Tensor};
use crate::tree::{leaves_with_info, structure, tree_map_with_info, unflatten, Tree};

/// Sensitive leaves not stored f32, as `(path, dtype)`.
pub fn audit<T: Tree>(t: &T) -> Vec<(String, DType)> {
    leaves_with_info(t)
        .into_iter()
        .filter(|(_, x, i)| i.sensitive && x.dtype().is_float() && x.dtype() != DType::F32)
        .map(|(p, x, _)| (p, x.dtype()))
        .collect()
}

/// Every floating leaf narrower than the policy allows, as `(path, dtype)`: sensitive leaves
/// not f32, and other leaves with fewer bits than `policy.param`.
pub fn audit_policy<T: Tree>(t: &T, policy: &Policy) -> Vec<(String, DType)> {
    leaves_with_info(t)
        .into_iter()
        .filter(|(_, x, i)| {
            let d = x.dtype();
            d.is_float()
                && if i.sensitive {
                    d != DType::F32
                } else {
                    narrower(policy.param, d)
                }
        })
        .map(|(p, x, _)| (p, x.dtype()))
        .collect()
}

/// Restores every sensitive floating leaf to f32 (other leaves unchanged).
#[track_caller]
pub fn ensure<T: Tree>(t: &T) -> T {
    let site = CallSite::here();
    tree_map_with_info(t, |_, x, i| {
        if i.sensitive && x.dtype().is_float() && x.dtype() != DType::F32 {
            apply1(Op::Convert(DType::F32), &[x], site)
        } else {
            x.clone()
        }
    })
}

/// Casts every real floating leaf to `dtype`; sensitive leaves are kept (and, if stored
/// narrower, restored to) f32 unless `force`.
#[track_caller]
pub fn cast_floating<T: Tree>(t: &T, dtype: DType, force: bool) -> T {
    let site = CallSite::here();
    tree_map_with_info(t, |_, x, i| {
        let to = if i.sensitive && !force {
            DType::F32
        } else {
            dtype
        };
        if x.dtype().is_float() && x.dtype() != to {
            apply1(Op::Convert(to), &[x], site)
        } else {
            x.clone()
        }
    })
}

/// True when `to` holds fewer significant or exponent bits than `from` (both real floats).
pub fn narrower(from: DType, to: DType) -> bool {
    fn bits(d: DType) -> (u32, u32) {
        // (significand bits, exponent bits)
        match d {
            DType::F64 => (53, 11),
            DType::F32 => (24, 8),
            DType::BF16 => (8, 8),
            DType::F16 => (11, 5),
            DType::F8E4M3FN => (4, 4),
            DType::F8E5M2 => (3, 5),
            _ => (0, 0),
        }
    }
    let (a, b) = (bits(from), bits(to));
    from.is_float() && to.is_float() && (b.0 < a.0 || b.1 < a.1)
}

/// Writes `src` into the slots of `dst_template` (same structure and shapes), casting each leaf
/// to its slot's dtype when that does not lose precision. A floating value stored into a slot
/// that is narrower (e.g. an f32 fast-weight state into a bf16 slot), or any non-f32 value
/// into a sensitive slot, is an error naming the leaf path, both dtypes and the call site; it
/// is raised at trace time (dtypes are static). To narrow on purpose, cast explicitly first.
#[track_caller]
pub fn assign_checked<T: Tree>(dst_template: &T, src: &T) -> Result<T> {
    let site = CallSite::here();
    let (sd, ss) = (structure(dst_template), structure(src));
    if sd != ss {
        return Err(Error::InvalidArgument {
            op: "assign_checked".into(),
            msg: format!("tree structures differ: slots {sd} vs values {ss}"),
            site: Some(site),
        });
    }
    let dst = leaves_with_info(dst_template);
    let vals = leaves_with_info(src);
    let mut out = Vec::with_capacity(dst.len());
    for ((path, slot, info), (_, v, _)) in dst.iter().zip(vals.iter()) {
        v.check()?;
        let (from, to) = (v.dtype(), slot.dtype());
        if slot.shape() != v.shape() {
            return Err(Error::InvalidArgument {
                op: "assign_checked".into(),
                msg: format!(
                    "leaf `{path}`: value {} does not fit slot {}",
                    v.aval(),
                    slot.aval()
                ),
                site: Some(site),
            });
        }
        let bad = if info.sensitive {
            from != DType::F32 && from != to
        } else {
            narrower(from, to)
        };
        if bad || (from.is_float() != to.is_float()) {
            let why = if info.sensitive {
                "the slot is a sensitive parameter (kept f32)".to_string()
            } else if from.is_float() != to.is_float() {
                "assigning between floating and non-floating dtypes".to_string()
            } else {
                format!("this narrows a value declared {from} to {to} (silent precision loss)")
            };
            return Err(Error::InvalidArgument {
                op: "assign_checked".into(),
                msg: format!(
                    "leaf `{path}`: a {from} value cannot be stored into a {to} slot: {why}; \
                     cast explicitly (cast_floating(.., force = true)) if the narrowing is intended"
                ),
                site: Some(site),
            });
        }
        out.push(if from == to {
            v.clone()
        } else {
            apply1(Op::Convert(to), &[v], site)
        });
    }
    unflatten(dst_template, out)
}

/// A bool scalar: true when every element of every floating leaf is finite (traceable).
#[track_caller]
pub fn all_finite<T: Tree>(t: &T) -> Tensor {
    let site = CallSite::here();
    let mut acc = Tensor::scalar_of(1.0, DType::Bool);
    for (_, x, _) in leaves_with_info(t) {
        if x.dtype().is_inexact() {
            let fin = if x.dtype().is_complex() {
                &x.real().is_finite() & &x.imag().is_finite()
            } else {
                apply1(Op::Unary(crate::ir::UnaryOp::IsFinite), &[&x], site)
            };
            let axes: Vec<usize> = (0..fin.rank()).collect();
            acc = &acc & &fin.all(&axes);
        }
    }
    acc
}

/// `where(pred, on_true, on_false)` leaf by leaf for two trees of one structure (`pred` a bool
/// scalar): how a step is skipped without control flow.
#[track_caller]
pub fn select_tree<T: Tree>(pred: &Tensor, on_true: &T, on_false: &T) -> Result<T> {
    crate::tree::tree_map2(on_true, on_false, |a, b| Tensor::select(pred, a, b))
}
