"""Table of bench_lm results (JSON lines from bench_lm_jax.py and rax's bench_lm): the median of
each figure per (policy, implementation), the ratios rax / JAX, and the issue's targets
(step <= 0.9x JAX, trace+lower <= 0.1x, compile <= 1.0x).

    python3 examples/bench_lm/summary.py target/bench_lm/results.jsonl
"""
import json
import statistics
import sys

TARGETS = {"trace_lower_s": 0.1, "compile_s": 1.0, "step_median_s": 0.9}
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]


def name(r):
    if r["impl"] == "jax":
        return "jax"
    api = r.get("plugin_api_version")
    return f"rax-{r['backend']}" + (f" {api}" if api else "")


def med(rs, key):
    return statistics.median(r[key] for r in rs)


print(f"\n{'policy':26} {'impl':16} {'runs':>4} {'trace+lower s':>13} {'compile s':>10} {'step s':>8} "
      f"{'step range s':>15} {'GFLOP/s':>8} {'loss':>10}")
for pol in dict.fromkeys(r["policy"] for r in rows):
    groups = {}
    for r in rows:
        if r["policy"] == pol:
            groups.setdefault(name(r), []).append(r)
    for n, rs in groups.items():
        steps = [r["step_median_s"] for r in rs]
        spread = f"{min(steps):.4f}-{max(steps):.4f}"
        print(f"{pol:26} {n:16} {len(rs):4d} {med(rs, 'trace_lower_s'):13.3f} {med(rs, 'compile_s'):10.3f} "
              f"{med(rs, 'step_median_s'):8.4f} {spread:>15} {med(rs, 'gflops'):8.1f} {rs[-1]['loss']:10.6f}")
    jax = groups.get("jax")
    if not jax:
        continue
    for n, rs in groups.items():
        if n == "jax":
            continue
        parts = []
        for key, label in (("trace_lower_s", "trace+lower"), ("compile_s", "compile"), ("step_median_s", "step")):
            ratio = med(rs, key) / med(jax, key)
            if "interpreter" in n:  # the reference backend: no targets
                parts.append(f"{label} {ratio:.3f}")
                continue
            verdict = "met" if ratio <= TARGETS[key] else "NOT met"
            parts.append(f"{label} {ratio:.3f} (target <= {TARGETS[key]}: {verdict})")
        same_steps = rs[-1]["steps"] == jax[-1]["steps"]
        loss = f", loss diff {rs[-1]['loss'] - jax[-1]['loss']:+.2e}" if same_steps else ""
        print(f"{'':26} {n}/jax: " + ", ".join(parts) + loss)
