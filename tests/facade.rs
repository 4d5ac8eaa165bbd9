//! The API a user writes, through the `rax` facade only: `#[derive(Tree)]` (static and
//! sensitive fields, generics) in a crate with no rax-core dependency, one `jit` for bodies
//! returning a tree or a `Result`, `item::<T>()` and its errors, and a clip + AdamW training
//! step (`chain`, `value_and_grad`, `apply_updates`) with donation, on the interpreter and both
//! CPU plugins.

mod common;

use rax::core::tree::leaves_with_info;
use rax::prelude::*;

#[derive(Clone, Debug, Tree)]
struct Block {
    #[tree(sensitive)]
    norm: Tensor,
    w: Tensor,
    #[tree(static)]
    act: &'static str,
}

#[derive(Clone, Debug, Tree)]
struct Stack<B> {
    blocks: Vec<B>,
    head: Option<Tensor>,
}

fn f32s(dims: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_vec(dims.to_vec(), v).expect("a well-formed literal")
}

fn model() -> Stack<Block> {
    let block = |v: f32| Block {
        norm: f32s(&[2], vec![1.0, 1.0]),
        w: f32s(&[2, 2], vec![v, 0.0, 0.0, v]),
        act: "tanh",
    };
    Stack {
        blocks: vec![block(0.5), block(0.25)],
        head: Some(f32s(&[2, 1], vec![1.0, -1.0])),
    }
}

#[test]
fn derive_tree_through_the_facade() {
    let m = model();
    assert_eq!(
        leaf_paths(&m),
        vec![
            "blocks.0.norm",
            "blocks.0.w",
            "blocks.1.norm",
            "blocks.1.w",
            "head"
        ]
    );
    let sensitive: Vec<String> = leaves_with_info(&m)
        .into_iter()
        .filter(|(_, _, i)| i.sensitive)
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(sensitive, vec!["blocks.0.norm", "blocks.1.norm"]);
    let doubled = tree_map(&m, |x| x * 2.0);
    assert_eq!(doubled.blocks[1].act, "tanh");
    assert_eq!(
        doubled.blocks[1].w.to_vec::<f32>().unwrap(),
        vec![0.5, 0.0, 0.0, 0.5]
    );
    let back = unflatten(&m, flatten(&doubled)).unwrap();
    assert_eq!(back.head.unwrap().to_vec::<f32>().unwrap(), vec![2.0, -2.0]);
}

#[test]
fn one_jit_for_plain_and_result_bodies() {
    for (label, rt) in common::all_runtimes() {
        let plain = rt.jit(|(a, b): &(Tensor, Tensor)| (a + b, a * b));
        let (s, p) = plain
            .call(&(f32s(&[2], vec![1.0, 2.0]), f32s(&[2], vec![3.0, 4.0])))
            .unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![4.0, 6.0], "{label}");
        assert_eq!(p.to_vec::<f32>().unwrap(), vec![3.0, 8.0], "{label}");

        let fallible = rt.jit(|x: &Tensor| {
            let g = grad(|x: &Tensor| (x * x).sum(&[0]))(x)?;
            Ok(g)
        });
        let g = fallible.call(&f32s(&[3], vec![1.0, 2.0, 3.0])).unwrap();
        assert_eq!(g.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0], "{label}");

        let failing = rt.jit(|x: &Tensor| -> Result<Tensor> {
            Err(Error::arg("my_step", format!("refused {}", x.aval())))
        });
        let e = failing.call(&f32s(&[1], vec![0.0])).unwrap_err();
        assert!(e.to_string().contains("refused f32[1]"), "{label}: {e}");
        assert_eq!(failing.compile_count(), 0, "{label}");
    }
    // The free `jit` compiles on the default runtime.
    let double = jit(|x: &Tensor| x * 2.0).unwrap();
    let y = double.call(&f32s(&[2], vec![1.5, -1.0])).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, -2.0]);
}

#[test]
fn item_reads_one_element_and_refuses_the_rest() {
    assert_eq!(
        Tensor::scalar_of(2.5, DType::F32).item::<f32>().unwrap(),
        2.5
    );
    assert_eq!(f32s(&[1, 1], vec![-4.0]).item::<f32>().unwrap(), -4.0);
    let many = f32s(&[3], vec![1.0, 2.0, 3.0]).item::<f32>().unwrap_err();
    assert!(many.to_string().contains("f32[3] has 3 elements"), "{many}");
    let dtype = Tensor::scalar_of(1.0, DType::BF16)
        .item::<f32>()
        .unwrap_err();
    assert!(dtype.to_string().contains("read as f32"), "{dtype}");
    assert!(dtype.to_string().contains("cast"), "{dtype}");
    let traced = jit(|x: &Tensor| -> Result<Tensor> {
        x.item::<f32>()?;
        Ok(x.clone())
    })
    .unwrap()
    .call(&Tensor::scalar_of(1.0, DType::F32))
    .unwrap_err();
    assert!(traced.to_string().contains("being traced"), "{traced}");
    // A poisoned tensor reports its own error.
    let poison = f32s(&[2], vec![1.0, 2.0]) + f32s(&[3], vec![1.0, 2.0, 3.0]);
    let e = poison.sum(&[0]).item::<f32>().unwrap_err();
    assert!(!e.to_string().contains("elements"), "{e}");
}

#[derive(Clone, Debug, Tree)]
struct Linear {
    w: Tensor,
    b: Tensor,
}

#[test]
fn clip_adamw_step_trains_on_every_backend() {
    // y = 2x + 1 on four points; the whole step is one donated program.
    let x = f32s(&[4, 1], vec![1.0, 2.0, -1.0, 0.5]);
    let y = f32s(&[4, 1], vec![3.0, 5.0, -1.0, 2.0]);
    for (label, rt) in common::all_runtimes() {
        let params = Linear {
            w: Tensor::zeros(&[1, 1], DType::F32),
            b: Tensor::zeros(&[1], DType::F32),
        };
        let opt = chain((
            clip_by_global_norm(1.0),
            adamw(warmup_cosine(0.1, 3, 100, 0.01), 1e-4),
        ));
        let opt_state = opt.init(&params).unwrap();
        let step = rt
            .jit(move |(p, s, x, y): &(Linear, State, Tensor, Tensor)| {
                let (l, g) = value_and_grad(|p: &Linear| {
                    let e = &(x.matmul(&p.w) + &p.b) - y;
                    (&e * &e).mean(&[0, 1])
                })(p)?;
                let (u, s) = opt.update(&g, s.clone(), Some(p))?;
                Ok((apply_updates(p, &u)?, s, l))
            })
            .donate_args(&[0, 1]);
        let (mut p, mut s) = (rt.put_tree(&params).unwrap(), opt_state);
        let mut losses = Vec::new();
        for _ in 0..40 {
            let (p2, s2, l) = step.call(&(p, s, x.clone(), y.clone())).unwrap();
            losses.push(l.item::<f32>().unwrap());
            (p, s) = (p2, s2);
        }
        assert_eq!(step.compile_count(), 1, "{label}");
        assert!(losses[39] < 0.2 * losses[0], "{label}: {losses:?}");
    }
}
