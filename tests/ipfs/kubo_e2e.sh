#!/usr/bin/env bash
# kubo_e2e: a mount (with its S3 listener) on --ipfs kubo:// against a real IPFS node speaking
# the Kubo RPC API (js-ipfs 0.66, offline on loopback; tests/ipfs/lib.sh). Checked through the
# node itself (its HTTP API and its own CLI, an independent UnixFS reader):
#  - files written through the mount and over S3 come back from the node by the CID of their
#    user.ipfs.cid xattr, once `s3xfs status` shows nothing left to upload or pin;
#  - the node holds exactly one recursive pin per object root: an overwrite moves it (the old
#    root is no longer pinned), a delete removes it;
#  - the node killed while files are written: writes and cached reads go on, status shows the
#    queue, an uncached read fails clearly after a bounded wait; the node back (same repo and
#    port): the queue drains and the pins appear; the same across a daemon restart;
#  - `s3xfs add --ipfs kubo://` stores and pins a DAG, `s3xfs cat --ipfs kubo://` reads it.
#
# usage: kubo_e2e.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cli/lib.sh
source "$here/../cli/lib.sh"
s3xfs_init "$@"
# shellcheck source=lib.sh
source "$here/lib.sh"
[ -e /dev/fuse ] || skip "no /dev/fuse"
command -v getfattr >/dev/null || skip "getfattr missing"
require_jsipfs
PY=/usr/bin/python3
T_START=$(date +%s)

