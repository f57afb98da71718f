#!/usr/bin/env bash
# s3fs-fuse (Debian 12: 1.90, libfuse2) mounting a bucket of a real `s3xfs serve`, path style,
# SigV4, 5 MiB multipart parts. On the mount: cp -a of a mixed tree and a 16 MiB file
# (multipart), ls, mv of a file and of a directory (CopyObject + DeleteObject), rm, mkdir/rmdir
# ("dir/" objects), chmod (of a file and a directory) and touch -d (CopyObject onto itself with
# REPLACE of x-amz-meta-mode / x-amz-meta-mtime), a symlink, a partial rewrite of the big file
# (s3fs's mixed multipart upload: the unchanged range by UploadPartCopy, the changed part
# uploaded), appends and truncation. Then, unmounted,
# every object is read back over S3 with SigV4-signed curl and compared with the expected
# tree by MD5 (and the mode/mtime metadata checked), and again after a remount through s3fs;
# there, rm -r of directories and a mv of the big file (one CopyObject), checked over S3.
#
# Needs root or a usable /dev/fuse (exit 77 otherwise).
# Usage: tests/s3/s3fs.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
require_cmd s3fs fusermount curl md5sum
PY=/usr/bin/python3  # Debian's (a pyenv shim first in PATH costs seconds a call)
require_exe "$PY"
[[ -c /dev/fuse && -r /dev/fuse && -w /dev/fuse ]] || skip "/dev/fuse is not usable"
s3_start

B=fsbkt
MNT="$TMP/mnt"
mkdir -p "$MNT"
printf '%s:%s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$TMP/passwd"
chmod 600 "$TMP/passwd"
s3_curl -X PUT "$S3_ENDPOINT/$B" >/dev/null || fail "create bucket $B with curl"

mounted=0
do_mount() {
  s3fs "$B" "$MNT" -o "url=$S3_ENDPOINT,use_path_request_style,passwd_file=$TMP/passwd" \
    -o endpoint="$S3_REGION",multipart_size=5,stat_cache_expire=1,retries=1 \
    -o "logfile=$TMP/s3fs.log,dbglevel=${S3FS_DBGLEVEL:-info}" ||
    fail "s3fs mount failed: $(tail -n 20 "$TMP/s3fs.log" 2>/dev/null)"
  local i
  for ((i = 0; i < 100; i++)); do
    mountpoint -q "$MNT" && break
    sleep 0.1
  done
  mountpoint -q "$MNT" || fail "s3fs did not mount $MNT: $(tail -n 20 "$TMP/s3fs.log" 2>/dev/null)"
  mounted=1
}
do_umount() {
  ((mounted)) || return 0
  sync
  local i
  for ((i = 0; i < 50; i++)); do
    fusermount -u "$MNT" 2>/dev/null && break
    sleep 0.2
  done
  mountpoint -q "$MNT" && fail "cannot unmount $MNT"
  # s3fs forks into the background: wait until it is gone (it uploads on release, not unmount).
  for ((i = 0; i < 100; i++)); do
    pgrep -f "s3fs $B $MNT" >/dev/null || break
    sleep 0.1
  done
  mounted=0
}
at_exit fusermount -u -z "$MNT"

EXP="$TMP/expected"  # what the bucket must hold, as a local tree
make_tree "$EXP"
chacha s3fs/big $((16 * 1024 * 1024 + 4321)) >"$EXP/big.bin"

log "mount, cp -a a tree in (big.bin: multipart)"
do_mount
(cd "$EXP" && cp -a -- * "$MNT/")  # not "$EXP/.": s3fs cannot set the mount point's times
diff -r "$EXP" "$MNT" >&2 || fail "tree on the mount differs right after cp"

log "ls"
(cd "$EXP" && find . | LC_ALL=C sort) >"$TMP/find.exp"
(cd "$MNT" && find . | LC_ALL=C sort) >"$TMP/find.got"
diff -u "$TMP/find.exp" "$TMP/find.got" >&2 || fail "find on the mount differs"
ls -la "$MNT/sub" >/dev/null || fail "ls -la"

log "mv (file, directory), rm, mkdir/rmdir"
mv "$MNT/hello.txt" "$MNT/hello-renamed.txt"
mv "$EXP/hello.txt" "$EXP/hello-renamed.txt"
mv "$MNT/with space" "$MNT/renamed dir"
mv "$EXP/with space" "$EXP/renamed dir"
rm "$MNT/sub/plus+sign%percent~tilde.dat"
rm "$EXP/sub/plus+sign%percent~tilde.dat"
mkdir "$MNT/newdir" "$MNT/gone"
mkdir "$EXP/newdir"
rmdir "$MNT/gone"
[[ -d "$MNT/newdir" && ! -e "$MNT/gone" ]] || fail "mkdir/rmdir"
[[ -e "$MNT/hello.txt" ]] && fail "mv left hello.txt"

