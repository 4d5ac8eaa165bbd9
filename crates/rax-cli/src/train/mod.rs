//! `rax train`: a training program driven by a TOML run config (see `config`), with
//! checkpoints that resume bit for bit, diagnostics that name frozen parameters and
//! non-finite steps, metrics, progress, a report and charts. With no arguments it trains the
//! embedded default config on the embedded corpus into `runs/default`.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod diagnostics;
pub mod groups;
pub mod metrics;
pub mod model;
pub mod progress;
pub mod run;
pub mod step;

use clap::Args;
use rax_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Arguments of `rax train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run config (TOML); default: the embedded default config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The run directory (metrics, checkpoints, report, charts); default `runs/default`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Resume the run in this directory from its newest checkpoint (its saved config).
    #[arg(long, conflicts_with_all = ["config", "out"])]
    pub resume: Option<PathBuf>,
    /// Total steps (overrides the config's `steps`).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Checkpoint every N steps (overrides `checkpoint.every`).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Print one JSON summary as the last line on stdout.
    #[arg(long)]
    pub json: bool,
    /// `auto`, `interpreter` or a PJRT plugin path.
    #[arg(long, default_value = "auto")]
    pub backend: String,
}

/// Resolves the data path of a config read from `file` (relative to the file's directory).
fn resolve_data(cfg: &mut config::RunConfig, file: Option<&Path>) -> Result<()> {
    if cfg.data.path == "builtin" {
        return Ok(());
    }
    let base = file.and_then(|f| f.parent());
    let p = config::resolve_data_path(&cfg.data.path, base);
    let abs = std::fs::canonicalize(&p).map_err(|e| Error::Io {
        path: p.display().to_string(),
        msg: format!("data.path: {e}"),
    })?;
    cfg.data.path = abs.display().to_string();
    Ok(())
}

/// Runs `rax train`.
pub fn run(a: &TrainArgs) -> Result<()> {
    let (mut cfg, out) = match &a.resume {
        Some(dir) => {
            let f = dir.join("config.toml");
            if !f.exists() {
                return Err(Error::Io {
                    path: dir.display().to_string(),
                    msg: "not a run directory (no config.toml)".into(),
                });
            }
            (config::load(&f)?, dir.clone())
        }
        None => {
            let mut cfg = match &a.config {
                Some(f) => config::load(f)?,
                None => config::parse(config::DEFAULT_CONFIG, "<embedded default config>")?,
            };
            resolve_data(&mut cfg, a.config.as_deref())?;
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs/default"));
            // A directory with checkpoints continues only the same run.
            let saved = out.join("config.toml");
            if saved.exists() && !checkpoint::committed(&out).is_empty() {
                let old = config::load(&saved)?;
                if config::identity(&old) != config::identity(&cfg) {
                    return Err(Error::data(
                        "rax train",
                        format!(
                            "{} holds checkpoints of a different config (differs in: {}); use \
                             another --out or --resume it",
                            out.display(),
                            config::differing_keys(&old, &cfg).join(", ")
                        ),
                    ));
                }
            }
            (cfg, out)
        }
    };
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    // The schedule decays over the steps the run starts with (fixed when it resumes).
    if cfg.schedule.decay_steps.is_none() {
        cfg.schedule.decay_steps = Some(cfg.steps);
    }
    if let Some(c) = a.checkpoint_every {
        cfg.checkpoint.every = c;
    }
    let policy = cfg.policy.policy()?;
    let opts = run::RunOptions {
        cfg: cfg.clone(),
        out,
        backend: a.backend.clone(),
        quiet: false,
    };
    let summary = model::with_model(&cfg, policy.compute, run::Train(opts))??;
    if a.json {
        eprintln!("{}", summary.report);
        println!(
            "{}",
            serde_json::to_string(&summary).map_err(|e| Error::data("rax train", e.to_string()))?
        );
    } else {
        println!("{}", summary.report);
        println!(
            "final loss {} after {} steps ({:.0} tokens/s); run directory {}",
            summary.final_loss, summary.steps, summary.tokens_per_s, summary.out
        );
        if let Some(c) = &summary.charts {
            println!("charts: {c}");
        }
    }
    Ok(())
}
