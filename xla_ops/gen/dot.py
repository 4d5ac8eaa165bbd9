"""Conformance cases of the `dot` family (dot_general, matmul, einsum) from jax[cpu].

Run: python3 xla_ops/gen/dot.py  (writes xla_ops/cases/dot.json)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from jax import lax

from common import DTYPES, arr, case, write

rs = np.random.RandomState(0)
cases = []


def ints(shape, lo=-4, hi=5):
    """Small integers: every product and partial sum is exact in f32, so any summation
    order gives the same result."""
    return rs.randint(lo, hi, size=shape).astype(np.float64)


def dg(name, a, b, dims, out=None, tol=None, why=None):
    (lc, rc), (lb, rb) = dims
    f = jax.jit(lambda x, y: lax.dot_general(x, y, dims, preferred_element_type=out and DTYPES[out]))
    y = np.asarray(f(a, b))
    params = {"lhs_batch": list(lb), "rhs_batch": list(rb), "lhs_contract": list(lc),
              "rhs_contract": list(rc), "out": out or dtype_name(a)}
    cases.append(case(f"dot_general/{name}", "dot_general", [a, b], [y], params, tol, why))


def dtype_name(a):
    from common import NAMES
    return NAMES[np.asarray(a).dtype]


# Plain matmul / transposed operands / batch dims in several places, exact f32 data.
for dt in ["f32", "f64", "bf16", "f16"]:
    dg(f"{dt}/mk_kn", arr(ints((3, 4)), dt), arr(ints((4, 5)), dt), (([1], [0]), ([], [])))
    dg(f"{dt}/km_nk", arr(ints((4, 3)), dt), arr(ints((5, 4)), dt), (([0], [1]), ([], [])))
    dg(f"{dt}/batched", arr(ints((2, 3, 4)), dt), arr(ints((2, 4, 5)), dt), (([2], [1]), ([0], [0])))
dg("f32/batch_middle", arr(ints((3, 2, 4)), "f32"), arr(ints((4, 5, 2)), "f32"), (([2], [0]), ([1], [2])))
dg("f32/two_contract", arr(ints((2, 3, 4)), "f32"), arr(ints((4, 3, 5)), "f32"), (([1, 2], [1, 0]), ([], [])))
dg("f32/two_batch", arr(ints((2, 3, 4, 5)), "f32"), arr(ints((3, 2, 5, 2)), "f32"), (([3], [2]), ([0, 1], [1, 0])))
dg("f32/outer", arr(ints((3,)), "f32"), arr(ints((4,)), "f32"), (([], []), ([], [])))
dg("f32/vec_dot", arr(ints((7,)), "f32"), arr(ints((7,)), "f32"), (([0], [0]), ([], [])))
dg("f32/scalar_operand", arr(2.5, "f32"), arr(ints((2, 3)), "f32"), (([], []), ([], [])))
dg("f32/empty_contract", np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32), (([1], [0]), ([], [])))
dg("f32/empty_free", np.zeros((0, 4), np.float32), arr(ints((4, 3)), "f32"), (([1], [0]), ([], [])))
sp = np.array([[np.inf, 1.0, 0.0], [np.nan, 2.0, -0.0], [1e38, 1e38, 0.0]], np.float32)
dg("f32/special", sp, np.array([[0.0, 1.0], [1.0, 1.0], [2.0, -1.0]], np.float32), (([1], [0]), ([], [])))
# No denormal case: XLA's CPU runtime flushes denormals to zero (FTZ/DAZ) while the rax
# interpreter keeps IEEE denormals (a known, documented disagreement).
dg("f32/random", rs.randn(8, 16).astype(np.float32), rs.randn(16, 8).astype(np.float32),
   (([1], [0]), ([], [])), tol={"atol": 2e-6, "rtol": 2e-6},
   why="f32 summation order of the GEMM (matrixmultiply vs Eigen) differs; K=16 N(0,1) terms")
# Accumulation dtypes (preferred_element_type).
dg("bf16_to_f32/random", rs.randn(4, 32).astype(ml_dtypes.bfloat16), rs.randn(32, 3).astype(ml_dtypes.bfloat16),
   (([1], [0]), ([], [])), out="f32", tol={"atol": 1e-6, "rtol": 1e-6},
   why="bf16 products are exact in f32; only the f32 summation order differs (K=32)")
dg("bf16/random", rs.randn(4, 32).astype(ml_dtypes.bfloat16), rs.randn(32, 3).astype(ml_dtypes.bfloat16),
   (([1], [0]), ([], [])))
dg("bf16/rounding_once", np.array([[256, 1, 1]], ml_dtypes.bfloat16), np.array([[1], [1], [1]], ml_dtypes.bfloat16),
   (([1], [0]), ([], [])))
dg("f16_to_f32/overflow_f16", np.array([[60000, 60000]], np.float16), np.array([[1], [1]], np.float16),
   (([1], [0]), ([], [])), out="f32")
dg("f16/overflow", np.array([[60000, 60000]], np.float16), np.array([[1], [1]], np.float16), (([1], [0]), ([], [])))
dg("f32_to_f64", arr(ints((3, 4)), "f32"), arr(ints((4, 2)), "f32"), (([1], [0]), ([], [])), out="f64")
dg("f64/random", rs.randn(5, 6), rs.randn(6, 4), (([1], [0]), ([], [])), tol={"atol": 1e-15, "rtol": 1e-15},
   why="f64 summation order of the GEMM differs from Eigen's; K=6 N(0,1) terms with cancellation")
dg("f8e4m3fn_to_f32", arr(ints((3, 4)), "f8e4m3fn"), arr(ints((4, 2)), "f8e4m3fn"), (([1], [0]), ([], [])), out="f32")
# Integers wrap.
dg("i32/wrap", np.array([[2**31 - 1, 3, -7]], np.int32), np.array([[2**31 - 1], [5], [9]], np.int32), (([1], [0]), ([], [])))
dg("i8_to_i32", np.array([[100, 100, -128]], np.int8), np.array([[100], [2], [-128]], np.int8), (([1], [0]), ([], [])), out="i32")
dg("i8/wrap", np.array([[100, 100]], np.int8), np.array([[2], [1]], np.int8), (([1], [0]), ([], [])))
dg("u8/wrap", np.array([[200, 100]], np.uint8), np.array([[2], [1]], np.uint8), (([1], [0]), ([], [])))
dg("u32/batched", rs.randint(0, 2**32 - 1, size=(2, 2, 3), dtype=np.uint64).astype(np.uint32),
   rs.randint(0, 2**32 - 1, size=(2, 3, 2), dtype=np.uint64).astype(np.uint32), (([2], [1]), ([0], [0])))
dg("i64/batched", rs.randint(-2**62, 2**62, size=(2, 2, 3), dtype=np.int64),
   rs.randint(-2**62, 2**62, size=(2, 3, 2), dtype=np.int64), (([2], [1]), ([0], [0])))
# Complex.
za = (ints((2, 3)) + 1j * ints((2, 3))).astype(np.complex64)
zb = (ints((3, 2)) + 1j * ints((3, 2))).astype(np.complex64)
dg("c64/mk_kn", za, zb, (([1], [0]), ([], [])))

# matmul (numpy semantics) and einsum, through jnp.
def mm(name, a, b, acc=None):
    y = np.asarray(jax.jit(lambda x, z: jnp.matmul(x, z, preferred_element_type=acc and DTYPES[acc]))(a, b))
    params = {"acc": acc} if acc else {}
    cases.append(case(f"matmul/{name}", "matmul", [a, b], [y], params))

mm("f32/broadcast_batch", arr(ints((2, 1, 3, 4)), "f32"), arr(ints((3, 4, 5)), "f32"))
mm("f32/rank3_by_rank2", arr(ints((2, 3, 4)), "f32"), arr(ints((4, 5)), "f32"))
mm("f32/vec_by_batched", arr(ints((4,)), "f32"), arr(ints((2, 4, 5)), "f32"))
mm("f32/batched_by_vec", arr(ints((2, 3, 4)), "f32"), arr(ints((4,)), "f32"))
mm("bf16_acc_f32", arr(ints((3, 4)), "bf16"), arr(ints((4, 5)), "bf16"), acc="f32")

def es(name, spec, a, b):
    y = np.asarray(jax.jit(lambda x, z: jnp.einsum(spec, x, z))(a, b))
    cases.append(case(f"einsum/{name}", "einsum", [a, b], [y], {"spec": spec}))

es("bij_bjk", "bij,bjk->bik", arr(ints((2, 3, 4)), "f32"), arr(ints((2, 4, 5)), "f32"))
es("ij_jk", "ij,jk->ik", arr(ints((3, 4)), "f32"), arr(ints((4, 5)), "f32"))
es("attention", "bhqd,bhkd->bhqk", arr(ints((2, 2, 3, 4)), "f32"), arr(ints((2, 2, 5, 4)), "f32"))
es("moe_dispatch", "gsm,gsec->egcm", arr(ints((2, 3, 4)), "f32"), arr(ints((2, 3, 5, 2)), "f32"))
es("transpose_out", "ij,jk->ki", arr(ints((3, 4)), "f32"), arr(ints((4, 5)), "f32"))
es("sum_only_lhs", "ij,jk->k", arr(ints((3, 4)), "f32"), arr(ints((4, 5)), "f32"))

# The left operand contracts a major dimension in a batched dot (attention's p^T.g form, the
# grouped expert GEMMs' weight gradients): rax's lowering moves the contracting dims last.
# (Appended last so that the random draws of the cases above stay as they were.)
dg("f32/batched_contract_major", arr(ints((2, 4, 3)), "f32"), arr(ints((2, 4, 5)), "f32"), (([1], [1]), ([0], [0])))
dg("bf16/batched_contract_major", arr(ints((2, 4, 3)), "bf16"), arr(ints((2, 4, 5)), "bf16"), (([1], [1]), ([0], [0])))
dg("f32/batch_last_contract_first", arr(ints((4, 3, 2)), "f32"), arr(ints((2, 4, 5)), "f32"), (([0], [1]), ([2], [0])))
dg("f32/batched_two_contract_major", arr(ints((2, 3, 4, 5)), "f32"), arr(ints((2, 4, 3, 6)), "f32"), (([1, 2], [2, 1]), ([0], [0])))

write("dot", cases)
