"""Golden optimizer trajectories for rax-optim's parity tests (dev-time only).

Runs optax 0.2.8 / jax 0.10.2 (f32, x64 off) on small parameter trees for several steps and
writes `xla_ops/cases/optim/trajectories.json` (a subdirectory, so the primitive case loader
of xla_ops, which reads `cases/*.json`, does not see it), read by `crates/rax-optim/tests/parity.rs`.
This is not a primitive family: there is no `optim` entry in xla_ops/src/families.

Format: {"trajectories": [{"name", "params": {path: arr}, "grads": [{path: arr}, ...],
"expected": [{path: arr}, ...]}], "schedules": [{"name", "values": [f32, ...]}]}, where arr is
{"dtype", "shape", "hex"} (little-endian bytes, exact; NaN-safe). `expected[i]` is the
parameter tree after step i+1. Muon follows docs/optim.md (momentum b <- mu*b + g, Nesterov
direction g + mu*b, scaling sqrt(max(1, rows/cols))) with optax.contrib's Newton-Schulz
(`orthogonalize_via_newton_schulz`, Frobenius preconditioning, eps 1e-7), since optax.contrib.muon
uses an EMA momentum with bias correction and fan_out/fan_in scaling instead.

Run: python3 xla_ops/gen/optim.py
"""
import json
import os

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
from optax.contrib import _muon

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "cases", "optim", "trajectories.json")
NAMES = {np.dtype(np.float32): "f32", np.dtype(ml_dtypes.bfloat16): "bf16"}


def enc(a):
    a = np.asarray(a)
    return {"dtype": NAMES[a.dtype], "shape": list(a.shape), "hex": np.ascontiguousarray(a).tobytes().hex()}


def enc_tree(t):
    return {k: enc(v) for k, v in sorted(t.items())}


rng = np.random.default_rng(0)


def make_params(dtype=np.float32):
    return {
        "b": rng.normal(0, 0.1, (3,)).astype(np.float32).astype(dtype),
        "norm": (1.0 + rng.normal(0, 0.01, (6,))).astype(np.float32).astype(dtype),
        "w": rng.normal(0, 0.5, (4, 6)).astype(np.float32).astype(dtype),
    }


def make_grads(params, steps, scale=1.0, nan_at=None):
    out = []
    for i in range(steps):
        g = {k: (rng.normal(0, scale, v.shape)).astype(np.float32).astype(v.dtype) for k, v in params.items()}
        if nan_at is not None and i == nan_at:
            g["w"] = g["w"].copy()
            g["w"][1, 2] = np.nan
        out.append(g)
    return out


def run(tx, params, grads):
    p = {k: jnp.asarray(v) for k, v in params.items()}
    state = tx.init(p)
    upd = jax.jit(tx.update)
    traj = []
    for g in grads:
        u, state = upd({k: jnp.asarray(v) for k, v in g.items()}, state, p)
        p = optax.apply_updates(p, u)
        traj.append({k: np.asarray(v) for k, v in p.items()})
    return traj


def traj(name, tx, params=None, grads=None, steps=5, runner=run):
    params = params if params is not None else make_params()
    grads = grads if grads is not None else make_grads(params, steps)
    return {"name": name, "params": enc_tree(params), "grads": [enc_tree(g) for g in grads],
            "expected": [enc_tree(e) for e in runner(tx, params, grads)]}


def decay_mask(p):
    return {k: v.ndim >= 2 for k, v in p.items()}


def muon_ref(lr, mu, params, grads):
    """docs/optim.md's muon on 2-D leaves (optax.contrib NS5), AdamW(lr, wd 0) on the rest."""
    coeffs = jnp.asarray([3.4445, -4.7750, 2.0315], jnp.float32)
    adam = optax.adamw(lr, weight_decay=0.0)
    rest = {k: jnp.asarray(v) for k, v in params.items() if v.ndim != 2}
    mats = {k: jnp.asarray(v) for k, v in params.items() if v.ndim == 2}
    st = adam.init(rest)
    buf = {k: jnp.zeros_like(v) for k, v in mats.items()}
    out = []
    for g in grads:
        u, st = adam.update({k: jnp.asarray(g[k]) for k in rest}, st, rest)
        rest = optax.apply_updates(rest, u)
        for k, w in mats.items():
            gk = jnp.asarray(g[k])
            buf[k] = mu * buf[k] + gk
            d = gk + mu * buf[k]
            o = _muon.orthogonalize_via_newton_schulz(d, coeffs, 5, "frobenius", 1e-7, _muon.MuonDimensionNumbers())
            m, n = w.shape
            mats[k] = w - lr * o * np.sqrt(max(1.0, m / n))
        out.append({**{k: np.asarray(v) for k, v in rest.items()}, **{k: np.asarray(v) for k, v in mats.items()}})
    return out


