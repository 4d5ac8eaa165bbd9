//! Pytrees: the `Tree` trait lets nested Rust values (structs via `#[derive(Tree)]`, tuples,
//! arrays, `Vec`, `Option`, `BTreeMap<String, _>`, `Box`) be flattened into their `Tensor`
//! leaves, rebuilt from new leaves, and named by leaf paths (`layers.3.attn.wq`) that audits,
//! optimizer parameter groups, diagnostics and checkpoints use. The structure string (node kinds,
//! field names, lengths, static fields) is part of a jit signature.
//!
//! Depends on `trace` (Tensor) and `error`.

use crate::error::{Error, Result};
use crate::trace::Tensor;
use std::collections::BTreeMap;

/// A nested value whose leaves are tensors.
pub trait Tree: Sized {
    /// Calls `f` on each leaf with its path, in the tree's fixed order.
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor));
    /// The same structure with each leaf replaced by `f(path, leaf)`.
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self;
    /// Appends a description of the structure (not the leaves' values) to `out`.
    fn write_structure(&self, out: &mut String);
    /// Like `for_each_leaf`, also passing each leaf's [`LeafInfo`] (`info` is inherited from the
    /// enclosing nodes). Containers and derived structs forward it to their children; types that
    /// mark leaves (e.g. [`Sensitive`]) override it.
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        self.for_each_leaf(path, &mut |p, t| f(p, t, info))
    }
    /// Like `map_leaves`, also passing each leaf's [`LeafInfo`].
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        self.map_leaves(path, &mut |p, t| f(p, t, info))
    }
}

/// Static facts about a leaf, declared by the model's structure (not by the tensor's value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeafInfo {
    /// A precision-sensitive parameter (norm weights, EMA coefficients, per-head Q/K affines,
    /// router weights): stored and updated in f32 whatever the dtype policy says. Declared with
    /// `#[tree(sensitive)]` on a field or by wrapping a subtree in [`Sensitive`].
    pub sensitive: bool,
}

/// Marks every leaf of a subtree as precision-sensitive (kept f32 whatever the policy).
#[derive(Clone, Debug)]
pub struct Sensitive<T>(pub T);

impl<T: Tree> Tree for Sensitive<T> {
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        self.0.for_each_leaf(path, f)
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        Sensitive(self.0.map_leaves(path, f))
    }
    fn write_structure(&self, out: &mut String) {
        out.push('!');
        self.0.write_structure(out)
    }
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        _: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        self.0
            .for_each_leaf_info(path, LeafInfo { sensitive: true }, f)
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        _: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        Sensitive(
            self.0
                .map_leaves_info(path, LeafInfo { sensitive: true }, f),
        )
    }
}

/// `(path, leaf, info)` triples in order.
pub fn leaves_with_info<T: Tree>(t: &T) -> Vec<(String, Tensor, LeafInfo)> {
    let mut v = Vec::new();
    t.for_each_leaf_info(&mut Vec::new(), LeafInfo::default(), &mut |p, x, i| {
        v.push((p.join("."), x.clone(), i))
    });
    v
}

/// Maps every leaf with its dotted path and info.
pub fn tree_map_with_info<T: Tree>(
    t: &T,
    mut f: impl FnMut(&str, &Tensor, LeafInfo) -> Tensor,
) -> T {
    t.map_leaves_info(&mut Vec::new(), LeafInfo::default(), &mut |p, x, i| {
        f(&p.join("."), x, i)
    })
}

/// The leaves in order.
pub fn flatten<T: Tree>(t: &T) -> Vec<Tensor> {
    let mut v = Vec::new();
    t.for_each_leaf(&mut Vec::new(), &mut |_, x| v.push(x.clone()));
    v
}

/// The leaf paths in order, joined with dots (`layers.0.w`).
pub fn leaf_paths<T: Tree>(t: &T) -> Vec<String> {
    let mut v = Vec::new();
    t.for_each_leaf(&mut Vec::new(), &mut |p, _| v.push(p.join(".")));
    v
}

/// `(path, leaf)` pairs in order.
pub fn leaves_with_paths<T: Tree>(t: &T) -> Vec<(String, Tensor)> {
    let mut v = Vec::new();
    t.for_each_leaf(&mut Vec::new(), &mut |p, x| {
        v.push((p.join("."), x.clone()))
    });
    v
}

