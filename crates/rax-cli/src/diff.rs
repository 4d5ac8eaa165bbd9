//! `rax diff A B`: which parameters moved between two checkpoints of one model, per group —
//! the "49/810 frozen" table a frozen-norm post-mortem needs, made from the checkpoints
//! alone. A leaf is frozen when none of its elements differs between A and B (compared bit
//! for bit in the stored dtype, so a bf16 weight whose updates all rounded away is frozen).
//!
//! Both checkpoints are loaded against their own configs (see `inspect::load`), must hold
//! the same tree (paths, shapes and dtypes), and are grouped by A's optimizer groups.

use crate::inspect::{self, Loaded};
use clap::Args;
use rax_core::{Error, Literal, Result};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `rax diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier checkpoint (checkpoint directory, or run directory for its newest).
    pub a: PathBuf,
    /// The later checkpoint.
    pub b: PathBuf,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// How one leaf changed.
#[derive(Clone, Debug, Serialize)]
pub struct LeafDiff {
    /// Dotted path.
    pub path: String,
    /// Group name.
    pub group: String,
    /// Storage dtype.
    pub dtype: String,
    /// Elements.
    pub numel: usize,
    /// Elements whose stored bits differ.
    pub moved: usize,
    /// RMS(B − A) / RMS(A) (0 when nothing moved; infinite when A is all zeros and B is not).
    pub rel_rms_change: f64,
}

/// Per-group summary.
#[derive(Clone, Debug, Serialize)]
pub struct GroupDiff {
    /// Group name.
    pub group: String,
    /// Optimizer name.
    pub optimizer: String,
    /// Leaves in the group.
    pub leaves: usize,
    /// Leaves none of whose elements changed.
    pub frozen: usize,
    /// Fraction of the group's elements that changed.
    pub frac_elements_moved: f64,
    /// RMS(B − A) / RMS(A) over the group.
    pub rel_rms_change: f64,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// Checkpoint A (directory) and its step.
    pub a: String,
    /// Step of A.
    pub a_step: u64,
    /// Checkpoint B.
    pub b: String,
    /// Step of B.
    pub b_step: u64,
    /// Per group.
    pub groups: Vec<GroupDiff>,
    /// Paths of the frozen leaves.
    pub frozen_params: Vec<String>,
    /// Per leaf.
    pub leaves: Vec<LeafDiff>,
}

fn leaf_diff(a: &Literal, b: &Literal) -> (usize, f64, f64) {
    let (ab, bb) = (a.to_bytes(), b.to_bytes());
    let w = a.dtype().size_bytes().max(1);
    let moved = ab
        .chunks(w)
        .zip(bb.chunks(w))
        .filter(|(x, y)| x != y)
        .count();
    let (xa, xb) = (a.to_f64_vec(), b.to_f64_vec());
    let d2: f64 = xa.iter().zip(&xb).map(|(x, y)| (y - x) * (y - x)).sum();
    let a2: f64 = xa.iter().map(|x| x * x).sum();
    (moved, d2, a2)
}

fn ratio(d2: f64, a2: f64) -> f64 {
    if d2 == 0.0 {
        0.0
    } else {
        (d2 / a2).sqrt()
    }
}

/// Compares two loaded checkpoints.
pub fn diff(a: &Loaded, b: &Loaded) -> Result<Diff> {
    let what = || format!("rax diff {} {}", a.dir.display(), b.dir.display());
    if a.leaves.len() != b.leaves.len() {
        return Err(Error::data(
            &what(),
            format!(
                "A has {} parameter leaves and B has {}: checkpoints of different models",
                a.leaves.len(),
                b.leaves.len()
            ),
        ));
    }
    let mut leaves = Vec::new();
    let mut acc = vec![(0usize, 0usize, 0usize, 0.0f64, 0.0f64); a.groups.len()];
    for (la, lb) in a.leaves.iter().zip(&b.leaves) {
        if la.path != lb.path || la.value.aval() != lb.value.aval() {
            return Err(Error::data(
                &what(),
                format!(
                    "leaf `{}` {} in A but `{}` {} in B: checkpoints of different models",
                    la.path,
                    la.value.aval(),
                    lb.path,
                    lb.value.aval()
                ),
            ));
        }
        let (moved, d2, a2) = leaf_diff(&la.value, &lb.value);
        let g = &mut acc[la.group];
        g.0 += 1;
        g.1 += usize::from(moved == 0);
        g.2 += moved;
        g.3 += d2;
        g.4 += a2;
        leaves.push(LeafDiff {
            path: la.path.clone(),
            group: a.groups[la.group].0.clone(),
            dtype: la.value.dtype().to_string(),
            numel: la.value.numel(),
            moved,
            rel_rms_change: ratio(d2, a2),
        });
    }
    let groups = a
        .groups
        .iter()
        .enumerate()
        .map(|(gi, (name, opt))| {
            let n: usize = a
                .leaves
                .iter()
                .filter(|l| l.group == gi)
                .map(|l| l.value.numel())
                .sum();
            let (ls, frozen, moved, d2, a2) = acc[gi];
            GroupDiff {
                group: name.clone(),
                optimizer: opt.clone(),
                leaves: ls,
                frozen,
                frac_elements_moved: if n == 0 { 0.0 } else { moved as f64 / n as f64 },
                rel_rms_change: ratio(d2, a2),
            }
        })
        .collect();
    let frozen_params = leaves
        .iter()
        .filter(|l| l.moved == 0)
        .map(|l| l.path.clone())
        .collect();
    Ok(Diff {
        a: a.dir.display().to_string(),
        a_step: a.step,
        b: b.dir.display().to_string(),
        b_step: b.step,
        groups,
        frozen_params,
        leaves,
    })
}

/// The table of a comparison.
pub fn render(d: &Diff) -> String {
    let w = d
        .groups
        .iter()
        .map(|g| g.group.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{} (step {}) -> {} (step {})\n\n{:<w$}  {:<9} {:>10} {:>8} {:>14}\n",
        d.a, d.a_step, d.b, d.b_step, "group", "optimizer", "frozen", "moved", "rel RMS change"
    );
    let (mut tf, mut tl) = (0, 0);
    for g in &d.groups {
        out.push_str(&format!(
            "{:<w$}  {:<9} {:>10} {:>8.3} {:>14.3e}\n",
            g.group,
            g.optimizer,
            format!("{}/{}", g.frozen, g.leaves),
            g.frac_elements_moved,
            g.rel_rms_change
        ));
        tf += g.frozen;
        tl += g.leaves;
    }
    out.push_str(&format!(
        "{:<w$}  {:<9} {:>10}\n",
        "total",
        "",
        format!("{tf}/{tl}")
    ));
    if d.frozen_params.is_empty() {
        out.push_str(&format!("\nfrozen: none (all {tl} leaves moved)\n"));
    } else {
        out.push_str(&format!(
            "\nfrozen: {tf}/{tl} leaves are bit-identical in both checkpoints:\n"
        ));
        for l in d.leaves.iter().filter(|l| l.moved == 0) {
            out.push_str(&format!("  {} ({}, {})\n", l.path, l.group, l.dtype));
        }
    }
    out
}

/// Runs `rax diff`.
pub fn run(a: &DiffArgs) -> Result<()> {
    let d = diff(&inspect::load(&a.a)?, &inspect::load(&a.b)?)?;
    inspect::print_report("rax diff", a.json, &d, || render(&d))
}
