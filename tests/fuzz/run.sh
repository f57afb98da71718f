#!/usr/bin/env bash
# Builds and runs every libFuzzer target tests/fuzz/fuzz_*.cc.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [OUTDIR]
#
# SECONDS_PER_TARGET defaults to 60, OUTDIR to build-fuzz (under the repository root). Each
# target is compiled with clang++ and ASan + UBSan + libFuzzer, together with the sources it
# names on a line of its own:
#   // fuzz-sources: src/s3/xml.cc src/base/status.cc
# (paths from the repository root, globs allowed; without the line: src/s3/{http,checksum,xml,sigv4,chunked}.cc
# and src/base/{status,bytes}.cc). It then runs for SECONDS with its working corpus in
# OUTDIR/corpus/<name>, seeded from tests/fuzz/corpus/<name>/ when that exists (<name> is the
# file name without .cc, e.g. fuzz_sigv4; tests/fuzz/corpus/sigv4/ is accepted as well). Crash
# inputs go to OUTDIR/artifacts/<name>/, logs to OUTDIR/<name>.log.
#
# Environment: CXX (default clang++), FUZZ_FILTER (an extended regex: only targets whose name
# matches are run), FUZZ_SEED (libFuzzer's -seed; default 0 = a new random seed each run; CI
# uses a fixed seed so its bounded run explores the same mutations each time). Targets are built and run one after another.
#
# Exit status: 0 when every target built and ran without a finding; 1 otherwise.
set -uo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
outdir="${2:-$root/build-fuzz}"
cxx="${CXX:-clang++}"
filter="${FUZZ_FILTER:-.}"
default_sources=(src/s3/http.cc src/s3/checksum.cc src/s3/xml.cc src/s3/sigv4.cc
                 src/s3/chunked.cc src/base/status.cc src/base/bytes.cc)

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS_PER_TARGET] [OUTDIR]" >&2
  exit 2
fi
mkdir -p "$outdir" || exit 1
outdir="$(cd "$outdir" && pwd)"
cd "$root" || exit 1

failed=0
summary=()
shopt -s nullglob
for src in tests/fuzz/fuzz_*.cc; do
  name="$(basename "$src" .cc)"
  [[ "$name" =~ $filter ]] || continue

  # Sources: the target's "// fuzz-sources:" line, else the default list.
  line="$(grep -m1 -E '^//[[:space:]]*fuzz-sources:' "$src" || true)"
  if [ -n "$line" ]; then
    read -r -a words <<< "${line#*fuzz-sources:}"
    sources=()
    for w in "${words[@]}"; do
      # shellcheck disable=SC2206  # a word with * or ? is a glob (nullglob is on)
      if [[ "$w" == *[*?]* ]]; then sources+=($w); else sources+=("$w"); fi
    done
  else
    sources=("${default_sources[@]}")
  fi

  bin="$outdir/$name"
  log="$outdir/$name.log"
  echo "== $name: building ($src ${sources[*]})"
  if ! "$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=undefined -Iinclude "$src" "${sources[@]}" -lcrypto -o "$bin" \
      > "$outdir/$name.build.log" 2>&1; then
    cat "$outdir/$name.build.log" >&2
    echo "== $name: BUILD FAILED" >&2
    summary+=("$name: build failed")
    failed=1
    continue
  fi

  corpus="$outdir/corpus/$name"
  artifacts="$outdir/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  for seeds in "tests/fuzz/corpus/$name" "tests/fuzz/corpus/${name#fuzz_}"; do
    if [ -d "$seeds" ]; then
      cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    fi
  done

  echo "== $name: running ${seconds}s"
  "$bin" -max_total_time="$seconds" -seed="${FUZZ_SEED:-0}" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" > "$log" 2>&1
  rc=$?
  execs="$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')"
  [ -n "$execs" ] || execs="$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*')"
  cov="$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)"
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "== $name: FAILED (exit $rc), ${execs:-?} execs; inputs in $artifacts" >&2
    summary+=("$name: FAILED after ${execs:-?} execs (log $log)")
    failed=1
  else
    echo "== $name: ok, ${execs:-?} execs${cov:+, $cov}"
    summary+=("$name: ok, ${execs:-?} execs${cov:+, $cov}")
  fi
done

if [ "${#summary[@]}" -eq 0 ]; then
  echo "no fuzz targets matched" >&2
  exit 1
fi
echo
echo "Fuzzing summary (${seconds}s per target):"
for s in "${summary[@]}"; do echo "  $s"; done
exit "$failed"
