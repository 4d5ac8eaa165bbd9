//! The causal LM loss (megalodon-jax's `compute_loss`): position t predicts label t+1; a target
//! counts unless its label is `ignore_index` (−100), its attention-mask entry is false, or —
//! with packed `segment_ids` — the pair straddles a segment boundary or targets padding. The
//! log-softmax and every reduction are f32. `reduction` is `mean` (sum / max(count, 1)), `sum`
//! or `none` (per-token `[B, L−1]`, zeros where excluded); the valid count is returned too (for
//! gradient accumulation: add sums and counts, divide once). With `loss_chunk_size`, the
//! vocabulary head runs over token chunks in a `scan`, each chunk rematerialised in the
//! backward pass, so the `[B, L, V]` logits never exist at once.
//!
//! Depends on rax-core, `model`, `config`.

use super::config::MegalodonConfig;
use super::model::{Forward, MegalodonForCausalLM};
use rax_core::autodiff::checkpoint;
use rax_core::ir::RematPolicy;
use rax_core::tree::flatten;
use rax_core::{DType, Error, PrngKey, Result, Tensor};

/// How token losses are reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Sum over valid targets divided by their count (0 when there are none).
    Mean,
    /// Sum over valid targets.
    Sum,
    /// Per-token losses `[B, L−1]`.
    None,
}

impl Reduction {
    /// Parses `mean`, `sum` or `none`.
    pub fn parse(s: &str) -> Result<Reduction> {
        match s {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "none" => Ok(Reduction::None),
            _ => Err(Error::arg(
                "compute_loss",
                format!("reduction must be 'mean', 'sum', or 'none', got {s:?}"),
            )),
        }
    }
}

/// Options of [`compute_loss`].
#[derive(Clone)]
pub struct LossOptions<'a> {
    /// Target-position mask (also the forward's attention mask).
    pub attention_mask: Option<&'a Tensor>,
    /// Packed-document ids.
    pub segment_ids: Option<&'a Tensor>,
    /// Explicit RoPE positions.
    pub position_ids: Option<&'a Tensor>,
    /// Ignored label value.
    pub ignore_index: i64,
    /// Reduction.
    pub reduction: Reduction,
    /// Tokens per chunk of the rematerialised vocabulary head.
    pub loss_chunk_size: Option<usize>,
    /// Training randomness (dropout).
    pub dropout: Option<PrngKey>,
}

impl Default for LossOptions<'_> {
    fn default() -> Self {
        LossOptions {
            attention_mask: None,
            segment_ids: None,
            position_ids: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            loss_chunk_size: None,
            dropout: None,
        }
    }
}

/// Per-token negative log-likelihood of f32 `logits [N, V]` at `labels [N]` (i32, in range),
/// zero where `valid` is false.
#[track_caller]
fn token_nll(logits: &Tensor, labels: &Tensor, valid: &Tensor) -> Tensor {
    let d = logits.dims();
    let (n, v) = (d[0], d[1]);
    let logp = logits.cast(DType::F32).log_softmax(1).reshape(&[n * v]);
    let idx = Tensor::iota(&[n], 0, DType::I32) * (v as i32) + labels;
    let picked = logp.take(&idx, 0);
    Tensor::select(valid, &picked.neg(), &Tensor::scalar_of(0.0, DType::F32))
}

