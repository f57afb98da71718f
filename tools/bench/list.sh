#!/usr/bin/env bash
# Benchmark: listing cost against bucket size — a 1000-key page (with and without delimiter,
# mid key space) and a small put in a 1,000-key bucket vs a 1,000,000-key bucket; prints the
# ratios (target for a page list: <= 2). See tools/bench/list_bench.cc for what is measured.
#
# Usage: tools/bench/list.sh [/path/to/list_bench]     (default: build/tests/list_bench)
# Env:   S3XFS_BENCH_LARGE_KEYS (default 1000000), S3XFS_BENCH_POPULATE_SECONDS (default 180;
#        fewer keys are used, and said so, if populating would take longer),
#        S3XFS_BENCH_THREADS (default 2), S3XFS_BENCH_RUNS (default 9),
#        S3XFS_BENCH_DIR (keep and reuse the populated stores there).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/build/tests/list_bench}
[[ -x "$bin" ]] || { echo "list: list_bench not found: $bin (build it: ninja -C build tests/list_bench)" >&2; exit 1; }
echo "list: $bin"
start=$(date +%s)
"$bin"
echo "list: done in $(( $(date +%s) - start )) s"
