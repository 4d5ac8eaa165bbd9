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
    if let Some(why) = explain_subnormal_c64(step, operands, want, got) {
        return Some(why);
    }
    if let Some(why) = explain_complex(step, operands, want, got) {
        return Some(why);
    }
    if let Some(why) = explain_complex_abs(step, operands, want, got) {
        return Some(why);
    }
    if let Some((x, y)) = pow_operands(step, operands).filter(|_| want.dtype() != DType::C64) {
        let (x, y) = (&x, &y);
        // XLA computes pow as exp(y * log|x|): the log's rounding error is multiplied by
        // |y log|x||, so the result is good to (1 + |y log|x||) x 4 ulps, not 4 ulps.
        let d = want.dtype();
        let (xp, yp, wp, gp) = (parts(x), parts(y), parts(want), parts(got));
        let ok = d.is_inexact()
            && (0..wp.len()).all(|i| {
                let k = 1.0 + (yp[i] * xp[i].abs().ln()).abs();
                same_value(wp[i], gp[i], d) || (wp[i] - gp[i]).abs() <= 4.0 * k * ulp(d, wp[i])
            });
        if ok {
            return Some("pow within (1 + |y log|x||) x 4 ulps (XLA's exp(y log x))".into());
        }
    }
    if let Some(why) = explain_log1p_f16(step, operands, backend, want, got) {
        return Some(why);
    }
    None
}

/// The (base, exponent) values of a pow step, both shaped like the result: a `Scalar` step's
/// constant becomes a full literal of the operand's type.
fn pow_operands(step: &Step, operands: &[&Literal]) -> Option<(Literal, Literal)> {
    use rax_core::ir::BinaryOp::Pow;
    match (step, operands) {
        (Step::Binary(Pow, ..), [x, y]) if x.numel() == y.numel() => {
            Some(((*x).clone(), (*y).clone()))
        }
        (Step::Scalar(Pow, _, v, left), [x]) => {
            let c = Literal::full(&x.aval(), *v);
            Some(if *left {
                (c, (*x).clone())
            } else {
                ((*x).clone(), c)
            })
        }
        _ => None,
    }
}

