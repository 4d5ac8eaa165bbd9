//! The Megalodon training step and greedy decode of the Megalodon issue, in rax (see
//! examples/bench_megalodon/bench_megalodon_jax.py for the megalodon-jax 0.2.2 + optax peer and
//! run.sh for both side by side from one checkpoint).
//!
//!     cargo run --release -p rax-examples --example bench_megalodon -- --json [--compute bf16]
//!         [--backend auto|interpreter|PATH.so] [--steps 10] [--init DIR]
//!         [--batch 4 --seq 256] [--prompt-len 64 --new-tokens 64] [--no-decode]
//!         [--dump-stablehlo step.mlir] [--no-donate] [--layers 2]
//!         [--dump-parts PREFIX]
//!
//! Model (the defaults): vocab 256, model_dim 128, 2 layers, 1 head, z_dim 64,
//! value_dim 256, ffn_hidden_dim 512, cema_ndim 16, chunk 64, norm groups 8; `--init DIR` loads
//! `DIR/model.safetensors` (a megalodon-jax native checkpoint) and `DIR/tokens.safetensors`
//! (int32 `tokens [batch, seq]`), both written by the peer script's `--write-init`.
//!
//! One jitted program per step: `compute_loss(tokens, tokens)` (mean next-token cross-entropy),
//! value_and_grad, clip_by_global_norm(1.0), AdamW (3e-4, 0.9, 0.999, 1e-8, wd 0.1 on every
//! parameter), apply; params and optimizer state donated. `trace_lower_s` times tracing +
//! lowering to StableHLO text; `compile_s` is the time of `Jit::compile` (ahead of time, as
//! JAX's `lowered.compile()`) less trace+lower; then one warm-up step runs and `steps` steps
//! are timed. `--compute bf16` runs the policy `p=f32,c=bf16,a=f32,s=f32`.
//! `--dump-parts PREFIX` also writes the loss alone (`PREFIX.loss.mlir`) and the loss with its
//! gradient (`PREFIX.grad.mlir`), to see with `hlo_bench` where the step's compile time goes.
//!
//! Decode: greedy continuation of the first `prompt-len` tokens of each row by `new-tokens`
//! tokens with the jitted prefill and the decode loop program of `megalodon::generate`; the
//! first call compiles (`decode_first_s`), the second is timed (`decode_s`,
//! `decode_tokens_per_s` = batch x new-tokens / decode_s, prefill included, as megalodon-jax's
//! `generate`). `decode_stepwise_tokens_per_s` times the same tokens with one decode execution
//! per token driven from the host.
#[path = "../common/flags.rs"]
mod flags;
use flags::{median, Flags};
use rax::core::autodiff::value_and_grad;
use rax::core::policy::Policy;
use rax::core::{DType, Error, Literal, PrngKey, Result, Tensor};
use rax::models::family::GenerateOptions;
use rax::models::megalodon::checkpoint;
use rax::models::megalodon::generate::Generator;
use rax::models::megalodon::{lm_loss, MegalodonConfig, MegalodonForCausalLM};
use rax::optim::{adamw, apply_updates, chain, clip_by_global_norm, GradientTransformation, State};
use std::cell::RefCell;
use std::time::Instant;

/// The benchmark config (megalodon-jax field names; other fields at their defaults).
fn default_config() -> MegalodonConfig {
    MegalodonConfig {
        vocab_size: 256,
        model_dim: 128,
        num_layers: 2,
        num_heads: 1,
        z_dim: 64,
        value_dim: 256,
        ffn_hidden_dim: 512,
        cema_ndim: 16,
        chunk_size: 64,
        norm_num_groups: 8,
        ..MegalodonConfig::default()
    }
}

