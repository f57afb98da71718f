#!/usr/bin/env bash
# Crash consistency: runs tests/crash/crash_worker (puts, overwrites, renames, copies, deletes,
# multipart against an embedded store + ledger), SIGKILLs it at random moments and, after every
# kill, runs `crash_worker verify DIR`: fsck finds no missing blocks / wrong reference counts
# (orphans are expected and repaired), and the store equals the state implied by the
# acknowledged operations (the one operation in flight at the kill applied wholly or not at all).
#
# Usage: tests/cli/crash.sh /path/to/crash_worker
# Env:   S3XFS_CRASH_ITERATIONS (default 30), S3XFS_TEST_SEED (default: random, printed),
#        S3XFS_KEEP_TMP=1 keeps the store for inspection.
set -euo pipefail
TEST_NAME=crash
log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
fail() { printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

worker=${1:-}
[[ -n "$worker" && -x "$worker" ]] || fail "usage: $0 /path/to/crash_worker"
iterations=${S3XFS_CRASH_ITERATIONS:-30}
seed=${S3XFS_TEST_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed

TMP=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-crash.XXXXXX")
pid=
cleanup() {
  local rc=$?
  if [[ -n "$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [[ "${S3XFS_KEEP_TMP:-0}" == 1 || $rc != 0 ]]; then
    printf '[%s] keeping %s\n' "$TEST_NAME" "$TMP" >&2
  else
    rm -rf -- "$TMP"
  fi
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

D="$TMP/store"
mkdir -p "$D"
log "worker = $worker"
log "seed = $seed (S3XFS_TEST_SEED=$seed to repeat the kill schedule's randomness), $iterations kills, store $D"
start=$(date +%s%N)
for ((i = 1; i <= iterations; i++)); do
  ms=$((50 + RANDOM % 351))
  "$worker" run "$D" "$((seed * 1000 + i))" >"$TMP/run.$i.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && rc=0 || rc=$?
    pid=
    cat "$TMP/run.$i.log" >&2
    fail "iteration $i: the worker exited by itself (status $rc) before the kill"
  fi
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  if ! "$worker" verify "$D" >"$TMP/verify.$i.log" 2>&1; then
    cat "$TMP/verify.$i.log" >&2
    fail "iteration $i (killed after ${ms} ms, worker seed $((seed * 1000 + i))): verification failed"
  fi
  log "kill $i after ${ms} ms: $(grep -h '^verify: [0-9]* objects' "$TMP/verify.$i.log" || true)" \
      "$(grep -ho 'in-flight op[^)]*' "$TMP/verify.$i.log" | head -1 || true)"
done
end=$(date +%s%N)
acked=$(grep -cv '^?\|^F$' "$D/acked.log" || true)
log "PASS: $iterations kills, $acked acknowledged operations verified, $(( (end - start) / 1000000 )) ms"
