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
# uses a fixed seed so its bounded run explores the same mutations each time). Targets are built
# and run one after another; the sources of a target compile in parallel (one job per core) into
# OUTDIR/obj, shared by the targets of the run.
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
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude)
objdir="$outdir/obj"
rm -rf "$objdir"  # objects are shared by the targets of one run only (no header tracking)
mkdir -p "$objdir"

# compile_one OBJ SRC: compiles SRC to OBJ with $FUZZ_CFLAGS (flags without spaces), unless
# OBJ exists already.
compile_one() {
  [ -e "$1" ] && return 0
  # shellcheck disable=SC2086  # one word per flag
  "$cxx" $FUZZ_CFLAGS -c "$2" -o "$1.tmp" && mv -f "$1.tmp" "$1"
}
export -f compile_one
export cxx

# build_target SRC BIN WORDS...: compiles SRC and each source word into $objdir (in parallel, one
# job per core; a source another target already compiled with the same flags is reused) and
# links BIN. Words that start with -D or -I are compile flags; other words that start with -
# are link flags.
build_target() {
  local src=$1 bin=$2; shift 2
  local cflags=() lflags=() srcs=("$src") objs=() pairs=() w key
  for w in "$@"; do
    case "$w" in
      -D* | -I*) cflags+=("$w") ;;
      -*) lflags+=("$w") ;;
      *) srcs+=("$w") ;;
    esac
  done
  FUZZ_CFLAGS="${flags[*]} ${cflags[*]}"
  export FUZZ_CFLAGS
  key="$(printf '%s' "$FUZZ_CFLAGS" | md5sum | cut -c1-8)"
  for w in "${srcs[@]}"; do
    objs+=("$objdir/${w//\//_}.$key.o")
    pairs+=("${objs[-1]}" "$w")
  done
  printf '%s\0' "${pairs[@]}" | xargs -0 -n2 -P "$(nproc)" bash -c 'compile_one "$0" "$1"' || return 1
  "$cxx" "${flags[@]}" "${objs[@]}" "${lflags[@]}" -lcrypto -o "$bin"
}
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
  if ! build_target "$src" "$bin" "${sources[@]}" > "$outdir/$name.build.log" 2>&1; then
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
