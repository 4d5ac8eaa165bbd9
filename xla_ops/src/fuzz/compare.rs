//! Comparison of a fuzzed program's values across backends, and localisation of a difference.
//!
//! Tolerance (per value, by the *result* dtype): integers and bool exactly; floats within
//! 4 ulps for f32/f64/c64 and 1 ulp for bf16/f16/f8 (the interpreter computes in f32 or f64
//! and rounds once; XLA may use its own polynomial approximations or round an intermediate),
//! NaN where NaN, infinities exactly. A step that accumulates (sums, products, dot, scan,
//! scatter-add, fft, loops) may also differ by `terms x ulp(max |operand|)` — the backends
//! choose the order of accumulation. Zeros compare equal whatever their sign.
//!
//! A difference found in the whole program is re-checked on the step alone, fed the
//! interpreter's operand values: if the step alone agrees, the difference is earlier steps'
//! rounding amplified (legitimate: e.g. a 1-ulp difference fed to a cancellation), otherwise
//! the step disagrees and is reported with a shrunk program.

use super::gen::{Program, Step};
use super::{Backend, Interpreter, Outcome};
use crate::tolerance::{exact_mismatch, parts, ulp};
use rax_core::{DType, Literal};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn max_abs(l: &Literal) -> f64 {
    parts(l)
        .into_iter()
        .filter(|x| x.is_finite())
        .fold(0.0, |m, x| m.max(x.abs()))
}

/// The extra absolute tolerance of an accumulating step on these operands.
pub fn accumulation_atol(step: &Step, operands: &[&Literal], out_dtype: DType) -> f64 {
    if !step.accumulates() || !out_dtype.is_inexact() {
        return 0.0;
    }
    let terms = operands.iter().map(|l| l.numel()).max().unwrap_or(1).max(1) as f64;
    let mag = match step {
        Step::Matmul(..) => operands.iter().map(|l| max_abs(l)).product::<f64>() * terms,
        Step::Reduce(..) | Step::Cumulative(..) | Step::Scan(..) | Step::Fft(..) => {
            max_abs(operands[0]) * terms
        }
        _ => operands.iter().map(|l| max_abs(l)).fold(0.0, f64::max) * terms,
    };
    if !mag.is_finite() {
        return f64::INFINITY;
    }
    terms * ulp(out_dtype, mag)
}

/// Checks one value within the tolerance (see the module docs).
pub fn value_check(want: &Literal, got: &Literal, atol: f64) -> Result<(), String> {
    if want.aval() != got.aval() {
        return Err(format!("type {} vs {}", want.aval(), got.aval()));
    }
    let d = want.dtype();
    if !d.is_inexact() {
        return match exact_mismatch(want, got) {
            Some((i, e, g)) => Err(format!("element {i}: interpreter {e} vs {g}")),
            None => Ok(()),
        };
    }
    let ulps = match d {
        DType::F32 | DType::F64 | DType::C64 => 4.0,
        _ => 1.0,
    };
    let (wp, gp) = (parts(want), parts(got));
    // Complex values are compared normwise: each part to 4 ulps of the element's modulus
    // (complex division and the like are accurate relative to |z|, not per part).
    let scale: Vec<f64> = if d == DType::C64 {
        wp.chunks(2)
            .flat_map(|c| {
                let m = (c[0] * c[0] + c[1] * c[1]).sqrt();
                [m, m]
            })
            .collect()
    } else {
        wp.clone()
    };
    for (i, (a, b)) in wp.into_iter().zip(gp).enumerate() {
        if a.is_nan() || b.is_nan() {
            if a.is_nan() != b.is_nan() {
                return Err(format!("element {i}: interpreter {a:e} vs {b:e}"));
            }
            continue;
        }
        if a.is_infinite() || b.is_infinite() {
            if a != b && !(atol.is_infinite()) {
                return Err(format!("element {i}: interpreter {a:e} vs {b:e}"));
            }
            continue;
        }
        let allowed = ulps * ulp(d, scale[i].max(a.abs())) + atol;
        if (a - b).abs() > allowed {
            return Err(format!(
                "element {i}: interpreter {a:e} vs {b:e} (diff {:e} > allowed {allowed:e})",
                (a - b).abs()
            ));
        }
    }
    Ok(())
}

/// The pool values a step's operands are, from the inputs and the interpreter's results.
fn operand_values<'a>(prog: &'a Program, want: &'a [Literal], step: &Step) -> Vec<&'a Literal> {
    let n_in = prog.inputs.len();
    step.operands()
        .into_iter()
        .map(|i| {
            if i < n_in {
                &prog.inputs[i]
            } else {
                &want[i - n_in]
            }
        })
        .collect()
}

