"""Regenerates every cases/<family>.json by running each gen/<family>.py (dev-time only)."""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
for f in sorted(os.listdir(HERE)):
    if f.endswith(".py") and f not in ("common.py", "run_all.py", "check_mlir.py"):
        runpy.run_path(os.path.join(HERE, f), run_name="__main__")