/// The structure string of a tree (equal for trees that flatten and rebuild alike).
pub fn structure<T: Tree>(t: &T) -> String {
    let mut s = String::new();
    t.write_structure(&mut s);
    s
}

/// Rebuilds `template`'s structure with new leaves (in flatten order).
pub fn unflatten<T: Tree>(template: &T, leaves: Vec<Tensor>) -> Result<T> {
    let n = flatten(template).len();
    if leaves.len() != n {
        return Err(Error::data(
            "unflatten",
            format!("the tree has {n} leaves, {} were given", leaves.len()),
        ));
    }
    let mut it = leaves.into_iter();
    Ok(template.map_leaves(&mut Vec::new(), &mut |_, x| {
        it.next().unwrap_or_else(|| x.clone())
    }))
}

/// Maps every leaf.
pub fn tree_map<T: Tree>(t: &T, mut f: impl FnMut(&Tensor) -> Tensor) -> T {
    t.map_leaves(&mut Vec::new(), &mut |_, x| f(x))
}

/// Maps every leaf with its dotted path.
pub fn tree_map_with_path<T: Tree>(t: &T, mut f: impl FnMut(&str, &Tensor) -> Tensor) -> T {
    t.map_leaves(&mut Vec::new(), &mut |p, x| f(&p.join("."), x))
}

/// Maps pairs of leaves of two trees of the same structure.
pub fn tree_map2<T: Tree>(
    a: &T,
    b: &T,
    mut f: impl FnMut(&Tensor, &Tensor) -> Tensor,
) -> Result<T> {
    let (sa, sb) = (structure(a), structure(b));
    if sa != sb {
        return Err(Error::data(
            "tree_map2",
            format!("tree structures differ: {sa} vs {sb}"),
        ));
    }
    let bl = flatten(b);
    let mut i = 0;
    Ok(a.map_leaves(&mut Vec::new(), &mut |_, x| {
        let y = bl.get(i).cloned().unwrap_or_else(|| x.clone());
        i += 1;
        f(x, &y)
    }))
}

impl Tree for Tensor {
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        f(path, self)
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        f(path, self)
    }
    fn write_structure(&self, out: &mut String) {
        out.push('*');
    }
}

impl Tree for () {
    fn for_each_leaf(&self, _: &mut Vec<String>, _: &mut dyn FnMut(&[String], &Tensor)) {}
    fn map_leaves(
        &self,
        _: &mut Vec<String>,
        _: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
    }
    fn write_structure(&self, out: &mut String) {
        out.push_str("()");
    }
}

/// Visits a child under a path segment.
pub fn with_segment<R>(
    path: &mut Vec<String>,
    seg: impl Into<String>,
    f: impl FnOnce(&mut Vec<String>) -> R,
) -> R {
    path.push(seg.into());
    let r = f(path);
    path.pop();
    r
}

macro_rules! tuple_tree {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Tree),+> Tree for ($($name,)+) {
            fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
                $( with_segment(path, stringify!($idx), |p| self.$idx.for_each_leaf(p, f)); )+
            }
            fn map_leaves(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor) -> Tensor) -> Self {
                ($( with_segment(path, stringify!($idx), |p| self.$idx.map_leaves(p, f)), )+)
            }
            fn write_structure(&self, out: &mut String) {
                out.push('(');
                $( self.$idx.write_structure(out); out.push(','); )+
                out.push(')');
            }
            fn for_each_leaf_info(&self, path: &mut Vec<String>, info: LeafInfo, f: &mut dyn FnMut(&[String], &Tensor, LeafInfo)) {
                $( with_segment(path, stringify!($idx), |p| self.$idx.for_each_leaf_info(p, info, f)); )+
            }
            fn map_leaves_info(&self, path: &mut Vec<String>, info: LeafInfo, f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor) -> Self {
                ($( with_segment(path, stringify!($idx), |p| self.$idx.map_leaves_info(p, info, f)), )+)
            }
        }
    };
}

