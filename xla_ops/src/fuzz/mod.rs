//! The differential fuzzer's engine (the CLI is `examples/fuzz.rs`, a fixed-seed run is
//! `tests/fuzz.rs`). For each seed it:
//!
//! 1. generates a random well-typed program ([`gen`]) over every primitive family — elementwise,
//!    layout, indexing, dot, reduce, sort, fft, control flow — with zero-size dimensions, every
//!    dtype and edge values (signed zeros, extremes, subnormals, infinities, NaN, integer
//!    limits); each candidate step is traced alone first, and an ill-typed one must be an
//!    error (counted in `ill_typed`), never a panic;
//! 2. runs it on the interpreter and on every [`Backend`] given (the CPU plugins) and compares
//!    every intermediate value within the dtype's tolerance ([`compare`]);
//! 3. localises a disagreement: the first differing value's step is re-run alone on the
//!    interpreter's operand values; if it then agrees, the difference is rounding of earlier
//!    steps amplified (explained), otherwise it is a disagreement of that step, reported
//!    with a shrunk program (only the steps it depends on);
//! 4. checks the gradient of a random differentiable f64 program against central finite
//!    differences ([`grad`]).
//!
//! Panics anywhere are caught and counted. Everything is a function of the seed.

pub mod compare;
pub mod gen;
pub mod grad;

use rax_core::{Graph, Literal, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// splitmix64: small, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    /// A random element of a non-empty slice.
    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
}

/// A backend to compare with the interpreter: runs a graph on host inputs.
pub trait Backend {
    /// A short name for reports.
    fn name(&self) -> &str;
    /// Compiles and runs the graph.
    fn run(&self, g: &Graph, inputs: &[Literal]) -> Result<Vec<Literal>>;
}

/// The embedded interpreter as a [`Backend`].
pub struct Interpreter;

impl Backend for Interpreter {
    fn name(&self) -> &str {
        "interpreter"
    }
    fn run(&self, g: &Graph, inputs: &[Literal]) -> Result<Vec<Literal>> {
        let refs: Vec<&Literal> = inputs.iter().collect();
        rax_core::interp::eval_graph(g, &refs)
    }
}

/// Fuzzing parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// Steps per program (at most).
    pub max_steps: usize,
    /// Draw edge values (NaN, infinities, extremes, subnormals) in inputs.
    pub edges: bool,
    /// Also check a gradient per program.
    pub grads: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_steps: 8,
            edges: true,
            grads: true,
        }
    }
}

/// What one seed gave.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Steps in the generated program.
    pub steps: usize,
    /// Candidate steps rejected as ill-typed (each an error, as it must be).
    pub ill_typed: usize,
    /// Differences explained as amplified rounding (the step alone agrees).
    pub amplified: usize,
    /// Differences explained by a documented backend semantics difference (with the reason).
    pub explained: Vec<String>,
    /// Unexplained disagreements, with a report each.
    pub disagreements: Vec<String>,
    /// Panics caught (message).
    pub panics: Vec<String>,
    /// Gradient checks run and failed.
    pub grad_checks: usize,
    /// Failed gradient checks, with a report each.
    pub grad_failures: Vec<String>,
}

impl Outcome {
    /// The outcome as one JSON object (the supervisor reads workers' outcomes this way).
    pub fn to_json(&self, seed: u64) -> serde_json::Value {
        serde_json::json!({
            "seed": seed,
            "steps": self.steps,
            "ill_typed": self.ill_typed,
            "amplified": self.amplified,
            "explained": self.explained,
            "disagreements": self.disagreements,
            "panics": self.panics,
            "grad_checks": self.grad_checks,
            "grad_failures": self.grad_failures,
        })
    }

    /// Reads [`Outcome::to_json`] back (with its seed).
    pub fn from_json(v: &serde_json::Value) -> Option<(u64, Outcome)> {
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
        Some((
            v["seed"].as_u64()?,
            Outcome {
                steps: n("steps"),
                ill_typed: n("ill_typed"),
                amplified: n("amplified"),
                explained: strings("explained"),
                disagreements: strings("disagreements"),
                panics: strings("panics"),
                grad_checks: n("grad_checks"),
                grad_failures: strings("grad_failures"),
            },
        ))
    }

    /// True when the seed found a problem (panic, disagreement or wrong gradient).
    pub fn failed(&self) -> bool {
        !self.disagreements.is_empty() || !self.panics.is_empty() || !self.grad_failures.is_empty()
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Replaces the panic hook with one that only records the location of the last panic (panics
/// are caught and counted; the location goes into the report instead of a backtrace).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = loc);
    }));
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    let msg = if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".into()
    };
    let loc = LAST_PANIC.with(|p| p.borrow().clone());
    format!("{msg} (at {loc})")
}

