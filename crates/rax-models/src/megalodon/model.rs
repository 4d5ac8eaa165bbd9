//! The Megalodon decoder (`MegalodonModel`: embedding, blocks, final TimestepNorm) and the
//! causal LM (`MegalodonForCausalLM`: the decoder plus an untied `lm_head` or the embedding as
//! a tied head). The parameter tree's leaf paths are megalodon-jax's checkpoint keys
//! (`model.layers.0.attn.cema.alpha`, `lm_head.weight`), so checkpoints map one to one.
//!
//! A forward pass optionally continues a [`ModelCache`] and returns the new one (streaming
//! inference: prefill and decode are built on this); training calls pass a dropout key and may
//! rematerialise each block (`use_checkpoint`).
//!
//! Depends on rax-core, rax-nn, `attention`, `block`, `cache`, `config`, `dropout`.

use super::attention::{us, CallContext};
use super::block::MegalodonBlock;
use super::cache::ModelCache;
use super::config::MegalodonConfig;
use super::dropout::Dropout;
use rax_core::autodiff::checkpoint;
use rax_core::ir::RematPolicy;
use rax_core::tree::{flatten, unflatten};
use rax_core::{DType, Error, PrngKey, Result, Tensor};
use rax_macros::Tree;
use rax_nn::embedding::Embedding;
use rax_nn::init::{initialize, InitMode};
use rax_nn::linear::{project, Linear};
use rax_nn::rope::RopeTable;
use rax_nn::segments::{derive, SegmentMetadata};
use rax_nn::timestep_norm::TimestepNorm;

/// The decoder's parameters.
#[derive(Clone, Debug, Tree)]
pub struct MegalodonModel {
    /// Token embedding `[vocab, D]`.
    pub embed: Embedding,
    /// The blocks.
    pub layers: Vec<MegalodonBlock>,
    /// Final causal group norm.
    pub norm: TimestepNorm,
}

/// The causal LM's parameters.
#[derive(Clone, Debug, Tree)]
pub struct MegalodonForCausalLM {
    /// The decoder.
    pub model: MegalodonModel,
    /// Untied output head `[output_size, D]` (absent with `share_emb`).
    pub lm_head: Option<Linear>,
}

/// Optional inputs of a forward pass.
#[derive(Clone, Default)]
pub struct Forward<'a> {
    /// bool/int `[B, L]`: a valid prefix per row followed by right padding.
    pub attention_mask: Option<&'a Tensor>,
    /// int `[B, L]` packed-document ids (0 = padding).
    pub segment_ids: Option<&'a Tensor>,
    /// int `[B, L]` explicit RoPE positions.
    pub position_ids: Option<&'a Tensor>,
    /// A cache to continue.
    pub cache: Option<&'a ModelCache>,
    /// Return the new cache.
    pub return_cache: bool,
    /// Training: dropout randomness (and rematerialisation with `use_checkpoint`).
    pub dropout: Option<PrngKey>,
}

fn arg(msg: impl Into<String>) -> Error {
    Error::arg("megalodon::forward", msg)
}

/// The host values of a concrete tensor (`None` while tracing).
pub(crate) fn host_values(t: &Tensor) -> Option<Vec<f64>> {
    if t.is_traced() {
        return None;
    }
    t.to_literal().ok().map(|l| l.to_f64_vec())
}

/// Checks that concrete `ids` are in `0..vocab` (traced ids cannot be checked here).
pub fn check_tokens(ids: &Tensor, vocab: usize, what: &str) -> Result<()> {
    ids.check()?;
    let Some(v) = host_values(ids) else {
        return Ok(());
    };
    if let Some((i, t)) = v
        .iter()
        .enumerate()
        .find(|(_, t)| **t < 0.0 || **t >= vocab as f64)
    {
        return Err(arg(format!(
            "{what} contain out-of-bounds value {t} at flat index {i}; valid range [0, {vocab})"
        )));
    }
    Ok(())
}

/// The RoPE inverse frequencies `base^(−i/half)` (division as megalodon-jax computes it).
#[track_caller]
pub fn inverse_frequencies(head_dim: usize, base: f64) -> Tensor {
    let half = head_dim / 2;
    let e =
        Tensor::iota(&[half], 0, DType::F32) / Tensor::scalar_of(half.max(1) as f64, DType::F32);
    Tensor::full(&[half], base, DType::F32).pow(&e.neg())
}

