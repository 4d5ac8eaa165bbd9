"""Writes the small golden files of rax's Megalodon tests from megalodon-jax 0.2.2.

Run from the repository root with the peer's virtual environment:

    /tmp/peer/bin/python crates/rax-models/gen/megalodon_goldens.py

Outputs (crates/rax-models/tests/data/megalodon/):
  tiny.safetensors       megalodon-jax native checkpoint (save_checkpoint) of config `tiny`
  options.safetensors    native checkpoint of config `options` (swiglu, rescale_nffn, scale_emb,
                         share_emb, norm_affine=False, 1 layer)
  tiny_golden.safetensors / options_golden.safetensors
                         tokens, logits, losses (every reduction, masks, labels with -100,
                         loss_chunk_size), every parameter gradient (`grad.<key>`), a 3-step
                         AdamW trajectory (`adamw.loss`, `adamw.<key>`), bf16-compute logits,
                         packed-sequence inputs and logits
  layers_golden.safetensors
                         ComplexEMA and TimestepNorm layer inputs, parameters and outputs on
                         every path (FFT, FFT + carried state, sequential, segmented)

With `--check-rax-save DIR`, loads the checkpoints that
`cargo run -p rax-models --example megalodon_save -- DIR` wrote (the tiny checkpoint re-saved
by rax, and a fresh rax-initialised bf16-parameter model) with megalodon-jax's load_checkpoint,
compares logits (bitwise for the re-saved one; within 2e-5 of rax's own logits for the fresh
one) and writes rax_save_check.json.
"""

import argparse
import dataclasses
import json
import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from safetensors.numpy import save_file

from megalodon_jax import MegalodonConfig, MegalodonForCausalLM
from megalodon_jax.checkpoint import (
    apply_model_state_dict,
    load_checkpoint,
    model_state_dict,
    save_checkpoint,
)
from megalodon_jax.layers.complex_ema import ComplexEMA
from megalodon_jax.layers.timestep_norm import TimestepNorm
from megalodon_jax.types import NormState

jax.config.update("jax_enable_x64", False)

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "megalodon")

CONFIGS = {
    "tiny": dict(
        vocab_size=64,
        model_dim=32,
        num_layers=2,
        num_heads=2,
        z_dim=16,
        value_dim=32,
        ffn_hidden_dim=64,
        cema_ndim=4,
        chunk_size=8,
        norm_num_groups=4,
    ),
    "options": dict(
        vocab_size=48,
        model_dim=16,
        num_layers=1,
        num_heads=1,
        z_dim=8,
        value_dim=16,
        ffn_hidden_dim=32,
        cema_ndim=2,
        chunk_size=8,
        norm_num_groups=2,
        swiglu=True,
        rescale_nffn=True,
        scale_emb=True,
        share_emb=True,
        norm_affine=False,
        rope_base=500.0,
    ),
}
BATCH, SEQ = 2, 20


def np32(x):
    return np.asarray(jnp.asarray(x, jnp.float32))


