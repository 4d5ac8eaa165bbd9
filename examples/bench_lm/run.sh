#!/usr/bin/env bash
# Runs the reference LM step in JAX + optax and in rax (CPU plugin and interpreter) side by side
# from one initial weights file, for both policies, and prints the ratios rax / JAX.
#   bash examples/bench_lm/run.sh [STEPS] [INTERP_STEPS] [REPEATS]
# JAX and rax-pjrt run alternately REPEATS times per policy (the table gives the median of each
# figure over the repeats, so one noisy run on a 2-core machine does not decide a ratio); the
# interpreter runs once per policy. Every JSON line is kept in $BENCH_OUT/results.jsonl.
# Needs: pip install "jax[cpu]==0.10.2" optax (the peer), and a CPU PJRT plugin for rax.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-10}
ISTEPS=${2:-2}
REPEATS=${3:-3}
OUT=${BENCH_OUT:-target/bench_lm}
mkdir -p "$OUT"
INIT="$OUT/lm_init.safetensors"
python3 examples/bench_lm/bench_lm_jax.py --write-init "$INIT" >/dev/null
cargo build -q --release -p rax-examples --example bench_lm
RAX=target/release/examples/bench_lm
: > "$OUT/results.jsonl"
for POL in f32 p=f32,c=bf16,a=f32,s=f32; do
  for _ in $(seq "$REPEATS"); do
    python3 examples/bench_lm/bench_lm_jax.py --init "$INIT" --policy "$POL" --steps "$STEPS" --json | tee -a "$OUT/results.jsonl"
    "$RAX" --init "$INIT" --policy "$POL" --steps "$STEPS" --json | tee -a "$OUT/results.jsonl"
  done
  "$RAX" --backend interpreter --init "$INIT" --policy "$POL" --steps "$ISTEPS" --json | tee -a "$OUT/results.jsonl"
done
python3 examples/bench_lm/summary.py "$OUT/results.jsonl"
