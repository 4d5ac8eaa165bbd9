"""Shared helpers of the conformance generators (dev-time only; rax never runs Python).

Each generator `gen/<family>.py` builds cases with `case(...)` and writes
`cases/<family>.json` with `write(family, cases)`. Arrays are stored exactly, as the hex of
their little-endian bytes (bool as one byte per element), with dtype and shape.

Run all:  python3 xla_ops/gen/run_all.py   (needs `pip install jax[cpu]==0.10.2 optax`)
"""
import json
import os

import jax
import ml_dtypes
import numpy as np

jax.config.update("jax_enable_x64", True)

DTYPES = {
    "bool": np.bool_, "i8": np.int8, "i32": np.int32, "i64": np.int64, "u8": np.uint8,
    "u32": np.uint32, "f16": np.float16, "bf16": ml_dtypes.bfloat16, "f32": np.float32,
    "f64": np.float64, "f8e4m3fn": ml_dtypes.float8_e4m3fn, "f8e5m2": ml_dtypes.float8_e5m2,
    "c64": np.complex64,
}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(os.path.dirname(HERE), "cases")


def arr(x, dtype=None):
    """A numpy array of a rax dtype name (default: keep x's dtype)."""
    a = np.asarray(x)
    if dtype is not None:
        a = a.astype(DTYPES[dtype])
    return a


def encode(a):
    a = np.asarray(a)
    name = NAMES[a.dtype]
    data = a.astype(np.uint8) if name == "bool" else a
    return {"dtype": name, "shape": list(a.shape), "hex": np.ascontiguousarray(data).tobytes().hex()}


def case(name, op, inputs, outputs, params=None, tol=None, why=None):
    """One conformance case. `tol` (optional) overrides the runner's per-dtype tolerance:
    {"ulps": n} or {"atol": a, "rtol": r}; `why` must then say why the dtype needs it."""
    c = {"name": name, "op": op, "params": params or {}, "inputs": [encode(x) for x in inputs],
         "outputs": [encode(np.asarray(y)) for y in outputs]}
    if tol is not None:
        assert why, f"{name}: a tolerance override needs a justification"
        c["tol"] = tol
        c["why"] = why
    return c


def write(family, cases):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), f"duplicate case names in {family}"
    os.makedirs(CASES, exist_ok=True)
    path = os.path.join(CASES, f"{family}.json")
    with open(path, "w") as f:
        json.dump({"family": family, "jax_version": jax.__version__, "cases": cases}, f, indent=0)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}")
