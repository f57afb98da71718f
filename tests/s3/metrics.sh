#!/usr/bin/env bash
# metrics: `s3xfs serve` on a TemporalX node (`s3xfs node`) with --metrics-listen and --log-file,
# driven with signed curl requests; /metrics is parsed by an independent parser (Debian's
# python3-prometheus-client, tests/s3/prom.py) and every series docs/SEMANTICS.md lists for
# serve must be there, with the deltas the requests imply: request counts by operation and
# status, the latency histogram's count, bytes in and out, the upload queue drained to the node,
# local cache hits. A failed request leaves exactly one log line with its x-amz-request-id.
# Then a mount (when /dev/fuse is there) with --metrics-listen: FUSE operations, errors,
# written bytes and the dirty bytes of a file held open.
# Usage: metrics.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
s3_init "$@"
PY=/usr/bin/python3
require_exe "$PY"
require_cmd curl
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
  skip "python3-prometheus-client not installed (run tools/setup.sh)"
PROM=("$PY" "$here/prom.py")

# wait_line FILE SED_EXPR PID: the first output of `sed -n SED_EXPR FILE`, waiting up to 10 s.
wait_line() {
  local i v
  for ((i = 0; i < 200; i++)); do
    v=$(sed -n "$2" "$1" 2>/dev/null | head -n 1)
    [[ -n "$v" ]] && { echo "$v"; return 0; }
    [[ -z "${3:-}" ]] || kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# scrape URL FILE: fetch, check that it parses, and keep its samples in FILE.samples (one a
# line: NAME, then L=V fields, then the value, tab-separated) for val and has.
scrape() {
  curl -sS --fail -o "$2" "$1" || fail "GET $1 failed"
  parsed "$2"
}
parsed() {
  "${PROM[@]}" check "$1" >"$1.families" || fail "$1 does not parse as Prometheus text: $(tail -n 3 "$1")"
  "${PROM[@]}" samples "$1" >"$1.samples" || fail "$1: cannot list its samples"
}
# sum FILE NAME [L=V...]: the sum of the matching samples' values, and their number.
sum() {
  local file=$1 name=$2
  shift 2
  awk -F '\t' -v name="$name" -v want="$*" '
    BEGIN { n = split(want, w, " ") }
    $1 == name {
      for (i = 1; i <= n; i++) { ok = 0; for (j = 2; j < NF; j++) if ($j == w[i]) ok = 1; if (!ok) next }
      s += $NF; c++
    }
    END { printf "%.17g %d\n", s, c }' "$file.samples"
}
val() {  # val FILE NAME [L=V...]: the summed value, 0 when absent
  local r
  r=$(sum "$@")
  awk -v v="${r% *}" 'BEGIN { if (v == int(v)) printf "%d\n", v; else print v }'
}
has() {  # has FILE NAME [L=V...]: the series exists
  local r
  r=$(sum "$@")
  [[ "${r#* }" != 0 ]] || fail "series $2{${*:3}} missing in $1"
}
delta() {  # delta NAME [L=V...]: after - before
  awk -v a="$(val "$AFTER" "$@")" -v b="$(val "$BEFORE" "$@")" 'BEGIN { print a - b }'
}
expect_delta() {  # expect_delta WANT NAME [L=V...]
  local want=$1 got
  shift
  got=$(delta "$@")
  [[ "$got" == "$want" ]] || fail "$1{${*:2}} went up by $got, expected $want"
  log "  $1{${*:2}} +$got"
}
expect_at_least() {  # expect_at_least MIN VALUE WHAT
  awk -v v="$2" -v m="$1" 'BEGIN { exit !(v >= m) }' || fail "$3 is $2, expected >= $1"
  log "  $3 = $2 (>= $1)"
}

# ---- a node and serve on it ----
nport=$(free_port)
"$S3XFS" node --data-dir "$TMP/node" --listen "127.0.0.1:$nport" --log-file "$TMP/node.log" \
  2>>"$TMP/node.err" &
node_pid=$!
at_exit kill "$node_pid"
wait_line "$TMP/node.log" 's|.*TemporalX node listening on ||p' "$node_pid" >/dev/null ||
  fail "node did not start: $(cat "$TMP/node.err" "$TMP/node.log" 2>/dev/null | tail -n 5)"

S3_DATA_DIR=$TMP/data
S3_KEYS=$TMP/s3-keys
S3_ACCESS_KEY=s3xtestkey S3_SECRET_KEY=s3xtestsecret0123456789
printf '%s %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$S3_KEYS"
chmod 600 "$S3_KEYS"
S3_LOG=$TMP/serve.err
LOGF=$TMP/serve.log
"$S3XFS" serve --data-dir "$S3_DATA_DIR" --s3-listen 127.0.0.1:0 --s3-keys "$S3_KEYS" \
  --ipfs "temporalx://127.0.0.1:$nport" --metrics-listen 127.0.0.1:0 --log-file "$LOGF" \
  >>"$S3_LOG" 2>&1 &
S3_PID=$!
S3_HOST=$(wait_line "$LOGF" 's|.* info: S3 listening on http://||p' "$S3_PID") ||
  fail "serve did not start: $(tail -n 5 "$S3_LOG" "$LOGF" 2>/dev/null)"
S3_ENDPOINT=http://$S3_HOST
MHOST=$(wait_line "$LOGF" 's|.* info: metrics listening on http://\([^/]*\)/metrics$|\1|p' "$S3_PID") ||
  fail "no 'metrics listening on' line in $LOGF"
M=http://$MHOST/metrics
log "serve on $S3_ENDPOINT, metrics on $M, node on port $nport"
[[ ! -s "$S3_LOG" ]] || fail "with --log-file nothing goes to stderr, got: $(head -n 3 "$S3_LOG")"

log "the metrics listener: /metrics, HEAD, 404 and 405"
[[ "$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$M")" == "200 text/plain; version=0.0.4; charset=utf-8" ]] ||
  fail "GET /metrics: wrong status or content type"
[[ "$(curl -sS -o /dev/null -w '%{http_code}' -I "$M")" == 200 ]] || fail "HEAD /metrics"
[[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://$MHOST/nope")" == 404 ]] || fail "GET /nope should be 404"
[[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$M")" == 405 ]] || fail "POST /metrics should be 405"

BEFORE=$TMP/before.prom AFTER=$TMP/after.prom
scrape "$M" "$BEFORE"

log "S3 requests"
mkdir -p "$TMP/files"
sizes=(5 1000 65536 300000 1048577)
total=0
[[ "$(s3_curl -o /dev/null -w '%{http_code}' -X PUT "$S3_ENDPOINT/mbucket")" == 200 ]] || fail "CreateBucket mbucket"
# "metrics" is a bucket name like any other on the S3 listener (why metrics have their own port).
[[ "$(s3_curl -o /dev/null -w '%{http_code}' -X PUT "$S3_ENDPOINT/metrics")" == 200 ]] || fail "CreateBucket metrics"
s3_curl "$S3_ENDPOINT/metrics" | grep -q '<ListBucketResult' || fail "GET /metrics on the S3 listener is not the bucket's listing"
for i in "${!sizes[@]}"; do
  chacha "obj$i" "${sizes[$i]}" >"$TMP/files/obj$i"
  [[ "$(s3_curl -o /dev/null -w '%{http_code}' -T "$TMP/files/obj$i" "$S3_ENDPOINT/mbucket/obj$i")" == 200 ]] ||
    fail "PUT obj$i"
  total=$((total + sizes[i]))
done
got_bytes=0
for i in 1 3 4; do
  s3_curl -o "$TMP/files/get$i" "$S3_ENDPOINT/mbucket/obj$i"
  assert_same_file "$TMP/files/get$i" "$TMP/files/obj$i" "GET obj$i"
  got_bytes=$((got_bytes + sizes[i]))
done
[[ "$(s3_curl -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/mbucket/absent" || true)" == 404 ]] || fail "GET absent should be 404"
[[ "$(s3_curl -o /dev/null -w '%{http_code}' -I "$S3_ENDPOINT/mbucket/absent" || true)" == 404 ]] || fail "HEAD absent should be 404"
# A forged signature: 403, and one log line naming its request id.
curl -sS -D "$TMP/forged.h" -o "$TMP/forged.body" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
  --user "$S3_ACCESS_KEY:wrong-secret" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  "$S3_ENDPOINT/mbucket/obj1"
grep -q '^HTTP/1.1 403' "$TMP/forged.h" || fail "forged request: $(head -n 1 "$TMP/forged.h")"
forged_id=$(tr -d '\r' <"$TMP/forged.h" | awk -F': ' 'tolower($1) == "x-amz-request-id" { print $2 }')
[[ -n "$forged_id" ]] || fail "no x-amz-request-id on the 403"
grep -q "<RequestId>$forged_id</RequestId>" "$TMP/forged.body" || fail "the error body names another request id"

log "upload queue drains to the node"
for ((i = 0; ; i++)); do
  scrape "$M" "$AFTER"
  [[ "$(val "$AFTER" s3xfs_upload_queue_blocks)" == 0 && "$(val "$AFTER" s3xfs_local_store_blocks)" != 0 ]] && break
  ((i < 100)) || fail "upload queue not drained after 20 s: $(grep -E '^s3xfs_(upload|remote)' "$AFTER")"
  sleep 0.2
done

log "every series serve exports"
for name in s3xfs_build_info s3xfs_start_time_seconds s3xfs_s3_requests_total \
  s3xfs_s3_request_duration_seconds_count s3xfs_s3_received_bytes_total s3xfs_s3_sent_bytes_total \
  s3xfs_remote_up s3xfs_upload_queue_blocks s3xfs_upload_queue_bytes \
  s3xfs_upload_queue_oldest_age_seconds s3xfs_remote_delete_queue_blocks \
  s3xfs_remote_uploaded_blocks_total s3xfs_remote_uploaded_bytes_total \
  s3xfs_remote_deleted_blocks_total s3xfs_remote_last_upload_timestamp_seconds \
  s3xfs_local_store_blocks s3xfs_local_store_bytes s3xfs_local_cache_hits_total \
  s3xfs_blockstore_operations_total s3xfs_blockstore_read_bytes_total \
  s3xfs_blockstore_written_bytes_total s3xfs_gc_runs_total s3xfs_gc_deleted_blocks_total \
  s3xfs_gc_deleted_bytes_total s3xfs_gc_last_run_timestamp_seconds \
  s3xfs_gc_last_success_timestamp_seconds s3xfs_gc_last_duration_seconds s3xfs_gc_waiting_blocks; do
  has "$AFTER" "$name"
done
for fam in "s3xfs_s3_requests counter" "s3xfs_s3_request_duration_seconds histogram" \
  "s3xfs_upload_queue_blocks gauge" "s3xfs_remote_uploaded_bytes counter" \
  "s3xfs_blockstore_errors counter" "s3xfs_local_cache_misses counter"; do
  grep -qx "$fam" "$AFTER.families" || fail "family '$fam' missing: $(tr '\n' ' ' <"$AFTER.families")"
done
grep -q '^s3xfs_fuse_' "$AFTER" && fail "serve has no mount, but exports FUSE series"
[[ "$(val "$AFTER" s3xfs_build_info version="$("$S3XFS" --version | awk '{print $2}')")" == 1 ]] ||
  fail "s3xfs_build_info does not carry the version"

log "request counts went up by what was sent"
expect_delta 2 s3xfs_s3_requests_total operation=CreateBucket code=200
expect_delta 5 s3xfs_s3_requests_total operation=PutObject code=200
expect_delta 3 s3xfs_s3_requests_total operation=GetObject code=200
expect_delta 1 s3xfs_s3_requests_total operation=GetObject code=404
expect_delta 1 s3xfs_s3_requests_total operation=HeadObject code=404
expect_delta 1 s3xfs_s3_requests_total operation=GetObject code=403
expect_delta 1 s3xfs_s3_requests_total operation=ListObjects code=200
expect_delta 14 s3xfs_s3_requests_total
expect_delta 5 s3xfs_s3_request_duration_seconds_count operation=PutObject
expect_delta 5 s3xfs_s3_request_duration_seconds_bucket operation=PutObject le=+Inf
expect_delta 14 s3xfs_s3_request_duration_seconds_count
expect_delta "$total" s3xfs_s3_received_bytes_total operation=PutObject
expect_at_least "$total" "$(delta s3xfs_s3_received_bytes_total)" "bytes received"
expect_at_least "$got_bytes" "$(delta s3xfs_s3_sent_bytes_total operation=GetObject)" "GetObject bytes sent"
expect_at_least 0.000001 "$(delta s3xfs_s3_request_duration_seconds_sum operation=PutObject)" "PutObject latency sum"

log "block stores, upload queue, cache"
expect_at_least 1 "$(val "$AFTER" s3xfs_remote_up)" "s3xfs_remote_up"
expect_at_least "$total" "$(val "$AFTER" s3xfs_remote_uploaded_bytes_total)" "bytes uploaded to the node"
expect_at_least 6 "$(val "$AFTER" s3xfs_remote_uploaded_blocks_total)" "blocks uploaded to the node"
expect_at_least 1 "$(val "$AFTER" s3xfs_remote_last_upload_timestamp_seconds)" "last upload time"
[[ "$(val "$AFTER" s3xfs_upload_queue_oldest_age_seconds)" == 0 ]] || fail "empty queue with an oldest age"
expect_at_least "$total" "$(val "$AFTER" s3xfs_local_store_bytes)" "local store bytes"
expect_at_least 6 "$(val "$AFTER" s3xfs_local_store_blocks)" "local store blocks"
expect_at_least 3 "$(delta s3xfs_local_cache_hits_total)" "local cache hits"
expect_at_least "$total" "$(val "$AFTER" s3xfs_blockstore_written_bytes_total store=local)" "bytes written to the local store"
expect_at_least "$total" "$(val "$AFTER" s3xfs_blockstore_written_bytes_total store=remote)" "bytes written to the node"
expect_at_least 6 "$(val "$AFTER" s3xfs_blockstore_operations_total store=remote op=put)" "puts to the node"
now=$(date +%s)
start=$(val "$AFTER" s3xfs_start_time_seconds)
awk -v s="$start" -v n="$now" 'BEGIN { exit !(s > n - 600 && s <= n + 1) }' || fail "start time $start is not recent"

log "one log line per failed request, with its request id"
[[ "$(grep -c "id=$forged_id " "$LOGF")" == 1 ]] || fail "expected one line with id=$forged_id in $LOGF: $(cat "$LOGF")"
line=$(grep "id=$forged_id " "$LOGF")
for want in " warning: S3 request failed: " " method=GET " " op=GetObject " " bucket=mbucket " \
  " key=obj1 " " status=403 " " code=SignatureDoesNotMatch " " message="; do
  [[ "$line" == *"$want"* ]] || fail "log line lacks '$want': $line"
done
# access_key names the key a request authenticated as: a forged one authenticated as nobody.
[[ "$line" != *" access_key="* ]] || fail "a forged request logged as authenticated: $line"
# 404s are ordinary answers: logged at debug only.
grep -q 'code=NoSuchKey' "$LOGF" && fail "a 404 was logged at the default level (info)"
bad=$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[-+][0-9:]+ s3xfs\[[0-9]+\] (trace|debug|info|warning|error): ' "$LOGF" || true)
[[ -z "$bad" ]] || fail "log lines not in the file format: $bad"

log "serve stops cleanly and logs it"
s3_stop
grep -q ' info: signal 15, shutting down' "$LOGF" || fail "no shutdown line: $(tail -n 3 "$LOGF")"
kill "$node_pid" && wait "$node_pid" 2>/dev/null || true
grep -q ' info: signal 15, shutting down' "$TMP/node.log" || fail "node did not log its shutdown"

# ---- a mount ----
if [[ ! -e /dev/fuse ]] || ! command -v fusermount3 >/dev/null; then
  log "no /dev/fuse: mount part skipped"
  exit 0
fi
mnt=$TMP/mnt
mkdir -p "$mnt"
MLOG=$TMP/mount.log
"$S3XFS" mount --data-dir "$TMP/mdata" --s3-listen none --metrics-listen 127.0.0.1:0 \
  --log-file "$MLOG" --log-level debug "$mnt" || fail "mount failed: $(tail -n 5 "$MLOG" 2>/dev/null)"
at_exit fusermount3 -u "$mnt"
MHOST=$(wait_line "$MLOG" 's|.* info: metrics listening on http://\([^/]*\)/metrics$|\1|p') ||
  fail "no 'metrics listening on' line in $MLOG"
M=http://$MHOST/metrics
log "mount on $mnt, metrics on $M"
scrape "$M" "$BEFORE"
mkdir "$mnt/fbucket"
# Hold a file open with 1 MiB written: dirty bytes; closed: flushed, 0.
"$PY" - "$mnt/fbucket/held" "$M" "$TMP/held.prom" <<'EOF'
import sys, urllib.request
path, url, out = sys.argv[1:4]
with open(path, "wb") as f:
    f.write(b"x" * (1 << 20))
    f.flush()  # to the kernel (FUSE writes), not yet a FUSE flush: the file stays dirty
    with urllib.request.urlopen(url) as r, open(out, "wb") as o:
        o.write(r.read())
EOF
parsed "$TMP/held.prom"
expect_at_least 1048576 "$(val "$TMP/held.prom" s3xfs_cache_dirty_bytes)" "dirty bytes with the file open"
rmdir "$mnt/fbucket" 2>/dev/null && fail "rmdir of a bucket holding a file succeeded"
scrape "$M" "$AFTER"
[[ "$(val "$AFTER" s3xfs_cache_dirty_bytes)" == 0 ]] || fail "dirty bytes after close: $(val "$AFTER" s3xfs_cache_dirty_bytes)"
expect_delta 1 s3xfs_fuse_requests_total operation=mkdir
expect_delta 1 s3xfs_fuse_requests_total operation=create
expect_at_least 1 "$(delta s3xfs_fuse_requests_total operation=write)" "FUSE writes"
expect_delta 1 s3xfs_fuse_errors_total operation=rmdir errno=ENOTEMPTY
expect_delta 1048576 s3xfs_fuse_written_bytes_total
has "$AFTER" s3xfs_fuse_read_bytes_total
has "$AFTER" s3xfs_cache_dirty_bytes
grep -q '^s3xfs_s3_' "$AFTER" && fail "--s3-listen none, yet S3 series"
grep -q '^s3xfs_remote_up' "$AFTER" && fail "no remote, yet remote series"
fusermount3 -u "$mnt"
for ((i = 0; i < 100; i++)); do
  curl -s -o /dev/null "$M" || break
  sleep 0.1
done
curl -s -o /dev/null "$M" && fail "the metrics listener outlived the unmount"
log "ok ($(elapsed) s)"
