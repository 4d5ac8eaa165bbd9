//! Parameter groups: each leaf goes to the first group whose rule matches it (glob patterns
//! over dotted leaf paths, rank rules, sensitivity), and the optimizer is a `partition` of the
//! groups' optimizers behind an optional global-norm clip, each group's learning rate times the
//! run's schedule. A leaf no group matches, a group that matches nothing, or Muon on a leaf
//! that is not 2-D is an error naming the leaf or group.

use super::config::{GroupConfig, OptimizerConfig, OptimizerKind, ScheduleConfig, ScheduleKind};
use rax_core::{DType, Error, Result, Tensor};
use rax_optim::transform::{
    add_decayed_weights, scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_muon, trace,
};
use rax_optim::{
    chain, clip_by_global_norm, partition, with_master_weights, AdamConfig, Boxed,
    GradientTransformation, LeafMeta, Schedule,
};

/// Glob match of a dotted path: `*` matches within one segment, `**` any number of segments.
pub fn glob(pattern: &str, path: &str) -> bool {
    fn seg(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => seg(&p[1..], s) || (!s.is_empty() && seg(p, &s[1..])),
            (Some(a), Some(b)) if a == b => seg(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn segs(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => segs(&p[1..], s) || (!s.is_empty() && segs(p, &s[1..])),
            (Some(a), Some(b)) => seg(a.as_bytes(), b.as_bytes()) && segs(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = path.split('.').collect();
    segs(&p, &s)
}

/// True when the group's rule selects the leaf.
pub fn matches(g: &GroupConfig, m: &LeafMeta) -> bool {
    (g.paths.is_empty() || g.paths.iter().any(|p| glob(p, &m.path)))
        && !g.exclude.iter().any(|p| glob(p, &m.path))
        && g.ndim.is_none_or(|n| m.ndim() == n)
        && g.min_ndim.is_none_or(|n| m.ndim() >= n)
        && g.sensitive.is_none_or(|s| m.info.sensitive == s)
}

/// The group index of every leaf; errors for an unmatched leaf, an empty group or Muon on a
/// leaf that is not 2-D.
pub fn assign(groups: &[GroupConfig], meta: &[LeafMeta]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(meta.len());
    for m in meta {
        let g = groups.iter().position(|g| matches(g, m)).ok_or_else(|| {
            Error::arg(
                "optimizer.groups",
                format!(
                    "parameter `{}` (shape {:?}{}) matches no group; add a catch-all group \
                     (no `paths`) or widen a rule",
                    m.path,
                    m.dims,
                    if m.info.sensitive { ", sensitive" } else { "" }
                ),
            )
        })?;
        if groups[g].optimizer == OptimizerKind::Muon && m.ndim() != 2 {
            return Err(Error::arg(
                "optimizer.groups",
                format!(
                    "group `{}` uses muon, which needs 2-D parameters, but `{}` has shape {:?}; \
                     add `ndim = 2` to its rule",
                    groups[g].name, m.path, m.dims
                ),
            ));
        }
        out.push(g);
    }
    for (i, g) in groups.iter().enumerate() {
        if !out.contains(&i) {
            return Err(Error::arg(
                "optimizer.groups",
                format!(
                    "group `{}` matches no parameter (check its paths and shape rules)",
                    g.name
                ),
            ));
        }
    }
    Ok(out)
}

/// The schedule multiplier (1 at the peak) for a run of `steps`.
pub fn multiplier(s: &ScheduleConfig, steps: u64) -> Schedule {
    let warm = s.warmup as f64;
    let total = s.decay_steps.unwrap_or(steps).max(s.warmup + 1) as f64;
    let end = s.final_factor;
    let kind = s.kind;
    Schedule::new(move |c: &Tensor| {
        let t = c.cast(DType::F32);
        let one = Tensor::scalar_of(1.0, DType::F32);
        let w = if warm > 0.0 {
            let r = &(&t + 1.0) / warm;
            Tensor::select(&r.lt(&one), &r, &one)
        } else {
            one.clone()
        };
        let frac = &(&t - warm) / (total - warm);
        let zero = Tensor::scalar_of(0.0, DType::F32);
        let frac = Tensor::select(&frac.lt(&zero), &zero, &frac);
        let frac = Tensor::select(&frac.gt(&one), &one, &frac);
        let decay = match kind {
            ScheduleKind::Constant => one.clone(),
            ScheduleKind::Linear => &one + &(&frac * (end - 1.0)),
            ScheduleKind::WarmupCosine => {
                let cos = (&frac * std::f64::consts::PI).cos();
                &(&(&cos + 1.0) * (0.5 * (1.0 - end))) + end
            }
        };
        &w * &decay
    })
}

/// A group's learning rate schedule: `lr` x the multiplier.
pub fn group_lr(g: &GroupConfig, m: &Schedule) -> Schedule {
    let (lr, m) = (g.lr.0, m.clone());
    Schedule::new(move |c: &Tensor| &m.at(c) * lr)
}

fn group_transform(g: &GroupConfig, lr: Schedule, ns_dtype: DType) -> Boxed {
    let wd = g.weight_decay;
    match g.optimizer {
        OptimizerKind::Adamw | OptimizerKind::Adam => {
            let c = AdamConfig {
                b1: g.b1.unwrap_or(0.9),
                b2: g.b2.unwrap_or(0.999),
                ..AdamConfig::default()
            };
            if g.optimizer == OptimizerKind::Adam || wd == 0.0 {
                chain((scale_by_adam(c), scale_by_learning_rate(lr))).boxed()
            } else {
                chain((
                    scale_by_adam(c),
                    add_decayed_weights(wd, None),
                    scale_by_learning_rate(lr),
                ))
                .boxed()
            }
        }
        OptimizerKind::Lion => chain((
            scale_by_lion(g.b1.unwrap_or(0.9), g.b2.unwrap_or(0.99), DType::F32),
            add_decayed_weights(wd, None),
            scale_by_learning_rate(lr),
        ))
        .boxed(),
        OptimizerKind::Muon => chain((
            scale_by_muon(g.b1.unwrap_or(0.95), true, 5, ns_dtype),
            add_decayed_weights(wd, None),
            scale_by_learning_rate(lr),
        ))
        .boxed(),
        OptimizerKind::Sgd => match g.b1 {
            Some(m) if m > 0.0 => chain((trace(m, false), scale_by_learning_rate(lr))).boxed(),
            _ => chain((scale_by_learning_rate(lr),)).boxed(),
        },
    }
}

/// The whole optimizer for leaves `meta` (group of each leaf from [`assign`]).
pub fn build(
    o: &OptimizerConfig,
    sched: &ScheduleConfig,
    steps: u64,
    meta: &[LeafMeta],
    ns_dtype: DType,
) -> Result<(Boxed, Vec<usize>)> {
    let assignment = assign(&o.groups, meta)?;
    let m = multiplier(sched, steps);
    let transforms: Vec<(String, Boxed)> = o
        .groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                group_transform(g, group_lr(g, &m), ns_dtype),
            )
        })
        .collect();
    // Labels by leaf path (the partition sees the same metadata in the same order).
    let by_path: std::collections::HashMap<String, String> = meta
        .iter()
        .zip(&assignment)
        .map(|(m, &g)| (m.path.clone(), o.groups[g].name.clone()))
        .collect();
    let part = partition(transforms, move |m: &LeafMeta| {
        by_path.get(&m.path).cloned().unwrap_or_default()
    });
    let inner: Boxed = match o.clip_global_norm {
        Some(c) => chain((clip_by_global_norm(c.0), part)).boxed(),
        None => part.boxed(),
    };
    let opt = if o.master_weights {
        with_master_weights(inner).boxed()
    } else {
        inner
    };
    Ok((opt, assignment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rax_core::LeafInfo;

    fn meta(path: &str, dims: &[usize], sensitive: bool) -> LeafMeta {
        LeafMeta {
            path: path.into(),
            info: LeafInfo { sensitive },
            dims: dims.to_vec(),
            dtype: DType::F32,
        }
    }

    fn group(name: &str, kind: OptimizerKind, paths: &[&str], ndim: Option<usize>) -> GroupConfig {
        GroupConfig {
            name: name.into(),
            optimizer: kind,
            lr: super::super::config::Positive(1e-3),
            weight_decay: 0.0,
            b1: None,
            b2: None,
            paths: paths.iter().map(|s| s.to_string()).collect(),
            exclude: vec![],
            ndim,
            min_ndim: None,
            sensitive: None,
        }
    }

    #[test]
    fn glob_segments() {
        assert!(glob("layers.*.wqkv", "layers.0.wqkv"));
        assert!(!glob("layers.*.wqkv", "layers.0.attn.wqkv"));
        assert!(glob("layers.**.wqkv", "layers.0.attn.wqkv"));
        assert!(glob("**.*norm", "layers.3.mlp_norm"));
        assert!(glob("**", "embed"));
        assert!(!glob("embed", "embedding"));
        assert!(glob("w*", "wo"));
    }

    #[test]
    fn first_matching_group_wins_and_errors_name_the_leaf() {
        let gs = vec![
            group("emb", OptimizerKind::Adamw, &["embed"], None),
            group("mat", OptimizerKind::Muon, &[], Some(2)),
            group("rest", OptimizerKind::Adamw, &[], None),
        ];
        let ms = vec![
            meta("embed", &[8, 4], false),
            meta("layers.0.w1", &[4, 16], false),
            meta("layers.0.attn_norm", &[4], true),
        ];
        assert_eq!(assign(&gs, &ms).unwrap(), vec![0, 1, 2]);
        let e = assign(&gs[..2], &ms).unwrap_err().to_string();
        assert!(
            e.contains("layers.0.attn_norm") && e.contains("matches no group"),
            "{e}"
        );
        let gs2 = vec![group("mat", OptimizerKind::Muon, &[], None)];
        let e = assign(&gs2, &ms).unwrap_err().to_string();
        assert!(
            e.contains("needs 2-D") && e.contains("layers.0.attn_norm"),
            "{e}"
        );
        let gs3 = vec![
            group("all", OptimizerKind::Adamw, &[], None),
            group("never", OptimizerKind::Adamw, &["nothing"], None),
        ];
        let e = assign(&gs3, &ms).unwrap_err().to_string();
        assert!(e.contains("`never` matches no parameter"), "{e}");
    }

    #[test]
    fn warmup_cosine_multiplier() {
        let s = ScheduleConfig {
            kind: ScheduleKind::WarmupCosine,
            warmup: 4,
            final_factor: 0.1,
            decay_steps: Some(14),
        };
        let m = multiplier(&s, 100);
        // f32 schedule arithmetic: values within a few ulps of the exact ones.
        assert!((m.value(0).unwrap() - 0.25).abs() < 1e-6);
        assert!((m.value(3).unwrap() - 1.0).abs() < 1e-6);
        assert!((m.value(4).unwrap() - 1.0).abs() < 1e-6);
        assert!((m.value(9).unwrap() - 0.55).abs() < 1e-6);
        assert!((m.value(14).unwrap() - 0.1).abs() < 1e-6);
        assert!((m.value(50).unwrap() - 0.1).abs() < 1e-6);
    }
}
