#!/usr/bin/env python3
"""Which of XLA's JIT-compiled CPU kernels a running rax program spends its time in.

`perf` sees the kernels XLA compiles at run time only as anonymous executable memory
(`[JIT]`), so `perf report` cannot name them. XLA writes each kernel's object file when
asked to dump (`XLA_FLAGS=--xla_dump_to=DIR`); this script finds each kernel's machine code
in the process's memory (a 32-byte window of the kernel's code that no relocation touches
and that occurs once), then attributes every perf sample in JIT code to the kernel that
contains it.

    XLA_FLAGS=--xla_dump_to=/tmp/dump target/release/examples/bench_deepseek --steps 600 &
    sleep 20     # past the compile
    python3 scripts/jit_profile.py --pid $! --dump /tmp/dump --seconds 20 [--top 30] [--json]

Prints the share of all samples per shared object, then per JIT kernel and per kernel kind
(the fusion name without its number). Needs perf, objcopy, objdump and nm (binutils), and
permission to read the process's memory (root, or ptrace rights over it). Kernels whose code
cannot be located uniquely are counted as "unmapped".
"""

import argparse
import bisect
import collections
import json
import os
import re
import subprocess
import sys
import tempfile


def jit_regions(pid):
    """Executable anonymous mappings of `pid`, with their bytes."""
    regions = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
        for line in maps:
            fields = line.split()
            if "x" not in fields[1] or len(fields) >= 6:
                continue  # not executable, or backed by a file
            start, end = (int(v, 16) for v in fields[0].split("-"))
            mem.seek(start)
            regions.append((start, mem.read(end - start)))
    return regions


def kernel_objects(dump):
    """(kernel name, object file path) for each kernel object file XLA dumped."""
    for f in sorted(os.listdir(dump)):
        if ".obj-file." not in f or not f.endswith(".o"):
            continue
        name = re.sub(r".*obj-file\.(__compute_module_)?", "", f)
        name = name.replace("_kernel_module", "")[: -len(".o")]
        yield name, os.path.join(dump, f)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def locate(name, path, regions, scratch):
    """[(address, size, name)] of the functions of one kernel object found in memory."""
    code_section = ".ltext"  # XLA CPU compiles kernels with the large code model
    if code_section not in run(["objdump", "-h", path]):
        code_section = ".text"
    run(["objcopy", "-O", "binary", "-j", code_section, path, scratch])
    with open(scratch, "rb") as f:
        text = f.read()
    relocated = set()
    for line in run(["objdump", "-r", "-j", code_section, path]).splitlines():
        m = re.match(r"^([0-9a-f]{16}) ", line)
        if m:
            off = int(m.group(1), 16)
            relocated.update(range(off, off + 8))
    found = []
    for line in run(["nm", "-S", "--defined-only", path]).splitlines():
        fields = line.split()
        if len(fields) != 4 or fields[2] not in "Tt":
            continue
        start, size = int(fields[0], 16), int(fields[1], 16)
        for w in range(start, start + max(1, size - 32), 16):
            window = text[w : w + 32]
            if len(window) < 32:
                break
            if relocated.intersection(range(w, w + 32)):
                continue
            hits = [(base, i) for base, data in regions for i in occurrences(data, window)]
            if len(hits) == 1:
                base, i = hits[0]
                found.append((base + i - (w - start), size, name))
                break
    return found


def occurrences(data, window):
    """Offsets of `window` in `data`, at most two (two already means "not unique")."""
    out, i = [], data.find(window)
    while i >= 0 and len(out) < 2:
        out.append(i)
        i = data.find(window, i + 1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--dump", required=True, help="the --xla_dump_to directory")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--freq", type=int, default=1999)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        subprocess.run(
            ["perf", "record", "-q", "-F", str(a.freq), "-p", str(a.pid), "-o", data,
             "--", "sleep", str(a.seconds)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        regions = jit_regions(a.pid)
        funcs = []
        scratch = os.path.join(tmp, "code.bin")
        for name, path in kernel_objects(a.dump):
            funcs.extend(locate(name, path, regions, scratch))
        samples = run(["perf", "script", "-i", data, "-F", "ip,dso"]).splitlines()

    funcs.sort()
    starts = [f[0] for f in funcs]
    by_dso, by_kernel = collections.Counter(), collections.Counter()
    for line in samples:
        fields = line.split()
        if len(fields) < 2:
            continue
        ip, dso = int(fields[0], 16), fields[1].strip("()")
        if "/perf-" in dso or dso.startswith("[JIT]"):
            by_dso["[JIT]"] += 1
            k = bisect.bisect_right(starts, ip) - 1
            if k >= 0 and ip < funcs[k][0] + funcs[k][1]:
                by_kernel[funcs[k][2]] += 1
            else:
                by_kernel["unmapped"] += 1
        else:
            by_dso[os.path.basename(dso)] += 1
    total = max(1, sum(by_dso.values()))
    by_kind = collections.Counter()
    for name, n in by_kernel.items():
        by_kind[re.sub(r"\.\d+$", "", name)] += n

    def share(counter, top):
        return [(k, round(100.0 * n / total, 2)) for k, n in counter.most_common(top)]

    report = {
        "samples": total,
        "kernels_located": len(funcs),
        "percent_by_dso": share(by_dso, 12),
        "percent_by_kernel": share(by_kernel, a.top),
        "percent_by_kind": share(by_kind, a.top),
    }
    if a.json:
        print(json.dumps(report))
        return
    print(f"{total} samples, {len(funcs)} kernels located")
    for title in ("percent_by_dso", "percent_by_kernel", "percent_by_kind"):
        print(f"-- {title}")
        for k, p in report[title]:
            print(f"{p:6.2f}%  {k}")


if __name__ == "__main__":
    sys.exit(main())
