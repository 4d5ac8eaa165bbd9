//! The differential fuzzer (see `xla_ops::fuzz`):
//!
//!     cargo run --release -p xla-ops --example fuzz -- --programs N --seed S [--json]
//!         [--max-steps K] [--no-grads] [--no-plugins] [--replay PROGRAM_SEED]
//!
//! Random well-typed programs run on the interpreter and both CPU PJRT plugins (found like
//! `Runtime::auto` finds them; `RAX_PJRT_SEARCH` adds prefixes) and are compared value by
//! value; ill-typed candidates must be errors; gradients are checked against finite
//! differences. Panics are caught and counted. A plugin can still kill the process (a C++
//! CHECK in XLA): the programs run in a worker process, and this supervisor counts a program
//! that killed its worker as an abort and restarts after it. `--json` prints one summary line
//! on stdout (reports go to stderr). Every failing program's seed is printed; `--replay SEED`
//! runs just that program in this process, prints it and its outcome (with the shrunk program
//! of a disagreement).
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use xla_ops::fuzz::{self, Backend, Config, Outcome, Summary};

#[path = "../tests/common/fuzz_plugins.rs"]
mod fuzz_plugins;
use fuzz_plugins::plugins;

fn arg<T: std::str::FromStr>(args: &[String], key: &str) -> Option<T> {
    let i = args.iter().position(|a| a == key)?;
    args.get(i + 1)?.parse().ok()
}

fn report(s: u64, o: &Outcome) {
    if o.failed() {
        eprintln!("=== program seed {s} (replay with --replay {s}) ===");
        for m in o
            .disagreements
            .iter()
            .chain(&o.panics)
            .chain(&o.grad_failures)
        {
            eprintln!("{m}");
        }
    }
}

/// Worker: runs programs `start..end`, printing `start <seed>` before and one outcome JSON
/// line after each.
fn worker(args: &[String], cfg: &Config) {
    fuzz::quiet_panics();
    let has = |k: &str| args.iter().any(|a| a == k);
    let ps = if has("--no-plugins") {
        Vec::new()
    } else {
        plugins()
    };
    let backends: Vec<&dyn Backend> = ps.iter().map(|p| p as &dyn Backend).collect();
    let seed: u64 = arg(args, "--seed").unwrap_or(0);
    let start: usize = arg(args, "--start").unwrap_or(0);
    let end: usize = arg(args, "--end").unwrap_or(0);
    for i in start..end {
        let s = fuzz::program_seed(seed, i);
        println!("start {i} {s}");
        let o = fuzz::run_seed(s, cfg, &backends);
        println!("{}", o.to_json(s));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |k: &str| args.iter().any(|a| a == k);
    let programs: usize = arg(&args, "--programs").unwrap_or(100);
    let json = has("--json");
    let cfg = Config {
        max_steps: arg(&args, "--max-steps").unwrap_or(8),
        grads: !has("--no-grads"),
        ..Config::default()
    };
    if has("--worker") {
        worker(&args, &cfg);
        return;
    }
    if let Some(s) = arg::<u64>(&args, "--replay") {
        fuzz::quiet_panics();
        let ps = if has("--no-plugins") {
            Vec::new()
        } else {
            plugins()
        };
        let backends: Vec<&dyn Backend> = ps.iter().map(|p| p as &dyn Backend).collect();
        let mut o = Outcome::default();
        let (prog, _) = fuzz::generate(s, &cfg, &mut o);
        println!("program seed {s}:\n{}", prog.listing());
        let o = fuzz::run_seed(s, &cfg, &backends);
        println!("{o:#?}");
        std::process::exit(if o.failed() { 1 } else { 0 });
    }
    let t0 = std::time::Instant::now();
    let exe = std::env::current_exe().expect("own path");
    let mut sum = Summary::default();
    let mut next = 0usize;
    while next < programs {
        let mut child = Command::new(&exe)
            .args(&args)
            .args([
                "--worker",
                "--start",
                &next.to_string(),
                "--end",
                &programs.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a worker");
        let out = child.stdout.take().expect("worker stdout");
        let mut running: Option<(usize, u64)> = None;
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            if let Some(rest) = line.strip_prefix("start ") {
                let mut it = rest.split(' ');
                let i = it.next().and_then(|x| x.parse().ok()).unwrap_or(next);
                let s = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                running = Some((i, s));
            } else if let Some((s, o)) = serde_json::from_str(&line)
                .ok()
                .and_then(|v| Outcome::from_json(&v))
            {
                report(s, &o);
                sum.add(s, &o);
                next = running.map(|(i, _)| i + 1).unwrap_or(next + 1);
                running = None;
                if !json && sum.programs % 500 == 0 {
                    eprintln!(
                        "{} programs, {} disagreements, {} panics, {} aborts, {:.0} s",
                        sum.programs,
                        sum.disagreements,
                        sum.panics,
                        sum.aborts,
                        t0.elapsed().as_secs_f64()
                    );
                }
            }
        }
        let status = child.wait().expect("worker status");
        if let Some((i, s)) = running {
            eprintln!(
                "=== program seed {s} killed the worker ({status}); replay with --replay {s} ==="
            );
            sum.programs += 1;
            sum.aborts += 1;
            sum.failing_seeds.push(s);
            next = i + 1;
        } else if !status.success() && next < programs {
            eprintln!("worker failed without a program running ({status})");
            break;
        }
    }
    if json {
        println!("{}", sum.json());
    } else {
        println!("{sum:#?}\n{:.1} s", t0.elapsed().as_secs_f64());
    }
    if !sum.failing_seeds.is_empty() {
        std::process::exit(1);
    }
}
