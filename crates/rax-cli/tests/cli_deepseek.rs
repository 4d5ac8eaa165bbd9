//! The `rax` program on Hugging Face DeepSeek directories (the tiny V3 single-file and V2
//! sharded bf16 checkpoints committed in crates/rax-models/tests/data/deepseek, written by
//! crates/rax-models/gen/deepseek_goldens.py with transformers 5.23 + torch 2.15):
//! `rax eval --json` reports transformers' loss with `labels=input_ids`, `--logits` writes
//! transformers' logits, `rax generate` (latent cache, absorbed decode) continues greedily
//! token for token as transformers' `generate`; on the interpreter and every CPU plugin. A
//! directory whose config.json has a bad field, or whose safetensors lacks a tensor, is a
//! one-line error naming the field or tensor, with a non-zero exit and no panic.
use ndarray::{ArrayD, IxDyn};
use rax_core::Literal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;
use common::{plugin_backends as backends, rax, s, succeeds};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rax-models/tests/data/deepseek")
}

fn tmp(name: &str) -> PathBuf {
    common::tmp("cli_deepseek", name)
}

fn golden(name: &str) -> BTreeMap<String, Literal> {
    rax_models::deepseek::checkpoint::read_safetensors(
        &data().join(format!("{name}_golden.safetensors")),
    )
    .expect("golden file")
}

