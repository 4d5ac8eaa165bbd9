#!/usr/bin/env bash
# Runs the DeepSeek training step in rax (f32, p=f32,c=bf16; dropless, plus the capacity and
# dense dispatch paths in f32) and in transformers + torch eager (f32, bf16 autocast) on the
# same weights and tokens, and prints a table with the ratios to torch f32.
#   bash examples/bench_deepseek/run.sh [STEPS]   (PY=/tmp/torchenv/bin/python by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-10}
PY=${PY:-/tmp/torchenv/bin/python}
OUT=${OUT:-target/bench_deepseek}
mkdir -p "$OUT"
cargo build --release -p rax --example bench_deepseek
BIN=target/release/examples/bench_deepseek
$BIN --save-init "$OUT/init"
: > "$OUT/results.jsonl"
$BIN --json --init "$OUT/init" --steps "$STEPS" --decode >> "$OUT/results.jsonl"
$BIN --json --init "$OUT/init" --steps "$STEPS" --policy p=f32,c=bf16,a=f32,s=f32 >> "$OUT/results.jsonl"
$BIN --json --init "$OUT/init" --steps "$STEPS" --dispatch capacity >> "$OUT/results.jsonl"
$BIN --json --init "$OUT/init" --steps "$STEPS" --dispatch dense >> "$OUT/results.jsonl"
$PY examples/bench_deepseek/bench_deepseek_torch.py "$OUT/init" --steps "$STEPS" --decode >> "$OUT/results.jsonl"
$PY examples/bench_deepseek/bench_deepseek_torch.py "$OUT/init" --steps "$STEPS" --bf16 >> "$OUT/results.jsonl"
$PY - "$OUT/results.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next(r for r in rows if r["impl"] == "torch" and r["policy"] == "f32")["step_median_s"]
print(f"{'impl':6} {'policy':22} {'dispatch':28} {'step_s':>8} {'x torch f32':>11} {'compile_s':>9} {'loss0':>7} {'loss':>7} {'decode tok/s':>12}")
for r in rows:
    dec = r.get("decode_tokens_per_s")
    print(f"{r['impl']:6} {r['policy']:22} {r.get('dispatch', '-'):28} {r['step_median_s']:8.4f} "
          f"{r['step_median_s'] / base:11.2f} {r['compile_s']:9.2f} {r['first_loss']:7.4f} {r['loss']:7.4f} "
          f"{(f'{dec:.0f}' if dec else '-'):>12}")
PYEOF