/// The loss, with a trace-time error carried out of the `Fn(&T) -> Tensor` closure.
fn loss_of(
    cfg: &MegalodonConfig,
    p: &MegalodonForCausalLM,
    toks: &Tensor,
) -> Result<(Tensor, MegalodonForCausalLM)> {
    let err = RefCell::new(None);
    let out = value_and_grad(|p: &MegalodonForCausalLM| match lm_loss(p, cfg, toks) {
        Ok(l) => l,
        Err(e) => {
            *err.borrow_mut() = Some(e);
            Tensor::scalar_of(f64::NAN, DType::F32)
        }
    })(p)?;
    match err.into_inner() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn main() -> Result<()> {
    let flags = Flags::from_env();
    let get = |flag: &str| flags.get(flag);
    let has = |flag: &str| flags.has(flag);
    let num = |flag: &str, d: usize| flags.num(flag, d);
    let compute = get("--compute").unwrap_or_else(|| "f32".into());
    let policy_s = match compute.as_str() {
        "f32" => "p=f32,c=f32,a=f32,s=f32",
        "bf16" => "p=f32,c=bf16,a=f32,s=f32",
        other => {
            return Err(Error::arg(
                "--compute",
                format!("expected f32 or bf16, got {other:?}"),
            ))
        }
    };
    let policy = Policy::parse(policy_s)?;
    let (batch, seq, steps) = (num("--batch", 4)?, num("--seq", 256)?, num("--steps", 10)?);
    let (prompt_len, new_tokens) = (num("--prompt-len", 64)?, num("--new-tokens", 64)?);
    let rt = flags.runtime()?;
    let (cfg, params, tokens) = match get("--init") {
        Some(dir) => {
            let dir = std::path::Path::new(&dir);
            let loaded = checkpoint::load(dir.join("model.safetensors"), Some(&policy))?;
            let t = rax::nn::checkpoint::load(dir.join("tokens.safetensors"))?;
            let toks = t
                .get("tokens")
                .cloned()
                .ok_or_else(|| Error::data("--init", "no `tokens` tensor in tokens.safetensors"))?;
            (loaded.config, loaded.params, Tensor::from_literal(toks))
        }
        None => {
            let mut cfg = default_config();
            cfg.num_layers = num("--layers", 2)? as _;
            let cfg = cfg.with_policy(&policy)?;
            let p = MegalodonForCausalLM::init(&cfg, &PrngKey::new(0))?;
            let toks = rax::models::lm::random_tokens(cfg.vocab_size as usize, batch, seq - 1, 0)?;
            (cfg, p, toks)
        }
    };
    let (batch, seq) = (tokens.dims()[0], tokens.dims()[1]);
    let n_params = params.param_count();
    let opt = chain((clip_by_global_norm(1.0), adamw(3e-4, 0.1)));
    let state = opt.init(&params)?;
    let c2 = cfg.clone();
    let step = rt
        .jit(
            move |(p, s, toks): &(MegalodonForCausalLM, State, Tensor)| {
                let (l, g) = loss_of(&c2, p, toks)?;
                let (u, s) = opt.update(&g, s.clone(), Some(p))?;
                Ok((apply_updates(p, &u)?, s, l))
            },
        )
        .donate_args(if has("--no-donate") { &[] } else { &[0, 1] });
    let decode_params = params.clone();
    let mut x = (params, state, tokens.clone());
    let t0 = Instant::now();
    let text = step.stablehlo(&x)?;
    let trace_lower_s = t0.elapsed().as_secs_f64();
    if let Some(path) = get("--dump-stablehlo") {
        std::fs::write(&path, &text).map_err(|e| Error::data("--dump-stablehlo", e.to_string()))?;
    }
    if let Some(prefix) = get("--dump-parts") {
        let c3 = cfg.clone();
        let loss = rt.jit(move |(p, toks): &(MegalodonForCausalLM, Tensor)| lm_loss(p, &c3, toks));
        let c4 = cfg.clone();
        let grad = rt.jit(move |(p, toks): &(MegalodonForCausalLM, Tensor)| loss_of(&c4, p, toks));
        let parts = (x.0.clone(), x.2.clone());
        flags::write_parts(
            &prefix,
            &[
                ("loss", loss.stablehlo(&parts)?),
                ("grad", grad.stablehlo(&parts)?),
            ],
        )?;
    }
    let t1 = Instant::now();
    step.compile(&x)?; // traces and lowers again, then compiles
    let compile_s = (t1.elapsed().as_secs_f64() - trace_lower_s).max(0.0);
    let (p, s, mut l) = step.call(&x)?; // warm-up step
    let first_loss = l.to_f64_vec()?[0];
    x = (p, s, tokens.clone());
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        let (p, s, l2) = step.call(&x)?;
        l2.to_f64_vec()?; // wait for the step to finish
        times.push(t.elapsed().as_secs_f64());
        x = (p, s, tokens.clone());
        l = l2;
    }
    let med = median(&times);
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let info = rt.info();
    let mut out = serde_json::json!({
        "impl": "rax",
        "backend": info.name,
        "plugin_api_version": info.api_version.map(|(a, b)| format!("{a}.{b}")),
        "policy": policy_s,
        "compute": compute,
        "batch": batch,
        "seq": seq,
        "trace_lower_s": trace_lower_s,
        "compile_s": compile_s,
        "step_median_s": med,
        "step_min_s": min,
        "first_loss": first_loss,
        "loss": l.to_f64_vec()?[0],
        "params": n_params,
        "steps": steps + 1,
        "stablehlo_bytes": text.len(),
        "stablehlo_lines": text.lines().count(),
        "compiles": step.compile_count(),
    });
    if !has("--no-decode") {
        if prompt_len == 0 || prompt_len > seq {
            return Err(Error::arg(
                "--prompt-len",
                format!("must be in 1..={seq}, got {prompt_len}"),
            ));
        }
        let prompt: Literal = tokens
            .slice(&[0, 0], &[batch, prompt_len], &[1, 1])
            .to_literal()?;
        let opts = GenerateOptions {
            max_new_tokens: new_tokens,
            temperature: None,
            top_k: None,
            top_p: None,
            seed: 0,
        };
        let g = Generator::new(&rt, &cfg, &opts)?;
        let dp = rt.put_tree(&decode_params)?;
        let t = Instant::now();
        g.generate(&dp, &prompt)?;
        let decode_first_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let gen = g.generate(&dp, &prompt)?;
        let decode_s = t.elapsed().as_secs_f64();
        let ids = gen.as_slice::<i32>()?;
        let width = prompt_len + new_tokens;
        let rows: Vec<Vec<i32>> = ids
            .chunks(width)
            .map(|r| r[prompt_len..].to_vec())
            .collect();
        out["prompt_len"] = prompt_len.into();
        out["new_tokens"] = new_tokens.into();
        out["decode_first_s"] = decode_first_s.into();
        out["decode_s"] = decode_s.into();
        out["decode_tokens_per_s"] = ((batch * new_tokens) as f64 / decode_s).into();
        // The same continuation with one decode execution per token from the host (the loop
        // before the decode steps became one program), timed the same way.
        g.generate_stepwise(&dp, &prompt)?;
        let t = Instant::now();
        let stepwise = g.generate_stepwise(&dp, &prompt)?;
        let stepwise_s = t.elapsed().as_secs_f64();
        if stepwise.as_slice::<i32>()? != ids {
            return Err(Error::arg(
                "bench_megalodon",
                "the decode loop and the step-by-step decode gave different tokens",
            ));
        }
        out["decode_stepwise_tokens_per_s"] = ((batch * new_tokens) as f64 / stepwise_s).into();
        out["decode_compiles"] =
            (g.prefill_compiles() + g.decode_loop_compiles() + g.decode_compiles()).into();
        out["generated"] = serde_json::json!(rows);
    }
    // Only with RAX_COMPILATION_CACHE_DIR set: `hits` > 0 means compile_s timed a cache load.
    out["compile_cache"] = match rt.compile_cache_stats() {
        Some(c) => serde_json::json!({"hits": c.hits, "misses": c.misses}),
        None => serde_json::Value::Null,
    };
    println!("{out}");
    Ok(())
}
