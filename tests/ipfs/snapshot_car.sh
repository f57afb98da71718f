#!/usr/bin/env bash
# A bucket's snapshot, exported as a CAR, imported into a real IPFS node (js-ipfs 0.66, offline
# on loopback): `jsipfs cat TREE/path` returns every file byte for byte (nested directories, a
# multi-chunk file, a 5000-entry HAMT directory), the node lists the tree, and the manifest's
# meta.jsonl is readable through the node too. The CIDs are also checked against the reference
# importer. usage: snapshot_car.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cli/lib.sh
source "$here/../cli/lib.sh"
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
require_node
require_jsipfs

T=$TMP/tree
mkdir -p "$T/docs/deep/er" "$T/big" "$T/empty"
printf 'hello world' > "$T/hello.txt"
chacha snapcar-multi 1500000 > "$T/docs/deep/er/multi-chunk"
chacha snapcar-small 1000 > "$T/docs/small.bin"
: > "$T/docs/empty-file"
(cd "$T/big" && for i in $(seq 1 5000); do printf 'entry %s\n' "$i" > "entry-$i.txt"; done)
data=$TMP/data

log "a bucket with the tree (add -r, then restore into a bucket), then its snapshot"
added=$("$S3XFS" add -r --data-dir "$data" "$T")
run_ok "restore into a bucket" "$S3XFS" restore --data-dir "$data" "$added" photos >/dev/null
json=$("$S3XFS" snapshot --json --data-dir "$data" photos)
tree=$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tree"])')
manifest=$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"])')
assert_eq "$tree" "$(ref_add --dir "$T")" "snapshot tree vs the reference importer"
"$S3XFS" export-car --data-dir "$data" "$tree" > "$TMP/snap.car" 2>/dev/null

log "js-ipfs imports the CAR"
mkdir -p "$TMP/ipfs"
start_jsipfs "$TMP/ipfs"
# (over the node's HTTP RPC API, what `ipfs dag import` and `ipfs cat` send)
curl -sS --fail-with-body -X POST -F "file=@$TMP/snap.car" "$JSIPFS_API/dag/import" > "$TMP/import.out" 2>&1 ||
  fail "dag import: $(cat "$TMP/import.out")"
jsipfs_recursive_pins > "$TMP/pins" || fail "pin ls"
grep -q "$tree" "$TMP/pins" || fail "the tree is not pinned after dag import: $(cat "$TMP/pins")"
grep -q "$manifest" "$TMP/pins" || fail "the manifest is not pinned after dag import: $(cat "$TMP/pins")"

log "cat through the node returns each file"
check_cat() {  # relative path
  jsipfs_rpc cat "arg=/ipfs/$tree/$1" > "$TMP/got" || fail "jsipfs cat $1"
  cmp -s "$T/$1" "$TMP/got" || fail "jsipfs cat $1: bytes differ"
}
for f in hello.txt docs/deep/er/multi-chunk docs/small.bin docs/empty-file big/entry-1.txt \
         big/entry-2500.txt big/entry-5000.txt; do
  check_cat "$f"
done
log "every entry of the HAMT directory, listed by the node"
names() {  # the entry names of an `ls` reply (JSON, one object per line or one object)
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin.read().splitlines():
    if line.strip():
        for o in json.loads(line).get("Objects", []):
            for l in o.get("Links", []):
                print(l["Name"])' | LC_ALL=C sort
}
jsipfs_rpc ls "arg=/ipfs/$tree/big" | names > "$TMP/ls" || fail "jsipfs ls big"
assert_eq "$(wc -l < "$TMP/ls")" 5000 "entries js-ipfs lists in big/"
assert_eq "$(md5sum < "$TMP/ls")" "$(ls "$T/big" | LC_ALL=C sort | md5sum)" "names js-ipfs lists in big/"
jsipfs_rpc ls "arg=/ipfs/$tree" | names > "$TMP/ls-top" || fail "jsipfs ls tree"
assert_eq "$(tr '\n' ' ' < "$TMP/ls-top")" "big docs empty hello.txt " "top-level entries"

log "the manifest's metadata through the node"
jsipfs_rpc cat "arg=/ipfs/$manifest/meta.jsonl" > "$TMP/meta.jsonl" || fail "cat meta.jsonl"
head -1 "$TMP/meta.jsonl" | grep -q '"s3xfs_snapshot":1' || fail "meta.jsonl header: $(head -1 "$TMP/meta.jsonl")"
grep -q '"key":"docs/deep/er/multi-chunk"' "$TMP/meta.jsonl" || fail "meta.jsonl lacks multi-chunk"
jsipfs_rpc cat "arg=/ipfs/$manifest/tree/hello.txt" > "$TMP/got" && cmp -s "$T/hello.txt" "$TMP/got" ||
  fail "manifest/tree/hello.txt through the node"
log "PASS"
