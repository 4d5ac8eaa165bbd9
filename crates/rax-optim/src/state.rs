//! Optimizer state: a named tree of tensors (`chain.0.mu.layers.0.w`), implementing
//! [`rax_core::Tree`] so it can be passed to and returned from a jitted step and donated.
//! Its structure (names and nesting) is fixed by the transform and the parameter tree, so it is
//! the same every step.

use crate::LeafMeta;
use rax_core::tree::with_segment;
use rax_core::{Error, Result, Tensor, Tree};

/// A transform's state: a tensor, or named children.
#[derive(Clone, Debug)]
pub enum State {
    /// One tensor.
    Leaf(Tensor),
    /// Named children in a fixed order.
    Node(Vec<(String, State)>),
}

impl State {
    /// No state.
    pub fn empty() -> State {
        State::Node(Vec::new())
    }

    /// A node from `(name, child)` pairs.
    pub fn node<S: Into<String>>(children: Vec<(S, State)>) -> State {
        State::Node(children.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// One tensor per parameter leaf, named by the leaf paths.
    pub fn per_leaf(xs: Vec<Tensor>, meta: &[LeafMeta]) -> State {
        State::Node(
            meta.iter()
                .zip(xs)
                .map(|(m, x)| (m.path.clone(), State::Leaf(x)))
                .collect(),
        )
    }

    /// The tensor of a leaf state.
    pub fn tensor(&self) -> Result<&Tensor> {
        match self {
            State::Leaf(t) => Ok(t),
            State::Node(_) => Err(Error::arg(
                "optimizer state",
                "expected a tensor, found a node (state from another transform?)",
            )),
        }
    }

    /// The child named `name`.
    pub fn get(&self, name: &str) -> Result<&State> {
        match self {
            State::Node(v) => v
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, s)| s)
                .ok_or_else(|| missing(name)),
            State::Leaf(_) => Err(missing(name)),
        }
    }

    /// The tensor of the child named `name`.
    pub fn get_tensor(&self, name: &str) -> Result<&Tensor> {
        self.get(name)?.tensor()
    }

    /// Splits a node into its children, checking their names.
    pub fn into_fields<const N: usize>(self, names: [&str; N]) -> Result<[State; N]> {
        match self {
            State::Node(v) if v.len() == N && v.iter().zip(names).all(|((k, _), n)| k == n) => {
                let items: Vec<State> = v.into_iter().map(|(_, s)| s).collect();
                items
                    .try_into()
                    .map_err(|_| missing(names.join(",").as_str()))
            }
            other => Err(Error::arg(
                "optimizer state",
                format!(
                    "expected fields [{}], found {} (state from another transform or params?)",
                    names.join(", "),
                    other.describe()
                ),
            )),
        }
    }

    /// The children of a node, in order.
    pub fn into_children(self) -> Result<Vec<(String, State)>> {
        match self {
            State::Node(v) => Ok(v),
            State::Leaf(_) => Err(Error::arg(
                "optimizer state",
                "expected a node, found a tensor",
            )),
        }
    }

    /// The tensors of a per-leaf node, checked against the leaf paths.
    pub fn into_per_leaf(self, meta: &[LeafMeta]) -> Result<Vec<Tensor>> {
        let v = self.into_children()?;
        if v.len() != meta.len() {
            return Err(Error::arg(
                "optimizer state",
                format!("{} per-leaf entries for {} leaves", v.len(), meta.len()),
            ));
        }
        v.into_iter()
            .zip(meta)
            .map(|((k, s), m)| {
                if k != m.path {
                    return Err(Error::arg(
                        "optimizer state",
                        format!("entry `{k}` where leaf `{}` was expected", m.path),
                    ));
                }
                s.tensor().cloned()
            })
            .collect()
    }

    fn describe(&self) -> String {
        match self {
            State::Leaf(t) => format!("a tensor {}", t.aval()),
            State::Node(v) => format!(
                "fields [{}]",
                v.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// `where(pred, a, b)` over two states of one structure (`pred` a bool scalar).
    #[track_caller]
    pub fn select(pred: &Tensor, a: &State, b: &State) -> Result<State> {
        match (a, b) {
            (State::Leaf(x), State::Leaf(y)) => Ok(State::Leaf(Tensor::select(pred, x, y))),
            (State::Node(x), State::Node(y)) if x.len() == y.len() => Ok(State::Node(
                x.iter()
                    .zip(y)
                    .map(|((k, s), (k2, t))| {
                        if k != k2 {
                            return Err(Error::arg(
                                "optimizer state",
                                format!("select: fields `{k}` and `{k2}` differ"),
                            ));
                        }
                        Ok((k.clone(), State::select(pred, s, t)?))
                    })
                    .collect::<Result<_>>()?,
            )),
            _ => Err(Error::arg(
                "optimizer state",
                format!(
                    "select: states differ in structure ({} vs {})",
                    a.describe(),
                    b.describe()
                ),
            )),
        }
    }
}

fn missing(name: &str) -> Error {
    Error::arg(
        "optimizer state",
        format!("no field `{name}` (state from another transform?)"),
    )
}

impl Tree for State {
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        match self {
            State::Leaf(t) => f(path, t),
            State::Node(v) => {
                for (k, s) in v {
                    with_segment(path, k.clone(), |p| s.for_each_leaf(p, f));
                }
            }
        }
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        match self {
            State::Leaf(t) => State::Leaf(f(path, t)),
            State::Node(v) => State::Node(
                v.iter()
                    .map(|(k, s)| {
                        (
                            k.clone(),
                            with_segment(path, k.clone(), |p| s.map_leaves(p, f)),
                        )
                    })
                    .collect(),
            ),
        }
    }
    fn write_structure(&self, out: &mut String) {
        match self {
            State::Leaf(_) => out.push('*'),
            State::Node(v) => {
                out.push('{');
                for (k, s) in v {
                    out.push_str(k);
                    out.push(':');
                    s.write_structure(out);
                    out.push(',');
                }
                out.push('}');
            }
        }
    }
}
