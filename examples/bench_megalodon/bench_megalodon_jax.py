"""The Megalodon training step and greedy decode of the Megalodon issue in megalodon-jax 0.2.2 +
optax (the peer rax is measured against). Same model, flags and JSON keys as rax's
`bench_megalodon` example (examples/bench_megalodon/main.rs).

    /tmp/peer/bin/python examples/bench_megalodon/bench_megalodon_jax.py --write-init DIR
    /tmp/peer/bin/python examples/bench_megalodon/bench_megalodon_jax.py --init DIR [--compute bf16] --steps 10 --json

`--write-init DIR` writes DIR/model.safetensors (megalodon_jax.checkpoint.save_checkpoint of a
fresh model, key PRNGKey(0)) and DIR/tokens.safetensors (int32 `tokens [batch, seq]`); both
implementations then start from these files. `--init DIR` loads the model with
megalodon_jax.checkpoint.load_checkpoint; with `--compute bf16` the same tensors go into a model
whose config has compute_dtype bfloat16 (param, accum and softmax dtypes stay float32).

Step: `model.compute_loss(tokens, tokens)` (mean next-token cross-entropy), jax.value_and_grad
over the model's floating arrays, optax clip_by_global_norm(1.0) + adamw(3e-4, 0.9, 0.999, 1e-8,
weight_decay 0.1 on every parameter), apply; params and optimizer state donated.
`trace_lower_s` is `jax.jit(step).lower(...)`, `compile_s` is `lowered.compile()`, then one
warm-up step and `steps` timed steps.

Decode: megalodon_jax.generate (one filter_jit program: prefill + lax.scan of one-token steps),
greedy (temperature 0), of the first `prompt-len` tokens of each row by `new-tokens` tokens; the
first call compiles (`decode_first_s`), the second is timed (`decode_s`).
"""
import argparse
import dataclasses
import json
import os
import time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--compute", default="f32", choices=["f32", "bf16"])
p.add_argument("--steps", type=int, default=10)
p.add_argument("--batch", type=int, default=4)
p.add_argument("--seq", type=int, default=256)
p.add_argument("--prompt-len", type=int, default=64)
p.add_argument("--new-tokens", type=int, default=64)
p.add_argument("--no-decode", action="store_true")
p.add_argument("--init", help="directory with model.safetensors and tokens.safetensors")
p.add_argument("--write-init", help="write model.safetensors + tokens.safetensors to this directory and exit")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--json", action="store_true")
p.add_argument(
    "--compile-cache",
    help="JAX's persistent compilation cache in this directory (every entry kept), to compare "
    "with rax's RAX_COMPILATION_CACHE_DIR",
)
p.add_argument("--dump-stablehlo", help="write the lowered StableHLO text of the step to this file")
args = p.parse_args()

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

