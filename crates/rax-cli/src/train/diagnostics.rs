//! Diagnostics of a run, computed from per-leaf statistics the step program returns (sum of
//! squared gradients, sum of squared updates, sum of squared parameters, elements moved,
//! largest |update|): per parameter group the update-to-parameter RMS ratio, gradient norm and
//! fraction of elements moved; non-finite steps (skipped, counted, first offending leaves
//! named, a stop after K in a row); loss spikes; and at the end the frozen parameters (leaves
//! none of whose elements changed) with the cause in words, in the end-of-run report table.

use rax_core::DType;
use serde::{Deserialize, Serialize};

/// Statistics per leaf in the step's diagnostics vector.
pub const PER_LEAF: usize = 5;

/// What the diagnostics know about one leaf.
#[derive(Clone, Debug)]
pub struct LeafDesc {
    /// Dotted path.
    pub path: String,
    /// Elements.
    pub numel: usize,
    /// Storage dtype.
    pub dtype: DType,
    /// Index of its group.
    pub group: usize,
}

/// Group names and optimizers, for reports.
#[derive(Clone, Debug)]
pub struct GroupDesc {
    /// Name.
    pub name: String,
    /// Optimizer name.
    pub optimizer: String,
}

/// Per-group statistics of one step.
#[derive(Clone, Debug, Serialize)]
pub struct GroupStats {
    /// Group name.
    pub group: String,
    /// RMS(update) / RMS(param).
    pub update_param_rms_ratio: f64,
    /// Gradient norm over the group's leaves.
    pub grad_norm: f64,
    /// Fraction of the group's elements whose stored value changed in the step.
    pub frac_moved: f64,
}

/// Accumulated state (saved in checkpoints, so a resumed run reports the same).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DiagState {
    /// Steps skipped for non-finite values.
    pub skipped: u64,
    /// Consecutive skips up to now.
    pub consecutive: u64,
    /// Steps flagged as loss spikes.
    pub spikes: Vec<u64>,
    /// Exponential mean of recent losses (f64 bits, exact through JSON).
    pub loss_ema_bits: Option<u64>,
    /// Finite steps seen (for the spike warm-up).
    pub finite_steps: u64,
    /// Per leaf: largest |update| over the run (f32 bits).
    pub max_update_bits: Vec<u32>,
    /// Per leaf: a non-zero gradient was seen.
    pub grad_seen: Vec<bool>,
    /// The last skip's offending leaves, in words.
    pub last_nonfinite: Option<String>,
}

/// What one step's statistics say.
pub enum StepVerdict {
    /// A normal step.
    Ok {
        /// The loss is a spike.
        spike: bool,
    },
    /// Skipped: non-finite values, with the offenders named.
    Skipped(String),
}

impl DiagState {
    /// A fresh state for `n` leaves.
    pub fn new(n: usize) -> DiagState {
        DiagState {
            max_update_bits: vec![0; n],
            grad_seen: vec![false; n],
            ..DiagState::default()
        }
    }

    /// Takes one step's loss, finiteness and per-leaf statistics.
    pub fn observe(
        &mut self,
        step: u64,
        loss: f32,
        finite: bool,
        stats: &[f32],
        leaves: &[LeafDesc],
        spike_factor: f64,
    ) -> StepVerdict {
        if !finite {
            self.skipped += 1;
            self.consecutive += 1;
            let bad: Vec<&str> = leaves
                .iter()
                .enumerate()
                .filter(|(i, _)| !stats.get(i * PER_LEAF).is_some_and(|g| g.is_finite()))
                .map(|(_, l)| l.path.as_str())
                .collect();
            let mut what = Vec::new();
            if !loss.is_finite() {
                what.push(format!("the loss is {loss}"));
            }
            if !bad.is_empty() {
                let first: Vec<&str> = bad.iter().take(5).copied().collect();
                what.push(format!(
                    "non-finite gradients in {} leaves, first: {}",
                    bad.len(),
                    first.join(", ")
                ));
            }
            let msg = format!("step {step} skipped: {}", what.join("; "));
            self.last_nonfinite = Some(msg.clone());
            return StepVerdict::Skipped(msg);
        }
        self.consecutive = 0;
        for (i, _) in leaves.iter().enumerate() {
            let g = stats.get(i * PER_LEAF).copied().unwrap_or(0.0);
            let mu = stats.get(i * PER_LEAF + 4).copied().unwrap_or(0.0);
            if g != 0.0 {
                self.grad_seen[i] = true;
            }
            if mu > f32::from_bits(self.max_update_bits[i]) {
                self.max_update_bits[i] = mu.to_bits();
            }
        }
        let l = loss as f64;
        let ema = self.loss_ema_bits.map(f64::from_bits);
        let spike = self.finite_steps >= 10 && ema.is_some_and(|m| l > spike_factor * m);
        if spike {
            self.spikes.push(step);
        } else {
            // Spikes do not move the mean they are measured against.
            let m = ema.map_or(l, |m| 0.9 * m + 0.1 * l);
            self.loss_ema_bits = Some(m.to_bits());
        }
        self.finite_steps += 1;
        StepVerdict::Ok { spike }
    }
}

