//! Differential conformance: every case of `cases/*.json` runs on the interpreter and on each
//! CPU PJRT plugin (xla-cpu-pjrt, PJRT C API 0.81; lammps-jax-pjrt-cpu, API 0.115) through
//! rax-runtime's `Backend` (lower -> compile -> execute), and is checked against JAX's golden
//! values with `check_outputs`. Under `CI=true` a missing plugin (or an empty case directory)
//! is a failure, never a silent skip. Known disagreements are listed in `KNOWN` with their
//! reason and the exact elements they excuse; they still run, the rest of the case must match,
//! and they are reported (an entry that now passes is reported as stale).
use rax_core::Literal;
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
    /// The elements excused: (output index, flat element index). The case is checked again
    /// with those elements set to JAX's values, so any other disagreement is still a failure.
    at: &'static [(usize, usize)],
    /// The failure message must contain this (the expected and the observed value).
    only: &'static str,
}

/// `got` with the elements `at` replaced by `expected`'s (bytes copied: exact for every dtype).
fn with_expected_elements(
    expected: &[Literal],
    got: &[Literal],
    at: &[(usize, usize)],
) -> Option<Vec<Literal>> {
    let mut out = got.to_vec();
    for &(o, i) in at {
        let (e, g) = (expected.get(o)?, out.get(o)?);
        if e.aval() != g.aval() || i >= g.numel() {
            return None;
        }
        let size = g.to_bytes().len() / g.numel().max(1);
        let mut bytes = g.to_bytes();
        bytes[i * size..(i + 1) * size].copy_from_slice(&e.to_bytes()[i * size..(i + 1) * size]);
        out[o] = Literal::from_bytes(&g.aval(), &bytes).ok()?;
    }
    Some(out)
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
        at: &[(0, 8)],
        only: "element 8: expected 1.91015625e0, got 1.9052734375e0",
    },
    Known {
        backend: "xla_cpu_pjrt",
        case: "top_k/bf16/all",
        why: "on AVX-512 BF16 hardware XLA compares bf16 with denormals as zero, so the \
              denormal 9.2e-41 ties with +0 and their indices swap (jaxlib 0.10.2 on that \
              machine agrees)",
        // The two tied entries swap places: indices 22 and 23 of the index output.
        at: &[(1, 22), (1, 23)],
        only: "output 1: exact i32 mismatch at flat index 22: expected 14, got 6",
    },
    Known {
        backend: "lammps",
        case: "pad/bf16/mixed",
        why: "the API 0.115 plugin on AVX-512 BF16 hardware flushes the bf16 denormal 9.2e-41 \
              to zero in pad (jaxlib 0.10.2 on the same machine keeps it)",
        at: &[(0, 70)],
        only: "element 70: expected exactly 9.183549615799121e-41, got 0e0",
    },
    Known {
        backend: "xla_cpu_pjrt",
        case: "cbrt/f32/edge",
        why: "the API 0.81 plugin's older XLA approximates cbrt less accurately for huge \
              operands: cbrt(+-3e38) is 11 f32 ulps off (jaxlib 0.10.2, the API 0.115 plugin and \
              the interpreter agree)",
        at: &[(0, 15), (0, 16)],
        only: "element 15: expected 6.69432938496e12, got 6.694335152128e12",
    },
    Known {
        backend: "xla_cpu_pjrt",
        case: "cbrt/f64/edge",
        why: "the API 0.81 plugin's older XLA approximates cbrt less accurately for huge \
              operands: cbrt(+-3e38) is 11 f64 ulps off (jaxlib 0.10.2, the API 0.115 plugin and \
              the interpreter agree)",
        at: &[(0, 15), (0, 16)],
        only: "element 15: expected 6.694329500821695e12, got 6.694329500821685e12",
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
                Ok((b.expected, got))
            });
            let mut excused_rest_ok = false;
            let outcome = match result {
                Ok((expected, got)) => match check_outputs(case, &expected, &got) {
                    Ok(()) => Ok(()),
                    Err(m) => {
                        if let Some(k) = known(key, &case.name) {
                            excused_rest_ok = with_expected_elements(&expected, &got, k.at)
                                .is_some_and(|p| check_outputs(case, &expected, &p).is_ok());
                        }
                        Err(format!("[{fam}] {m}"))
                    }
                },
                Err(e) => Err(format!("[{fam}] {}: {e}", case.name)),
            };
            match (outcome, known(key, &case.name)) {
                (Ok(()), None) => passed += 1,
                (Ok(()), Some(k)) => {
                    passed += 1;
                    stale.push(format!("{} ({})", case.name, k.why));
                }
                (Err(m), Some(k)) if m.contains(k.only) && excused_rest_ok => {
                    known_hits.push(format!("{m}\n    known: {}", k.why))
                }
                (Err(m), Some(k)) => failures.push(format!(
                    "{m}\n    (a known entry excuses only `{}` at {:?}: {})",
                    k.only, k.at, k.why
                )),
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
