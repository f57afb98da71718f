#!/usr/bin/env bash
# Kubo back end benchmark against js-ipfs 0.66 (tools/jsipfs, offline on loopback), in one run:
#  1. `s3xfs add --ipfs kubo://` of SIZE bytes (blocks over block/put, then the root pinned)
#     against the node's own `add` of the same file over its API (its importer, same DAG:
#     cid-version=1, raw leaves, pinned) — the ratio of the two rates (target >= 0.5: the node's
#     block store bounds both);
#  2. a mount on --ipfs kubo://: cp of the file (acknowledged locally), then how long until
#     `s3xfs status` shows nothing to upload or pin, and the rate that implies.
# Usage: tools/bench/kubo.sh [/path/to/s3xfs]   Env: S3XFS_BENCH_MB (default 128)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
S3XFS=${1:-${S3XFS:-$root/build/s3xfs}}
MB=${S3XFS_BENCH_MB:-128}
# shellcheck source=../../tests/cli/lib.sh
source "$root/tests/cli/lib.sh"
s3xfs_init "$S3XFS"
# shellcheck source=../../tests/ipfs/lib.sh
source "$root/tests/ipfs/lib.sh"
require_jsipfs
# (No status games: a failing command here would end the EXIT trap early under errexit.)
cleanup_all() {
  fusermount3 -u "$TMP/mnt" 2>/dev/null || true
  cleanup_tmp || true
}
trap cleanup_all EXIT
start_jsipfs "$TMP/ipfs"
NODE=kubo://127.0.0.1:$JSIPFS_PORT
chacha bench $((MB << 20)) > "$TMP/file"
secs() { /usr/bin/python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.2f}')" "$@"; }
rate() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$MB" "$1"; }

t0=$(now_ns)
cid=$("$S3XFS" add --ipfs "$NODE" "$TMP/file")
t1=$(now_ns)
ours=$(secs "$t0" "$t1")
t0=$(now_ns)
peer_cid=$(curl -sS --fail -X POST -F "file=@$TMP/file" \
  "$JSIPFS_API/add?cid-version=1&raw-leaves=true&pin=true&quieter=true&cid-base=base32" |
  /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["Hash"])')
t1=$(now_ns)
peer=$(secs "$t0" "$t1")
[ "$cid" = "$peer_cid" ] || fail "CIDs differ: s3xfs $cid, js-ipfs $peer_cid"
echo "add ${MB} MiB: s3xfs add --ipfs kubo:// ${ours} s ($(rate "$ours") MiB/s), js-ipfs add over its API ${peer} s ($(rate "$peer") MiB/s); ratio $(/usr/bin/python3 -c "print(f'{$peer / $ours:.2f}')") (same CID)"

mkdir -p "$TMP/mnt"
"$S3XFS" mount --data-dir "$TMP/data" --s3-listen none --ipfs "$NODE" "$TMP/mnt"
mkdir "$TMP/mnt/bench"
chacha bench2 $((MB << 20)) > "$TMP/file2"
t0=$(now_ns)
cp "$TMP/file2" "$TMP/mnt/bench/f"
sync "$TMP/mnt/bench/f"
t1=$(now_ns)
for _ in $(seq 1 6000); do
  p=$("$S3XFS" status --data-dir "$TMP/data" --json |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["pending_uploads"] + j["pending_pins"])')
  [ "$p" = 0 ] && break
  sleep 0.1
done
[ "$p" = 0 ] || fail "queue not drained"
t2=$(now_ns)
echo "mount: cp+fsync ${MB} MiB $(secs "$t0" "$t1") s; uploaded and pinned $(secs "$t1" "$t2") s later ($(rate "$(secs "$t0" "$t2")") MiB/s end to end)"
