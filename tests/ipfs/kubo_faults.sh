#!/usr/bin/env bash
# kubo_faults: the Kubo client (`s3xfs add/cat --ipfs kubo://`) against a fake node that
# misbehaves on request (fake_kubo.py): bytes that do not match their CID and a Key for other
# bytes are errors, never data; 503s are retried, a node answering 503 for good fails after a
# bounded wait; keep-alive connections the node dropped while idle are replaced transparently; an
# oversized answer and a pin reply without the root are errors. Each failure is one clear line.
#
# usage: kubo_faults.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cli/lib.sh
source "$here/../cli/lib.sh"
s3xfs_init "$@"
PY=/usr/bin/python3
command -v curl >/dev/null || skip "curl missing"

port=$(free_port)
"$PY" "$here/fake_kubo.py" "$port" 2>"$TMP/fake.log" &
fake_pid=$!
wait_port "$port"
NODE=kubo://127.0.0.1:$port
fault() {  # NAME=VALUE... -> prints the counters
  local q="" p
  for p in "$@"; do q+="${q:+&}$p"; done
  curl -sS --fail -X POST "http://127.0.0.1:$port/fault?$q"
}
# count NAME: a request counter of the fake node
count() { curl -sS --fail -X POST "http://127.0.0.1:$port/fault" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

chacha 1 1000000 > "$TMP/f1"   # 4 leaves + a root
want=$("$S3XFS" add --only-hash "$TMP/f1")

log "a well-behaved node: add, pin, cat"
cid=$("$S3XFS" add --ipfs "$NODE" "$TMP/f1") || fail "add"
assert_eq "$cid" "$want" "CID"
"$S3XFS" cat --ipfs "$NODE" "$cid" > "$TMP/out" || fail "cat"
assert_same_file "$TMP/out" "$TMP/f1" "cat"
curl -sS -X POST "http://127.0.0.1:$port/api/v0/pin/ls" | grep -q "$cid" || fail "root not pinned"

log "keep-alive connections the node drops while idle are replaced"
fault drop_idle=1 >/dev/null
c0=$(count connections)
"$S3XFS" cat --ipfs "$NODE" "$cid" > "$TMP/out" || fail "cat with idle connections dropped"
assert_same_file "$TMP/out" "$TMP/f1" "cat with idle connections dropped"
chacha 2 600000 > "$TMP/f2"
"$S3XFS" add --ipfs "$NODE" "$TMP/f2" >/dev/null || fail "add with idle connections dropped"
c1=$(count connections)
[ $((c1 - c0)) -ge 5 ] || fail "expected new connections for every request, got $((c1 - c0))"
fault drop_idle=0 >/dev/null

log "bytes that do not hash to their CID are an error, never data"
fault corrupt_get=1 >/dev/null
expect_fail "cat of corrupt bytes" "$S3XFS" cat --ipfs "$NODE" "$cid"
grep -q "bad bytes" <<<"$FAIL_STDERR" || fail "corruption not named: $FAIL_STDERR"
[ ! -s "$TMP/.expect_fail.out" ] || fail "cat wrote data it could not verify"
fault corrupt_get=0 >/dev/null

log "a Key for other bytes is an error"
fault wrong_key=1 >/dev/null
chacha 3 300000 > "$TMP/f3"
expect_fail "add answered with wrong Keys" "$S3XFS" add --ipfs "$NODE" "$TMP/f3"
grep -q "CID mismatch" <<<"$FAIL_STDERR" || fail "mismatch not named: $FAIL_STDERR"
fault wrong_key=0 >/dev/null

log "503s are retried; a node answering 503 for good fails after a bounded wait"
before=$(count 503)
fault fail=2 >/dev/null
"$S3XFS" cat --ipfs "$NODE" "$cid" > "$TMP/out" || fail "cat after two 503s"
assert_same_file "$TMP/out" "$TMP/f1" "cat after two 503s"
assert_eq "$(count 503)" "$((before + 2))" "503s served"
fault fail=1000 >/dev/null
t0=$(date +%s%N)
expect_fail "cat from a node answering 503" "$S3XFS" cat --ipfs "$NODE" "$cid"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 15000 ] || fail "503 for good took $ms ms"
grep -q "HTTP 503" <<<"$FAIL_STDERR" || fail "503 not named: $FAIL_STDERR"
log "  gave up after $ms ms"
fault fail=0 >/dev/null

log "an answer larger than any block is refused"
fault big_get=6000000 >/dev/null
expect_fail "cat with an oversized answer" "$S3XFS" cat --ipfs "$NODE" "$cid"
grep -q "larger than" <<<"$FAIL_STDERR" || fail "oversized answer not named: $FAIL_STDERR"
fault big_get=0 >/dev/null

log "a pin reply that does not name the root is an error"
fault bad_pins=1 >/dev/null
chacha 4 300000 > "$TMP/f4"
expect_fail "add whose pin reply lacks the root" "$S3XFS" add --ipfs "$NODE" "$TMP/f4"
grep -q "not among the pins" <<<"$FAIL_STDERR" || fail "bad pin reply not named: $FAIL_STDERR"
fault bad_pins=0 >/dev/null

log "a missing block is reported as missing"
chacha 5 1000 > "$TMP/never"
expect_fail "cat of a block the node lacks" "$S3XFS" cat --ipfs "$NODE" "$("$S3XFS" add --only-hash "$TMP/never")"
grep -q "not on the node" <<<"$FAIL_STDERR" || fail "missing block not named: $FAIL_STDERR"

kill "$fake_pid" 2>/dev/null || true
log "PASS"
