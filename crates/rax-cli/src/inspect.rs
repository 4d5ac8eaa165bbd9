//! `rax inspect CHECKPOINT`: the parameter tree of a `rax train` checkpoint (a checkpoint
//! directory, or a run directory for its newest) with each leaf's shape, dtype, group and
//! value statistics, the sensitive-parameter audit (sensitive leaves not stored in f32, and
//! leaves narrower than the run's policy) and per-group statistics.
//!
//! The checkpoint's own config (in its manifest) rebuilds the model's tree, so leaves carry
//! their declared facts (sensitive or not) and the optimizer groups of the run; the tensors
//! are checked against it leaf by leaf, as a resume would.

use crate::train::checkpoint as ckpt;
use crate::train::config::{self, RunConfig};
use crate::train::model::{with_model, ModelVisitor, TrainModel};
use crate::train::run::{describe, initial_params};
use clap::Args;
use rax_core::precision::{audit, audit_policy};
use rax_core::tree::leaves_with_info;
use rax_core::{DType, Error, Literal, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `rax inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A checkpoint directory (`RUN/checkpoints/step_NNNNNNNN`) or a run directory (its newest).
    pub checkpoint: PathBuf,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// One parameter leaf of a loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// Dotted path.
    pub path: String,
    /// Group index in the run's optimizer groups.
    pub group: usize,
    /// Declared precision-sensitive.
    pub sensitive: bool,
    /// The stored values.
    pub value: Literal,
}

/// A checkpoint's parameters with the run's groups.
pub struct Loaded {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Optimizer steps done.
    pub step: u64,
    /// The run config it was written with.
    pub cfg: RunConfig,
    /// Group names and their optimizers.
    pub groups: Vec<(String, String)>,
    /// The leaves, in tree order.
    pub leaves: Vec<Leaf>,
    /// Sensitive leaves not in f32, as `path: dtype`.
    pub sensitive_not_f32: Vec<String>,
    /// Leaves narrower than the policy allows (sensitive ones included), as `path: dtype`.
    pub narrower_than_policy: Vec<String>,
}

struct Load {
    dir: PathBuf,
    cfg: RunConfig,
    stored: std::collections::BTreeMap<String, Literal>,
}

impl ModelVisitor for Load {
    type Out = Result<(Vec<Leaf>, Vec<String>, Vec<String>, Vec<(String, String)>)>;
    fn visit<M: TrainModel>(self, model: M) -> Self::Out {
        let template = initial_params(&model, &self.cfg)?;
        let params = ckpt::fill(&template, &self.stored, "params", &self.dir)?;
        let (_, descs, gdesc) = describe(&self.cfg, &params)?;
        let policy = self.cfg.policy.policy()?;
        let fmt = |v: Vec<(String, DType)>| -> Vec<String> {
            v.into_iter().map(|(p, d)| format!("{p}: {d}")).collect()
        };
        let sens = fmt(audit(&params));
        let narrow = fmt(audit_policy(&params, &policy));
        let mut leaves = Vec::new();
        for ((path, t, info), d) in leaves_with_info(&params).into_iter().zip(descs) {
            leaves.push(Leaf {
                path,
                group: d.group,
                sensitive: info.sensitive,
                value: t.to_literal()?,
            });
        }
        let groups = gdesc.into_iter().map(|g| (g.name, g.optimizer)).collect();
        Ok((leaves, sens, narrow, groups))
    }
}

/// Loads a checkpoint's parameters, checked against the tree of the model its config names.
pub fn load(path: &Path) -> Result<Loaded> {
    let dir = ckpt::resolve(path)?;
    let (m, mut files) = ckpt::read(&dir)?;
    let cfg = config::parse(&m.config, &format!("{} (manifest config)", dir.display()))?;
    let stored = files
        .remove("params.safetensors")
        .ok_or_else(|| Error::Io {
            path: dir.display().to_string(),
            msg: "the checkpoint has no params.safetensors".into(),
        })?;
    let compute = cfg.policy.policy()?.compute;
    let (leaves, sensitive_not_f32, narrower_than_policy, groups) = with_model(
        &cfg,
        compute,
        Load {
            dir: dir.clone(),
            cfg: cfg.clone(),
            stored,
        },
    )??;
    Ok(Loaded {
        dir,
        step: m.step,
        cfg,
        groups,
        leaves,
        sensitive_not_f32,
        narrower_than_policy,
    })
}

/// Value statistics of a set of elements (accumulated in f64).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Elements.
    pub numel: usize,
    /// Root mean square.
    pub rms: f64,
    /// Mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Non-finite elements.
    pub nonfinite: usize,
}

/// Accumulates [`Stats`] over several literals.
#[derive(Default)]
struct Acc {
    n: usize,
    sum: f64,
    sq: f64,
    min: f64,
    max: f64,
    nonfinite: usize,
}

impl Acc {
    fn add(&mut self, l: &Literal) {
        for x in l.to_f64_vec() {
            if !x.is_finite() {
                self.nonfinite += 1;
                continue;
            }
            if self.n == 0 {
                (self.min, self.max) = (x, x);
            }
            self.n += 1;
            self.sum += x;
            self.sq += x * x;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }
    fn stats(&self) -> Stats {
        let n = self.n.max(1) as f64;
        Stats {
            numel: self.n + self.nonfinite,
            rms: (self.sq / n).sqrt(),
            mean: self.sum / n,
            min: self.min,
            max: self.max,
            nonfinite: self.nonfinite,
        }
    }
}

/// Statistics of one literal.
pub fn stats(l: &Literal) -> Stats {
    let mut a = Acc::default();
    a.add(l);
    a.stats()
}

#[derive(Serialize)]
struct LeafJson {
    path: String,
    shape: Vec<usize>,
    dtype: String,
    group: String,
    sensitive: bool,
    stats: Stats,
}

#[derive(Serialize)]
struct GroupJson {
    group: String,
    optimizer: String,
    leaves: usize,
    dtypes: Vec<String>,
    stats: Stats,
}

#[derive(Serialize)]
struct InspectJson {
    checkpoint: String,
    step: u64,
    family: String,
    policy: String,
    leaves: Vec<LeafJson>,
    groups: Vec<GroupJson>,
    sensitive_not_f32: Vec<String>,
    narrower_than_policy: Vec<String>,
}

fn shape_str(d: &[usize]) -> String {
    format!(
        "[{}]",
        d.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn build(l: &Loaded) -> InspectJson {
    let leaves = l
        .leaves
        .iter()
        .map(|x| LeafJson {
            path: x.path.clone(),
            shape: x.value.dims().to_vec(),
            dtype: x.value.dtype().to_string(),
            group: l.groups[x.group].0.clone(),
            sensitive: x.sensitive,
            stats: stats(&x.value),
        })
        .collect();
    let groups = l
        .groups
        .iter()
        .enumerate()
        .map(|(gi, (name, opt))| {
            let mut a = Acc::default();
            let mut dtypes: Vec<String> = Vec::new();
            let mut n = 0;
            for x in l.leaves.iter().filter(|x| x.group == gi) {
                a.add(&x.value);
                n += 1;
                let d = x.value.dtype().to_string();
                if !dtypes.contains(&d) {
                    dtypes.push(d);
                }
            }
            GroupJson {
                group: name.clone(),
                optimizer: opt.clone(),
                leaves: n,
                dtypes,
                stats: a.stats(),
            }
        })
        .collect();
    InspectJson {
        checkpoint: l.dir.display().to_string(),
        step: l.step,
        family: l.cfg.model.family().into(),
        policy: l.cfg.policy.0.clone(),
        leaves,
        groups,
        sensitive_not_f32: l.sensitive_not_f32.clone(),
        narrower_than_policy: l.narrower_than_policy.clone(),
    }
}

/// The human-readable report of a loaded checkpoint.
pub fn render(l: &Loaded) -> String {
    let j = build(l);
    let mut out = format!(
        "checkpoint {} (step {}): {} model, policy {}{}\n\n",
        j.checkpoint,
        j.step,
        j.family,
        j.policy,
        match l.cfg.cast {
            config::CastMode::Blanket => ", blanket cast",
            config::CastMode::Policy => "",
        }
    );
    let pw = j
        .leaves
        .iter()
        .map(|x| x.path.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let gw = j
        .groups
        .iter()
        .map(|g| g.group.len())
        .max()
        .unwrap_or(5)
        .max(5);
    out.push_str(&format!(
        "{:<pw$}  {:<16} {:<5} {:<gw$} {:>4}  {:>10} {:>11} {:>11}\n",
        "path", "shape", "dtype", "group", "sens", "rms", "min", "max"
    ));
    for x in &j.leaves {
        out.push_str(&format!(
            "{:<pw$}  {:<16} {:<5} {:<gw$} {:>4}  {:>10.3e} {:>11.3e} {:>11.3e}{}\n",
            x.path,
            shape_str(&x.shape),
            x.dtype,
            x.group,
            if x.sensitive { "yes" } else { "" },
            x.stats.rms,
            x.stats.min,
            x.stats.max,
            if x.stats.nonfinite > 0 {
                format!("  ({} non-finite)", x.stats.nonfinite)
            } else {
                String::new()
            }
        ));
    }
    out.push_str(&format!(
        "\n{:<gw$}  {:<9} {:>6} {:>10}  {:<10} {:>10} {:>11}\n",
        "group", "optimizer", "leaves", "params", "dtypes", "rms", "max |x|"
    ));
    for g in &j.groups {
        out.push_str(&format!(
            "{:<gw$}  {:<9} {:>6} {:>10}  {:<10} {:>10.3e} {:>11.3e}\n",
            g.group,
            g.optimizer,
            g.leaves,
            g.stats.numel,
            g.dtypes.join(","),
            g.stats.rms,
            g.stats.max.abs().max(g.stats.min.abs()),
        ));
    }
    let sens = j.leaves.iter().filter(|x| x.sensitive).count();
    if j.sensitive_not_f32.is_empty() {
        out.push_str(&format!(
            "\nsensitive-parameter audit: all {sens} sensitive leaves are f32\n"
        ));
    } else {
        out.push_str(&format!(
            "\nsensitive-parameter audit: {}/{sens} sensitive leaves are NOT f32 (an update \
             smaller than half the dtype's spacing at the value rounds away):\n",
            j.sensitive_not_f32.len()
        ));
        for s in &j.sensitive_not_f32 {
            out.push_str(&format!("  {s}\n"));
        }
    }
    let other: Vec<&String> = j
        .narrower_than_policy
        .iter()
        .filter(|s| !j.sensitive_not_f32.contains(s))
        .collect();
    if !other.is_empty() {
        out.push_str(&format!(
            "leaves narrower than the policy's param dtype: {}\n",
            other
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// Prints one JSON line of `value` (`json`) or the text `render` makes.
pub fn print_report<T: Serialize>(
    command: &str,
    json: bool,
    value: &T,
    render: impl FnOnce() -> String,
) -> Result<()> {
    if json {
        let s = serde_json::to_string(value).map_err(|e| Error::data(command, e.to_string()))?;
        println!("{s}");
    } else {
        print!("{}", render());
    }
    Ok(())
}

/// Runs `rax inspect`.
pub fn run(a: &InspectArgs) -> Result<()> {
    let l = load(&a.checkpoint)?;
    print_report("rax inspect", a.json, &build(&l), || render(&l))
}
