//! TimestepNorm: causal group normalisation of `x [B, L, F]`. Each of the G groups is normalised
//! at step t by the mean and variance of every valid value the row has seen up to t (plus an
//! optional learned prior and a carried state), then scaled by `(weight + 1)` and shifted by
//! `bias` (both sensitive, f32).
//!
//! Statistics are f32. Each token contributes its group's population mean and variance as one
//! "block"; running statistics merge blocks with the Chan–Golub–LeVeque rule
//! (`m2 = m2ₐ + m2_b + δ²·nₐn_b/n`), an associative merge evaluated as a log-depth prefix scan, so
//! the variance is never formed as `E[x²] − E[x]²`. On the fresh, unmasked path without priors,
//! the prefix is instead a cumulative sum of moments shifted by the first token's mean (a nearby
//! anchor, so cancellation stays small), as megalodon-jax does. Masked tokens update nothing and
//! emit zeros; packed segments restart the statistics at each run start (the final state is the
//! one at the row's last valid token). The returned [`NormState`] `(count, mean, var)` continues a
//! sequence exactly.
//!
//! Depends on rax-core and `segments`.

use crate::segments::{last_valid_index, SegmentMetadata};
use rax_core::autodiff::stop_gradient;
use rax_core::{DType, Error, Result, Sensitive, Tensor};
use rax_macros::Tree;

/// Carried statistics: i32 `count [B]` (tokens seen), f32 `mean [B, G]`, f32 `var [B, G]`.
#[derive(Clone, Debug, Tree)]
pub struct NormState {
    /// Tokens seen per row.
    pub count: Tensor,
    /// Running mean per group.
    pub mean: Tensor,
    /// Running population variance per group.
    pub var: Tensor,
}

/// TimestepNorm parameters.
#[derive(Clone, Debug, Tree)]
pub struct TimestepNorm {
    /// Plus-one scale `[F]`.
    pub weight: Sensitive<Tensor>,
    /// Bias `[F]`.
    pub bias: Sensitive<Tensor>,
    /// Learned prior mean `[G]` (with `prior_count > 0`).
    pub prior_mean: Option<Sensitive<Tensor>>,
    /// Learned prior log-variance `[G]` (with `prior_count > 0`).
    pub prior_logv: Option<Sensitive<Tensor>>,
    /// Number of groups G.
    #[tree(static)]
    pub num_groups: usize,
    /// Observations the prior counts for.
    #[tree(static)]
    pub prior_count: i64,
    /// Added to the variance.
    #[tree(static)]
    pub eps: f64,
}

/// Chan summary of an interval: count (i32, `[.., 1]`), mean and m2 (f32, `[.., G]`).
#[derive(Clone)]
struct Summary {
    count: Tensor,
    mean: Tensor,
    m2: Tensor,
}

#[track_caller]
fn merge(a: &Summary, b: &Summary) -> Summary {
    let count = &a.count + &b.count;
    let ca = a.count.cast(DType::F32);
    let cb = b.count.cast(DType::F32);
    let cf = count
        .cast(DType::F32)
        .maximum(&Tensor::scalar_of(1.0, DType::F32));
    let delta = &b.mean - &a.mean;
    let mean = &a.mean + &delta * (&cb / &cf);
    let m2 = &a.m2 + &b.m2 + &delta * &delta * (&ca * &cb / &cf);
    let zero = Tensor::scalar_of(0.0, DType::I32);
    let (re, le) = (b.count.eq(&zero), a.count.eq(&zero));
    let pick = |x_a: &Tensor, x_b: &Tensor, merged: &Tensor| {
        Tensor::select(&re, x_a, &Tensor::select(&le, x_b, merged))
    };
    Summary {
        mean: pick(&a.mean, &b.mean, &mean),
        m2: pick(&a.m2, &b.m2, &m2),
        count,
    }
}

/// Inclusive prefix of `s` along axis 1 by log-depth (Hillis–Steele) merging; with `reset`
/// (bool `[B, L, 1]`) nothing before a reset survives it.
#[track_caller]
fn prefix_scan(s: &Summary, reset: Option<&Tensor>) -> Summary {
    let l = s.count.dims()[1];
    let mut s = s.clone();
    let mut r = reset.cloned();
    let mut off = 1;
    while off < l {
        let shift = |t: &Tensor| {
            let mut pd = t.dims();
            pd[1] = off;
            let head = Tensor::zeros(&pd, t.dtype());
            Tensor::concat(&[head, t.slice_axis(1, 0, l - off)], 1)
        };
        let left = Summary {
            count: shift(&s.count),
            mean: shift(&s.mean),
            m2: shift(&s.m2),
        };
        let merged = merge(&left, &s);
        s = match &r {
            Some(rr) => {
                let keep = |cur: &Tensor, m: &Tensor| Tensor::select(rr, cur, m);
                let out = Summary {
                    count: keep(&s.count, &merged.count),
                    mean: keep(&s.mean, &merged.mean),
                    m2: keep(&s.m2, &merged.m2),
                };
                r = Some(rr.or(&shift(rr)));
                out
            }
            None => merged,
        };
        off *= 2;
    }
    s
}

