#!/usr/bin/env bash
# Runs the Megalodon training step and greedy decode in megalodon-jax 0.2.2 + optax and in rax
# (CPU plugin) side by side from one checkpoint, for both compute dtypes, and prints the ratios
# rax / megalodon-jax.
#   bash examples/bench_megalodon/run.sh [STEPS] [REPEATS]
# megalodon-jax and rax run alternately REPEATS times per compute dtype (the table gives the
# median of each figure over the repeats, so one noisy run on a shared machine does not decide
# a ratio). Every JSON line is kept in $BENCH_OUT/results.jsonl.
# Needs: a Python with megalodon-jax==0.2.2, jax[cpu]==0.10.2, optax, safetensors ($PEER_PY,
# default /tmp/peer/bin/python), and a CPU PJRT plugin for rax (scripts/install-plugins.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-10}
REPEATS=${2:-3}
PY=${PEER_PY:-/tmp/peer/bin/python}
OUT=${BENCH_OUT:-target/bench_megalodon}
mkdir -p "$OUT"
INIT="$OUT/init"
"$PY" examples/bench_megalodon/bench_megalodon_jax.py --write-init "$INIT" >/dev/null
cargo build -q --release -p rax-examples --example bench_megalodon
RAX=target/release/examples/bench_megalodon
: > "$OUT/results.jsonl"
for C in f32 bf16; do
  for _ in $(seq "$REPEATS"); do
    "$PY" examples/bench_megalodon/bench_megalodon_jax.py --init "$INIT" --compute "$C" --steps "$STEPS" --json | tail -n 1 | tee -a "$OUT/results.jsonl" | cut -c1-300
    "$RAX" --init "$INIT" --compute "$C" --steps "$STEPS" --json | tee -a "$OUT/results.jsonl" | cut -c1-300
  done
done
# Warm persistent compilation caches (f32): rax's RAX_COMPILATION_CACHE_DIR and JAX's
# jax_compilation_cache_dir, each filled by one run and then timed twice. (megalodon-jax's
# step contains equinox error_if host callbacks, which JAX does not cache.)
CACHE="$OUT/compile-cache"
rm -rf "$CACHE"
"$PY" examples/bench_megalodon/bench_megalodon_jax.py --init "$INIT" --steps 2 --compile-cache "$CACHE/jax" >/dev/null
RAX_COMPILATION_CACHE_DIR="$CACHE/rax" "$RAX" --init "$INIT" --steps 2 --json >/dev/null
for _ in 1 2; do
  "$PY" examples/bench_megalodon/bench_megalodon_jax.py --init "$INIT" --steps "$STEPS" --compile-cache "$CACHE/jax" --json | tail -n 1 | tee -a "$OUT/results.jsonl" | cut -c1-300
  RAX_COMPILATION_CACHE_DIR="$CACHE/rax" "$RAX" --init "$INIT" --steps "$STEPS" --json | tee -a "$OUT/results.jsonl" | cut -c1-300
done
python3 examples/bench_megalodon/summary.py "$OUT/results.jsonl"
