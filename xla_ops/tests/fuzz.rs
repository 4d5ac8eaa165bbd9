//! The differential fuzzer from a fixed seed, as CI runs it: random well-typed programs on the
//! interpreter and both CPU plugins agree within their dtype's tolerance (or by a documented,
//! narrow explanation), ill-typed candidates are errors, gradients match f64 finite
//! differences, and nothing panics. A failure prints the program seeds to replay with
//! `cargo run --release -p xla-ops --example fuzz -- --replay SEED`.
mod common;

use common::fuzz_plugins::plugins_required_under_ci;
use xla_ops::fuzz::{self, Backend, Config, Summary};

const SEED: u64 = 2;
const PROGRAMS: usize = 300;

#[test]
fn a_fixed_seed_of_random_programs_agrees_everywhere() {
    fuzz::quiet_panics();
    let found = plugins_required_under_ci();
    let backends: Vec<&dyn Backend> = found.iter().map(|p| p as &dyn Backend).collect();
    let cfg = Config::default();
    let mut sum = Summary::default();
    let mut reports = Vec::new();
    for i in 0..PROGRAMS {
        let seed = fuzz::program_seed(SEED, i);
        let o = fuzz::run_seed(seed, &cfg, &backends);
        if o.failed() {
            reports.extend(o.disagreements.iter().cloned());
            reports.extend(o.panics.iter().cloned());
            reports.extend(o.grad_failures.iter().cloned());
        }
        sum.add(seed, &o);
    }
    assert_eq!(sum.programs, PROGRAMS);
    // The run must have exercised something: ill-typed candidates and gradient checks occur in
    // most programs of this seed (measured: hundreds of each per 400 programs).
    assert!(sum.ill_typed > 0 && sum.grad_checks > 0, "{}", sum.json());
    assert!(
        sum.failing_seeds.is_empty(),
        "{}\n{}",
        sum.json(),
        reports.join("\n---\n")
    );
    eprintln!("{}", sum.json());
}
