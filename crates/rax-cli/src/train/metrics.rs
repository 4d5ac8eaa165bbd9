//! `DIR/metrics.jsonl`: one JSON object per step (`step` from 1, `loss`, `lr`, `grad_norm`,
//! `tokens_per_s`, and `eval_loss`, `skipped`, `spike` when they apply). f32 values are written
//! with serde_json's f32 formatting: the shortest decimal that reads back to the same f32, so a
//! logged loss is exactly the computed one. On resume the file is cut back to the checkpoint's
//! step (lines written after it, or a torn last line, are dropped) before appending.

use super::checkpoint::write_atomic;
use rax_core::{Error, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One step's record.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    /// Step number, from 1.
    pub step: u64,
    /// Mean training loss of the step, as computed (f32).
    pub loss: f32,
    /// Learning rate of the first parameter group at this step.
    pub lr: f32,
    /// Global gradient norm before clipping (f32).
    pub grad_norm: f32,
    /// Tokens per second of this step (wall clock).
    pub tokens_per_s: f64,
    /// Held-out loss, when evaluated at this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
    /// The step was skipped (non-finite loss or gradient).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The loss was flagged as a spike.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub spike: bool,
}

/// Appends step records.
pub struct MetricsWriter {
    file: std::fs::File,
    path: PathBuf,
}

/// The metrics file of a run.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("metrics.jsonl")
}

/// Reads every complete JSON line of a metrics file.
pub fn read(dir: &Path) -> Result<Vec<serde_json::Value>> {
    let p = path(dir);
    let text = std::fs::read_to_string(&p).map_err(|e| Error::Io {
        path: p.display().to_string(),
        msg: format!("cannot read the metrics: {e}"),
    })?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect())
}

impl MetricsWriter {
    /// Opens the metrics of `dir`, keeping only complete records with `step <= keep_upto`
    /// (`None`: start a new file).
    pub fn open(dir: &Path, keep_upto: Option<u64>) -> Result<MetricsWriter> {
        let p = path(dir);
        // The original lines are kept as they are (not re-serialised), so every logged number
        // stays byte for byte what the run wrote.
        let kept: String = match keep_upto {
            Some(s) if p.exists() => std::fs::read_to_string(&p)
                .unwrap_or_default()
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v.get("step").and_then(|x| x.as_u64()))
                        .is_some_and(|x| x <= s)
                })
                .map(|l| format!("{l}\n"))
                .collect(),
            _ => String::new(),
        };
        write_atomic(&p, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .map_err(|e| Error::Io {
                path: p.display().to_string(),
                msg: e.to_string(),
            })?;
        Ok(MetricsWriter { file, path: p })
    }

    /// Appends one record (one write of the whole line).
    pub fn write(&mut self, r: &StepRecord) -> Result<()> {
        let mut line =
            serde_json::to_string(r).map_err(|e| Error::data("metrics", e.to_string()))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(|e| Error::Io {
            path: self.path.display().to_string(),
            msg: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_round_trip_exactly_and_resume_cuts_the_file() {
        let dir = std::env::temp_dir().join(format!("rax_metrics_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = MetricsWriter::open(&dir, None).unwrap();
        let losses = [5.545_177_5f32, 0.1, 1.0 / 3.0, f32::MIN_POSITIVE];
        for (i, &l) in losses.iter().enumerate() {
            let r = StepRecord {
                step: i as u64 + 1,
                loss: l,
                lr: 3e-4,
                grad_norm: 1.5,
                tokens_per_s: 100.0,
                eval_loss: None,
                skipped: false,
                spike: false,
            };
            w.write(&r).unwrap();
        }
        let text = std::fs::read_to_string(path(&dir)).unwrap();
        assert!(
            text.lines().next().unwrap().contains("\"loss\":5.5451775,"),
            "{text}"
        );
        for (v, &l) in read(&dir).unwrap().iter().zip(&losses) {
            assert_eq!(v["loss"].as_f64().unwrap() as f32, l);
        }
        // A torn last line and lines after the checkpoint are dropped on resume.
        std::fs::write(path(&dir), format!("{text}{{\"step\":5,\"lo")).unwrap();
        drop(MetricsWriter::open(&dir, Some(2)).unwrap());
        let back = std::fs::read_to_string(path(&dir)).unwrap();
        assert_eq!(back.lines().count(), 2);
        assert_eq!(
            back,
            text.lines()
                .take(2)
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
