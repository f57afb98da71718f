#!/usr/bin/env bash
# temporalx_e2e: a mount (with its S3 listener) and an S3 daemon using a real `s3xfs node`
# through --ipfs temporalx://. Files written through the mount and over S3 reach the node and
# are readable there by CID (DownloadFile and BS_GET from an independent Python client, and
# `s3xfs cat --ipfs`); the node killed mid-write loses nothing acknowledged: writes complete,
# reads are served locally, `s3xfs status` shows the queue, and everything arrives once the node
# is back; the same after a daemon restart (clean unmount) and a SIGKILLed daemon.
#
# usage: e2e.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cli/lib.sh
source "$here/../cli/lib.sh"
s3xfs_init "$@"
[ -e /dev/fuse ] || skip "no /dev/fuse"
command -v getfattr >/dev/null || skip "getfattr missing"
PY=/usr/bin/python3
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null || skip "python3-grpcio / python3-protobuf missing"

mkdir -p "$TMP/stubs" "$TMP/mnt" "$TMP/files"
run_ok "protoc --python_out" protoc --python_out="$TMP/stubs" -I "$REPO_ROOT/proto" \
  "$REPO_ROOT/proto/temporalx.proto"
nport=$(free_port)
sport=$(free_port)
NODE=temporalx://127.0.0.1:$nport
node_pid=
start_node() {
  "$S3XFS" node --data-dir "$TMP/node" --listen "127.0.0.1:$nport" 2>>"$TMP/node.log" &
  node_pid=$!
  wait_port "$nport"
}
kill_node() { kill -9 "$node_pid"; wait "$node_pid" 2>/dev/null || true; node_pid=; }
mnt=$TMP/mnt
data=$TMP/data
cleanup_all() {
  local rc=$?
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; fi
  if [ -n "${serve_pid:-}" ]; then kill -9 "$serve_pid" 2>/dev/null || true; fi
  (exit "$rc")
  cleanup_tmp
}
trap cleanup_all EXIT
printf '# test keys\nTXKEY tx-secret-key-1\n' > "$TMP/keys"
mount_it() {
  "$S3XFS" mount --data-dir "$data" --ipfs "$NODE" --s3-listen "127.0.0.1:$sport" \
    --s3-keys "$TMP/keys" "$mnt" || fail "mount with --ipfs $NODE failed"
}
s3() { curl -sS --aws-sigv4 aws:amz:us-east-1:s3 --user TXKEY:tx-secret-key-1 \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
pending() { "$S3XFS" status --data-dir "$1" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pending_uploads"])'; }
wait_drained() {  # DATA_DIR SECONDS
  for _ in $(seq 1 $(($2 * 10))); do
    [ "$(pending "$1")" = 0 ] && return 0
    sleep 0.1
  done
  fail "uploads from $1 not drained after $2 s ($(pending "$1") pending)"
}
txget() { "$PY" "$here/txget.py" "$TMP/stubs" "127.0.0.1:$nport" "$@"; }
# Every way of reading a file back from the node must give its bytes.
check_on_node() {  # FILE CID
  txget download "$2" > "$TMP/dl" || fail "DownloadFile $2"
  assert_same_file "$1" "$TMP/dl"
  "$S3XFS" cat --ipfs "$NODE" "$2" > "$TMP/cat" || fail "s3xfs cat --ipfs $2"
  assert_same_file "$1" "$TMP/cat"
  txget block "$2" > /dev/null || fail "BS_GET of root $2"
}
cid_of() { getfattr --absolute-names --only-values -n user.ipfs.cid "$1"; }

log "node and mount up; files written through the mount and over S3 reach the node"
start_node
mount_it
mkdir "$mnt/bkt"
chacha 1 3000000 > "$TMP/files/big"
printf 'small file\n' > "$TMP/files/small"
cp "$TMP/files/big" "$mnt/bkt/big"
cp "$TMP/files/small" "$mnt/bkt/small"
chacha 2 700000 > "$TMP/files/put"
s3 -T "$TMP/files/put" "http://127.0.0.1:$sport/bkt/put" >/dev/null
cid_put=$(s3 -I "http://127.0.0.1:$sport/bkt/put" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-amz-meta-ipfs-cid"{print $2}')
is_cid "$cid_put" || fail "no CID header for the S3 PUT"
wait_drained "$data" 30
check_on_node "$TMP/files/big" "$(cid_of "$mnt/bkt/big")"
check_on_node "$TMP/files/small" "$(cid_of "$mnt/bkt/small")"
check_on_node "$TMP/files/put" "$cid_put"
txget download "$cid_put" 1000 5000 > "$TMP/range"
cmp <(tail -c +1001 "$TMP/files/put" | head -c 4000) "$TMP/range" || fail "ranged DownloadFile"
assert_eq "$("$S3XFS" status --data-dir "$data" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["remote"])')" "$NODE" "status names the remote"

log "the node is killed while files are written: writes complete, reads stay local"
( for i in 1 2 3 4 5 6; do
    chacha "w$i" 2000000 > "$TMP/files/w$i"
    cp "$TMP/files/w$i" "$mnt/bkt/w$i" || exit 1
    sync "$mnt/bkt/w$i"
    sleep 0.3
  done ) &
writer=$!
sleep 0.5
kill_node
wait "$writer" || fail "a write failed while the node was down"
chacha 20 1500000 > "$TMP/files/after"
cp "$TMP/files/after" "$mnt/bkt/after" || fail "write with the node down"
for f in w1 w2 w3 w4 w5 w6 after big; do
  cmp "$TMP/files/$f" "$mnt/bkt/$f" || fail "cached read of $f with the node down"
done
s3 "http://127.0.0.1:$sport/bkt/after" -o "$TMP/get" && assert_same_file "$TMP/files/after" "$TMP/get"
p=$(pending "$data")
[ "$p" -gt 0 ] || fail "status shows no pending uploads while the node is down"
log "  $p blocks pending"

log "an uncached read with the node down fails clearly after a bounded wait"
t0=$(date +%s)
if "$S3XFS" cat --ipfs "$NODE" "$(cid_of "$mnt/bkt/after")" > /dev/null 2>"$TMP/cat.err"; then
  fail "cat from a dead node succeeded"
fi
t1=$(date +%s)
[ $((t1 - t0)) -le 30 ] || fail "cat from a dead node took $((t1 - t0)) s"
grep -qi "unavailable\|connect\|temporalx" "$TMP/cat.err" || fail "unclear error: $(cat "$TMP/cat.err")"
log "  failed after $((t1 - t0)) s: $(head -c 300 "$TMP/cat.err")"

log "the node is back: every block arrives and the CIDs check out"
start_node
wait_drained "$data" 60
for f in w1 w2 w3 w4 w5 w6 after; do check_on_node "$TMP/files/$f" "$(cid_of "$mnt/bkt/$f")"; done

log "daemon restarted (clean unmount) with uploads pending: they resume"
kill_node
chacha 30 1200000 > "$TMP/files/r1"
cp "$TMP/files/r1" "$mnt/bkt/r1"
cid_r1=$(cid_of "$mnt/bkt/r1")
fusermount3 -u "$mnt"
[ "$(pending "$data")" -gt 0 ] || fail "nothing pending after the unmount"
start_node
sleep 1
[ "$(pending "$data")" -gt 0 ] || fail "uploads happened without a daemon"
mount_it
wait_drained "$data" 60
check_on_node "$TMP/files/r1" "$cid_r1"
fusermount3 -u "$mnt"

log "an S3 daemon SIGKILLed with uploads pending: its restart uploads them"
kill_node
sdata=$TMP/sdata
sport2=$(free_port)
"$S3XFS" serve --data-dir "$sdata" --ipfs "$NODE" --s3-listen "127.0.0.1:$sport2" \
  --s3-keys "$TMP/keys" 2>>"$TMP/serve.log" &
serve_pid=$!
wait_port "$sport2"
s3 -X PUT "http://127.0.0.1:$sport2/sbkt" >/dev/null
chacha 40 900000 > "$TMP/files/s1"
s3 -T "$TMP/files/s1" "http://127.0.0.1:$sport2/sbkt/s1" >/dev/null
cid_s1=$(s3 -I "http://127.0.0.1:$sport2/sbkt/s1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-amz-meta-ipfs-cid"{print $2}')
kill -9 "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
[ "$(pending "$sdata")" -gt 0 ] || fail "nothing pending after the SIGKILL"
start_node
"$S3XFS" serve --data-dir "$sdata" --ipfs "$NODE" --s3-listen "127.0.0.1:$sport2" \
  --s3-keys "$TMP/keys" 2>>"$TMP/serve.log" &
serve_pid=$!
wait_port "$sport2"
wait_drained "$sdata" 60
check_on_node "$TMP/files/s1" "$cid_s1"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
serve_pid=

log "temporalxs://: the client talks TLS to a node whose CA it is given, and only then"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
tport=$(free_port)
"$S3XFS" node --data-dir "$TMP/tlsnode" --listen "127.0.0.1:$tport" --tls-cert "$TMP/cert.pem" \
  --tls-key "$TMP/key.pem" 2>>"$TMP/node.log" &
tls_pid=$!
wait_port "$tport"
cid_tls=$("$S3XFS" add --ipfs "temporalxs://localhost:$tport" --ipfs-tls-ca "$TMP/cert.pem" \
  "$TMP/files/s1") || fail "add over TLS"
assert_eq "$cid_tls" "$("$S3XFS" add --only-hash "$TMP/files/s1")" "CID of add over TLS"
"$S3XFS" cat --ipfs "temporalxs://localhost:$tport" --ipfs-tls-ca "$TMP/cert.pem" "$cid_tls" > "$TMP/tls.out"
assert_same_file "$TMP/files/s1" "$TMP/tls.out"
"$S3XFS" cat --ipfs "temporalx://localhost:$tport" "$cid_tls" > /dev/null 2>&1 &&
  fail "plain gRPC to a TLS node succeeded"
"$S3XFS" cat --ipfs "temporalxs://localhost:$tport" "$cid_tls" > /dev/null 2>&1 &&
  fail "TLS to a node whose certificate no trusted CA signed succeeded"
kill "$tls_pid"; wait "$tls_pid" 2>/dev/null || true
log "PASS"
