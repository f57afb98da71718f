#!/usr/bin/env bash
# Memory bound: `s3xfs add --data-dir D -` of a 2 GiB stream (ChaCha20 bytes, so every chunk is
# distinct and really written) must stay under 64 MiB maximum RSS, and print the same CID as the
# reference importer fed the same stream. `s3xfs cat` of the result is checked the same way
# (bounded RSS, same SHA-256 as the input stream).
#
# Usage: tests/cli/memory.sh /path/to/s3xfs
# Env:   S3XFS_MEMORY_BYTES (default 2147483648), S3XFS_MEMORY_LIMIT_KB (default 65536).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
require_node
[[ -x /usr/bin/time ]] || skip "/usr/bin/time (GNU time) not installed"

N=${S3XFS_MEMORY_BYTES:-2147483648}
LIMIT_KB=${S3XFS_MEMORY_LIMIT_KB:-65536}
D="$TMP/data"
mkdir -p "$D"
start=$(now_ns)

max_rss_kb() { # TIME_OUTPUT_FILE
  local kb
  kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$1")
  [[ "$kb" =~ ^[0-9]+$ ]] || fail "could not read the maximum RSS from /usr/bin/time output: $(cat "$1")"
  printf '%s' "$kb"
}

# ---------------------------------------------------------------- add
log "add: $N ChaCha20 bytes on stdin (reference importer and sha256sum read the same stream via tee)"
mkfifo "$TMP/ref.fifo" "$TMP/sha.fifo"
ref_add --cid-version 1 - <"$TMP/ref.fifo" >"$TMP/ref.out" 2>"$TMP/ref.err" &
refpid=$!
sha256sum <"$TMP/sha.fifo" >"$TMP/sha.in" &
shapid=$!
rc=0
chacha "memory/$N" "$N" | tee "$TMP/ref.fifo" "$TMP/sha.fifo" |
  /usr/bin/time -v -o "$TMP/time.add" "$S3XFS" add --data-dir "$D" - >"$TMP/cid" 2>"$TMP/err" || rc=$?
wait "$refpid" || fail "ref-add.mjs failed: $(cat "$TMP/ref.err")"
wait "$shapid" || fail "sha256sum of the input stream failed"
((rc == 0)) || fail "s3xfs add --data-dir D - of a $N-byte stream failed (exit $rc): $(tr '\n' ' ' <"$TMP/err")"

cid=$(cat "$TMP/cid")
want=$(cat "$TMP/ref.out")
rss=$(max_rss_kb "$TMP/time.add")
elapsed=$(sed -n 's/^.*Elapsed (wall clock) time (h:mm:ss or m:ss): *//p' "$TMP/time.add")
log "  s3xfs add: CID $cid, maximum RSS $rss KiB ($((rss / 1024)) MiB), wall $elapsed"
assert_eq "$cid" "$want" "CID of the $N-byte stream: s3xfs vs reference importer"
log "  ok: CID equals the reference importer's"
((rss < LIMIT_KB)) || fail "s3xfs add maximum RSS $rss KiB >= limit $LIMIT_KB KiB"
log "  ok: maximum RSS $rss KiB < $LIMIT_KB KiB"

# ---------------------------------------------------------------- cat
log "cat: stream the $N bytes back (to sha256sum)"
rc=0
/usr/bin/time -v -o "$TMP/time.cat" "$S3XFS" cat --data-dir "$D" "$cid" 2>"$TMP/err" |
  sha256sum >"$TMP/sha.out" || rc=$?
((rc == 0)) || fail "s3xfs cat --data-dir D $cid failed (exit $rc): $(tr '\n' ' ' <"$TMP/err")"
rss=$(max_rss_kb "$TMP/time.cat")
log "  s3xfs cat: maximum RSS $rss KiB ($((rss / 1024)) MiB)"
assert_eq "$(cut -d' ' -f1 "$TMP/sha.out")" "$(cut -d' ' -f1 "$TMP/sha.in")" "SHA-256 of cat output vs the input stream"
log "  ok: cat output has the input's SHA-256"
((rss < LIMIT_KB)) || fail "s3xfs cat maximum RSS $rss KiB >= limit $LIMIT_KB KiB"
log "  ok: maximum RSS $rss KiB < $LIMIT_KB KiB"

log "PASS: memory bounds in $((($(now_ns) - start) / 1000000)) ms"
