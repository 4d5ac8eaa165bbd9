"""Conformance cases of the layout family (broadcast_in_dim, reshape, transpose, iota, constant,
slice, concatenate, pad, reverse), computed by jax.jit on CPU. Data movement copies values, so
float cases compare bit-exactly (sign of zero included; NaN matches NaN).

Run: python3 xla_ops/gen/layout.py  -> xla_ops/cases/layout.json
"""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DTYPES, arr, case, encode, write  # noqa: E402

EXACT = {"ulps": 0}
WHY = "data movement copies values: compared bit-exactly (sign of zero included)"

ALL = list(DTYPES)
rng = np.random.default_rng(0)

SPECIAL = [0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1e-40, 3.0e38, 2.5, 0.1, -7.0]


def data(dtype, shape):
    """Values of a dtype including edge values (inf, nan, -0.0, denormals, extremes)."""
    n = int(np.prod(shape))
    if dtype == "bool":
        return arr(rng.integers(0, 2, n).astype(bool).reshape(shape))
    dt = np.dtype(DTYPES[dtype])
    if dtype in ("i8", "i32", "i64", "u8", "u32"):
        info = np.iinfo(dt)
        pool = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2]
        v = rng.integers(max(info.min, -1000), min(info.max, 1000), n).astype(dt)
        for i in range(min(n, len(pool))):
            v[i] = pool[i]
        rng.shuffle(v)
        return v.reshape(shape)
    if dtype == "c64":
        re = np.array([SPECIAL[i % len(SPECIAL)] for i in range(n)], np.float32)
        im = rng.standard_normal(n).astype(np.float32)
        im[::3] = -0.0
        return (re + 1j * im).astype(np.complex64).reshape(shape)
    base = [SPECIAL[i % len(SPECIAL)] for i in range(n)]
    v = np.array(base, np.float64)
    v[len(SPECIAL):] = rng.standard_normal(max(0, n - len(SPECIAL))) * 10
    with np.errstate(over="ignore"):
        v = v.astype(np.float32).astype(dt)
    rng.shuffle(v)
    return v.reshape(shape)


def run(f, *xs):
    out = jax.jit(f)(*xs)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def tol_for(dtype):
    if dtype in ("bool", "i8", "i32", "i64", "u8", "u32"):
        return {}
    return {"tol": EXACT, "why": WHY}


cases = []


def add(name, op, inputs, f, params, dtype):
    cases.append(case(name, op, inputs, run(f, *inputs), params, **tol_for(dtype)))


for d in ALL:
    x = data(d, (2, 3, 4))
    # broadcast_in_dim
    y = data(d, (3, 1))
    add(f"broadcast_in_dim/{d}/3x1_to_2x3x5", "broadcast_in_dim", [y],
        lambda a: lax.broadcast_in_dim(a, (2, 3, 5), (1, 2)),
        {"shape": [2, 3, 5], "dims": [1, 2]}, d)
    # reshape
    add(f"reshape/{d}/2x3x4_to_6x4", "reshape", [x],
        lambda a: lax.reshape(a, (6, 4)), {"shape": [6, 4]}, d)
    # transpose
    add(f"transpose/{d}/201", "transpose", [x],
        lambda a: lax.transpose(a, (2, 0, 1)), {"perm": [2, 0, 1]}, d)
    # slice
    add(f"slice/{d}/strided", "slice", [x],
        lambda a: lax.slice(a, (0, 1, 0), (2, 3, 4), (1, 1, 3)),
        {"start": [0, 1, 0], "limit": [2, 3, 4], "strides": [1, 1, 3]}, d)
    # concatenate
    z = data(d, (2, 1, 4))
    add(f"concatenate/{d}/axis1", "concatenate", [x, z, x],
        lambda a, b, c: lax.concatenate([a, b, c], 1), {"axis": 1}, d)
    # pad (edge, interior, negative)
    pv = data(d, (1,)).reshape(())
    add(f"pad/{d}/mixed", "pad", [x, pv],
        lambda a, v: lax.pad(a, v, [(1, -1, 1), (0, 2, 0), (-2, 1, 2)]),
        {"lo": [1, 0, -2], "hi": [-1, 2, 1], "interior": [1, 0, 2]}, d)
    # reverse
    add(f"reverse/{d}/axes02", "reverse", [x],
        lambda a: lax.rev(a, (0, 2)), {"axes": [0, 2]}, d)
    # constant
    c = np.asarray(data(d, (2, 3)))
    cases.append(case(f"constant/{d}/2x3", "constant", [], run(lambda: jnp.asarray(c)),
                      {"value": encode(c)}, **tol_for(d)))
    # iota (numeric dtypes)
    if d != "bool":
        try:
            out = run(lambda: lax.broadcasted_iota(DTYPES[d], (3, 4), 1))
            cases.append(case(f"iota/{d}/3x4_dim1", "iota", [], out,
                              {"shape": [3, 4], "dim": 1, "dtype": d}, **tol_for(d)))
        except Exception as e:  # some dtypes may not support iota in XLA
            print(f"skip iota {d}: {e}")

