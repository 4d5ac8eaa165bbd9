//! Combinators: `chain`, `partition` (labels from leaf paths, shapes or `LeafInfo`), `masked`,
//! `multi_steps` (k-step gradient accumulation in f32), `apply_if_finite` (skipped non-finite
//! steps) and `inject_hyperparams` (hyperparameters as state leaves). Conditional behaviour is
//! select-based so it traces into one program.

use crate::transform::{safe_increment, zero_count};
use crate::{check_lens, widen, Boxed, GradientTransformation, LeafMeta, Mask, Scalar, State};
use rax_core::precision::all_finite;
use rax_core::{DType, Error, Result, Tensor};
use std::sync::Arc;

/// Transforms applied one after the other; state `{"0": .., "1": .., ...}`.
pub struct Chain(pub Vec<Boxed>);

/// Things that make a chain: a `Vec<Boxed>` or a tuple of transforms.
pub trait IntoChain {
    /// The transforms in order.
    fn into_vec(self) -> Vec<Boxed>;
}

impl IntoChain for Vec<Boxed> {
    fn into_vec(self) -> Vec<Boxed> {
        self
    }
}

macro_rules! chain_tuple {
    ($($n:ident $i:tt),+) => {
        impl<$($n: GradientTransformation + 'static),+> IntoChain for ($($n,)+) {
            fn into_vec(self) -> Vec<Boxed> {
                vec![$(Box::new(self.$i) as Boxed),+]
            }
        }
    };
}
chain_tuple!(A 0);
chain_tuple!(A 0, B 1);
chain_tuple!(A 0, B 1, C 2);
chain_tuple!(A 0, B 1, C 2, D 3);
chain_tuple!(A 0, B 1, C 2, D 3, E 4);
chain_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);

/// Chains transforms (a tuple or a `Vec<Boxed>`).
pub fn chain(ts: impl IntoChain) -> Chain {
    Chain(ts.into_vec())
}

