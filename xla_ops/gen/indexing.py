"""Conformance cases of the indexing family, computed by jax.jit on CPU (XLA):
dynamic_slice / dynamic_update_slice (lax semantics: negative starts wrap, then clamp),
gather (mode="clip": StableHLO clamps starts so slices fit), scatter_add (mode="drop": XLA
skips a whole update window that does not fit), take (x[:, idx]) and index_add
(x.at[:, idx].add(u)). Pure data movement compares bit-exactly; scatter_add sums with the
default per-dtype tolerance.

Run: python3 xla_ops/gen/indexing.py  -> xla_ops/cases/indexing.json
"""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DTYPES, arr, case, write  # noqa: E402

EXACT = {"ulps": 0}
WHY = "data movement copies values: compared bit-exactly (sign of zero included)"
INTS = ("i8", "i32", "i64", "u8", "u32")
rng = np.random.default_rng(1)
SPECIAL = [0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1e-40, 3.0e38, 2.5, 0.1, -7.0]


def data(dtype, shape, small=False):
    n = int(np.prod(shape))
    if dtype == "bool":
        return arr(rng.integers(0, 2, n).astype(bool).reshape(shape))
    dt = np.dtype(DTYPES[dtype])
    if dtype in INTS:
        info = np.iinfo(dt)
        v = rng.integers(max(info.min, -100), min(info.max, 100), n).astype(dt)
        if not small and n >= 2:
            v[0], v[1] = info.max, info.min
        return v.reshape(shape)
    if small:
        # Small integers and halves: sums are exact in every float dtype.
        v = (rng.integers(-8, 8, n) / 2.0)
        if dtype == "c64":
            v = v + 1j * (rng.integers(-8, 8, n) / 2.0)
        v = v.astype(dt)
        if n >= 2:
            v[1] = -0.0
        return v.reshape(shape)
    if dtype == "c64":
        re = np.array([SPECIAL[i % len(SPECIAL)] for i in range(n)], np.float32)
        im = rng.standard_normal(n).astype(np.float32)
        return (re + 1j * im).astype(np.complex64).reshape(shape)
    v = np.array([SPECIAL[i % len(SPECIAL)] for i in range(n)], np.float64)
    v[len(SPECIAL):] = rng.standard_normal(max(0, n - len(SPECIAL))) * 10
    with np.errstate(over="ignore"):
        v = v.astype(np.float32).astype(dt)
    rng.shuffle(v)
    return v.reshape(shape)


def run(f, *xs):
    out = jax.jit(f)(*xs)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def exact(dtype):
    if dtype == "bool" or dtype in INTS:
        return {}
    return {"tol": EXACT, "why": WHY}


def idx(dtype, v, shape=None):
    a = np.asarray(v, dtype=DTYPES[dtype])
    return a if shape is None else a.reshape(shape)


cases = []


def add(name, op, inputs, f, params, tol=None):
    cases.append(case(name, op, inputs, run(f, *inputs), params, **(tol or {})))


def gparams(d, slice_sizes):
    return {"offset_dims": list(d.offset_dims), "collapsed_slice_dims": list(d.collapsed_slice_dims),
            "operand_batching_dims": list(d.operand_batching_dims),
            "start_indices_batching_dims": list(d.start_indices_batching_dims),
            "start_index_map": list(d.start_index_map), "slice_sizes": list(slice_sizes)}


def sparams(d):
    return {"update_window_dims": list(d.update_window_dims),
            "inserted_window_dims": list(d.inserted_window_dims),
            "input_batching_dims": list(d.operand_batching_dims),
            "scatter_indices_batching_dims": list(d.scatter_indices_batching_dims),
            "scatter_dims_to_operand_dims": list(d.scatter_dims_to_operand_dims)}


ALL = list(DTYPES)
NUMERIC = [d for d in ALL if d != "bool"]
IDX = ["i32", "i64", "u32", "i8", "u8"]

