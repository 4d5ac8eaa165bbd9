//! `rax inspect` and `rax diff` on real checkpoints of the frozen-norm pair (seeds 000/001):
//! under the blanket bf16 cast the audit lists every sensitive leaf as not f32 and `diff`
//! between two checkpoints of the run reports every norm frozen and every matrix moved; under
//! the policy `p=f32,c=bf16` the audit is clean and nothing is frozen. Wrong inputs are errors
//! naming the path.

mod common;
use common::{rax, s, succeeds, tmp};
use std::path::{Path, PathBuf};

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/configs")
        .join(name)
}

/// Trains `steps`, copies that checkpoint aside, resumes to `2 * steps`; returns (early, run dir).
fn two_checkpoints(cfg: &str, name: &str, steps: u32) -> (PathBuf, PathBuf) {
    let run = tmp("inspect_diff", name);
    let early = tmp("inspect_diff", &format!("{name}_early"));
    let _ = std::fs::remove_dir_all(&run);
    let _ = std::fs::remove_dir_all(&early);
    let c = config(cfg);
    let n = steps.to_string();
    succeeds(&[
        "train",
        "--config",
        s(&c),
        "--out",
        s(&run),
        "--steps",
        &n,
        "--backend",
        "auto",
    ]);
    let ck = run.join(format!("checkpoints/step_{steps:08}"));
    std::fs::create_dir_all(&early).unwrap();
    for f in std::fs::read_dir(&ck).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, early.join(f.file_name().unwrap())).unwrap();
    }
    let n2 = (2 * steps).to_string();
    succeeds(&["train", "--resume", s(&run), "--steps", &n2]);
    (early, run)
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = succeeds(args);
    serde_json::from_str(out.lines().last().unwrap_or("")).expect("one JSON line")
}

fn group<'a>(d: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {d}"))
}

#[test]
fn blanket_bf16_norms_are_frozen_between_checkpoints_and_fail_the_audit() {
    let (early, run) = two_checkpoints("frozen_norms_blanket_bf16.toml", "blanket", 3);
    let i = json(&["inspect", s(&run), "--json"]);
    assert_eq!(i["step"], 6);
    assert_eq!(i["family"], "deepseek");
    let leaves = i["leaves"].as_array().unwrap();
    let sensitive: Vec<&str> = leaves
        .iter()
        .filter(|l| l["sensitive"] == true)
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert!(sensitive.contains(&"norm"), "{sensitive:?}");
    // Every sensitive leaf is bf16 under the blanket cast, and the audit names each.
    let audit = i["sensitive_not_f32"].as_array().unwrap();
    assert_eq!(audit.len(), sensitive.len(), "{audit:?}");
    assert!(audit.iter().any(|a| a == "norm: bf16"), "{audit:?}");
    // A norm scale initialised to 1 that never moved: rms exactly 1.
    let norm = leaves.iter().find(|l| l["path"] == "norm").unwrap();
    assert_eq!(norm["dtype"], "bf16");
    assert_eq!(norm["stats"]["rms"], 1.0);
    let text = succeeds(&["inspect", s(&run)]);
    assert!(text.contains("sensitive leaves are NOT f32"), "{text}");

    let d = json(&["diff", s(&early), s(&run), "--json"]);
    assert_eq!(
        (d["a_step"].as_u64(), d["b_step"].as_u64()),
        (Some(3), Some(6))
    );
    let norms = group(&d, "norms");
    assert_eq!(norms["frozen"], norms["leaves"], "{norms}");
    assert!(norms["leaves"].as_u64().unwrap() > 0);
    assert_eq!(norms["frac_elements_moved"], 0.0);
    let m = group(&d, "matrices");
    assert_eq!(m["frozen"], 0, "{m}");
    assert!(m["frac_elements_moved"].as_f64().unwrap() > 0.5, "{m}");
    let frozen = d["frozen_params"].as_array().unwrap();
    assert_eq!(frozen.len() as u64, norms["leaves"].as_u64().unwrap());
    let text = succeeds(&["diff", s(&early), s(&run)]);
    assert!(
        text.contains("frozen: ") && text.contains("norm (norms, bf16)"),
        "{text}"
    );
}

#[test]
fn policy_run_keeps_sensitive_leaves_f32_and_nothing_freezes() {
    let (early, run) = two_checkpoints("frozen_norms_policy.toml", "policy", 3);
    let i = json(&["inspect", s(&run), "--json"]);
    assert_eq!(i["sensitive_not_f32"].as_array().unwrap().len(), 0, "{i}");
    let text = succeeds(&["inspect", s(&run)]);
    assert!(text.contains("sensitive leaves are f32"), "{text}");
    let d = json(&["diff", s(&early), s(&run), "--json"]);
    assert_eq!(d["frozen_params"].as_array().unwrap().len(), 0, "{d}");
    assert_eq!(group(&d, "norms")["frozen"], 0);

    // Bad inputs: a missing path, a directory without checkpoints.
    let out = rax(&["inspect", "/nonexistent/rax/run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/nonexistent/rax/run"),
        "{err}"
    );
    let empty = tmp("inspect_diff", "empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = rax(&["diff", s(&empty), s(&run)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no manifest.json"),
        "{err}"
    );
}
