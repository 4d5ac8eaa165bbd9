//! Tests of the control-flow family: while_loop, cond, switch, scan and optimization_barrier —
//! eager results, traced results on the interpreter, captures, nesting, typing errors (with the
//! user's call site) and snapshots of the lowered StableHLO.
//!
//! Set `RAX_DUMP_MLIR=DIR` to also write every snapshot module to `DIR/<name>.mlir` (then check
//! them with `python3 xla_ops/gen/check_mlir.py`).
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn i32s(v: i32) -> Tensor {
    Tensor::from_vec(Vec::<usize>::new(), vec![v]).unwrap()
}

fn lowered(name: &str, g: &Graph) -> String {
    let text = lower_module(g, &ModuleOptions::default()).unwrap();
    if let Ok(dir) = std::env::var("RAX_DUMP_MLIR") {
        std::fs::write(format!("{dir}/{name}.mlir"), &text).unwrap();
    }
    text
}

fn run(g: &Graph, ins: &[&Tensor]) -> Vec<Literal> {
    let lits: Vec<Literal> = ins.iter().map(|t| t.to_literal().unwrap()).collect();
    let refs: Vec<&Literal> = lits.iter().collect();
    interp::eval_graph(g, &refs).unwrap()
}

fn err_of(r: Result<Traced>) -> String {
    r.expect_err("expected a trace error").to_string()
}

// ---------------------------------------------------------------------------------------------
// while
// ---------------------------------------------------------------------------------------------

fn count_and_double(c: &[Tensor]) -> Vec<Tensor> {
    while_loop(
        c,
        |c| c[0].lt(&c[0].scalar_like(10.0)),
        |c| vec![&c[0] + 1, &c[1] * 2.0],
    )
}

#[test]
fn while_eager() {
    let out = count_and_double(&[i32s(0), f32s(&[2], &[1.0, -0.5])]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![10]);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![1024.0, -512.0]);
    // A loop whose condition is false at once returns the init.
    let out = count_and_double(&[i32s(12), f32s(&[2], &[1.0, 2.0])]);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn while_traced_and_snapshot() {
    let t = trace(
        &[AVal::scalar(DType::I32), AVal::new([2], DType::F32)],
        count_and_double,
    )
    .unwrap();
    let out = run(&t.graph, &[&i32s(3), &f32s(&[2], &[1.0, 3.0])]);
    assert_eq!(out[1].as_slice::<f32>().unwrap(), &[128.0, 384.0]);
    insta::assert_snapshot!("while_count", lowered("while_count", &t.graph));
}

#[test]
fn while_captures_outer_values() {
    // The body closes over `step` and the cond over `limit`, both traced outer inputs.
    let t = trace(&[AVal::scalar(DType::F32), AVal::scalar(DType::F32)], |a| {
        let (step, limit) = (a[0].clone(), a[1].clone());
        while_loop(
            &[Tensor::scalar_of(0.0, DType::F32)],
            move |c| c[0].lt(&limit),
            move |c| vec![&c[0] + &step],
        )
    })
    .unwrap();
    let out = run(
        &t.graph,
        &[
            &Tensor::scalar_of(1.5, DType::F32),
            &Tensor::scalar_of(5.0, DType::F32),
        ],
    );
    assert_eq!(out[0].as_slice::<f32>().unwrap(), &[6.0]);
    let text = lowered("while_captures", &t.graph);
    // carry + 2 loop-invariant captures
    assert!(text.contains(":3 = \"stablehlo.while\""), "{text}");
    insta::assert_snapshot!("while_captures", text);
}