/// See `explain`: per element, c64 values that are close, non-finite on both sides of an
/// overflow-prone step, pow within its bound, or pow of an out-of-range exponent.
fn explain_complex(
    step: &Step,
    operands: &[&Literal],
    want: &Literal,
    got: &Literal,
) -> Option<String> {
    if want.dtype() != DType::C64 {
        return None;
    }
    let scalar_nonfinite = matches!(step, Step::Scalar(_, _, v, _) if !v.is_finite());
    let extreme = scalar_nonfinite
        || operands.iter().any(|l| {
            parts(l)
                .iter()
                .any(|x| !x.is_finite() || x.abs() > (f32::MAX as f64).sqrt())
        });
    let pow = pow_operands(step, operands).filter(|(x, _)| x.dtype() == DType::C64);
    let pw = pow.as_ref().map(|(x, y)| (parts(x), parts(y)));
    let (wp, gp) = (parts(want), parts(got));
    let mut why: Vec<&str> = Vec::new();
    for (i, (a, b)) in wp.chunks(2).zip(gp.chunks(2)).enumerate() {
        let within = |ulps: f64| c64_close(a, b, ulps);
        if within(4.0) {
            continue;
        }
        let nf = |c: &[f64]| c.iter().any(|x| !x.is_finite());
        // Overflow inside the step: the interpreter's element has an infinite part although
        // no operand is extreme (e.g. exp(100 + 2i)); any non-finite value is then a
        // convention of overflow, not a wrong finite value.
        let overflowed = a.iter().any(|x| x.is_infinite());
        if (extreme || overflowed) && nf(a) && nf(b) {
            why.push("c64 element non-finite on both sides (inf/NaN conventions of overflow)");
            continue;
        }
        // C99 G.6.3.1: cexp(-inf + i y) is a zero for every y, an infinite or NaN y included;
        // XLA's e^re cis(im) is 0 x NaN = NaN there.
        if let (Step::Unary(rax_core::ir::UnaryOp::Exp, _), [x]) = (step, operands) {
            let z = &parts(x)[2 * i..2 * i + 2];
            if z[0] == f64::NEG_INFINITY && !z[1].is_finite() && a == [0.0, 0.0] && nf(b) {
                why.push("c64 exp(-inf + i inf/NaN): C99 gives 0, XLA's e^re cis(im) NaN");
                continue;
            }
        }
        // XLA forms a c64 quotient in f32: |y|^2 (or the scaled cross products) overflow for a
        // part beyond sqrt(f32::MAX) and give NaN where the f64 quotient is finite (measured:
        // (-MAX - MAX i) / itself is NaN on both plugins, 1 in C99).
        let is_div = matches!(
            step,
            Step::Binary(rax_core::ir::BinaryOp::Div, ..)
                | Step::Scalar(rax_core::ir::BinaryOp::Div, ..)
        );
        if is_div && extreme && a.iter().all(|x| x.is_finite()) && b.iter().any(|x| x.is_nan()) {
            why.push("c64 division with a part beyond sqrt(f32::MAX): XLA's f32 quotient overflows to NaN, the interpreter's f64 quotient is finite");
            continue;
        }
        // XLA's c64 sin loses parts below 2^-60 (measured: sin(3.8e-20 + 3.8e-20i) is 0 on
        // both plugins, though sin z = z there): each part agrees or is such a lost tiny part.
        if matches!(step, Step::Unary(rax_core::ir::UnaryOp::Sin, _)) {
            let tiny = 2f64.powi(-60);
            let lost_or_same = (0..2).all(|p| {
                (a[p] - b[p]).abs() <= 4.0 * ulp(DType::F32, a[p])
                    || (a[p].abs() < tiny && b[p] == 0.0)
            });
            if lost_or_same {
                why.push("c64 sin with a part below 2^-60: XLA gives 0 for it, sin z = z there");
                continue;
            }
        }
        if let Some((xp, yp)) = &pw {
            let (xr, xi, yr, yi) = (xp[2 * i], xp[2 * i + 1], yp[2 * i], yp[2 * i + 1]);
            let (lr, li) = (xr.hypot(xi).ln(), xi.atan2(xr));
            let k = 1.0 + yr.hypot(yi) * (lr.abs() + std::f64::consts::PI);
            if within(4.0 * k) {
                why.push("c64 pow within (1 + |y| (|log|x|| + pi)) x 4 ulps");
                continue;
            }
            let (tr, ti) = (yr * lr - yi * li, yr * li + yi * lr);
            let out_of_range = |t: f64| !t.is_finite() || t.abs() > f32::MAX as f64;
            let x_nonzero = xr != 0.0 || xi != 0.0;
            if x_nonzero
                && (out_of_range(tr) || out_of_range(ti))
                && nf(b)
                && b.iter().any(|x| x.is_nan())
            {
                why.push("c64 pow of an exponent y log x beyond f32: XLA's e^re cis(im) gives NaN, C99 cexp a zero or an infinity");
                continue;
            }
        }
        return None;
    }
    why.sort_unstable();
    why.dedup();
    Some(why.join("; "))
}

