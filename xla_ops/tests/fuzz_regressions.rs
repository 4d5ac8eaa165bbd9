//! Regressions found by the differential fuzzer (program seeds of the 10,000-program release
//! run in the comments), checked on the interpreter alone against the mathematical value or
//! the C99 Annex G convention.
use rax_core::ir::{BinaryOp, UnaryOp};
use rax_core::{DType, Literal};
use xla_ops::fuzz::gen::{Program, Step};
use xla_ops::fuzz::{Backend, Interpreter};
use xla_ops::tolerance::parts;

/// A c64 input built from (re, im) pairs: inputs 0 and 1 are the parts, pool value 2 is the
/// complex vector.
fn complex_input(z: &[(f32, f32)]) -> Vec<Literal> {
    let re: Vec<f32> = z.iter().map(|c| c.0).collect();
    let im: Vec<f32> = z.iter().map(|c| c.1).collect();
    vec![
        Literal::from_vec(vec![z.len()], re).expect("re"),
        Literal::from_vec(vec![z.len()], im).expect("im"),
    ]
}

/// Runs `steps` after `Binary(Complex, 0, 1)` (pool value 2) on the interpreter; the last
/// step's result as (re, im) pairs.
fn run_complex(z: &[(f32, f32)], steps: Vec<Step>) -> Vec<(f64, f64)> {
    let mut all = vec![Step::Binary(BinaryOp::Complex, 0, 1)];
    all.extend(steps);
    let prog = Program {
        inputs: complex_input(z),
        steps: all,
    };
    let g = prog.trace().expect("the program traces");
    let out = Interpreter
        .run(&g, &prog.inputs)
        .expect("the interpreter runs it");
    let last = out.last().expect("a result");
    assert_eq!(last.dtype(), DType::C64);
    parts(last).chunks(2).map(|c| (c[0], c[1])).collect()
}

fn close(got: (f64, f64), want: (f64, f64)) -> bool {
    let m = want.0.hypot(want.1).max(f64::MIN_POSITIVE);
    (got.0 - want.0).abs() <= 4.0 * f32::EPSILON as f64 * m
        && (got.1 - want.1).abs() <= 4.0 * f32::EPSILON as f64 * m
}

const BIG: f32 = f32::MAX;

#[test]
fn complex_division_of_a_huge_value_by_itself_is_one() {
    // Seeds 17115185274241852915, 13546763915329182360, 6022831093734486284,
    // 2601194490451775211, 14463181253694202884, 7717290779918100134.
    let z = [
        (BIG, 0.0),
        (-0.0, -BIG),
        (-BIG, -BIG),
        (-BIG, 1.25),
        (1e-45, -1.25),
    ];
    let q = run_complex(&z, vec![Step::Binary(BinaryOp::Div, 2, 2)]);
    for (i, v) in q.iter().enumerate() {
        assert!(close(*v, (1.0, 0.0)), "{:?} / itself = {v:?}, want 1", z[i]);
    }
}

#[test]
fn complex_division_by_zero_is_infinite_and_by_infinity_is_zero() {
    // Seeds 14213089407062208639 (-3.25 / (0 + 0i)), 17660984388907416698 (0.5 / (inf - 1.75i)).
    let z = [
        (0.0, 0.0),
        (f32::INFINITY, -1.75),
        (f32::NEG_INFINITY, -2.75),
    ];
    let q = run_complex(&z, vec![Step::Scalar(BinaryOp::Div, 2, 0.5, true)]);
    // C99 G.5.2: a nonzero finite over zero is an infinity (some part infinite) ...
    assert!(
        q[0].0.is_infinite() || q[0].1.is_infinite(),
        "0.5 / 0 = {:?}",
        q[0]
    );
    // ... and a finite over an infinity is a zero.
    for v in &q[1..] {
        assert!(v.0 == 0.0 && v.1 == 0.0, "0.5 / infinity = {v:?}");
    }
}

#[test]
fn complex_rsqrt_at_zero_and_at_infinities() {
    // Seeds 5211129374351261525, 1509002749100210714 (rsqrt(0) = inf), 9503170131535034824,
    // 6526308905735255374, 6165736588731841379, 6527013089987503608, 13359011729222056421,
    // 5928505210406807053 (rsqrt of an infinity = 0).
    let inf = f32::INFINITY;
    let z = [
        (0.0, 0.0),
        (inf, 3.5),
        (1.5, inf),
        (-1.25, inf),
        (f32::NAN, -inf),
        (-inf, -inf),
        (-inf, 0.0),
    ];
    let r = run_complex(&z, vec![Step::Unary(UnaryOp::Rsqrt, 2)]);
    assert!(
        r[0].0.is_infinite() || r[0].1.is_infinite(),
        "rsqrt(0) = {:?}",
        r[0]
    );
    // C99 G.6.4.2: csqrt(x + i inf) = inf + i inf (any x, NaN included), csqrt(+inf + iy) =
    // inf + 0i, csqrt(-inf + 0i) = 0 + i inf: one over each is a zero.
    for (i, v) in r.iter().enumerate().skip(1) {
        assert!(v.0 == 0.0 && v.1 == 0.0, "rsqrt{:?} = {v:?}, want 0", z[i]);
    }
}