# Shape edge cases in f32.
d = "f32"
x = data(d, (3, 4))
e = data(d, (3, 0))
add("slice/f32/empty_result", "slice", [x], lambda a: lax.slice(a, (1, 2), (1, 4), (1, 1)),
    {"start": [1, 2], "limit": [1, 4], "strides": [1, 1]}, d)
add("slice/f32/stride_past_end", "slice", [x], lambda a: lax.slice(a, (0, 1), (3, 4), (2, 5)),
    {"start": [0, 1], "limit": [3, 4], "strides": [2, 5]}, d)
add("concatenate/f32/with_empty", "concatenate", [e, x, e], lambda a, b, c: lax.concatenate([a, b, c], 1),
    {"axis": 1}, d)
add("concatenate/f32/single", "concatenate", [x], lambda a: lax.concatenate([a], 0), {"axis": 0}, d)
add("concatenate/f32/axis0", "concatenate", [x, x[:1]], lambda a, b: lax.concatenate([a, b], 0),
    {"axis": 0}, d)
pv = arr(np.float32(-0.0))
add("pad/f32/crop_all", "pad", [x, pv], lambda a, v: lax.pad(a, v, [(-2, -1, 0), (0, 0, 0)]),
    {"lo": [-2, 0], "hi": [-1, 0], "interior": [0, 0]}, d)
add("pad/f32/empty_operand", "pad", [e, pv], lambda a, v: lax.pad(a, v, [(0, 1, 0), (1, 1, 3)]),
    {"lo": [0, 1], "hi": [1, 1], "interior": [0, 3]}, d)
add("pad/f32/negative_interior_mix", "pad", [x, pv],
    lambda a, v: lax.pad(a, v, [(-1, -2, 2), (-3, 0, 1)]),
    {"lo": [-1, -3], "hi": [-2, 0], "interior": [2, 1]}, d)
add("pad/f32/scalar", "pad", [arr(np.float32(3.0)), pv], lambda a, v: lax.pad(a, v, []),
    {"lo": [], "hi": [], "interior": []}, d)
add("reverse/f32/none", "reverse", [x], lambda a: lax.rev(a, ()), {"axes": []}, d)
add("reverse/f32/empty", "reverse", [e], lambda a: lax.rev(a, (0, 1)), {"axes": [0, 1]}, d)
add("transpose/f32/empty", "transpose", [e], lambda a: lax.transpose(a, (1, 0)), {"perm": [1, 0]}, d)
add("broadcast_in_dim/f32/scalar", "broadcast_in_dim", [arr(np.float32(-0.0))],
    lambda a: lax.broadcast_in_dim(a, (2, 0, 3), ()), {"shape": [2, 0, 3], "dims": []}, d)
add("reshape/f32/to_scalar", "reshape", [arr(np.array([np.nan], np.float32))],
    lambda a: lax.reshape(a, ()), {"shape": []}, d)
add("reshape/f32/empty", "reshape", [e], lambda a: lax.reshape(a, (0, 7)), {"shape": [0, 7]}, d)

write("layout", cases)
