//! Differential conformance: every case of `cases/*.json` runs on the interpreter and on each
//! CPU PJRT plugin (xla-cpu-pjrt, PJRT C API 0.81; lammps-jax-pjrt-cpu, API 0.115) through
//! rax-runtime's `Backend` (lower -> compile -> execute), and is checked against JAX's golden
//! values with `check_outputs`. Under `CI=true` a missing plugin (or an empty case directory)
//! is a failure, never a silent skip. Known disagreements are listed in `KNOWN` with their
//! reason; they still run, and are reported (an entry that now passes is reported as stale).
use rax_runtime::{discover_plugins, Donation, Runtime};
use xla_ops::{build_case, check_outputs, families, load_family};

/// A case (exact name, or a prefix ending in `*`) that disagrees with JAX on some backends.
struct Known {
    /// `interpreter`, `xla_cpu_pjrt` (API 0.81), `lammps` (API 0.115), `pjrt` (any plugin) or `*`.
    backend: &'static str,
    /// Case name or `prefix*`.
    case: &'static str,
    /// Why the backend's result legitimately differs from JAX's.
    why: &'static str,
}

/// Known disagreements. Add entries here with a reason; never skip silently.
///
/// The goldens were made with jaxlib 0.10.2 on an AVX2 machine. On machines with AVX-512 FP16 /
/// BF16 (Sapphire Rapids and later) XLA's CPU backend handles f16/bf16 denormals and f16
/// arithmetic differently; the entries below were measured on such a machine, where jaxlib
/// 0.10.2 itself gives the plugins' answer for the first two. On an AVX2 machine they pass
/// and are reported as stale.
const KNOWN: &[Known] = &[
    Known {
        backend: "pjrt",
        case: "truncated_normal/f16/-2.0_2.0",
        why: "on AVX-512 FP16 hardware XLA evaluates the f16 erf_inv in f16: element 8 is \
              1.9053 (jaxlib 0.10.2 on that machine agrees) against the AVX2 golden's 1.9102, \
              5 f16 ulps",
    },
    Known {
        backend: "xla_cpu_pjrt",
        case: "top_k/bf16/all",
        why: "on AVX-512 BF16 hardware XLA compares bf16 with denormals as zero, so the \
              denormal 9.2e-41 ties with +0 and their indices swap (jaxlib 0.10.2 on that \
              machine agrees)",
    },
    Known {
        backend: "lammps",
        case: "pad/bf16/mixed",
        why: "the API 0.115 plugin on AVX-512 BF16 hardware flushes the bf16 denormal 9.2e-41 \
              to zero in pad (jaxlib 0.10.2 on the same machine keeps it)",
    },
];

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn known(backend_key: &str, case: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| {
        let backend_ok = k.backend == "*"
            || k.backend == backend_key
            || (k.backend == "pjrt" && backend_key != "interpreter");
        let case_ok = match k.case.strip_suffix('*') {
            Some(prefix) => case.starts_with(prefix),
            None => case == k.case,
        };
        backend_ok && case_ok
    })
}

/// Runs every case on `rt`; panics listing every unexpected failure.
fn run_all(key: &str, rt: &Runtime) {
    let label = rt.info().to_string();
    let (mut n, mut passed) = (0, 0);
    let mut failures = Vec::new();
    let mut known_hits = Vec::new();
    let mut stale = Vec::new();
    // Cases with the same program (op, params, shapes, dtypes) share one compilation.
    let mut compiled: std::collections::HashMap<
        String,
        std::sync::Arc<dyn rax_runtime::Executable>,
    > = std::collections::HashMap::new();
    for fam in families() {
        let cases = load_family(&fam).unwrap_or_else(|e| panic!("{fam}: {e}"));
        for case in &cases {
            n += 1;
            let result = build_case(&fam, case).and_then(|b| {
                let key = rax_core::lower::lower_module(&b.graph, &Default::default())?;
                let exe = match compiled.get(&key) {
                    Some(e) => e.clone(),
                    None => {
                        let e = rt.backend().compile(&b.graph, &Donation::none())?;
                        compiled.insert(key, e.clone());
                        e
                    }
                };
                let args: Vec<rax_core::Array> = b
                    .inputs
                    .iter()
                    .map(|l| rax_core::Array::Host(l.clone().into()))
                    .collect();
                let outs = exe.execute(&args)?;
                let got = outs
                    .iter()
                    .map(|a| a.to_literal())
                    .collect::<rax_core::Result<Vec<_>>>()?;
                Ok(check_outputs(case, &b.expected, &got))
            });
            let outcome = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(m)) => Err(format!("[{fam}] {m}")),
                Err(e) => Err(format!("[{fam}] {}: {e}", case.name)),
            };
            match (outcome, known(key, &case.name)) {
                (Ok(()), None) => passed += 1,
                (Ok(()), Some(k)) => {
                    passed += 1;
                    stale.push(format!("{} ({})", case.name, k.why));
                }
                (Err(m), Some(k)) => known_hits.push(format!("{m}\n    known: {}", k.why)),
                (Err(m), None) => failures.push(m),
            }
        }
    }
    println!(
        "{label}: {n} conformance cases ({} distinct programs), {passed} match JAX",
        compiled.len()
    );
    for k in &known_hits {
        println!("  known disagreement: {k}");
    }
    for s in &stale {
        println!("  STALE known-disagreement entry (now passes): {s}");
    }
    if n == 0 {
        let msg = "no conformance cases found in xla_ops/cases";
        assert!(!ci(), "{msg}");
        eprintln!("WARNING: {msg}");
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {n} cases disagree with JAX:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The runtime for the CPU plugin whose file name is `file`, or a CI failure / loud skip.
fn plugin(file: &str, what: &str) -> Option<Runtime> {
    let found = discover_plugins();
    let c = found
        .cpu()
        .find(|c| c.path.file_name().is_some_and(|n| n == file));
    match c {
        Some(c) => Some(
            Runtime::pjrt(&c.path)
                .unwrap_or_else(|e| panic!("{} does not load: {e}", c.path.display())),
        ),
        None => {
            let msg = format!(
                "{what} plugin ({file}) not found; install it with `bash scripts/test.sh` \
                 (pip install --no-deps xla-cpu-pjrt==0.0.1 lammps-jax-pjrt-cpu==0.11.2)\n{}",
                found.report()
            );
            assert!(!ci(), "{msg}");
            eprintln!("SKIPPED (not CI): {msg}");
            None
        }
    }
}

#[test]
fn cases_match_jax_on_the_interpreter_backend() {
    run_all("interpreter", &Runtime::interpreter());
}

#[test]
fn cases_match_jax_on_xla_cpu_pjrt_api_0_81() {
    if let Some(rt) = plugin("xla_cpu_pjrt.so", "xla-cpu-pjrt (PJRT C API 0.81)") {
        assert_eq!(rt.info().api_version, Some((0, 81)), "{}", rt.info());
        run_all("xla_cpu_pjrt", &rt);
    }
}

#[test]
fn cases_match_jax_on_lammps_cpu_plugin_api_0_115() {
    if let Some(rt) = plugin(
        "pjrt_c_api_cpu_plugin.so",
        "lammps-jax-pjrt-cpu (PJRT C API 0.115)",
    ) {
        assert_eq!(rt.info().api_version, Some((0, 115)), "{}", rt.info());
        run_all("lammps", &rt);
    }
}
