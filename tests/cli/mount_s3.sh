#!/usr/bin/env bash
# The mount and its S3 listener share one core: changes made over S3 are visible in the mount
# at once (the kernel's cached entries are invalidated), and files closed in the mount are
# visible over S3 at once, with the same CID. Usage: mount_s3.sh /path/to/s3xfs
set -euo pipefail
S3XFS=${1:?usage: mount_s3.sh S3XFS}
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
command -v getfattr >/dev/null || { echo "SKIP: getfattr missing"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-mounts3.XXXXXX")
mnt=$tmp/mnt
data=$tmp/data
mkdir -p "$mnt"
cleanup() {
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  rm -rf -- "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '# test keys\nMOUNTKEY mount-secret-key-1\n' > "$tmp/keys"
"$S3XFS" mount --data-dir "$data" --s3-listen "127.0.0.1:$port" --s3-keys "$tmp/keys" "$mnt" \
  || fail "mount failed"
url=http://127.0.0.1:$port
# curl signs with SigV4; UNSIGNED-PAYLOAD because curl does not hash uploaded files.
s3() { curl -sS --aws-sigv4 aws:amz:us-east-1:s3 --user MOUNTKEY:mount-secret-key-1 \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
code() { s3 -o /dev/null -w '%{http_code}' "$@"; }

step "a bucket made in the mount is listed over S3 and owned by the first key"
mkdir "$mnt/shared"
s3 "$url/" | grep -q '<Name>shared</Name>' || fail "ListBuckets does not show shared"

step "a file closed in the mount is visible over S3 at once, with its CID"
head -c 1000000 /dev/urandom > "$tmp/one"
cp "$tmp/one" "$mnt/shared/one"
s3 "$url/shared/one" -o "$tmp/one.s3"
cmp "$tmp/one" "$tmp/one.s3" || fail "GET differs from the file written in the mount"
cid_mount=$(getfattr --only-values -n user.ipfs.cid "$mnt/shared/one")
cid_s3=$(s3 -I "$url/shared/one" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-amz-meta-ipfs-cid"{print $2}')
[ -n "$cid_s3" ] && [ "$cid_s3" = "$cid_mount" ] || fail "CID over S3 '$cid_s3' != xattr '$cid_mount'"

step "a PUT is visible in the mount at once (cached negative entries dropped)"
mkdir "$mnt/shared/dir"
ls "$mnt/shared/dir/new" 2>/dev/null && fail "new exists too early"
ls "$mnt/shared/fresh" 2>/dev/null && fail "fresh exists too early"
echo "version 1" > "$tmp/v1"
[ "$(code -T "$tmp/v1" "$url/shared/dir/new")" = 200 ] || fail "PUT dir/new"
[ "$(code -T "$tmp/v1" "$url/shared/fresh/deep/file")" = 200 ] || fail "PUT fresh/deep/file"
[ "$(cat "$mnt/shared/dir/new")" = "version 1" ] || fail "mount does not show dir/new right after PUT"
[ "$(cat "$mnt/shared/fresh/deep/file")" = "version 1" ] || fail "mount does not show fresh/deep/file"

step "an overwrite over S3 is seen by the next open; size and content change at once"
stat -c %s "$mnt/shared/dir/new" >/dev/null
printf 'version 2, longer\n' > "$tmp/v2"
[ "$(code -T "$tmp/v2" "$url/shared/dir/new")" = 200 ] || fail "PUT overwrite"
[ "$(stat -c %s "$mnt/shared/dir/new")" = "$(stat -c %s "$tmp/v2")" ] || fail "stale size after overwrite"
[ "$(cat "$mnt/shared/dir/new")" = "version 2, longer" ] || fail "stale content after overwrite"

step "a DELETE over S3 removes the file from the mount at once"
cat "$mnt/shared/dir/new" >/dev/null
[ "$(code -X DELETE "$url/shared/dir/new")" = 204 ] || fail "DELETE"
[ -e "$mnt/shared/dir/new" ] && fail "dir/new still visible after DELETE"

step "xattrs set in the mount are S3 metadata"
setfattr -n user.color -v blue "$mnt/shared/one"
s3 -I "$url/shared/one" | tr -d '\r' | grep -qi '^x-amz-meta-color: blue$' || fail "x-amz-meta-color missing"

step "a file changed in place in the mount (ETag left pending) has its MD5 ETag over S3"
head -c 3000000 /dev/urandom > "$tmp/inplace"
cp "$tmp/inplace" "$mnt/shared/inplace"
printf 'patched' | dd of="$tmp/inplace" bs=1 seek=1000000 conv=notrunc status=none
printf 'patched' | dd of="$mnt/shared/inplace" bs=1 seek=1000000 conv=notrunc,fsync status=none
want=$(md5sum < "$tmp/inplace" | cut -d' ' -f1)
etag=$(s3 -I "$url/shared/inplace" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: "\(.*\)"/\1/p')
[ "$etag" = "$want" ] || fail "HEAD ETag '$etag' is not the MD5 $want"
s3 "$url/shared?list-type=2&prefix=inplace" | grep -q "<ETag>&quot;$want&quot;</ETag>\|<ETag>\"$want\"</ETag>" \
  || fail "ListObjectsV2 does not give the MD5 ETag"
s3 "$url/shared/inplace" -o "$tmp/inplace.s3"
cmp "$tmp/inplace" "$tmp/inplace.s3" || fail "GET after the in-place change differs"

step "a bucket made over S3 appears at the mount root at once"
ls "$mnt/viaS3" 2>/dev/null && fail "bucket exists too early"
[ "$(code -X PUT "$url/vias3")" = 200 ] || fail "CreateBucket"
[ -d "$mnt/vias3" ] || fail "bucket made over S3 not visible in the mount"

step "a mount on the default S3 address works; an explicit busy address fails clearly"
mnt2=$tmp/mnt2; mkdir -p "$mnt2"
"$S3XFS" mount --data-dir "$tmp/data2" --s3-keys "$tmp/keys" "$mnt2" 2>"$tmp/m2.err" || fail "second mount failed"
fusermount3 -u "$mnt2"
"$S3XFS" mount --data-dir "$tmp/data2" --s3-listen "127.0.0.1:$port" --s3-keys "$tmp/keys" "$mnt2" \
  2>"$tmp/m3.err" && { fusermount3 -u "$mnt2"; fail "explicit busy --s3-listen should fail"; }
grep -q "cannot listen" "$tmp/m3.err" || fail "no clear error for a busy port: $(cat "$tmp/m3.err")"
findmnt "$mnt2" >/dev/null && fail "failed mount left $mnt2 mounted"

fusermount3 -u "$mnt"
echo "PASS"
