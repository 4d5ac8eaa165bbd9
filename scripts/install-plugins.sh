#!/usr/bin/env bash
# Installs the two CPU PJRT plugins rax's tests run on, if they are missing:
#   xla-cpu-pjrt 0.0.1          (PJRT C API 0.81)
#   lammps-jax-pjrt-cpu 0.11.2  (PJRT C API 0.115)
# --no-deps: the plugins are plain shared libraries; without it the second one pulls in jax.
# Prints the Python prefixes to search (for RAX_PJRT_SEARCH) on its last line.
set -euo pipefail
PY=${PYTHON:-python3}
PLUGINS=(xla-cpu-pjrt==0.0.1 lammps-jax-pjrt-cpu==0.11.2)

have_plugins() {
  "$PY" - <<'PYEOF'
import importlib.util, sys
def found(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
sys.exit(0 if found("xla_plugins.xla_cpu_pjrt") and found("lammps_jax_pjrt_cpu") else 1)
PYEOF
}

if ! have_plugins; then
  echo "installing CPU PJRT plugins: ${PLUGINS[*]}" >&2
  "$PY" -m pip install --quiet --no-deps "${PLUGINS[@]}" >&2 \
    || "$PY" -m pip install --quiet --user --no-deps "${PLUGINS[@]}" >&2 \
    || "$PY" -m pip install --quiet --user --break-system-packages --no-deps "${PLUGINS[@]}" >&2
  have_plugins || { echo "the PJRT plugins are still not importable after pip install" >&2; exit 1; }
fi
"$PY" -c 'import sys, site; print(sys.prefix + ":" + site.getuserbase())'
