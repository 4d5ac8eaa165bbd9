//! Hugging Face checkpoint directories for DeepSeek-V2/V3, both ways.
//!
//! Loading reads `config.json` and either `model.safetensors` or the shards listed in
//! `model.safetensors.index.json`. Matrices are stored torch-style `[out, in]` and transposed
//! into rax's `[in, out]`; routed experts are read per expert
//! (`mlp.experts.<j>.{gate,up,down}_proj.weight`, what transformers writes) or stacked
//! (`mlp.experts.gate_up_proj [E, 2I, D]`, `mlp.experts.down_proj [E, D, I]`). Every tensor is
//! held as f32 (bf16/f16 on disk widen exactly), so the router, norms and correction bias are
//! f32. A missing, extra or misshaped tensor is an error that names it. Tensors of V3's
//! multi-token-prediction layers (`model.layers.<n>.*` for `n >= num_hidden_layers`) are
//! recognised, kept aside unchanged and reported in `notices`.
//!
//! Saving writes the same names, per-expert, with each tensor's on-disk dtype when it came from
//! a checkpoint (so HF → rax → HF is bitwise), the original `config.json`, and the kept MTP
//! tensors; optionally sharded with an index.
//!
//! Depends on rax-core, the safetensors crate, `config` and `model`.

use super::config::{DeepseekConfig, Variant};
use super::model::{Block, DeepseekParams, DeepseekState};
use rax_core::{DType, Error, Literal, Result, Sensitive, Tensor};
use rax_nn::mla::MlaParams;
use rax_nn::moe::MoeParams;
use rax_nn::swiglu::SwiGlu;
use std::collections::BTreeMap;
use std::path::Path;

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct HfCheckpoint {
    /// The configuration.
    pub config: DeepseekConfig,
    /// f32 parameters.
    pub params: DeepseekParams,
    /// The correction biases (V3).
    pub state: DeepseekState,
    /// Tensors carried through unchanged (the MTP layers).
    pub extras: BTreeMap<String, Literal>,
    /// The on-disk dtype of every tensor read.
    pub disk_dtypes: BTreeMap<String, DType>,
    /// What loading noticed (skipped MTP layers, a redundant tied head).
    pub notices: Vec<String>,
}

fn io(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

fn ck(msg: impl Into<String>) -> Error {
    Error::data("deepseek checkpoint", msg.into())
}

/// Reads every tensor of one safetensors file (header validated by rax-nn's checkpoint reader).
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Literal>> {
    rax_nn::checkpoint::load(path)
}

/// Writes named literals to one safetensors file (atomically), with the `format: pt` metadata
/// transformers writes.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, Literal>) -> Result<()> {
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    rax_nn::checkpoint::save_map(path, tensors, Some(meta))
}