tuple_tree!(A 0);
tuple_tree!(A 0, B 1);
tuple_tree!(A 0, B 1, C 2);
tuple_tree!(A 0, B 1, C 2, D 3);
tuple_tree!(A 0, B 1, C 2, D 3, E 4);
tuple_tree!(A 0, B 1, C 2, D 3, E 4, F 5);

impl<T: Tree> Tree for Vec<T> {
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        for (i, x) in self.iter().enumerate() {
            with_segment(path, i.to_string(), |p| x.for_each_leaf_info(p, info, f));
        }
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        self.iter()
            .enumerate()
            .map(|(i, x)| with_segment(path, i.to_string(), |p| x.map_leaves_info(p, info, f)))
            .collect()
    }
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        for (i, x) in self.iter().enumerate() {
            with_segment(path, i.to_string(), |p| x.for_each_leaf(p, f));
        }
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        self.iter()
            .enumerate()
            .map(|(i, x)| with_segment(path, i.to_string(), |p| x.map_leaves(p, f)))
            .collect()
    }
    fn write_structure(&self, out: &mut String) {
        out.push_str(&format!("[{};", self.len()));
        for x in self {
            x.write_structure(out);
            out.push(',');
        }
        out.push(']');
    }
}

impl<T: Tree, const N: usize> Tree for [T; N] {
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        for (i, x) in self.iter().enumerate() {
            with_segment(path, i.to_string(), |p| x.for_each_leaf_info(p, info, f));
        }
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        std::array::from_fn(|i| {
            with_segment(path, i.to_string(), |p| self[i].map_leaves_info(p, info, f))
        })
    }
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        for (i, x) in self.iter().enumerate() {
            with_segment(path, i.to_string(), |p| x.for_each_leaf(p, f));
        }
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        std::array::from_fn(|i| with_segment(path, i.to_string(), |p| self[i].map_leaves(p, f)))
    }
    fn write_structure(&self, out: &mut String) {
        out.push_str(&format!("[{N}:"));
        for x in self {
            x.write_structure(out);
            out.push(',');
        }
        out.push(']');
    }
}

impl<T: Tree> Tree for Option<T> {
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        if let Some(x) = self {
            x.for_each_leaf_info(path, info, f)
        }
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        self.as_ref().map(|x| x.map_leaves_info(path, info, f))
    }
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        if let Some(x) = self {
            x.for_each_leaf(path, f)
        }
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        self.as_ref().map(|x| x.map_leaves(path, f))
    }
    fn write_structure(&self, out: &mut String) {
        match self {
            Some(x) => {
                out.push_str("Some(");
                x.write_structure(out);
                out.push(')');
            }
            None => out.push_str("None"),
        }
    }
}

impl<T: Tree> Tree for Box<T> {
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        (**self).for_each_leaf_info(path, info, f)
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        Box::new((**self).map_leaves_info(path, info, f))
    }
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        (**self).for_each_leaf(path, f)
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        Box::new((**self).map_leaves(path, f))
    }
    fn write_structure(&self, out: &mut String) {
        (**self).write_structure(out)
    }
}

impl<T: Tree> Tree for BTreeMap<String, T> {
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        for (k, x) in self {
            with_segment(path, k.clone(), |p| x.for_each_leaf_info(p, info, f));
        }
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        self.iter()
            .map(|(k, x)| {
                (
                    k.clone(),
                    with_segment(path, k.clone(), |p| x.map_leaves_info(p, info, f)),
                )
            })
            .collect()
    }
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        for (k, x) in self {
            with_segment(path, k.clone(), |p| x.for_each_leaf(p, f));
        }
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        self.iter()
            .map(|(k, x)| {
                (
                    k.clone(),
                    with_segment(path, k.clone(), |p| x.map_leaves(p, f)),
                )
            })
            .collect()
    }
    fn write_structure(&self, out: &mut String) {
        out.push('{');
        for (k, x) in self {
            out.push_str(k);
            out.push(':');
            x.write_structure(out);
            out.push(',');
        }
        out.push('}');
    }
}

// ---------------------------------------------------------------------------------------------
// Filtering and partitioning (like `eqx.filter` / `eqx.partition` / `eqx.combine`)
// ---------------------------------------------------------------------------------------------

