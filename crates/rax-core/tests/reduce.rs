//! Tests of the `reduce` family: reduce / argmax / argmin / cumulative rules (with each error),
//! eager results on hand-checked inputs (including XLA CPU's bf16 accumulation order), the
//! user helpers (mean, var, logsumexp, softmax, one_hot, keepdims) and lowering snapshots.
use half::bf16;
use rax_core::ir::ReduceKind;
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn t32(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn iota_f32(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    t32(shape, (0..n).map(|i| i as f32).collect())
}

fn err_of(t: &Tensor) -> String {
    t.error().map(|e| e.to_string()).unwrap_or_default()
}

fn lower1(avals: &[AVal], f: impl FnOnce(&[Tensor]) -> Vec<Tensor>) -> String {
    let t = trace(avals, f).unwrap();
    lower_module(&t.graph, &ModuleOptions::default()).unwrap()
}

#[test]
fn reduce_shapes_and_values() {
    let x = iota_f32(&[2, 3, 4]);
    assert_eq!(x.sum(&[1]).dims(), vec![2, 4]);
    assert_eq!(x.sum(&[2, 0]).dims(), vec![3]);
    assert_eq!(
        x.sum(&[2, 0]).to_vec::<f32>().unwrap(),
        vec![60.0, 92.0, 124.0]
    );
    assert_eq!(x.sum_all().to_vec::<f32>().unwrap(), vec![276.0]);
    assert_eq!(
        x.max(&[0, 1]).to_vec::<f32>().unwrap(),
        vec![20.0, 21.0, 22.0, 23.0]
    );
    assert_eq!(
        x.min(&[2]).to_vec::<f32>().unwrap(),
        vec![0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
    );
    assert_eq!(
        x.sum(&[]).to_vec::<f32>().unwrap(),
        x.to_vec::<f32>().unwrap()
    );
    let p = t32(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(p.prod(&[1]).to_vec::<f32>().unwrap(), vec![2.0, 12.0]);
    // Empty reductions give the init value.
    let e = Tensor::zeros(&[0, 3], DType::F32);
    assert_eq!(e.sum(&[0]).to_vec::<f32>().unwrap(), vec![0.0; 3]);
    assert_eq!(
        e.max(&[0]).to_vec::<f32>().unwrap(),
        vec![f32::NEG_INFINITY; 3]
    );
    assert_eq!(e.prod(&[0]).to_vec::<f32>().unwrap(), vec![1.0; 3]);
    let ei = Tensor::zeros(&[0], DType::I32);
    assert_eq!(ei.max(&[0]).to_vec::<i32>().unwrap(), vec![i32::MIN]);
    assert_eq!(ei.min(&[0]).to_vec::<i32>().unwrap(), vec![i32::MAX]);
    let eu = Tensor::zeros(&[0], DType::U8);
    assert_eq!(eu.all(&[0]).to_vec::<u8>().unwrap(), vec![255]);
    // NaN propagates through max; max(-0, +0) = +0.
    let n = t32(&[3], vec![1.0, f32::NAN, 3.0]);
    assert!(n.max(&[0]).to_vec::<f32>().unwrap()[0].is_nan());
    let z = t32(&[2], vec![-0.0, 0.0]);
    assert!(z.max(&[0]).to_vec::<f32>().unwrap()[0].is_sign_positive());
    assert!(z.min(&[0]).to_vec::<f32>().unwrap()[0].is_sign_negative());
    // Integers wrap.
    let i = Tensor::from_vec([2], vec![i32::MAX, 1]).unwrap();
    assert_eq!(i.sum(&[0]).to_vec::<i32>().unwrap(), vec![i32::MIN]);
    let u = Tensor::from_vec([2], vec![200u8, 100]).unwrap();
    assert_eq!(u.sum(&[0]).to_vec::<u8>().unwrap(), vec![44]);
    assert_eq!(u.max(&[0]).to_vec::<u8>().unwrap(), vec![200]);
    // Bool and/or, bitwise for ints.
    let b = Tensor::from_vec([2, 2], vec![true, false, true, true]).unwrap();
    assert_eq!(b.any(&[1]).to_vec::<bool>().unwrap(), vec![true, true]);
    assert_eq!(b.all(&[1]).to_vec::<bool>().unwrap(), vec![false, true]);
    let bi = Tensor::from_vec([2], vec![0b1100u8, 0b1010]).unwrap();
    assert_eq!(bi.all(&[0]).to_vec::<u8>().unwrap(), vec![0b1000]);
    assert_eq!(bi.any(&[0]).to_vec::<u8>().unwrap(), vec![0b1110]);
    // Complex sum.
    use num_complex::Complex32 as C;
    let c = Tensor::from_vec([2], vec![C::new(1.0, 2.0), C::new(3.0, -1.0)]).unwrap();
    assert_eq!(c.sum(&[0]).to_vec::<C>().unwrap(), vec![C::new(4.0, 1.0)]);
}

#[test]
fn bf16_sum_accumulates_in_bf16_in_xla_cpu_order() {
    // 256 followed by ones: every step 256 + 1 rounds back to 256 in bf16 — within one
    // window of 32. With n = 33 the tree rewrite makes a second window of 16 ones.
    let mk = |n: usize| {
        let mut v = vec![bf16::ONE; n];
        v[0] = bf16::from_f32(256.0);
        Tensor::from_vec([n], v).unwrap()
    };
    let s = |n: usize| mk(n).sum(&[0]).to_f64_vec().unwrap()[0];
    // Values checked against jax 0.10.2 `lax.reduce_sum_p` on CPU.
    assert_eq!(s(32), 256.0);
    assert_eq!(s(33), 272.0);
    assert_eq!(s(64), 288.0);
    assert_eq!(s(100), 338.0);
    assert_eq!(s(1000), 1232.0);
    // 1000 ones: windows of 32 are exact, and their sums are multiples of 32.
    let ones = Tensor::from_vec([1000], vec![bf16::ONE; 1000]).unwrap();
    assert_eq!(ones.sum(&[0]).to_f64_vec().unwrap(), vec![1000.0]);
    // mean widens: f32 accumulation, rounded once.
    assert_eq!(mk(300).mean(&[0]).dtype(), DType::BF16);
    let m = mk(300).mean(&[0]).to_f64_vec().unwrap()[0];
    assert_eq!(m, bf16::from_f32(555.0 / 300.0).to_f64());
}

#[test]
fn bf16_cumsum_matches_xla_blocked_scan() {
    let mut v = vec![bf16::ONE; 300];
    v[0] = bf16::from_f32(256.0);
    let x = Tensor::from_vec([300], v).unwrap();
    let r = x.cumsum(0, false).to_f64_vec().unwrap();
    // jax 0.10.2 on CPU: [256 256 256 256 272 272 274 304 304 340 540] at these indices.
    let at: Vec<f64> = [0, 1, 2, 10, 31, 32, 33, 63, 64, 100, 299]
        .iter()
        .map(|&i| r[i])
        .collect();
    assert_eq!(
        at,
        vec![256.0, 256.0, 256.0, 256.0, 272.0, 272.0, 274.0, 304.0, 304.0, 340.0, 540.0]
    );
}

#[test]
fn cumulative_values() {
    let x = t32(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        x.cumsum(1, false).to_vec::<f32>().unwrap(),
        vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]
    );
    assert_eq!(
        x.cumsum(1, true).to_vec::<f32>().unwrap(),
        vec![6.0, 5.0, 3.0, 15.0, 11.0, 6.0]
    );
    assert_eq!(
        x.cumsum(0, false).to_vec::<f32>().unwrap(),
        vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    );
    assert_eq!(
        x.cumprod(1, false).to_vec::<f32>().unwrap(),
        vec![1.0, 2.0, 6.0, 4.0, 20.0, 120.0]
    );
    let y = t32(&[5], vec![2.0, 1.0, 3.0, f32::NAN, 0.0]);
    let m = y.cummax(0, false).to_vec::<f32>().unwrap();
    assert_eq!(&m[..3], &[2.0, 2.0, 3.0]);
    assert!(m[3].is_nan() && m[4].is_nan());
    assert_eq!(y.cummin(0, true).to_vec::<f32>().unwrap()[4], 0.0);
    let i = Tensor::from_vec([3], vec![i32::MAX, 1, 1]).unwrap();
    assert_eq!(
        i.cumsum(0, false).to_vec::<i32>().unwrap(),
        vec![i32::MAX, i32::MIN, i32::MIN + 1]
    );
    // Long f32 line (blocked path) agrees with a sequential sum for exact data.
    let n = 1000;
    let l = t32(&[n], (0..n).map(|i| (i % 3) as f32).collect());
    let r = l.cumsum(0, false).to_vec::<f32>().unwrap();
    let mut acc = 0.0f32;
    for (i, v) in r.iter().enumerate() {
        acc += (i % 3) as f32;
        assert_eq!(*v, acc, "at {i}");
    }
    let r = l.cumsum(0, true).to_vec::<f32>().unwrap();
    assert_eq!(r[0], acc);
    assert_eq!(r[n - 1], ((n - 1) % 3) as f32);
    assert_eq!(
        Tensor::zeros(&[0, 2], DType::F32).cumsum(0, false).dims(),
        vec![0, 2]
    );
}

#[test]
fn argmax_argmin_semantics() {
    let x = t32(&[2, 3], vec![1.0, 3.0, 3.0, 5.0, 2.0, 5.0]);
    assert_eq!(x.argmax(1).to_vec::<i32>().unwrap(), vec![1, 0]);
    assert_eq!(x.argmin(1).to_vec::<i32>().unwrap(), vec![0, 1]);
    assert_eq!(x.argmax(0).to_vec::<i32>().unwrap(), vec![1, 0, 1]);
    assert_eq!(x.argmax(1).dtype(), DType::I32);
    // NaN counts as the extreme; the first NaN wins.
    let n = t32(&[4], vec![1.0, f32::NAN, 5.0, f32::NAN]);
    assert_eq!(n.argmax(0).to_vec::<i32>().unwrap(), vec![1]);
    assert_eq!(n.argmin(0).to_vec::<i32>().unwrap(), vec![1]);
    // -0.0 and +0.0 tie: first index.
    let z = t32(&[2], vec![0.0, -0.0]);
    assert_eq!(z.argmin(0).to_vec::<i32>().unwrap(), vec![0]);
    let u = Tensor::from_vec([3], vec![1u32, u32::MAX, 7]).unwrap();
    assert_eq!(u.argmax(0).to_vec::<i32>().unwrap(), vec![1]);
    let b = Tensor::from_vec([3], vec![false, true, true]).unwrap();
    assert_eq!(b.argmax(0).to_vec::<i32>().unwrap(), vec![1]);
    assert_eq!(b.argmin(0).to_vec::<i32>().unwrap(), vec![0]);
}

#[test]
fn rule_errors() {
    let x = iota_f32(&[2, 3]);
    let e = err_of(&x.sum(&[2]));
    assert!(
        e.contains("reduce")
            && e.contains("axis 2 is out of range for rank 2")
            && e.contains("f32[2, 3]"),
        "{e}"
    );
    assert!(e.contains("reduce.rs"), "call site: {e}");
    let e = err_of(&x.sum(&[1, 1]));
    assert!(e.contains("axis 1 is repeated"), "{e}");
    let e = err_of(&x.any(&[0]));
    assert!(
        e.contains("reduce: unsupported dtype f32") && e.contains("or needs bool or integer"),
        "{e}"
    );
    let b = Tensor::zeros(&[2], DType::Bool);
    let e = err_of(&b.sum(&[0]));
    assert!(e.contains("unsupported dtype bool"), "{e}");
    use num_complex::Complex32 as C;
    let c = Tensor::from_vec([1], vec![C::new(1.0, 0.0)]).unwrap();
    assert!(err_of(&c.max(&[0])).contains("unsupported dtype c64"));
    assert!(err_of(&c.argmax(0)).contains("argmax: unsupported dtype c64"));
    let e = err_of(&x.argmax(2));
    assert!(e.contains("argmax") && e.contains("out of range"), "{e}");
    let e = err_of(&Tensor::zeros(&[0, 2], DType::F32).argmin(0));
    assert!(
        e.contains("argmin") && e.contains("empty") && e.contains("f32[0, 2]"),
        "{e}"
    );
    let e = err_of(&x.cumsum(3, false));
    assert!(
        e.contains("cumulative") && e.contains("out of range"),
        "{e}"
    );
    let e = err_of(&b.cumulative(ReduceKind::Or, 0, false));
    assert!(
        e.contains("cumulative") && e.contains("not supported"),
        "{e}"
    );
    let i = Tensor::zeros(&[2], DType::I32);
    assert!(err_of(&i.mean(&[0])).contains("mean: unsupported dtype i32"));
    assert!(err_of(&i.logsumexp(&[0])).contains("logsumexp: unsupported dtype i32"));
    assert!(err_of(&i.softmax(0)).contains("softmax"));
    assert!(err_of(&x.one_hot(3, DType::F32)).contains("one_hot: unsupported dtype f32"));
    let big = Tensor::zeros(&[300], DType::F32);
    let e = err_of(&apply_argmax_i8(&big));
    assert!(e.contains("does not fit index dtype i8"), "{e}");
}

fn apply_argmax_i8(x: &Tensor) -> Tensor {
    rax_core::trace::apply1(
        Op::ArgReduce {
            is_max: true,
            axis: 0,
            index_dtype: DType::I8,
        },
        &[x],
        CallSite::here(),
    )
}

#[test]
fn helpers() {
    let x = t32(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0]);
    assert_eq!(x.mean(&[1]).to_vec::<f32>().unwrap(), vec![2.0, 6.0]);
    assert_eq!(x.mean_keepdims(&[1]).dims(), vec![2, 1]);
    assert_eq!(x.sum_keepdims(&[0]).dims(), vec![1, 3]);
    assert_eq!(x.max_keepdims(&[0, 1]).dims(), vec![1, 1]);
    assert_eq!(
        x.min_keepdims(&[1]).to_vec::<f32>().unwrap(),
        vec![1.0, 4.0]
    );
    assert_eq!(x.sum(&[1]).keepdims(&[1]).dims(), vec![2, 1]);
    let v = x.var(&[1]).to_vec::<f32>().unwrap();
    assert!(
        (v[0] - 2.0 / 3.0).abs() < 1e-6 && (v[1] - 8.0 / 3.0).abs() < 1e-6,
        "{v:?}"
    );
    // logsumexp: stable for large values, -inf for all -inf, +inf stays.
    let l = t32(
        &[2, 2],
        vec![1000.0, 1000.0, f32::NEG_INFINITY, f32::NEG_INFINITY],
    );
    let r = l.logsumexp(&[1]).to_vec::<f32>().unwrap();
    assert!(
        (r[0] - (1000.0 + std::f32::consts::LN_2)).abs() < 1e-3,
        "{r:?}"
    );
    assert_eq!(r[1], f32::NEG_INFINITY);
    let s = t32(&[3], vec![1.0, 2.0, 3.0])
        .softmax(0)
        .to_vec::<f32>()
        .unwrap();
    let z: f32 = [1f32, 2.0, 3.0].iter().map(|v| v.exp()).sum();
    for (i, v) in s.iter().enumerate() {
        assert!((v - ((i + 1) as f32).exp() / z).abs() < 1e-6);
    }
    let ls = t32(&[3], vec![1.0, 2.0, 3.0])
        .log_softmax(0)
        .to_vec::<f32>()
        .unwrap();
    for (a, b) in ls.iter().zip(&s) {
        assert!((a - b.ln()).abs() < 1e-6);
    }
    // Narrow floats compute inside in f32 and return their dtype.
    let h = x.cast(DType::BF16);
    assert_eq!(h.softmax(1).dtype(), DType::BF16);
    assert_eq!(h.logsumexp(&[1]).dtype(), DType::BF16);
    assert_eq!(h.var(&[1]).dtype(), DType::BF16);
    let idx = Tensor::from_vec([3], vec![0i32, 2, 5]).unwrap();
    let oh = idx.one_hot(3, DType::F32);
    assert_eq!(oh.dims(), vec![3, 3]);
    assert_eq!(
        oh.to_vec::<f32>().unwrap(),
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn lowering_snapshots() {
    let f = AVal::new([2, 3, 4], DType::F32);
    let text = lower1(std::slice::from_ref(&f), |a| vec![a[0].sum(&[2, 0])]);
    assert!(text.contains("dimensions = array<i64: 0, 2>"), "{text}");
    insta::assert_snapshot!("reduce_sum_f32", text);
    let text = lower1(&[AVal::new([2, 3], DType::I32)], |a| vec![a[0].max(&[1])]);
    assert!(text.contains("dense<\"0x00000080\">"), "{text}");
    insta::assert_snapshot!("reduce_max_i32", text);
    let text = lower1(&[AVal::new([4], DType::Bool)], |a| vec![a[0].all(&[0])]);
    insta::assert_snapshot!("reduce_and_bool", text);
    let text = lower1(std::slice::from_ref(&f), |a| vec![a[0].argmax(1)]);
    insta::assert_snapshot!("argmax_f32", text);
    let text = lower1(&[AVal::new([3], DType::Bool)], |a| vec![a[0].argmin(0)]);
    insta::assert_snapshot!("argmin_bool", text);
    let text = lower1(std::slice::from_ref(&f), |a| vec![a[0].cumsum(1, false)]);
    assert!(
        text.contains("padding = dense<[[0, 0], [2, 0], [0, 0]]> : tensor<3x2xi64>"),
        "{text}"
    );
    insta::assert_snapshot!("cumulative_cumsum", text);
    let text = lower1(&[AVal::new([5], DType::BF16)], |a| {
        vec![a[0].cummax(0, true)]
    });
    insta::assert_snapshot!("cumulative_cummax_reverse", text);
    let text = lower1(&[AVal::new([2, 5], DType::BF16)], |a| {
        vec![a[0].log_softmax(1)]
    });
    insta::assert_snapshot!("reduce_log_softmax_bf16", text);
}