/// The program that runs `step` alone on the given operand values.
fn alone(step: &Step, operands: &[&Literal]) -> Program {
    let ops = step.operands();
    let st = step.remap(&|i| ops.iter().position(|&o| o == i).unwrap_or(0));
    Program {
        inputs: operands.iter().map(|l| (*l).clone()).collect(),
        steps: vec![st],
    }
}

/// The steps value `pool_index` depends on, as a smaller program (the shrunk reproducer).
pub fn shrink(prog: &Program, counts: &[usize], pool_index: usize) -> Program {
    let producers = prog.producers(counts);
    let mut needed = vec![false; prog.steps.len()];
    let mut stack = vec![pool_index];
    while let Some(v) = stack.pop() {
        if let Some(Some(s)) = producers.get(v) {
            if !needed[*s] {
                needed[*s] = true;
                stack.extend(prog.steps[*s].operands());
            }
        }
    }
    // New pool positions: inputs keep theirs; kept steps' results are renumbered.
    let n_in = prog.inputs.len();
    let mut new_index: Vec<usize> = (0..n_in).collect();
    let mut next = n_in;
    let mut steps = Vec::new();
    for (k, s) in prog.steps.iter().enumerate() {
        for _ in 0..counts[k] {
            new_index.push(if needed[k] { next } else { usize::MAX });
            if needed[k] {
                next += 1;
            }
        }
        if needed[k] {
            steps.push(s.remap(&|i| new_index[i]));
        }
    }
    Program {
        inputs: prog.inputs.clone(),
        steps,
    }
}

/// A documented semantics difference that explains a step's disagreement, if any.
///
/// Each class is narrow (the op, the dtype, the backend and the elements involved) and was
/// confirmed by a direct experiment, so that nothing else hides behind it:
/// - integer `x / x` on the API 0.115 plugin: its algebraic simplifier folds `x / x` to 1, so
///   `0 / 0` gives 1 there, while its own kernel (and API 0.81's, and the interpreter's)
///   define `0 / 0 = -1` (measured: `[0, 5, -7] / [0, 0, 0]` gives -1 on both plugins; the
///   same tensor divided by itself gives `[1, 1, 1]` on API 0.115).
fn explain(
    step: &Step,
    operands: &[&Literal],
    backend: &str,
    want: &Literal,
    got: &Literal,
) -> Option<String> {
    if let Some(why) = explain_subnormal(step, operands, want, got) {
        return Some(why);
    }
    if want.dtype() == DType::C64 {
        // A complex operand with an infinite or NaN part: XLA's complex arithmetic follows no
        // C99 Annex G convention (inf * finite may give NaN parts), num-complex's neither
        // in the same way; only elements that are non-finite on both sides are excused.
        let nonfinite_op = operands
            .iter()
            .any(|l| parts(l).iter().any(|x| !x.is_finite()));
        let (wp, gp) = (parts(want), parts(got));
        let ok = nonfinite_op
            && wp.chunks(2).zip(gp.chunks(2)).all(|(a, b)| {
                let nf = |c: &[f64]| c.iter().any(|x| !x.is_finite());
                let m = (a[0] * a[0] + a[1] * a[1]).sqrt();
                let close = |x: f64, y: f64| {
                    same_value(x, y, DType::F32) || (x - y).abs() <= 4.0 * ulp(DType::F32, m)
                };
                (close(a[0], b[0]) && close(a[1], b[1])) || (nf(a) && nf(b))
            });
        if ok {
            return Some(
                "complex operand with a non-finite part: inf/NaN conventions differ".into(),
            );
        }
    }
    if let (Step::Binary(rax_core::ir::BinaryOp::Pow, ..), [x, y]) = (step, operands) {
        // XLA computes pow as exp(y * log|x|): the log's rounding error is multiplied by
        // |y log|x||, so the result is good to (1 + |y log|x||) x 4 ulps, not 4 ulps.
        // For c64 (parts interleaved) the same bound with |y| (|log|x|| + pi) and the
        // element's magnitude.
        let d = want.dtype();
        let (xp, yp, wp, gp) = (parts(x), parts(y), parts(want), parts(got));
        let w = if d == DType::C64 { 2 } else { 1 };
        let mag = |v: &[f64], i: usize| {
            v[i * w..(i + 1) * w]
                .iter()
                .map(|t| t * t)
                .sum::<f64>()
                .sqrt()
        };
        let ok = d.is_inexact()
            && (0..wp.len()).all(|j| {
                let i = j / w;
                let k = 1.0
                    + mag(&yp, i)
                        * (mag(&xp, i).ln().abs()
                            + if w == 2 { std::f64::consts::PI } else { 0.0 });
                let scale = ulp(d, mag(&wp, i));
                same_value(wp[j], gp[j], d) || (wp[j] - gp[j]).abs() <= 4.0 * k * scale
            });
        if ok {
            return Some("pow within (1 + |y log|x||) x 4 ulps (XLA's exp(y log x))".into());
        }
    }
    if let Step::Binary(rax_core::ir::BinaryOp::Div, a, b) = step {
        let x = operands.first()?;
        if a == b && x.dtype().is_int() && backend.contains("API 0.115") {
            // Every disagreeing element must be a 0 / 0 that became 1.
            let (xv, wv, gv) = (x.to_f64_vec(), want.to_f64_vec(), got.to_f64_vec());
            let all = (0..wv.len()).all(|i| wv[i] == gv[i] || (xv[i] == 0.0 && gv[i] == 1.0));
            if all {
                return Some(
                    "API 0.115 folds integer x / x to 1, also for 0 / 0 (its kernel gives -1)"
                        .into(),
                );
            }
        }
    }
    None
}

