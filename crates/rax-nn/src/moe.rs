//! The DeepSeek MoE feed-forward layer: an f32 router (see [`crate::moe_router`]), routed
//! SwiGLU experts run by one of the dispatch paths of [`crate::moe_dispatch`], plus always-on
//! shared experts (one SwiGLU of width `n_shared · moe_intermediate`). The layer returns its
//! output and the routing statistics the auxiliary losses and metrics need.
//!
//! Depends on rax-core, `moe_router`, `moe_dispatch`, `moe_aux` and `swiglu`.

use crate::moe_aux;
use crate::moe_dispatch::{dispatch, Dispatch};
use crate::moe_router::{route, RouterConfig};
use crate::swiglu::SwiGlu;
use rax_core::{DType, Error, Result, Sensitive, Tensor};
use rax_macros::Tree;

/// Sizes and routing of one MoE layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MoeConfig {
    /// Model width D.
    pub hidden: usize,
    /// Width I of each routed expert.
    pub expert_inter: usize,
    /// Shared experts (their SwiGLU has width `n_shared · I`); 0 for none.
    pub n_shared: usize,
    /// Router settings.
    pub router: RouterConfig,
    /// Dispatch path.
    pub dispatch: Dispatch,
}

/// Parameters of one MoE layer.
#[derive(Clone, Debug, Tree)]
pub struct MoeParams {
    /// Router weight `[D, E]` (sensitive: f32 whatever the policy).
    pub router: Sensitive<Tensor>,
    /// Stacked expert gate/up projections `[E, D, 2I]` (gate columns first).
    pub gate_up: Tensor,
    /// Stacked expert down projections `[E, I, D]`.
    pub down: Tensor,
    /// Shared experts.
    pub shared: Option<SwiGlu>,
}

impl MoeParams {
    /// Fresh parameters from `normal(shape)`.
    pub fn init(
        c: &MoeConfig,
        normal: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<MoeParams> {
        let e = c.router.experts;
        Ok(MoeParams {
            router: Sensitive(normal(&[c.hidden, e])?),
            gate_up: normal(&[e, c.hidden, 2 * c.expert_inter])?,
            down: normal(&[e, c.expert_inter, c.hidden])?,
            shared: if c.n_shared > 0 {
                Some(SwiGlu::init(c.hidden, c.n_shared * c.expert_inter, normal)?)
            } else {
                None
            },
        })
    }
}

/// What one MoE layer's routing did (all f32 but `indices`).
#[derive(Clone, Debug, Tree)]
pub struct MoeStats {
    /// Router logits `[N, E]`.
    pub logits: Tensor,
    /// Router scores `[N, E]`.
    pub scores: Tensor,
    /// Chosen experts `[N, k]`.
    pub indices: Tensor,
    /// Dropped assignments (scalar).
    pub dropped: Tensor,
}

impl MoeStats {
    /// Assignments per expert `[E]`.
    pub fn counts(&self) -> Tensor {
        moe_aux::expert_counts(&self.indices, self.scores.dims()[1])
    }
    /// Dropped fraction of all assignments.
    pub fn dropped_fraction(&self) -> Tensor {
        let a = (self.indices.dims()[0] * self.indices.dims()[1]) as f64;
        &self.dropped * (1.0 / a)
    }
}

/// `x [B, T, D]` (compute dtype) → `(y [B, T, D], stats)`; `bias` is the V3 correction bias.
#[track_caller]
pub fn apply(
    cfg: &MoeConfig,
    p: &MoeParams,
    bias: Option<&Tensor>,
    x: &Tensor,
) -> (Tensor, MoeStats) {
    let site = rax_core::CallSite::here();
    let dims = x.dims();
    if dims.len() != 3 || dims[2] != cfg.hidden {
        let e = Error::shape(
            "moe::apply",
            format!("expects x [B, T, {}]", cfg.hidden),
            &[x.aval()],
        );
        let t = rax_core::trace::apply_error(e, x.aval(), site);
        let st = MoeStats {
            logits: t.clone(),
            scores: t.clone(),
            indices: t.clone(),
            dropped: t.clone(),
        };
        return (t, st);
    }
    let (b, t, d) = (dims[0], dims[1], dims[2]);
    let flat = x.reshape(&[b * t, d]);
    let r = route(&cfg.router, &p.router.0, bias, &flat);
    let routed = dispatch(
        cfg.dispatch,
        &flat,
        &r.indices,
        &r.weights,
        &p.gate_up,
        &p.down,
    );
    let mut y = routed.out.reshape(&[b, t, d]);
    if let Some(s) = &p.shared {
        y = y + s.apply(x, x.dtype());
    }
    let stats = MoeStats {
        logits: r.logits,
        scores: r.scores,
        indices: r.indices,
        dropped: routed.dropped,
    };
    (y.cast(x.dtype()), stats)
}

/// f32 scalar metrics of a step's routing: `(load [E], dropped fraction, router entropy)`.
pub fn metrics(stats: &MoeStats) -> (Tensor, Tensor, Tensor) {
    let e = stats.scores.dims()[1];
    (
        moe_aux::expert_load(&stats.indices, e),
        stats.dropped_fraction(),
        moe_aux::router_entropy(&stats.scores),
    )
}

/// The compute dtype an MoE layer runs in for a policy's `compute` (the router stays f32).
pub fn compute_dtype(compute: DType) -> DType {
    compute
}