# ---- dynamic_slice / dynamic_update_slice ----
STARTS = [(1, 2), (3, 9), (-1, -7), (-100, 100), (0, 0)]
for k, d in enumerate(ALL):
    x = data(d, (4, 6))
    it = IDX[k % len(IDX)]
    for j, (a, b) in enumerate(STARTS):
        if it.startswith("u") and (a < 0 or b < 0):
            continue
        if it in ("i8", "u8"):
            a, b = max(min(a, 100), -100), max(min(b, 100), -100)
        sa, sb = idx(it, a), idx(it, b)
        add(f"dynamic_slice/{d}/{it}/{j}", "dynamic_slice", [x, sa, sb],
            lambda x, a, b: lax.dynamic_slice(x, (a, b), (2, 3)), {"sizes": [2, 3]}, exact(d))
        u = data(d, (3, 2))
        add(f"dynamic_update_slice/{d}/{it}/{j}", "dynamic_update_slice", [x, u, sa, sb],
            lambda x, u, a, b: lax.dynamic_update_slice(x, u, (a, b)), {}, exact(d))
x = data("f32", (4, 6))
add("dynamic_slice/f32/empty_size", "dynamic_slice", [x, idx("i32", 9), idx("i32", 2)],
    lambda x, a, b: lax.dynamic_slice(x, (a, b), (0, 6)), {"sizes": [0, 6]}, exact("f32"))
add("dynamic_slice/f32/scalar_operand", "dynamic_slice", [arr(np.float32(-0.0))],
    lambda x: lax.dynamic_slice(x, (), ()), {"sizes": []}, exact("f32"))
add("dynamic_update_slice/f32/full_update", "dynamic_update_slice",
    [x, data("f32", (4, 6)), idx("i32", 3), idx("i32", -2)],
    lambda x, u, a, b: lax.dynamic_update_slice(x, u, (a, b)), {}, exact("f32"))

# ---- take / index_add (JAX's x[:, idx] and x.at[:, idx].add(u)) ----
for k, d in enumerate(ALL):
    x = data(d, (3, 5))
    it = IDX[k % len(IDX)]
    raw = [4, 0, -1, 7, -6, 2] if not it.startswith("u") else [4, 0, 200 if it == "u8" else 70000, 7, 1, 2]
    i = idx(it, raw, (2, 3))
    for axis in (0, 1):
        add(f"take/{d}/{it}/axis{axis}", "take", [x, i],
            lambda x, i, axis=axis: x[(slice(None),) * axis + (i,)], {"axis": axis}, exact(d))
    if d == "bool":
        continue
    small = data(d, (3, 5), small=True)
    for axis in (0, 1):
        ushape = (2, 3, 5) if axis == 0 else (3, 2, 3)
        u = data(d, ushape, small=True)
        add(f"index_add/{d}/{it}/axis{axis}", "index_add", [small, i, u],
            lambda x, i, u, axis=axis: x.at[(slice(None),) * axis + (i,)].add(u), {"axis": axis})
    # Repeated indices with edge values (inf + -inf = nan, -0.0 + -0.0, overflow wrap).
    if d not in INTS:
        xe = data(d, (4,))
        ue = data(d, (6,))
        add(f"index_add/{d}/specials", "index_add", [xe, idx("i32", [0, 0, 1, 2, 3, 3]), ue],
            lambda x, i, u: x.at[i].add(u), {"axis": 0})
    else:
        info = np.iinfo(DTYPES[d])
        xe = idx(d, [info.max, info.min, 5])
        ue = idx(d, [1, info.max, 3, info.max] if info.min == 0 else [1, -1, 3, info.min])
        add(f"index_add/{d}/wrap", "index_add", [xe, idx("i32", [0, 1, 2, 2]), ue],
            lambda x, i, u: x.at[i].add(u), {"axis": 0})

# Low precision accumulation: each addition rounds to the dtype.
for d in ("bf16", "f16", "f8e4m3fn", "f8e5m2"):
    x = idx(d, [256.0, 1.0])
    u = idx(d, [1.0, 1.0, 1.0, 0.0625, 0.0625, 0.0625])
    add(f"index_add/{d}/rounding_each_add", "index_add", [x, idx("i32", [0, 0, 0, 1, 1, 1]), u],
        lambda x, i, u: x.at[i].add(u), {"axis": 0})

