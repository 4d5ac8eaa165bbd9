"""Conformance cases of the `fft` primitive (FFT, IFFT, RFFT, IRFFT over 1 to 3 trailing dims)
from `jax.lax.fft` in jax 0.10.2.

Tolerance: XLA transforms in f32 (DUCC on CPU), whose rounding error per output element is
bounded by about eps * log2(N) * max|y| (N = prod(lengths), max|y| the largest output magnitude
of the case: each butterfly stage adds ~eps relative to the data it combines). rax's kernel
computes in f64 and rounds once, so the comparison allows atol = eps_f32 * (log2(N) + 1) *
max|y|. The generator checks that JAX itself stays within that bound of an f64 numpy reference,
so the bound is a property of the algorithm, not a fudge.
"""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax
import jax.numpy as jnp
import numpy as np
from common import case, write

rng = np.random.default_rng(1)
EPS = float(np.finfo(np.float32).eps)
cases = []


def c64(shape, scale=1.0):
    out = np.empty(shape, np.complex64)
    out.real = (rng.standard_normal(shape) * scale).astype(np.float32)
    out.imag = (rng.standard_normal(shape) * scale).astype(np.float32)
    return out


def f32(shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def reference(x, kind, lengths):
    """f64 numpy reference of the transform."""
    axes = tuple(range(x.ndim - len(lengths), x.ndim))
    xd = x.astype(np.complex128) if np.iscomplexobj(x) else x.astype(np.float64)
    if kind == "FFT":
        return np.fft.fftn(xd, axes=axes)
    if kind == "IFFT":
        return np.fft.ifftn(xd, axes=axes)
    if kind == "RFFT":
        return np.fft.rfftn(xd, axes=axes)
    return np.fft.irfftn(xd, s=lengths, axes=axes)


def add(name, x, kind, lengths):
    y = np.asarray(jax.lax.fft(jnp.asarray(x), kind, tuple(lengths)))
    n = int(np.prod(lengths))
    ref = reference(x, kind, lengths)
    big = float(np.max(np.abs(ref))) if ref.size else 0.0
    atol = EPS * (np.log2(n) + 1) * big
    err = float(np.max(np.abs(y - ref))) if ref.size else 0.0
    assert err <= atol or atol == 0, f"{name}: jax error {err} exceeds the bound {atol}"
    tol = why = None
    if atol > 0:
        tol = {"atol": atol, "ulps": 4}
        why = (f"f32 FFT of length {n}: rounding error per output ~ eps*log2(N)*max|y|; "
               f"atol = eps*(log2 {n} + 1)*max|y| (jax's own error vs f64: {err:.3g})")
    cases.append(case(name, "fft", [x], [y], params={"kind": kind, "lengths": list(lengths)},
                      tol=tol, why=why))


# complex FFT / IFFT
for kind in ("FFT", "IFFT"):
    k = kind.lower()
    for n in (1, 2, 5, 7, 8, 12, 64, 100, 256):
        add(f"{k}/c64/n{n}", c64((3, n)), kind, [n])
    add(f"{k}/c64/rank1_n16", c64((16,)), kind, [16])
    add(f"{k}/c64/2d_4x6", c64((2, 4, 6)), kind, [4, 6])
    add(f"{k}/c64/3d_2x3x4", c64((2, 3, 4)), kind, [2, 3, 4])
    add(f"{k}/c64/3d_of_rank4", c64((2, 4, 2, 8)), kind, [4, 2, 8])
    add(f"{k}/c64/1d_of_rank3", c64((2, 3, 10)), kind, [10])
    add(f"{k}/c64/empty_batch", np.zeros((0, 8), np.complex64), kind, [8])
    add(f"{k}/c64/large_scale", c64((2, 32), 1e30), kind, [32])
    add(f"{k}/c64/impulse", np.eye(1, 8, 3, dtype=np.complex64), kind, [8])

# real FFT
for n in (1, 2, 3, 8, 9, 16, 31, 128, 1000):
    add(f"rfft/f32/n{n}", f32((2, n)), "RFFT", [n])
add("rfft/f32/2d_4x8", f32((3, 4, 8)), "RFFT", [4, 8])
add("rfft/f32/2d_5x7", f32((5, 7)), "RFFT", [5, 7])
add("rfft/f32/3d_2x4x6", f32((2, 4, 6)), "RFFT", [2, 4, 6])
add("rfft/f32/empty_batch", np.zeros((0, 6), np.float32), "RFFT", [6])
add("rfft/f32/constant", np.ones((1, 16), np.float32), "RFFT", [16])

# inverse real FFT: input last dim n/2+1; nonzero imaginary DC/Nyquist parts must be ignored
for n in (1, 2, 3, 8, 9, 16, 31, 128, 1000):
    add(f"irfft/c64/n{n}", c64((2, n // 2 + 1)), "IRFFT", [n])
add("irfft/c64/2d_4x8", c64((3, 4, 5)), "IRFFT", [4, 8])
add("irfft/c64/2d_5x7", c64((5, 4)), "IRFFT", [5, 7])
add("irfft/c64/3d_2x4x6", c64((2, 4, 4)), "IRFFT", [2, 4, 6])
add("irfft/c64/empty_batch", np.zeros((0, 5), np.complex64), "IRFFT", [8])
# the round trip used by causal convolution: irfft(rfft(x) * rfft(k), n)
x = f32((2, 16))
k = f32((1, 16))
prod = np.asarray(jnp.fft.rfft(x) * jnp.fft.rfft(k)).astype(np.complex64)
add("irfft/c64/conv_spectrum_n16", prod, "IRFFT", [16])

if __name__ == "__main__":
    write("fft", cases)