mnt=$TMP/mnt
data=$TMP/data
mkdir -p "$mnt" "$TMP/files"
# (No status games: a failing command here would end the EXIT trap early under errexit.)
cleanup_all() {
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  cleanup_tmp || true
}
trap cleanup_all EXIT
start_jsipfs "$TMP/ipfs"  # (chains jsipfs_cleanup in front of cleanup_all)
NODE=kubo://127.0.0.1:$JSIPFS_PORT
log "js-ipfs up at $NODE after $(($(date +%s) - T_START)) s"
sport=$(free_port)
printf '# test keys\nKUBOKEY kubo-secret-key-1\n' > "$TMP/keys"
mount_it() {
  "$S3XFS" mount --data-dir "$data" --ipfs "$NODE" --s3-listen "127.0.0.1:$sport" \
    --s3-keys "$TMP/keys" "$mnt" || fail "mount with --ipfs $NODE failed"
}
s3() { curl -sS --fail --aws-sigv4 aws:amz:us-east-1:s3 --user KUBOKEY:kubo-secret-key-1 \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
s3_cid() { s3 -I "http://127.0.0.1:$sport/$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-amz-meta-ipfs-cid"{print $2}'; }
cid_of() { getfattr --absolute-names --only-values -n user.ipfs.cid "$1"; }
status_json() { "$S3XFS" status --data-dir "$data" --json; }
# Nothing left to upload, pin or unpin.
pending() {
  status_json | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(j["pending_uploads"], j.get("pending_pins"), j.get("pending_unpins"))'
}
wait_settled() {  # SECONDS
  local p
  for _ in $(seq 1 $(($1 * 10))); do
    p=$(pending)
    [ "$p" = "0 0 0" ] && return 0
    sleep 0.1
  done
  fail "not settled after $1 s (uploads, pins, unpins pending: $p)"
}
# The node returns the file's bytes by its CID (the node's own UnixFS reader, over its API).
check_on_node() {  # FILE CID
  curl -sS --fail -X POST "$JSIPFS_API/cat?arg=$2" -o "$TMP/dl" || fail "js-ipfs cat $2"
  assert_same_file "$TMP/dl" "$1" "js-ipfs cat $2"
}
# The node's recursive pins are exactly the given roots (sorted, one a line).
check_pins() {  # ROOT...
  local want got
  want=$(printf '%s\n' "$@" | sort -u)
  got=$(jsipfs_recursive_pins | sort -u)
  [ "$got" = "$want" ] || fail "recursive pins on the node: got [$(echo $got)], expected [$(echo $want)]"
}

log "files written through the mount and over S3 reach the node, one pin per root"
mount_it
mkdir "$mnt/bkt"
chacha 1 3000000 > "$TMP/files/big"
printf 'small file\n' > "$TMP/files/small"
chacha 2 700000 > "$TMP/files/mid"
cp "$TMP/files/big" "$mnt/bkt/big"
cp "$TMP/files/small" "$mnt/bkt/small"
mkdir "$mnt/bkt/dir"
cp "$TMP/files/mid" "$mnt/bkt/dir/mid"
cp "$TMP/files/mid" "$mnt/bkt/mid-copy"  # same content, same root: still one pin
chacha 3 900000 > "$TMP/files/put"
s3 -T "$TMP/files/put" "http://127.0.0.1:$sport/bkt/put" >/dev/null
cid_put=$(s3_cid bkt/put)
is_cid "$cid_put" || fail "no CID header for the S3 PUT"
t0=$(date +%s%N)
wait_settled 60
log "  settled $((($(date +%s%N) - t0) / 1000000)) ms after the last write"
cid_big=$(cid_of "$mnt/bkt/big"); cid_small=$(cid_of "$mnt/bkt/small"); cid_mid=$(cid_of "$mnt/bkt/dir/mid")
assert_eq "$(cid_of "$mnt/bkt/mid-copy")" "$cid_mid" "the copy's root"
check_on_node "$TMP/files/big" "$cid_big"
check_on_node "$TMP/files/small" "$cid_small"
check_on_node "$TMP/files/mid" "$cid_mid"
check_on_node "$TMP/files/put" "$cid_put"
# Once through the js-ipfs command line too (an independent client of its own).
jsipfs_cli cat "$cid_big" > "$TMP/cli" || fail "jsipfs cat $cid_big"
assert_same_file "$TMP/cli" "$TMP/files/big" "jsipfs cat (CLI) of big"
jsipfs_cli pin ls --type recursive --cid-base base32 > "$TMP/cli-pins" || fail "jsipfs pin ls"
for c in "$cid_big" "$cid_small" "$cid_mid" "$cid_put"; do
  grep -qx "$c recursive" "$TMP/cli-pins" || fail "jsipfs pin ls does not show $c recursive: $(cat "$TMP/cli-pins")"
done
check_pins "$cid_big" "$cid_small" "$cid_mid" "$cid_put"
st=$(status_json)
assert_eq "$(echo "$st" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(j["remote"], j["remote_pins_roots"], j["pinned_roots"])')" \
  "$NODE True 4" "status: remote, pins_roots, roots pinned"
grep -q '^pending pins: *0 roots to pin, 0 to unpin' <<<"$("$S3XFS" status --data-dir "$data")" ||
  fail "status text has no pending pins line: $("$S3XFS" status --data-dir "$data")"

log "an overwrite moves the pin; a delete removes it"
chacha 4 1200000 > "$TMP/files/big2"
cp "$TMP/files/big2" "$mnt/bkt/big"
chacha 5 800000 > "$TMP/files/put2"
s3 -T "$TMP/files/put2" "http://127.0.0.1:$sport/bkt/put" >/dev/null
rm "$mnt/bkt/small"
rm "$mnt/bkt/mid-copy"  # the other key keeps the shared root pinned
wait_settled 60
cid_big2=$(cid_of "$mnt/bkt/big")
cid_put2=$(s3_cid bkt/put)
[ "$cid_big2" != "$cid_big" ] || fail "overwrite kept the root"
check_on_node "$TMP/files/big2" "$cid_big2"
check_on_node "$TMP/files/put2" "$cid_put2"
check_pins "$cid_big2" "$cid_mid" "$cid_put2"

log "the node is killed while files are written: writes and cached reads go on"
( for i in 1 2 3 4; do
    chacha "w$i" 1500000 > "$TMP/files/w$i"
    cp "$TMP/files/w$i" "$mnt/bkt/w$i" || exit 1
    sync "$mnt/bkt/w$i"
    sleep 0.3
  done ) &
writer=$!
sleep 0.4
kill_jsipfs
wait "$writer" || fail "a write failed while the node was down"
chacha 20 1000000 > "$TMP/files/after"
cp "$TMP/files/after" "$mnt/bkt/after" || fail "write with the node down"
chacha 21 600000 > "$TMP/files/big3"
cp "$TMP/files/big3" "$mnt/bkt/big" || fail "overwrite with the node down"
for f in w1 w2 w3 w4 after; do
  cmp "$TMP/files/$f" "$mnt/bkt/$f" || fail "cached read of $f with the node down"
done
cmp "$TMP/files/big3" "$mnt/bkt/big" || fail "cached read of big with the node down"
s3 "http://127.0.0.1:$sport/bkt/after" -o "$TMP/get" && assert_same_file "$TMP/get" "$TMP/files/after" "S3 GET with the node down"
read -r up pins unpins <<<"$(pending)"
[ "$up" -gt 0 ] && [ "$pins" -gt 0 ] || fail "status shows nothing pending while the node is down ($up uploads, $pins pins)"
log "  pending with the node down: $up uploads, $pins pins, $unpins unpins"
grep -q 'back end:.*FAILING' <<<"$("$S3XFS" status --data-dir "$data")" ||
  sleep 6  # the health check runs every 5 s when idle
grep -q 'back end:.*FAILING' <<<"$("$S3XFS" status --data-dir "$data")" ||
  fail "status does not show the node failing: $("$S3XFS" status --data-dir "$data")"

log "an uncached read with the node down fails clearly after a bounded wait"
t0=$(date +%s)
if "$S3XFS" cat --ipfs "$NODE" "$(cid_of "$mnt/bkt/after")" > /dev/null 2>"$TMP/cat.err"; then
  fail "cat from a dead node succeeded"
fi
t1=$(date +%s)
[ $((t1 - t0)) -le 30 ] || fail "cat from a dead node took $((t1 - t0)) s"
grep -qi "connect\|unavailable\|kubo" "$TMP/cat.err" || fail "unclear error: $(cat "$TMP/cat.err")"
log "  failed after $((t1 - t0)) s: $(head -c 300 "$TMP/cat.err")"

log "the node is back (same repo, same port): the queue drains and the pins appear"
start_jsipfs "$TMP/ipfs"
wait_settled 90
declare -A cids
for f in w1 w2 w3 w4 after big; do
  cids[$f]=$(cid_of "$mnt/bkt/$f")
done
for f in w1 w2 w3 w4 after; do check_on_node "$TMP/files/$f" "${cids[$f]}"; done
check_on_node "$TMP/files/big3" "${cids[big]}"
check_pins "${cids[w1]}" "${cids[w2]}" "${cids[w3]}" "${cids[w4]}" "${cids[after]}" "${cids[big]}" \
  "$cid_mid" "$cid_put2"

log "daemon restarted (clean unmount) with uploads and pins pending: they resume"
kill_jsipfs
chacha 30 1100000 > "$TMP/files/r1"
cp "$TMP/files/r1" "$mnt/bkt/r1"
cid_r1=$(cid_of "$mnt/bkt/r1")
rm "$mnt/bkt/w1"
fusermount3 -u "$mnt"
read -r up pins unpins <<<"$(pending)"
[ "$up" -gt 0 ] && [ "$pins" -gt 0 ] && [ "$unpins" -gt 0 ] ||
  fail "after the unmount: $up uploads, $pins pins, $unpins unpins pending (expected all > 0)"
start_jsipfs "$TMP/ipfs"
mount_it
wait_settled 90
check_on_node "$TMP/files/r1" "$cid_r1"
check_pins "${cids[w2]}" "${cids[w3]}" "${cids[w4]}" "${cids[after]}" "${cids[big]}" \
  "$cid_mid" "$cid_put2" "$cid_r1"
fusermount3 -u "$mnt"

log "s3xfs add --ipfs kubo:// stores and pins; s3xfs cat --ipfs kubo:// reads back"
chacha 40 2000000 > "$TMP/files/added"
cid_add=$("$S3XFS" add --ipfs "$NODE" "$TMP/files/added") || fail "add --ipfs $NODE"
assert_eq "$cid_add" "$("$S3XFS" add --only-hash "$TMP/files/added")" "CID of add --ipfs kubo://"
"$S3XFS" cat --ipfs "$NODE" "$cid_add" > "$TMP/cat.out" || fail "cat --ipfs $NODE"
assert_same_file "$TMP/cat.out" "$TMP/files/added" "s3xfs cat --ipfs kubo://"
"$S3XFS" cat --ipfs "$NODE" --offset 1000 --length 5000 "$cid_add" > "$TMP/range"
cmp <(tail -c +1001 "$TMP/files/added" | head -c 5000) "$TMP/range" || fail "ranged cat --ipfs kubo://"
check_on_node "$TMP/files/added" "$cid_add"
grep -qx "$cid_add" <<<"$(jsipfs_recursive_pins)" || fail "add --ipfs kubo:// did not pin $cid_add"
chacha 41 1000 > "$TMP/files/never-stored"
cid_missing=$("$S3XFS" add --only-hash "$TMP/files/never-stored")
expect_fail "cat of a block the node does not have" "$S3XFS" cat --ipfs "$NODE" "$cid_missing"
grep -q "not on the node" <<<"$FAIL_STDERR" || fail "missing block not reported as such: $FAIL_STDERR"
expect_fail "--ipfs kubo:// without a port" "$S3XFS" cat --ipfs kubo://localhost "$cid_add"

log "PASS ($(($(date +%s) - T_START)) s)"
