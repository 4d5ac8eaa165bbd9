#!/usr/bin/env bash
# Runs the DeepSeek training step in rax (f32 and p=f32,c=bf16 with dropless dispatch, plus the
# capacity and dense dispatch paths in f32) and in transformers + torch eager (f32, bf16
# autocast) on the same weights and tokens, alternating rax and torch runs REPEATS times, and
# prints one table: the median over repeats of each run's median step time, and the ratios to
# torch f32 and torch bf16 autocast. The first repeat also measures decode tokens/s (rax: latent
# cache + absorbed attention; torch: `generate`), naive-vs-absorbed agreement and cache bytes.
#   bash examples/bench_deepseek/run.sh [STEPS] [REPEATS]   (PY=/tmp/torchenv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-10}
REPEATS=${2:-3}
PY=${PY:-/tmp/torchenv/bin/python}
OUT=${OUT:-target/bench_deepseek}
mkdir -p "$OUT"
cargo build --release -p rax-examples --example bench_deepseek
BIN=target/release/examples/bench_deepseek
TORCH=examples/bench_deepseek/bench_deepseek_torch.py
$BIN --save-init "$OUT/init"
RES="$OUT/results.jsonl"
: > "$RES"
echo "load before: $(uptime)" >&2
for r in $(seq 1 "$REPEATS"); do
  DEC=""
  if [ "$r" = 1 ]; then DEC="--decode"; fi
  $BIN --json --init "$OUT/init" --steps "$STEPS" $DEC >> "$RES"
  $PY $TORCH "$OUT/init" --steps "$STEPS" $DEC 2>>"$OUT/torch_stderr.log" >> "$RES"
  $BIN --json --init "$OUT/init" --steps "$STEPS" --policy p=f32,c=bf16,a=f32,s=f32 >> "$RES"
  $PY $TORCH "$OUT/init" --steps "$STEPS" --bf16 2>>"$OUT/torch_stderr.log" >> "$RES"
  $BIN --json --init "$OUT/init" --steps "$STEPS" --dispatch capacity >> "$RES"
  $BIN --json --init "$OUT/init" --steps "$STEPS" --dispatch dense >> "$RES"
done
echo "load after: $(uptime)" >&2
$PY - "$RES" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    key = (r["impl"], r["policy"], r.get("dispatch", "-"))
    groups.setdefault(key, []).append(r)
med = {k: statistics.median(x["step_median_s"] for x in v) for k, v in groups.items()}
t32 = med[("torch", "f32", "-")]
t16 = med[("torch", "autocast bf16", "-")]
print(f"{'impl':6} {'policy':18} {'dispatch':24} {'step_s (each repeat)':34} {'median':>7} "
      f"{'/torch f32':>10} {'/torch bf16':>11} {'compile_s':>9} {'loss0':>7} {'loss':>7}")
for k, v in groups.items():
    each = ", ".join(f"{x['step_median_s']:.3f}" for x in v)
    print(f"{k[0]:6} {k[1]:18} {k[2]:24} {each:34} {med[k]:7.3f} {med[k] / t32:10.2f} "
          f"{med[k] / t16:11.2f} {statistics.median(x['compile_s'] for x in v):9.2f} "
          f"{v[0]['first_loss']:7.4f} {v[0]['loss']:7.4f}")
for r in rows:
    if r.get("decode_tokens_per_s"):
        print(f"decode {r['impl']}: {r['decode_tokens_per_s']:.1f} tokens/s (batch 1, greedy)")
    if r.get("decode_checks"):
        print("decode checks (rax):", json.dumps(r["decode_checks"]))
PYEOF
