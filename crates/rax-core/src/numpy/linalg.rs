//! `matmul` (numpy semantics: leading dims broadcast) and two-operand `einsum`, both lowered to
//! one `dot_general` with broadcasts, reductions and transposes around it. No `Op` of their own.
//!
//! Depends on `trace`, `prim` (dot, layout, reduce).

use crate::dtype::DType;
use crate::error::{CallSite, Error};
use crate::ir::Precision;
use crate::ir::{DotDims, Op};
use crate::shape::AVal;
use crate::trace::{apply1, apply_error, Tensor};
use std::borrow::Borrow;

/// Parsed two-operand einsum spec.
struct EinsumPlan {
    dims: DotDims,
    /// Axes of each operand summed away before the dot (letters absent elsewhere).
    pre_sum: [Vec<usize>; 2],
    /// Permutation of the dot_general result into the output order.
    perm: Vec<usize>,
}

fn einsum_plan(spec: &str, shapes: [&[usize]; 2]) -> std::result::Result<EinsumPlan, String> {
    let s: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    if s.contains("...") {
        return Err("ellipsis (`...`) is not supported".into());
    }
    let (ins, out) = s
        .split_once("->")
        .ok_or("the spec needs an explicit output (`->`)")?;
    let ops: Vec<&str> = ins.split(',').collect();
    if ops.len() != 2 {
        return Err(format!(
            "only two-operand specs are supported, got {}",
            ops.len()
        ));
    }
    let letters: Vec<Vec<char>> = ops.iter().map(|o| o.chars().collect()).collect();
    let outl: Vec<char> = out.chars().collect();
    for (i, l) in letters.iter().enumerate() {
        if let Some(c) = l.iter().find(|c| !c.is_ascii_alphabetic()) {
            return Err(format!("invalid character `{c}` in operand {i}"));
        }
        if l.len() != shapes[i].len() {
            return Err(format!(
                "operand {i} has rank {} but its subscripts `{}` name {} axes",
                shapes[i].len(),
                ops[i],
                l.len()
            ));
        }
        for (j, c) in l.iter().enumerate() {
            if l[..j].contains(c) {
                return Err(format!(
                    "letter `{c}` repeats in operand {i} (diagonals are not supported)"
                ));
            }
        }
    }
    for (j, c) in outl.iter().enumerate() {
        if !c.is_ascii_alphabetic() {
            return Err(format!("invalid character `{c}` in the output"));
        }
        if outl[..j].contains(c) {
            return Err(format!("letter `{c}` repeats in the output"));
        }
        if !letters[0].contains(c) && !letters[1].contains(c) {
            return Err(format!("output letter `{c}` appears in no operand"));
        }
    }
    let (a, b) = (&letters[0], &letters[1]);
    let pos = |l: &[char], c: char| l.iter().position(|&x| x == c);
    // Letters summed away from one operand alone.
    let mut pre_sum: [Vec<usize>; 2] = [vec![], vec![]];
    for (i, (l, other)) in [(a, b), (b, a)].into_iter().enumerate() {
        for (j, c) in l.iter().enumerate() {
            if !other.contains(c) && !outl.contains(c) {
                pre_sum[i].push(j);
            }
        }
    }
    let kept = |i: usize, l: &[char]| -> Vec<char> {
        l.iter()
            .enumerate()
            .filter(|(j, _)| !pre_sum[i].contains(j))
            .map(|(_, &c)| c)
            .collect()
    };
    let (ka, kb) = (kept(0, a), kept(1, b));
    let mut dims = DotDims::default();
    let mut result: Vec<char> = Vec::new();
    for &c in &ka {
        if let Some(jb) = pos(&kb, c) {
            let ja = pos(&ka, c).unwrap_or(0);
            if shapes[0][pos(a, c).unwrap_or(0)] != shapes[1][pos(b, c).unwrap_or(0)] {
                return Err(format!(
                    "letter `{c}` has size {} in operand 0 and {} in operand 1",
                    shapes[0][pos(a, c).unwrap_or(0)],
                    shapes[1][pos(b, c).unwrap_or(0)]
                ));
            }
            if outl.contains(&c) {
                dims.lhs_batch.push(ja);
                dims.rhs_batch.push(jb);
                result.push(c);
            } else {
                dims.lhs_contract.push(ja);
                dims.rhs_contract.push(jb);
            }
        }
    }
    result.extend(ka.iter().filter(|c| !kb.contains(c)));
    result.extend(kb.iter().filter(|c| !ka.contains(c)));
    let perm: Vec<usize> = outl
        .iter()
        .map(|c| pos(&result, *c).ok_or(format!("output letter `{c}` is lost")))
        .collect::<std::result::Result<_, _>>()?;
    if perm.len() != result.len() {
        return Err("every letter kept by both operands must appear in the output".into());
    }
    Ok(EinsumPlan {
        dims,
        pre_sum,
        perm,
    })
}

