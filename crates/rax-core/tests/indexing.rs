//! Tests of the indexing family: typing rules (including every error case), eager results on
//! small hand-checked inputs (clamping, skipped scatter windows, batching dims), and one
//! snapshot of the lowered module per primitive.
use rax_core::ir::{GatherDims, ScatterDims};
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn i32s(shape: &[usize], v: &[i32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn iota_f32(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    f32s(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

fn s32(v: i32) -> Tensor {
    Tensor::from_literal(Literal::scalar(v))
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap_or_else(|e| panic!("{e}"))
}

fn err(t: &Tensor) -> String {
    t.error().expect("expected an error").to_string()
}

fn lowered(avals: &[AVal], f: impl FnOnce(&[Tensor]) -> Vec<Tensor>) -> String {
    let t = trace(avals, f).unwrap();
    lower_module(&t.graph, &ModuleOptions::default()).unwrap()
}

fn a(shape: &[usize], d: DType) -> AVal {
    AVal::new(shape.to_vec(), d)
}

// ---- dynamic_slice / dynamic_update_slice ----

#[test]
fn dynamic_slice_clamps_and_wraps() {
    let x = iota_f32(&[4, 5]);
    let y = x.dynamic_slice(&[s32(1), s32(2)], &[2, 2]);
    assert_eq!(vals(&y), vec![7., 8., 12., 13.]);
    // Starts past the end clamp so the slice fits.
    let y = x.dynamic_slice(&[s32(9), s32(4)], &[2, 2]);
    assert_eq!(vals(&y), vec![13., 14., 18., 19.]);
    // Negative starts count from the end (JAX), then clamp.
    let y = x.dynamic_slice(&[s32(-1), s32(-100)], &[1, 2]);
    assert_eq!(vals(&y), vec![15., 16.]);
    // Unsigned and i64 starts.
    let u = Tensor::from_literal(Literal::scalar(u32::MAX));
    let y = x.dynamic_slice(&[u.clone(), u], &[1, 1]);
    assert_eq!(vals(&y), vec![19.]);
    let l = Tensor::from_literal(Literal::scalar(2i64));
    assert_eq!(
        vals(&x.dynamic_slice(&[l.clone(), l], &[0, 3])),
        Vec::<f64>::new()
    );
}

#[test]
fn dynamic_update_slice_clamps() {
    let x = Tensor::zeros(&[3, 3], DType::I32);
    let u = i32s(&[2, 2], &[1, 2, 3, 4]);
    let y = x.dynamic_update_slice(&u, &[s32(5), s32(-3)]);
    assert_eq!(vals(&y), vec![0., 0., 0., 1., 2., 0., 3., 4., 0.]);
    let y = x.dynamic_update_slice(&u, &[s32(0), s32(1)]);
    assert_eq!(vals(&y), vec![0., 1., 2., 0., 3., 4., 0., 0., 0.]);
}

#[test]
fn dynamic_errors() {
    let x = iota_f32(&[4, 5]);
    let e = err(&x.dynamic_slice(&[s32(0)], &[1, 1]));
    assert!(
        e.contains(
            "dynamic_slice: invalid argument: needs one start index per dim of f32[4, 5], got 1"
        ),
        "{e}"
    );
    assert!(e.contains("indexing.rs"), "call site: {e}");
    let e = err(&x.dynamic_slice(&[s32(0), Tensor::scalar_of(0.0, DType::F32)], &[1, 1]));
    assert!(
        e.contains("dynamic_slice: unsupported dtype f32 (integer start indices)"),
        "{e}"
    );
    let e = err(&x.dynamic_slice(
        &[s32(0), Tensor::from_literal(Literal::scalar(0i64))],
        &[1, 1],
    ));
    assert!(
        e.contains("dynamic_slice: dtype mismatch i32 vs i64"),
        "{e}"
    );
    let e = err(&x.dynamic_slice(&[s32(0), i32s(&[1], &[0])], &[1, 1]));
    assert!(
        e.contains("dynamic_slice: start index 1 must be a scalar, got i32[1]"),
        "{e}"
    );
    let e = err(&x.dynamic_slice(&[s32(0), s32(0)], &[1, 6]));
    assert!(
        e.contains("dynamic_slice: slice sizes [1, 6]") && e.contains("(f32[4, 5])"),
        "{e}"
    );
    let u = iota_f32(&[5, 1]);
    let e = err(&x.dynamic_update_slice(&u, &[s32(0), s32(0)]));
    assert!(e.contains("dynamic_update_slice: the update must have the operand's rank and fit inside it; operands (f32[4, 5], f32[5, 1])"), "{e}");
    let e = err(&x.dynamic_update_slice(&u.cast(DType::F64), &[s32(0), s32(0)]));
    assert!(
        e.contains("dynamic_update_slice: dtype mismatch f32 vs f64"),
        "{e}"
    );
    let e = err(&x.dynamic_update_slice(&iota_f32(&[1, 1]), &[s32(0)]));
    assert!(
        e.contains("dynamic_update_slice: invalid argument: needs one start index per dim"),
        "{e}"
    );
}

// ---- gather ----

#[test]
fn take_like_jax_indexing() {
    let x = iota_f32(&[3, 4]);
    let i = i32s(&[2], &[2, 0]);
    assert_eq!(vals(&x.take(&i, 0)), vec![8., 9., 10., 11., 0., 1., 2., 3.]);
    let y = x.take(&i32s(&[2, 2], &[-1, 7, -9, 1]), 1);
    assert_eq!(y.dims(), vec![3, 2, 2]);
    // -1 -> 3; 7 clamps to 3; -9 -> -5 clamps to 0; 1.
    assert_eq!(vals(&y)[..4], [3., 3., 0., 1.]);
    let s = x.take(&s32(1), 0);
    assert_eq!(s.dims(), vec![4]);
    assert_eq!(vals(&s), vec![4., 5., 6., 7.]);
    let u8i = Tensor::from_vec([1], vec![200u8]).unwrap();
    assert_eq!(vals(&x.take(&u8i, 1)), vec![3., 7., 11.]);
}

#[test]
fn gather_windows_clamp_and_batching() {
    let x = iota_f32(&[5]);
    // Windows of 2 starting at 4, 3, -1: clamped to 3, 3, 0.
    let g = GatherDims {
        offset_dims: vec![1],
        start_index_map: vec![0],
        index_vector_dim: 1,
        slice_sizes: vec![2],
        ..Default::default()
    };
    let y = x.gather(&i32s(&[3, 1], &[4, 3, -1]), &g);
    assert_eq!(vals(&y), vec![3., 4., 3., 4., 0., 1.]);
    // Batched gather: per batch b, pick x[b, idx[b, j], :].
    let x = iota_f32(&[2, 3, 2]);
    let g = GatherDims {
        offset_dims: vec![2],
        collapsed_slice_dims: vec![1],
        operand_batching_dims: vec![0],
        start_indices_batching_dims: vec![0],
        start_index_map: vec![1],
        index_vector_dim: 2,
        slice_sizes: vec![1, 1, 2],
        ..Default::default()
    };
    let y = x.gather(&i32s(&[2, 2, 1], &[2, 0, 1, 1]), &g);
    assert_eq!(y.dims(), vec![2, 2, 2]);
    assert_eq!(vals(&y), vec![4., 5., 0., 1., 8., 9., 8., 9.]);
    // Index vector dim first; implicit trailing index vector dim.
    let x = iota_f32(&[3, 3]);
    let g = GatherDims {
        collapsed_slice_dims: vec![0, 1],
        start_index_map: vec![1, 0],
        index_vector_dim: 0,
        slice_sizes: vec![1, 1],
        ..Default::default()
    };
    let y = x.gather(&i32s(&[2, 2], &[0, 2, 1, 1]), &g);
    assert_eq!(vals(&y), vec![3., 5.]);
}

#[test]
fn gather_errors() {
    let x = iota_f32(&[3, 4]);
    let i = i32s(&[2, 1], &[0, 1]);
    let base = GatherDims {
        offset_dims: vec![1],
        collapsed_slice_dims: vec![0],
        start_index_map: vec![0],
        index_vector_dim: 1,
        slice_sizes: vec![1, 4],
        ..Default::default()
    };
    assert_eq!(x.gather(&i, &base).dims(), vec![2, 4]);
    let check = |g: GatherDims, idx: &Tensor, want: &str| {
        let e = err(&x.gather(idx, &g));
        assert!(
            e.starts_with("gather: ") && e.contains(want),
            "want {want:?}: {e}"
        );
    };
    check(
        base.clone(),
        &i.cast(DType::F32),
        "unsupported dtype f32 (integer indices)",
    );
    check(
        GatherDims {
            index_vector_dim: 3,
            ..base.clone()
        },
        &i,
        "index_vector_dim 3 is out of range for indices of rank 2",
    );
    check(
        GatherDims {
            slice_sizes: vec![1, 5],
            ..base.clone()
        },
        &i,
        "slice size 5 exceeds operand dim 1 (4); operands (f32[3, 4], i32[2, 1])",
    );
    check(
        GatherDims {
            slice_sizes: vec![1],
            ..base.clone()
        },
        &i,
        "slice_sizes [1] must have one entry per dim",
    );
    check(
        GatherDims {
            slice_sizes: vec![2, 4],
            ..base.clone()
        },
        &i,
        "slice size of collapsed/batching dim 0 must be <= 1",
    );
    check(
        GatherDims {
            start_index_map: vec![0, 1],
            ..base.clone()
        },
        &i,
        "start_index_map [0, 1] needs 1 entries",
    );
    check(
        GatherDims {
            start_index_map: vec![2],
            ..base.clone()
        },
        &i,
        "start_index_map [2]: 2 is out of range for rank 2",
    );
    check(
        GatherDims {
            offset_dims: vec![],
            ..base.clone()
        },
        &i,
        "operand rank 2 must equal #offset_dims (0)",
    );
    check(
        GatherDims {
            offset_dims: vec![2],
            ..base.clone()
        },
        &i,
        "offset_dims [2]: 2 is out of range for rank 2",
    );
    check(
        GatherDims {
            collapsed_slice_dims: vec![1, 0],
            offset_dims: vec![],
            slice_sizes: vec![1, 1],
            ..base.clone()
        },
        &i,
        "collapsed_slice_dims [1, 0] must be sorted and unique",
    );
    check(
        GatherDims {
            operand_batching_dims: vec![0],
            start_indices_batching_dims: vec![0],
            ..base.clone()
        },
        &i,
        "dim 0 is both collapsed and an operand batching dim",
    );
    check(
        GatherDims {
            collapsed_slice_dims: vec![],
            operand_batching_dims: vec![0],
            start_indices_batching_dims: vec![0],
            start_index_map: vec![1],
            ..base.clone()
        },
        &i,
        "operand batching dim 0 (3) and indices batching dim 0 (2) differ",
    );
    check(
        GatherDims {
            collapsed_slice_dims: vec![],
            operand_batching_dims: vec![0],
            start_indices_batching_dims: vec![],
            ..base.clone()
        },
        &i,
        "differ in length",
    );
    check(
        GatherDims {
            collapsed_slice_dims: vec![],
            operand_batching_dims: vec![0],
            start_indices_batching_dims: vec![1],
            ..base.clone()
        },
        &i,
        "index_vector_dim 1 cannot be an indices batching dim",
    );
    let e = err(&x.take(&i32s(&[1], &[0]), 2));
    assert!(
        e.contains("take: invalid argument: axis 2 is out of range for rank 2"),
        "{e}"
    );
    let e = err(&x.take(&f32s(&[1], &[0.]), 0));
    assert!(e.contains("take: unsupported dtype f32"), "{e}");
}

// ---- scatter_add ----

#[test]
fn index_add_like_jax_at_add() {
    let x = Tensor::zeros(&[5], DType::F32);
    let i = i32s(&[5], &[1, 1, -1, 5, -6]);
    let u = f32s(&[5], &[1., 2., 3., 4., 5.]);
    // Repeated indices accumulate; -1 -> 4; 5 and -6 (-> -1) are dropped.
    assert_eq!(vals(&x.index_add(0, &i, &u)), vec![0., 3., 0., 0., 3.]);
    let x = Tensor::zeros(&[2, 3], DType::I32);
    let y = x.index_add(1, &i32s(&[2], &[2, 0]), &Tensor::scalar_of(7.0, DType::I32));
    assert_eq!(vals(&y), vec![7., 0., 7., 7., 0., 7.]);
    // Integer overflow wraps.
    let x = Tensor::from_vec([1], vec![i8::MAX]).unwrap();
    let y = x.index_add(0, &s32(0), &Tensor::from_literal(Literal::scalar(1i8)));
    assert_eq!(y.to_vec::<i8>().unwrap(), vec![i8::MIN]);
    // bf16 adds round after each addition: 256 + 1 = 256 in bf16 (twice).
    let x = Tensor::full(&[1], 256.0, DType::BF16);
    let y = x.index_add(
        0,
        &i32s(&[2], &[0, 0]),
        &Tensor::full(&[2], 1.0, DType::BF16),
    );
    assert_eq!(vals(&y), vec![256.]);
}

#[test]
fn scatter_skips_windows_that_do_not_fit() {
    let x = iota_f32(&[5]);
    let s = ScatterDims {
        update_window_dims: vec![1],
        scatter_dims_to_operand_dims: vec![0],
        index_vector_dim: 1,
        ..Default::default()
    };
    let y = x.scatter_add(
        &i32s(&[3, 1], &[4, 3, -1]),
        &Tensor::full(&[3, 2], 1.0, DType::F32),
        &s,
    );
    assert_eq!(vals(&y), vec![0., 1., 2., 4., 5.]);
    // Extreme i64 indices are skipped (no overflow) or clamped by gather.
    let big = Tensor::from_vec([2, 1], vec![i64::MAX, i64::MIN]).unwrap();
    let y = x.scatter_add(&big, &Tensor::full(&[2, 2], 1.0, DType::F32), &s);
    assert_eq!(vals(&y), vals(&x));
    let g = GatherDims {
        offset_dims: vec![1],
        start_index_map: vec![0],
        index_vector_dim: 1,
        slice_sizes: vec![2],
        ..Default::default()
    };
    assert_eq!(vals(&x.gather(&big, &g)), vec![3., 4., 0., 1.]);
    // Batched scatter: per batch b, add into x[b, idx[b, j], :].
    let x = Tensor::zeros(&[2, 3, 2], DType::F32);
    let s = ScatterDims {
        update_window_dims: vec![2],
        inserted_window_dims: vec![1],
        input_batching_dims: vec![0],
        scatter_indices_batching_dims: vec![0],
        scatter_dims_to_operand_dims: vec![1],
        index_vector_dim: 2,
        ..Default::default()
    };
    let u = iota_f32(&[2, 2, 2]);
    let y = x.scatter_add(&i32s(&[2, 2, 1], &[2, 2, 0, 5]), &u, &s);
    assert_eq!(
        vals(&y),
        vec![0., 0., 0., 0., 2., 4., 4., 5., 0., 0., 0., 0.]
    );
}

#[test]
fn scatter_errors() {
    let x = iota_f32(&[3, 4]);
    let i = i32s(&[2, 1], &[0, 1]);
    let u = iota_f32(&[2, 4]);
    let base = ScatterDims {
        update_window_dims: vec![1],
        inserted_window_dims: vec![0],
        scatter_dims_to_operand_dims: vec![0],
        index_vector_dim: 1,
        ..Default::default()
    };
    assert_eq!(x.scatter_add(&i, &u, &base).dims(), vec![3, 4]);
    let check = |s: ScatterDims, x: &Tensor, i: &Tensor, u: &Tensor, want: &str| {
        let e = err(&x.scatter_add(i, u, &s));
        assert!(
            e.starts_with("scatter_add: ") && e.contains(want),
            "want {want:?}: {e}"
        );
    };
    check(
        base.clone(),
        &x,
        &i,
        &u.cast(DType::F64),
        "dtype mismatch f32 vs f64",
    );
    let b = x.ne(&x);
    check(
        base.clone(),
        &b,
        &i,
        &u.ne(&u),
        "unsupported dtype bool (numeric)",
    );
    check(
        base.clone(),
        &x,
        &i,
        &iota_f32(&[3, 4]),
        "updates scatter dims [3] must equal the indices' batch dims [2]",
    );
    check(
        base.clone(),
        &x,
        &i,
        &iota_f32(&[2, 5]),
        "update window dim 1 (5) exceeds operand dim 1 (4)",
    );
    check(
        base.clone(),
        &x,
        &i,
        &iota_f32(&[2, 4, 1]),
        "updates must have rank #update_window_dims + 1",
    );
    check(
        ScatterDims {
            inserted_window_dims: vec![],
            ..base.clone()
        },
        &x,
        &i,
        &u,
        "operand rank 2 must equal #update_window_dims (1) + #inserted_window_dims (0)",
    );
    check(
        ScatterDims {
            update_window_dims: vec![2],
            ..base.clone()
        },
        &x,
        &i,
        &u,
        "update_window_dims [2]: 2 is out of range for rank 2",
    );
    check(
        ScatterDims {
            scatter_dims_to_operand_dims: vec![0, 1],
            ..base.clone()
        },
        &x,
        &i,
        &u,
        "scatter_dims_to_operand_dims [0, 1] needs 1 entries",
    );
    check(
        ScatterDims {
            index_vector_dim: 5,
            ..base.clone()
        },
        &x,
        &i,
        &u,
        "index_vector_dim 5 is out of range",
    );
    check(
        ScatterDims {
            input_batching_dims: vec![0],
            scatter_indices_batching_dims: vec![0],
            ..base.clone()
        },
        &x,
        &i,
        &u,
        "dim 0 is both an inserted window dim and an input batching dim",
    );
    let e = err(&x.index_add(0, &i32s(&[2], &[0, 1]), &iota_f32(&[3])));
    assert!(
        e.contains("index_add: updates do not broadcast to the indexed shape [2, 4]"),
        "{e}"
    );
}

#[test]
fn every_dtype_gathers_and_scatters() {
    for d in DType::ALL {
        let x = Tensor::from_literal(Literal::from_f64s([4], d, &[0., 1., 1., 0.]).unwrap());
        let t = x.take(&i32s(&[3], &[2, 3, 9]), 0);
        assert_eq!(vals(&t), vec![1., 0., 0.], "{d}");
        let ds = x.dynamic_slice(&[s32(1)], &[2]);
        assert_eq!(vals(&ds), vec![1., 1.], "{d}");
        let dus = x.dynamic_update_slice(&ds, &[s32(9)]);
        assert_eq!(vals(&dus), vec![0., 1., 1., 1.], "{d}");
        if d != DType::Bool {
            let y = x.index_add(0, &i32s(&[2], &[0, 0]), &x.slice(&[1], &[3], &[1]));
            assert_eq!(vals(&y), vec![2., 1., 1., 0.], "{d}");
        }
    }
}

#[test]
fn traced_matches_eager() {
    let x = iota_f32(&[3, 4]);
    let i = i32s(&[2], &[2, -1]);
    let f = |x: &Tensor, i: &Tensor| {
        let t = x.take(i, 1);
        x.index_add(1, i, &t)
            .dynamic_slice(&[s32(1), s32(1)], &[2, 2])
    };
    let eager = vals(&f(&x, &i));
    let t = trace(&[x.aval(), i.aval()], |a| vec![f(&a[0], &a[1])]).unwrap();
    let out = interp::eval_graph(
        &t.graph,
        &[&x.to_literal().unwrap(), &i.to_literal().unwrap()],
    )
    .unwrap();
    assert_eq!(out[0].to_f64_vec(), eager);
}

// ---- snapshots of the lowered modules ----

#[test]
fn snapshots() {
    let i32s_ = a(&[], DType::I32);
    insta::assert_snapshot!(
        "dynamic_slice_2d",
        lowered(
            &[a(&[4, 5], DType::F32), i32s_.clone(), i32s_.clone()],
            |x| vec![x[0].dynamic_slice(&x[1..3], &[2, 3])]
        )
    );
    insta::assert_snapshot!(
        "dynamic_update_slice_2d",
        lowered(
            &[
                a(&[4, 5], DType::F32),
                a(&[2, 3], DType::F32),
                a(&[], DType::U32),
                a(&[], DType::U32)
            ],
            |x| vec![x[0].dynamic_update_slice(&x[1], &x[2..4])]
        )
    );
    insta::assert_snapshot!(
        "gather_take_axis1",
        lowered(
            &[a(&[4, 5, 6], DType::BF16), a(&[2, 3], DType::I32)],
            |x| vec![x[0].take(&x[1], 1)]
        )
    );
    insta::assert_snapshot!(
        "gather_batching_dims",
        lowered(
            &[a(&[2, 4, 5], DType::F32), a(&[2, 3, 1], DType::I64)],
            |x| {
                let g = GatherDims {
                    offset_dims: vec![2],
                    collapsed_slice_dims: vec![1],
                    operand_batching_dims: vec![0],
                    start_indices_batching_dims: vec![0],
                    start_index_map: vec![1],
                    index_vector_dim: 2,
                    slice_sizes: vec![1, 1, 5],
                    ..Default::default()
                };
                vec![x[0].gather(&x[1], &g)]
            }
        )
    );
    insta::assert_snapshot!(
        "scatter_add_index_add_axis0",
        lowered(
            &[
                a(&[4, 5], DType::F32),
                a(&[3], DType::I32),
                a(&[3, 5], DType::F32)
            ],
            |x| vec![x[0].index_add(0, &x[1], &x[2])]
        )
    );
    insta::assert_snapshot!(
        "scatter_add_batching_dims",
        lowered(
            &[
                a(&[2, 4, 5], DType::I32),
                a(&[2, 3, 1], DType::I32),
                a(&[2, 3, 5], DType::I32)
            ],
            |x| {
                let s = ScatterDims {
                    update_window_dims: vec![2],
                    inserted_window_dims: vec![1],
                    input_batching_dims: vec![0],
                    scatter_indices_batching_dims: vec![0],
                    scatter_dims_to_operand_dims: vec![1],
                    index_vector_dim: 2,
                    ..Default::default()
                };
                vec![x[0].scatter_add(&x[1], &x[2], &s)]
            }
        )
    );
}
