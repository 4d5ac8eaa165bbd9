//! Progress of a run: an indicatif bar (step, loss, tokens/s, ETA) when stderr is a terminal,
//! plain lines every `log_every` steps otherwise. Messages (diagnostics, spikes, skips) go
//! above the bar or as their own lines.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Where progress goes.
pub enum Progress {
    /// A live bar.
    Bar(ProgressBar),
    /// A line every `every` steps.
    Lines {
        /// Steps between lines.
        every: u64,
        /// Total steps.
        total: u64,
        /// Start of the run.
        start: std::time::Instant,
        /// First step of this invocation.
        first: u64,
    },
}

impl Progress {
    /// A bar on a terminal, lines otherwise.
    pub fn new(first: u64, total: u64, every: u64) -> Progress {
        if std::io::stderr().is_terminal() {
            let pb = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
            ) {
                pb.set_style(style);
            }
            pb.set_position(first);
            pb.reset_eta();
            Progress::Bar(pb)
        } else {
            Progress::Lines {
                every,
                total,
                start: std::time::Instant::now(),
                first,
            }
        }
    }

    /// Reports a finished step.
    pub fn step(&self, step: u64, loss: f32, tokens_per_s: f64) {
        match self {
            Progress::Bar(pb) => {
                pb.set_position(step);
                pb.set_message(format!("loss {loss:.4} | {tokens_per_s:.0} tok/s"));
            }
            Progress::Lines {
                every,
                total,
                start,
                first,
            } => {
                if step.is_multiple_of(*every) || step == *total {
                    let done = (step - first) as f64;
                    let el = start.elapsed().as_secs_f64();
                    let eta = if done > 0.0 {
                        el / done * (total - step) as f64
                    } else {
                        0.0
                    };
                    eprintln!(
                        "step {step}/{total} loss {loss:.4} tokens/s {tokens_per_s:.0} eta {eta:.0}s"
                    );
                }
            }
        }
    }

    /// Prints a message without breaking the bar.
    pub fn message(&self, msg: &str) {
        match self {
            Progress::Bar(pb) => pb.println(msg),
            Progress::Lines { .. } => eprintln!("{msg}"),
        }
    }

    /// Ends the bar.
    pub fn finish(&self) {
        if let Progress::Bar(pb) = self {
            pb.finish();
        }
    }
}
