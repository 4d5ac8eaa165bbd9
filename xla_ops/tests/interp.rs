//! Runs every conformance case on the reference interpreter and compares with JAX's values.
use xla_ops::{build_case, check_outputs, families, load_family};

#[test]
fn all_cases_match_jax_on_the_interpreter() {
    let mut failures = Vec::new();
    let mut n = 0;
    for fam in families() {
        let cases = load_family(&fam).expect("case file loads");
        for case in &cases {
            n += 1;
            let r = build_case(&fam, case).and_then(|b| {
                let refs: Vec<&rax_core::Literal> = b.inputs.iter().collect();
                let got = rax_core::interp::eval_graph(&b.graph, &refs)?;
                Ok((b, got))
            });
            match r {
                Ok((b, got)) => {
                    if let Err(m) = check_outputs(case, &b.expected, &got) {
                        failures.push(format!("[{fam}] {m}"));
                    }
                }
                Err(e) => failures.push(format!("[{fam}] {}: {e}", case.name)),
            }
        }
    }
    println!("{n} conformance cases run on the interpreter");
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ops_doc_is_current() {
    let md = xla_ops::catalogue::markdown();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ops.md");
    if std::env::var("RAX_BLESS").is_ok() {
        std::fs::write(&path, &md).expect("write docs/ops.md");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        on_disk, md,
        "docs/ops.md is stale: run RAX_BLESS=1 cargo test -p xla-ops ops_doc"
    );
}