log "chmod / touch -d (CopyObject REPLACE)"
chmod 600 "$MNT/sub/a.bin"
# Both times: libfuse2's high-level API (s3fs 1.90) drops a setattr of the mtime alone (touch -m).
touch -d '2005-06-07 08:09:10 UTC' "$MNT/sub/a.bin"
assert_eq "$(stat -c %a "$MNT/sub/a.bin")" 600 "mode after chmod"
assert_eq "$(stat -c %Y "$MNT/sub/a.bin")" "$(date -d '2005-06-07 08:09:10 UTC' +%s)" "mtime after touch"
chmod 700 "$MNT/newdir"  # a "dir/" object copied onto itself
ln -s sub/a.bin "$MNT/link"
ln -s sub/a.bin "$EXP/link"
assert_eq "$(readlink "$MNT/link")" sub/a.bin "symlink target"

log "partial rewrite of big.bin (mixed multipart: UploadPartCopy + UploadPart), append, truncate"
chacha s3fs/patch 4096 >"$TMP/patch"
dd if="$TMP/patch" of="$MNT/big.bin" bs=4096 seek=$((11 * 256 + 3)) conv=notrunc status=none
dd if="$TMP/patch" of="$EXP/big.bin" bs=4096 seek=$((11 * 256 + 3)) conv=notrunc status=none
printf 'appended\n' >>"$MNT/hello-renamed.txt"
printf 'appended\n' >>"$EXP/hello-renamed.txt"
truncate -s 1000 "$MNT/sub/medium.bin"
truncate -s 1000 "$EXP/sub/medium.bin"
cmp "$MNT/big.bin" "$EXP/big.bin" || fail "big.bin after the partial rewrite (same mount)"
do_umount
if grep -q 'Copy Part \[tpath=/big.bin\]' "$TMP/s3fs.log"; then
  log "  s3fs re-uploaded big.bin with UploadPartCopy for the unchanged range"
else
  log "  note: no 'Copy Part' in the s3fs log (S3FS_DBGLEVEL=${S3FS_DBGLEVEL:-info}): UploadPartCopy not exercised"
fi

log "check over S3 (curl, SigV4): every object's MD5 and the chmod/touch metadata"
s3_curl "$S3_ENDPOINT/$B?list-type=2" >"$TMP/list.xml" || fail "ListObjectsV2"
"$PY" - "$TMP/list.xml" >"$TMP/keys" <<'EOF'
import sys, xml.etree.ElementTree as ET
ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/"}
root = ET.parse(sys.argv[1]).getroot()
for c in root.findall("s:Contents", ns):
    print(c.find("s:Key", ns).text)
EOF
while IFS= read -r f; do
  [[ -n "$f" ]] || continue
  grep -qxF -- "$f" "$TMP/keys" || fail "object '$f' missing over S3 (keys: $(tr '\n' ' ' <"$TMP/keys"))"
  url="$S3_ENDPOINT/$B/$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$f")"
  s3_curl -o "$TMP/obj" "$url" || fail "GET $f"
  assert_eq "$(md5_of "$TMP/obj")" "$(md5_of "$EXP/$f")" "MD5 of '$f' over S3"
done < <(cd "$EXP" && find . -type f -printf '%P\n')
s3_curl -I "$S3_ENDPOINT/$B/sub/a.bin" >"$TMP/head" || fail "HEAD sub/a.bin"
mode=$(tr -d '\r' <"$TMP/head" | sed -n 's/^x-amz-meta-mode: //Ip')
assert_eq "$(printf '%o' "$mode")" 100600 "x-amz-meta-mode of sub/a.bin"
mt=$(tr -d '\r' <"$TMP/head" | sed -n 's/^x-amz-meta-mtime: //Ip')
assert_eq "${mt%%.*}" "$(date -d '2005-06-07 08:09:10 UTC' +%s)" "x-amz-meta-mtime of sub/a.bin"
grep -qx 'newdir/' "$TMP/keys" || fail "mkdir did not create a 'newdir/' object"
grep -q '^gone/' "$TMP/keys" && fail "rmdir left 'gone/'"

log "remount and compare through s3fs"
do_mount
diff -r "$EXP" "$MNT" >&2 || fail "tree after remount differs"
assert_eq "$(stat -c %a "$MNT/sub/a.bin")" 600 "mode after remount"
assert_eq "$(stat -c %a "$MNT/newdir")" 700 "directory mode after remount"
assert_eq "$(readlink "$MNT/link")" sub/a.bin "symlink target after remount"
assert_eq "$(stat -c %Y "$MNT/sub/a.bin")" "$(date -d '2005-06-07 08:09:10 UTC' +%s)" "mtime after remount"
rm -r "${MNT:?}/renamed dir" "$MNT/newdir"
[[ -e "$MNT/renamed dir" ]] && fail "rm -r of a directory"

log "mv of the big (multipart) file: one CopyObject of 16 MiB + DeleteObject"
mkdir "$MNT/moved"
mv "$MNT/big.bin" "$MNT/moved/big.bin"
do_umount
s3_curl -o "$TMP/obj" "$S3_ENDPOINT/$B/moved/big.bin" || fail "GET moved/big.bin"
assert_eq "$(md5_of "$TMP/obj")" "$(md5_of "$EXP/big.bin")" "MD5 of moved/big.bin over S3"
code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
  --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  -I "$S3_ENDPOINT/$B/big.bin")
assert_eq "$code" 404 "HEAD big.bin after mv"

log "PASS ($(elapsed) s)"
