//! The DeepSeek-V3 (MLA + MoE) training step of the benchmark issue, in rax (see
//! bench_deepseek_torch.py for the transformers + torch peer and run.sh for both side by side).
//!
//!     cargo run --release -p rax-examples --example bench_deepseek -- --json [--policy p=f32,c=bf16]
//!         [--backend auto|interpreter|PATH.so] [--steps 10] [--batch 8 --seq 128]
//!         [--dispatch dropless|capacity|dense] [--init DIR] [--save-init DIR] [--decode]
//!         [--dump-parts PREFIX]  (PREFIX.{step,loss,grad}.mlir, for hlo_bench)
//!
//! Default model: DeepseekV3Config(vocab 256, hidden 256, intermediate 768, moe_intermediate 128,
//! 4 layers, 4 heads, 8 routed experts, 1 shared, top-2, n_group 1, topk_group 1, kv_lora_rank
//! 64, q_lora_rank 96, qk_rope 16, qk_nope 32, v_head 32, first_k_dense_replace 1, untied).
//! One jitted program per step: forward, cross-entropy (transformers' loss with labels =
//! input_ids; no auxiliary loss, as the peer), value_and_grad, clip_by_global_norm(1.0), AdamW
//! (3e-4, wd 0.1 on every parameter), apply; params and optimizer state donated.
//! `--save-init DIR` writes the initial weights as a Hugging Face directory for the peer,
//! `--init DIR` loads one. `--decode` also reports greedy decode tokens/s with the latent cache
//! and absorbed attention (the marginal cost per token between a 8- and a 40-token run, so
//! compilation is excluded).
#[path = "../common/flags.rs"]
mod flags;
use flags::{median, Flags};
use rax::core::autodiff::value_and_grad;
use rax::core::policy::Policy;
use rax::core::{DType, Error, Literal, Result, Tensor};
use rax::models::deepseek::cache::{decode_step, prefill, ModelCache};
use rax::models::deepseek::checkpoint::{load_dir, save_dir};
use rax::models::deepseek::config::DeepseekConfig;
use rax::models::deepseek::generate::DeepseekLm;
use rax::models::deepseek::model::{loss_tensor, DeepseekParams, DeepseekState, RunOptions};
use rax::models::deepseek::train::random_tokens;
use rax::models::family::GenerateOptions;
use rax::nn::moe_dispatch::Dispatch;
use rax::optim::{adamw, apply_updates, chain, clip_by_global_norm, GradientTransformation, State};
use rax::runtime::Runtime;
use std::time::Instant;

fn default_config() -> Result<DeepseekConfig> {
    DeepseekConfig::from_json(&serde_json::json!({
        "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"],
        "vocab_size": 256, "hidden_size": 256, "intermediate_size": 768,
        "moe_intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1,
        "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1, "kv_lora_rank": 64,
        "q_lora_rank": 96, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32,
        "first_k_dense_replace": 1, "tie_word_embeddings": false, "max_position_embeddings": 512,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
        "num_nextn_predict_layers": 0, "dtype": "float32"
    }))
}

/// Naive vs absorbed decode on the benchmark model (prefill `prompt`, then one step of each
/// from the same cache; the f32 logits' max relative difference and, with bf16 compute, their
/// cosine), and the cache bytes per token (all layers) against full multi-head K/V.
fn decode_checks(rt: &Runtime, lm: &DeepseekLm, prompt: &Literal) -> Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    for (label, compute) in [("f32", DType::F32), ("bf16", DType::BF16)] {
        let cfg = lm.config.clone();
        let ro = RunOptions {
            compute,
            dispatch: lm.opts.dispatch,
        };
        let plen = prompt.dims()[1];
        let f = rt.jit(
            move |(p, s, pr): &(DeepseekParams, DeepseekState, Tensor)| {
                let (lg, cache) = prefill(&cfg, &ro, p, s, pr, plen + 1)?;
                let tok = lg.argmax(1).cast(DType::I32);
                let pos = Tensor::scalar_of(plen as f64, DType::I32);
                let (a, _) = decode_step(&cfg, &ro, p, s, &cache, &tok, &pos, true)?;
                let (n, _) = decode_step(&cfg, &ro, p, s, &cache, &tok, &pos, false)?;
                Ok((a.cast(DType::F32), n.cast(DType::F32)))
            },
        );
        let (a, n) = f.call(&(
            lm.params.clone(),
            lm.state.clone(),
            Tensor::from_literal(prompt.clone()),
        ))?;
        let (a, n) = (a.to_f64_vec()?, n.to_f64_vec()?);
        let scale = n.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
        let rel = a
            .iter()
            .zip(&n)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
            / scale;
        let dot: f64 = a.iter().zip(&n).map(|(x, y)| x * y).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cos = dot / (norm(&a) * norm(&n)).max(1e-30);
        out.insert(
            format!("absorbed_vs_naive_max_rel_{label}"),
            serde_json::json!(rel),
        );
        out.insert(
            format!("absorbed_vs_naive_cos_{label}"),
            serde_json::json!(cos),
        );
        let (lat, full) = ModelCache::bytes_per_token(&lm.config, compute);
        out.insert(
            format!("cache_bytes_per_token_{label}"),
            serde_json::json!(lat),
        );
        out.insert(
            format!("full_kv_bytes_per_token_{label}"),
            serde_json::json!(full),
        );
    }
    Ok(serde_json::Value::Object(out))
}

