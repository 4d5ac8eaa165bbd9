"""Writes the small golden files of rax's Megalodon inference tests (generate, `rax eval`,
`rax generate`) from megalodon-jax 0.2.2.

Run from the repository root with the peer's virtual environment:

    /tmp/peer/bin/python crates/rax-models/gen/megalodon_generate_goldens.py

Outputs (crates/rax-models/tests/data/megalodon_generate/):
  model.safetensors  megalodon-jax native checkpoint (save_checkpoint) of a tiny config with
                     chunk_size 8, so prefill and decode cross chunk boundaries
  tokens.npy         int32 [2, 20] evaluation tokens
  logits.npy         f32 [2, 20, 64] megalodon-jax logits of `tokens`
  prompt.npy         int32 [2, 11] prompt (longer than one chunk)
  greedy.npy         int32 [2, 11 + 13] megalodon-jax's greedy `generate` (temperature 0)
  sampled.npy        int32 [2, 11 + 13] megalodon-jax's `generate` with temperature 0.8,
                     top_k 12, top_p 0.9, key PRNGKey(7)
  sampler.safetensors  megalodon-jax `sample_token` on fixed f32 logits [64, 50] with key
                     PRNGKey(3) for each case of SAMPLER_CASES (`tokens.<case>`), and the logits
  meta.json          the loss `compute_loss(tokens, tokens)`, the generation settings and the
                     smallest top-1 / top-2 logit margin met along the greedy path (a margin far
                     above f32 rounding means an exact token-for-token match is a fair test)

The model's zero-initialised parameters (norm scales, Q/K affines) are replaced by small random
values so that they matter. The seed is the first one (from 0) whose greedy path keeps every
top-1 / top-2 margin above 1e-3, so that f32 differences (~1e-6) cannot flip a token.
"""

import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from megalodon_jax import MegalodonConfig, MegalodonForCausalLM, generate, save_checkpoint

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "megalodon_generate")
CONFIG = dict(
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
)
BATCH, EVAL_T, PROMPT_T, NEW = 2, 20, 11, 13
SAMPLING = dict(temperature=0.8, top_k=12, top_p=0.9, seed=7)
# name: (temperature, top_k, top_p)
SAMPLER_CASES = {
    "t1": (1.0, None, None),
    "t0.5": (0.5, None, None),
    "k5": (1.0, 5, None),
    "p0.8": (1.0, None, 0.8),
    "t0.7_k10_p0.6": (0.7, 10, 0.6),
}


def sampler_goldens():
    from safetensors.numpy import save_file

    from megalodon_jax import sample_token

    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((64, 50)) * 2.0).astype(np.float32)
    out = {"logits": logits}
    for name, (t, k, p) in SAMPLER_CASES.items():
        tok = sample_token(jnp.asarray(logits), jax.random.PRNGKey(3), temperature=t, top_k=k, top_p=p)
        out[f"tokens.{name}"] = np.asarray(tok, np.int32)
    save_file(out, os.path.join(OUT, "sampler.safetensors"))


def perturb(model, key):
    leaves, treedef = jax.tree_util.tree_flatten(model)
    keys = jax.random.split(key, len(leaves))
    out = []
    for leaf, k in zip(leaves, keys):
        if eqx.is_inexact_array(leaf) and leaf.size > 0 and not bool(jnp.any(leaf != 0)):
            leaf = (jax.random.normal(k, leaf.shape, jnp.float32) * 0.1).astype(leaf.dtype)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def greedy_margin(model, seq):
    """Smallest top-1 minus top-2 logit over the positions whose argmax produced the
    continuation (full-sequence forward: the same logits the cached decode computes)."""
    logits, _ = model(jnp.asarray(seq))
    lg = np.asarray(logits, np.float64)[:, PROMPT_T - 1 : -1, :]
    top2 = np.sort(lg, axis=-1)[..., -2:]
    return float(np.min(top2[..., 1] - top2[..., 0]))


def main():
    os.makedirs(OUT, exist_ok=True)
    sampler_goldens()
    cfg = MegalodonConfig(**CONFIG)
    for seed in range(50):
        model = MegalodonForCausalLM(cfg, key=jax.random.PRNGKey(seed))
        model = perturb(model, jax.random.PRNGKey(seed + 100))
        rng = np.random.default_rng(seed)
        tokens = rng.integers(0, cfg.vocab_size, size=(BATCH, EVAL_T)).astype(np.int32)
        prompt = rng.integers(0, cfg.vocab_size, size=(BATCH, PROMPT_T)).astype(np.int32)
        greedy, _, _ = generate(model, jnp.asarray(prompt), NEW, temperature=0.0)
        greedy = np.asarray(greedy, np.int32)
        margin = greedy_margin(model, greedy)
        if margin > 1e-3:
            break
    else:
        raise SystemExit("no seed below 50 gives a greedy path with margins above 1e-3")
    sampled, _, _ = generate(
        model,
        jnp.asarray(prompt),
        NEW,
        jax.random.PRNGKey(SAMPLING["seed"]),
        temperature=SAMPLING["temperature"],
        top_k=SAMPLING["top_k"],
        top_p=SAMPLING["top_p"],
    )
    sampled = np.asarray(sampled, np.int32)
    logits, _ = model(jnp.asarray(tokens))
    loss = float(model.compute_loss(jnp.asarray(tokens), jnp.asarray(tokens)))

    save_checkpoint(model, os.path.join(OUT, "model.safetensors"))
    np.save(os.path.join(OUT, "tokens.npy"), tokens)
    np.save(os.path.join(OUT, "logits.npy"), np.asarray(logits, np.float32))
    np.save(os.path.join(OUT, "prompt.npy"), prompt)
    np.save(os.path.join(OUT, "greedy.npy"), greedy)
    np.save(os.path.join(OUT, "sampled.npy"), sampled)
    meta = {
        "model_seed": seed,
        "loss": loss,
        "max_new_tokens": NEW,
        "sampling": SAMPLING,
        "greedy_min_margin": margin,
        "megalodon_jax": "0.2.2",
        "jax": jax.__version__,
    }
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))
    print("greedy", greedy.tolist())
    print("sampled", sampled.tolist())


if __name__ == "__main__":
    main()