/// Generates the program of a seed; rejected (ill-typed) candidates are counted. Returns the
/// program and the number of results of each step.
pub fn generate(seed: u64, cfg: &Config, out: &mut Outcome) -> (gen::Program, Vec<usize>) {
    let mut r = Rng::new(seed);
    let n_in = 1 + r.below(3);
    let mut inputs = Vec::new();
    for _ in 0..n_in {
        let a = rax_core::AVal::new(gen::shape(&mut r), gen::dtype(&mut r));
        inputs.push(gen::literal(&mut r, &a, cfg.edges));
    }
    let mut pool: Vec<rax_core::AVal> = inputs.iter().map(|l| l.aval()).collect();
    let mut steps = Vec::new();
    let mut counts = Vec::new();
    let target = 1 + r.below(cfg.max_steps.max(1));
    let mut attempts = 0;
    while steps.len() < target && attempts < 6 * target + 6 {
        attempts += 1;
        let cand = gen::step(&mut r, &pool);
        let probe = catch_unwind(AssertUnwindSafe(|| {
            rax_core::trace(&pool, |xs| gen::apply(&cand, xs))
        }));
        match probe {
            Err(p) => out
                .panics
                .push(format!("tracing {cand:?} on {pool:?}: {}", panic_text(p))),
            Ok(Err(e)) => {
                // Ill-typed: an error is the promise; it must say something.
                if e.to_string().is_empty() {
                    out.disagreements
                        .push(format!("{cand:?} on {pool:?}: an empty error message"));
                }
                out.ill_typed += 1;
            }
            Ok(Ok(t)) => {
                let outs = t.graph.out_avals();
                if outs.iter().any(|a| a.shape.numel() > 2048) {
                    continue;
                }
                counts.push(outs.len());
                pool.extend(outs);
                steps.push(cand);
            }
        }
    }
    (gen::Program { inputs, steps }, counts)
}

/// Runs one seed against the interpreter and `backends`.
pub fn run_seed(seed: u64, cfg: &Config, backends: &[&dyn Backend]) -> Outcome {
    let mut out = Outcome::default();
    let res = catch_unwind(AssertUnwindSafe(|| {
        let (prog, counts) = generate(seed, cfg, &mut out);
        out.steps = prog.steps.len();
        compare::differential(&prog, &counts, backends, &mut out);
        if cfg.grads {
            grad::check_seed(seed, &mut out);
        }
    }));
    if let Err(p) = res {
        out.panics.push(format!("seed {seed}: {}", panic_text(p)));
    }
    out
}

/// Totals over many seeds, printed by the CLI (`--json` gives one line).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Programs run.
    pub programs: usize,
    /// Steps in them.
    pub steps: usize,
    /// Ill-typed candidates that were (correctly) errors.
    pub ill_typed: usize,
    /// Differences explained as amplified rounding.
    pub amplified: usize,
    /// Differences explained by documented semantics differences.
    pub explained: usize,
    /// Unexplained disagreements.
    pub disagreements: usize,
    /// Panics caught.
    pub panics: usize,
    /// Gradient checks run.
    pub grad_checks: usize,
    /// Gradient checks failed.
    pub grad_failures: usize,
    /// Programs that killed the process (a plugin's C++ CHECK or crash; caught by the
    /// supervisor, which restarts after them).
    pub aborts: usize,
    /// Seeds with a disagreement, a panic, an abort or a wrong gradient.
    pub failing_seeds: Vec<u64>,
    /// The explanation of each explained class, with its count.
    pub explained_classes: std::collections::BTreeMap<String, usize>,
}

impl Summary {
    /// Adds one seed's outcome.
    pub fn add(&mut self, seed: u64, o: &Outcome) {
        self.programs += 1;
        self.steps += o.steps;
        self.ill_typed += o.ill_typed;
        self.amplified += o.amplified;
        self.explained += o.explained.len();
        for e in &o.explained {
            *self.explained_classes.entry(e.clone()).or_default() += 1;
        }
        self.disagreements += o.disagreements.len();
        self.panics += o.panics.len();
        self.grad_checks += o.grad_checks;
        self.grad_failures += o.grad_failures.len();
        if o.failed() {
            self.failing_seeds.push(seed);
        }
    }

    /// One JSON line.
    pub fn json(&self) -> String {
        serde_json::json!({
            "programs": self.programs,
            "steps": self.steps,
            "ill_typed": self.ill_typed,
            "amplified": self.amplified,
            "explained": self.explained,
            "explained_classes": self.explained_classes,
            "disagreements": self.disagreements,
            "panics": self.panics,
            "aborts": self.aborts,
            "grad_checks": self.grad_checks,
            "grad_failures": self.grad_failures,
            "failing_seeds": self.failing_seeds,
        })
        .to_string()
    }
}

/// The seed of program `i` of a run started with `seed`.
pub fn program_seed(seed: u64, i: usize) -> u64 {
    Rng::new(seed.wrapping_mul(0x100_0000_01b3) ^ i as u64).next_u64()
}
