#!/usr/bin/env bash
# Bucket snapshots and restore, on a real mount with its S3 listener:
#  - the snapshot's root CID equals the reference importer's (ipfs-unixfs-importer with
#    `ipfs add -r --cid-version=1` settings) for a nested tree, a 5000-entry directory (HAMT)
#    and a prefix;
#  - with POSIX metadata (modes, owners, times, xattrs, hard links, a fifo) and S3 metadata
#    (Content-Type, x-amz-meta-*, a multipart ETag, a key that cannot be a path), the ledger is
#    deleted and `s3xfs restore` brings back listings, bytes, ETags and metadata: by the tree's
#    CID (snapshot index) and, with the index gone too, by the manifest's CID;
#  - a plain `s3xfs add -r` tree restores as a bucket (ETags computed from the content);
#  - export-car of a snapshot carries its metadata; ipfs-car unpacks its tree; import-car into
#    another data directory and restore there;
#  - errors: a non-empty bucket, a file CID, a missing block.
# usage: snapshot.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
require_node
[ -e /dev/fuse ] || skip "no /dev/fuse"
command -v getfattr >/dev/null || skip "getfattr missing (attr)"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip "python3-boto3 missing"

T=$TMP/tree
mkdir -p "$T/a/b/c" "$T/empty-dir" "$T/big"
printf 'hello world' > "$T/hello.txt"
: > "$T/a/empty-file"
chacha snap-big 1000000 > "$T/a/b/c/multi-chunk"
printf 'x' > "$T/a/b/one"
ln -s ../hello.txt "$T/a/link"
# 5000 names of 14-16 bytes: about 5000 * (15 + 36) bytes of links > 262144 -> HAMT.
(cd "$T/big" && for i in $(seq 1 5000); do printf '%s' "$i" > "entry-$i.txt"; done)

data=$TMP/data mnt=$TMP/mnt
mkdir -p "$mnt"
port=$(free_port)
printf 'SNAPKEY snapshot-secret-1\n' > "$TMP/keys"
mounted=0
do_mount() {
  "$S3XFS" mount --data-dir "$data" --s3-listen "127.0.0.1:$port" --s3-keys "$TMP/keys" "$mnt" ||
    fail "mount"
  mounted=1
  wait_port "$port"
}
do_umount() {
  fusermount3 -u "$mnt" || fail "unmount"
  # the daemon exits after the unmount: wait for its admin socket to go
  for _ in $(seq 1 100); do [ -e "$data/admin.sock" ] || break; sleep 0.1; done
  mounted=0
}
trap 'st=$?; set +e; if ((mounted)); then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null; fi; (exit $st); cleanup_tmp' EXIT
s3state() { /usr/bin/python3 "$here/s3_state.py" "http://127.0.0.1:$port" SNAPKEY snapshot-secret-1 "$@"; }
# Everything the mount shows of a bucket: type, mode, owner, size, mtime, link count (atime
# aside: reading changes it), then every xattr.
posix_state() {
  (cd "$mnt/$1" && find . -printf '%p %y %m %U %G %s %T@ %n %l\n' | LC_ALL=C sort)
  (cd "$mnt/$1" && getfattr -R -d -m 'user\.' . 2>/dev/null)
}

do_mount
mkdir "$mnt/snap"
cp -a "$T/." "$mnt/snap/"

log "snapshot root CIDs equal the reference importer's (tree, 5000-entry HAMT directory, prefix)"
assert_eq "$("$S3XFS" snapshot --data-dir "$data" snap)" "$(ref_add --dir "$T")" "whole bucket"
assert_eq "$("$S3XFS" snapshot --data-dir "$data" snap big)" "$(ref_add --dir "$T/big")" "prefix big (HAMT)"
assert_eq "$("$S3XFS" snapshot --data-dir "$data" snap a/b/)" "$(ref_add --dir "$T/a/b")" "prefix a/b/"

log "POSIX and S3 metadata, then a snapshot with it"
setfattr -n user.colour -v green "$mnt/snap/hello.txt"
chmod 0640 "$mnt/snap/a/b/one"
chown 1234:5678 "$mnt/snap/a/b/one"
touch -d '2001-02-03 04:05:06.789' "$mnt/snap/a/empty-file"
ln "$mnt/snap/hello.txt" "$mnt/snap/hard-link"
mkfifo "$mnt/snap/a/fifo"
chmod 0700 "$mnt/snap/empty-dir"
touch -d '2002-03-04 05:06:07' "$mnt/snap/empty-dir"
s3state put snap
json=$("$S3XFS" snapshot --json --data-dir "$data" snap)
tree=$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tree"])')
manifest=$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"])')
is_cid "$tree" && is_cid "$manifest" || fail "snapshot --json: $json"
printf '%s' "$json" | grep -q '"unpathable":1' || fail "the key s3/odd//name is not counted as unpathable: $json"
posix_state snap > "$TMP/posix.before"
s3state dump snap > "$TMP/s3.before"
grep '"key": "s3/multipart.bin"' "$TMP/s3.before" | grep -q -- '-3\\"' || fail "multipart ETag missing: $(cat "$TMP/s3.before")"
do_umount

