#!/usr/bin/env bash
# Runs rax's PJRT FFI tests (crates/rax-pjrt/tests) under valgrind memcheck: invalid reads and
# writes, uses of uninitialised values and definite leaks *in rax's code* fail the run.
# The tests are built without the `jemalloc` feature (memcheck tracks the system allocator).
# scripts/valgrind_plugins.supp suppresses only uninitialised-value reports and leaks inside the
# PJRT plugins' own code (see there why); invalid reads and writes are never suppressed. Not
# part of CI (slow: minutes per test binary).
#
#   bash scripts/valgrind_ffi.sh [TEST_NAME ...]   # default: basic buffers leak programs
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
export RAX_PJRT_SEARCH="$(bash scripts/install-plugins.sh | tail -n 1)${RAX_PJRT_SEARCH:+:$RAX_PJRT_SEARCH}"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(basic buffers leak programs)
supp=scripts/valgrind_plugins.supp
status=0
for t in "${tests[@]}"; do
  bin=$(cargo test -p rax-pjrt --no-default-features --test "$t" --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable"): print(m["executable"])' | tail -n 1)
  [ -n "$bin" ] || { echo "cannot build test $t" >&2; exit 1; }
  echo "== valgrind: $t ($bin)"
  log=$(mktemp)
  if valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
       --show-leak-kinds=definite --suppressions="$supp" --num-callers=30 --fair-sched=yes \
       "$bin" --test-threads=1 >"$log" 2>&1; then
    grep -E "ERROR SUMMARY|definitely lost|test result" "$log" || true
  else
    status=1
    echo "FAILED: $t (full log kept at $log)"
    grep -E "ERROR SUMMARY|definitely lost|test result|Invalid|uninitialised" "$log" | head -40 || true
    continue
  fi
  rm -f "$log"
done
exit $status
