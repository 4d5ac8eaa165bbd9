//! The MoE router of DeepSeek-V2/V3, in f32 whatever the compute dtype (its weight is
//! sensitive): logits `x·W_r`, scores by softmax (V2) or sigmoid (V3), optional group-limited
//! selection, top-k, and the combine weights.
//!
//! - V2 `greedy`: top-k of the softmax scores.
//! - V2 `group_limited_greedy`: each group is scored by its best expert; the `topk_group` best
//!   groups stay, the other experts' scores are zeroed, then top-k (weights are the scores).
//! - V3: the selection uses `scores + e_score_correction_bias`; each group is scored by the sum
//!   of its two best biased scores; experts outside the kept groups are excluded (−∞); top-k of
//!   the biased scores; the weights are the *unbiased* scores of the chosen experts, optionally
//!   normalised to sum 1 (`norm_topk_prob`, + 1e-20).
//!
//! Both multiply the weights by `routed_scaling_factor`. The bias only selects: no gradient
//! flows into it (it is state, updated by [`crate::moe_aux::update_bias`]).
//!
//! Depends on rax-core.

use rax_core::{stop_gradient as sg, DType, Error, Tensor};

/// How router logits become scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    /// Softmax over experts (DeepSeek-V2).
    Softmax,
    /// Independent sigmoids (DeepSeek-V3).
    Sigmoid,
}

/// Group-limited routing variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupLimit {
    /// Plain top-k over all experts.
    None,
    /// V2's `group_limited_greedy`: groups scored by their maximum; others zeroed.
    MaxGreedy,
    /// V3's: groups scored by the sum of their top-2 (biased) scores; others excluded.
    TopTwoSum,
}

/// Router settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterConfig {
    /// Routed experts E.
    pub experts: usize,
    /// Experts per token k.
    pub top_k: usize,
    /// Score function.
    pub scoring: Scoring,
    /// Group limit.
    pub group: GroupLimit,
    /// Number of expert groups (E must divide by it).
    pub n_group: usize,
    /// Groups kept per token.
    pub topk_group: usize,
    /// Normalise the chosen weights to sum 1 (V3).
    pub norm_topk_prob: bool,
    /// Multiplier of the combine weights.
    pub routed_scaling_factor: f64,
}

/// The router's decisions for `N` tokens.
#[derive(Clone, Debug)]
pub struct Routing {
    /// f32 logits `[N, E]`.
    pub logits: Tensor,
    /// f32 scores `[N, E]` (softmax or sigmoid of the logits).
    pub scores: Tensor,
    /// Chosen experts `[N, k]` (i32).
    pub indices: Tensor,
    /// f32 combine weights `[N, k]`.
    pub weights: Tensor,
}

/// The values of `x [N, E]` at `idx [N, k]` (differentiable in x): `[N, k]`.
pub fn pick(x: &Tensor, idx: &Tensor) -> Tensor {
    let e = x.dims()[1];
    (idx.one_hot(e, x.dtype()) * x.expand_dims(1)).sum(&[2])
}

/// Routes `x [N, D]` with the f32 router weight `w [D, E]` and, for V3, the correction bias
/// `[E]` (selection only).
#[track_caller]
pub fn route(cfg: &RouterConfig, w: &Tensor, bias: Option<&Tensor>, x: &Tensor) -> Routing {
    let site = rax_core::CallSite::here();
    let (e, k) = (cfg.experts, cfg.top_k);
    let ok = x.rank() == 2
        && w.dims() == [x.dims()[1], e]
        && k >= 1
        && k <= e
        && cfg.n_group >= 1
        && e % cfg.n_group == 0
        && cfg.topk_group >= 1
        && cfg.topk_group <= cfg.n_group
        && bias.is_none_or(|b| b.dims() == [e]);
    if !ok {
        let er = Error::shape(
            "moe::route",
            format!(
                "expects x [N, D], router weight [D, {e}], bias [{e}], 1 <= top_k {k} <= {e}, \
                 {e} experts divisible by n_group {} >= topk_group {}",
                cfg.n_group, cfg.topk_group
            ),
            &[x.aval(), w.aval()],
        );
        let p = rax_core::trace::apply_error(er, x.aval(), site);
        return Routing {
            logits: p.clone(),
            scores: p.clone(),
            indices: p.clone(),
            weights: p,
        };
    }
    let n = x.dims()[0];
    let logits = x.cast(DType::F32).matmul(&w.cast(DType::F32));
    let scores = match cfg.scoring {
        Scoring::Softmax => logits.softmax(1),
        Scoring::Sigmoid => logits.sigmoid(),
    };
    let choice = match bias {
        Some(b) => sg(&scores) + sg(&b.cast(DType::F32)).expand_dims(0),
        None => scores.clone(),
    };
    let (g, per) = (cfg.n_group, e / cfg.n_group);
    let group_mask = |group_scores: &Tensor| -> Tensor {
        let (_, gi) = group_scores.top_k(cfg.topk_group);
        let keep = gi
            .one_hot(g, DType::F32)
            .sum(&[1])
            .gt(&Tensor::scalar_of(0.0, DType::F32));
        keep.expand_dims(2)
            .broadcast_to(&[n, g, per])
            .reshape(&[n, e])
    };
    let limited = cfg.group != GroupLimit::None && cfg.topk_group < cfg.n_group;
    let (indices, weights) = match (cfg.group, limited) {
        (GroupLimit::MaxGreedy, true) => {
            let gs = sg(&choice).reshape(&[n, g, per]).max(&[2]);
            let masked = Tensor::select(
                &group_mask(&gs),
                &scores,
                &Tensor::scalar_of(0.0, DType::F32),
            );
            let (_, idx) = sg(&masked).top_k(k);
            (idx.clone(), pick(&masked, &idx))
        }
        (GroupLimit::TopTwoSum, true) => {
            let c3 = sg(&choice).reshape(&[n, g, per]);
            let gs = c3.top_k(2.min(per)).0.sum(&[2]);
            let masked = Tensor::select(
                &group_mask(&gs),
                &sg(&choice),
                &Tensor::scalar_of(f64::NEG_INFINITY, DType::F32),
            );
            let (_, idx) = masked.top_k(k);
            (idx.clone(), pick(&scores, &idx))
        }
        _ => {
            let (_, idx) = sg(&choice).top_k(k);
            (idx.clone(), pick(&scores, &idx))
        }
    };
    let weights = if cfg.norm_topk_prob {
        &weights / &(weights.sum_keepdims(&[1]) + 1e-20)
    } else {
        weights
    };
    Routing {
        logits,
        scores,
        indices,
        weights: weights * cfg.routed_scaling_factor,
    }
}
