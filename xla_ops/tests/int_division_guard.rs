//! Integer division by zero and MIN / -1 on constants: the API 0.81 CPU plugin constant-folds
//! such a divide with the host's instruction and the process dies of SIGFPE (fuzzer seed
//! 885037996365329272, `rem(iota, iota)`). rax's lowering keeps those divisors away from the
//! divide, so every plugin gives XLA's defined results (x / 0 = all ones, x % 0 = x, MIN / -1 = MIN,
//! MIN % -1 = 0), the same as the interpreter. Before the guard this test binary was killed.
mod common;

use common::fuzz_plugins::plugins_required_under_ci;
use rax_core::ir::BinaryOp;
use rax_core::{DType, Literal};
use xla_ops::fuzz::gen::{Program, Step};
use xla_ops::fuzz::{self, Backend, Config, Interpreter};

/// Programs over constants only (iota and weak scalars), so the plugins can fold them.
fn programs() -> Vec<(Program, Vec<f64>)> {
    let mut v = Vec::new();
    for (d, ones) in [
        (DType::I8, -1.0),
        (DType::I32, -1.0),
        (DType::I64, -1.0),
        (DType::U8, u8::MAX as f64),
        (DType::U32, u32::MAX as f64),
    ] {
        // x / 0 is all ones: -1 signed, MAX unsigned.
        // iota [0, 1, 2]: x / x and x % x, with 0 / 0 first.
        for (b, want) in [
            (BinaryOp::Div, vec![ones, 1.0, 1.0]),
            (BinaryOp::Rem, vec![0.0, 0.0, 0.0]),
        ] {
            v.push((
                Program {
                    inputs: Vec::new(),
                    steps: vec![Step::Iota(vec![3], 0, d), Step::Binary(b, 0, 0)],
                },
                want,
            ));
        }
        // [5, 6, 7] / 0 and % 0 through a weak scalar zero.
        for (b, want) in [
            (BinaryOp::Div, vec![ones; 3]),
            (BinaryOp::Rem, vec![5.0, 6.0, 7.0]),
        ] {
            v.push((
                Program {
                    inputs: Vec::new(),
                    steps: vec![
                        Step::Iota(vec![3], 0, d),
                        Step::Scalar(BinaryOp::Add, 0, 5.0, false),
                        Step::Scalar(b, 1, 0.0, false),
                    ],
                },
                want,
            ));
        }
    }
    // Signed MIN / -1 and MIN % -1 (iota + MIN = [MIN, MIN + 1]).
    for (d, min) in [(DType::I8, i8::MIN as f64), (DType::I32, i32::MIN as f64)] {
        for (b, want) in [
            (BinaryOp::Div, vec![min, -(min + 1.0)]),
            (BinaryOp::Rem, vec![0.0, 0.0]),
        ] {
            v.push((
                Program {
                    inputs: Vec::new(),
                    steps: vec![
                        Step::Iota(vec![2], 0, d),
                        Step::Scalar(BinaryOp::Add, 0, min, false),
                        Step::Scalar(b, 1, -1.0, false),
                    ],
                },
                want,
            ));
        }
    }
    v
}

#[test]
fn constant_integer_division_by_zero_and_min_by_minus_one_gives_xla_results() {
    let found = plugins_required_under_ci();
    let mut backends: Vec<&dyn Backend> = vec![&Interpreter];
    backends.extend(found.iter().map(|p| p as &dyn Backend));
    for (prog, want) in programs() {
        let g = prog.trace().expect("the program traces");
        let inputs: Vec<Literal> = Vec::new();
        for be in &backends {
            let out = be.run(&g, &inputs).expect("it runs");
            let got = out.last().expect("a result").to_f64_vec();
            assert_eq!(got, want, "{} on {:?}", be.name(), prog.steps);
        }
    }
}

#[test]
fn the_seed_that_killed_the_plugin_now_agrees() {
    let found = plugins_required_under_ci();
    let backends: Vec<&dyn Backend> = found.iter().map(|p| p as &dyn Backend).collect();
    let o = fuzz::run_seed(885037996365329272, &Config::default(), &backends);
    assert!(!o.failed(), "{}", o.to_json(885037996365329272));
}
