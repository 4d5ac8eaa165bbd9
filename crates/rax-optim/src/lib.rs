//! rax-optim: optax-like gradient transformations for rax.
//!
//! A [`GradientTransformation`] is a pair of pure functions: `init(params) -> State` and
//! `update(grads, state, params) -> (updates, State)`. All math is `Tensor` ops, so an update
//! traces into the same program as the forward and backward pass, and the [`State`] is a
//! pytree ([`rax_core::Tree`]) that can be jitted and donated. Conditional behaviour (clipping,
//! skipped non-finite steps, gradient accumulation) is written with `select`, never with host
//! control flow, so it traces.
//!
//! Transforms work on flat leaf lists with their [`LeafMeta`] (dotted path, `LeafInfo`, shape,
//! dtype), which is what masks and `partition` labels look at; the generic
//! [`GradientTransformation::init`] / [`GradientTransformation::update`] take any `P: Tree`.
//!
//! Math follows optax 0.2.8 (parity tests in
//! `tests/parity.rs`). Updates are computed in f32 (f64 stays f64) whatever the gradient dtype;
//! moments default to f32 whatever the parameter dtype; [`apply_updates`] adds in f32.
//!
//! Modules: [`transform`] (elementary transforms), [`schedule`], [`combine`] (chain,
//! partition, masked, multi_steps, apply_if_finite, inject_hyperparams), [`alias`] (adam,
//! adamw, lion, sgd, muon), [`master`] (f32 master weights, stochastic rounding).
#![warn(missing_docs)]

pub mod alias;
pub mod combine;
pub mod master;
pub mod schedule;
pub mod state;
pub mod transform;

pub use alias::{adam, adamw, lion, muon, sgd, AdamConfig, MuonConfig};
pub use combine::{
    apply_if_finite, chain, inject_hyperparams, masked, multi_steps, partition, Hyper,
};
pub use master::{stochastic_rounding, with_master_weights};
pub use schedule::{constant, cosine_decay, cyclic, join, linear, warmup_cosine, Schedule};
pub use state::State;
pub use transform::{
    add_decayed_weights, clip, clip_by_global_norm, global_norm, identity, newton_schulz5, scale,
    scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_muon, scale_by_schedule, trace,
};

use rax_core::tree::{leaves_with_info, unflatten};
use rax_core::{DType, Error, LeafInfo, Result, Tensor, Tree};
use std::sync::Arc;

/// Static facts about one leaf, in flatten order: what masks and partition labels look at.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafMeta {
    /// The dotted leaf path (`layers.0.attn.wq`).
    pub path: String,
    /// Declared facts (sensitive or not).
    pub info: LeafInfo,
    /// The leaf's dimensions.
    pub dims: Vec<usize>,
    /// The leaf's dtype (of the params when given, else of the gradients).
    pub dtype: DType,
}

impl LeafMeta {
    /// The metadata of a tree's leaves.
    pub fn of<P: Tree>(t: &P) -> Vec<LeafMeta> {
        leaves_with_info(t)
            .into_iter()
            .map(|(path, x, info)| LeafMeta {
                path,
                info,
                dims: x.dims(),
                dtype: x.dtype(),
            })
            .collect()
    }

    /// The rank.
    pub fn ndim(&self) -> usize {
        self.dims.len()
    }
}

/// A predicate on leaves (masks of `add_decayed_weights`, `masked`).
pub type Mask = Arc<dyn Fn(&LeafMeta) -> bool>;

/// A boxed transformation (for `Vec`s of heterogeneous transforms).
pub type Boxed = Box<dyn GradientTransformation>;

/// An optax-like gradient transformation: pure `init` and `update` over flat leaves.
pub trait GradientTransformation {
    /// The initial state for these parameters.
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State>;

    /// Transforms `updates` (one per leaf), returning the new updates and state. `params` are
    /// the current parameters when the transform needs them.
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)>;

    /// The initial state for a parameter tree.
    fn init<P: Tree>(&self, params: &P) -> Result<State>
    where
        Self: Sized,
    {
        let leaves: Vec<Tensor> = rax_core::tree::flatten(params);
        self.init_flat(&leaves, &LeafMeta::of(params))
    }

    /// Transforms a gradient tree (same structure, shapes and dtypes' kind as the
    /// parameters). A gradient leaf whose shape differs from its parameter's is an error
    /// naming the leaf path (never a silent broadcast of the parameter).
    #[track_caller]
    fn update<P: Tree>(&self, grads: &P, state: State, params: Option<&P>) -> Result<(P, State)>
    where
        Self: Sized,
    {
        let site = rax_core::CallSite::here();
        let g = rax_core::tree::flatten(grads);
        let (meta, p) = match params {
            Some(p) => {
                let st = (
                    rax_core::tree::structure(p),
                    rax_core::tree::structure(grads),
                );
                if st.0 != st.1 {
                    return Err(Error::arg(
                        "GradientTransformation::update",
                        format!("gradients {} and params {} differ in structure", st.1, st.0),
                    ));
                }
                let meta = LeafMeta::of(p);
                check_shapes(
                    "GradientTransformation::update",
                    &meta,
                    &g,
                    "gradient",
                    site,
                )?;
                (meta, Some(rax_core::tree::flatten(p)))
            }
            None => (LeafMeta::of(grads), None),
        };
        let (u, s) = self.update_flat(g, state, p.as_deref(), &meta)?;
        Ok((unflatten(grads, u)?, s))
    }

    /// Boxes the transform.
    fn boxed(self) -> Boxed
    where
        Self: Sized + 'static,
    {
        Box::new(self)
    }
}

impl<T: GradientTransformation + ?Sized> GradientTransformation for Box<T> {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        (**self).init_flat(params, meta)
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        (**self).update_flat(updates, state, params, meta)
    }
}