/// A view of a tree that exposes only the leaves selected by a mask (one flag per leaf, in
/// flatten order). This is rax's answer to equinox's `None` placeholders: the hidden leaves stay
/// in the template (so the view still knows the full structure and can be rebuilt), but they are
/// invisible to `flatten`, `tree_map`, `grad` and every other `Tree` consumer. The mask is part
/// of the structure string, so two views with different masks have different signatures.
///
/// Typical use: differentiate only the trainable part of a model,
/// `let (params, frozen) = partition(&model, is_floating);`
/// `value_and_grad(|p: &Partition<M>| loss(&combine(p, &frozen)?))(&params)`.
#[derive(Clone, Debug)]
pub struct Partition<T> {
    /// The full tree (hidden leaves included).
    pub tree: T,
    /// `mask[i]` is true when leaf `i` (flatten order) is visible.
    pub mask: Vec<bool>,
}

impl<T: Tree> Partition<T> {
    /// The full tree (visible and hidden leaves).
    pub fn into_inner(self) -> T {
        self.tree
    }
}

impl<T: Tree> Tree for Partition<T> {
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        let mut i = 0;
        self.tree.for_each_leaf(path, &mut |p, x| {
            if self.mask.get(i).copied().unwrap_or(false) {
                f(p, x)
            }
            i += 1;
        })
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        let mut i = 0;
        let tree = self.tree.map_leaves(path, &mut |p, x| {
            let keep = self.mask.get(i).copied().unwrap_or(false);
            i += 1;
            if keep {
                f(p, x)
            } else {
                x.clone()
            }
        });
        Partition {
            tree,
            mask: self.mask.clone(),
        }
    }
    fn for_each_leaf_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo),
    ) {
        let mut i = 0;
        self.tree.for_each_leaf_info(path, info, &mut |p, x, inf| {
            if self.mask.get(i).copied().unwrap_or(false) {
                f(p, x, inf)
            }
            i += 1;
        })
    }
    fn map_leaves_info(
        &self,
        path: &mut Vec<String>,
        info: LeafInfo,
        f: &mut dyn FnMut(&[String], &Tensor, LeafInfo) -> Tensor,
    ) -> Self {
        let mut i = 0;
        let tree = self.tree.map_leaves_info(path, info, &mut |p, x, inf| {
            let keep = self.mask.get(i).copied().unwrap_or(false);
            i += 1;
            if keep {
                f(p, x, inf)
            } else {
                x.clone()
            }
        });
        Partition {
            tree,
            mask: self.mask.clone(),
        }
    }
    fn write_structure(&self, out: &mut String) {
        out.push_str("Partition[");
        for &m in &self.mask {
            out.push(if m { '1' } else { '0' });
        }
        out.push_str("](");
        self.tree.write_structure(out);
        out.push(')');
    }
}

/// One flag per leaf (flatten order): `pred(dotted path, leaf)`.
pub fn leaf_mask<T: Tree>(t: &T, mut pred: impl FnMut(&str, &Tensor) -> bool) -> Vec<bool> {
    let mut v = Vec::new();
    t.for_each_leaf(&mut Vec::new(), &mut |p, x| v.push(pred(&p.join("."), x)));
    v
}

/// The view of `t` exposing the leaves for which `pred(path, leaf)` holds.
pub fn filter<T: Tree + Clone>(t: &T, pred: impl FnMut(&str, &Tensor) -> bool) -> Partition<T> {
    Partition {
        tree: t.clone(),
        mask: leaf_mask(t, pred),
    }
}

/// Splits `t` into the view of the leaves satisfying `pred` and the view of the others.
pub fn partition<T: Tree + Clone>(
    t: &T,
    pred: impl FnMut(&str, &Tensor) -> bool,
) -> (Partition<T>, Partition<T>) {
    let mask = leaf_mask(t, pred);
    let rest = mask.iter().map(|m| !m).collect();
    (
        Partition {
            tree: t.clone(),
            mask,
        },
        Partition {
            tree: t.clone(),
            mask: rest,
        },
    )
}

