#!/usr/bin/env bash
# Security tests of the S3 listener: forged, tampered, skewed, anonymous and malformed requests,
# odd keys, XML bombs, oversized heads, 2000 idle connections, a slow client, abandoned uploads
# (tests/s3/security.py, raw sockets and its own SigV4 signer). Afterwards the server must stop
# cleanly on SIGTERM and `s3xfs fsck` must find the store clean.
#
# Usage: tests/s3/security.sh /path/to/s3xfs [CASE...]   (meson test 'security', suite 's3')
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
s3_init "$1"
shift
# Debian's python (the one on PATH may be another build); only the standard library is used.
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3) || skip "python3 not found"

s3_start
t0=$(date +%s)
S3_PID=$S3_PID "$py" "$here/security.py" "$@" || fail "security cases failed (see above)"

kill -0 "$S3_PID" 2>/dev/null || fail "the server died during the tests"
pid=$S3_PID
S3_PID=
kill -TERM "$pid"
rc=0
for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; fail "the server did not stop within 15 s of SIGTERM"; }
wait "$pid" || rc=$?
assert_eq "$rc" 0 "exit status of s3xfs serve after SIGTERM"
out=$("$S3XFS" fsck --data-dir "$S3_DATA_DIR" 2>&1) || fail "fsck after the security tests: $out"
[[ "$out" == *clean* && "$out" != *"NOT clean"* ]] || fail "fsck: $out"
log "fsck: clean; server stopped with status 0; total $(($(date +%s) - t0)) s"