impl TimestepNorm {
    /// A fresh layer (weight and bias zeros; priors zeros when `prior_count > 0`). Errors on
    /// a group count that does not divide `features` or a non-positive `eps`.
    pub fn init(
        features: usize,
        groups: usize,
        prior_count: i64,
        eps: f64,
    ) -> Result<TimestepNorm> {
        if groups == 0 || !features.is_multiple_of(groups) {
            return Err(Error::arg(
                "TimestepNorm",
                format!("num_features ({features}) must be divisible by num_groups ({groups})"),
            ));
        }
        if !(eps.is_finite() && eps > 0.0) || prior_count < 0 {
            return Err(Error::arg(
                "TimestepNorm",
                format!(
                    "eps must be finite and positive ({eps}) and prior_count >= 0 ({prior_count})"
                ),
            ));
        }
        if groups == features && prior_count <= 1 {
            return Err(Error::arg(
                "TimestepNorm",
                "featurewise TimestepNorm (num_groups == num_features) requires prior_count > 1",
            ));
        }
        let z = |n| Sensitive(Tensor::zeros(&[n], DType::F32));
        Ok(TimestepNorm {
            weight: z(features),
            bias: z(features),
            prior_mean: (prior_count > 0).then(|| z(groups)),
            prior_logv: (prior_count > 0).then(|| z(groups)),
            num_groups: groups,
            prior_count,
            eps,
        })
    }

    /// The initial state of a batch: the learned prior, or count 0, mean 0, var 1.
    #[track_caller]
    pub fn prior_state(&self, batch: usize) -> NormState {
        let g = self.num_groups;
        let count = Tensor::full(&[batch], self.prior_count as f64, DType::I32);
        let (mean, var) = match (&self.prior_mean, &self.prior_logv) {
            (Some(m), Some(v)) => (
                m.0.cast(DType::F32)
                    .reshape(&[1, g])
                    .broadcast_to(&[batch, g]),
                v.0.cast(DType::F32)
                    .exp()
                    .reshape(&[1, g])
                    .broadcast_to(&[batch, g]),
            ),
            _ => (
                Tensor::zeros(&[batch, g], DType::F32),
                Tensor::full(&[batch, g], 1.0, DType::F32),
            ),
        };
        NormState { count, mean, var }
    }

