#!/usr/bin/env bash
# The IPFS gateway on the S3 listener (`GET /ipfs/CID[/path]`), with curl against a real
# `s3xfs serve`, checked by tools independent of s3xfs:
#  - raw blocks (?format=raw and Accept: application/vnd.ipld.raw) hash to their CID
#    (tests/s3/cid_verify.py: its own CID parser and python's hashlib);
#  - CARs (?format=car, Accept: application/vnd.ipld.car) are listed, verified and unpacked by
#    ipfs-car (npm), whole trees and path sub-trees, byte for byte;
#  - paths resolve through basic and HAMT directories (`s3xfs add -r` into the served data
#    directory, while the server runs) and to objects PUT over S3; Range; directory redirect,
#    index.html and listing; 400 / 404 / 416 cases;
#  - --gateway signed (the default) refuses anonymous requests and serves signed ones (curl
#    --aws-sigv4), public serves anyone, off leaves /ipfs/ to the S3 bucket "ipfs".
# curl 7.88 signs query parameters in the order written, not sorted as SigV4 wants: URLs here
# write them sorted.
# usage: gateway.sh /path/to/s3xfs
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
s3_init "$@"
require_cmd curl
require_exe /usr/bin/python3
require_node

cid_verify() { /usr/bin/python3 "$here/cid_verify.py" "$@"; }

# code URL CURL_ARGS...: anonymous request, body to $TMP/body, prints the HTTP status.
code() {
  local url=$1; shift
  curl -sS -o "$TMP/body" -w '%{http_code}' "$@" "$url"
}
# scode URL CURL_ARGS...: the same, signed with the first key pair.
scode() {
  local url=$1; shift
  curl -sS -o "$TMP/body" -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$url"
}
expect_code() { # WANT DESC GOT
  [[ "$3" == "$1" ]] || fail "$2: HTTP $3, expected $1: $(head -c 300 "$TMP/body")"
}
# header NAME FILE: the value of a response header in a curl -D dump (case-insensitive).
header() { grep -i "^$1:" "$2" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }

# ---------------------------------------------------------------- the data
T=$TMP/tree
mkdir -p "$T/docs/deep" "$T/site" "$T/big"
printf 'hello world' >"$T/hello.txt"
chacha gateway/multi 1500000 >"$T/docs/multi.bin"  # 6 chunks: a two-level-free balanced DAG
chacha gateway/deep 3000 >"$T/docs/deep/small.dat"
printf '<h1>site</h1>\n' >"$T/site/index.html"
printf 'body{}\n' >"$T/site/style.css"
: >"$T/empty"
# 5000 names of ~40 bytes: the directory is a HAMT shard.
(cd "$T/big" && for i in $(seq 1 5000); do printf 'n%s' "$i" >"entry-with-a-long-enough-name-$i.txt"; done)

S3_DATA_DIR=$TMP/data
mkdir -p "$S3_DATA_DIR"
S3_KEEP_DATA=1 s3_start  # --gateway defaults to signed
E=$S3_ENDPOINT
grep -q "IPFS gateway on $E/ipfs/ (signed)" "$S3_LOG" || fail "no gateway line in the log"

log "s3xfs add -r into the served data directory (while it runs)"
root=$("$S3XFS" add -r --data-dir "$S3_DATA_DIR" "$T") || fail "add -r"
[[ "$root" == "$(ref_add --dir "$T")" ]] || fail "add -r root differs from the reference importer"
log "tree root $root"

# ---------------------------------------------------------------- signed / anonymous
log "--gateway signed: anonymous refused, signed served"
expect_code 403 "anonymous GET" "$(code "$E/ipfs/$root/hello.txt")"
expect_code 403 "anonymous HEAD" "$(code "$E/ipfs/$root/hello.txt" -I)"
expect_code 200 "signed GET" "$(scode "$E/ipfs/$root/hello.txt")"
[[ "$(cat "$TMP/body")" == "hello world" ]] || fail "signed GET body"
curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
  --user "$S3_ACCESS_KEY2:$S3_SECRET_KEY2" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  "$E/ipfs/$root/hello.txt" | grep -qx 200 || fail "the second key (owns no bucket) is refused"
expect_code 403 "wrong secret" "$(curl -sS -o "$TMP/body" -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
  --user "$S3_ACCESS_KEY:wrong-secret-123456" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$E/ipfs/$root/hello.txt")"
