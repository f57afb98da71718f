#!/usr/bin/env bash
# A full disk: the data directory is a small tmpfs. A PUT that does not fit fails with a clear
# S3 error (500 InternalError naming "No space left"), nothing is committed, objects stored
# before stay readable, the daemon keeps serving, and after it stops fsck finds no missing
# blocks or wrong counts.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
s3_init "$@"
require_cmd curl
[[ $(id -u) == 0 ]] || skip "needs root to mount a small tmpfs"

small=$TMP/small
mkdir -p "$small"
mount -t tmpfs -o size=12m tmpfs "$small" || skip "cannot mount tmpfs"
at_exit umount -l "$small"
S3_DATA_DIR=$small/data S3_KEEP_DATA=1 s3_start
s3_curl -X PUT "$S3_ENDPOINT/full" -o /dev/null || fail "CreateBucket"
head -c 300000 /dev/urandom >"$TMP/keep"
s3_curl -T "$TMP/keep" "$S3_ENDPOINT/full/keep" -o /dev/null || fail "PUT keep"

head -c $((20 << 20)) /dev/urandom >"$TMP/big"
code=$(curl -sS -o "$TMP/err.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
  --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  -T "$TMP/big" "$S3_ENDPOINT/full/big" || true)
log "PUT of 20 MiB into 12 MiB: HTTP $code: $(cat "$TMP/err.xml" 2>/dev/null | head -c 300)"
[[ "$code" == 500 || "$code" == 503 ]] || fail "expected a 5xx for a full disk, got $code"
grep -q "No space left" "$TMP/err.xml" || fail "the error does not say the disk is full"
s3_curl -I "$S3_ENDPOINT/full/big" -o /dev/null 2>/dev/null && fail "the failed PUT left an object"
got=$(s3_curl "$S3_ENDPOINT/full/keep" | md5sum | cut -c1-32)
[[ "$got" == "$(md5_of "$TMP/keep")" ]] || fail "object stored before the full disk changed"
s3_curl "$S3_ENDPOINT/full?list-type=2" | grep -q "<Key>keep</Key>" || fail "listing after ENOSPC"
s3_stop
report=$("$S3XFS" fsck --data-dir "$S3_DATA_DIR" 2>&1) || true
if grep -E "^(missing block|wrong reference count|problem):" <<<"$report"; then
  fail "fsck after ENOSPC: $report"
fi
log "PASS"
