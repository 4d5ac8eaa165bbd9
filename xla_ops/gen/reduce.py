"""Conformance cases of the `reduce` family (reduce, argmax/argmin, cumulative, and the
mean/var/logsumexp/softmax/log_softmax/one_hot helpers) from jax[cpu].

The primitives follow `lax` (a bf16 reduce_sum accumulates in bf16, rounding every step, in
XLA CPU's tree order), so bf16 cases use `lax.reduce_sum_p` / `lax.cumsum`, not `jnp.sum`
(which upcasts). Run: python3 xla_ops/gen/reduce.py  (writes xla_ops/cases/reduce.json)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from jax import lax

from common import DTYPES, NAMES, arr, case, write

rs = np.random.RandomState(1)
cases = []
bf16 = ml_dtypes.bfloat16

PRIMS = {"sum": lax.reduce_sum_p, "prod": lax.reduce_prod_p, "max": lax.reduce_max_p,
         "min": lax.reduce_min_p, "and": lax.reduce_and_p, "or": lax.reduce_or_p}


def bind(kind, x, axes):
    p = PRIMS[kind]
    try:
        return p.bind(x, axes=tuple(axes), out_sharding=None)
    except TypeError:
        return p.bind(x, axes=tuple(axes))


def red(name, kind, x, axes, tol=None, why=None):
    y = np.asarray(jax.jit(lambda a: bind(kind, a, axes))(x))
    cases.append(case(f"reduce/{kind}/{name}", "reduce", [x], [y], {"kind": kind, "axes": list(axes)}, tol, why))


# --- reduce ---------------------------------------------------------------------------------
for dt in ["f32", "f64", "bf16", "f16"]:
    x = arr(rs.randn(2, 40, 3) * 4, dt)
    for axes in [(1,), (0, 2), (0, 1, 2)]:
        tol = why = None
        if dt == "f16" and axes == (0, 2):
            tol = {"atol": 0.06}
            why = ("f16 rounds every step; XLA CPU vectorizes a reduced minor dim with partial "
                   "accumulators while rax folds row-major, so ~6 steps of partial sums <= 32 "
                   "round differently (f16 ulp at 16..32 is 2^-6)")
        red(f"{dt}/randn/axes{''.join(map(str, axes))}", "sum", x, axes, tol, why)
    red(f"{dt}/randn/max", "max", x, (1,))
    red(f"{dt}/randn/min", "min", x, (0, 2))
    red(f"{dt}/prod", "prod", arr(rs.uniform(0.5, 1.5, (4, 37)), dt), (1,))
# Long bf16 lines exercise the tree rewrite (windows of 32, recursively).
red("bf16/long_1000", "sum", arr(rs.randn(1000) * 10, "bf16"), (0,))
x = np.ones(300, bf16); x[0] = 256
red("bf16/stall_256", "sum", x, (0,))
red("bf16/two_dims_over_32", "sum", arr(rs.randn(40, 35), "bf16"), (0, 1))
red("bf16/mixed_dims", "sum", arr(rs.randn(70, 3, 33), "bf16"), (0, 2))
red("f16/long_2000", "sum", arr(rs.randn(2000), "f16"), (0,))
red("f32/long_1500", "sum", arr(rs.randn(1500), "f32"), (0,))
sp = np.array([[np.inf, 1.0, -np.inf], [np.nan, 2.0, 0.0], [-0.0, -0.0, -0.0], [3e38, 3e38, 1.0]], np.float32)
for kind in ["sum", "max", "min", "prod"]:
    red(f"f32/special", kind, sp, (1,))
red("f32/empty_axis", "sum", np.zeros((0, 3), np.float32), (0,))
red("f32/empty_axis", "max", np.zeros((0, 3), np.float32), (0,))
red("f32/empty_axis", "min", np.zeros((0, 3), np.float32), (0,))
red("f32/empty_kept", "sum", np.zeros((3, 0), np.float32), (0,))
red("f32/no_axes", "sum", arr(rs.randn(2, 3), "f32"), ())
red("f8e4m3fn/max_empty", "max", np.zeros((0,), ml_dtypes.float8_e4m3fn), (0,))
red("f8e5m2/sum", "sum", arr([1, 2, 0.5, 0.25], "f8e5m2"), (0,))
for dt in ["i32", "i8", "u8", "u32", "i64"]:
    info = np.iinfo(DTYPES[dt])
    v = np.array([[info.max, 1, 2], [info.min, info.min, 5]], DTYPES[dt])
    for kind in ["sum", "prod", "max", "min", "and", "or"]:
        red(f"{dt}/extremes", kind, v, (1,))
    red(f"{dt}/empty", "max", np.zeros((0,), DTYPES[dt]), (0,))
    red(f"{dt}/empty", "min", np.zeros((0,), DTYPES[dt]), (0,))
    red(f"{dt}/empty", "and", np.zeros((0,), DTYPES[dt]), (0,))
b = rs.rand(3, 4) > 0.5
b[0] = True
b[1] = False
for kind in ["and", "or", "max", "min"]:
    red("bool/rows", kind, b, (1,))
    red("bool/empty", kind, np.zeros((0,), np.bool_), (0,))
z = (rs.randn(3, 5) + 1j * rs.randn(3, 5)).astype(np.complex64)
red("c64/randn", "sum", z, (1,))
red("c64/randn", "prod", z, (1,))

# --- argmax / argmin ------------------------------------------------------------------------
def argr(name, is_max, x, axis, index_dtype="i32"):
    f = lax.argmax if is_max else lax.argmin
    y = np.asarray(jax.jit(lambda a: f(a, axis, DTYPES[index_dtype]))(x))
    op = "argmax" if is_max else "argmin"
    cases.append(case(f"{op}/{name}", op, [x], [y], {"axis": axis, "index_dtype": index_dtype}))

for is_max in [True, False]:
    for dt in ["f32", "bf16", "f64", "f16"]:
        argr(f"{dt}/randn", is_max, arr(rs.randn(4, 6, 3), dt), 1)
    argr("f32/nan_first", is_max, np.array([[1, np.nan, 5, np.nan], [np.nan, 0, 0, 0], [3, 3, 1, 3]], np.float32), 1)
    argr("f32/ties_and_zero_signs", is_max, np.array([[0.0, -0.0, 0.0], [-0.0, 0.0, -0.0], [np.inf, np.inf, 1]], np.float32), 1)
    argr("f32/all_neg_inf", is_max, np.full((2, 3), -np.inf, np.float32), 0)
    argr("f32/i64_index", is_max, arr(rs.randn(5, 2), "f32"), 0, "i64")
    for dt in ["i32", "u32", "i8", "u8", "i64"]:
        info = np.iinfo(DTYPES[dt])
        argr(f"{dt}/extremes", is_max, np.array([[5, info.max, info.min, info.max], [info.min, info.min, 1, 0]], DTYPES[dt]), 1)
    argr("bool/rows", is_max, np.array([[False, True, True], [False, False, False], [True, False, True]]), 1)

# --- cumulative -----------------------------------------------------------------------------
CUM = {"sum": lax.cumsum, "prod": lax.cumprod, "max": lax.cummax, "min": lax.cummin}

def cum(name, kind, x, axis, reverse):
    y = np.asarray(jax.jit(lambda a: CUM[kind](a, axis=axis, reverse=reverse))(x))
    r = "rev" if reverse else "fwd"
    cases.append(case(f"cumulative/{kind}/{name}/{r}", "cumulative", [x], [y],
                      {"kind": kind, "axis": axis, "reverse": reverse}))

for reverse in [False, True]:
    for dt in ["f32", "bf16", "f16", "f64"]:
        cum(f"{dt}/randn", "sum", arr(rs.randn(3, 20) * 4, dt), 1, reverse)
        cum(f"{dt}/randn_axis0", "sum", arr(rs.randn(7, 3) * 4, dt), 0, reverse)
        cum(f"{dt}/max", "max", arr(rs.randn(2, 19), dt), 1, reverse)
        cum(f"{dt}/min", "min", arr(rs.randn(2, 19), dt), 1, reverse)
        cum(f"{dt}/prod", "prod", arr(rs.uniform(0.8, 1.25, (2, 40)), dt), 1, reverse)
    cum("bf16/long_300", "sum", arr(rs.randn(300) * 10, "bf16"), 0, reverse)
    cum("bf16/long_1000", "sum", arr(rs.randn(1, 1000) * 10, "bf16"), 1, reverse)
    cum("f16/long_500", "sum", arr(rs.randn(500), "f16"), 0, reverse)
    cum("f32/long_700", "sum", arr(rs.randn(700), "f32"), 0, reverse)
    cum("f32/special", "sum", np.array([1, np.inf, -np.inf, 2, np.nan, 3], np.float32), 0, reverse)
    cum("f32/special", "max", np.array([1, np.nan, 5, -np.inf, 2], np.float32), 0, reverse)
    cum("i32/wrap", "sum", np.array([2**31 - 1, 1, 5, -7], np.int32), 0, reverse)
    cum("i32/wrap", "prod", np.array([65536, 65536, 3], np.int32), 0, reverse)
    cum("u8/max", "max", np.array([3, 200, 7, 255], np.uint8), 0, reverse)
    cum("i64/min", "min", np.array([3, -200, 7, 2**62], np.int64), 0, reverse)
    cum("c64/sum", "sum", (rs.randn(5) + 1j * rs.randn(5)).astype(np.complex64), 0, reverse)
    cum("f32/empty", "sum", np.zeros((0, 2), np.float32), 0, reverse)

# --- helpers (jnp / jax.nn references) ------------------------------------------------------
def helper(name, op, x, params, f, tol=None, why=None):
    y = np.asarray(jax.jit(f)(x))
    cases.append(case(f"{op}/{name}", op, [x], [y], params, tol, why))

x = arr(rs.randn(3, 50) * 3, "f32")
helper("f32", "mean", x, {"axes": [1]}, lambda a: jnp.mean(a, axis=1))
helper("bf16_widened", "mean", arr(rs.randn(3, 300) + 2, "bf16"), {"axes": [1]}, lambda a: jnp.mean(a, axis=1))
helper("f32", "var", x, {"axes": [1]}, lambda a: jnp.var(a, axis=1))
helper("f32", "logsumexp", x, {"axes": [1]}, lambda a: jax.nn.logsumexp(a, axis=1))
helper("f32/inf_rows", "logsumexp", np.array([[-np.inf, -np.inf], [np.inf, 1.0], [1000.0, 1000.0]], np.float32),
       {"axes": [1]}, lambda a: jax.nn.logsumexp(a, axis=1))
helper("f32", "softmax", x, {"axis": 1}, lambda a: jax.nn.softmax(a, axis=1))
helper("f32", "log_softmax", x, {"axis": 1}, lambda a: jax.nn.log_softmax(a, axis=1))
helper("i32", "one_hot", np.array([[0, 3], [-1, 4]], np.int32), {"n": 4, "dtype": "f32"},
       lambda a: jax.nn.one_hot(a, 4, dtype=jnp.float32))

write("reduce", cases)