/// Per-group statistics of one step's vector.
pub fn group_stats(stats: &[f32], leaves: &[LeafDesc], groups: &[GroupDesc]) -> Vec<GroupStats> {
    groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let (mut gs, mut us, mut ps, mut mv, mut n) = (0.0, 0.0, 0.0, 0.0, 0usize);
            for (i, l) in leaves.iter().enumerate().filter(|(_, l)| l.group == gi) {
                let s = &stats[i * PER_LEAF..(i + 1) * PER_LEAF];
                gs += s[0] as f64;
                us += s[1] as f64;
                ps += s[2] as f64;
                mv += s[3] as f64;
                n += l.numel;
            }
            GroupStats {
                group: g.name.clone(),
                update_param_rms_ratio: if ps > 0.0 { (us / ps).sqrt() } else { f64::NAN },
                grad_norm: gs.sqrt(),
                frac_moved: mv / n.max(1) as f64,
            }
        })
        .collect()
}

/// The spacing of `dtype` at magnitude `m` (distance to the next representable value up).
pub fn spacing(dtype: DType, m: f64) -> f64 {
    let mant = match dtype {
        DType::BF16 => 7,
        DType::F16 => 10,
        DType::F64 => 52,
        _ => 23,
    };
    let e = if m > 0.0 { m.log2().floor() } else { -126.0 };
    2f64.powf(e - mant as f64)
}

/// Why a leaf that never changed is frozen, in words.
pub fn frozen_cause(dtype: DType, grad_seen: bool, max_update: f32, magnitude: f64) -> String {
    if !grad_seen {
        return "no gradient reaches it: its gradient was exactly zero at every step".into();
    }
    if max_update == 0.0 {
        return "its update was exactly zero at every step (zero learning rate or a masked group)"
            .into();
    }
    let half = spacing(dtype, magnitude) / 2.0;
    let u = max_update as f64;
    if u < half {
        format!(
            "{dtype} storage: the update (at most {u:.2e}) is below half the {dtype} spacing \
             ({half:.2e}) at the parameter's magnitude (|x| ~ {magnitude:.3}), so every step \
             rounds back to the stored value"
        )
    } else {
        format!(
            "its updates (at most {u:.2e}) rounded away in {dtype} storage (half spacing \
             {half:.2e} at |x| ~ {magnitude:.3})"
        )
    }
}

/// One frozen leaf.
#[derive(Clone, Debug, Serialize)]
pub struct Frozen {
    /// Path.
    pub path: String,
    /// Group name.
    pub group: String,
    /// Cause in words.
    pub cause: String,
}

