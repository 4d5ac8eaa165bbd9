//! `rax plot DIR`: PNG charts of a run's `metrics.jsonl` — training and held-out loss,
//! learning rate, gradient norm and throughput — as panels of `DIR/charts.png`, drawn with
//! plotters through [`crate::chart`] (titles, axes, tick labels, legends). `rax train`
//! writes the same file at the end of every run.

use crate::chart::{chart_grid, Chart, Series};
use clap::Args;
use rax_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Arguments of `rax plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The run directory (holds metrics.jsonl).
    pub dir: PathBuf,
    /// Output PNG (default DIR/charts.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn series(rows: &[serde_json::Value], key: &str) -> Vec<(f64, f64)> {
    rows.iter()
        .filter_map(|r| Some((r.get("step")?.as_f64()?, r.get(key)?.as_f64()?)))
        .collect()
}

fn chart(title: &str, y: &str, s: Vec<Series>) -> Chart {
    Chart {
        title: title.into(),
        x_label: "step".into(),
        y_label: y.into(),
        series: s,
    }
}

/// Draws the charts of a run directory into `out`.
pub fn draw(dir: &Path, out: &Path) -> Result<()> {
    let rows = crate::train::metrics::read(dir)?;
    if rows.is_empty() {
        return Err(Error::data(
            "rax plot",
            format!("{}: metrics.jsonl has no records", dir.display()),
        ));
    }
    let charts = vec![
        chart(
            "Loss",
            "loss (nats/token)",
            vec![
                Series::new("train loss", series(&rows, "loss")),
                Series::new("eval loss (held out)", series(&rows, "eval_loss")),
            ],
        ),
        chart(
            "Eval loss",
            "held-out loss",
            vec![Series::new("eval loss", series(&rows, "eval_loss"))],
        ),
        chart(
            "Learning rate",
            "lr (first group)",
            vec![Series::new("lr", series(&rows, "lr"))],
        ),
        chart(
            "Gradient norm",
            "global norm before clipping",
            vec![Series::new("grad norm", series(&rows, "grad_norm"))],
        ),
    ];
    chart_grid(out, &charts, 2, 1200, 800)
}

/// Writes `DIR/charts.png`; returns its path.
pub fn write_charts(dir: &Path) -> Result<PathBuf> {
    let out = dir.join("charts.png");
    draw(dir, &out)?;
    Ok(out)
}

/// Runs `rax plot`.
pub fn run(a: &PlotArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.dir.join("charts.png"));
    draw(&a.dir, &out)?;
    println!("{}", out.display());
    Ok(())
}
