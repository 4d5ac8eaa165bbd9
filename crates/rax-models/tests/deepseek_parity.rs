//! DeepSeek-V3 and V2 against transformers 5.23 (goldens written by
//! crates/rax-models/gen/deepseek_goldens.py): logits, the loss with labels = input_ids and
//! the greedy continuation of `generate`, on the interpreter and both CPU plugins.
mod ds_common;
use ds_common::{all_runtimes, data, golden, max_rel};
use rax_core::Literal;
use rax_models::deepseek::generate::DeepseekLm;
use rax_models::family::{load, GenerateOptions};

fn check_model(name: &str, dir: &str) {
    let g = golden(name);
    let ids = g["input_ids"].clone();
    let want_logits = g["logits"].to_f64_vec();
    let want_loss = g["loss"].to_f64_vec()[0];
    let m = load(&data().join(dir), None).expect("load");
    assert_eq!(m.family(), format!("deepseek_{name}"));
    for (label, rt) in all_runtimes() {
        let lg = m.logits(&rt, &ids).expect("logits").to_f64_vec();
        let rel = max_rel(&lg, &want_logits);
        let loss = m.loss(&rt, &ids).expect("loss");
        eprintln!("{name} [{label}]: logits max rel err {rel:.3e}, loss {loss} vs {want_loss}");
        // Both sides compute in f32; the logits pass through ~3 layers of f32 matmuls whose
        // summation orders differ (XLA/interpreter vs MKL): a few ulps (1e-7 relative) per
        // op, well inside 1e-4 of the largest logit.
        assert!(rel < 1e-4, "{name} [{label}] logits rel err {rel}");
        // The mean cross-entropy is an f32 reduction of those logits: 1e-5 relative.
        assert!(
            ((loss - want_loss) / want_loss).abs() < 1e-5,
            "{name} [{label}] loss {loss} vs {want_loss}"
        );
    }
}

#[test]
fn v3_logits_and_loss_match_transformers() {
    check_model("v3", "v3_single");
}

#[test]
fn v2_logits_and_loss_match_transformers() {
    check_model("v2", "v2_sharded");
}

fn check_generate(name: &str, dir: &str) {
    let g = golden(name);
    let prompt: Literal = g["prompt"].clone();
    let want = g["generated"].as_slice::<i32>().expect("i32").to_vec();
    let m = DeepseekLm::load(&data().join(dir), None).expect("load");
    let n = want.len() / prompt.dims()[0] - prompt.dims()[1];
    let opts = GenerateOptions {
        max_new_tokens: n,
        ..Default::default()
    };
    for (label, rt) in all_runtimes() {
        for absorbed in [true, false] {
            let out = m
                .generate_with(&rt, &prompt, &opts, absorbed)
                .expect("generate");
            let got = out.as_slice::<i32>().expect("i32").to_vec();
            eprintln!("{name} [{label}] absorbed={absorbed}: {got:?}");
            assert_eq!(
                got, want,
                "{name} [{label}] absorbed={absorbed}: greedy continuation"
            );
            // The host-driven decode (one execution per token) runs the same traced step.
            let stepwise = m
                .generate_stepwise(&rt, &prompt, &opts, absorbed)
                .expect("generate stepwise");
            assert_eq!(
                stepwise.as_slice::<i32>().expect("i32"),
                &got[..],
                "{name} [{label}] absorbed={absorbed}: stepwise decode"
            );
        }
    }
}

#[test]
fn v3_greedy_generate_matches_transformers() {
    check_generate("v3", "v3_single");
}

#[test]
fn v2_greedy_generate_matches_transformers() {
    check_generate("v2", "v2_sharded");
}