fn main() -> Result<()> {
    let flags = Flags::from_env();
    let get = |flag: &str| flags.get(flag);
    let num = |flag: &str, d: usize| flags.num(flag, d);
    let policy_s = get("--policy").unwrap_or_else(|| "f32".into());
    let policy = Policy::parse(&policy_s)?;
    let (batch, seq, steps) = (num("--batch", 8)?, num("--seq", 128)?, num("--steps", 10)?);
    let dispatch = match get("--dispatch").as_deref() {
        None | Some("dropless") => Dispatch::Dropless {
            block: num("--block", 64)?,
        },
        Some("capacity") => Dispatch::Capacity { factor: 1.25 },
        Some("dense") => Dispatch::Dense,
        Some(o) => {
            return Err(Error::arg(
                "--dispatch",
                format!("`{o}`: dropless, capacity or dense"),
            ))
        }
    };
    let rt = flags.runtime()?;
    let (cfg, params, biases) = match get("--init") {
        Some(dir) => {
            let ck = load_dir(std::path::Path::new(&dir))?;
            (ck.config, ck.params, ck.state)
        }
        None => {
            let cfg = default_config()?;
            let (p, s) = DeepseekParams::init(&cfg, 0, 0.02)?;
            (cfg, p, s)
        }
    };
    if let Some(dir) = get("--save-init") {
        let dir = std::path::Path::new(&dir);
        save_dir(
            dir,
            &cfg,
            &params,
            &biases,
            &Default::default(),
            &|_| DType::F32,
            None,
        )?;
        let toks = random_tokens(cfg.vocab_size, batch, seq, 0)?;
        rax::models::deepseek::checkpoint::write_safetensors(
            &dir.join("tokens.safetensors"),
            &[("tokens".to_string(), toks.to_literal()?)]
                .into_iter()
                .collect(),
        )?;
        eprintln!("wrote {}", dir.display());
        return Ok(());
    }
    let tokens = random_tokens(cfg.vocab_size, batch, seq, 0)?;
    let n_params = params.count();
    let ro = RunOptions {
        compute: policy.compute,
        dispatch,
    };
    let opt = chain((clip_by_global_norm(1.0), adamw(3e-4, 0.1)));
    let state = opt.init(&params)?;
    let (c2, r2) = (cfg.clone(), ro.clone());
    let step = rt
        .jit(
            move |(p, s, b, toks): &(DeepseekParams, State, DeepseekState, Tensor)| {
                let (l, g) =
                    value_and_grad(|p: &DeepseekParams| loss_tensor(&c2, &r2, p, b, toks))(p)?;
                let (u, s) = opt.update(&g, s.clone(), Some(p))?;
                Ok((apply_updates(p, &u)?, s, l))
            },
        )
        .donate_args(&[0, 1]);
    let biases_dev = rt.put_tree(&biases)?;
    let mut x = (params.clone(), state, biases_dev.clone(), tokens.clone());
    let t0 = Instant::now();
    let text = step.stablehlo(&x)?;
    let trace_lower_s = t0.elapsed().as_secs_f64();
    if let Some(prefix) = get("--dump-parts") {
        // The step, the loss alone and the loss with its gradient, for `hlo_bench`; the two
        // parts are also timed here on the real weights and tokens (`--steps` calls each, the
        // first, which compiles, left out of the median).
        let (c3, r3) = (cfg.clone(), ro.clone());
        let loss = rt.jit(
            move |(p, b, toks): &(DeepseekParams, DeepseekState, Tensor)| {
                loss_tensor(&c3, &r3, p, b, toks)
            },
        );
        let (c4, r4) = (cfg.clone(), ro.clone());
        let grad = rt.jit(
            move |(p, b, toks): &(DeepseekParams, DeepseekState, Tensor)| {
                value_and_grad(|p: &DeepseekParams| loss_tensor(&c4, &r4, p, b, toks))(p)
            },
        );
        let parts = (x.0.clone(), x.2.clone(), x.3.clone());
        flags::write_parts(
            &prefix,
            &[
                ("step", text.clone()),
                ("loss", loss.stablehlo(&parts)?),
                ("grad", grad.stablehlo(&parts)?),
            ],
        )?;
        let mut lt = Vec::new();
        let mut gt = Vec::new();
        for _ in 0..steps.max(1) {
            let t = Instant::now();
            loss.call(&parts)?.to_f64_vec()?;
            lt.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            grad.call(&parts)?.0.to_f64_vec()?;
            gt.push(t.elapsed().as_secs_f64());
        }
        // The first call of each compiles it: left out of the medians.
        eprintln!(
            "parts (medians of {} calls): loss {:.4} s, loss+grad {:.4} s",
            lt.len().saturating_sub(1).max(1),
            median(&lt[1.min(lt.len() - 1)..]),
            median(&gt[1.min(gt.len() - 1)..])
        );
    }
    let t1 = Instant::now();
    step.compile(&x)?;
    let compile_s = (t1.elapsed().as_secs_f64() - trace_lower_s).max(0.0);
    let (p, s, mut l) = step.call(&x)?;
    let first_loss = l.to_f64_vec()?[0];
    x = (p, s, biases_dev.clone(), tokens.clone());
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        let (p, s, l2) = step.call(&x)?;
        l2.to_f64_vec()?;
        times.push(t.elapsed().as_secs_f64());
        x = (p, s, biases_dev.clone(), tokens.clone());
        l = l2;
    }
    let med = median(&times);
    let mut decode_tps = serde_json::Value::Null;
    let mut decode_stepwise_tps = serde_json::Value::Null;
    let mut decode = None;
    if flags.has("--decode") {
        let lm = DeepseekLm {
            config: cfg.clone(),
            params,
            state: biases,
            opts: ro.clone(),
            notices: vec![],
        };
        let prompt =
            Literal::from_vec([1, 16], (0..16i32).map(|i| i * 7 % 256).collect::<Vec<_>>())?;
        // Marginal cost per token between 8 and 264 new tokens (each call compiles its
        // programs, the same ones for both lengths): the decode loop as one program, and the
        // host-driven loop of one execution per token.
        let time = |n: usize, scanned: bool| -> Result<f64> {
            let o = GenerateOptions {
                max_new_tokens: n,
                ..Default::default()
            };
            let t = Instant::now();
            if scanned {
                lm.generate_with(&rt, &prompt, &o, true)?;
            } else {
                lm.generate_stepwise(&rt, &prompt, &o, true)?;
            }
            Ok(t.elapsed().as_secs_f64())
        };
        let (a, b) = (time(8, true)?, time(264, true)?);
        decode_tps = serde_json::json!(256.0 / (b - a).max(1e-9));
        let (c, d) = (time(8, false)?, time(264, false)?);
        decode_stepwise_tps = serde_json::json!(256.0 / (d - c).max(1e-9));
        eprintln!(
            "decode seconds (8, 264 new tokens): scanned {a:.3} {b:.3}, stepwise {c:.3} {d:.3}"
        );
        decode = Some(decode_checks(&rt, &lm, &prompt)?);
    }
    let info = rt.info();
    let out = serde_json::json!({
        "impl": "rax",
        "backend": info.name,
        "plugin_api_version": info.api_version.map(|(a, b)| format!("{a}.{b}")),
        "policy": policy_s,
        "dispatch": format!("{dispatch:?}"),
        "trace_lower_s": trace_lower_s,
        "compile_s": compile_s,
        "step_median_s": med,
        "step_min_s": times.iter().copied().fold(f64::NAN, f64::min),
        "first_loss": first_loss,
        "loss": l.to_f64_vec()?[0],
        "params": n_params,
        "steps": steps + 1,
        "decode_tokens_per_s": decode_tps,
        "decode_stepwise_tokens_per_s": decode_stepwise_tps,
        "stablehlo_bytes": text.len(),
        "decode_checks": decode,
        // Only with RAX_COMPILATION_CACHE_DIR set: `hits` > 0 means compile_s timed a load.
        "compile_cache": rt.compile_cache_stats().map(|c| serde_json::json!({"hits": c.hits, "misses": c.misses})),
    });
    println!("{out}");
    Ok(())
}