impl Tensor {
    /// Matrix product with numpy semantics (rank >= 1; leading dims broadcast); the result has
    /// the operands' dtype (narrow floats still accumulate in f32 inside the kernel).
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor) -> Tensor {
        self.matmul_impl(rhs, self.dtype(), CallSite::here())
    }

    /// Matrix product whose result (and accumulation) dtype is `acc`, e.g. bf16 x bf16 -> f32.
    #[track_caller]
    pub fn matmul_acc(&self, rhs: &Tensor, acc: DType) -> Tensor {
        self.matmul_impl(rhs, acc, CallSite::here())
    }

    fn matmul_impl(&self, rhs: &Tensor, out: DType, site: CallSite) -> Tensor {
        let apply = |a: &Tensor, b: &Tensor, dims: DotDims| {
            apply1(
                Op::DotGeneral {
                    dims,
                    precision: Precision::Default,
                    out,
                },
                &[a, b],
                site,
            )
        };
        let err = |msg: String| {
            apply_error(
                Error::shape("matmul", msg, &[self.aval(), rhs.aval()]),
                self.aval().with_dtype(out),
                site,
            )
        };
        if let Some(e) = self.error().or(rhs.error()) {
            return Tensor::poison(self.aval(), e.clone());
        }
        let (a, b) = (self.dims(), rhs.dims());
        let (ra, rb) = (a.len(), b.len());
        if ra == 0 || rb == 0 {
            return err("operands must have rank >= 1".into());
        }
        let ka = a[ra - 1];
        let kb = if rb == 1 { b[0] } else { b[rb - 2] };
        if ka != kb {
            return err(format!("contracting dimensions differ ({ka} vs {kb})"));
        }
        let dims = |lb: Vec<usize>, lc: usize, rc: usize| DotDims {
            rhs_batch: lb.clone(),
            lhs_batch: lb,
            lhs_contract: vec![lc],
            rhs_contract: vec![rc],
        };
        if rb == 1 || rb == 2 {
            // (..., M, K) x (K[, N]): no batch dims needed.
            return apply(self, rhs, dims(vec![], ra - 1, 0));
        }
        // rhs has batch dims: broadcast both to common leading dims.
        let (lead_a, lead_b) = if ra == 1 {
            (&[][..], &b[..rb - 2])
        } else {
            (&a[..ra - 2], &b[..rb - 2])
        };
        let Some(batch) = crate::prim::layout::broadcast_shapes(lead_a, lead_b) else {
            return err("batch dimensions are not broadcastable".into());
        };
        let nb = batch.len();
        let lhs = if ra == 1 {
            // (K) -> (batch, 1, K), squeezed afterwards.
            let mut s = batch.clone();
            s.extend([1, ka]);
            self.broadcast_to(&s)
        } else {
            let mut s = batch.clone();
            s.extend_from_slice(&a[ra - 2..]);
            self.broadcast_to(&s)
        };
        let mut s = batch.clone();
        s.extend_from_slice(&b[rb - 2..]);
        let r = rhs.broadcast_to(&s);
        let bd: Vec<usize> = (0..nb).collect();
        let res = apply(&lhs, &r, dims(bd, nb + 1, nb));
        if ra == 1 {
            let mut s = batch;
            s.push(b[rb - 1]);
            return res.reshape(&s);
        }
        res
    }

    /// Two-operand einsum (`"bij,bjk->bik"`, `"bhqd,bhkd->bhqk"`, `"gsm,gsec->egcm"`, ...):
    /// letters in both operands and the output are batch dims, in both operands only are
    /// contracted, in one operand and the output are free, in one operand only are summed.
    /// The result has the operands' dtype. Errors on ellipses, repeated letters, implicit output.
    #[track_caller]
    pub fn einsum<T: Borrow<Tensor>>(spec: &str, operands: &[T]) -> Tensor {
        let site = CallSite::here();
        let ops: Vec<&Tensor> = operands.iter().map(|t| t.borrow()).collect();
        let fallback = ops
            .first()
            .map(|t| t.aval())
            .unwrap_or_else(|| AVal::scalar(DType::F32));
        if let Some(e) = ops.iter().find_map(|t| t.error()) {
            return Tensor::poison(fallback, e.clone());
        }
        let avals: Vec<AVal> = ops.iter().map(|t| t.aval()).collect();
        let planned = match ops.as_slice() {
            [a, b] => einsum_plan(spec, [&a.dims(), &b.dims()]).map(|p| (p, *a, *b)),
            _ => Err(format!(
                "only two-operand specs are supported, got {} operands",
                ops.len()
            )),
        };
        let (plan, a, b) = match planned {
            Ok(x) => x,
            Err(m) => {
                return apply_error(
                    Error::shape("einsum", format!("`{spec}`: {m}"), &avals),
                    fallback,
                    site,
                )
            }
        };
        let pre = |t: &Tensor, axes: &[usize]| {
            if axes.is_empty() {
                t.clone()
            } else {
                t.reduce_at(crate::ir::ReduceKind::Sum, axes, site)
            }
        };
        let (a, b) = (pre(a, &plan.pre_sum[0]), pre(b, &plan.pre_sum[1]));
        let d = a.dtype();
        let r = apply1(
            Op::DotGeneral {
                dims: plan.dims,
                precision: Precision::Default,
                out: d,
            },
            &[&a, &b],
            site,
        );
        if plan.perm.iter().enumerate().all(|(i, &p)| i == p) {
            r
        } else {
            apply1(Op::Transpose(plan.perm), &[&r], site)
        }
    }
}
