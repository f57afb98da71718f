#!/usr/bin/env bash
# shellcheck disable=SC2002  # `cat FILE |` is deliberate: stdin must be a pipe, not a file
# Round trips through the embedded block store: `s3xfs add --data-dir D` then `s3xfs cat`
# must give back the same bytes, whole and in ranges (chunk and 174-link node boundaries);
# plus the CLI's error cases.
#
# Usage: tests/cli/roundtrip.sh /path/to/s3xfs
#
# Range semantics checked (as `ipfs cat -o/-l` and s3xfs's DagReader): bytes
# [offset, offset+length) clamped at the end of the file; --offset alone = to the end;
# --length alone = from byte 0. An offset at or past the end gives empty output with exit 0
# (the DagReader contract); a clean one-line error is also accepted for offsets past the end.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"

D="$TMP/data"
mkdir -p "$D"
C=262144
start=$(now_ns)


# add_ok VERSION FILE -> prints the CID (checks it looks like one and equals --only-hash's)
add_ok() {
  local cid hash
  cid=$("$S3XFS" add --data-dir "$D" --cid-version "$1" "$2" 2>"$TMP/err") ||
    fail "s3xfs add --data-dir D --cid-version $1 $2 failed (exit $?): $(tr '\n' ' ' <"$TMP/err")"
  is_cid "$cid" || fail "s3xfs add printed something that is not a CID: '$cid'"
  hash=$("$S3XFS" add --data-dir "$D" --only-hash --cid-version "$1" "$2" 2>"$TMP/err") ||
    fail "s3xfs add --only-hash --cid-version $1 $2 failed: $(tr '\n' ' ' <"$TMP/err")"
  assert_eq "$cid" "$hash" "add and add --only-hash must print the same CID (v$1, $(stat -c %s "$2") bytes)"
  printf '%s' "$cid"
}

# ---------------------------------------------------------------- 1. whole-file round trips
log "1. add -> cat round trips"
roundtrip() { # SIZE VERSION...
  local size=$1; shift
  local f="$TMP/in.$size" v cid
  chacha "roundtrip/$size" "$size" >"$f"
  for v in "$@"; do
    cid=$(add_ok "$v" "$f")
    "$S3XFS" cat --data-dir "$D" "$cid" >"$TMP/out" 2>"$TMP/err" ||
      fail "s3xfs cat --data-dir D $cid failed (exit $?): $(tr '\n' ' ' <"$TMP/err")"
    assert_same_file "$TMP/out" "$f" "cat of $size-byte file (v$v, $cid)"
    log "  ok: $size bytes, v$v: $cid"
  done
  rm -f "$TMP/out"
}
roundtrip 0 1 0
roundtrip 1 1 0
roundtrip $C 1 0
roundtrip $((C + 1)) 1 0
roundtrip $((174 * C + 1)) 1 0
t0=$(now_ns)
roundtrip $((200 * 1024 * 1024)) 1
log "  (200 MiB add+only-hash+cat took $((($(now_ns) - t0) / 1000000)) ms)"
rm -f "$TMP/in.$((200 * 1024 * 1024))"

# Re-adding identical content is idempotent (same CID, still readable).
f="$TMP/in.$((C + 1))"
cid1=$(add_ok 1 "$f")
cid2=$(add_ok 1 "$f")
assert_eq "$cid2" "$cid1" "adding the same file twice"
log "  ok: re-add gives the same CID"

# stdin input stores the same DAG as a file.
got=$(cat "$f" | "$S3XFS" add --data-dir "$D" --cid-version 1 -) || fail "s3xfs add --data-dir D - (pipe) failed"
assert_eq "$got" "$cid1" "add from stdin pipe vs add FILE"
log "  ok: add - (stdin) gives the same CID"