expect_code 400 "CreateBucket ipfs with the gateway on" "$(scode "$E/ipfs" -X PUT)"
grep -q InvalidBucketName "$TMP/body" || fail "CreateBucket ipfs: $(cat "$TMP/body")"

# ---------------------------------------------------------------- objects PUT over S3
log "objects PUT over S3: their CIDs are served"
s3_curl -X PUT "$E/bkt" -o /dev/null
chacha gateway/object 2000000 >"$TMP/object.bin"
s3_curl -T "$TMP/object.bin" -D "$TMP/put.h" -o /dev/null "$E/bkt/nested/key/object.bin"
obj=$(header x-amz-meta-ipfs-cid "$TMP/put.h")
[[ -n "$obj" ]] || fail "no CID on PUT"
expect_code 200 "GET /ipfs/<object CID>" "$(scode "$E/ipfs/$obj" -D "$TMP/h")"
cmp -s "$TMP/body" "$TMP/object.bin" || fail "object bytes over the gateway"
[[ "$(header content-type "$TMP/h")" == application/octet-stream ]] || fail "object content type"
[[ "$(header etag "$TMP/h")" == "\"$obj\"" ]] || fail "object etag $(header etag "$TMP/h")"
[[ "$(header cache-control "$TMP/h")" == "public, max-age=29030400, immutable" ]] || fail "cache-control"

# ---------------------------------------------------------------- raw blocks
log "raw blocks hash to their CID (python hashlib)"
expect_code 200 "raw root of the object" "$(scode "$E/ipfs/$obj?format=raw" -D "$TMP/h")"
cid_verify "$obj" "$TMP/body" | grep -qx "ok dag-pb" || fail "raw root: $(cid_verify "$obj" "$TMP/body")"
[[ "$(header content-type "$TMP/h")" == application/vnd.ipld.raw ]] || fail "raw content type"
[[ "$(header x-content-type-options "$TMP/h")" == nosniff ]] || fail "raw nosniff"
[[ "$(header etag "$TMP/h")" == "\"$obj.raw\"" ]] || fail "raw etag"
# Every block of the object's DAG (as ipfs-car lists them from its CAR), by Accept.
expect_code 200 "CAR of the object" "$(scode "$E/ipfs/$obj?format=car")"
mv "$TMP/body" "$TMP/object.car"
ipfs_car blocks "$TMP/object.car" >"$TMP/blocks" || fail "ipfs-car blocks (object)"
[[ $(wc -l <"$TMP/blocks") == 9 ]] || fail "object CAR has $(wc -l <"$TMP/blocks") blocks, expected 9"
while read -r b; do
  expect_code 200 "raw block $b" "$(scode "$E/ipfs/$b" -H 'Accept: application/vnd.ipld.raw' -D "$TMP/h")"
  cid_verify "$b" "$TMP/body" >/dev/null || fail "block $b: $(cid_verify "$b" "$TMP/body")"
  [[ "$(header content-location "$TMP/h")" == "/ipfs/$b?format=raw" ]] || fail "content-location of $b"
done <"$TMP/blocks"
expect_code 200 "raw directory block" "$(scode "$E/ipfs/$root?format=raw")"
cid_verify "$root" "$TMP/body" | grep -qx "ok dag-pb" || fail "raw directory block"
expect_code 200 "identity probe" "$(scode "$E/ipfs/bafkqaaa?format=raw")"
[[ ! -s "$TMP/body" ]] || fail "bafkqaaa is not empty"

# ---------------------------------------------------------------- CARs
log "CARs: verified and unpacked by ipfs-car"
expect_code 200 "CAR of the tree" "$(scode "$E/ipfs/$root?format=car" -D "$TMP/h")"
mv "$TMP/body" "$TMP/tree.car"
[[ "$(header content-type "$TMP/h")" == "application/vnd.ipld.car; version=1; order=dfs; dups=n" ]] ||
  fail "CAR content type: $(header content-type "$TMP/h")"