impl<T: GradientTransformation + ?Sized> GradientTransformation for Arc<T> {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        (**self).init_flat(params, meta)
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        (**self).update_flat(updates, state, params, meta)
    }
}

/// A hyperparameter: a constant, a schedule of the step count, or a tensor (e.g. injected by
/// [`inject_hyperparams`]). Rust numbers convert into it.
#[derive(Clone)]
pub enum Scalar {
    /// A constant.
    Const(f64),
    /// A function of the i32 step count held in the transform's state.
    Schedule(Schedule),
    /// A traced or concrete f32 scalar.
    Tensor(Tensor),
}

impl std::fmt::Debug for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Const(x) => write!(f, "Const({x})"),
            Scalar::Schedule(_) => write!(f, "Schedule"),
            Scalar::Tensor(t) => write!(f, "Tensor({t:?})"),
        }
    }
}

impl From<f64> for Scalar {
    fn from(x: f64) -> Scalar {
        Scalar::Const(x)
    }
}
impl From<f32> for Scalar {
    fn from(x: f32) -> Scalar {
        Scalar::Const(x as f64)
    }
}
impl From<Schedule> for Scalar {
    fn from(s: Schedule) -> Scalar {
        Scalar::Schedule(s)
    }
}
impl From<Tensor> for Scalar {
    fn from(t: Tensor) -> Scalar {
        Scalar::Tensor(t)
    }
}
impl From<&Tensor> for Scalar {
    fn from(t: &Tensor) -> Scalar {
        Scalar::Tensor(t.clone())
    }
}

impl Scalar {
    /// True when the value depends on the step count (the transform then keeps a count).
    pub fn needs_count(&self) -> bool {
        matches!(self, Scalar::Schedule(_))
    }

    /// The value at a step count (an f32 scalar tensor).
    #[track_caller]
    pub fn at(&self, count: &Tensor) -> Tensor {
        match self {
            Scalar::Const(x) => Tensor::scalar_of(*x, DType::F32),
            Scalar::Schedule(s) => s.at(count),
            Scalar::Tensor(t) => t.cast(DType::F32),
        }
    }

    /// The value in a dtype, for constants and tensors (schedules need a count: `at`).
    pub(crate) fn value_in(&self, count: Option<&Tensor>, dtype: DType) -> Tensor {
        match (self, count) {
            (Scalar::Const(x), _) => Tensor::scalar_of(*x, dtype),
            (Scalar::Schedule(s), Some(c)) => s.at(c).cast(dtype),
            (Scalar::Schedule(s), None) => s.at(&Tensor::scalar_of(0.0, DType::I32)).cast(dtype),
            (Scalar::Tensor(t), _) => t.cast(dtype),
        }
    }
}

/// The dtype updates are computed in for a leaf dtype: f32, or f64 for f64 leaves.
pub fn acc_dtype(d: DType) -> DType {
    if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// A leaf in its accumulation dtype (floats below f32 widened to f32).
#[track_caller]
pub(crate) fn widen(x: &Tensor) -> Tensor {
    if x.dtype().is_float() {
        x.cast(acc_dtype(x.dtype()))
    } else {
        x.clone()
    }
}

/// θ + u for each leaf, added in f32 (f64 for f64 leaves) and stored back in θ's dtype.
/// Errors if the trees differ in structure.
#[track_caller]
pub fn apply_updates<P: Tree>(params: &P, updates: &P) -> Result<P> {
    let site = rax_core::CallSite::here();
    if rax_core::tree::structure(params) == rax_core::tree::structure(updates) {
        let u = rax_core::tree::flatten(updates);
        check_shapes("apply_updates", &LeafMeta::of(params), &u, "update", site)?;
    }
    rax_core::tree::tree_map2(params, updates, |p, u| {
        if p.dtype().is_float() {
            (widen(p) + u.cast(acc_dtype(p.dtype()))).cast(p.dtype())
        } else {
            p.clone()
        }
    })
}

/// Checks that every leaf of `xs` (gradients or updates) has its parameter's shape; the error
/// names the leaf path, both shapes and the caller's call site.
pub(crate) fn check_shapes(
    what: &str,
    meta: &[LeafMeta],
    xs: &[Tensor],
    kind: &str,
    site: rax_core::CallSite,
) -> Result<()> {
    for (m, x) in meta.iter().zip(xs) {
        x.check()?;
        if x.dims() != m.dims {
            return Err(Error::Shape {
                op: what.to_string(),
                msg: format!(
                    "the {kind} of leaf `{}` has shape {:?} but the parameter has {:?} \
                     (a {kind} must have its parameter's shape; rax does not broadcast it)",
                    m.path,
                    x.dims(),
                    m.dims
                ),
                operands: vec![rax_core::AVal::new(m.dims.clone(), m.dtype), x.aval()],
                site: Some(site),
            });
        }
    }
    Ok(())
}

/// Checks that a flat update call has one update (and param) per leaf.
pub(crate) fn check_lens(
    what: &str,
    updates: &[Tensor],
    params: Option<&[Tensor]>,
    meta: &[LeafMeta],
) -> Result<()> {
    if updates.len() != meta.len() || params.is_some_and(|p| p.len() != meta.len()) {
        return Err(Error::arg(
            what,
            format!(
                "{} updates and {} params for {} leaves",
                updates.len(),
                params.map_or(0, |p| p.len()),
                meta.len()
            ),
        ));
    }
    Ok(())
}

/// The params a transform needs, or an error naming it.
pub(crate) fn need_params<'a>(what: &str, params: Option<&'a [Tensor]>) -> Result<&'a [Tensor]> {
    params.ok_or_else(|| {
        Error::arg(
            what,
            "needs the parameters: call update(grads, state, Some(&params))",
        )
    })
}