def perturb(model, key):
    """Replace every zero-initialised parameter (norm scales, Q/K affines) by small random
    values so their gradients and the plus-one storage convention are actually exercised."""
    leaves, treedef = jax.tree_util.tree_flatten(model)
    keys = jax.random.split(key, len(leaves))
    out = []
    for leaf, k in zip(leaves, keys):
        if eqx.is_inexact_array(leaf) and leaf.size > 0 and not bool(jnp.any(leaf != 0)):
            leaf = (jax.random.normal(k, leaf.shape, jnp.float32) * 0.1).astype(leaf.dtype)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def model_goldens(name, seed):
    cfg = MegalodonConfig(**CONFIGS[name])
    model = MegalodonForCausalLM(cfg, key=jax.random.PRNGKey(seed))
    model = perturb(model, jax.random.PRNGKey(seed + 100))
    save_checkpoint(model, os.path.join(OUT, f"{name}.safetensors"))
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, cfg.vocab_size, size=(BATCH, SEQ)).astype(np.int32)
    g = {"tokens": tokens}
    logits, _ = model(jnp.asarray(tokens))
    g["logits"] = np32(logits)
    g["loss"] = np32(model.compute_loss(jnp.asarray(tokens), jnp.asarray(tokens)))

    # Labels with ignored positions, a right-padded attention mask, all reductions.
    labels = tokens.copy()
    labels[0, 3] = -100
    labels[1, 10:12] = -100
    mask = np.ones((BATCH, SEQ), dtype=bool)
    mask[1, 15:] = False
    g["labels"] = labels
    g["attention_mask"] = mask.astype(np.int32)
    for red in ("mean", "sum", "none"):
        loss, count = model.compute_loss(
            jnp.asarray(tokens),
            jnp.asarray(labels),
            attention_mask=jnp.asarray(mask),
            reduction=red,
            return_valid_count=True,
        )
        g[f"loss_masked_{red}"] = np32(loss)
        g["loss_masked_count"] = np.asarray(count, np.int32)
    g["loss_chunked"] = np32(
        model.compute_loss(jnp.asarray(tokens), jnp.asarray(labels), loss_chunk_size=7)
    )
    masked_logits, _ = model(jnp.asarray(tokens), attention_mask=jnp.asarray(mask))
    g["logits_masked"] = np32(masked_logits)

    # Every parameter gradient of the mean loss.
    def loss_fn(m):
        return m.compute_loss(jnp.asarray(tokens), jnp.asarray(tokens))

    grads = eqx.filter_grad(loss_fn)(model)
    for k, v in model_state_dict(grads).items():
        g[f"grad.{k}"] = np32(v)

    # 3 AdamW steps (optax defaults, lr 1e-2, weight decay 0.01 on every leaf).
    opt = optax.adamw(1e-2, weight_decay=0.01)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)
    losses = []
    m = model
    for _ in range(3):
        loss, gr = eqx.filter_value_and_grad(loss_fn)(m)
        losses.append(float(loss))
        gp, _ = eqx.partition(gr, eqx.is_inexact_array)
        upd, state = opt.update(gp, state, params)
        params = optax.apply_updates(params, upd)
        m = eqx.combine(params, static)
    g["adamw.loss"] = np.asarray(losses, np.float32)
    for k, v in model_state_dict(m).items():
        g[f"adamw.{k}"] = np32(v)

    # bf16 compute (f32 parameters) from the same tensors.
    cfg_bf = dataclasses.replace(cfg, compute_dtype=jnp.bfloat16)
    mbf = MegalodonForCausalLM(cfg_bf, key=jax.random.PRNGKey(0))
    mbf, _ = apply_model_state_dict(mbf, model_state_dict(model))
    lbf, _ = mbf(jnp.asarray(tokens))
    g["logits_bf16"] = np32(lbf)
    g["loss_bf16"] = np32(mbf.compute_loss(jnp.asarray(tokens), jnp.asarray(tokens)))

    # Packed sequences: row 0 = doc 1 (7) + doc 2 (9) + padding (4); row 1 = 3 docs, the third
    # starting mid-chunk, with a reused id.
    seg = np.zeros((BATCH, SEQ), np.int32)
    seg[0, :7] = 1
    seg[0, 7:16] = 2
    seg[1, :5] = 1
    seg[1, 5:14] = 2
    seg[1, 14:] = 1
    g["segment_ids"] = seg
    pl, _ = model(jnp.asarray(tokens), segment_ids=jnp.asarray(seg))
    g["logits_packed"] = np32(pl)
    g["loss_packed"] = np32(
        model.compute_loss(jnp.asarray(tokens), jnp.asarray(tokens), segment_ids=jnp.asarray(seg))
    )
    cfg_seq = dataclasses.replace(cfg, use_associative_segment_scan=False)
    mseq = MegalodonForCausalLM(cfg_seq, key=jax.random.PRNGKey(0))
    mseq, _ = apply_model_state_dict(mseq, model_state_dict(model))
    ps, _ = mseq(jnp.asarray(tokens), segment_ids=jnp.asarray(seg))
    g["logits_packed_sequential"] = np32(ps)

    # A sliding-window variant of the same weights.
    cfg_win = dataclasses.replace(cfg, attention_window=5)
    mwin = MegalodonForCausalLM(cfg_win, key=jax.random.PRNGKey(0))
    mwin, _ = apply_model_state_dict(mwin, model_state_dict(model))
    lw, _ = mwin(jnp.asarray(tokens))
    g["logits_window5"] = np32(lw)

    save_file(g, os.path.join(OUT, f"{name}_golden.safetensors"))
    print(name, "loss", float(g["loss"]), "adamw", losses)