/// The loss and the i32 count of valid targets of `input_ids`, `labels` (both int `[B, L]`).
#[track_caller]
pub fn compute_loss(
    p: &MegalodonForCausalLM,
    cfg: &MegalodonConfig,
    input_ids: &Tensor,
    labels: &Tensor,
    o: &LossOptions<'_>,
) -> Result<(Tensor, Tensor)> {
    if labels.dims() != input_ids.dims() {
        return Err(Error::shape(
            "compute_loss",
            "labels must have the same shape as input_ids",
            &[labels.aval(), input_ids.aval()],
        ));
    }
    if !labels.dtype().is_int() {
        return Err(Error::shape(
            "compute_loss",
            "labels must have an integer dtype",
            &[labels.aval()],
        ));
    }
    if o.loss_chunk_size == Some(0) {
        return Err(Error::arg(
            "compute_loss",
            "loss_chunk_size must be positive",
        ));
    }
    let f = Forward {
        attention_mask: o.attention_mask,
        segment_ids: o.segment_ids,
        position_ids: o.position_ids,
        cache: None,
        return_cache: false,
        dropout: o.dropout.clone(),
    };
    let (hidden, _) = p.model.forward(cfg, input_ids, &f)?;
    let dims = input_ids.dims();
    let (b, l) = (dims[0], dims[1]);
    if l == 0 {
        return Err(Error::shape(
            "compute_loss",
            "input_ids must have at least one position",
            &[input_ids.aval()],
        ));
    }
    let t = l - 1;
    let lab = labels.cast(DType::I32).slice_axis(1, 1, l);
    let mut valid = lab.ne(&Tensor::scalar_of(o.ignore_index as f64, DType::I32));
    if let Some(m) = o.attention_mask {
        valid = valid.and(&m.cast(DType::Bool).slice_axis(1, 1, l));
    }
    if let Some(s) = o.segment_ids {
        let s = s.cast(DType::I32);
        let same = s.slice_axis(1, 0, t).eq(&s.slice_axis(1, 1, l));
        valid = valid.and(&same).and(
            &s.slice_axis(1, 1, l)
                .gt(&Tensor::scalar_of(0.0, DType::I32)),
        );
    }
    let vocab = cfg.effective_output_size();
    if let Some(lv) = super::model::host_values(labels) {
        let m = o.attention_mask.and_then(super::model::host_values);
        let sg = o.segment_ids.and_then(super::model::host_values);
        for r in 0..b {
            for j in 1..l {
                let k = r * l + j;
                let x = lv[k];
                let mut ok = x != o.ignore_index as f64;
                if let Some(m) = &m {
                    ok &= m[k] != 0.0;
                }
                if let Some(s) = &sg {
                    ok &= s[k] == s[k - 1] && s[k] > 0.0;
                }
                if ok && (x < 0.0 || x >= vocab as f64) {
                    return Err(Error::arg(
                        "compute_loss",
                        format!("labels contain out-of-bounds value {x} at [{r}, {j}]; valid range [0, {vocab})"),
                    ));
                }
            }
        }
    }
    let safe = Tensor::select(&valid, &lab, &Tensor::scalar_of(0.0, DType::I32));
    let hs = hidden.slice_axis(1, 0, t);
    let d = hs.dims()[2];
    let n = b * t;
    let token_loss = match o.loss_chunk_size {
        None => {
            let logits = p.project_logits(cfg, &hs).reshape(&[n, vocab]);
            token_nll(&logits, &safe.reshape(&[n]), &valid.reshape(&[n])).reshape(&[b, t])
        }
        Some(cs) => {
            let pad = (cs - n % cs) % cs;
            let nc = (n + pad) / cs;
            let padr = |x: &Tensor, r: usize| {
                if pad == 0 {
                    return x.clone();
                }
                let mut hi = vec![0i64; r];
                hi[0] = pad as i64;
                x.pad(&x.scalar_like(0.0), &vec![0; r], &hi, &vec![0; r])
            };
            let hf = padr(&hs.reshape(&[n, d]), 2).reshape(&[nc, cs, d]);
            let lf = padr(&safe.reshape(&[n]), 1).reshape(&[nc, cs]);
            let vf = padr(&valid.reshape(&[n]), 1).reshape(&[nc, cs]);
            let head = flatten(p.head_weight());
            let (_, ys) = rax_core::scan(
                |_c: &[Tensor], xs: &[Tensor]| {
                    let chunk = checkpoint(
                        |a: &[Tensor]| {
                            let logits = rax_nn::linear::project(
                                &a[0],
                                &a[3],
                                None,
                                cfg.compute(),
                                DType::F32,
                            );
                            vec![token_nll(&logits, &a[1], &a[2])]
                        },
                        RematPolicy::NothingSaveable,
                    );
                    let args = [xs[0].clone(), xs[1].clone(), xs[2].clone(), head[0].clone()];
                    match chunk(&args) {
                        Ok(v) => (vec![], v),
                        Err(e) => (
                            vec![],
                            vec![rax_core::trace::apply_error(
                                e,
                                xs[1].aval(),
                                rax_core::CallSite::here(),
                            )],
                        ),
                    }
                },
                &[],
                &[hf, lf, vf],
                None,
                false,
            );
            ys[0]
                .reshape(&[nc * cs])
                .slice_axis(0, 0, n)
                .reshape(&[b, t])
        }
    };
    let count = valid.cast(DType::I32).sum(&[0, 1]);
    let loss = match o.reduction {
        Reduction::None => token_loss,
        Reduction::Sum => token_loss.sum(&[0, 1]),
        Reduction::Mean => {
            token_loss.sum(&[0, 1])
                / count
                    .cast(DType::F32)
                    .maximum(&Tensor::scalar_of(1.0, DType::F32))
        }
    };
    loss.check()?;
    Ok((loss, count))
}

/// Mean next-token loss of `tokens` against themselves (`compute_loss(tokens, tokens)`).
#[track_caller]
pub fn lm_loss(p: &MegalodonForCausalLM, cfg: &MegalodonConfig, tokens: &Tensor) -> Result<Tensor> {
    Ok(compute_loss(p, cfg, tokens, tokens, &LossOptions::default())?.0)
}
