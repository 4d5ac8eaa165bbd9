"""The reference LM training step of the benchmark issue, in JAX + optax (the peer rax is
measured against). Same model, flags and JSON keys as rax's `bench_lm` example.

    python3 examples/bench_lm/bench_lm_jax.py --write-init /tmp/lm_init.safetensors
    python3 examples/bench_lm/bench_lm_jax.py --init /tmp/lm_init.safetensors --policy f32 --steps 10 --json

Model: byte-level decoder LM (vocab 256, width 256, 4 layers, 4 heads, seq 128, batch 8);
pre-norm RMSNorm (eps 1e-6, f32), fused QKV without bias, causal softmax attention (scores and
softmax f32), output projection, MLP 4x with tanh-GELU, final RMSNorm, head tied to the
embedding, mean cross-entropy with log-softmax in f32. clip_by_global_norm(1.0) + AdamW(3e-4,
0.9, 0.999, 1e-8, wd 0.1 on every parameter). Params and optimizer state donated.
"""
import argparse
import json
import struct
import time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--policy", default="f32", help="f32 or p=f32,c=bf16,a=f32,s=f32")
p.add_argument("--steps", type=int, default=10)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--width", type=int, default=256)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--vocab", type=int, default=256)
p.add_argument("--init", help="safetensors file with the initial weights and the token batch")
p.add_argument("--write-init", help="write initial weights + tokens to this safetensors file and exit")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--json", action="store_true")
p.add_argument("--dump-stablehlo", help="write the lowered StableHLO text of the step to this file")
p.add_argument("--loss-only", action="store_true", help="print the initial loss (f32 policy) and exit")
args = p.parse_args()

D, L, H, V, T, B = args.width, args.layers, args.heads, args.vocab, args.seq, args.batch


def param_shapes():
    s = {"embed": (V, D), "final_norm": (D,)}
    for i in range(L):
        s[f"layers.{i}.attn_norm"] = (D,)
        s[f"layers.{i}.wqkv"] = (D, 3 * D)
        s[f"layers.{i}.wo"] = (D, D)
        s[f"layers.{i}.mlp_norm"] = (D,)
        s[f"layers.{i}.w1"] = (D, 4 * D)
        s[f"layers.{i}.w2"] = (4 * D, D)
    return s


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, m in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "I32": np.int32}[m["dtype"]]
        a, b = m["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dt).reshape(m["shape"])
    return out


if args.write_init:
    rng = np.random.default_rng(args.seed)
    t = {}
    for name, shape in param_shapes().items():
        if name.endswith("norm"):
            t[name] = np.ones(shape, np.float32)
        else:
            t[name] = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    t["tokens"] = rng.integers(0, V, size=(B, T + 1)).astype(np.int32)
    write_safetensors(args.write_init, t)
    print(f"wrote {args.write_init}")
    raise SystemExit(0)

import jax  # noqa: E402 (after the cheap path above)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

bf16 = args.policy != "f32"
cdt = jnp.bfloat16 if bf16 else jnp.float32

if args.init:
    init = read_safetensors(args.init)
else:
    rng = np.random.default_rng(args.seed)
    init = {n: (np.ones(s, np.float32) if n.endswith("norm") else (rng.standard_normal(s) * 0.02).astype(np.float32))
            for n, s in param_shapes().items()}
    init["tokens"] = rng.integers(0, V, size=(B, T + 1)).astype(np.int32)
tokens = jnp.asarray(init.pop("tokens"))
params = {k: jnp.asarray(v) for k, v in init.items()}
n_params = sum(int(np.prod(v.shape)) for v in params.values())


def rms_norm(x, w):
    xf = x.astype(jnp.float32)
    y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + 1e-6) * w
    return y.astype(cdt)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + jnp.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def attention(x, wqkv, wo):
    qkv = x @ wqkv  # [B, T, 3D]
    q, k, v = jnp.split(qkv, 3, axis=-1)
    hd = D // H
    q = q.reshape(B, T, H, hd).transpose(0, 2, 1, 3)
    k = k.reshape(B, T, H, hd).transpose(0, 2, 1, 3)
    v = v.reshape(B, T, H, hd).transpose(0, 2, 1, 3)
    s = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=jnp.float32) * (hd ** -0.5)
    mask = jnp.tril(jnp.ones((T, T), bool))
    s = jnp.where(mask, s, jnp.finfo(jnp.float32).min)
    pr = jax.nn.softmax(s, axis=-1).astype(cdt)
    o = jnp.einsum("bhqk,bhkd->bhqd", pr, v)
    return o.transpose(0, 2, 1, 3).reshape(B, T, D) @ wo


def loss_fn(p, toks):
    c = {k: v.astype(cdt) for k, v in p.items()}
    x = c["embed"][toks[:, :-1]]
    for i in range(L):
        g = f"layers.{i}."
        x = x + attention(rms_norm(x, p[g + "attn_norm"]), c[g + "wqkv"], c[g + "wo"])
        x = x + gelu_tanh(rms_norm(x, p[g + "mlp_norm"]) @ c[g + "w1"]) @ c[g + "w2"]
    x = rms_norm(x, p["final_norm"])
    logits = (x @ c["embed"].T).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits, axis=-1)
    tgt = toks[:, 1:]
    return -jnp.mean(jnp.take_along_axis(logp, tgt[..., None], axis=-1))


opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(3e-4, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1))


def step(p, s, toks):
    loss, g = jax.value_and_grad(loss_fn)(p, toks)
    u, s = opt.update(g, s, p)
    return optax.apply_updates(p, u), s, loss


if args.loss_only:
    print(json.dumps({"loss": float(jax.jit(loss_fn)(params, tokens))}))
    raise SystemExit(0)

state = opt.init(params)
t0 = time.perf_counter()
lowered = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, tokens)
t1 = time.perf_counter()
if args.dump_stablehlo:
    with open(args.dump_stablehlo, "w") as f:
        f.write(lowered.as_text())
compiled = lowered.compile()
t2 = time.perf_counter()
params, state, loss = compiled(params, state, tokens)  # warm-up
loss.block_until_ready()
times = []
for _ in range(args.steps):
    a = time.perf_counter()
    params, state, loss = compiled(params, state, tokens)
    loss.block_until_ready()
    times.append(time.perf_counter() - a)
times = times or [float("nan")]  # --steps 0: only the warm-up step ran
med = float(np.median(times))
out = {
    "impl": "jax", "backend": jax.default_backend(), "plugin_api_version": None,
    "policy": args.policy, "trace_lower_s": t1 - t0, "compile_s": t2 - t1,
    "step_median_s": med, "step_min_s": float(np.min(times)), "loss": float(loss),
    "params": n_params, "gflops": 6 * n_params * B * T / med / 1e9, "steps": args.steps + 1,
}
print(json.dumps(out) if args.json else out)
