"""Table of bench_megalodon results (JSON lines from bench_megalodon_jax.py and rax's
bench_megalodon): the median of each figure per (compute dtype, implementation), the ratios
rax / megalodon-jax against the issue's targets (step <= 0.7x, compile <= 0.3x, trace+lower
<= 0.1x), the decode speed ratio, and whether both decoded the same greedy tokens. Runs with
a persistent compilation cache (run.sh's last pass) form their own rows.

    python3 examples/bench_megalodon/summary.py target/bench_megalodon/results.jsonl
"""
import json
import statistics
import sys

TARGETS = {"trace_lower_s": 0.1, "compile_s": 0.3, "step_median_s": 0.7}
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
# A cache-filling run (rax: no hit yet) times a compile, not a load: leave it out.
rows = [r for r in rows if not (isinstance(r.get("compile_cache"), dict) and r["compile_cache"]["hits"] == 0)]


def name(r):
    # Runs with a persistent compilation cache (rax: RAX_COMPILATION_CACHE_DIR, megalodon-jax:
    # --compile-cache) are their own rows, compared with each other.
    cached = " cache" if r.get("compile_cache") else ""
    if r["impl"] != "rax":
        return r["impl"] + cached
    api = r.get("plugin_api_version")
    return f"rax-{r['backend']}" + (f" {api}" if api else "") + cached


def med(rs, key):
    vals = [r[key] for r in rs if key in r]
    return statistics.median(vals) if vals else float("nan")


print(f"\n{'compute':8} {'impl':16} {'runs':>4} {'trace+lower s':>13} {'compile s':>10} {'step s':>8} "
      f"{'step range s':>15} {'decode tok/s':>12} {'loss':>10}")
for comp in dict.fromkeys(r["compute"] for r in rows):
    groups = {}
    for r in rows:
        if r["compute"] == comp:
            groups.setdefault(name(r), []).append(r)
    for n, rs in groups.items():
        steps = [r["step_median_s"] for r in rs]
        spread = f"{min(steps):.4f}-{max(steps):.4f}"
        print(f"{comp:8} {n:16} {len(rs):4d} {med(rs, 'trace_lower_s'):13.3f} {med(rs, 'compile_s'):10.3f} "
              f"{med(rs, 'step_median_s'):8.4f} {spread:>15} {med(rs, 'decode_tokens_per_s'):12.1f} "
              f"{rs[-1]['loss']:10.6f}")
    for n, rs in groups.items():
        if n.startswith("megalodon-jax"):
            continue
        peer = groups.get("megalodon-jax" + (" cache" if n.endswith(" cache") else ""))
        if not peer:
            continue
        parts = []
        for key, label in (("trace_lower_s", "trace+lower"), ("compile_s", "compile"), ("step_median_s", "step")):
            ratio = med(rs, key) / med(peer, key)
            verdict = "met" if ratio <= TARGETS[key] else "NOT met"
            parts.append(f"{label} {ratio:.3f} (target <= {TARGETS[key]}: {verdict})")
        if "decode_tokens_per_s" in rs[-1] and "decode_tokens_per_s" in peer[-1]:
            parts.append(f"decode tok/s {med(rs, 'decode_tokens_per_s') / med(peer, 'decode_tokens_per_s'):.2f}x")
            a, b = rs[-1]["generated"], peer[-1]["generated"]
            same = sum(x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb))
            total = sum(len(r) for r in b)
            first = next((j for j in range(len(b[0])) if any(ra[j] != rb[j] for ra, rb in zip(a, b))), None)
            parts.append(f"greedy tokens equal {same}/{total}"
                         + ("" if first is None else f" (first difference at new token {first})"))
        loss = f", loss diff {rs[-1]['loss'] - peer[-1]['loss']:+.2e}" if rs[-1]["steps"] == peer[-1]["steps"] else ""
        print(f"{'':8} {n}/{name(peer[0])}: " + ", ".join(parts) + loss)