[[ "$(header transfer-encoding "$TMP/h")" == chunked ]] || fail "CAR not chunked"
[[ "$(ipfs_car roots "$TMP/tree.car")" == "$root" ]] || fail "CAR roots"
run_ok "ipfs-car unpack (tree)" ipfs_car unpack "$TMP/tree.car" --output "$TMP/unpacked" >/dev/null
diff -r "$T" "$TMP/unpacked" || fail "unpacked tree differs"
# A sub-directory by path (and by Accept): its CAR's root is the sub-directory, and it starts
# with the blocks of the path.
sub=$("$S3XFS" add -r -n "$T/docs")
expect_code 200 "CAR of docs/" "$(scode "$E/ipfs/$root/docs" -H 'Accept: application/vnd.ipld.car')"
mv "$TMP/body" "$TMP/docs.car"
[[ "$(ipfs_car roots "$TMP/docs.car")" == "$sub" ]] || fail "docs CAR root is not docs/"
ipfs_car blocks "$TMP/docs.car" >"$TMP/docs.blocks" || fail "ipfs-car blocks (docs)"
[[ "$(head -n 1 "$TMP/docs.blocks")" == "$root" ]] || fail "docs CAR does not start with the root block"
run_ok "ipfs-car unpack (docs)" ipfs_car unpack "$TMP/docs.car" --output "$TMP/docs-out" >/dev/null
diff -r "$T/docs" "$TMP/docs-out" || fail "unpacked docs/ differs"
# One file deep in a HAMT: the shards on its path, then the file.
name=entry-with-a-long-enough-name-4321.txt
expect_code 200 "CAR through the HAMT" "$(scode "$E/ipfs/$root/big/$name?format=car")"
mv "$TMP/body" "$TMP/hamt.car"
run_ok "ipfs-car unpack (HAMT entry)" ipfs_car unpack "$TMP/hamt.car" --output "$TMP/hamt-out" >/dev/null
cmp -s "$TMP/hamt-out" "$T/big/$name" || fail "HAMT entry via CAR"
n=$(ipfs_car blocks "$TMP/hamt.car" | wc -l)
((n >= 4)) || fail "the HAMT entry's CAR has $n blocks (root, big/, a sub-shard, the file at least)"
# dag-scope=entity of the HAMT directory: its shards, none of the 5000 files.
expect_code 200 "entity CAR of the HAMT" "$(scode "$E/ipfs/$root/big/?dag-scope=entity&format=car")"
mv "$TMP/body" "$TMP/shards.car"
ipfs_car blocks "$TMP/shards.car" >"$TMP/shards.blocks" || fail "ipfs-car blocks (shards)"
grep -q '^bafkrei' "$TMP/shards.blocks" && fail "entity CAR of big/ holds file blocks"
# HTTP/1.0: no chunking, the connection closes after the CAR.
curl -sS --http1.0 -o "$TMP/tree10.car" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
  --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$E/ipfs/$root?format=car"
cmp -s "$TMP/tree10.car" "$TMP/tree.car" || fail "HTTP/1.0 CAR differs"

# ---------------------------------------------------------------- files, directories, ranges
log "paths, ranges and directories"
expect_code 200 "multi-block file by path" "$(scode "$E/ipfs/$root/docs/multi.bin")"
cmp -s "$TMP/body" "$T/docs/multi.bin" || fail "docs/multi.bin"
expect_code 200 "file in a HAMT" "$(scode "$E/ipfs/$root/big/$name" -D "$TMP/h")"
[[ "$(cat "$TMP/body")" == n4321 ]] || fail "HAMT entry body"
[[ "$(header content-type "$TMP/h")" == "text/plain; charset=utf-8" ]] || fail "HAMT entry type"
[[ $(header x-ipfs-roots "$TMP/h" | tr ',' '\n' | wc -l) == 3 ]] || fail "x-ipfs-roots: $(header x-ipfs-roots "$TMP/h")"
expect_code 206 "Range" "$(scode "$E/ipfs/$root/docs/multi.bin" -r 262100-262199 -D "$TMP/h")"
dd if="$T/docs/multi.bin" bs=1 skip=262100 count=100 status=none | cmp -s - "$TMP/body" || fail "Range bytes"
[[ "$(header content-range "$TMP/h")" == "bytes 262100-262199/1500000" ]] || fail "content-range"
expect_code 416 "unsatisfiable Range" "$(scode "$E/ipfs/$root/docs/multi.bin" -r 2000000-)"
expect_code 200 "HEAD" "$(scode "$E/ipfs/$root/docs/multi.bin" -I -D "$TMP/h")"
[[ "$(header content-length "$TMP/h")" == 1500000 ]] || fail "HEAD content-length"
expect_code 200 "empty file" "$(scode "$E/ipfs/$root/empty")"
[[ ! -s "$TMP/body" ]] || fail "empty file"
expect_code 301 "directory without /" "$(scode "$E/ipfs/$root/site" -D "$TMP/h")"
[[ "$(header location "$TMP/h")" == "/ipfs/$root/site/" ]] || fail "redirect location"
expect_code 200 "index.html" "$(scode "$E/ipfs/$root/site/" -D "$TMP/h")"
cmp -s "$TMP/body" "$T/site/index.html" || fail "index.html body"
[[ "$(header content-type "$TMP/h")" == "text/html; charset=utf-8" ]] || fail "index.html type"
expect_code 200 "listing" "$(scode "$E/ipfs/$root/")"
for n in docs hello.txt site big empty; do
  grep -q "href=\"./$n\"" "$TMP/body" || fail "listing lacks $n"