def layer_goldens():
    g = {}
    D, N, B = 8, 4, 2
    ema = ComplexEMA(D, N, key=jax.random.PRNGKey(7))
    ema = eqx.tree_at(lambda e: e.gamma_imag, ema, jax.random.normal(jax.random.PRNGKey(8), (D, N)))
    for name in ("alpha", "delta", "theta", "gamma_real", "gamma_imag", "omega"):
        g[f"cema.{name}"] = np32(getattr(ema, name))
    rng = np.random.default_rng(3)
    x_long = rng.standard_normal((B, D, 40)).astype(np.float32)
    x_short = rng.standard_normal((B, D, 6)).astype(np.float32)
    h0 = (rng.standard_normal((B, D, N)) + 1j * rng.standard_normal((B, D, N))).astype(np.complex64)
    g["cema.x_long"] = x_long
    g["cema.x_short"] = x_short
    g["cema.h0_re"] = h0.real.astype(np.float32)
    g["cema.h0_im"] = h0.imag.astype(np.float32)
    y, _ = ema(jnp.asarray(x_long))
    g["cema.y_fft"] = np32(y)
    y, h = ema(jnp.asarray(x_long), return_state=True)
    g["cema.h_fft"] = np.stack([np.real(h), np.imag(h)], -1).astype(np.float32)
    y, h = ema(jnp.asarray(x_long), h_init=jnp.asarray(h0), return_state=True)
    g["cema.y_fft_h0"] = np32(y)
    g["cema.h_fft_h0"] = np.stack([np.real(h), np.imag(h)], -1).astype(np.float32)
    y, h = ema(jnp.asarray(x_short), h_init=jnp.asarray(h0), return_state=True)
    g["cema.y_seq_h0"] = np32(y)
    g["cema.h_seq_h0"] = np.stack([np.real(h), np.imag(h)], -1).astype(np.float32)
    seg = np.zeros((B, 40), np.int32)
    seg[0, :13] = 1
    seg[0, 13:37] = 2
    seg[1, :30] = 5
    seg[1, 30:] = 6
    g["cema.segment_ids"] = seg
    y, h = ema(jnp.asarray(x_long), return_state=True, segment_ids=jnp.asarray(seg))
    g["cema.y_seg"] = np32(y)
    g["cema.h_seg"] = np.stack([np.real(h), np.imag(h)], -1).astype(np.float32)
    w = rng.standard_normal((B, D, 40)).astype(np.float32)
    g["cema.w"] = w

    def obj(e):
        return jnp.sum(e(jnp.asarray(x_long))[0] * w)

    gr = eqx.filter_grad(obj)(ema)
    for name in ("alpha", "delta", "theta", "gamma_real", "gamma_imag", "omega"):
        g[f"cema.grad.{name}"] = np32(getattr(gr, name))

    # TimestepNorm: 32 features, 4 groups.
    F, G, L = 32, 4, 12
    tn = TimestepNorm(F, G, eps=1e-5)
    tn = eqx.tree_at(lambda t: (t.weight, t.bias), tn, (
        jax.random.normal(jax.random.PRNGKey(9), (F,)) * 0.2,
        jax.random.normal(jax.random.PRNGKey(10), (F,)) * 0.2,
    ))
    g["tn.weight"] = np32(tn.weight)
    g["tn.bias"] = np32(tn.bias)
    x = (rng.standard_normal((B, L, F)) * 2.0 + 0.5).astype(np.float32)
    g["tn.x"] = x
    y, st = tn(jnp.asarray(x))
    g["tn.y"] = np32(y)
    g["tn.count"] = np.asarray(st.count, np.int32)
    g["tn.mean"] = np32(st.mean)
    g["tn.var"] = np32(st.var)
    st0 = NormState(
        count=jnp.asarray([3, 7], jnp.int32),
        mean=jnp.asarray(rng.standard_normal((B, G)), jnp.float32),
        var=jnp.asarray(rng.uniform(0.5, 2.0, (B, G)), jnp.float32),
    )
    g["tn.state_count"] = np.asarray(st0.count)
    g["tn.state_mean"] = np32(st0.mean)
    g["tn.state_var"] = np32(st0.var)
    y, st = tn(jnp.asarray(x), state=st0)
    g["tn.y_state"] = np32(y)
    g["tn.count_state"] = np.asarray(st.count, np.int32)
    g["tn.mean_state"] = np32(st.mean)
    g["tn.var_state"] = np32(st.var)
    mask = np.ones((B, L), bool)
    mask[1, 8:] = False
    mask[0, 4] = False
    g["tn.mask"] = mask.astype(np.int32)
    y, st = tn(jnp.asarray(x), mask=jnp.asarray(mask))
    g["tn.y_mask"] = np32(y)
    g["tn.count_mask"] = np.asarray(st.count, np.int32)
    g["tn.mean_mask"] = np32(st.mean)
    g["tn.var_mask"] = np32(st.var)
    seg = np.zeros((B, L), np.int32)
    seg[0, :5] = 1
    seg[0, 5:10] = 2
    seg[1, :] = 3
    seg[1, 9:] = 0
    g["tn.segment_ids"] = seg
    y, st = tn(jnp.asarray(x), segment_ids=jnp.asarray(seg))
    g["tn.y_seg"] = np32(y)
    g["tn.count_seg"] = np.asarray(st.count, np.int32)
    g["tn.mean_seg"] = np32(st.mean)
    g["tn.var_seg"] = np32(st.var)
    tnp = TimestepNorm(F, G, prior_count=3, eps=1e-5)
    tnp = eqx.tree_at(lambda t: (t.prior_mean, t.prior_logv, t.weight, t.bias), tnp, (
        jax.random.normal(jax.random.PRNGKey(11), (G,)),
        jax.random.normal(jax.random.PRNGKey(12), (G,)) * 0.3,
        tn.weight,
        tn.bias,
    ))
    g["tn.prior_mean"] = np32(tnp.prior_mean)
    g["tn.prior_logv"] = np32(tnp.prior_logv)
    y, st = tnp(jnp.asarray(x))
    g["tn.y_prior"] = np32(y)
    g["tn.mean_prior"] = np32(st.mean)
    g["tn.var_prior"] = np32(st.var)
    save_file(g, os.path.join(OUT, "layers_golden.safetensors"))
    print("layers written")


