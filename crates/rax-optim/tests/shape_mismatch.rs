//! A gradient (or update) whose shape differs from its parameter's is an error at trace time
//! naming the leaf path and the caller's line, never a silent broadcast of the parameter to a
//! new shape (docs/reliability.md).

use rax_core::{AVal, DType, Tensor};
use rax_optim::{adamw, apply_updates, sgd, GradientTransformation};
use std::collections::BTreeMap;

fn tree(w: &[usize], b: &[usize]) -> BTreeMap<String, Tensor> {
    let mut m = BTreeMap::new();
    m.insert("w".to_string(), Tensor::full(w, 0.5, DType::F32));
    m.insert("b".to_string(), Tensor::full(b, 0.1, DType::F32));
    m
}

#[test]
fn gradient_of_another_shape_names_the_leaf() {
    let p = tree(&[2, 3], &[3]);
    let g = tree(&[2, 3], &[1]); // b's gradient broadcasts to [3]: must not be accepted
    {
        let opt = adamw(1e-3, 0.1);
        let s = opt.init(&p).unwrap();
        let e = opt.update(&g, s, Some(&p)).unwrap_err().to_string();
        assert!(
            e.contains("`b`") && e.contains("[1]") && e.contains("[3]"),
            "{e}"
        );
        assert!(
            e.contains("shape_mismatch.rs"),
            "names the caller's line: {e}"
        );
    }
    let opt = sgd(0.1, None, false);
    let s = opt.init(&p).unwrap();
    let (u, _) = opt.update(&tree(&[2, 3], &[3]), s, Some(&p)).unwrap();
    // apply_updates with an update of another shape is refused too.
    let bad = tree(&[1, 3], &[3]);
    let e = apply_updates(&p, &bad).unwrap_err().to_string();
    assert!(e.contains("`w`") && e.contains("[1, 3]"), "{e}");
    assert!(apply_updates(&p, &u).is_ok());
}

#[test]
fn the_error_comes_at_trace_time() {
    let avals = [AVal::new([4], DType::F32), AVal::new([1], DType::F32)];
    let r = rax_core::trace(&avals, |xs| {
        let mut p = BTreeMap::new();
        p.insert("w".to_string(), xs[0].clone());
        let mut g = BTreeMap::new();
        g.insert("w".to_string(), xs[1].clone());
        let opt = sgd(0.1, None, false);
        let s = opt.init(&p).unwrap();
        match opt.update(&g, s, Some(&p)) {
            Ok((u, _)) => vec![u["w"].clone()],
            Err(e) => vec![Tensor::poison(AVal::scalar(DType::F32), e)],
        }
    });
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("`w`") && e.contains("[1]") && e.contains("[4]"),
        "{e}"
    );
}
