//! Gradient checks: a random differentiable f64 program (smooth elementwise maps, products,
//! layout, indexing, reductions, dot, cumulative sums, scan) reduced to a scalar loss
//! `sum_k <w_k, v_k>` over all its values with fixed random weights; rax's reverse-mode
//! gradient (on the interpreter) is compared with central finite differences in f64.

use super::gen::{self, Program, Step};
use super::{Outcome, Rng};
use rax_core::ir::{BinaryOp, ReduceKind, UnaryOp};
use rax_core::{AVal, DType, Literal, Tensor};

fn smooth_step(r: &mut Rng, pool: &[AVal]) -> Step {
    let n = pool.len();
    let a = r.below(n);
    let dims = pool[a].dims().to_vec();
    let rank = dims.len();
    let same: Vec<usize> = (0..n).filter(|&i| pool[i] == pool[a]).collect();
    match r.below(14) {
        0..=2 => Step::Unary(
            r.pick(&[
                UnaryOp::Sin,
                UnaryOp::Cos,
                UnaryOp::Tanh,
                UnaryOp::Logistic,
                UnaryOp::Neg,
            ]),
            a,
        ),
        3..=4 => Step::Binary(
            r.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul]),
            a,
            r.pick(&same),
        ),
        5 => Step::Scalar(BinaryOp::Mul, a, (r.below(9) as f64 - 4.0) / 2.0, false),
        6 => Step::Reduce(
            ReduceKind::Sum,
            a,
            (0..rank).filter(|_| r.chance(0.5)).collect(),
        ),
        7 => {
            let k = dims.last().copied().unwrap_or(0);
            let c: Vec<usize> = (0..n)
                .filter(|&i| pool[i].rank() == 2 && pool[i].dims()[0] == k)
                .collect();
            if c.is_empty() {
                Step::Unary(UnaryOp::Sin, a)
            } else {
                Step::Matmul(a, r.pick(&c))
            }
        }
        8 => {
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.reverse();
            Step::Transpose(a, perm)
        }
        9 => Step::Cumulative(ReduceKind::Sum, a, r.below(rank.max(1)), r.chance(0.5)),
        10 => {
            let ax = r.below(rank.max(1));
            let len = dims.get(ax).copied().unwrap_or(1).max(1);
            let idx = (0..1 + r.below(3))
                .map(|_| r.below(2 * len) as i64 - len as i64)
                .collect();
            Step::Take(a, idx, DType::I32, ax)
        }
        11 => {
            let lo = (0..rank).map(|_| r.below(3) as i64 - 1).collect();
            let hi = (0..rank).map(|_| r.below(3) as i64).collect();
            Step::Pad(a, lo, hi, vec![0; rank])
        }
        12 => Step::Scan(a),
        _ => {
            let starts = dims.iter().map(|&d| r.below(d + 2) as i64 - 1).collect();
            let sizes = dims.iter().map(|&d| r.below(d + 1)).collect();
            Step::DynSlice(a, starts, DType::I32, sizes)
        }
    }
}

fn loss(prog: &Program, weights: &[Literal], xs: &[Tensor]) -> Tensor {
    let mut pool: Vec<Tensor> = xs.to_vec();
    for s in &prog.steps {
        let o = gen::apply(s, &pool);
        pool.extend(o);
    }
    let mut total = Tensor::scalar_of(0.0, DType::F64);
    for (v, w) in pool.iter().zip(weights) {
        total = &total + &(v * &Tensor::from_literal(w.clone())).sum_all();
    }
    total
}

/// Checks one random program's gradient; failures are recorded in `out`.
pub fn check_seed(seed: u64, out: &mut Outcome) {
    let mut r = Rng::new(seed ^ 0x6772_6164);
    let n_in = 1 + r.below(2);
    let mut inputs = Vec::new();
    for _ in 0..n_in {
        let s: Vec<usize> = (0..r.below(3)).map(|_| 1 + r.below(3)).collect();
        inputs.push(gen::literal(&mut r, &AVal::new(s, DType::F64), false));
    }
    let mut pool: Vec<AVal> = inputs.iter().map(|l| l.aval()).collect();
    let mut steps = Vec::new();
    for _ in 0..1 + r.below(6) {
        let cand = smooth_step(&mut r, &pool);
        if let Ok(t) = rax_core::trace(&pool, |xs| gen::apply(&cand, xs)) {
            pool.extend(t.graph.out_avals());
            steps.push(cand);
        }
    }
    let prog = Program { inputs, steps };
    let weights: Vec<Literal> = pool
        .iter()
        .map(|a| gen::literal(&mut r, a, false))
        .collect();
    let xs: Vec<Tensor> = prog
        .inputs
        .iter()
        .cloned()
        .map(Tensor::from_literal)
        .collect();
    let g = match rax_core::grad(|p: &Vec<Tensor>| loss(&prog, &weights, p))(&xs) {
        Ok(g) => g,
        Err(e) => {
            out.grad_failures
                .push(format!("grad failed: {e}\n{}", prog.listing()));
            return;
        }
    };
    out.grad_checks += 1;
    // Central differences in f64 with h = 1e-6: truncation error ~h^2 |f'''| (1e-12 for these
    // bounded smooth maps) and rounding error ~eps |f| / h (2e-10 |f|); 1e-6 relative to
    // (1 + |g| + |f|) is far above both and far below any real gradient error.
    let h = 1e-6;
    let f0 = loss(&prog, &weights, &xs)
        .to_f64_vec()
        .map(|v| v[0])
        .unwrap_or(f64::NAN);
    for (i, x) in prog.inputs.iter().enumerate() {
        let base = x.to_f64_vec();
        let gi = g[i].to_f64_vec().unwrap_or_default();
        for e in 0..base.len().min(6) {
            let at = |d: f64| {
                let mut v = base.clone();
                v[e] += d;
                let mut ys = xs.clone();
                ys[i] = Tensor::from_literal(
                    Literal::from_vec(x.shape().clone(), v).unwrap_or_else(|_| x.clone()),
                );
                loss(&prog, &weights, &ys)
                    .to_f64_vec()
                    .map(|v| v[0])
                    .unwrap_or(f64::NAN)
            };
            let ad = gi.get(e).copied().unwrap_or(f64::NAN);
            let tol = 1e-6 * (1.0 + ad.abs() + f0.abs());
            // A large third derivative (sin of a large argument: f''' ~ u'^3) can make the
            // h = 1e-6 truncation error exceed the tolerance; the differences are then retaken
            // with smaller steps (the rounding error eps |f| / h stays far below `tol` down to
            // h = 1e-8), and agreement at any of them passes: central differences converge to
            // the true derivative, so a wrong gradient disagrees at every step.
            // Written so that a NaN on either side fails the check.
            let mut fd = f64::NAN;
            let mut agrees = false;
            for step in [h, h / 10.0, h / 100.0] {
                fd = (at(step) - at(-step)) / (2.0 * step);
                if (ad - fd).abs() <= tol {
                    agrees = true;
                    break;
                }
            }
            if !agrees {
                out.grad_failures.push(format!(
                    "d loss / d v{i}[{e}]: rax {ad:e} vs finite differences {fd:e}\n{}",
                    prog.listing()
                ));
                return;
            }
        }
    }
}