/// See `explain`: |z| of a c64 with one infinite and one NaN part is +inf in C99 (G.6: cabs is
/// hypot, and hypot(inf, NaN) = inf); XLA's abs gives NaN. Every other element must agree.
fn explain_complex_abs(
    step: &Step,
    operands: &[&Literal],
    want: &Literal,
    got: &Literal,
) -> Option<String> {
    let (Step::Unary(rax_core::ir::UnaryOp::Abs, _), [x]) = (step, operands) else {
        return None;
    };
    if x.dtype() != DType::C64 {
        return None;
    }
    let (zp, wv, gv) = (parts(x), want.to_f64_vec(), got.to_f64_vec());
    let ok = (0..wv.len()).all(|i| {
        let z = &zp[2 * i..2 * i + 2];
        let inf_nan = z.iter().any(|v| v.is_infinite()) && z.iter().any(|v| v.is_nan());
        same_value(wv[i], gv[i], DType::F32)
            || (wv[i] - gv[i]).abs() <= 4.0 * ulp(DType::F32, wv[i])
            || (inf_nan && wv[i] == f64::INFINITY && gv[i].is_nan())
    });
    ok.then(|| "c64 abs(inf + NaN i): C99's hypot gives inf, XLA NaN".to_string())
}

/// See `explain`: API 0.81's f16/bf16 log1p as log of the rounded 1 + x.
fn explain_log1p_f16(
    step: &Step,
    operands: &[&Literal],
    backend: &str,
    want: &Literal,
    got: &Literal,
) -> Option<String> {
    let d = want.dtype();
    if !matches!(step, Step::Unary(rax_core::ir::UnaryOp::Log1p, _))
        || !matches!(d, DType::F16 | DType::BF16)
        || !backend.contains("API 0.81")
    {
        return None;
    }
    let x = operands.first()?.to_f64_vec();
    let round = |v: Vec<f64>| {
        Literal::from_f64s(want.shape().clone(), d, &v)
            .ok()
            .map(|l| l.to_f64_vec())
    };
    let one_plus = round(x.iter().map(|v| 1.0 + v).collect())?;
    let naive = round(one_plus.iter().map(|v| v.ln()).collect())?;
    let (wv, gv) = (want.to_f64_vec(), got.to_f64_vec());
    let ok = (0..wv.len()).all(|i| {
        let (a, b) = (wv[i], gv[i]);
        (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= ulp(d, a) || b == naive[i]
    });
    ok.then(|| {
        "API 0.81 computes f16/bf16 log1p as log(1 + x) with 1 + x rounded to the dtype".into()
    })
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

/// A c64 literal with every subnormal part replaced by a zero of its sign (DAZ).
fn flushed_c64(l: &Literal) -> Option<Literal> {
    let rax_core::Data::C64(v) = l.data() else {
        return None;
    };
    let f = |x: f32| {
        if is_subnormal_in(x as f64, DType::F32) {
            0.0f32.copysign(x)
        } else {
            x
        }
    };
    let mut v = v.clone();
    for z in &mut v {
        z.re = f(z.re);
        z.im = f(z.im);
    }
    Literal::new(l.shape().clone(), rax_core::Data::C64(v)).ok()
}

/// See `explain`: a c64 step with subnormal operand parts, XLA's value being the
/// interpreter's on the DAZ-flushed operands (element by element: each agrees with one).
fn explain_subnormal_c64(
    step: &Step,
    operands: &[&Literal],
    want: &Literal,
    got: &Literal,
) -> Option<String> {
    let has_sub = |l: &Literal| {
        l.dtype() == DType::C64 && parts(l).iter().any(|&x| is_subnormal_in(x, DType::F32))
    };
    if want.dtype() != DType::C64 || !operands.iter().any(|l| has_sub(l)) {
        return None;
    }
    let fl: Vec<Literal> = operands
        .iter()
        .map(|l| flushed_c64(l).unwrap_or_else(|| (*l).clone()))
        .collect();
    let refs: Vec<&Literal> = fl.iter().collect();
    let p = alone(step, &refs);
    let rerun = Interpreter.run(&p.trace().ok()?, &p.inputs).ok()?;
    let w2 = parts(rerun.iter().find(|l| l.aval() == want.aval())?);
    let (wp, gp) = (parts(want), parts(got));
    let close = |a: &[f64], b: &[f64]| c64_close(a, b, 4.0);
    let ok = wp
        .chunks(2)
        .zip(gp.chunks(2))
        .zip(w2.chunks(2))
        .all(|((a, b), f)| close(a, b) || close(f, b));
    ok.then(|| "c64 subnormal operand parts: XLA CPU flushes them (DAZ), its value is the interpreter's on the flushed operands".into())
}

/// One c64 element `b` (re, im) against `a`: each part the same value, or within `ulps` f32
/// ulps of |a| (a complex result's error is relative to its modulus, not to each part).
fn c64_close(a: &[f64], b: &[f64], ulps: f64) -> bool {
    let m = a[0].hypot(a[1]);
    (0..2).all(|k| {
        same_value(a[k], b[k], DType::F32) || (a[k] - b[k]).abs() <= ulps * ulp(DType::F32, m)
    })
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

/// A documented plugin failure on a valid program, if this is one:
/// - XLA (both plugins, API 0.81 and 0.115) rejects its own simplification of a chain of two
///   width-changing bitcast-converts (`bitcast_convert(bitcast_convert(x))`, each adding or
///   removing a trailing dimension): the simplifier rewrites the chain into HLO whose
///   verifier then fails ("Expected instruction to have shape equal to s8[1,1,5,8], actual
///   shape is s8[1,1,5,4,2] ... Failed after simplification"): the HLO handed to it verified,
///   the pass broke it. The program must hold such a chain (a `Bitcast` of a `Bitcast`
///   result), and the error must be that verifier failure.
fn explain_failure(prog: &Program, counts: &[usize], err: &str) -> Option<String> {
    let verifier = err.contains("hlo verifier")
        && err.contains("bitcast-convert")
        && err.contains("Failed after simplification");
    if !verifier {
        return None;
    }
    let producers = prog.producers(counts);
    let chained = prog.steps.iter().any(|s| match s {
        Step::Bitcast(x, _) => matches!(
            producers.get(*x).copied().flatten().map(|k| &prog.steps[k]),
            Some(Step::Bitcast(..))
        ),
        _ => false,
    });
    chained.then(|| {
        "XLA's simplifier turns a chain of width-changing bitcast-converts into HLO its own \
         verifier rejects"
            .into()
    })
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

/// A counted `while_loop` of an inexact carry, unrolled into its iterations (one `sin` each,
/// the loop body the generator emits) and compared step by step on `backend`: each iteration
/// that differs alone is a disagreement; iterations that each agree make the loop's difference
/// rounding amplified across iterations (sin's derivative cos z grows like cosh(im z), so a
/// few iterations on a complex carry multiply a 1-ulp difference many times over). `None` for
/// every other step.
fn unrolled_check(step: &Step, operands: &[&Literal], backend: &dyn Backend) -> Option<Outcome> {
    let Step::While(_, n) = step else {
        return None;
    };
    let x = operands.first()?;
    if !x.dtype().is_inexact() || *n <= 1 {
        return None;
    }
    let prog = Program {
        inputs: vec![(*x).clone()],
        steps: (0..*n as usize)
            .map(|i| Step::Unary(rax_core::ir::UnaryOp::Sin, i))
            .collect(),
    };
    let mut sub = Outcome::default();
    differential(&prog, &vec![1; *n as usize], &[backend], &mut sub);
    Some(sub)
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
                } else if let Some(why) = explain_failure(prog, counts, &e) {
                    out.explained.push(why);
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
                    if let Some(sub) = unrolled_check(step, &ops, *b) {
                        // A loop: its iterations, one step each, decide.
                        if sub.disagreements.is_empty() && sub.panics.is_empty() {
                            out.amplified += 1 + sub.amplified;
                            out.explained.extend(sub.explained);
                        } else {
                            out.disagreements.extend(sub.disagreements);
                            out.panics.extend(sub.panics);
                        }
                    } else if let Some(why) = explain(step, &ops, b.name(), &w1, &g1) {
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
