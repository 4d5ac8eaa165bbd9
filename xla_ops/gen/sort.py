"""Conformance cases of the `sort` family: sort (single and multi-operand, several keys,
ascending and descending), argsort (a sort of (x, iota)) and top_k, from jax 0.10.2.

Golden order of `sort`: `jax.lax.sort(..., is_stable=True)` (jax's comparator: -0.0 ties +0.0,
NaNs of both signs last). Descending goldens are the stable descending order (ties keep their
input order): an ascending `jax.lax.sort` with an extra key `-iota` after the user's keys, then
reversed along the axis. `top_k` goldens are `jax.lax.top_k` (XLA's raw total order).
"""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax
import jax.numpy as jnp
import numpy as np
from common import arr, case, write, DTYPES

rng = np.random.default_rng(0)
# Denormals (1e-40 for f32/bf16, 1e-310 for f64, and f16/f8 subnormals) are in the pools on
# purpose: XLA flushes f32/f64/bf16 subnormals to zero inside the comparator, so they tie with
# +-0.0, while f16/f8 (widened to f32) keep them distinct.
NEG_NAN = np.frombuffer(np.uint32(0xFFC00000).tobytes(), np.float32)[0]
FLOAT_POOL = [np.nan, NEG_NAN, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-40, -1e-40, 6e-8,
              2e-5, 0.002, -0.002, 3.0, 1.0, -2.5]
FLOATS = ["f16", "bf16", "f32", "f64", "f8e4m3fn", "f8e5m2"]
INTS = ["i8", "i32", "i64", "u8", "u32"]


def floats(shape, dt):
    pool = FLOAT_POOL if dt != "f8e4m3fn" else [v for v in FLOAT_POOL if not np.isinf(v)]
    if dt == "f64":
        pool = np.concatenate([np.array(pool, np.float32).astype(np.float64), [1e-310, -1e-310]])
        return rng.choice(pool, size=shape)
    x = rng.choice(np.array(pool, np.float32), size=shape)
    # keep the negative NaN's sign through the cast (ml_dtypes keeps it)
    return arr(x, dt)


def ints(shape, dt):
    info = np.iinfo(DTYPES[dt])
    pool = np.array([info.min, info.max, 0, 1, 2, 2, 3, info.max - 1, info.min + 1], dtype=object)
    x = rng.choice(pool, size=shape)
    return np.array(x.tolist(), dtype=DTYPES[dt])


def data(shape, dt):
    if dt in FLOATS:
        return floats(shape, dt)
    if dt in INTS:
        return ints(shape, dt)
    if dt == "bool":
        return rng.random(shape) < 0.5
    if dt == "c64":
        re = rng.choice(np.array([0.0, -0.0, 1e-40, 1.0, 1.0, -1.0, np.nan, NEG_NAN, np.inf], np.float32), size=shape)
        im = rng.choice(np.array([0.0, -0.0, -1e-40, 1.0, 2.0, np.nan], np.float32), size=shape)
        return make_c64(re, im)  # built part by part so NaN/-0.0 parts stay exact
    raise ValueError(dt)


def make_c64(re, im):
    out = np.empty(re.shape, np.complex64)
    out.real = re
    out.imag = im
    return out


def iota(shape, axis):
    return np.asarray(jax.lax.broadcasted_iota(np.int32, shape, axis))


def golden_sort(ops, axis, num_keys, descending):
    ops = [jnp.asarray(o) for o in ops]
    if not descending:
        return [np.asarray(y) for y in
                jax.lax.sort(tuple(ops), dimension=axis, num_keys=num_keys, is_stable=True)]
    neg = -jnp.asarray(iota(ops[0].shape, axis))
    full = tuple(ops[:num_keys]) + (neg,) + tuple(ops[num_keys:])
    ys = jax.lax.sort(full, dimension=axis, num_keys=num_keys + 1, is_stable=True)
    ys = [np.asarray(jnp.flip(y, axis)) for y in ys]
    return ys[:num_keys] + ys[num_keys + 1:]


cases = []


def add_sort(name, ops, axis, num_keys=1, descending=False):
    ys = golden_sort(ops, axis, num_keys, descending)
    cases.append(case(name, "sort", ops, ys,
                      params={"axis": axis, "num_keys": num_keys, "descending": descending}))