/// Rebuilds the full tree taking each leaf from whichever view exposes it (`a` first). Errors
/// when the views' trees differ in structure or a leaf is exposed by neither.
pub fn combine<T: Tree>(a: &Partition<T>, b: &Partition<T>) -> Result<T> {
    let (sa, sb) = (structure(&a.tree), structure(&b.tree));
    if sa != sb {
        return Err(Error::data(
            "combine",
            format!("the partitions have different structures: {sa} vs {sb}"),
        ));
    }
    let (la, lb) = (flatten(&a.tree), flatten(&b.tree));
    let mut leaves = Vec::with_capacity(la.len());
    for (i, (x, y)) in la.into_iter().zip(lb).enumerate() {
        let (ma, mb) = (
            a.mask.get(i).copied().unwrap_or(false),
            b.mask.get(i).copied().unwrap_or(false),
        );
        if ma {
            leaves.push(x);
        } else if mb {
            leaves.push(y);
        } else {
            return Err(Error::data(
                "combine",
                format!("leaf {i} is hidden in both partitions"),
            ));
        }
    }
    unflatten(&a.tree, leaves)
}

/// Predicate: the leaf has a real floating dtype (f8/f16/bf16/f32/f64).
pub fn is_floating(_path: &str, t: &Tensor) -> bool {
    t.dtype().is_float()
}

/// Predicate: the leaf is floating or complex (what `grad` differentiates).
pub fn is_inexact(_path: &str, t: &Tensor) -> bool {
    t.dtype().is_inexact()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn paths_flatten_unflatten() {
        let t = |v: f64| Tensor::full(&[2], v, DType::F32);
        let mut m = BTreeMap::new();
        m.insert("wq".to_string(), t(1.0));
        m.insert("bias".to_string(), t(2.0));
        let tree = (vec![m.clone(), m], Some(t(3.0)));
        assert_eq!(
            leaf_paths(&tree),
            vec!["0.0.bias", "0.0.wq", "0.1.bias", "0.1.wq", "1"]
        );
        let leaves = flatten(&tree);
        assert_eq!(leaves.len(), 5);
        let doubled: Vec<Tensor> = leaves.iter().map(|x| x * 2.0).collect();
        let back = unflatten(&tree, doubled).unwrap();
        assert_eq!(flatten(&back)[4].to_vec::<f32>().unwrap(), vec![6.0, 6.0]);
        assert_eq!(structure(&tree), structure(&back));
        assert!(unflatten(&tree, vec![t(0.0)]).is_err());
        let marked = (Sensitive(vec![t(1.0)]), t(2.0));
        let infos: Vec<bool> = leaves_with_info(&marked)
            .iter()
            .map(|(_, _, i)| i.sensitive)
            .collect();
        assert_eq!(infos, vec![true, false]);
        let cast = tree_map_with_info(&marked, |_, x, i| {
            if i.sensitive {
                x.clone()
            } else {
                x.cast(DType::BF16)
            }
        });
        assert_eq!(
            flatten(&cast).iter().map(|x| x.dtype()).collect::<Vec<_>>(),
            vec![DType::F32, DType::BF16]
        );
        let sum = tree_map2(&tree, &back, |a, b| a + b).unwrap();
        assert_eq!(flatten(&sum)[0].to_vec::<f32>().unwrap(), vec![6.0, 6.0]);
    }

    #[test]
    fn partition_and_combine() {
        let t = (
            Tensor::full(&[2], 1.0, DType::F32),
            Tensor::full(&[2], 2.0, DType::I32),
            Tensor::full(&[], 3.0, DType::BF16),
        );
        let (fl, rest) = partition(&t, is_floating);
        assert_eq!(leaf_paths(&fl), vec!["0", "2"]);
        assert_eq!(leaf_paths(&rest), vec!["1"]);
        assert_ne!(structure(&fl), structure(&rest));
        let fl2 = tree_map(&fl, |x| x * 10.0);
        let back = combine(&fl2, &rest).unwrap();
        assert_eq!(back.0.to_vec::<f32>().unwrap(), vec![10.0, 10.0]);
        assert_eq!(back.1.to_vec::<i32>().unwrap(), vec![2, 2]);
        let only = filter(&t, |p, _| p == "1");
        assert_eq!(flatten(&only).len(), 1);
        let e = combine(&only, &only.clone()).unwrap_err().to_string();
        assert!(e.contains("hidden in both"), "{e}");
    }
}