fn is_subnormal_in(x: f64, d: DType) -> bool {
    x != 0.0
        && x.is_finite()
        && x.abs() < crate::tolerance::ulp(d, 0.0) * 2f64.powi(mantissa(d) - 1)
}

fn mantissa(d: DType) -> i32 {
    match d {
        DType::F16 => 11,
        DType::BF16 => 8,
        DType::F32 | DType::C64 => 24,
        DType::F64 => 53,
        DType::F8E4M3FN => 4,
        DType::F8E5M2 => 3,
        _ => 1,
    }
}

/// `l` with every subnormal element replaced by a zero of its sign (what DAZ makes of it).
fn flushed(l: &Literal) -> Option<Literal> {
    let d = l.dtype();
    if !d.is_float() {
        return None;
    }
    let v: Vec<f64> = l
        .to_f64_vec()
        .into_iter()
        .map(|x| {
            if is_subnormal_in(x, d) {
                0.0f64.copysign(x)
            } else {
                x
            }
        })
        .collect();
    Literal::from_f64s(l.shape().clone(), d, &v).ok()
}

fn same_value(a: f64, b: f64, d: DType) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 4.0 * ulp(d, a)
}

/// XLA's CPU code runs with subnormals flushed to zero (FTZ on results, DAZ on inputs); the
/// interpreter emulates that for arithmetic results only. A disagreement is explained by it
/// when an operand holds a subnormal and every differing element is either (a) at the index
/// of a subnormal operand element of an elementwise step, or (b) what the interpreter computes
/// with the subnormal operands flushed to zero, or (c) a difference smaller than the smallest
/// normal number of the dtypes involved.
fn explain_subnormal(
    step: &Step,
    operands: &[&Literal],
    want: &Literal,
    got: &Literal,
) -> Option<String> {
    let has_sub = |l: &Literal| {
        l.dtype().is_float()
            && l.to_f64_vec()
                .iter()
                .any(|&x| is_subnormal_in(x, l.dtype()))
    };
    if !operands.iter().any(|l| has_sub(l)) || want.dtype() == DType::C64 {
        return None;
    }
    let elementwise = matches!(
        step,
        Step::Unary(..)
            | Step::Binary(..)
            | Step::Scalar(..)
            | Step::Compare(..)
            | Step::Select(..)
            | Step::Clamp(..)
            | Step::Convert(..)
    ) && operands.iter().all(|l| l.numel() == want.numel());
    let flushed_ops: Vec<Literal> = operands
        .iter()
        .map(|l| flushed(l).unwrap_or_else(|| (*l).clone()))
        .collect();
    let rerun = {
        let refs: Vec<&Literal> = flushed_ops.iter().collect();
        let p = alone(step, &refs);
        p.trace()
            .ok()
            .and_then(|g| Interpreter.run(&g, &p.inputs).ok())
    };
    let w2 = rerun
        .as_ref()
        .and_then(|v| v.iter().find(|l| l.aval() == want.aval()))
        .map(|l| l.to_f64_vec());
    let d = want.dtype();
    let tiny = operands
        .iter()
        .map(|l| l.dtype())
        .chain([d])
        .filter(|t| t.is_float())
        .map(|t| ulp(t, 0.0) * 2f64.powi(mantissa(t) - 1))
        .fold(0.0, f64::max);
    let (wv, gv) = (want.to_f64_vec(), got.to_f64_vec());
    let ok = (0..wv.len()).all(|i| {
        let (a, b) = (wv[i], gv[i]);
        if same_value(a, b, d) {
            return true;
        }
        let at_sub = elementwise
            && operands
                .iter()
                .any(|l| l.dtype().is_float() && is_subnormal_in(l.to_f64_vec()[i], l.dtype()));
        let daz = w2.as_ref().is_some_and(|w| same_value(w[i], b, d));
        at_sub || daz || (a - b).abs() <= tiny
    });
    ok.then(|| "subnormal operand: XLA CPU flushes subnormals (FTZ/DAZ) beyond what the interpreter emulates".into())
}

