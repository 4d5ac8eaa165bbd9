//! The shipped run configs on short runs through the `rax` binary: smoke trains (metrics keys,
//! the --json summary, charts, report); the frozen-norm pair reproduces seeds 000/001 (blanket
//! bf16: every norm frozen with the bf16-spacing cause; policy p=f32,c=bf16: none frozen); a
//! diverging run is stopped after K consecutive non-finite steps naming the leaves; config
//! mistakes are errors naming the key and line.

use std::path::{Path, PathBuf};
use std::process::Command;

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rax_cfg_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn train(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rax"))
        .arg("train")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let last = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    (
        out.status.success(),
        last.unwrap_or(serde_json::Value::Null),
        stderr,
    )
}

#[test]
fn smoke_trains_and_writes_metrics_summary_report_and_charts() {
    let dir = tmp("smoke");
    let cfg = configs().join("smoke.toml");
    let (ok, s, err) = train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    for k in [
        "final_loss",
        "steps",
        "tokens_per_s",
        "frozen_params",
        "nonfinite_steps_skipped",
    ] {
        assert!(s.get(k).is_some(), "summary lacks {k}: {s}");
    }
    assert_eq!(s["steps"], 40);
    assert_eq!(s["nonfinite_steps_skipped"], 0);
    assert_eq!(s["frozen_params"].as_array().unwrap().len(), 0);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 40);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["step"], i as u64 + 1);
        for k in ["loss", "lr", "grad_norm", "tokens_per_s"] {
            assert!(r[k].is_number(), "step {} lacks {k}: {r}", i + 1);
        }
    }
    let first = rows[0]["loss"].as_f64().unwrap();
    let last = s["final_loss"].as_f64().unwrap();
    // Bytes start near ln(256) = 5.55; 40 steps on the docs bring the loss well below.
    assert!(first > 5.0 && last < first - 1.0, "loss {first} -> {last}");
    assert!(rows[19]["eval_loss"].is_number() && rows[39]["eval_loss"].is_number());
    let png = std::fs::read(dir.join("charts.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "charts.png is {} bytes", png.len());
    for f in [
        "config.toml",
        "policy.json",
        "report.txt",
        "diagnostics.jsonl",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(
        report.contains("matrices") && report.contains("frozen parameters: none"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn frozen_run(name: &str) -> (serde_json::Value, String) {
    let dir = tmp(name);
    let cfg = configs().join(format!("{name}.toml"));
    let (ok, s, err) = train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--steps",
        "6",
        "--json",
    ]);
    assert!(ok, "{err}");
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    let policy = std::fs::read_to_string(dir.join("policy.json")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (s, format!("{report}\n{policy}"))
}

fn norm_leaves(s: &serde_json::Value) -> Vec<String> {
    s["frozen_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn blanket_bf16_freezes_every_norm_and_names_the_cause() {
    let (s, report) = frozen_run("frozen_norms_blanket_bf16");
    let frozen = norm_leaves(&s);
    // The tiny DeepSeek-V2 MoE has 9 RMSNorm scales: input, q_a, kv_a and post norms in each
    // of 2 layers, and the final norm. Every one is frozen, and nothing else.
    assert_eq!(frozen.len(), 9, "{frozen:?}");
    assert!(frozen.iter().all(|p| p.ends_with("norm")), "{frozen:?}");
    for f in s["frozen"].as_array().unwrap() {
        let c = f["cause"].as_str().unwrap();
        assert!(c.contains("below half the bf16 spacing"), "{c}");
    }
    assert!(
        report.contains("9/9") && report.contains("\"cast\": \"blanket\""),
        "{report}"
    );
}

#[test]
fn the_policy_run_trains_every_norm() {
    let (s, report) = frozen_run("frozen_norms_policy");
    assert_eq!(norm_leaves(&s), Vec::<String>::new(), "{report}");
    assert!(report.contains("frozen parameters: none"), "{report}");
    assert!(report.contains("\"sensitive_not_f32\": []"), "{report}");
}

#[test]
fn divergence_stops_after_k_skips_naming_the_leaves() {
    let dir = tmp("nan");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(configs().join("smoke.toml"))
        .unwrap()
        .replace("lr = 0.02", "lr = 1e30")
        .replace(
            "../data/corpus",
            configs().join("../data/corpus").to_str().unwrap(),
        );
    let cfg = dir.join("diverge.toml");
    std::fs::write(&cfg, text).unwrap();
    let (ok, _, err) = train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert!(!ok, "a diverging run must stop");
    assert!(
        err.contains("5 consecutive non-finite steps") && err.contains("layers.0."),
        "{err}"
    );
    let metrics = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    assert_eq!(metrics.matches("\"skipped\":true").count(), 5, "{metrics}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_mistakes_name_the_key_and_the_line() {
    let dir = tmp("badcfg");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(configs().join("smoke.toml")).unwrap();
    let bad = good.replace("heads = 2", "heads = 2\nhidden = 3");
    let line = bad.lines().position(|l| l.starts_with("hidden")).unwrap() + 1;
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, &bad).unwrap();
    let (ok, _, err) = train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains(&format!("bad.toml:{line}")) && err.contains("hidden"),
        "{err}"
    );
    std::fs::write(&cfg, good.replace("size = 4", "size = 0")).unwrap();
    let (ok, _, err) = train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("at least 1") && err.contains("bad.toml:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn losses(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// `rax train --config CFG --out OUT EXTRA...`.
fn run(cfg: &Path, out: &Path, extra: &[&str]) -> (bool, serde_json::Value, String) {
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    train(&args)
}

/// A copy of the shipped config `name` with text replacements (the data path made absolute).
fn variant(name: &str, tag: &str, replacements: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(configs().join(name)).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "{name} has no `{from}`");
        text = text.replace(from, to);
    }
    let data = configs().join("../data/corpus");
    let f = tmp(tag).with_extension("toml");
    std::fs::write(&f, text.replace("../data/corpus", data.to_str().unwrap())).unwrap();
    f
}

#[test]
fn megalodon_trains_on_packed_documents_and_resumes_bitwise_with_dropout() {
    let dir = tmp("megalodon");
    let cfg = configs().join("megalodon_tiny.toml");
    let (ok, s, err) = run(
        &cfg,
        &dir,
        &["--steps", "8", "--checkpoint-every", "4", "--json"],
    );
    assert!(ok, "{err}");
    assert_eq!(s["steps"], 8);
    assert_eq!(s["frozen_params"].as_array().unwrap().len(), 0, "{s}");
    let all = losses(&dir);
    assert_eq!(all.len(), 8);
    assert!(all[7] < all[0], "the loss must fall: {all:?}");
    // Sensitive leaves (CEMA coefficients, norms) stay f32 under c=bf16.
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("policy.json")).unwrap()).unwrap();
    assert_eq!(policy["sensitive_not_f32"].as_array().unwrap().len(), 0);
    assert_eq!(policy["compute"], "bf16");
    // Resume from the step-4 checkpoint alone: steps 5..8 repeat bit for bit (the dropout
    // masks come from the run key folded with the step).
    let again = tmp("megalodon_resume");
    let ck = Path::new("checkpoints/step_00000004");
    std::fs::create_dir_all(again.join(ck)).unwrap();
    std::fs::copy(dir.join("config.toml"), again.join("config.toml")).unwrap();
    for f in std::fs::read_dir(dir.join(ck)).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, again.join(ck).join(f.file_name().unwrap())).unwrap();
    }
    let (ok, s, err) = train(&["--resume", again.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    assert_eq!(s["resumed_from"], 4);
    assert_eq!(losses(&again), all[4..].to_vec());

    // An unknown MegalodonConfig field is an error naming it and its line.
    let bad = variant(
        "megalodon_tiny.toml",
        "megalodon_bad",
        &[("swiglu = true", "swiglu = true\nswish = true")],
    );
    let line = std::fs::read_to_string(&bad)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("swish"))
        .unwrap()
        + 1;
    let (ok, _, err) = run(&bad, &dir, &[]);
    assert!(
        !ok && err.contains(&format!(":{line}")) && err.contains("swish"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&again);
}

#[test]
fn seed004_mla_moe_trains_with_lion_and_router_losses() {
    let dir = tmp("seed004");
    let cfg = configs().join("mla_moe_seed004.toml");
    let (ok, s, err) = run(&cfg, &dir, &["--steps", "12", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(s["nonfinite_steps_skipped"], 0);
    assert_eq!(s["frozen_params"].as_array().unwrap().len(), 0, "{s}");
    let l = losses(&dir);
    assert!(l[11] < l[0], "the loss must fall: {l:?}");
    // The router z-loss is part of the objective: without it the first step's loss is lower
    // by 1e-3 x sum over the 2 MoE layers of mean(logsumexp^2) of near-uniform router logits
    // over 4 experts (about 2 x ln(4)^2 = 3.8, so about 3.8e-3).
    let f = variant(
        "mla_moe_seed004.toml",
        "seed004_noaux",
        &[
            ("router_z_loss = 1e-3", "router_z_loss = 0.0"),
            ("balance_coef = 1e-4", "balance_coef = 0.0"),
        ],
    );
    let d2 = tmp("seed004_noaux_run");
    let (ok, _, err) = run(&f, &d2, &["--steps", "1"]);
    assert!(ok, "{err}");
    let gap = l[0] - losses(&d2)[0];
    assert!(gap > 2e-3 && gap < 6e-3, "z-loss contribution {gap}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&d2);
}

#[test]
fn ttt_fast_weights_stay_f32_and_the_blanket_cast_is_refused_naming_the_leaf() {
    let dir = tmp("ttt");
    let cfg = configs().join("ttt_fast_weights.toml");
    let (ok, s, err) = run(&cfg, &dir, &["--steps", "10", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(s["frozen_params"].as_array().unwrap().len(), 0, "{s}");
    let l = losses(&dir);
    assert!(l[9] < l[0], "{l:?}");
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("policy.json")).unwrap()).unwrap();
    assert_eq!(policy["leaves"]["layers.0.ttt.w0"], "f32");
    assert_eq!(policy["leaves"]["layers.0.ttt.theta_k"], "bf16");
    // Exported (the checkpoint): the fast weights and other sensitive leaves are f32, the rest bf16.
    let out = Command::new(env!("CARGO_BIN_EXE_rax"))
        .args(["inspect", dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let i: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for leaf in i["leaves"].as_array().unwrap() {
        let want = if leaf["sensitive"] == true {
            "f32"
        } else {
            "bf16"
        };
        assert_eq!(leaf["dtype"], want, "{leaf}");
    }
    // The blanket cast: refused at trace time, naming the leaf.
    let p = "policy = \"p=bf16,c=bf16,a=f32,s=f32\"";
    let blanket = format!("{p}\ncast = \"blanket\"");
    let f = variant("ttt_fast_weights.toml", "ttt_blanket", &[(p, &blanket)]);
    let (ok, _, err) = run(&f, &tmp("ttt_blanket_run"), &[]);
    assert!(!ok);
    assert!(
        err.contains("`layers.0.ttt.w0` is stored bf16") && err.contains("narrowed"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