/// Every tensor of a checkpoint directory (single file or sharded with an index).
pub fn read_dir_tensors(dir: &Path) -> Result<BTreeMap<String, Literal>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| io(&index, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| io(&index, format!("not valid JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| io(&index, "no object `weight_map`"))?;
        let mut files: Vec<&str> = map.values().filter_map(|f| f.as_str()).collect();
        files.sort();
        files.dedup();
        let mut all = BTreeMap::new();
        for f in files {
            let p = dir.join(f);
            for (n, l) in read_safetensors(&p)? {
                if map.get(&n).and_then(|x| x.as_str()) != Some(f) {
                    return Err(io(
                        &p,
                        format!("`{n}` is not listed for this shard in the index"),
                    ));
                }
                all.insert(n, l);
            }
        }
        if let Some(n) = map.keys().find(|n| !all.contains_key(*n)) {
            return Err(io(&index, format!("`{n}` is listed but in no shard")));
        }
        return Ok(all);
    }
    let single = dir.join("model.safetensors");
    if !single.exists() {
        return Err(io(
            dir,
            "neither model.safetensors nor model.safetensors.index.json",
        ));
    }
    read_safetensors(&single)
}

/// `[r, c]` → `[c, r]` (any dtype, exact).
fn t2(l: &Literal) -> Result<Literal> {
    let (r, c) = (l.dims()[0], l.dims()[1]);
    let idx: Vec<usize> = (0..c)
        .flat_map(|j| (0..r).map(move |i| i * c + j))
        .collect();
    Literal::new([c, r], l.data().gather_flat(&idx))
}

fn lit(t: &Tensor) -> Result<Literal> {
    t.to_literal()
}

struct Taker {
    m: BTreeMap<String, Literal>,
    dtypes: BTreeMap<String, DType>,
}

impl Taker {
    fn raw(&mut self, name: &str, shape: &[usize]) -> Result<Literal> {
        let l = self.m.remove(name).ok_or_else(|| {
            ck(format!(
                "missing tensor `{name}` (expected shape {shape:?})"
            ))
        })?;
        if l.dims() != shape {
            return Err(ck(format!(
                "`{name}`: stored shape {:?}, the config implies {shape:?}",
                l.dims()
            )));
        }
        if !l.dtype().is_float() {
            return Err(ck(format!(
                "`{name}`: stored {}, expected a float dtype",
                l.dtype()
            )));
        }
        self.dtypes.insert(name.to_string(), l.dtype());
        Ok(l.convert(DType::F32))
    }
    /// A torch `[out, in]` matrix as rax `[in, out]`.
    fn mat(&mut self, name: &str, out: usize, inp: usize) -> Result<Tensor> {
        Ok(Tensor::from_literal(t2(&self.raw(name, &[out, inp])?)?))
    }
    fn vec(&mut self, name: &str, n: usize) -> Result<Tensor> {
        Ok(Tensor::from_literal(self.raw(name, &[n])?))
    }
}

fn experts(t: &mut Taker, pre: &str, e: usize, d: usize, i: usize) -> Result<(Tensor, Tensor)> {
    let fused = format!("{pre}.experts.gate_up_proj");
    let (mut gu, mut dn) = (
        Vec::with_capacity(e * d * 2 * i),
        Vec::with_capacity(e * i * d),
    );
    if t.m.contains_key(&fused) {
        let a = t.raw(&fused, &[e, 2 * i, d])?;
        let b = t.raw(&format!("{pre}.experts.down_proj"), &[e, d, i])?;
        let (a, b) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
        for j in 0..e {
            let sa = Literal::from_vec([2 * i, d], a[j * 2 * i * d..(j + 1) * 2 * i * d].to_vec())?;
            gu.extend_from_slice(t2(&sa)?.as_slice::<f32>()?);
            let sb = Literal::from_vec([d, i], b[j * d * i..(j + 1) * d * i].to_vec())?;
            dn.extend_from_slice(t2(&sb)?.as_slice::<f32>()?);
        }
    } else {
        for j in 0..e {
            let g = t2(&t.raw(&format!("{pre}.experts.{j}.gate_proj.weight"), &[i, d])?)?;
            let u = t2(&t.raw(&format!("{pre}.experts.{j}.up_proj.weight"), &[i, d])?)?;
            let (g, u) = (g.as_slice::<f32>()?, u.as_slice::<f32>()?);
            for r in 0..d {
                gu.extend_from_slice(&g[r * i..(r + 1) * i]);
                gu.extend_from_slice(&u[r * i..(r + 1) * i]);
            }
            let w = t2(&t.raw(&format!("{pre}.experts.{j}.down_proj.weight"), &[d, i])?)?;
            dn.extend_from_slice(w.as_slice::<f32>()?);
        }
    }
    Ok((
        Tensor::from_vec(vec![e, d, 2 * i], gu)?,
        Tensor::from_vec(vec![e, i, d], dn)?,
    ))
}

fn swiglu(t: &mut Taker, pre: &str, d: usize, i: usize) -> Result<SwiGlu> {
    Ok(SwiGlu {
        gate: t.mat(&format!("{pre}.gate_proj.weight"), i, d)?,
        up: t.mat(&format!("{pre}.up_proj.weight"), i, d)?,
        down: t.mat(&format!("{pre}.down_proj.weight"), d, i)?,
    })
}

/// Loads a Hugging Face DeepSeek directory.
pub fn load_dir(dir: &Path) -> Result<HfCheckpoint> {
    let cfg = DeepseekConfig::from_dir(dir)?;
    let tensors = read_dir_tensors(dir)?;
    from_tensors(cfg, tensors)
}

/// Builds the parameters from HF-named tensors.
pub fn from_tensors(
    cfg: DeepseekConfig,
    tensors: BTreeMap<String, Literal>,
) -> Result<HfCheckpoint> {
    let mut t = Taker {
        m: tensors,
        dtypes: BTreeMap::new(),
    };
    let (d, h) = (cfg.hidden_size, cfg.num_attention_heads);
    let (nope, rope, vd) = (cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim);
    let e = cfg.n_routed_experts;
    let mut layers = Vec::new();
    let mut biases = Vec::new();
    for li in 0..cfg.num_hidden_layers {
        let pre = format!("model.layers.{li}");
        let a = format!("{pre}.self_attn");
        let qk = h * (nope + rope);
        let (q_a, q_a_norm, q_b) = match cfg.q_lora_rank {
            Some(r) => (
                Some(t.mat(&format!("{a}.q_a_proj.weight"), r, d)?),
                Some(Sensitive(t.vec(&format!("{a}.q_a_layernorm.weight"), r)?)),
                t.mat(&format!("{a}.q_b_proj.weight"), qk, r)?,
            ),
            None => (None, None, t.mat(&format!("{a}.q_proj.weight"), qk, d)?),
        };
        let attn = MlaParams {
            q_a,
            q_a_norm,
            q_b,
            kv_a: t.mat(
                &format!("{a}.kv_a_proj_with_mqa.weight"),
                cfg.kv_lora_rank + rope,
                d,
            )?,
            kv_a_norm: Sensitive(t.vec(&format!("{a}.kv_a_layernorm.weight"), cfg.kv_lora_rank)?),
            kv_b: t.mat(
                &format!("{a}.kv_b_proj.weight"),
                h * (nope + vd),
                cfg.kv_lora_rank,
            )?,
            o: t.mat(&format!("{a}.o_proj.weight"), d, h * vd)?,
        };
        let m = format!("{pre}.mlp");
        let (dense, moe) = if cfg.is_moe(li) {
            let router = t.mat(&format!("{m}.gate.weight"), e, d)?;
            if cfg.variant == Variant::V3 {
                biases.push(t.vec(&format!("{m}.gate.e_score_correction_bias"), e)?);
            }
            let (gate_up, down) = experts(&mut t, &m, e, d, cfg.moe_intermediate_size)?;
            let shared = if cfg.n_shared_experts > 0 {
                Some(swiglu(
                    &mut t,
                    &format!("{m}.shared_experts"),
                    d,
                    cfg.n_shared_experts * cfg.moe_intermediate_size,
                )?)
            } else {
                None
            };
            (
                None,
                Some(MoeParams {
                    router: Sensitive(router),
                    gate_up,
                    down,
                    shared,
                }),
            )
        } else {
            (Some(swiglu(&mut t, &m, d, cfg.intermediate_size)?), None)
        };
        layers.push(Block {
            input_norm: Sensitive(t.vec(&format!("{pre}.input_layernorm.weight"), d)?),
            attn,
            post_norm: Sensitive(t.vec(&format!("{pre}.post_attention_layernorm.weight"), d)?),
            dense,
            moe,
        });
    }
    let embed = Tensor::from_literal(t.raw("model.embed_tokens.weight", &[cfg.vocab_size, d])?);
    let norm = Sensitive(t.vec("model.norm.weight", d)?);
    let mut notices = Vec::new();
    let lm_head = if cfg.tie_word_embeddings {
        if t.m.remove("lm_head.weight").is_some() {
            notices.push("tie_word_embeddings: the stored lm_head.weight is ignored (the head is the embedding)".into());
        }
        None
    } else {
        Some(t.mat("lm_head.weight", cfg.vocab_size, d)?)
    };
    let mut extras = BTreeMap::new();
    let n = cfg.num_hidden_layers;
    let names: Vec<String> = t.m.keys().cloned().collect();
    for name in names {
        let layer = name
            .strip_prefix("model.layers.")
            .and_then(|r| r.split('.').next())
            .and_then(|x| x.parse::<usize>().ok());
        match layer {
            Some(l) if cfg.variant == Variant::V3 && l >= n && l < n + cfg.num_mtp_layers => {
                if let Some(v) = t.m.remove(&name) {
                    extras.insert(name, v);
                }
            }
            _ => {
                return Err(ck(format!(
                    "unexpected tensor `{name}` (not part of the configured model)"
                )))
            }
        }
    }
    if !extras.is_empty() {
        notices.push(format!(
            "skipped {} tensors of {} multi-token-prediction layer(s) (model.layers.{n}..): kept for saving, not used",
            extras.len(),
            cfg.num_mtp_layers
        ));
    }
    Ok(HfCheckpoint {
        config: cfg,
        params: DeepseekParams {
            embed,
            layers,
            norm,
            lm_head,
        },
        state: DeepseekState { biases },
        extras,
        disk_dtypes: t.dtypes,
        notices,
    })
}

/// HF-named tensors of the parameters (torch layout), each in `dtype_of(name)`.
pub fn to_tensors(
    cfg: &DeepseekConfig,
    p: &DeepseekParams,
    st: &DeepseekState,
    dtype_of: &dyn Fn(&str) -> DType,
) -> Result<BTreeMap<String, Literal>> {
    let mut out = BTreeMap::new();
    let mut put = |name: String, l: Literal| {
        let dt = dtype_of(&name);
        out.insert(name, l.convert(dt));
    };
    let f32l = |x: &Tensor| -> Result<Literal> { Ok(lit(x)?.convert(DType::F32)) };
    let mat = |x: &Tensor| -> Result<Literal> { t2(&f32l(x)?) };
    let mut bi = 0;
    for (li, blk) in p.layers.iter().enumerate() {
        let pre = format!("model.layers.{li}");
        let a = format!("{pre}.self_attn");
        match (&blk.attn.q_a, &blk.attn.q_a_norm) {
            (Some(qa), Some(qn)) => {
                put(format!("{a}.q_a_proj.weight"), mat(qa)?);
                put(format!("{a}.q_a_layernorm.weight"), f32l(&qn.0)?);
                put(format!("{a}.q_b_proj.weight"), mat(&blk.attn.q_b)?);
            }
            _ => put(format!("{a}.q_proj.weight"), mat(&blk.attn.q_b)?),
        }
        put(
            format!("{a}.kv_a_proj_with_mqa.weight"),
            mat(&blk.attn.kv_a)?,
        );
        put(
            format!("{a}.kv_a_layernorm.weight"),
            f32l(&blk.attn.kv_a_norm.0)?,
        );
        put(format!("{a}.kv_b_proj.weight"), mat(&blk.attn.kv_b)?);
        put(format!("{a}.o_proj.weight"), mat(&blk.attn.o)?);
        put(
            format!("{pre}.input_layernorm.weight"),
            f32l(&blk.input_norm.0)?,
        );
        put(
            format!("{pre}.post_attention_layernorm.weight"),
            f32l(&blk.post_norm.0)?,
        );
        let m = format!("{pre}.mlp");
        let sw = |pre: &str, s: &SwiGlu, put: &mut dyn FnMut(String, Literal)| -> Result<()> {
            put(format!("{pre}.gate_proj.weight"), mat(&s.gate)?);
            put(format!("{pre}.up_proj.weight"), mat(&s.up)?);
            put(format!("{pre}.down_proj.weight"), mat(&s.down)?);
            Ok(())
        };
        if let Some(s) = &blk.dense {
            sw(&m, s, &mut put)?;
        }
        if let Some(mo) = &blk.moe {
            put(format!("{m}.gate.weight"), mat(&mo.router.0)?);
            if cfg.variant == Variant::V3 {
                let b = st
                    .biases
                    .get(bi)
                    .ok_or_else(|| ck(format!("no correction bias for layer {li}")))?;
                put(format!("{m}.gate.e_score_correction_bias"), f32l(b)?);
                bi += 1;
            }
            let gu = f32l(&mo.gate_up)?;
            let dn = f32l(&mo.down)?;
            let (e, d, i2) = (gu.dims()[0], gu.dims()[1], gu.dims()[2]);
            let i = i2 / 2;
            let (gs, ds) = (gu.as_slice::<f32>()?, dn.as_slice::<f32>()?);
            for j in 0..e {
                let blockj = &gs[j * d * i2..(j + 1) * d * i2];
                let mut g = Vec::with_capacity(d * i);
                let mut u = Vec::with_capacity(d * i);
                for r in 0..d {
                    g.extend_from_slice(&blockj[r * i2..r * i2 + i]);
                    u.extend_from_slice(&blockj[r * i2 + i..(r + 1) * i2]);
                }
                put(
                    format!("{m}.experts.{j}.gate_proj.weight"),
                    t2(&Literal::from_vec([d, i], g)?)?,
                );
                put(
                    format!("{m}.experts.{j}.up_proj.weight"),
                    t2(&Literal::from_vec([d, i], u)?)?,
                );
                let dj = Literal::from_vec([i, d], ds[j * i * d..(j + 1) * i * d].to_vec())?;
                put(format!("{m}.experts.{j}.down_proj.weight"), t2(&dj)?);
            }
            if let Some(s) = &mo.shared {
                sw(&format!("{m}.shared_experts"), s, &mut put)?;
            }
        }
    }
    put("model.embed_tokens.weight".into(), f32l(&p.embed)?);
    put("model.norm.weight".into(), f32l(&p.norm.0)?);
    if let Some(w) = &p.lm_head {
        put("lm_head.weight".into(), mat(w)?);
    }
    Ok(out)
}

/// Saves a directory transformers loads: `config.json` (the original object, or one built from
/// the config), the tensors (dtype per `dtype_of`), the `extras`, in one file or in shards of
/// at most `max_shard_bytes` with `model.safetensors.index.json`.
pub fn save_dir(
    dir: &Path,
    cfg: &DeepseekConfig,
    p: &DeepseekParams,
    st: &DeepseekState,
    extras: &BTreeMap<String, Literal>,
    dtype_of: &dyn Fn(&str) -> DType,
    max_shard_bytes: Option<usize>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut all = to_tensors(cfg, p, st, dtype_of)?;
    for (k, v) in extras {
        all.insert(k.clone(), v.clone());
    }
    let cfg_text = serde_json::to_string_pretty(&serde_json::Value::Object(cfg.raw.clone()))
        .map_err(|e| io(dir, e))?;
    std::fs::write(dir.join("config.json"), cfg_text + "\n").map_err(|e| io(dir, e))?;
    let total: usize = all
        .values()
        .map(|l| l.numel() * l.dtype().size_bytes())
        .sum();
    match max_shard_bytes {
        Some(max) if total > max => {
            let mut shards: Vec<BTreeMap<String, Literal>> = vec![BTreeMap::new()];
            let mut size = 0;
            for (k, v) in all {
                let b = v.numel() * v.dtype().size_bytes();
                if size > 0 && size + b > max {
                    shards.push(BTreeMap::new());
                    size = 0;
                }
                size += b;
                if let Some(s) = shards.last_mut() {
                    s.insert(k, v);
                }
            }
            let n = shards.len();
            let mut map = serde_json::Map::new();
            for (i, s) in shards.iter().enumerate() {
                let f = format!("model-{:05}-of-{:05}.safetensors", i + 1, n);
                write_safetensors(&dir.join(&f), s)?;
                for k in s.keys() {
                    map.insert(k.clone(), serde_json::Value::String(f.clone()));
                }
            }
            let idx = serde_json::json!({"metadata": {"total_size": total}, "weight_map": map});
            let text = serde_json::to_string_pretty(&idx).map_err(|e| io(dir, e))?;
            std::fs::write(dir.join("model.safetensors.index.json"), text + "\n")
                .map_err(|e| io(dir, e))
        }
        _ => write_safetensors(&dir.join("model.safetensors"), &all),
    }
}

impl HfCheckpoint {
    /// Saves back in the layout and dtypes it was loaded with.
    pub fn save(&self, dir: &Path, max_shard_bytes: Option<usize>) -> Result<()> {
        let dts = self.disk_dtypes.clone();
        let f = move |n: &str| dts.get(n).copied().unwrap_or(DType::F32);
        save_dir(
            dir,
            &self.config,
            &self.params,
            &self.state,
            &self.extras,
            &f,
            max_shard_bytes,
        )
    }
}