def check_rax_save(directory):
    """Load rax-written checkpoints with megalodon-jax and compare logits."""
    from safetensors.numpy import load_file

    golden = load_file(os.path.join(OUT, "tiny_golden.safetensors"))
    tokens = jnp.asarray(golden["tokens"])
    report = {"loaded_with": "megalodon_jax.checkpoint.load_checkpoint (megalodon-jax 0.2.2)"}
    tiny = load_checkpoint(os.path.join(directory, "rax_tiny.safetensors"), key=jax.random.PRNGKey(0))
    lt, _ = tiny(tokens)
    report["rax_tiny_max_abs_logit_diff_vs_golden"] = float(np.max(np.abs(np32(lt) - golden["logits"])))
    fresh = load_checkpoint(os.path.join(directory, "rax_fresh.safetensors"), key=jax.random.PRNGKey(0))
    lf, _ = fresh(tokens)
    rax_logits = load_file(os.path.join(directory, "rax_fresh_logits.safetensors"))["logits"]
    scale = float(np.max(np.abs(np32(lf))))
    report["rax_fresh_config"] = {
        k: (str(jnp.dtype(v)) if "dtype" in k else v) for k, v in dataclasses.asdict(fresh.config).items()
    }
    report["rax_fresh_max_rel_logit_diff_rax_vs_megalodon_jax"] = float(
        np.max(np.abs(np32(lf) - rax_logits)) / scale
    )
    report["ok"] = (
        report["rax_tiny_max_abs_logit_diff_vs_golden"] == 0.0
        and report["rax_fresh_max_rel_logit_diff_rax_vs_megalodon_jax"] < 2e-5
    )
    with open(os.path.join(OUT, "rax_save_check.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-rax-save")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if a.check_rax_save:
        sys.exit(check_rax_save(a.check_rax_save))
    model_goldens("tiny", 0)
    model_goldens("options", 1)
    layer_goldens()
