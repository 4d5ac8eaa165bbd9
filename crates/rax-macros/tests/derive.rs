//! Tests of `#[derive(Tree)]`: paths, flatten/unflatten, static fields, tuple structs, enums,
//! generics.
use rax_core::tree::{flatten, leaf_paths, structure, tree_map, unflatten};
use rax_core::{DType, Tensor, Tree};
use rax_macros::Tree;

fn t(v: f64) -> Tensor {
    Tensor::full(&[2], v, DType::F32)
}

#[derive(Tree, Clone, Debug)]
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
    #[tree(static)]
    act: String,
}

#[derive(Tree, Clone, Debug)]
struct Pair(Tensor, #[tree(static)] usize, Linear);

#[derive(Tree, Clone, Debug)]
enum Layer {
    Dense(Linear),
    Norm {
        scale: Tensor,
        #[tree(static)]
        eps: u32,
    },
    Identity,
}

#[derive(Tree, Clone, Debug)]
struct Norm {
    #[tree(sensitive)]
    scale: Tensor,
    w: Tensor,
}

#[test]
fn sensitive_fields() {
    let n = vec![Norm {
        scale: t(1.0),
        w: t(2.0),
    }];
    let infos: Vec<(String, bool)> = rax_core::tree::leaves_with_info(&n)
        .into_iter()
        .map(|(p, _, i)| (p, i.sensitive))
        .collect();
    assert_eq!(
        infos,
        vec![("0.scale".to_string(), true), ("0.w".to_string(), false)]
    );
    let m = rax_core::tree::tree_map_with_info(
        &n,
        |_, x, i| if i.sensitive { x * 0.0 } else { x.clone() },
    );
    assert_eq!(m[0].scale.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    assert_eq!(m[0].w.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
}

#[derive(Tree, Clone, Debug)]
struct Model<L> {
    layers: Vec<L>,
    head: Linear,
}

fn lin(v: f64) -> Linear {
    Linear {
        w: t(v),
        b: Some(t(v + 0.5)),
        act: "relu".into(),
    }
}

#[test]
fn named_struct_paths_and_static() {
    let l = lin(1.0);
    assert_eq!(leaf_paths(&l), vec!["w", "b"]);
    assert_eq!(structure(&l), "Linear{w:*,b:Some(*),act=\"relu\",}");
    let mut l2 = l.clone();
    l2.act = "gelu".into();
    assert_ne!(
        structure(&l),
        structure(&l2),
        "static fields are part of the structure"
    );
    let doubled = tree_map(&l, |x| x * 2.0);
    assert_eq!(doubled.act, "relu");
    assert_eq!(doubled.w.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
    let back = unflatten(&l, vec![t(7.0), t(8.0)]).unwrap();
    assert_eq!(back.b.unwrap().to_vec::<f32>().unwrap(), vec![8.0, 8.0]);
}

#[test]
fn tuple_struct_and_enum() {
    let p = Pair(t(1.0), 3, lin(2.0));
    assert_eq!(leaf_paths(&p), vec!["0", "2.w", "2.b"]);
    assert!(structure(&p).contains("1=3"));
    let layers = vec![
        Layer::Dense(lin(1.0)),
        Layer::Norm {
            scale: t(1.0),
            eps: 5,
        },
        Layer::Identity,
    ];
    assert_eq!(leaf_paths(&layers), vec!["0.0.w", "0.0.b", "1.scale"]);
    let s = structure(&layers);
    assert!(s.contains("Layer::Norm{scale:*,eps=5,}"), "{s}");
    assert!(s.contains("Layer::Identity{}"), "{s}");
    let m = tree_map(&layers, |x| x + 1.0);
    match &m[1] {
        Layer::Norm { scale, eps } => {
            assert_eq!(*eps, 5);
            assert_eq!(scale.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
        }
        _ => panic!("variant changed"),
    }
}

#[test]
fn generic_struct() {
    let m = Model {
        layers: vec![lin(1.0), lin(2.0)],
        head: lin(3.0),
    };
    assert_eq!(
        leaf_paths(&m),
        vec![
            "layers.0.w",
            "layers.0.b",
            "layers.1.w",
            "layers.1.b",
            "head.w",
            "head.b"
        ]
    );
    assert_eq!(flatten(&m).len(), 6);
    let mut s = String::new();
    m.write_structure(&mut s);
    assert!(s.starts_with("Model{layers:[2;"), "{s}");
}

/// A crate that reaches rax-core through its own re-export names it with `#[tree(crate)]`.
mod reexport {
    pub use rax_core as core;
}

#[derive(Tree, Clone, Debug)]
#[tree(crate = "crate::reexport::core")]
struct ThroughReexport {
    #[tree(sensitive)]
    scale: Tensor,
    #[tree(static)]
    name: &'static str,
    w: Tensor,
}

#[test]
fn crate_attribute_names_the_path_of_rax_core() {
    let r = ThroughReexport {
        scale: t(1.0),
        name: "n",
        w: t(2.0),
    };
    let infos: Vec<(String, bool)> = rax_core::tree::leaves_with_info(&r)
        .into_iter()
        .map(|(p, _, i)| (p, i.sensitive))
        .collect();
    assert_eq!(
        infos,
        vec![("scale".to_string(), true), ("w".to_string(), false)]
    );
    assert_eq!(structure(&r), "ThroughReexport{scale:*,name=\"n\",w:*,}");
}