# ---- gather with full dimension numbers ----
gcases = [
    # (name, operand shape, indices, dnums, slice_sizes)
    ("rows", (5, 3), idx("i32", [[4], [0], [9], [-3]]),
     lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,)), (1, 3)),
    ("windows_clamped", (6,), idx("i32", [[5], [3], [-1], [2]]),
     lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(), start_index_map=(0,)), (3,)),
    ("points_2d_reordered", (4, 5), idx("i64", [[1, 3], [4, 0], [-1, 9]]),
     lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(1, 0)), (1, 1)),
    ("patches_offset_first", (4, 5, 2), idx("u32", [[[1, 2]], [[3, 4]]]),
     lax.GatherDimensionNumbers(offset_dims=(0, 1), collapsed_slice_dims=(2,), start_index_map=(0, 2)), (2, 3, 1)),
    ("batching", (2, 4, 5), idx("i32", [[[3], [0], [7]], [[1], [-2], [2]]]),
     lax.GatherDimensionNumbers(offset_dims=(2,), collapsed_slice_dims=(1,), start_index_map=(1,),
                                operand_batching_dims=(0,), start_indices_batching_dims=(0,)), (1, 1, 5)),
    ("batching_second_dim", (3, 2, 4), idx("i32", [[[1], [3]], [[0], [2]], [[3], [3]], [[2], [0]]]),
     lax.GatherDimensionNumbers(offset_dims=(2,), collapsed_slice_dims=(2,), start_index_map=(2,),
                                operand_batching_dims=(1,), start_indices_batching_dims=(1,)), (3, 1, 1)),
    ("empty_indices", (4, 5), np.zeros((0, 1), np.int32),
     lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,)), (1, 5)),
]
for k, d in enumerate(ALL):
    for name, shape, ix, dn, ss in gcases:
        if k % 3 != 0 and name not in ("rows", "batching"):
            continue  # every dtype on the basic cases, a third of them on the rest
        x = data(d, shape)
        p = gparams(dn, ss)
        p["index_vector_dim"] = ix.ndim - 1
        add(f"gather/{d}/{name}", "gather", [x, ix],
            lambda x, i, dn=dn, ss=ss: lax.gather(x, i, dn, ss, mode="clip"), p, exact(d))

# ---- scatter_add with full dimension numbers ----
scases = [
    # (name, operand shape, indices, updates shape, dnums)
    ("rows_repeated", (4, 3), idx("i32", [[1], [3], [1], [9], [-1]]), (5, 3),
     lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))),
    ("windows_skipped", (6,), idx("i32", [[5], [3], [-1], [2], [4]]), (5, 2),
     lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(), scatter_dims_to_operand_dims=(0,))),
    ("points_2d", (3, 4), idx("i64", [[0, 3], [2, 1], [0, 3], [3, 0]]), (4,),
     lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0, 1), scatter_dims_to_operand_dims=(1, 0))),
    ("window_first_dims", (4, 5), idx("u32", [[1], [3], [2]]), (4, 3, 2),
     lax.ScatterDimensionNumbers(update_window_dims=(0, 2), inserted_window_dims=(), scatter_dims_to_operand_dims=(1,))),
    ("batching", (2, 4, 3), idx("i32", [[[3], [0], [3]], [[1], [5], [2]]]), (2, 3, 3),
     lax.ScatterDimensionNumbers(update_window_dims=(2,), inserted_window_dims=(1,), scatter_dims_to_operand_dims=(1,),
                                 operand_batching_dims=(0,), scatter_indices_batching_dims=(0,))),
    ("empty_indices", (4, 3), np.zeros((0, 1), np.int32), (0, 3),
     lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))),
]
for k, d in enumerate(NUMERIC):
    for name, shape, ix, ushape, dn in scases:
        if k % 3 != 0 and name not in ("rows_repeated", "batching", "windows_skipped"):
            continue
        x = data(d, shape, small=True)
        u = data(d, ushape, small=True)
        p = sparams(dn)
        p["index_vector_dim"] = ix.ndim - 1
        add(f"scatter_add/{d}/{name}", "scatter_add", [x, ix, u],
            lambda x, i, u, dn=dn: lax.scatter_add(x, i, u, dn, mode="drop"), p)

write("indexing", cases)