    /// Normalises `x [B, L, F]` (f32 or bf16) from `state` (default: the prior). `mask [B, L]`
    /// marks valid tokens; `segments` restarts statistics at run starts (not with a state).
    /// Returns the output in x's dtype and the final state.
    #[track_caller]
    pub fn apply(
        &self,
        x: &Tensor,
        state: Option<&NormState>,
        mask: Option<&Tensor>,
        segments: Option<&SegmentMetadata>,
    ) -> (Tensor, NormState) {
        let site = rax_core::CallSite::here();
        let dims = x.dims();
        let g = self.num_groups;
        let (b, l, f) = match dims[..] {
            [b, l, f]
                if g > 0
                    && f.is_multiple_of(g)
                    && Some(f) == self.weight.0.dims().first().copied() =>
            {
                (b, l, f)
            }
            _ => {
                let e = Error::shape(
                    "TimestepNorm::apply",
                    format!(
                        "expects x [B, L, F] with F = {} features",
                        self.weight.0.dims().first().copied().unwrap_or(0)
                    ),
                    &[x.aval()],
                );
                let t = rax_core::trace::apply_error(e, x.aval(), site);
                return (t, self.prior_state(0));
            }
        };
        let gs = f / g;
        let prior = self.prior_state(b);
        let initial = match state {
            Some(s) => NormState {
                count: s.count.cast(DType::I32),
                mean: s.mean.cast(DType::F32),
                var: s.var.cast(DType::F32),
            },
            None => prior.clone(),
        };
        if l == 0 {
            return (x.clone(), initial);
        }
        let mut valid = mask.map(|m| m.cast(DType::Bool));
        if let Some(meta) = segments {
            valid = Some(match valid {
                Some(v) => v.and(&meta.valid),
                None => meta.valid.clone(),
            });
        }
        let xg = x.cast(DType::F32).reshape(&[b, l, g, gs]);
        let zero = Tensor::scalar_of(0.0, DType::F32);
        let mg = match &valid {
            Some(v) => Tensor::select(&v.reshape(&[b, l, 1, 1]), &xg, &zero),
            None => xg,
        };
        let bmean = mg.mean(&[3]);
        let c = &mg - bmean.reshape(&[b, l, g, 1]);
        let bvar = (&c * &c).mean(&[3]);
        let (cnt, cmean, cvar) = if valid.is_none() && state.is_none() && self.prior_count == 0 {
            // Shifted cumulative moments (the fresh unmasked path).
            let first = bmean.slice_axis(1, 0, 1).reshape(&[b, g]);
            let has = initial
                .count
                .gt(&Tensor::scalar_of(0.0, DType::I32))
                .reshape(&[b, 1]);
            let anchor = stop_gradient(&Tensor::select(&has, &initial.mean, &first));
            let sm = &bmean - anchor.reshape(&[b, 1, g]);
            let ss = &bvar + &sm * &sm;
            let pf = sm.cumsum(1, false);
            let ps = ss.cumsum(1, false);
            let icf = initial.count.cast(DType::F32).reshape(&[b, 1]);
            let ioff = &initial.mean - &anchor;
            let ifirst = &icf * &ioff;
            let isecond = &icf * (&initial.var + &ioff * &ioff);
            let steps = Tensor::iota(&[1, l, 1], 1, DType::I32) + 1;
            let count = initial.count.reshape(&[b, 1, 1]) + steps;
            let cf = count.cast(DType::F32);
            let off = (ifirst.reshape(&[b, 1, g]) + pf) / &cf;
            let mean = anchor.reshape(&[b, 1, g]) + &off;
            let var = (isecond.reshape(&[b, 1, g]) + ps) / &cf - &off * &off;
            (count, mean, var)
        } else {
            let sv = valid
                .clone()
                .unwrap_or_else(|| Tensor::full(&[b, l], 1.0, DType::Bool));
            let sv3 = sv.reshape(&[b, l, 1]);
            let tok = Summary {
                count: sv3.cast(DType::I32),
                mean: Tensor::select(&sv3, &bmean, &zero),
                m2: Tensor::select(&sv3, &bvar, &zero),
            };
            let reset = segments.map(|m| m.boundaries.reshape(&[b, l, 1]));
            let prefix = prefix_scan(&tok, reset.as_ref());
            let ic = initial.count.reshape(&[b, 1, 1]);
            let init = Summary {
                count: ic.clone(),
                mean: initial.mean.reshape(&[b, 1, g]),
                m2: initial.var.reshape(&[b, 1, g]) * ic.cast(DType::F32),
            };
            let cum = merge(&init, &prefix);
            let pos = cum.count.gt(&Tensor::scalar_of(0.0, DType::I32));
            let cf = cum
                .count
                .cast(DType::F32)
                .maximum(&Tensor::scalar_of(1.0, DType::F32));
            let var = Tensor::select(&pos, &(&cum.m2 / &cf), &initial.var.reshape(&[b, 1, g]));
            (cum.count, cum.mean, var)
        };
        let centered = &mg - cmean.reshape(&[b, l, g, 1]);
        let normed = centered * (cvar.reshape(&[b, l, g, 1]) + self.eps).rsqrt();
        let scale = (&self.weight.0 + 1.0).reshape(&[g, gs]);
        let mut out = normed * scale + self.bias.0.reshape(&[g, gs]);
        if let Some(v) = &valid {
            out = Tensor::select(&v.reshape(&[b, l, 1, 1]), &out, &zero);
        }
        let y = out.reshape(&[b, l, f]).cast(x.dtype());
        let final_state = match segments {
            None => NormState {
                count: cnt.slice_axis(1, l - 1, l).reshape(&[b]),
                mean: cmean.slice_axis(1, l - 1, l).reshape(&[b, g]),
                var: cvar.slice_axis(1, l - 1, l).reshape(&[b, g]),
            },
            Some(_) => {
                let v = valid
                    .clone()
                    .unwrap_or_else(|| Tensor::full(&[b, l], 1.0, DType::Bool));
                let last = last_valid_index(&v);
                let has = last.ge(&Tensor::scalar_of(0.0, DType::I32));
                let oh = last
                    .maximum(&Tensor::scalar_of(0.0, DType::I32))
                    .one_hot(l, DType::F32)
                    .reshape(&[b, l, 1]);
                let pick = |t: &Tensor| (t * &oh).sum(&[1]);
                let c = pick(&cnt.cast(DType::F32))
                    .reshape(&[b])
                    .round()
                    .cast(DType::I32);
                NormState {
                    count: Tensor::select(&has, &c, &prior.count),
                    mean: Tensor::select(&has.reshape(&[b, 1]), &pick(&cmean), &prior.mean),
                    var: Tensor::select(&has.reshape(&[b, 1]), &pick(&cvar), &prior.var),
                }
            }
        };
        (y, final_state)
    }
}