impl GradientTransformation for Chain {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        Ok(State::Node(
            self.0
                .iter()
                .enumerate()
                .map(|(i, t)| Ok((i.to_string(), t.init_flat(params, meta)?)))
                .collect::<Result<_>>()?,
        ))
    }
    fn update_flat(
        &self,
        mut updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        let children = state.into_children()?;
        if children.len() != self.0.len() {
            return Err(Error::arg(
                "chain",
                format!(
                    "the state has {} entries for {} transforms (state from another transform?)",
                    children.len(),
                    self.0.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(children.len());
        for (t, (k, s)) in self.0.iter().zip(children) {
            let (u, s) = t.update_flat(updates, s, params, meta)?;
            updates = u;
            out.push((k, s));
        }
        Ok((updates, State::Node(out)))
    }
}

/// A label for each leaf (of `partition`).
pub type Labeler = Arc<dyn Fn(&LeafMeta) -> String>;

/// Different transforms for different leaves: `labels` names each leaf's group (from its path,
/// shape or `LeafInfo`), and each group gets the transform of that label, applied to its leaves
/// only. State `{label: state}`. A leaf whose label has no transform is an error naming it.
pub struct Partition {
    transforms: Vec<(String, Boxed)>,
    labels: Labeler,
}

/// Builds a [`Partition`].
pub fn partition<L: Into<String>>(
    transforms: Vec<(L, Boxed)>,
    labels: impl Fn(&LeafMeta) -> String + 'static,
) -> Partition {
    Partition {
        transforms: transforms.into_iter().map(|(l, t)| (l.into(), t)).collect(),
        labels: Arc::new(labels),
    }
}

impl Partition {
    fn groups(&self, meta: &[LeafMeta]) -> Result<Vec<Vec<usize>>> {
        let mut groups = vec![Vec::new(); self.transforms.len()];
        for (i, m) in meta.iter().enumerate() {
            let l = (self.labels)(m);
            let g = self
                .transforms
                .iter()
                .position(|(k, _)| *k == l)
                .ok_or_else(|| {
                    Error::arg(
                        "partition",
                        format!(
                            "leaf `{}` has label `{l}`, which has no transform (labels: {})",
                            m.path,
                            self.transforms
                                .iter()
                                .map(|(k, _)| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            groups[g].push(i);
        }
        Ok(groups)
    }
}

fn pick<T: Clone>(xs: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().filter_map(|&i| xs.get(i).cloned()).collect()
}

impl GradientTransformation for Partition {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        let groups = self.groups(meta)?;
        Ok(State::Node(
            self.transforms
                .iter()
                .zip(&groups)
                .map(|((l, t), g)| Ok((l.clone(), t.init_flat(&pick(params, g), &pick(meta, g))?)))
                .collect::<Result<_>>()?,
        ))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("partition", &updates, params, meta)?;
        let groups = self.groups(meta)?;
        let children = state.into_children()?;
        if children.len() != self.transforms.len() {
            return Err(Error::arg(
                "partition",
                "state does not match the transforms",
            ));
        }
        let mut out = updates.clone();
        let mut states = Vec::new();
        for (((l, t), g), (_, s)) in self.transforms.iter().zip(&groups).zip(children) {
            let p = params.map(|p| pick(p, g));
            let (u, s) = t.update_flat(pick(&updates, g), s, p.as_deref(), &pick(meta, g))?;
            for (&i, x) in g.iter().zip(u) {
                out[i] = x;
            }
            states.push((l.clone(), s));
        }
        Ok((out, State::Node(states)))
    }
}

/// Applies `inner` to the leaves selected by `mask`; the others pass through unchanged.
/// The state is `inner`'s state over the selected leaves.
pub struct Masked {
    inner: Boxed,
    mask: Mask,
}

/// Builds a [`Masked`] transform.
pub fn masked(
    inner: impl GradientTransformation + 'static,
    mask: impl Fn(&LeafMeta) -> bool + 'static,
) -> Masked {
    Masked {
        inner: Box::new(inner),
        mask: Arc::new(mask),
    }
}

impl GradientTransformation for Masked {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        let g: Vec<usize> = (0..meta.len()).filter(|&i| (self.mask)(&meta[i])).collect();
        self.inner.init_flat(&pick(params, &g), &pick(meta, &g))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("masked", &updates, params, meta)?;
        let g: Vec<usize> = (0..meta.len()).filter(|&i| (self.mask)(&meta[i])).collect();
        let p = params.map(|p| pick(p, &g));
        let (u, s) =
            self.inner
                .update_flat(pick(&updates, &g), state, p.as_deref(), &pick(meta, &g))?;
        let mut out = updates;
        for (&i, x) in g.iter().zip(u) {
            out[i] = x;
        }
        Ok((out, s))
    }
}

/// k-step gradient accumulation (docs/optim.md `multi_steps`, optax `MultiSteps`): the running mean
/// of the gradients is kept in f32; on k−1 of every k steps the update is zero and the inner
/// state is kept; on the k-th the inner transform is applied to the mean. Select-based.
/// State: `mini_step` (i32), `gradient_step` (i32), `acc` (per leaf, f32), `inner`.
pub struct MultiSteps {
    inner: Boxed,
    k: u32,
}

/// Builds [`MultiSteps`] (k ≥ 1).
pub fn multi_steps(inner: impl GradientTransformation + 'static, k: u32) -> MultiSteps {
    MultiSteps {
        inner: Box::new(inner),
        k: k.max(1),
    }
}

impl GradientTransformation for MultiSteps {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        let acc = params
            .iter()
            .map(|p| Tensor::zeros(&p.dims(), crate::acc_dtype(p.dtype())))
            .collect();
        Ok(State::node(vec![
            ("mini_step", State::Leaf(zero_count())),
            ("gradient_step", State::Leaf(zero_count())),
            ("acc", State::per_leaf(acc, meta)),
            ("inner", self.inner.init_flat(params, meta)?),
        ]))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("multi_steps", &updates, params, meta)?;
        let [mini, gstep, acc, inner] =
            state.into_fields(["mini_step", "gradient_step", "acc", "inner"])?;
        let mini = mini.tensor()?.clone();
        let gstep = gstep.tensor()?.clone();
        let acc = acc.into_per_leaf(meta)?;
        let n = (&mini + 1).cast(DType::F32);
        let acc: Vec<Tensor> = updates
            .iter()
            .zip(&acc)
            .map(|(g, a)| {
                let g = widen(g);
                a + &((&g - a) / &n.cast(g.dtype()))
            })
            .collect();
        let emit = mini.eq(&Tensor::scalar_of(self.k as f64 - 1.0, DType::I32));
        let (u, new_inner) = self
            .inner
            .update_flat(acc.clone(), inner.clone(), params, meta)?;
        let out = u
            .iter()
            .map(|x| Tensor::select(&emit, x, &x.scalar_like(0.0)))
            .collect();
        let acc = acc
            .iter()
            .map(|a| Tensor::select(&emit, &a.scalar_like(0.0), a))
            .collect();
        let state = State::node(vec![
            (
                "mini_step",
                State::Leaf(safe_increment(&mini) % self.k as i32),
            ),
            (
                "gradient_step",
                State::Leaf(Tensor::select(&emit, &safe_increment(&gstep), &gstep)),
            ),
            ("acc", State::per_leaf(acc, meta)),
            ("inner", State::select(&emit, &new_inner, &inner)?),
        ]);
        Ok((out, state))
    }
}

/// Skips steps whose updates are not all finite (docs/optim.md `apply_if_finite`, optax
/// `apply_if_finite`): the update is zero and the inner state is kept; after more than
/// `max_consecutive_errors` consecutive skips the updates are applied anyway (giving up).
/// State: `notfinite_count`, `last_finite` (bool), `total_notfinite`, `inner`.
pub struct ApplyIfFinite {
    inner: Boxed,
    max_consecutive_errors: u32,
}

/// Builds [`ApplyIfFinite`].
pub fn apply_if_finite(
    inner: impl GradientTransformation + 'static,
    max_consecutive_errors: u32,
) -> ApplyIfFinite {
    ApplyIfFinite {
        inner: Box::new(inner),
        max_consecutive_errors,
    }
}

impl GradientTransformation for ApplyIfFinite {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        Ok(State::node(vec![
            ("notfinite_count", State::Leaf(zero_count())),
            (
                "last_finite",
                State::Leaf(Tensor::scalar_of(1.0, DType::Bool)),
            ),
            ("total_notfinite", State::Leaf(zero_count())),
            ("inner", self.inner.init_flat(params, meta)?),
        ]))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("apply_if_finite", &updates, params, meta)?;
        let [cnt, _, total, inner] =
            state.into_fields(["notfinite_count", "last_finite", "total_notfinite", "inner"])?;
        let (cnt, total) = (cnt.tensor()?.clone(), total.tensor()?.clone());
        let finite = all_finite(&updates);
        let zero = zero_count();
        let cnt = Tensor::select(&finite, &zero, &(&cnt + 1));
        let apply = &finite
            | &cnt.gt(&Tensor::scalar_of(
                self.max_consecutive_errors as f64,
                DType::I32,
            ));
        let (u, new_inner) = self
            .inner
            .update_flat(updates, inner.clone(), params, meta)?;
        let out = u
            .iter()
            .map(|x| Tensor::select(&apply, x, &x.scalar_like(0.0)))
            .collect();
        let state = State::node(vec![
            ("notfinite_count", State::Leaf(cnt)),
            ("last_finite", State::Leaf(finite.clone())),
            (
                "total_notfinite",
                State::Leaf(Tensor::select(&finite, &total, &(&total + 1))),
            ),
            ("inner", State::select(&apply, &new_inner, &inner)?),
        ]);
        Ok((out, state))
    }
}

/// Hyperparameter values handed to the factory of [`inject_hyperparams`].
#[derive(Clone, Debug)]
pub struct Hyper(Vec<(String, Tensor)>);

impl Hyper {
    /// The value of a hyperparameter (an f32 scalar tensor, traced inside a step) as a
    /// [`Scalar`]. A name that was not injected gives a tensor carrying an error naming it
    /// (recorded in the active trace; eager updates report it), never a panic.
    #[track_caller]
    pub fn get(&self, name: &str) -> Scalar {
        match self.0.iter().find(|(k, _)| k == name) {
            Some((_, t)) => Scalar::Tensor(t.clone()),
            None => {
                let known: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
                Scalar::Tensor(rax_core::trace::apply_error(
                    Error::arg(
                        "inject_hyperparams",
                        format!(
                            "no hyperparameter `{name}` (injected: {})",
                            known.join(", ")
                        ),
                    ),
                    rax_core::AVal::scalar(DType::F32),
                    rax_core::CallSite::here(),
                ))
            }
        }
    }
}

/// Hyperparameters as state leaves (optax `inject_hyperparams`): `hparams` are evaluated at the
/// step count in the state (schedules) or read from the state (constants, so a caller may
/// change them between steps), and `factory` builds the inner transform from their values.
/// State: `count`, `hyperparams` (`{name: f32 scalar}`), `inner`.
pub struct InjectHyperparams<F> {
    factory: F,
    hparams: Vec<(String, Scalar)>,
}

/// Builds [`InjectHyperparams`].
pub fn inject_hyperparams<F, T, S>(factory: F, hparams: Vec<(S, Scalar)>) -> InjectHyperparams<F>
where
    F: Fn(&Hyper) -> T,
    T: GradientTransformation,
    S: Into<String>,
{
    InjectHyperparams {
        factory,
        hparams: hparams.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    }
}

impl<F, T> GradientTransformation for InjectHyperparams<F>
where
    F: Fn(&Hyper) -> T,
    T: GradientTransformation,
{
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        let c = zero_count();
        let h = Hyper(
            self.hparams
                .iter()
                .map(|(k, v)| (k.clone(), v.at(&c)))
                .collect(),
        );
        let inner = (self.factory)(&h).init_flat(params, meta)?;
        Ok(State::node(vec![
            ("count", State::Leaf(c)),
            (
                "hyperparams",
                State::Node(h.0.into_iter().map(|(k, v)| (k, State::Leaf(v))).collect()),
            ),
            ("inner", inner),
        ]))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        let [count, hp, inner] = state.into_fields(["count", "hyperparams", "inner"])?;
        let count = count.tensor()?.clone();
        let mut vals = Vec::new();
        for (k, v) in &self.hparams {
            let x = match v {
                Scalar::Schedule(_) => v.at(&count),
                _ => hp.get_tensor(k)?.cast(DType::F32),
            };
            vals.push((k.clone(), x));
        }
        let h = Hyper(vals);
        let (u, inner) = (self.factory)(&h).update_flat(updates, inner, params, meta)?;
        Ok((
            u,
            State::node(vec![
                ("count", State::Leaf(safe_increment(&count))),
                (
                    "hyperparams",
                    State::Node(h.0.into_iter().map(|(k, v)| (k, State::Leaf(v))).collect()),
                ),
                ("inner", inner),
            ]),
        ))
    }
}