/// The end-of-run report table: per group, leaves and elements, frozen leaves, and the last
/// step's statistics; then the frozen leaves with their causes and the run's counters.
pub fn report(
    leaves: &[LeafDesc],
    groups: &[GroupDesc],
    last: &[GroupStats],
    frozen: &[Frozen],
    st: &DiagState,
    steps: u64,
) -> String {
    let mut out = String::new();
    let w = groups
        .iter()
        .map(|g| g.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    out.push_str(&format!(
        "{:<w$}  {:<9} {:>6} {:>10} {:>10}  {:>14} {:>11} {:>10}\n",
        "group", "optimizer", "leaves", "params", "frozen", "upd/param RMS", "grad norm", "moved"
    ));
    let (mut tl, mut tp, mut tf) = (0, 0, 0);
    for (gi, g) in groups.iter().enumerate() {
        let ls: Vec<&LeafDesc> = leaves.iter().filter(|l| l.group == gi).collect();
        let n: usize = ls.iter().map(|l| l.numel).sum();
        let f = frozen.iter().filter(|x| x.group == g.name).count();
        let s = last.iter().find(|s| s.group == g.name);
        out.push_str(&format!(
            "{:<w$}  {:<9} {:>6} {:>10} {:>10}  {:>14} {:>11} {:>10}\n",
            g.name,
            g.optimizer,
            ls.len(),
            n,
            format!("{f}/{}", ls.len()),
            s.map_or("-".into(), |s| format!("{:.3e}", s.update_param_rms_ratio)),
            s.map_or("-".into(), |s| format!("{:.3e}", s.grad_norm)),
            s.map_or("-".into(), |s| format!("{:.3}", s.frac_moved)),
        ));
        tl += ls.len();
        tp += n;
        tf += f;
    }
    out.push_str(&format!(
        "{:<w$}  {:<9} {:>6} {:>10} {:>10}\n",
        "total",
        "",
        tl,
        tp,
        format!("{tf}/{tl}")
    ));
    if frozen.is_empty() {
        out.push_str(&format!(
            "frozen parameters: none ({tl} leaves all moved during {steps} steps)\n"
        ));
    } else {
        out.push_str(&format!(
            "frozen parameters: {tf}/{tl} leaves never changed during {steps} steps:\n"
        ));
        for f in frozen {
            out.push_str(&format!("  {} ({}): {}\n", f.path, f.group, f.cause));
        }
    }
    out.push_str(&format!(
        "non-finite steps skipped: {}{}\n",
        st.skipped,
        st.last_nonfinite
            .as_ref()
            .map_or(String::new(), |m| format!(" (last: {m})"))
    ));
    out.push_str(&format!(
        "loss spikes: {}{}\n",
        st.spikes.len(),
        if st.spikes.is_empty() {
            String::new()
        } else {
            format!(
                " at steps {}",
                st.spikes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(path: &str, group: usize) -> LeafDesc {
        LeafDesc {
            path: path.into(),
            numel: 4,
            dtype: DType::BF16,
            group,
        }
    }

    #[test]
    fn bf16_freeze_is_explained_by_the_spacing() {
        // bf16 has 8 significand bits: spacing 2^-7 at 1.0, half of it 3.9e-3 > AdamW's 3e-4.
        assert_eq!(spacing(DType::BF16, 1.0), 2f64.powi(-7));
        let c = frozen_cause(DType::BF16, true, 3e-4, 1.0);
        assert!(
            c.contains("below half the bf16 spacing") && c.contains("3.91e-3"),
            "{c}"
        );
        let c = frozen_cause(DType::F32, false, 0.0, 1.0);
        assert!(c.contains("no gradient reaches it"), "{c}");
    }

    #[test]
    fn nonfinite_steps_name_leaves_and_spikes_are_flagged() {
        let leaves = vec![leaf("a", 0), leaf("b.c", 0)];
        let mut st = DiagState::new(2);
        let mut stats = vec![1.0f32; 10];
        stats[5] = f32::NAN;
        match st.observe(1, 2.0, false, &stats, &leaves, 2.0) {
            StepVerdict::Skipped(m) => {
                assert!(m.contains("first: b.c") && !m.contains(" a"), "{m}")
            }
            StepVerdict::Ok { .. } => panic!("not skipped"),
        }
        assert_eq!((st.skipped, st.consecutive), (1, 1));
        stats[5] = 1.0;
        for s in 2..20 {
            assert!(matches!(
                st.observe(s, 2.0, true, &stats, &leaves, 2.0),
                StepVerdict::Ok { spike: false }
            ));
        }
        assert_eq!(st.consecutive, 0);
        assert!(matches!(
            st.observe(20, 4.5, true, &stats, &leaves, 2.0),
            StepVerdict::Ok { spike: true }
        ));
        assert_eq!(st.spikes, vec![20]);
        let gs = group_stats(
            &stats,
            &leaves,
            &[GroupDesc {
                name: "g".into(),
                optimizer: "adamw".into(),
            }],
        );
        assert_eq!(gs[0].frac_moved, 2.0 / 8.0);
        assert_eq!(gs[0].grad_norm, 2f64.sqrt());
    }
}
