# Dev tool (never used at rax run time): compiles a StableHLO text file with jax[cpu]
# to check that rax lowering output is accepted by XLA. Usage: python3 xla_ops/gen/check_mlir.py FILE
import sys, jax, numpy as np
from jax._src import xla_bridge
from jax._src.lib import xla_client as xc
text = open(sys.argv[1]).read()
backend = xla_bridge.get_backend("cpu")
opts = xc.CompileOptions()
try:
    exe = backend.compile_and_load(text, xc.DeviceList(tuple(backend.devices()[:1])), opts)
except AttributeError:
    exe = backend.compile(text, opts)
print("compiled OK")