/// Writes an int32 golden tensor as the `.npy` file the CLI reads.
fn write_npy(lit: &Literal, name: &str) -> PathBuf {
    let p = tmp(name);
    let v = lit.as_slice::<i32>().expect("i32 golden").to_vec();
    let a = ArrayD::from_shape_vec(IxDyn(lit.dims()), v).expect("shape");
    ndarray_npy::write_npy(&p, &a).expect("write npy");
    p
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn check_eval(name: &str, dir: &str) {
    let g = golden(name);
    let toks = write_npy(&g["input_ids"], &format!("{name}_tokens.npy"));
    let want_loss = g["loss"].to_f64_vec()[0];
    let want_logits = g["logits"].to_f64_vec();
    let ckpt = data().join(dir);
    for be in backends() {
        let lp = tmp(&format!("{name}_logits.npy"));
        let _ = std::fs::remove_file(&lp);
        let out = succeeds(&[
            "eval",
            "--checkpoint",
            s(&ckpt),
            "--tokens",
            s(&toks),
            "--json",
            "--backend",
            &be,
            "--logits",
            s(&lp),
        ]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(v["model"], format!("deepseek_{name}"), "{out}");
        let loss = v["loss"].as_f64().expect("loss is a number");
        let logits: ArrayD<f32> = ndarray_npy::read_npy(&lp).expect("logits npy");
        assert_eq!(
            logits.shape(),
            g["logits"].dims(),
            "{name} [{be}] logits shape"
        );
        let got: Vec<f64> = logits.iter().map(|&x| x as f64).collect();
        let rel = max_rel(&got, &want_logits);
        eprintln!("{name} [{be}]: loss {loss} vs {want_loss}, logits max rel err {rel:.3e}");
        // Both sides compute in f32 through 2-3 layers whose matmul summation orders differ
        // (XLA / the interpreter vs torch's MKL): a few ulps (~1e-7 relative) per op, so
        // 1e-4 of the largest logit is generous yet far below any real error (a wrong rope
        // layout or routing choice moves logits by >1e-2).
        assert!(rel < 1e-4, "{name} [{be}] logits rel err {rel}");
        // The loss is the mean of 2x11 f32 log-softmax terms of those logits (accumulated in
        // f32): its error is of the logits' order, so 1e-5 relative.
        assert!(
            ((loss - want_loss) / want_loss).abs() < 1e-5,
            "{name} [{be}] loss {loss} vs transformers {want_loss}"
        );
    }
}

#[test]
fn eval_v3_single_file_matches_transformers() {
    check_eval("v3", "v3_single");
}

#[test]
fn eval_v2_sharded_bf16_matches_transformers() {
    check_eval("v2", "v2_sharded");
}

fn check_generate(name: &str, dir: &str) {
    let g = golden(name);
    let prompt = write_npy(&g["prompt"], &format!("{name}_prompt.npy"));
    let want = g["generated"].as_slice::<i32>().expect("i32").to_vec();
    let new = g["generated"].dims()[1] - g["prompt"].dims()[1];
    let ckpt = data().join(dir);
    for be in backends() {
        let op = tmp(&format!("{name}_gen.npy"));
        let _ = std::fs::remove_file(&op);
        let out = succeeds(&[
            "generate",
            "--checkpoint",
            s(&ckpt),
            "--prompt",
            s(&prompt),
            "--max-new-tokens",
            &new.to_string(),
            "--out",
            s(&op),
            "--json",
            "--backend",
            &be,
        ]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(v["new_tokens"], g["prompt"].dims()[0] * new, "{out}");
        let got: ArrayD<i32> = ndarray_npy::read_npy(&op).expect("generated npy");
        assert_eq!(got.shape(), g["generated"].dims(), "{name} [{be}]");
        let got: Vec<i32> = got.iter().copied().collect();
        // Greedy decoding is exact token for token: argmax of f32 logits whose top-2 gaps in
        // these goldens are far above the ~1e-6 f32 disagreement.
        assert_eq!(
            got, want,
            "{name} [{be}]: greedy continuation differs from transformers"
        );
    }
}

#[test]
fn generate_v3_greedy_equals_transformers() {
    check_generate("v3", "v3_single");
}

#[test]
fn generate_v2_greedy_equals_transformers() {
    check_generate("v2", "v2_sharded");
}

/// A copy of the V3 directory with `edit` applied to its config.json and `drop` removed from
/// its model.safetensors.
fn broken_copy(tag: &str, edit: &dyn Fn(&mut serde_json::Value), drop: Option<&str>) -> PathBuf {
    let src = data().join("v3_single");
    let dst = tmp(tag);
    std::fs::create_dir_all(&dst).expect("dir");
    let text = std::fs::read_to_string(src.join("config.json")).expect("config");
    let mut cfg: serde_json::Value = serde_json::from_str(&text).expect("json");
    edit(&mut cfg);
    std::fs::write(dst.join("config.json"), cfg.to_string()).expect("write config");
    let mut t = rax_models::deepseek::checkpoint::read_safetensors(&src.join("model.safetensors"))
        .expect("read");
    if let Some(name) = drop {
        assert!(t.remove(name).is_some(), "{name} not in the checkpoint");
    }
    rax_models::deepseek::checkpoint::write_safetensors(&dst.join("model.safetensors"), &t)
        .expect("write");
    dst
}

/// Runs eval and generate on `dir`; both must fail with one `rax: error:` line naming `what`.
fn one_line_error(dir: &Path, what: &str) {
    let g = golden("v3");
    // One token/output file per case: the tests of this binary run in parallel threads.
    let case = dir.file_name().and_then(|n| n.to_str()).unwrap_or("case");
    let toks = write_npy(&g["input_ids"], &format!("err_tokens_{case}.npy"));
    let o = tmp(&format!("err_out_{case}.npy"));
    let runs: [Vec<&str>; 2] = [
        vec!["eval", "--checkpoint", s(dir), "--tokens", s(&toks)],
        vec![
            "generate",
            "--checkpoint",
            s(dir),
            "--prompt",
            s(&toks),
            "--max-new-tokens",
            "2",
            "--out",
            s(&o),
        ],
    ];
    for args in runs {
        let mut args = args;
        args.extend(["--backend", "interpreter"]);
        let out = rax(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "rax {args:?} succeeded");
        assert!(
            out.status.code().is_some() && !err.contains("panicked"),
            "rax {args:?} panicked or was killed: {:?}\n{err}",
            out.status
        );
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "rax {args:?}: expected one line:\n{err}");
        assert!(lines[0].starts_with("rax: error: "), "{err}");
        assert!(
            err.contains(what),
            "rax {args:?}: {err:?} does not name {what:?}"
        );
    }
}

#[test]
fn an_unknown_config_field_is_named() {
    let dir = broken_copy(
        "unknown_field",
        &|c| {
            c["moe_layer_freq_x"] = serde_json::json!(2);
        },
        None,
    );
    one_line_error(&dir, "moe_layer_freq_x");
}

#[test]
fn a_mistyped_config_field_is_named() {
    let dir = broken_copy(
        "mistyped_field",
        &|c| {
            c["kv_lora_rank"] = serde_json::json!("sixteen");
        },
        None,
    );
    one_line_error(&dir, "kv_lora_rank");
}

#[test]
fn an_unsupported_activation_is_named() {
    let dir = broken_copy(
        "bad_activation",
        &|c| {
            c["hidden_act"] = serde_json::json!("gelu");
        },
        None,
    );
    one_line_error(&dir, "hidden_act");
}

#[test]
fn a_missing_tensor_is_named() {
    let name = "model.layers.1.self_attn.kv_a_proj_with_mqa.weight";
    let dir = broken_copy("missing_tensor", &|_| {}, Some(name));
    one_line_error(&dir, name);
}

#[test]
fn a_config_that_is_not_json_is_an_error() {
    let dir = broken_copy("not_json", &|_| {}, None);
    std::fs::write(dir.join("config.json"), "{\"model_type\": \"deepseek_v3\",").expect("write");
    one_line_error(&dir, "config.json");
}
