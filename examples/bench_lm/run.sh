#!/usr/bin/env bash
# Runs the reference LM step in JAX + optax and in rax (CPU plugin and interpreter) side by side
# from one initial weights file, for both policies, and prints the ratios rax / JAX.
#   bash examples/bench_lm/run.sh [STEPS] [INTERP_STEPS]
# Needs: pip install "jax[cpu]==0.10.2" optax (the peer), and a CPU PJRT plugin for rax.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-10}
ISTEPS=${2:-2}
OUT=${BENCH_OUT:-target/bench_lm}
mkdir -p "$OUT"
INIT="$OUT/lm_init.safetensors"
python3 examples/bench_lm/bench_lm_jax.py --write-init "$INIT" >/dev/null
cargo build -q --release -p rax --example bench_lm
RAX=target/release/examples/bench_lm
: > "$OUT/results.jsonl"
for POL in f32 p=f32,c=bf16,a=f32,s=f32; do
  python3 examples/bench_lm/bench_lm_jax.py --init "$INIT" --policy "$POL" --steps "$STEPS" --json | tee -a "$OUT/results.jsonl"
  "$RAX" --init "$INIT" --policy "$POL" --steps "$STEPS" --json | tee -a "$OUT/results.jsonl"
  RAX_BACKEND=interpreter "$RAX" --backend interpreter --init "$INIT" --policy "$POL" --steps "$ISTEPS" --json | tee -a "$OUT/results.jsonl"
done
python3 - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\n{'policy':28} {'impl':18} {'trace+lower s':>13} {'compile s':>10} {'step s':>9} {'GFLOP/s':>8} {'loss':>10}")
for pol in dict.fromkeys(r["policy"] for r in rows):
    rs = [r for r in rows if r["policy"] == pol]
    jax = next(r for r in rs if r["impl"] == "jax")
    for r in rs:
        name = r["impl"] if r["impl"] == "jax" else f"rax-{r['backend']}"
        print(f"{pol:28} {name:18} {r['trace_lower_s']:13.3f} {r['compile_s']:10.3f} {r['step_median_s']:9.4f} {r['gflops']:8.1f} {r['loss']:10.6f}")
    for r in rs:
        if r["impl"] == "rax":
            print(f"{'':28} ratio rax-{r['backend']}/jax: trace+lower {r['trace_lower_s']/jax['trace_lower_s']:.3f}, "
                  f"compile {r['compile_s']/jax['compile_s']:.3f}, step {r['step_median_s']/jax['step_median_s']:.3f}"
                  + ("" if r["steps"] != jax["steps"] else f", loss diff {r['loss']-jax['loss']:+.2e}"))
PY
