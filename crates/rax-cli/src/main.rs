//! `rax`: the command-line front door of rax. Each subcommand lives in its own module; errors
//! are printed as one line on stderr with a non-zero exit, never a panic.

mod backend;
mod chart;
mod diff;
mod eval;
mod generate;
mod inspect;
mod npy;
mod plot;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// rax: train, evaluate and sample JAX-style models in Rust.
#[derive(Parser)]
#[command(name = "rax", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mean next-token loss (and optionally the logits) of a checkpoint on a token array.
    Eval(eval::EvalArgs),
    /// Continue prompts with a checkpoint (greedy, or sampled with a temperature).
    Generate(generate::GenerateArgs),
    /// Train a model from a TOML run config (or the embedded default), resumable.
    Train(train::TrainArgs),
    /// Draw a run's charts (loss, eval loss, learning rate, gradient norm) as PNG.
    Plot(plot::PlotArgs),
    /// Print a checkpoint's parameter tree, sensitive-parameter audit and group statistics.
    Inspect(inspect::InspectArgs),
    /// Per parameter group, how many leaves moved between two checkpoints (frozen ones named).
    Diff(diff::DiffArgs),
}

/// Clap's message as one line: the text before its usage section, whitespace collapsed.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let msg: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    msg.join(" ").trim_start_matches("error: ").to_string()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || (e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
            {
                let _ = e.print();
                return if e.use_stderr() {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            eprintln!("rax: error: {} (see `rax --help`)", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Eval(a) => eval::run(&a),
        Command::Generate(a) => generate::run(&a),
        Command::Train(a) => train::run(&a),
        Command::Plot(a) => plot::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Diff(a) => diff::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            eprintln!("rax: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