# ---------------------------------------------------------------- 2. ranges
# Range checks on a file with three levels of structure: 2*174 chunks + 5 bytes
# (root -> 3 interior nodes -> leaves), in both CID versions.
SIZE=$((2 * 174 * C + 5))
R="$TMP/range.in"
chacha "roundtrip/range" "$SIZE" >"$R"
ranges=(
  "0 1" "0 $C" "0 $((C + 1))" "1 $C"
  "$((C - 1)) 1" "$((C - 1)) 2" "$((C - 1)) $((C + 2))" "$C 1" "$C $C" "$((C + 1)) $C"
  "$((C - 100)) $((3 * C))" "$((5 * C + 17)) 1000"
  "$((174 * C - 1)) 1" "$((174 * C - 1)) 2" "$((174 * C)) 1" "$((174 * C + 1)) 7"
  "$((174 * C - 5)) $((C + 10))" "$((174 * C - 1)) $((174 * C + 2))"
  "$((2 * 174 * C - 1)) 6" "$((2 * 174 * C)) 5"
  "$((SIZE - 1)) 1" "$((SIZE - 1)) 100" "$((SIZE - 10)) 1000" "0 $((SIZE + 1000))"
  "$((C - 1)) 18446744073709551615"
)
check_range() { # CID OFF LEN
  local cid=$1 off=$2 len=$3 rc=0
  "$S3XFS" cat --data-dir "$D" "$cid" --offset "$off" --length "$len" >"$TMP/out" 2>"$TMP/err" || rc=$?
  ((rc == 0)) || fail "s3xfs cat --data-dir D $cid --offset $off --length $len failed (exit $rc): $(tr '\n' ' ' <"$TMP/err")"
  tail -c +$((off + 1)) "$R" | head -c "$len" >"$TMP/want" || true
  assert_same_file "$TMP/out" "$TMP/want" "cat $cid --offset $off --length $len (file of $SIZE bytes)"
}
for v in 1 0; do
  cid=$(add_ok "$v" "$R")
  log "2. ranges, v$v ($SIZE bytes, $cid)"
  for r in "${ranges[@]}"; do
    read -r off len <<<"$r"
    check_range "$cid" "$off" "$len"
  done
  log "  ok: ${#ranges[@]} ranges"

  # --offset alone = to the end; --length alone = from the start.
  off=$((174 * C - 3))
  "$S3XFS" cat --data-dir "$D" "$cid" --offset "$off" >"$TMP/out" 2>"$TMP/err" ||
    fail "s3xfs cat --data-dir D $cid --offset $off (no --length) failed: $(tr '\n' ' ' <"$TMP/err")"
  tail -c +$((off + 1)) "$R" >"$TMP/want"
  assert_same_file "$TMP/out" "$TMP/want" "cat --offset $off without --length (expected: to the end)"
  "$S3XFS" cat --data-dir "$D" "$cid" --length $((C + 3)) >"$TMP/out" 2>"$TMP/err" ||
    fail "s3xfs cat --data-dir D $cid --length $((C + 3)) (no --offset) failed: $(tr '\n' ' ' <"$TMP/err")"
  head -c $((C + 3)) "$R" >"$TMP/want"
  assert_same_file "$TMP/out" "$TMP/want" "cat --length $((C + 3)) without --offset (expected: from 0)"
  log "  ok: --offset alone, --length alone"

  # Offsets at and past the end.
  for off in "$SIZE" $((SIZE + 1)) $((SIZE + 10 * C)); do
    rc=0
    "$S3XFS" cat --data-dir "$D" "$cid" --offset "$off" --length 10 >"$TMP/out" 2>"$TMP/err" || rc=$?
    if ((rc == 0)); then
      [[ ! -s "$TMP/out" ]] || fail "cat $cid --offset $off (size $SIZE) printed $(stat -c %s "$TMP/out") bytes, expected none"
      log "  ok: --offset $off (size $SIZE): empty output, exit 0"
    elif ((off > SIZE && rc < 128)) && [[ $(wc -l <"$TMP/err") -le 1 && -s "$TMP/err" ]]; then
      log "  ok: --offset $off (size $SIZE): clean error (exit $rc): $(cat "$TMP/err")"
    else
      fail "cat $cid --offset $off --length 10 (size $SIZE) exit $rc: $(tr '\n' ' ' <"$TMP/err") (expected empty output)"
    fi
  done