#[allow(clippy::too_many_arguments)]
fn disagreement(
    prog: &Program,
    counts: &[usize],
    pool_index: usize,
    backend: &str,
    s: usize,
    step: &Step,
    ops: &[&Literal],
    m: &str,
    first: &str,
) -> String {
    let small = shrink(prog, counts, pool_index);
    let opv: Vec<String> = ops
        .iter()
        .map(|l| format!("{} {}", l.aval(), super::gen::values(l)))
        .collect();
    format!(
        "{backend}: step {s} {step:?} disagrees with the interpreter: {m} \
         (whole program: {first})\n  operands: {}\n  shrunk program:\n{}",
        opv.join("; "),
        small.listing()
    )
}

fn run_caught(
    b: &dyn Backend,
    g: &rax_core::Graph,
    inputs: &[Literal],
) -> Result<Vec<Literal>, String> {
    match catch_unwind(AssertUnwindSafe(|| b.run(g, inputs))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PANIC".into()),
    }
}

/// Runs the program on the interpreter and each backend, comparing every value.
pub fn differential(
    prog: &Program,
    counts: &[usize],
    backends: &[&dyn Backend],
    out: &mut Outcome,
) {
    if prog.steps.is_empty() {
        return;
    }
    let g = match prog.trace() {
        Ok(g) => g,
        Err(e) => {
            out.disagreements.push(format!(
                "steps accepted one by one fail as a program: {e}\n{}",
                prog.listing()
            ));
            return;
        }
    };
    let want = match run_caught(&Interpreter, &g, &prog.inputs) {
        Ok(v) => v,
        Err(e) => {
            if e == "PANIC" {
                out.panics
                    .push(format!("interpreter panicked on\n{}", prog.listing()));
            } else {
                out.disagreements.push(format!(
                    "the interpreter fails on a well-typed program: {e}\n{}",
                    prog.listing()
                ));
            }
            return;
        }
    };
    let n_in = prog.inputs.len();
    let producers = prog.producers(counts);
    for b in backends {
        let got = match run_caught(*b, &g, &prog.inputs) {
            Ok(v) => v,
            Err(e) => {
                if e == "PANIC" {
                    out.panics
                        .push(format!("{} panicked on\n{}", b.name(), prog.listing()));
                } else {
                    out.disagreements.push(format!(
                        "{} fails on a program the interpreter runs: {e}\n{}",
                        b.name(),
                        prog.listing()
                    ));
                }
                continue;
            }
        };
        for (k, (w, gv)) in want.iter().zip(&got).enumerate() {
            let Some(s) = producers[n_in + k] else {
                continue;
            };
            let step = &prog.steps[s];
            let ops = operand_values(prog, &want, step);
            let atol = accumulation_atol(step, &ops, w.dtype());
            let Err(first) = value_check(w, gv, atol) else {
                continue;
            };
            // Localise: the step alone on the interpreter's operand values.
            let single = alone(step, &ops);
            let verdict = single.trace().map_err(|e| e.to_string()).and_then(|sg| {
                let w1 = run_caught(&Interpreter, &sg, &single.inputs)?;
                let g1 = run_caught(*b, &sg, &single.inputs)?;
                let j = producers[..n_in + k]
                    .iter()
                    .filter(|p| **p == Some(s))
                    .count();
                match (w1.get(j), g1.get(j)) {
                    (Some(a), Some(c)) => Ok(value_check(a, c, atol)
                        .err()
                        .map(|m| (m, a.clone(), c.clone()))),
                    _ => Err("single-step result missing".into()),
                }
            });
            match verdict {
                Ok(None) => out.amplified += 1,
                Ok(Some((m, w1, g1))) => {
                    if let Some(why) = explain(step, &ops, b.name(), &w1, &g1) {
                        out.explained.push(why);
                    } else {
                        out.disagreements.push(disagreement(
                            prog,
                            counts,
                            n_in + k,
                            b.name(),
                            s,
                            step,
                            &ops,
                            &m,
                            &first,
                        ));
                    }
                }
                Err(m) => out.disagreements.push(disagreement(
                    prog,
                    counts,
                    n_in + k,
                    b.name(),
                    s,
                    step,
                    &ops,
                    &m,
                    &first,
                )),
            }
            break;
        }
    }
}