done
expect_code 200 "HAMT listing" "$(scode "$E/ipfs/$root/big/")"
[[ $(grep -c 'href="./entry-with' "$TMP/body") == 5000 ]] || fail "HAMT listing rows"

log "errors"
expect_code 404 "missing name" "$(scode "$E/ipfs/$root/docs/nope")"
expect_code 404 "missing name in a HAMT" "$(scode "$E/ipfs/$root/big/nope")"
expect_code 404 "path through a file" "$(scode "$E/ipfs/$root/hello.txt/x")"
absent=$(printf 'not stored anywhere' | "$S3XFS" add -n -)
expect_code 404 "missing block" "$(scode "$E/ipfs/$absent")"
expect_code 404 "missing block (raw)" "$(scode "$E/ipfs/$absent?format=raw")"
expect_code 404 "missing block (car)" "$(scode "$E/ipfs/$absent?format=car")"
expect_code 400 "bad CID" "$(scode "$E/ipfs/bafybeinotacid")"
expect_code 400 "unsupported format" "$(scode "$E/ipfs/$root?format=tar")"
expect_code 400 "bad dag-scope" "$(scode "$E/ipfs/$root?dag-scope=some&format=car")"

# ---------------------------------------------------------------- public
log "--gateway public: anonymous served"
s3_stop
S3_KEEP_DATA=1 s3_start --gateway public
E=$S3_ENDPOINT
expect_code 200 "anonymous GET (public)" "$(code "$E/ipfs/$root/docs/multi.bin")"
cmp -s "$TMP/body" "$T/docs/multi.bin" || fail "public GET body"
expect_code 200 "anonymous CAR (public)" "$(code "$E/ipfs/$obj?format=car")"
cmp -s "$TMP/body" "$TMP/object.car" || fail "public CAR differs from the signed one"
expect_code 200 "signed GET (public)" "$(scode "$E/ipfs/$root/hello.txt")"
expect_code 403 "anonymous S3 is still refused" "$(code "$E/bkt/nested/key/object.bin")"

# ---------------------------------------------------------------- off
log "--gateway off: /ipfs/ is the S3 bucket ipfs"
s3_stop
S3_KEEP_DATA=1 s3_start --gateway off
E=$S3_ENDPOINT
grep -q "IPFS gateway" "$S3_LOG" && fail "gateway announced while off"
expect_code 404 "GET /ipfs/CID with the gateway off" "$(scode "$E/ipfs/$root")"
grep -q NoSuchBucket "$TMP/body" || fail "off: $(cat "$TMP/body")"
expect_code 200 "CreateBucket ipfs (off)" "$(scode "$E/ipfs" -X PUT)"
printf 'an S3 object' >"$TMP/s3obj"
expect_code 200 "PUT ipfs/CID (off)" "$(scode "$E/ipfs/$root" -T "$TMP/s3obj")"
expect_code 200 "GET ipfs/CID (off)" "$(scode "$E/ipfs/$root")"
[[ "$(cat "$TMP/body")" == "an S3 object" ]] || fail "off: the object"
expect_code 403 "anonymous (off)" "$(code "$E/ipfs/$root")"
s3_stop
if "$S3XFS" serve --data-dir "$S3_DATA_DIR" --s3-listen 127.0.0.1:0 --gateway maybe >/dev/null 2>"$TMP/err"; then
  fail "--gateway maybe accepted"
fi
grep -q "off, signed or public" "$TMP/err" || fail "--gateway maybe: $(cat "$TMP/err")"
log "PASS ($(elapsed) s)"