impl MegalodonModel {
    /// Fresh decoder parameters (megalodon-jax's init modes and distributions, rax's PRNG).
    #[track_caller]
    pub fn init(cfg: &MegalodonConfig, key: &PrngKey) -> Result<MegalodonModel> {
        cfg.validate()?;
        let k = key.split(4);
        let d = us(cfg.model_dim);
        let lk = k[3].split(us(cfg.num_layers).max(1));
        let layers = (0..us(cfg.num_layers))
            .map(|i| MegalodonBlock::init(cfg, i, &lk[i]))
            .collect::<Result<Vec<_>>>()?;
        Ok(MegalodonModel {
            embed: Embedding {
                weight: initialize(
                    InitMode::Gaussian,
                    Some(d),
                    &k[1],
                    &[us(cfg.vocab_size), d],
                    cfg.param(),
                ),
            },
            layers,
            norm: TimestepNorm::init(d, us(cfg.norm_num_groups), 0, cfg.norm_eps)?,
        })
    }

    /// The decoder's hidden states `[B, L, D]` (compute dtype) of `ids [B, L]`.
    #[track_caller]
    pub fn forward(
        &self,
        cfg: &MegalodonConfig,
        ids: &Tensor,
        f: &Forward<'_>,
    ) -> Result<(Tensor, Option<ModelCache>)> {
        let dims = ids.dims();
        let (b, l) = match dims[..] {
            [b, l] if ids.dtype().is_int() => (b, l),
            _ => {
                return Err(Error::shape(
                    "megalodon::forward",
                    "input_ids must be an integer [batch, seq] array",
                    &[ids.aval()],
                ))
            }
        };
        let c = cfg.compute();
        let training = f.dropout.is_some();
        if training && (f.cache.is_some() || f.return_cache) {
            return Err(arg(
                "cache input and return_cache are inference-only (no dropout key)",
            ));
        }
        let streaming = f.cache.is_some() || f.return_cache;
        if streaming && (f.segment_ids.is_some() || f.position_ids.is_some()) {
            return Err(arg(
                "segment_ids/position_ids are only supported for non-cached training calls",
            ));
        }
        if streaming && f.attention_mask.is_some() {
            return Err(arg("attention_mask is unsupported with cached calls"));
        }
        for (name, t) in [
            ("attention_mask", f.attention_mask),
            ("segment_ids", f.segment_ids),
            ("position_ids", f.position_ids),
        ] {
            if let Some(t) = t {
                if t.dims() != [b, l] {
                    return Err(Error::shape(
                        "megalodon::forward",
                        format!("{name} must have shape [{b}, {l}]"),
                        &[t.aval()],
                    ));
                }
            }
        }
        if let Some(cache) = f.cache {
            if cache.layer_caches.len() != self.layers.len() {
                return Err(arg(format!(
                    "cache has {} layer caches, the model {} layers",
                    cache.layer_caches.len(),
                    self.layers.len()
                )));
            }
        }
        check_tokens(ids, us(cfg.vocab_size), "input_ids")?;
        if let Some(v) = f.attention_mask.and_then(host_values) {
            let bad =
                (0..b).any(|r| (1..l).any(|j| v[r * l + j - 1] == 0.0 && v[r * l + j] != 0.0));
            if bad {
                return Err(arg(
                    "attention_mask rows must contain a contiguous valid prefix followed by optional right padding",
                ));
            }
        }
        let mask = f.attention_mask.map(|m| m.cast(DType::Bool));
        if b == 0 || l == 0 {
            return Ok((Tensor::zeros(&[b, l, us(cfg.model_dim)], c), None));
        }
        let mut x = self.embed.apply(ids);
        if cfg.scale_emb {
            let s = (cfg.model_dim as f32).sqrt() as f64;
            x = &x * s;
        }
        let mut x = x.cast(c);
        let drop = f.dropout.clone().map(|key| Dropout { key });
        if let Some(d) = &drop {
            x = d.apply(&x, cfg.dropout, 0);
        }
        let segments: Option<SegmentMetadata> = f.segment_ids.map(derive);
        let positions = if let Some(p) = f.position_ids {
            p.cast(DType::I32)
        } else if let Some(m) = &segments {
            m.local_positions.clone()
        } else {
            let start = match f.cache.and_then(|c| c.count()) {
                Some(s) => s.cast(DType::I32),
                None => Tensor::scalar_of(0.0, DType::I32),
            };
            Tensor::iota(&[l], 0, DType::I32) + start
        };
        let positions = if cfg.attention_window.is_none() {
            let ch = Tensor::scalar_of(cfg.chunk_size as f64, DType::I32);
            &(&(&positions % &ch) + &ch) % &ch
        } else {
            positions
        };
        let table = RopeTable::from_positions(
            &positions,
            &inverse_frequencies(cfg.head_dim(), cfg.effective_rope_base()),
        );
        let mut new_caches = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let ctx = CallContext {
                mask: mask.as_ref(),
                segments: segments.as_ref(),
                table: &table,
                return_cache: f.return_cache,
                dropout: drop.as_ref().map(|d| d.child(i as u32 + 1)),
            };
            if cfg.use_checkpoint && training {
                let leaves = flatten(layer);
                let run = checkpoint(
                    |a: &[Tensor]| match unflatten(layer, a[1..].to_vec()) {
                        Ok(blk) => vec![blk.apply(cfg, &a[0], None, &ctx).0],
                        Err(e) => vec![rax_core::trace::apply_error(
                            e,
                            a[0].aval(),
                            rax_core::CallSite::here(),
                        )],
                    },
                    RematPolicy::NothingSaveable,
                );
                let mut args = vec![x.clone()];
                args.extend(leaves);
                x = run(&args)?.remove(0);
            } else {
                let (y, nc) = layer.apply(cfg, &x, f.cache.map(|c| &c.layer_caches[i]), &ctx);
                x = y;
                if let Some(nc) = nc {
                    new_caches.push(nc);
                }
            }
        }
        let (x, final_norm) = self.norm.apply(
            &x,
            f.cache.map(|c| &c.final_norm),
            mask.as_ref(),
            segments.as_ref(),
        );
        x.check()?;
        let cache = f.return_cache.then(|| ModelCache {
            layer_caches: new_caches
                .into_iter()
                .map(|lc| rax_core::tree::tree_map(&lc, rax_core::stop_gradient))
                .collect(),
            final_norm: rax_core::tree::tree_map(&final_norm, rax_core::stop_gradient),
        });
        Ok((x, cache))
    }
}

