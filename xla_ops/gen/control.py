"""Conformance cases of the control family (while, cond, switch, scan, optimization_barrier).

Each case fixes a small program (named by `op`, see xla_ops/src/families/control.rs) built
from jax.lax control flow with jax 0.10.2; inputs cover several dtypes and edge values
(inf, nan, -0.0, out-of-range switch indices, reverse and zero-length scans).
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from common import arr, case, write

cases = []
INF, NAN = np.inf, np.nan


def while_count_double(i, x):
    return lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + jnp.int32(1), c[1] * 2), (i, x))


def while_newton(a, x0):
    # Loop-invariant capture `a`; fixed 6 Newton steps for sqrt(a).
    def body(c):
        k, x = c
        return k + jnp.int32(1), (x + a / x) * jnp.asarray(0.5, x.dtype)
    return lax.while_loop(lambda c: c[0] < 6, body, (jnp.int32(0), x0))[1]


def cond_pred(p, x):
    return lax.cond(p, lambda x: x + jnp.asarray(1, x.dtype), lambda x: x * x, x)


def switch3(i, x):
    return lax.switch(i, [lambda x: x + jnp.asarray(1, x.dtype), lambda x: x * 2, lambda x: -x], x)


def scan_cumsum(reverse):
    def f(c, xs):
        return lax.scan(lambda c, x: (c + x, c * x), c, xs, reverse=reverse)
    return f


def scan_ema(c, xs, alpha):
    # `alpha` is a captured const.
    def body(c, x):
        n = alpha * c + x
        return n, n
    return lax.scan(body, c, xs)


def scan_counter(c):
    return lax.scan(lambda c, _: (c + jnp.int32(3), c), c, None, length=4)


def barrier(x, y):
    return lax.optimization_barrier((x, y))


def add(name, op, fn, inputs, params=None, **kw):
    outs = jax.jit(fn)(*inputs)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    flat = jax.tree_util.tree_leaves(outs)
    cases.append(case(name, op, inputs, [np.asarray(o) for o in flat], params, **kw))


for dt in ["f32", "bf16", "f16", "f64"]:
    x = arr([1.0, -0.0, INF, NAN, 3e-3, -1.5], dt)
    add(f"while_count_double/{dt}/edge", "while_count_double", while_count_double, [np.int32(2), x])
    add(f"cond_pred/{dt}/true", "cond_pred", cond_pred, [np.bool_(True), x])
    add(f"cond_pred/{dt}/false", "cond_pred", cond_pred, [np.bool_(False), x])
add("while_count_double/i32/overflow", "while_count_double", while_count_double,
    [np.int32(0), arr([1, -1, 2**30, 7], "i32")])
add("while_count_double/f32/no_iteration", "while_count_double", while_count_double,
    [np.int32(11), arr([1.0, 2.0], "f32")])
for dt in ["f32", "f64"]:
    a = arr([2.0, 9.0, 0.25, 1e6], dt)
    add(f"while_newton/{dt}/capture", "while_newton", while_newton, [a, arr([1.0, 1.0, 1.0, 1.0], dt)])
for i in [-3, 0, 1, 2, 7]:
    add(f"switch3/f32/index{i}", "switch3", switch3, [np.int32(i), arr([0.5, -2.0, INF], "f32")])
add("switch3/i32/index1", "switch3", switch3, [np.int32(1), arr([5, -7, 2**31 - 1], "i32")])
for dt in ["f32", "bf16", "i32"]:
    xs = arr(np.arange(12).reshape(4, 3) - 5, dt)
    c = arr([1, 2, 3], dt)
    for rev in [False, True]:
        tag = "reverse" if rev else "forward"
        add(f"scan_cumsum/{dt}/{tag}", "scan_cumsum", scan_cumsum(rev), [c, xs], {"reverse": rev})
add("scan_cumsum/f32/edge", "scan_cumsum", scan_cumsum(False),
    [arr([0.0, 1.0], "f32"), arr([[INF, -0.0], [NAN, 1e-30], [-INF, 3.0]], "f32")], {"reverse": False})
add("scan_cumsum/f32/empty", "scan_cumsum", scan_cumsum(False),
    [arr([1.0, 2.0], "f32"), np.zeros((0, 2), np.float32)], {"reverse": False})
for dt in ["f32", "f64"]:
    add(f"scan_ema/{dt}/const", "scan_ema", scan_ema,
        [arr([0.0, 1.0], dt), arr(np.linspace(-1, 1, 10).reshape(5, 2), dt), arr(0.5, dt)])
add("scan_counter/i32/length_only", "scan_counter", scan_counter, [np.int32(-2)])
add("optimization_barrier/mixed/pair", "optimization_barrier", barrier,
    [arr([1.0, NAN, -0.0], "f32"), arr([[1, 2]], "i32")])

write("control", cases)
