//! `rax`: the command-line front door of rax. Each subcommand lives in its own module; errors
//! are printed as one line on stderr with a non-zero exit, never a panic.

mod backend;
mod eval;
mod generate;
mod npy;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(a) => eval::run(&a),
        Command::Generate(a) => generate::run(&a),
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
