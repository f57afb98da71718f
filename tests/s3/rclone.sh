#!/usr/bin/env bash
# rclone (Debian 12: 1.60, provider Other, path style) against a real `s3xfs serve`:
# mkdir; copy a mixed tree with a 20 MiB file forced through multipart (--s3-upload-cutoff 6M,
# --s3-chunk-size 5M: 4 parts); check (hashes) and check --download (bytes); md5sum/lsjson
# hashes equal the local MD5s (single-PUT ETags are MD5s; rclone keeps the multipart MD5 in
# X-Amz-Meta-Md5chksum); modification times kept (X-Amz-Meta-Mtime) and updated in place by
# a CopyObject onto itself with REPLACE; ranged reads (cat --offset/--count); server-side
# copy, also through multipart UploadPartCopy (--s3-copy-cutoff 5M); sync (changed, added,
# deleted files); delete with a filter; purge; rmdir of the bucket.
#
# Usage: tests/s3/rclone.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
require_cmd rclone md5sum
PY=/usr/bin/python3  # Debian's (a pyenv shim first in PATH costs seconds a call)
require_exe "$PY"
s3_start

# Plain http, own config: no CA bundle (the AWS SDK refuses AWS_CA_BUNDLE with rclone's
# transport), no shared AWS config or profile.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
: >"$TMP/rclone.conf"
export RCLONE_CONFIG="$TMP/rclone.conf"
export RCLONE_CONFIG_S3X_TYPE=s3
export RCLONE_CONFIG_S3X_PROVIDER=Other
export RCLONE_CONFIG_S3X_ENV_AUTH=false
export RCLONE_CONFIG_S3X_ACCESS_KEY_ID="$S3_ACCESS_KEY"
export RCLONE_CONFIG_S3X_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
export RCLONE_CONFIG_S3X_ENDPOINT="$S3_ENDPOINT"
export RCLONE_CONFIG_S3X_REGION="$S3_REGION"
export RCLONE_CONFIG_S3X_FORCE_PATH_STYLE=true
export RCLONE_S3_UPLOAD_CUTOFF=6M RCLONE_S3_CHUNK_SIZE=5M
export RCLONE_RETRIES=1 RCLONE_LOW_LEVEL_RETRIES=1

rc() { run_ok "rclone $*" rclone "$@"; }

SRC="$TMP/src"
make_tree "$SRC"
chacha rclone/big $((20 * 1024 * 1024 + 12345)) >"$SRC/big.bin"
touch -d '2001-02-03 04:05:06.789 UTC' "$SRC/hello.txt"
# Names where servers get the canonical URI or listing encodings wrong.
mkdir -p "$SRC/odd"
# shellcheck disable=SC2016  # 'w$x' is a literal name
for n in "a b" "c+d" "e%20f" "g~h" "i'j" "k(l)m" "n!o" "p&q=r;s" "t,u@v" 'w$x' "y[z]" "two  spaces" \
  " lead" "trail " "q?mark" "h#ash" 'back\slash' "star*" 'quote"d' "lt<gt>" "pipe|x" "日本語"; do
  printf '%s\n' "$n" >"$SRC/odd/$n"
done

log "mkdir / lsd"
rc mkdir s3x:bkt
grep -q ' bkt$' <<<"$(rc lsd s3x:)" || fail "lsd does not show bkt: $(rclone lsd s3x: 2>&1)"

log "copy a tree (big.bin: multipart, 5 MiB parts)"
rc copy "$SRC" s3x:bkt/tree
rc check "$SRC" s3x:bkt/tree
rc check --download "$SRC" s3x:bkt/tree

log "rcat: streaming upload of unknown size (multipart of exactly 2 x 5 MiB, and empty)"
chacha rclone/rcat $((10 * 1024 * 1024)) >"$TMP/rcat.in"
rc rcat --streaming-upload-cutoff 1k s3x:bkt/rcat/ten <"$TMP/rcat.in"
rc cat s3x:bkt/rcat/ten >"$TMP/rcat.out"
assert_same_file "$TMP/rcat.out" "$TMP/rcat.in" "rcat of 10 MiB read back"
printf "" | rc rcat --streaming-upload-cutoff 0 s3x:bkt/rcat/empty  # a pipe: rclone refuses a tty or /dev/null
assert_eq "$(rc lsf --format sp s3x:bkt/rcat/empty)" '0;empty' "size of the empty rcat object"
rc purge s3x:bkt/rcat

log "md5sum / lsjson hashes equal the local MD5s"
rc md5sum s3x:bkt/tree | LC_ALL=C sort -k2 >"$TMP/remote.md5"
# (not md5sum's own lines: it escapes names with a backslash)
(cd "$SRC" && find . -type f -printf '%P\0' | while IFS= read -r -d '' f; do
  printf '%s  %s\n' "$(md5_of "$f")" "$f"
done) | LC_ALL=C sort -k2 >"$TMP/local.md5"
diff -u "$TMP/local.md5" "$TMP/remote.md5" >&2 || fail "rclone md5sum differs from local md5sum"

rc lsjson -R --hash --files-only s3x:bkt/tree >"$TMP/ls.json"
"$PY" - "$TMP/ls.json" "$SRC" <<'EOF' || fail "lsjson check failed"
import json, sys, os, hashlib
items = {i["Path"]: i for i in json.load(open(sys.argv[1]))}
src = sys.argv[2]
for root, _, files in os.walk(src):
    for f in files:
        p = os.path.join(root, f)
        rel = os.path.relpath(p, src)
        it = items.get(rel)
        if it is None: sys.exit(f"missing {rel}")
        if it["Size"] != os.path.getsize(p): sys.exit(f"size of {rel}: {it['Size']}")
        md5 = hashlib.md5(open(p, "rb").read()).hexdigest()
        if it.get("Hashes", {}).get("md5") != md5: sys.exit(f"md5 of {rel}: {it.get('Hashes')} vs {md5}")