log "ledger deleted: restore by the tree's CID (the snapshot index finds the metadata)"
rm -f "$data"/ledger.db*
rm -rf "$data/cache"
run_ok "restore by tree" "$S3XFS" restore --data-dir "$data" "$tree" snap > "$TMP/restore.out"
grep -q "metadata from $manifest" "$TMP/restore.out" || fail "restore did not use the manifest: $(cat "$TMP/restore.out")"
do_mount
posix_state snap > "$TMP/posix.after"
s3state dump snap > "$TMP/s3.after"
diff "$TMP/posix.before" "$TMP/posix.after" || fail "POSIX view differs after restore"
diff "$TMP/s3.before" "$TMP/s3.after" || fail "S3 view differs after restore"
diff -r "$T/a/b" "$mnt/snap/a/b" || fail "bytes differ after restore"
diff -r "$T/big" "$mnt/snap/big" || fail "big/ differs after restore"
[ "$(stat -c %i "$mnt/snap/hello.txt")" = "$(stat -c %i "$mnt/snap/hard-link")" ] || fail "hard link not restored"
[ -p "$mnt/snap/a/fifo" ] || fail "fifo not restored"
[ "$("$S3XFS" snapshot --data-dir "$data" snap 2>/dev/null)" = "$tree" ] || fail "snapshot after restore has another tree"
do_umount

log "ledger and snapshot index deleted: restore by the manifest's CID"
rm -f "$data"/ledger.db* "$data/snapshots"
run_ok "restore by manifest" "$S3XFS" restore --data-dir "$data" "$manifest" snap > "$TMP/restore.out"
do_mount
posix_state snap > "$TMP/posix.after2"
s3state dump snap > "$TMP/s3.after2"
diff "$TMP/posix.before" "$TMP/posix.after2" || fail "POSIX view differs after restore by manifest"
diff "$TMP/s3.before" "$TMP/s3.after2" || fail "S3 view differs after restore by manifest"

log "a plain UnixFS tree (s3xfs add -r) restores as a bucket, ETags from the content"
plain=$("$S3XFS" add -r --data-dir "$data" "$T/a")
run_ok "restore plain tree" "$S3XFS" restore --data-dir "$data" "$plain" plain > "$TMP/restore.out"
grep -q 'no metadata' "$TMP/restore.out" || fail "plain tree restore: $(cat "$TMP/restore.out")"
diff -r --no-dereference "$T/a" "$mnt/plain" || fail "plain tree restored differently"
etag=$(s3state dump plain | grep '"key": "b/c/multi-chunk"' | sed 's/.*"etag": "\\"\([0-9a-f]*\)\\"".*/\1/')
assert_eq "$etag" "$(md5sum < "$T/a/b/c/multi-chunk" | cut -d' ' -f1)" "ETag of a restored plain file"

log "errors: a non-empty bucket, a file CID, a block that is not there"
expect_fail "restore into a non-empty bucket" "$S3XFS" restore --data-dir "$data" "$tree" snap
file_cid=$(getfattr --only-values -n user.ipfs.cid "$mnt/snap/a/b/c/multi-chunk")
expect_fail "restore of a file" "$S3XFS" restore --data-dir "$data" "$file_cid" other-bucket
expect_fail "restore of a missing DAG" "$S3XFS" restore --data-dir "$data" \
  bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi missing-bucket
expect_fail "snapshot of a missing bucket" "$S3XFS" snapshot --data-dir "$data" no-such-bucket
do_umount

log "export-car of the snapshot carries the manifest; ipfs-car unpacks the tree"
"$S3XFS" export-car --data-dir "$data" "$tree" > "$TMP/snap.car" 2> "$TMP/export.err"
grep -q "$manifest" "$TMP/export.err" || fail "export-car did not add the manifest: $(cat "$TMP/export.err")"
ipfs_car roots "$TMP/snap.car" > "$TMP/roots" || fail "ipfs-car roots"
grep -q "$tree" "$TMP/roots" && grep -q "$manifest" "$TMP/roots" || fail "CAR roots: $(cat "$TMP/roots")"
run_ok "ipfs-car unpack" ipfs_car unpack "$TMP/snap.car" --root "$tree" --output "$TMP/unpacked"
diff -r "$T/a/b" "$TMP/unpacked/a/b" || fail "unpacked a/b differs"
diff -r "$T/big" "$TMP/unpacked/big" || fail "unpacked big/ differs"

log "import-car into a new data directory, restore there by the tree's CID"
run_ok "import-car" "$S3XFS" import-car --data-dir "$TMP/data2" "$TMP/snap.car" > /dev/null
run_ok "restore after import" "$S3XFS" restore --data-dir "$TMP/data2" "$tree" moved > "$TMP/restore.out"
grep -q "metadata from $manifest" "$TMP/restore.out" || fail "import-car did not index the snapshot"
data=$TMP/data2
do_mount
s3state dump moved > "$TMP/s3.moved"
diff "$TMP/s3.before" "$TMP/s3.moved" || fail "S3 view differs in the other data directory"
diff -r "$T/big" "$mnt/moved/big" || fail "big/ differs in the other data directory"
do_umount
log "PASS"