impl MegalodonForCausalLM {
    /// Fresh parameters (validated config).
    #[track_caller]
    pub fn init(cfg: &MegalodonConfig, key: &PrngKey) -> Result<MegalodonForCausalLM> {
        let k = key.split(3);
        let model = MegalodonModel::init(cfg, &k[0])?;
        let d = us(cfg.model_dim);
        let lm_head = (!cfg.share_emb).then(|| Linear {
            weight: initialize(
                InitMode::Gaussian,
                Some(d),
                &k[2],
                &[cfg.effective_output_size(), d],
                cfg.param(),
            ),
            bias: None,
        });
        Ok(MegalodonForCausalLM { model, lm_head })
    }

    /// A parameter tree of zeros with the config's shapes and dtypes (a loading template; no
    /// random draws).
    pub fn template(cfg: &MegalodonConfig) -> Result<MegalodonForCausalLM> {
        cfg.validate()?;
        // Trace the init (no values are computed) to learn the structure, shapes and dtypes.
        let slot: std::cell::RefCell<Option<MegalodonForCausalLM>> = std::cell::RefCell::new(None);
        let mut err = None;
        rax_core::trace::trace(&[], |_| {
            match MegalodonForCausalLM::init(cfg, &PrngKey::new(0)) {
                Ok(p) => {
                    *slot.borrow_mut() = Some(p);
                    vec![]
                }
                Err(e) => {
                    err = Some(e);
                    vec![]
                }
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        let traced = slot
            .into_inner()
            .ok_or_else(|| Error::arg("MegalodonForCausalLM::template", "init produced nothing"))?;
        Ok(rax_core::tree::tree_map(&traced, |t| {
            Tensor::zeros(&t.dims(), t.dtype())
        }))
    }

    /// The output head's weight `[V_out, D]` (the embedding when tied).
    pub fn head_weight(&self) -> &Tensor {
        match &self.lm_head {
            Some(h) => &h.weight,
            None => &self.model.embed.weight,
        }
    }

    /// f32 logits `[.., V_out]` of hidden states: compute-dtype operands, f32 accumulation.
    #[track_caller]
    pub fn project_logits(&self, cfg: &MegalodonConfig, hidden: &Tensor) -> Tensor {
        project(hidden, self.head_weight(), None, cfg.compute(), DType::F32)
    }

    /// f32 logits `[B, L, V_out]` of `ids [B, L]` and the new cache (with `f.return_cache`).
    #[track_caller]
    pub fn forward(
        &self,
        cfg: &MegalodonConfig,
        ids: &Tensor,
        f: &Forward<'_>,
    ) -> Result<(Tensor, Option<ModelCache>)> {
        let (h, cache) = self.model.forward(cfg, ids, f)?;
        Ok((self.project_logits(cfg, &h), cache))
    }

    /// f32 logits of `ids` (no cache, evaluation mode).
    #[track_caller]
    pub fn logits(&self, cfg: &MegalodonConfig, ids: &Tensor) -> Result<Tensor> {
        Ok(self.forward(cfg, ids, &Forward::default())?.0)
    }

    /// Number of scalar parameters.
    pub fn param_count(&self) -> usize {
        flatten(self).iter().map(|t| t.shape().numel()).sum()
    }
}
