#!/usr/bin/env bash
# The whole test suite: installs the CPU PJRT plugins if missing, then `cargo test --workspace`.
# With CI=true, tests fail (instead of skipping) when a plugin is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
prefixes=$(bash scripts/install-plugins.sh | tail -n 1)
export RAX_PJRT_SEARCH="${prefixes}${RAX_PJRT_SEARCH:+:$RAX_PJRT_SEARCH}"
cargo test --workspace "$@"