def main():
    T = []
    T.append(traj("adam", optax.adam(1e-2)))
    T.append(traj("adam_nesterov_eps_root", optax.adam(1e-2, nesterov=True, eps_root=1e-8)))
    T.append(traj("adamw_mask", optax.adamw(1e-2, weight_decay=0.1, mask=decay_mask)))
    T.append(traj("lion", optax.lion(1e-3, weight_decay=0.01)))
    T.append(traj("sgd_nesterov", optax.sgd(0.1, momentum=0.9, nesterov=True)))
    T.append(traj("sgd_momentum", optax.sgd(0.1, momentum=0.9)))
    T.append(traj("sgd_plain", optax.sgd(0.1)))
    p = make_params()
    T.append(traj("clip_adamw", optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2, weight_decay=0.01)),
                  p, make_grads(p, 2, scale=0.05) + make_grads(p, 3, scale=2.0)))
    T.append(traj("clip_scale", optax.chain(optax.clip(0.5), optax.scale(-0.1))))
    sched = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 2, 6, 1e-3)
    T.append(traj("adamw_warmup_cosine", optax.adamw(sched, weight_decay=0.01), steps=7))
    T.append(traj("inject_adamw", optax.inject_hyperparams(optax.adamw)(learning_rate=sched, weight_decay=0.01), steps=7))
    T.append(traj("multi_steps_adam", optax.MultiSteps(optax.adam(1e-2), every_k_schedule=3), steps=7))
    p = make_params()
    T.append(traj("apply_if_finite_adam", optax.apply_if_finite(optax.adam(1e-2), max_consecutive_errors=2),
                  p, make_grads(p, 5, nan_at=1)))
    T.append(traj("partition_sgd_adam", optax.partition(
        {"sgd": optax.sgd(0.1), "adam": optax.adam(1e-2)},
        lambda p: {k: ("sgd" if k == "b" else "adam") for k in p})))
    T.append(traj("masked_adam", optax.chain(optax.masked(optax.scale_by_adam(), decay_mask), optax.scale(-1e-2))))
    p = make_params()
    T.append(traj("muon", None, p, make_grads(p, 4), runner=lambda tx, pp, gg: muon_ref(0.02, 0.95, pp, gg)))
    pt = {"b": make_params()["b"], "wt": rng.normal(0, 0.5, (6, 4)).astype(np.float32)}
    T.append(traj("muon_tall", None, pt, make_grads(pt, 3), runner=lambda tx, pp, gg: muon_ref(0.02, 0.95, pp, gg)))

    # Mixed precision: bf16 params, f32 moments; updates added in f32 and rounded to bf16.
    def run_bf16(tx, params, grads):
        p = {k: jnp.asarray(v) for k, v in params.items()}
        p32 = {k: v.astype(jnp.float32) for k, v in p.items()}
        st = tx.init(p32)
        out = []
        for g in grads:
            u, st = tx.update({k: jnp.asarray(v).astype(jnp.float32) for k, v in g.items()}, st,
                              {k: v.astype(jnp.float32) for k, v in p.items()})
            p = optax.apply_updates(p, u)
            out.append({k: np.asarray(v) for k, v in p.items()})
        return out

    def run_master(tx, params, grads):
        p = {k: jnp.asarray(v) for k, v in params.items()}
        m = {k: v.astype(jnp.float32) for k, v in p.items()}
        st = tx.init(m)
        out = []
        for g in grads:
            u, st = tx.update({k: jnp.asarray(v).astype(jnp.float32) for k, v in g.items()}, st, m)
            m = optax.apply_updates(m, u)
            out.append({k: np.asarray(v.astype(jnp.bfloat16)) for k, v in m.items()})
        return out

    pb = make_params(ml_dtypes.bfloat16)
    gb = make_grads(pb, 5)
    T.append(traj("bf16_adamw_f32_moments", optax.adamw(3e-4, weight_decay=0.1), pb, gb, runner=run_bf16))
    T.append(traj("bf16_master_adamw", optax.adamw(3e-4, weight_decay=0.1), pb, gb, runner=run_master))

    S = []
    steps = np.arange(0, 25, dtype=np.int32)
    def sv(name, s):
        S.append({"name": name, "values": [float(np.float32(s(jnp.int32(i)))) for i in steps]})
    sv("constant", optax.constant_schedule(0.5))
    sv("linear", optax.linear_schedule(1.0, 0.1, 10))
    sv("cosine_decay", optax.cosine_decay_schedule(1e-2, 20, alpha=0.1))
    sv("warmup_cosine", optax.warmup_cosine_decay_schedule(0.0, 1e-3, 5, 20, 1e-5))
    sv("join", optax.join_schedules([optax.constant_schedule(1.0), optax.linear_schedule(1.0, 0.0, 4)], [3]))
    # Triangular cyclic (optax has none): numpy reference of docs/optim.md's definition, in f32.
    lo, hi, per = np.float32(1e-4), np.float32(1e-3), 8
    S.append({"name": "cyclic", "values": [float(lo + (hi - lo) * (np.float32(1) - abs(np.float32(i % per) / np.float32(per) * 2 - 1))) for i in steps]})

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"trajectories": T, "schedules": S}, f, indent=0)
    print(f"wrote {len(T)} trajectories, {len(S)} schedules to {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
