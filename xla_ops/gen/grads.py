"""Golden gradients from jax[cpu] for rax's VJP rules (the `grads` family).

Each case is a function of several inputs followed by an output cotangent `ct`; the outputs are
`jax.vjp(f, *xs)[1](ct)` — one cotangent per input (a cotangent has its input's dtype).
Run: python3 xla_ops/gen/grads.py  (writes xla_ops/cases/grads.json)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from jax import lax

from common import arr, case, write

rs = np.random.RandomState(7)
bf16 = ml_dtypes.bfloat16
cases = []


def f32(*shape, lo=-1.0, hi=1.0):
    return rs.uniform(lo, hi, shape).astype(np.float32)


def add(name, f, xs, tol=None, why=None):
    y, pb = jax.vjp(f, *xs)
    ct = rs.uniform(-1, 1, np.shape(y)).astype(y.dtype)
    gs = pb(ct)
    cases.append(case(f"grads/{name}", name, list(xs) + [ct], [np.asarray(g) for g in gs], {}, tol, why))


add("tanh_mul", lambda x, y: jnp.tanh(x) * y, [f32(3, 4), f32(3, 4)])
add("exp_log1p", lambda x: jnp.exp(x) + jnp.log1p(x * x), [f32(5)], {"atol": 1e-7, "rtol": 1e-6},
    "f32 cancellation: g*exp(x) and g*2x/(1+x^2) nearly cancel; XLA CPU's vectorised exp differs by an ulp of the larger term")
add("logistic_rsqrt", lambda x: lax.logistic(x) * lax.rsqrt(x), [f32(5, lo=0.2, hi=2)])
add("erf_erf_inv", lambda x: lax.erf(x) + lax.erf_inv(x * 0.9), [f32(6)])
add("max_ties", lambda x, y: lax.max(x, y), [arr([1, 2, 3, -1], "f32"), arr([1, 5, 0, -1], "f32")])
add("min_ties", lambda x, y: lax.min(x, y), [arr([1, 2, 3, -1], "f32"), arr([1, 5, 0, -1], "f32")])
add("clamp_edges", lambda lo, x, hi: lax.clamp(lo, x, hi),
    [arr([-1, -1, 0, 0, 2], "f32"), arr([-1, -2, 0.5, 1, 3], "f32"), arr([1, 1, 1, 1, 2], "f32")])
add("abs_zero", lambda x: jnp.abs(x), [arr([-2, -0.0, 0.0, 3], "f32")])
add("pow", lambda x, y: lax.pow(x, y), [f32(4, lo=0.5, hi=2), arr([0, 1.5, -1, 2], "f32")])
add("atan2_div", lambda x, y: lax.atan2(x, y) + x / y, [f32(4), f32(4, lo=0.5, hi=2)])
add("select", lambda x, y: lax.select(x > y, x, y * 2), [f32(5), f32(5)])
add("convert_bf16", lambda x: (x.astype(bf16) * x.astype(bf16)).astype(np.float32), [f32(4)])
add("dot_bf16_acc_f32", lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())), preferred_element_type=np.float32),
    [f32(2, 3).astype(bf16), f32(3, 4).astype(bf16)], {"atol": 1e-2, "rtol": 1e-2},
    "bf16 cotangents: XLA rounds the f32 product to bf16 once; summation order can move it by an ulp")
add("dot_batched", lambda a, b: lax.dot_general(a, b, (((3, 2), (0, 1)), ((1,), (2,)))), [f32(4, 2, 3, 5), f32(5, 3, 2, 6)],
    {"atol": 1e-5, "rtol": 1e-5}, "f32 summation order")
add("reduce_max_ties", lambda x: jnp.max(x, axis=1), [arr([[1, 3, 3], [2, 0, 1]], "f32")])
add("reduce_prod", lambda x: jnp.prod(x, axis=0), [f32(3, 2, lo=0.5, hi=1.5)])
add("logsumexp", lambda x: jax.nn.logsumexp(x, axis=1), [f32(3, 5) * 4])
add("softmax", lambda x: jax.nn.softmax(x, axis=1), [f32(3, 5) * 4], {"atol": 1e-6, "rtol": 1e-5},
    "f32: exp and the row sums of the VJP (g - sum(g*s))*s round in a different order than XLA")
add("cumsum", lambda x: lax.cumsum(x, axis=1), [f32(2, 5)])
add("sort", lambda x: lax.sort(x, dimension=1), [f32(3, 5)])
add("top_k", lambda x: lax.top_k(x, 2)[0], [f32(3, 5)])
add("take", lambda x: jnp.take(x, jnp.array([4, 0, 4, 2]), axis=0), [f32(5, 3)])
add("pad_slice", lambda x: lax.pad(x, np.float32(0), [(1, -1, 1), (0, 2, 0)])[::2, 1:], [f32(4, 3)])
add("rfft", lambda x: jnp.fft.rfft(x), [f32(2, 8)], {"atol": 1e-5, "rtol": 1e-5}, "FFT algorithm order (f32)")
add("irfft", lambda z: jnp.fft.irfft(z, 8), [(f32(2, 5) + 1j * f32(2, 5)).astype(np.complex64)],
    {"atol": 1e-5, "rtol": 1e-5}, "FFT algorithm order (f32)")
add("scan_tanh", lambda c, xs: lax.scan(lambda c, x: (jnp.tanh(c * 0.9 + x), c * x), c, xs)[1], [f32(3), f32(4, 3)])
add("tan_cbrt", lambda x, y: lax.tan(x) * lax.cbrt(y), [f32(5), f32(5, lo=0.3, hi=3)])
add("cumprod", lambda x: lax.cumprod(x, axis=1), [arr([[0.5, 2.0, 0.0, 1.5, -1.0], [1.2, -0.7, 0.9, 1.1, 2.0]], "f32")])
add("cumprod_reverse", lambda x: lax.cumprod(x, axis=0, reverse=True), [f32(4, 3, lo=0.5, hi=1.5)])
add("cummax_ties", lambda x: lax.cummax(x, axis=1), [arr([[1, 3, 3, 2, 5, 5, 0], [2, 2, 1, 4, 4, 4, 3]], "f32")])
add("cummax_reverse", lambda x: lax.cummax(x, axis=0, reverse=True), [f32(6, 2)])
add("cummin_ties", lambda x: lax.cummin(x, axis=0), [arr([[3, 1], [1, 1], [2, 0], [1, 0], [0.5, 2]], "f32")])

write("grads", cases)