if args.compile_cache:
    jax.config.update("jax_compilation_cache_dir", args.compile_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from safetensors.numpy import load_file, save_file  # noqa: E402

from megalodon_jax import MegalodonConfig, MegalodonForCausalLM, generate  # noqa: E402
from megalodon_jax.checkpoint import (  # noqa: E402
    apply_model_state_dict,
    load_checkpoint,
    model_state_dict,
    save_checkpoint,
)

CONFIG = dict(
    vocab_size=256,
    model_dim=128,
    num_layers=2,
    num_heads=1,
    z_dim=64,
    value_dim=256,
    ffn_hidden_dim=512,
    cema_ndim=16,
    chunk_size=64,
    norm_num_groups=8,
)

if args.write_init:
    os.makedirs(args.write_init, exist_ok=True)
    model = MegalodonForCausalLM(MegalodonConfig(**CONFIG), key=jax.random.PRNGKey(args.seed))
    save_checkpoint(model, os.path.join(args.write_init, "model.safetensors"))
    rng = np.random.default_rng(args.seed)
    toks = rng.integers(0, CONFIG["vocab_size"], size=(args.batch, args.seq)).astype(np.int32)
    save_file({"tokens": toks}, os.path.join(args.write_init, "tokens.safetensors"))
    print(f"wrote {args.write_init}")
    raise SystemExit(0)

if args.init:
    model = load_checkpoint(os.path.join(args.init, "model.safetensors"), key=jax.random.PRNGKey(0))
    tokens = jnp.asarray(load_file(os.path.join(args.init, "tokens.safetensors"))["tokens"])
else:
    model = MegalodonForCausalLM(MegalodonConfig(**CONFIG), key=jax.random.PRNGKey(args.seed))
    rng = np.random.default_rng(args.seed)
    tokens = jnp.asarray(rng.integers(0, CONFIG["vocab_size"], size=(args.batch, args.seq)).astype(np.int32))
if args.compute == "bf16":
    cfg = dataclasses.replace(model.config, compute_dtype=jnp.bfloat16)
    model, _ = apply_model_state_dict(MegalodonForCausalLM(cfg, key=jax.random.PRNGKey(0)), model_state_dict(model))
B, T = tokens.shape

params, static = eqx.partition(model, eqx.is_inexact_array)
n_params = sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(3e-4, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1))


def loss_fn(prm, toks):
    return eqx.combine(prm, static).compute_loss(toks, toks)


def step(prm, s, toks):
    loss, g = jax.value_and_grad(loss_fn)(prm, toks)
    u, s = opt.update(g, s, prm)
    return optax.apply_updates(prm, u), s, loss


state = opt.init(params)
t0 = time.perf_counter()
lowered = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, tokens)
t1 = time.perf_counter()
text = lowered.as_text()
if args.dump_stablehlo:
    with open(args.dump_stablehlo, "w") as f:
        f.write(text)
t1b = time.perf_counter()
compiled = lowered.compile()
t2 = time.perf_counter()
decode_params = jax.tree_util.tree_map(jnp.copy, params)  # the step donates `params`
params, state, loss = compiled(params, state, tokens)  # warm-up
first_loss = float(loss)
times = []
for _ in range(args.steps):
    a = time.perf_counter()
    params, state, loss = compiled(params, state, tokens)
    loss.block_until_ready()
    times.append(time.perf_counter() - a)
times = times or [float("nan")]
out = {
    "impl": "megalodon-jax", "backend": jax.default_backend(), "plugin_api_version": None,
    "policy": "p=f32,c=bf16,a=f32,s=f32" if args.compute == "bf16" else "p=f32,c=f32,a=f32,s=f32",
    "compute": args.compute, "batch": B, "seq": T,
    "compile_cache": args.compile_cache is not None,
    "trace_lower_s": t1 - t0, "compile_s": t2 - t1b, "step_median_s": float(np.median(times)),
    "step_min_s": float(np.min(times)), "first_loss": first_loss, "loss": float(loss),
    "params": n_params, "steps": args.steps + 1, "stablehlo_bytes": len(text),
    "stablehlo_lines": text.count("\n"),
}
if not args.no_decode:
    dm = eqx.combine(decode_params, static)
    prompt = tokens[:, : args.prompt_len]
    a = time.perf_counter()
    ids, _, _ = generate(dm, prompt, args.new_tokens, temperature=0.0)
    ids.block_until_ready()
    out["decode_first_s"] = time.perf_counter() - a
    a = time.perf_counter()
    ids, _, _ = generate(dm, prompt, args.new_tokens, temperature=0.0)
    ids.block_until_ready()
    out["decode_s"] = time.perf_counter() - a
    out["prompt_len"] = args.prompt_len
    out["new_tokens"] = args.new_tokens
    out["decode_tokens_per_s"] = B * args.new_tokens / out["decode_s"]
    out["generated"] = np.asarray(ids)[:, args.prompt_len :].tolist()
print(json.dumps(out) if args.json else out)
