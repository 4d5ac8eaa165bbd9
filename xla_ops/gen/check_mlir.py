# Dev tool (never used at rax run time): compiles StableHLO text files with jax[cpu]'s XLA to
# check that rax's lowering output is accepted. Accepts .mlir files and insta .snap files
# (the YAML header is stripped). Usage: python3 xla_ops/gen/check_mlir.py FILE...
import sys

from jax._src import xla_bridge
from jax._src.lib import xla_client as xc

backend = xla_bridge.get_backend("cpu")
bad = 0
for path in sys.argv[1:]:
    text = open(path).read()
    if path.endswith(".snap"):
        text = text.split("---", 2)[-1]
    try:
        opts = xc.CompileOptions()
        devs = xc.DeviceList(tuple(backend.devices()[:1]))
        backend.compile_and_load(text, devs, opts)
        print(f"ok   {path}")
    except Exception as e:  # noqa: BLE001 - report every failure, keep going
        bad += 1
        print(f"FAIL {path}: {str(e).splitlines()[0][:300]}")
print(f"{len(sys.argv) - 1 - bad} compiled, {bad} failed")
sys.exit(1 if bad else 0)