done
# Ranges on tiny files (single raw leaf / single dag-pb node).
printf 'hello world' >"$TMP/hw"
for v in 1 0; do
  cid=$(add_ok "$v" "$TMP/hw")
  "$S3XFS" cat --data-dir "$D" "$cid" --offset 6 --length 3 >"$TMP/out" || fail "cat $cid --offset 6 --length 3 failed"
  assert_eq "$(cat "$TMP/out")" "wor" "cat 'hello world' --offset 6 --length 3 (v$v)"
  "$S3XFS" cat --data-dir "$D" "$cid" --offset 6 --length 100 >"$TMP/out" || fail "cat $cid --offset 6 --length 100 failed"
  assert_eq "$(cat "$TMP/out")" "world" "cat 'hello world' --offset 6 --length 100 (v$v)"
done
log "  ok: ranges inside a single-block file"
rm -f "$R" "$TMP/want" "$TMP/out"

# ---------------------------------------------------------------- 3. errors
log "3. error cases"
# A well-formed CID that is not in the store (sha256 of 'not stored' as a raw CIDv1: computed by
# --only-hash into a fresh, separate data dir so it is surely absent from D).
printf 'this content was never added %s' "$$" >"$TMP/absent"
E="$TMP/empty-data"
mkdir -p "$E"
absent=$("$S3XFS" add --data-dir "$E" --only-hash --cid-version 1 "$TMP/absent") || fail "add --only-hash failed"
expect_fail "cat of a CID not in the store" "$S3XFS" cat --data-dir "$D" "$absent"
[[ "$FAIL_STDERR" == *"$absent"* ]] || fail "cat of a missing CID: stderr should mention $absent: $FAIL_STDERR"
absent0=$("$S3XFS" add --data-dir "$E" --only-hash --cid-version 0 "$TMP/absent") || fail "add --only-hash v0 failed"
expect_fail "cat of a CIDv0 not in the store" "$S3XFS" cat --data-dir "$D" "$absent0"
[[ "$FAIL_STDERR" == *"$absent0"* ]] || fail "cat of a missing CIDv0: stderr should mention $absent0: $FAIL_STDERR"
# --only-hash must not store anything: the CID it printed is not readable afterwards.
expect_fail "cat after add --only-hash (nothing stored)" "$S3XFS" cat --data-dir "$E" "$absent"
expect_fail "cat notacid" "$S3XFS" cat --data-dir "$D" notacid
expect_fail "cat of a truncated CID" "$S3XFS" cat --data-dir "$D" "${cid1:0:20}"
expect_fail "add /nonexistent" "$S3XFS" add --data-dir "$D" /nonexistent/s3xfs-no-such-file
expect_fail "add a directory" "$S3XFS" add --data-dir "$D" "$TMP"
expect_fail "add --cid-version 2" "$S3XFS" add --data-dir "$D" --cid-version 2 "$TMP/hw"
# Negative numbers must be rejected, not wrapped to huge unsigned values (Boost's
# lexical_cast<uint64_t>("-1") succeeds with 2^64-1). A usage error may add a usage line.
EXPECT_FAIL_ANY_LINES=1 expect_fail "cat --offset -1" "$S3XFS" cat --data-dir "$D" "$cid1" --offset -1 --length 2
EXPECT_FAIL_ANY_LINES=1 expect_fail "cat --length -3" "$S3XFS" cat --data-dir "$D" "$cid1" --length -3
EXPECT_FAIL_ANY_LINES=1 expect_fail "cat --offset 1x" "$S3XFS" cat --data-dir "$D" "$cid1" --offset 1x
# A usage error may print the usage after the error line.
EXPECT_FAIL_ANY_LINES=1 expect_fail "unknown subcommand" "$S3XFS" no-such-subcommand
[[ "$FAIL_STDERR" == *no-such-subcommand* ]] || fail "unknown subcommand: stderr should name it: $FAIL_STDERR"

log "PASS: round trips, ranges and errors in $((($(now_ns) - start) / 1000000)) ms"