def add_argsort(name, x, axis, descending=False):
    ys = golden_sort([x, iota(x.shape, axis)], axis, 1, descending)
    cases.append(case(name, "argsort", [x], [ys[1]],
                      params={"axis": axis, "descending": descending}))


def add_top_k(name, x, k):
    v, i = jax.lax.top_k(jnp.asarray(x), k)
    cases.append(case(name, "top_k", [x], [np.asarray(v), np.asarray(i)], params={"k": k}))


ALL = ["bool"] + INTS + FLOATS + ["c64"]
for dt in ALL:
    x = data((3, 16), dt)
    add_sort(f"sort/{dt}/last_axis", [x], 1)
    add_sort(f"sort/{dt}/axis0_desc", [data((9, 4), dt)], 0, descending=True)
    add_sort(f"sort/{dt}/last_desc", [x], 1, descending=True)
    add_argsort(f"argsort/{dt}/last", data((2, 13), dt), 1)
    add_argsort(f"argsort/{dt}/axis0_desc", data((11, 3), dt), 0, descending=True)

# multi-operand: keys f32 + i32 (lexicographic), values bf16 and u8
k0 = floats((4, 12), "f32")
k0 = np.where(rng.random((4, 12)) < 0.5, np.float32(1.0), k0).astype(np.float32)  # many ties
k1 = rng.integers(-3, 3, size=(4, 12)).astype(np.int32)
v0 = floats((4, 12), "bf16")
v1 = rng.integers(0, 255, size=(4, 12)).astype(np.uint8)
for desc in (False, True):
    tag = "desc" if desc else "asc"
    add_sort(f"sort/multi/two_keys_{tag}", [k0, k1, v0, v1], 1, num_keys=2, descending=desc)
    add_sort(f"sort/multi/one_key_{tag}", [k0, k1, v0], 1, num_keys=1, descending=desc)
    add_sort(f"sort/multi/axis0_{tag}", [k1, k0], 0, num_keys=1, descending=desc)
    add_sort(f"sort/multi/bool_f16_keys_{tag}", [data((5, 7), "bool"), data((5, 7), "f16"),
                                                data((5, 7), "i64")], 1, num_keys=2,
             descending=desc)
x3 = floats((3, 4, 5), "f32")
add_sort("sort/f32/rank3_axis1", [x3, iota(x3.shape, 2)], 1)
add_sort("sort/f32/rank3_axis2_desc", [x3], 2, descending=True)
add_sort("sort/f32/empty", [np.zeros((0,), np.float32)], 0)
add_sort("sort/f32/empty_batch", [np.zeros((0, 5), np.float32)], 1)
add_sort("sort/i32/empty_axis", [np.zeros((3, 0), np.int32)], 1)
add_sort("sort/f32/len1", [np.array([np.nan], np.float32)], 0)
big = rng.standard_normal((1000,)).astype(np.float32)
big[::7] = big[3]  # ties
add_sort("sort/f32/long", [big], 0)
add_argsort("argsort/f32/long_desc", big, 0, descending=True)

TOPK = ["bool"] + INTS + ["f16", "bf16", "f32", "f64", "f8e4m3fn", "f8e5m2"]
for dt in TOPK:
    x = data((3, 15), dt)
    try:
        add_top_k(f"top_k/{dt}/k4", x, 4)
        add_top_k(f"top_k/{dt}/all", x, 15)
    except Exception as e:  # dtype not supported by XLA's TopK
        print(f"skip top_k {dt}: {type(e).__name__}: {str(e)[:100]}")
add_top_k("top_k/f32/rank1", floats((9,), "f32"), 3)
add_top_k("top_k/f32/rank3", floats((2, 3, 8), "f32"), 5)
add_top_k("top_k/f32/k0", floats((2, 5), "f32"), 0)
add_top_k("top_k/f32/empty_batch", np.zeros((0, 5), np.float32), 2)
add_top_k("top_k/f32/long", big, 10)
add_top_k("top_k/i32/ties", np.array([[2, 5, 5, 1, 5, 2]], np.int32), 4)

if __name__ == "__main__":
    write("sort", cases)