#[test]
fn complex_tanh_of_large_arguments() {
    // Seeds 18293792127157714462, 16653905661398505295, 11043465579223205015,
    // 12578932630358939634; through the fuzzer's cond/scan wiggle (tanh): 6774254592972712293,
    // 411548521826895842, 6819047043593511104.
    let z = [
        (BIG, -1.0),
        (-BIG, -0.25),
        (-9.2e18, 0.0),
        (1.0, BIG),
        (2.0, BIG),
    ];
    let t = run_complex(&z, vec![Step::Unary(UnaryOp::Tanh, 2)]);
    assert!(close(t[0], (1.0, 0.0)), "tanh(MAX - i) = {:?}", t[0]);
    assert!(close(t[1], (-1.0, 0.0)), "tanh(-MAX - 0.25i) = {:?}", t[1]);
    assert!(close(t[2], (-1.0, 0.0)), "tanh(-9.2e18) = {:?}", t[2]);
    // tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y), in f64 (2y is exact there).
    for (i, &(x, y)) in z.iter().enumerate().skip(3) {
        let (x, y) = (2.0 * x as f64, 2.0 * y as f64);
        let d = x.cosh() + y.cos();
        let want = (x.sinh() / d, y.sin() / d);
        assert!(
            close(t[i], want),
            "tanh{:?} = {:?}, want {want:?}",
            z[i],
            t[i]
        );
    }
}

#[test]
fn complex_logistic_where_exp_overflows() {
    // Seed 18418468112278273932: logistic(-inf + 2.75i) = 1 / (1 + infinity) = 0.
    let z = [(f32::NEG_INFINITY, 2.75), (-200.0, 1.0)];
    let l = run_complex(&z, vec![Step::Unary(UnaryOp::Logistic, 2)]);
    for (i, v) in l.iter().enumerate() {
        assert!(
            v.0.abs() <= 1e-38 && v.1.abs() <= 1e-38,
            "logistic{:?} = {v:?}",
            z[i]
        );
    }
}

#[test]
fn clamp_of_a_one_element_operand_keeps_its_shape() {
    // Seeds 5867896685065022130 (type i32[] vs i32[1]) and 3941934013654299658 (the wrong
    // shape then fails a transpose: "[0] is not a permutation of the 0 axes of f32[]").
    for d in [DType::I32, DType::F32] {
        let prog = Program {
            inputs: vec![
                Literal::from_f64s(vec![1], d, &[7.0]).expect("x"),
                Literal::from_f64s(Vec::<usize>::new(), d, &[3.0]).expect("bound"),
            ],
            steps: vec![Step::Clamp(0, 1, 1)],
        };
        let g = prog.trace().expect("traces");
        assert_eq!(g.out_avals()[0].shape.dims(), &[1]);
        let out = Interpreter.run(&g, &prog.inputs).expect("runs");
        assert_eq!(out[0].dims(), &[1], "clamp({d:?}[1], scalar, scalar)");
        assert_eq!(out[0].to_f64_vec(), vec![3.0]);
    }
}

#[test]
fn complex_dot_keeps_an_overflowed_sum_infinite() {
    // Seed 5941523874027570342: (MAX + 2.25i) (4.09 + 2.45i) overflows to inf + inf i; the
    // blocked kernel's alpha = 1 + 0i scaling made it NaN (0 * inf).
    let z = [(BIG, 2.25), (-4.0, 3.5), (2.25, 0.5)];
    let prog = Program {
        inputs: complex_input(&z),
        steps: vec![
            Step::Binary(BinaryOp::Complex, 0, 1),
            Step::Unary(UnaryOp::Cos, 2),
            Step::Matmul(2, 3),
        ],
    };
    let g = prog.trace().expect("traces");
    let out = Interpreter.run(&g, &prog.inputs).expect("runs");
    let p = parts(out.last().expect("dot"));
    // cos(MAX + 2.25i) has a real part of size cosh(2.25) ~ 4.8, so each part of the first
    // product is +-inf; nothing else is infinite.
    assert!(p.iter().all(|x| x.is_infinite()), "dot = {p:?}");
    // And a finite complex dot is still right: (1 + 2i)(3 - i) + (0.5i)(2i) = 4 + 5i.
    let mut inputs = complex_input(&[(1.0, 2.0), (0.0, 0.5)]);
    inputs.extend(complex_input(&[(3.0, -1.0), (0.0, 2.0)]));
    let prog = Program {
        inputs,
        steps: vec![
            Step::Binary(BinaryOp::Complex, 0, 1),
            Step::Binary(BinaryOp::Complex, 2, 3),
            Step::Matmul(4, 5),
        ],
    };
    let g = prog.trace().expect("traces");
    let out = Interpreter.run(&g, &prog.inputs).expect("runs");
    assert_eq!(parts(out.last().expect("dot")), vec![4.0, 5.0]);
}