#[test]
fn while_errors_name_element_and_avals() {
    let e = err_of(trace(
        &[AVal::scalar(DType::I32), AVal::new([2], DType::F32)],
        |a| {
            while_loop(
                a,
                |c| c[0].lt(&c[0].scalar_like(3.0)),
                |c| vec![&c[0] + 1, c[1].cast(DType::BF16)],
            )
        },
    ));
    assert!(
        e.contains(
            "while: invalid argument: body output 1 is bf16[2] but carry element 1 is f32[2]"
        ),
        "{e}"
    );
    assert!(e.contains("tests/control.rs"), "{e}");

    let e = err_of(trace(&[AVal::scalar(DType::I32)], |a| {
        while_loop(a, |c| c[0].clone(), |c| vec![&c[0] + 1])
    }));
    assert!(
        e.contains("while: invalid argument: cond must return one bool scalar, got (i32[])"),
        "{e}"
    );

    let e = err_of(trace(&[AVal::scalar(DType::I32)], |a| {
        while_loop(
            a,
            |c| c[0].lt(&c[0].scalar_like(3.0)),
            |c| vec![&c[0] + 1, &c[0] + 2],
        )
    }));
    assert!(
        e.contains("body returns 2 values but the carry has 1"),
        "{e}"
    );

    // An error inside the body surfaces with the body's own call site.
    let e = err_of(trace(&[AVal::new([2], DType::F32)], |a| {
        while_loop(
            a,
            |_| Tensor::from_vec(Vec::<usize>::new(), vec![true]).unwrap(),
            |c| vec![&c[0] + &f32s(&[3], &[1.0, 2.0, 3.0])],
        )
    }));
    assert!(e.contains("add: shapes are not broadcastable"), "{e}");
    assert!(e.contains("tests/control.rs"), "{e}");

    // Eager mode: the error is carried by the results.
    let out = while_loop(
        &[i32s(0)],
        |c| c[0].lt(&c[0].scalar_like(3.0)),
        |c| vec![c[0].cast(DType::F32)],
    );
    let e = out[0].to_literal().unwrap_err().to_string();
    assert!(
        e.contains("body output 0 is f32[] but carry element 0 is i32[]"),
        "{e}"
    );
    assert!(e.contains("tests/control.rs"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// cond / switch
// ---------------------------------------------------------------------------------------------

fn pm(p: &Tensor, x: &Tensor) -> Vec<Tensor> {
    cond(
        p,
        |o| vec![&o[0] + 1.0],
        |o| vec![&o[0] * 2.0],
        std::slice::from_ref(x),
    )
}

#[test]
fn cond_eager_both_branches() {
    let x = f32s(&[2], &[1.0, 2.0]);
    let t = Tensor::from_vec(Vec::<usize>::new(), vec![true]).unwrap();
    let f = Tensor::from_vec(Vec::<usize>::new(), vec![false]).unwrap();
    assert_eq!(pm(&t, &x)[0].to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
    assert_eq!(pm(&f, &x)[0].to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
}

#[test]
fn cond_traced_snapshot() {
    let t = trace(
        &[AVal::scalar(DType::Bool), AVal::new([2], DType::F32)],
        |a| pm(&a[0], &a[1]),
    )
    .unwrap();
    let x = f32s(&[2], &[1.0, 2.0]);
    let tr = Tensor::from_vec(Vec::<usize>::new(), vec![true]).unwrap();
    assert_eq!(
        run(&t.graph, &[&tr, &x])[0].as_slice::<f32>().unwrap(),
        &[2.0, 3.0]
    );
    let text = lowered("cond_pred", &t.graph);
    assert!(text.contains("\"stablehlo.convert\""), "{text}");
    assert!(text.contains("\"stablehlo.case\""), "{text}");
    insta::assert_snapshot!("cond_pred", text);
}

#[test]
fn cond_captures_are_unioned_across_branches() {
    // on_true captures `a`, on_false captures `b`: both become operands of every branch.
    let t = trace(
        &[
            AVal::scalar(DType::Bool),
            AVal::scalar(DType::F32),
            AVal::scalar(DType::F32),
            AVal::scalar(DType::F32),
        ],
        |v| {
            let (a, b) = (v[2].clone(), v[3].clone());
            cond(
                &v[0],
                move |o| vec![&o[0] + &a],
                move |o| vec![&o[0] - &b],
                &[v[1].clone()],
            )
        },
    )
    .unwrap();
    let s = |x: f32| Tensor::scalar_of(x as f64, DType::F32);
    let tr = Tensor::from_vec(Vec::<usize>::new(), vec![true]).unwrap();
    let fl = Tensor::from_vec(Vec::<usize>::new(), vec![false]).unwrap();
    let r = run(&t.graph, &[&tr, &s(10.0), &s(1.0), &s(2.0)]);
    assert_eq!(r[0].as_slice::<f32>().unwrap(), &[11.0]);
    let r = run(&t.graph, &[&fl, &s(10.0), &s(1.0), &s(2.0)]);
    assert_eq!(r[0].as_slice::<f32>().unwrap(), &[8.0]);
    insta::assert_snapshot!("cond_captures", lowered("cond_captures", &t.graph));
}

#[test]
fn cond_errors() {
    let e = err_of(trace(
        &[AVal::scalar(DType::Bool), AVal::new([2], DType::F32)],
        |a| {
            cond(
                &a[0],
                |o| vec![o[0].clone()],
                |o| vec![o[0].cast(DType::BF16)],
                &a[1..],
            )
        },
    ));
    assert!(
        e.contains(
            "cond: invalid argument: on_true returns (f32[2]) but on_false returns (bf16[2])"
        ),
        "{e}"
    );
    assert!(e.contains("tests/control.rs"), "{e}");
    let e = err_of(trace(
        &[AVal::new([2], DType::Bool), AVal::new([2], DType::F32)],
        |a| cond(&a[0], |o| o.to_vec(), |o| o.to_vec(), &a[1..]),
    ));
    assert!(
        e.contains("cond: invalid argument: the predicate must be a bool scalar, got bool[2]"),
        "{e}"
    );
    let e = err_of(trace(&[AVal::scalar(DType::F32)], |a| {
        switch(&a[0], vec![Box::new(|o: &[Tensor]| o.to_vec())], a)
    }));
    assert!(
        e.contains("switch: invalid argument: the index must be an integer scalar, got f32[]"),
        "{e}"
    );
    let e = err_of(trace(&[AVal::scalar(DType::I32)], |a| {
        switch(&a[0], vec![], a)
    }));
    assert!(
        e.contains("switch: invalid argument: needs at least one branch"),
        "{e}"
    );
}

fn three_way(i: &Tensor, x: &Tensor) -> Vec<Tensor> {
    switch(
        i,
        vec![
            Box::new(|o: &[Tensor]| vec![&o[0] + 1.0]),
            Box::new(|o: &[Tensor]| vec![&o[0] * 2.0]),
            Box::new(|o: &[Tensor]| vec![&o[0] - 3.0]),
        ],
        std::slice::from_ref(x),
    )
}

#[test]
fn switch_clamps_the_index() {
    let x = Tensor::scalar_of(5.0, DType::F32);
    let got = |i: i32| three_way(&i32s(i), &x)[0].to_vec::<f32>().unwrap()[0];
    assert_eq!(got(-7), 6.0);
    assert_eq!(got(0), 6.0);
    assert_eq!(got(1), 10.0);
    assert_eq!(got(2), 2.0);
    assert_eq!(got(99), 2.0);
    let t = trace(&[AVal::scalar(DType::I32), AVal::scalar(DType::F32)], |a| {
        three_way(&a[0], &a[1])
    })
    .unwrap();
    assert_eq!(
        run(&t.graph, &[&i32s(-1), &x])[0]
            .as_slice::<f32>()
            .unwrap(),
        &[6.0]
    );
    let text = lowered("switch_three", &t.graph);
    assert!(text.contains("\"stablehlo.clamp\""), "{text}");
    insta::assert_snapshot!("switch_three", text);
}

#[test]
fn cond_kernel_runs_last_branch_out_of_range() {
    // The op itself has stablehlo.case semantics (out of range -> last branch).
    let t = trace(&[AVal::scalar(DType::F32)], |a| vec![&a[0] + 1.0]).unwrap();
    let u = trace(&[AVal::scalar(DType::F32)], |a| vec![&a[0] * 3.0]).unwrap();
    let op = Op::Cond {
        branches: vec![std::sync::Arc::new(t.graph), std::sync::Arc::new(u.graph)],
    };
    let x = Literal::scalar(2.0f32);
    for (i, want) in [(-1, 6.0f32), (0, 3.0), (1, 6.0), (7, 6.0)] {
        let out = prim::eval(&op, &[&Literal::scalar(i), &x]).unwrap();
        assert_eq!(out[0].as_slice::<f32>().unwrap(), &[want], "index {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// scan
// ---------------------------------------------------------------------------------------------

fn cumsum_scan(c: &Tensor, xs: &Tensor, reverse: bool) -> (Vec<Tensor>, Vec<Tensor>) {
    scan(
        |c, x| {
            let s = &c[0] + &x[0];
            (vec![s.clone()], vec![s, &c[0] * &x[0]])
        },
        std::slice::from_ref(c),
        std::slice::from_ref(xs),
        None,
        reverse,
    )
}

#[test]
fn scan_eager_forward_and_reverse() {
    let c = Tensor::scalar_of(1.0, DType::F32);
    let xs = f32s(&[4], &[1.0, 2.0, 3.0, 4.0]);
    let (carry, ys) = cumsum_scan(&c, &xs, false);
    assert_eq!(carry[0].to_vec::<f32>().unwrap(), vec![11.0]);
    assert_eq!(ys[0].to_vec::<f32>().unwrap(), vec![2.0, 4.0, 7.0, 11.0]);
    assert_eq!(ys[1].to_vec::<f32>().unwrap(), vec![1.0, 4.0, 12.0, 28.0]);
    let (carry, ys) = cumsum_scan(&c, &xs, true);
    assert_eq!(carry[0].to_vec::<f32>().unwrap(), vec![11.0]);
    assert_eq!(ys[0].to_vec::<f32>().unwrap(), vec![11.0, 10.0, 8.0, 5.0]);
    assert_eq!(ys[1].to_vec::<f32>().unwrap(), vec![10.0, 16.0, 15.0, 4.0]);
}

#[test]
fn scan_traced_snapshot_forward_and_reverse() {
    for reverse in [false, true] {
        let t = trace(
            &[AVal::scalar(DType::F32), AVal::new([4], DType::F32)],
            |a| {
                let (c, y) = cumsum_scan(&a[0], &a[1], reverse);
                c.into_iter().chain(y).collect()
            },
        )
        .unwrap();
        let xs = f32s(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let r = run(&t.graph, &[&Tensor::scalar_of(1.0, DType::F32), &xs]);
        let want: &[f32] = if reverse {
            &[11.0, 10.0, 8.0, 5.0]
        } else {
            &[2.0, 4.0, 7.0, 11.0]
        };
        assert_eq!(r[1].as_slice::<f32>().unwrap(), want);
        let name = if reverse {
            "scan_reverse"
        } else {
            "scan_cumsum"
        };
        insta::assert_snapshot!(name, lowered(name, &t.graph));
    }
}

#[test]
fn scan_matrix_rows_with_consts_and_no_xs() {
    // xs of rank 2, a captured const, and a length-only scan (no xs).
    let t = trace(
        &[
            AVal::new([3], DType::F32),
            AVal::new([2, 3], DType::F32),
            AVal::new([3], DType::F32),
        ],
        |a| {
            let w = a[2].clone();
            let (c, y) = scan(
                move |c, x| {
                    let n = &(&c[0] + &x[0]) * &w;
                    (vec![n.clone()], vec![n])
                },
                &a[..1],
                &a[1..2],
                Some(2),
                false,
            );
            let (c2, y2) = scan(
                |c, _| (vec![&c[0] + 1], vec![c[0].clone()]),
                &[Tensor::from_vec(Vec::<usize>::new(), vec![5i32]).unwrap()],
                &[],
                Some(3),
                true,
            );
            vec![c[0].clone(), y[0].clone(), c2[0].clone(), y2[0].clone()]
        },
    )
    .unwrap();
    let r = run(
        &t.graph,
        &[
            &f32s(&[3], &[0.0, 1.0, 2.0]),
            &f32s(&[2, 3], &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]),
            &f32s(&[3], &[2.0, 1.0, 0.5]),
        ],
    );
    assert_eq!(r[0].as_slice::<f32>().unwrap(), &[8.0, 4.0, 1.75]);
    assert_eq!(
        r[1].as_slice::<f32>().unwrap(),
        &[2.0, 2.0, 1.5, 8.0, 4.0, 1.75]
    );
    assert_eq!(r[2].as_slice::<i32>().unwrap(), &[8]);
    // Reverse: index 2 is visited first with carry 5.
    assert_eq!(r[3].as_slice::<i32>().unwrap(), &[7, 6, 5]);
    insta::assert_snapshot!(
        "scan_matrix_consts",
        lowered("scan_matrix_consts", &t.graph)
    );
}

#[test]
fn scan_zero_length() {
    let (c, y) = scan(
        |c, x| (vec![&c[0] + &x[0]], vec![x[0].clone()]),
        &[f32s(&[2], &[1.0, 2.0])],
        &[Tensor::zeros(&[0, 2], DType::F32)],
        None,
        false,
    );
    assert_eq!(c[0].to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    assert_eq!(y[0].dims(), vec![0, 2]);
}

#[test]
fn scan_errors() {
    let e = err_of(trace(
        &[
            AVal::scalar(DType::F32),
            AVal::new([4], DType::F32),
            AVal::new([5], DType::F32),
        ],
        |a| {
            let (c, _) = scan(
                |c, x| (vec![&c[0] + &x[0]], vec![]),
                &a[..1],
                &a[1..],
                None,
                false,
            );
            c
        },
    ));
    assert!(
        e.contains("scan: invalid argument: xs 1 (f32[5]) has leading length 5 but xs 0 is 4; all xs must share the leading length"),
        "{e}"
    );
    assert!(e.contains("tests/control.rs"), "{e}");
    let e = err_of(trace(
        &[AVal::scalar(DType::F32), AVal::new([4], DType::F32)],
        |a| {
            scan(
                |c, _| (c.to_vec(), vec![]),
                &a[..1],
                &a[1..],
                Some(3),
                false,
            )
            .0
        },
    ));
    assert!(
        e.contains("has leading length 4 but the given length is 3"),
        "{e}"
    );
    let e = err_of(trace(
        &[AVal::scalar(DType::F32), AVal::scalar(DType::F32)],
        |a| scan(|c, _| (c.to_vec(), vec![]), &a[..1], &a[1..], None, false).0,
    ));
    assert!(e.contains("xs 0 is a scalar f32[]"), "{e}");
    let e = err_of(trace(&[AVal::scalar(DType::F32)], |a| {
        scan(|c, _| (c.to_vec(), vec![]), &a[..1], &[], None, false).0
    }));
    assert!(e.contains("scan: invalid argument: needs a length"), "{e}");
    let e = err_of(trace(
        &[AVal::scalar(DType::F32), AVal::new([4], DType::F32)],
        |a| {
            scan(
                |c, x| (vec![(&c[0] + &x[0]).cast(DType::F16)], vec![]),
                &a[..1],
                &a[1..],
                None,
                false,
            )
            .0
        },
    ));
    assert!(
        e.contains("scan: invalid argument: f output 0 is f16[] but carry element 0 is f32[]"),
        "{e}"
    );
    let e = err_of(trace(
        &[AVal::scalar(DType::F32), AVal::new([4], DType::F32)],
        |a| {
            scan(
                |_, x| (vec![], vec![x[0].clone()]),
                &a[..1],
                &a[1..],
                None,
                false,
            )
            .0
        },
    ));
    assert!(e.contains("f returns 0 carry values but init has 1"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// nesting
// ---------------------------------------------------------------------------------------------

#[test]
fn scan_inside_while_and_cond_inside_scan() {
    let body = |a: &[Tensor]| -> Vec<Tensor> {
        let xs = a[1].clone();
        // while i < 3: acc = acc + sum-by-scan(xs) where each step picks +x or -x by a cond.
        let out = while_loop(
            &[a[0].clone(), Tensor::scalar_of(0.0, DType::F32)],
            |c| c[0].lt(&c[0].scalar_like(3.0)),
            move |c| {
                let (s, _) = scan(
                    |c, x| {
                        let pos = x[0].gt(&x[0].scalar_like(0.0));
                        let v = cond(&pos, |o| vec![o[0].clone()], |o| vec![-&o[0]], &x[..1]);
                        (vec![&c[0] + &v[0]], vec![])
                    },
                    &[c[1].clone()],
                    std::slice::from_ref(&xs),
                    None,
                    false,
                );
                vec![&c[0] + 1, s[0].clone()]
            },
        );
        out
    };
    let xs = f32s(&[3], &[1.0, -2.0, 3.0]);
    // eager
    let e = body(&[i32s(0), xs.clone()]);
    assert_eq!(e[1].to_vec::<f32>().unwrap(), vec![18.0]);
    // traced
    let t = trace(
        &[AVal::scalar(DType::I32), AVal::new([3], DType::F32)],
        body,
    )
    .unwrap();
    let r = run(&t.graph, &[&i32s(1), &xs]);
    assert_eq!(r[1].as_slice::<f32>().unwrap(), &[12.0]);
    assert!(t.graph.deep_node_count() > 5);
    insta::assert_snapshot!(
        "nested_while_scan_cond",
        lowered("nested_while_scan_cond", &t.graph)
    );
}

#[test]
fn nested_capture_from_two_levels_out() {
    // The innermost scan body uses `k`, an input of the outermost trace.
    let t = trace(
        &[AVal::scalar(DType::F32), AVal::new([2], DType::F32)],
        |a| {
            let k = a[0].clone();
            let xs = a[1].clone();
            cond(
                &k.gt(&k.scalar_like(0.0)),
                move |o| {
                    let (c, _) = scan(
                        |c, x| (vec![&c[0] + &(&x[0] * &k)], vec![]),
                        &[o[0].clone()],
                        std::slice::from_ref(&xs),
                        None,
                        false,
                    );
                    c
                },
                |o| o.to_vec(),
                &[Tensor::scalar_of(0.0, DType::F32)],
            )
        },
    )
    .unwrap();
    let r = run(
        &t.graph,
        &[
            &Tensor::scalar_of(2.0, DType::F32),
            &f32s(&[2], &[1.0, 3.0]),
        ],
    );
    assert_eq!(r[0].as_slice::<f32>().unwrap(), &[8.0]);
    let r = run(
        &t.graph,
        &[
            &Tensor::scalar_of(-2.0, DType::F32),
            &f32s(&[2], &[1.0, 3.0]),
        ],
    );
    assert_eq!(r[0].as_slice::<f32>().unwrap(), &[0.0]);
    insta::assert_snapshot!("nested_capture", lowered("nested_capture", &t.graph));
}

// ---------------------------------------------------------------------------------------------
// optimization_barrier
// ---------------------------------------------------------------------------------------------

#[test]
fn optimization_barrier_is_identity() {
    let x = f32s(&[2], &[1.0, 2.0]);
    let out = optimization_barrier(&[x.clone(), i32s(3)]);
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    assert_eq!(out[1].to_vec::<i32>().unwrap(), vec![3]);
    assert!(optimization_barrier(&[]).is_empty());
    let t = trace(
        &[AVal::scalar(DType::F32), AVal::new([3], DType::F32)],
        |a| optimization_barrier(a),
    )
    .unwrap();
    insta::assert_snapshot!(
        "optimization_barrier",
        lowered("optimization_barrier", &t.graph)
    );
    let t = trace(&[AVal::scalar(DType::F32)], |a| optimization_barrier(a)).unwrap();
    let text = lowered("optimization_barrier_one", &t.graph);
    assert!(
        text.contains("\"stablehlo.optimization_barrier\""),
        "{text}"
    );
}

/// Under vmap the barrier stays one barrier over the batched operands (not one per example),
/// an unbatched operand is broadcast, and the values pass through unchanged.
#[test]
fn optimization_barrier_batches_as_one_barrier() {
    let f = vmap::vmap(
        |a: &[Tensor]| optimization_barrier(&[&a[0] * 2.0, a[1].clone()]),
        &[Some(0), None],
    );
    let x = f32s(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let shared = f32s(&[2], &[7.0, 8.0]);
    let out = f(&[x.clone(), shared.clone()]).unwrap();
    assert_eq!(
        out[0].to_vec::<f32>().unwrap(),
        vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    );
    assert_eq!(out[1].dims(), vec![3, 2]);
    assert_eq!(
        out[1].to_vec::<f32>().unwrap(),
        vec![7.0, 8.0, 7.0, 8.0, 7.0, 8.0]
    );
    let t = trace(
        &[AVal::new([3, 2], DType::F32), AVal::new([2], DType::F32)],
        |a| f(a).unwrap(),
    )
    .unwrap();
    let text = lowered("optimization_barrier_vmap", &t.graph);
    assert_eq!(
        text.matches("\"stablehlo.optimization_barrier\"").count(),
        1,
        "{text}"
    );
}
