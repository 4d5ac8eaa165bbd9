//! IR hygiene: `Graph::verify` rejects ill-formed graphs with an `Error::Internal` naming the
//! node (and accepts what the tracer, transformations and DCE produce); rax's own bugs are
//! `Error::Internal`, not backend errors; a huge input shape is a clear error at trace time;
//! `Tensor::zeros`/`full` inside a trace are a broadcast scalar, not a host array.
use rax_core::ir::{BinaryOp, Node};
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn f32s(dims: &[usize]) -> AVal {
    AVal::new(dims.to_vec(), DType::F32)
}

/// `x + x` over f32[2], built by hand.
fn add_graph() -> Graph {
    let mut g = Graph::default();
    let x = g.new_value(f32s(&[2]));
    let y = g.new_value(f32s(&[2]));
    g.inputs.push(x);
    g.nodes.push(Node {
        op: Op::Binary(BinaryOp::Add),
        inputs: vec![x, x],
        outputs: vec![y],
        site: None,
    });
    g.outputs.push(y);
    g
}

fn internal(r: Result<()>) -> String {
    match r {
        Err(e @ Error::Internal { .. }) => e.to_string(),
        other => panic!("expected an internal error, got {other:?}"),
    }
}

#[test]
fn verify_accepts_well_formed_graphs() {
    add_graph().verify().unwrap();
    let t = trace(&[f32s(&[3]), f32s(&[3])], |a| {
        let (_, pb) = vjp(|x| vec![(&x[0] * &x[1]).tanh().sum_all()], a).unwrap();
        let s = scan(
            |c, x| (vec![&c[0] + &x[0]], vec![c[0].sin()]),
            &[a[0].sum_all()],
            &[a[1].clone()],
            None,
            false,
        );
        let mut outs = pb.call(&[Tensor::scalar_of(1.0, DType::F32)]).unwrap();
        outs.extend(s.1);
        outs
    })
    .unwrap();
    t.graph.verify().unwrap();
    autodiff::dce(&t.graph).verify().unwrap();
}

#[test]
fn verify_rejects_use_before_definition() {
    let mut g = add_graph();
    let z = g.new_value(f32s(&[2]));
    g.nodes[0].inputs[1] = z;
    let e = internal(g.verify());
    assert!(
        e.contains("node 0 (add)") && e.contains("used before"),
        "{e}"
    );
}

#[test]
fn verify_rejects_wrong_arity_and_types() {
    let mut g = add_graph();
    g.nodes[0].inputs.pop();
    let e = internal(g.verify());
    assert!(
        e.contains("node 0 (add)") && e.contains("typing rule"),
        "{e}"
    );

    let mut g = add_graph();
    let y = g.nodes[0].outputs[0];
    g.avals[y.index()] = AVal::new([2], DType::BF16);
    let e = internal(g.verify());
    assert!(e.contains("bf16[2]") && e.contains("f32[2]"), "{e}");

    let mut g = add_graph();
    let stray = g.new_value(f32s(&[2]));
    g.outputs.push(stray);
    let e = internal(g.verify());
    assert!(e.contains("never defined"), "{e}");
}

#[test]
fn lowering_an_ill_formed_graph_is_an_internal_error() {
    let mut g = add_graph();
    g.nodes[0].inputs.pop();
    let e = lower_module(&g, &ModuleOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Internal { .. }), "{e}");
    assert!(e.to_string().contains("internal error in rax"), "{e}");
}

#[test]
fn a_family_reached_with_a_foreign_op_is_internal() {
    let e = prim::elementwise::eval(&Op::OptimizationBarrier, &[]).unwrap_err();
    assert!(matches!(e, Error::Internal { .. }), "{e}");
}

#[test]
fn huge_trace_inputs_are_clear_errors() {
    let e = trace(&[f32s(&[1 << 40, 1 << 40])], |a| vec![a[0].clone()]).unwrap_err();
    assert!(
        e.to_string().contains("trace") && e.to_string().contains("2^63"),
        "{e}"
    );
}

#[test]
fn zeros_and_full_in_a_trace_are_broadcast_scalars() {
    // 4 TiB: too large to allocate eagerly, but a trace only describes it.
    assert!(Tensor::zeros(&[1 << 40], DType::F32).error().is_some());
    let t = trace(&[], |_| {
        vec![
            Tensor::zeros(&[1 << 40], DType::F32),
            Tensor::full(&[2, 3], 1.5, DType::BF16),
        ]
    })
    .unwrap();
    let ops: Vec<&str> = t.graph.nodes.iter().map(|n| prim::op_name(&n.op)).collect();
    assert_eq!(
        ops,
        [
            "constant",
            "broadcast_in_dim",
            "constant",
            "broadcast_in_dim"
        ]
    );
    for n in &t.graph.nodes {
        if let Op::Constant(l) = &n.op {
            assert_eq!(l.numel(), 1);
        }
    }
    // The value is still checked against the dtype.
    let e = trace(&[], |_| vec![Tensor::full(&[2], 300.0, DType::I8)]).unwrap_err();
    assert!(
        e.to_string().contains("full") && e.to_string().contains("300"),
        "{e}"
    );
    // And a traced zeros evaluates like the eager one.
    let z = trace(&[], |_| vec![Tensor::zeros(&[2], DType::F32)]).unwrap();
    let out = interp::eval_graph(&z.graph, &[]).unwrap();
    assert_eq!(out[0].as_slice::<f32>().unwrap(), &[0.0, 0.0]);
}
