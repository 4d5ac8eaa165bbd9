"""Conformance cases of the prng family: jax.random 0.10.2 with its defaults (threefry2x32,
jax_threefry_partitionable=True, raw u32[2] keys from jax.random.PRNGKey).

Each case takes the raw key data as its input (so rax traces the sampler on a traced key);
`key/*` cases check seeding with no input. Bits, split, fold_in, uniform, bernoulli and
randint are compared exactly; samplers through erf_inv/erf (normal, truncated_normal) allow a
few ulps: XLA evaluates erf_inv/erf with its own polynomial approximations while rax's kernel
is accurate to ~1 ulp of f32, and the result is scaled by sqrt(2) (one more rounding).

common.py enables x64, so dtypes are always explicit here (bernoulli's p is an np.float32,
as a Python float is in JAX's default mode).
"""
import jax
import jax.numpy as jnp
import numpy as np

from common import DTYPES, case, write

cases = []
R = jax.random


def kd(seed):
    return np.asarray(R.PRNGKey(seed))


NMANT = {"f32": 23, "f64": 52, "bf16": 7, "f16": 10, "f8e4m3fn": 3, "f8e5m2": 2}
# XLA's erf_inv is a polynomial: measured up to ~5.6 ulps (f32) and ~20 ulps (f64) from the
# true value (scipy), while rax's kernel is accurate to ~1 ulp; sqrt(2) * . adds a rounding.
ERF_ULPS = {"f32": 8, "f64": 24, "bf16": 1, "f16": 2}
FMA_WHY = ("XLA CPU contracts floats * (hi - lo) + lo into one FMA (one rounding; checked against "
           "numpy: all 20 f32/f64 samples equal the fused result), the interpreter rounds the "
           "product first: they differ by at most one rounding of the product, ~1 ulp of the range")
ERF_WHY = ("erf_inv/erf: XLA's polynomial approximations are off by up to ~5.6 ulps (f32) and "
           "~20 ulps (f64) from the true value while rax's kernel is accurate to ~1 ulp, plus the "
           "FMA contraction of the uniform draw (abs. error ~1 ulp of 1, amplified near 0)")


def erf_tol(dt):
    return {"ulps": ERF_ULPS[dt], "atol": 2.0 ** -NMANT[dt] * 2}

for seed in [0, 42, 2**31 - 1, 2**32 + 5, 2**63 - 1]:
    cases.append(case(f"key/u32/seed{seed}", "key", [], [kd(seed)], {"seed": seed}))

keys = {"k42": kd(42), "k0": kd(0), "kbig": kd(2**32 + 5)}
for kn, k in keys.items():
    for n in [1, 2, 3, 5]:
        cases.append(case(f"split/u32/{kn}_n{n}", "split", [k], [np.asarray(R.split(k, n))], {"n": n}))
    for d in [0, 1, 7, 2**32 - 1]:
        cases.append(case(f"fold_in/u32/{kn}_{d}", "fold_in", [k], [np.asarray(R.fold_in(k, d))], {"data": d}))
    for shape in [(), (1,), (5,), (2, 3), (0, 4), (3, 1, 2)]:
        tag = "x".join(map(str, shape)) or "scalar"
        cases.append(case(f"bits/u32/{kn}_{tag}", "bits", [k], [np.asarray(R.bits(k, shape, jnp.uint32))],
                          {"shape": list(shape)}))

k = keys["k42"]
for dt in ["f32", "bf16", "f16", "f64", "f8e4m3fn", "f8e5m2"]:
    for (lo, hi) in [(0.0, 1.0), (-2.0, 3.0)]:
        u = R.uniform(k, (4, 5), DTYPES[dt], lo, hi)
        if (lo, hi) == (0.0, 1.0):  # floats * 1 + 0: exact, bit for bit
            tol, why = {"ulps": 0}, "uniform in [0, 1) is exact: mantissa bits minus 1"
        else:
            tol, why = {"ulps": 0, "atol": 2.0 ** -NMANT[dt] * max(abs(lo), abs(hi))}, FMA_WHY
        cases.append(case(f"uniform/{dt}/{lo}_{hi}", "uniform", [k], [np.asarray(u)],
                          {"shape": [4, 5], "dtype": dt, "lo": lo, "hi": hi}, tol=tol, why=why))
for dt in ["f32", "bf16", "f16", "f64"]:
    n = R.normal(k, (64,), DTYPES[dt])
    cases.append(case(f"normal/{dt}/64", "normal", [k], [np.asarray(n)], {"shape": [64], "dtype": dt},
                      tol=erf_tol(dt), why=ERF_WHY))
    for (lo, hi) in [(-2.0, 2.0), (0.5, 3.0), (-np.inf, 0.0)]:
        t = R.truncated_normal(k, lo, hi, (32,), DTYPES[dt])
        cases.append(case(f"truncated_normal/{dt}/{lo}_{hi}", "truncated_normal", [k], [np.asarray(t)],
                          {"shape": [32], "dtype": dt, "lower": None if np.isinf(lo) else lo, "upper": hi},
                          tol=erf_tol(dt), why=ERF_WHY))
for p in [0.0, 0.3, 0.5, 1.0]:
    b = R.bernoulli(k, np.float32(p), (3, 7))
    cases.append(case(f"bernoulli/bool/p{p}", "bernoulli", [k], [np.asarray(b)], {"shape": [3, 7], "p": p}))
for dt, lo, hi in [("i32", 0, 10), ("i32", -5, 5), ("i32", -2**31, 2**31 - 1), ("i32", 3, 3),
                   ("i32", 7, 2), ("i32", -2**31, 2**31), ("i32", 0, 2**40), ("u32", 0, 2**32),
                   ("u32", 10, 1000), ("u32", -5, 3), ("u8", 0, 256), ("u8", 10, 20), ("i8", -128, 128),
                   ("i8", -3, 4)]:
    r = R.randint(k, (4, 6), lo, hi, DTYPES[dt])
    cases.append(case(f"randint/{dt}/{lo}_{hi}", "randint", [k], [np.asarray(r)],
                      {"shape": [4, 6], "dtype": dt, "lo": lo, "hi": hi}))

write("prng", cases)