if items["hello.txt"]["ModTime"][:23] != "2001-02-03T04:05:06.789":
    sys.exit(f"hello.txt mtime not kept: {items['hello.txt']['ModTime']}")
EOF

log "ETag of single-PUT objects is the MD5 (rclone reads it back without metadata)"
etag_md5=$(rclone lsjson --hash --s3-no-head s3x:bkt/tree/sub/a.bin 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("Hashes",{}).get("md5",""))')
assert_eq "$etag_md5" "$(md5_of "$SRC/sub/a.bin")" "listing MD5 (ETag) of sub/a.bin"

log "listings: pages of 3 (V1 markers), V2, --fast-list, with and without encoding-type=url"
(cd "$SRC" && find . -type f -printf '%P\n') | LC_ALL=C sort >"$TMP/local.lst"
for flags in "--s3-list-chunk 3" "--s3-list-chunk 3 --fast-list" "--s3-list-version 2 --s3-list-chunk 4" \
  "--s3-list-version 2 --fast-list --s3-list-url-encode=false" "--s3-list-url-encode=false"; do
  # shellcheck disable=SC2086  # word splitting of $flags is intended
  rc lsf -R --files-only $flags s3x:bkt/tree | LC_ALL=C sort >"$TMP/paged.lst"
  diff -u "$TMP/local.lst" "$TMP/paged.lst" >&2 || fail "listing with $flags differs"
done

log "multipart ETag is md5(part MD5s)-4 (curl HEAD)"
exp_etag=$(md5_etag "$SRC/big.bin" $((5 * 1024 * 1024)))
etag=$(s3_curl -I "$S3_ENDPOINT/bkt/tree/big.bin" | tr -d '\r' | sed -n 's/^etag: *"\(.*\)"$/\1/Ip')
assert_eq "$etag" "$exp_etag" "ETag of the multipart big.bin"

log "modtime update in place (CopyObject onto itself, REPLACE)"
touch -d '2011-12-13 14:15:16.5 UTC' "$SRC/hello.txt" "$SRC/big.bin"
rclone sync -vv "$SRC" s3x:bkt/tree >"$TMP/sync1.log" 2>&1 || { tail -n 40 "$TMP/sync1.log" >&2; fail "sync (modtime only)"; }
for f in hello.txt big.bin; do
  grep -q "$f: Updated modification time in destination" "$TMP/sync1.log" ||
    fail "rclone did not update the modification time of $f in place: $(grep -F "$f" "$TMP/sync1.log")"
done
if grep -Eq 'Copied \((new|replaced existing)\)' "$TMP/sync1.log"; then
  grep -E 'Copied' "$TMP/sync1.log" >&2
  fail "sync re-uploaded files whose content did not change"
fi
got=$(rclone lsjson s3x:bkt/tree/hello.txt | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["ModTime"][:21])')
assert_eq "$got" "2011-12-13T14:15:16.5" "hello.txt modtime after sync"
got=$(rclone lsjson s3x:bkt/tree/big.bin | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["ModTime"][:21])')
assert_eq "$got" "2011-12-13T14:15:16.5" "big.bin (multipart) modtime after sync"
rc check --download "$SRC" s3x:bkt/tree

log "ranged reads (cat --offset/--count)"
rc cat --offset 5000000 --count 100000 s3x:bkt/tree/big.bin >"$TMP/range.out"
dd if="$SRC/big.bin" of="$TMP/range.exp" bs=64K iflag=skip_bytes,count_bytes skip=5000000 count=100000 status=none
assert_same_file "$TMP/range.out" "$TMP/range.exp" "cat --offset 5000000 --count 100000"
rc cat --offset 20971000 s3x:bkt/tree/big.bin >"$TMP/range.out"
dd if="$SRC/big.bin" of="$TMP/range.exp" bs=64K iflag=skip_bytes skip=20971000 status=none
assert_same_file "$TMP/range.out" "$TMP/range.exp" "cat --offset 20971000 (open range)"

log "server-side copy (CopyObject; big.bin through UploadPartCopy with --s3-copy-cutoff 5M)"
rc copy --s3-copy-cutoff 5M s3x:bkt/tree s3x:bkt/tree2
rc check --download "$SRC" s3x:bkt/tree2
rc md5sum s3x:bkt/tree2 | LC_ALL=C sort -k2 >"$TMP/remote2.md5"
diff -u "$TMP/local.md5" "$TMP/remote2.md5" >&2 || fail "md5sum after server-side copy differs"

log "sync: change, add, delete"
chacha rclone/changed 4242 >"$SRC/sub/a.bin"
printf 'new file\n' >"$SRC/sub/new.txt"
rm "$SRC/with space/c d.txt"
rc sync "$SRC" s3x:bkt/tree
rc check --download "$SRC" s3x:bkt/tree
grep -q 'c d.txt' <<<"$(rc lsf -R s3x:bkt/tree)" && fail "sync did not delete 'with space/c d.txt'"

log "delete with a filter, then purge"
rc delete --include '*.txt' s3x:bkt/tree
left=$(rclone lsf -R --files-only s3x:bkt/tree | LC_ALL=C sort | tr '\n' ' ')
exp=$(cd "$SRC" && find . -type f ! -name '*.txt' -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ')
assert_eq "$left" "$exp" "files left after delete --include '*.txt'"
rc purge s3x:bkt/tree2
rc purge s3x:bkt
if grep -q ' bkt$' <<<"$(rc lsd s3x:)"; then fail "bucket still listed after purge"; fi

log "PASS ($(elapsed) s)"
