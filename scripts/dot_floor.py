#!/usr/bin/env python3
"""How long a compiled program's matrix products take on their own: a floor for its step time.

Reads XLA's optimised HLO of a program (`XLA_FLAGS=--xla_dump_to=DIR`, the file ending in
`after_optimizations.txt`), lists every `dot` with its operand shapes and dimension numbers,
writes one StableHLO program per distinct dot (the dot on two parameters) and times each with
`hlo_bench` on the same plugin. The sum over the program's dots of (time of that dot alone) is
what the matrix products cost even if everything else in the step were free; with a step time
and a reference time it says whether a target ratio is reachable at all.

    XLA_FLAGS=--xla_dump_to=/tmp/dump target/release/examples/bench_deepseek --steps 2
    cargo build --release -p rax-pjrt --example hlo_bench
    python3 scripts/dot_floor.py /tmp/dump/module_0000.rax.cpu_after_optimizations.txt \
        [--runs 30] [--plugin P.so] [--json]

Each dot runs on its logical (row-major) operands, so XLA picks its own layouts for it: the
figure is the dots' cost at their best, not as scheduled inside the step. Timings are the
minimum over `--runs` executions (the steadier figure on a shared machine). Needs
`target/release/examples/hlo_bench` and a plugin it can find (`RAX_PJRT_SEARCH`).
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

SHAPE = re.compile(r"%([\w.\-]+) = (\w+)\[([\d,]*)\]")
DOT = re.compile(
    r"%([\w.\-]+) = (\w+)\[([\d,]*)\]\S* dot\(([^)]*)\)(.*)$", re.MULTILINE
)
FLOAT_TYPES = ("f32", "bf16", "f16", "f64")  # HLO and StableHLO spell these alike


def dims_of(text):
    return [int(x) for x in text.split(",") if x]


def attr(rest, name):
    m = re.search(name + r"=\{([\d,]*)\}", rest)
    return dims_of(m.group(1)) if m else []


def parse(path):
    """Every dot of the dump: (out dtype, lhs shape, lhs dtype, rhs shape, rhs dtype, dims)."""
    text = open(path).read()
    shapes = {m.group(1): (m.group(2), dims_of(m.group(3))) for m in SHAPE.finditer(text)}
    dots = []
    for m in DOT.finditer(text):
        names = [o.strip().split(" ")[-1].lstrip("%") for o in m.group(4).split(",")]
        missing = [n for n in names[:2] if n not in shapes]
        if len(names) < 2 or missing:
            sys.exit(f"dot_floor: {m.group(1)}: operand shape not found in the dump ({missing})")
        (lt, ls), (rt, rs) = shapes[names[0]], shapes[names[1]]
        rest = m.group(5)
        dn = tuple(
            tuple(attr(rest, k))
            for k in (
                "lhs_batch_dims",
                "rhs_batch_dims",
                "lhs_contracting_dims",
                "rhs_contracting_dims",
            )
        )
        dots.append((m.group(2), tuple(ls), lt, tuple(rs), rt, dn, dims_of(m.group(3))))
    return dots


def flops(dot):
    _, ls, _, _, _, dn, out = dot
    k = 1
    for c in dn[2]:
        k *= ls[c]
    n = 1
    for d in out:
        n *= d
    return 2 * n * k


def tensor(shape, dtype):
    if dtype not in FLOAT_TYPES:
        sys.exit(f"dot_floor: element type {dtype} is not supported (one of {FLOAT_TYPES})")
    return "tensor<" + "".join(f"{d}x" for d in shape) + dtype + ">"


def program(dot):
    ot, ls, lt, rs, rt, dn, out = dot
    lb, rb, lc, rc = (", ".join(map(str, v)) for v in dn)
    batch = f"batching_dims = [{lb}] x [{rb}], " if dn[0] else ""
    a, b, o = tensor(ls, lt), tensor(rs, rt), tensor(out, ot)
    return (
        f"func.func public @main(%a: {a}, %b: {b}) -> {o} {{\n"
        f"  %0 = stablehlo.dot_general %a, %b, {batch}contracting_dims = [{lc}] x [{rc}] "
        f": ({a}, {b}) -> {o}\n"
        f"  return %0 : {o}\n}}\n"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hlo", help="an XLA after_optimizations.txt dump")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--plugin", help="plugin .so for hlo_bench (default: its discovery)")
    ap.add_argument("--bench", default="target/release/examples/hlo_bench")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not os.path.isfile(a.hlo):
        sys.exit(f"dot_floor: no HLO dump at {a.hlo}")
    if not os.access(a.bench, os.X_OK):
        sys.exit(
            f"dot_floor: {a.bench} not found: "
            "cargo build --release -p rax-pjrt --example hlo_bench"
        )
    dots = parse(a.hlo)
    if not dots:
        sys.exit(f"dot_floor: no dot in {a.hlo} (is it an after_optimizations.txt dump?)")
    groups = collections.Counter((d[:6] + (tuple(d[6]),)) for d in dots)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, key in enumerate(groups):
            f = os.path.join(tmp, f"dot{i}.mlir")
            d = key[:6] + (list(key[6]),)
            with open(f, "w") as out:
                out.write(program(d))
            files.append((f, d, groups[key]))
        cmd = [a.bench, "--runs", str(a.runs), "--compiles", "1"]
        if a.plugin:
            cmd += ["--plugin", a.plugin]
        env = dict(os.environ)
        env.setdefault("XLA_FLAGS", "--xla_cpu_enable_fast_min_max=false")
        res = subprocess.run(
            cmd + [f for f, _, _ in files], capture_output=True, text=True, env=env
        )
        if res.returncode != 0:
            sys.exit(f"hlo_bench failed ({res.returncode}): {res.stderr[-2000:]}")
        by_file = collections.defaultdict(dict)
        for line in res.stdout.splitlines():
            r = json.loads(line)
            by_file[r["plugin_api_version"]][r["file"]] = r["step_min_s"]
    report = {"dots": len(dots), "distinct": len(groups), "gflop": sum(map(flops, dots)) / 1e9}
    for api, times in by_file.items():
        rows = []
        total = 0.0
        for f, d, count in files:
            t = times[f] * count
            total += t
            rows.append((t, count, d))
        rows.sort(key=lambda r: -r[0])
        report[f"api {api}"] = {
            "dots_alone_s": total,
            "gflop_per_s": report["gflop"] / total,
            "top": [
                {
                    "s": round(t, 6),
                    "count": c,
                    "lhs": list(d[1]),
                    "rhs": list(d[3]),
                    "dims": [list(v) for v in d[5]],
                    "gflop_each": flops(d) / 1e9,
                }
                for t, c, d in rows[:12]
            ],
        }
    if a.json:
        print(json.dumps(report))
        return
    print(f"{report['dots']} dots ({report['distinct']} distinct), {report['gflop']:.3f} GFLOP")
    for api in by_file:
        r = report[f"api {api}"]
        print(
            f"plugin API {api}: the dots alone take {r['dots_alone_s'] * 1e3:.1f} ms "
            f"({r['gflop_per_s']:.0f} GFLOP/s)"
        )
        for row in r["top"]:
            print(
                f"  {row['s'] * 1e3:7.2f} ms  {row['count']:3d} x  lhs {row['lhs']} "
                f"rhs {row['rhs']} dims {row['dims']}"
            )


if __name__ == "__main__":
    main()
