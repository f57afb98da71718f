#!/usr/bin/env bash
# aws cli (Debian's /usr/bin/aws, v2) against a real `s3xfs serve` listener, path style:
# mb/rb, cp up/down of a small and a 100 MiB file (multipart upload in 8 MiB parts, parallel
# ranged GETs), an s3 -> s3 copy of it (multipart copy: GetObjectTagging + UploadPartCopy), a
# 20 MiB upload from stdin, sync of a tree both ways (a second sync transfers nothing), ls
# (recursive, with prefixes), rm --recursive, presigned URLs fetched with curl (tampered and
# expired ones get 403), and s3api put-object/get-object/head-object with metadata. Every
# download is compared byte for byte (and ETags against MD5s).
#
# Usage: tests/s3/awscli.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
AWS_BIN=/usr/bin/aws
require_exe "$AWS_BIN"
require_cmd curl
s3_start
s3_aws_env
awsc() { "$AWS_BIN" --endpoint-url "$S3_ENDPOINT" "$@"; }
# aws_ok DESC ARGS...: runs aws, its stdout to the caller's stdout; fails with its stderr.
aws_ok() { local d=$1; shift; run_ok "$d" awsc "$@"; }
# aws_fail DESC PATTERN ARGS...: aws must fail (exit 1, 254 or 255) with PATTERN in its stderr.
aws_fail() {
  local d=$1 pat=$2 rc=0; shift 2
  awsc "$@" >/dev/null 2>"$TMP/aws.err" || rc=$?
  ((rc != 0)) || fail "$d: expected a failure, aws succeeded: aws $*"
  grep -q -- "$pat" "$TMP/aws.err" || fail "$d: expected '$pat' (exit $rc): $(cat "$TMP/aws.err")"
  log "  ok: $d ($pat)"
}

B=cli-bucket
S="s3://$B"

# ---------------------------------------------------------------- buckets
log "1. mb / ls"
aws_ok "mb" s3 mb "$S" >/dev/null
aws_fail "mb of an existing bucket" BucketAlreadyOwnedByYou s3 mb "$S"

# ---------------------------------------------------------------- cp small
log "2. cp of a small file up and down"
chacha awscli/small 1000 >"$TMP/small"
aws_ok "cp up small" s3 cp "$TMP/small" "$S/small.bin" >/dev/null
aws_ok "cp down small" s3 cp "$S/small.bin" "$TMP/small.out" >/dev/null
assert_same_file "$TMP/small.out" "$TMP/small" "small file round trip"
# stdin/stdout streaming
awsc s3 cp - "$S/stdin.bin" <"$TMP/small" || fail "cp from stdin"
awsc s3 cp "$S/stdin.bin" - >"$TMP/stdout.out" || fail "cp to stdout"
assert_same_file "$TMP/stdout.out" "$TMP/small" "cp - / cp to -"
log "  ok"

# ---------------------------------------------------------------- cp 100 MiB
log "3. cp of a 100 MiB file (multipart up, parallel ranged GETs down)"
big=$((100 * 1024 * 1024))
chacha awscli/big "$big" >"$TMP/big"
t0=$(now_ns)
aws_ok "cp up 100 MiB" s3 cp "$TMP/big" "$S/dir/big.bin" >/dev/null
t1=$(now_ns)
# s3 -> s3 above 8 MiB is a multipart copy (UploadPartCopy with x-amz-copy-source-range);
# a stream of unknown size from stdin is a multipart upload too.
aws_ok "cp s3 -> s3 100 MiB" s3 cp "$S/dir/big.bin" "$S/dir/big copy.bin" >/dev/null
head -c $((20 * 1024 * 1024 + 5)) "$TMP/big" >"$TMP/big20"
awsc s3 cp - "$S/dir/stdin20.bin" <"$TMP/big20" || fail "cp of 20 MiB from stdin"
# ETags and sizes from one listing: single PUT = MD5, multipart = md5-of-md5s-N.
big_etag=$(md5_etag "$TMP/big" $((8 * 1024 * 1024)))
aws_ok "list-objects-v2" s3api list-objects-v2 --bucket "$B" \
  --query 'Contents[].[Key,ETag,Size]' --output text >"$TMP/list"
assert_eq "$(grep -P '^small.bin\t' "$TMP/list")" "small.bin	\"$(md5_of "$TMP/small")\"	1000" \
  "ETag and size of a single PUT"
assert_eq "$(grep -P '^dir/big.bin\t' "$TMP/list")" \
  "dir/big.bin	\"$big_etag\"	$big" \
  "ETag (8 MiB parts) and size of the multipart upload"
assert_eq "$(grep -P '^dir/big copy.bin\t' "$TMP/list")" \
  "dir/big copy.bin	\"$big_etag\"	$big" \
  "ETag and size of the multipart copy"
assert_eq "$(grep -P '^dir/stdin20.bin\t' "$TMP/list")" \
  "dir/stdin20.bin	\"$(md5_etag "$TMP/big20" $((8 * 1024 * 1024)))\"	$((20 * 1024 * 1024 + 5))" \
  "ETag and size of the upload from stdin"
cid1=$(awsc s3api head-object --bucket "$B" --key dir/big.bin --query 'Metadata."ipfs-cid"' --output text)
cid2=$(awsc s3api head-object --bucket "$B" --key "dir/big copy.bin" --query 'Metadata."ipfs-cid"' --output text)
is_cid "$cid1" || fail "x-amz-meta-ipfs-cid of the 100 MiB object: '$cid1'"
assert_eq "$cid2" "$cid1" "the multipart copy has the original's CID"
t2=$(now_ns)
aws_ok "cp down 100 MiB" s3 cp "$S/dir/big.bin" "$TMP/big.out" >/dev/null
t3=$(now_ns)
assert_same_file "$TMP/big.out" "$TMP/big" "100 MiB round trip"
rm -f "$TMP/big.out"
log "  ok: up $(((t1 - t0) / 1000000)) ms, down $(((t3 - t2) / 1000000)) ms"

# ---------------------------------------------------------------- sync
log "4. sync of a tree up and down"
make_tree "$TMP/tree"
aws_ok "sync up" s3 sync --no-progress "$TMP/tree" "$S/tree/" >"$TMP/sync1"
n=$(grep -c '^upload:' "$TMP/sync1" || true)
files=$(find "$TMP/tree" -type f | wc -l)
assert_eq "$n" "$files" "first sync uploads every file"
aws_ok "sync up again" s3 sync --no-progress "$TMP/tree" "$S/tree/" >"$TMP/sync2"
[[ ! -s "$TMP/sync2" ]] || fail "second sync up transferred something: $(cat "$TMP/sync2")"
aws_ok "sync down" s3 sync --no-progress "$S/tree/" "$TMP/tree.down" >"$TMP/sync3"
assert_eq "$(tree_md5s "$TMP/tree.down")" "$(tree_md5s "$TMP/tree")" "tree synced down"
aws_ok "sync down again" s3 sync --no-progress "$S/tree/" "$TMP/tree.down" >"$TMP/sync4"
[[ ! -s "$TMP/sync4" ]] || fail "second sync down transferred something: $(cat "$TMP/sync4")"
# a changed file and a deleted one: sync --delete transfers exactly those
printf 'changed\n' >"$TMP/tree/hello.txt"
rm "$TMP/tree/empty.txt"
aws_ok "sync up --delete" s3 sync --no-progress --delete "$TMP/tree" "$S/tree/" >"$TMP/sync5"
assert_eq "$(grep -c '^upload:' "$TMP/sync5")" 1 "sync of one changed file uploads one file"
assert_eq "$(grep -c '^delete:' "$TMP/sync5")" 1 "sync --delete of one removed file deletes one object"
log "  ok: $files files"

# ---------------------------------------------------------------- ls
log "5. ls (recursive, prefixes)"
aws_ok "ls --recursive" s3 ls --recursive "$S/tree/" >"$TMP/ls"
files=$(find "$TMP/tree" -type f | wc -l)
assert_eq "$(wc -l <"$TMP/ls")" "$files" "ls --recursive lists every file"
grep -q ' tree/sub/plus+sign%percent~tilde.dat$' "$TMP/ls" || fail "ls --recursive misses the +%~ key: $(cat "$TMP/ls")"
grep -q ' tree/ünï/ファイル.txt$' "$TMP/ls" || fail "ls --recursive misses the unicode key: $(cat "$TMP/ls")"
grep -q ' tree/with space/c d.txt$' "$TMP/ls" || fail "ls --recursive misses the key with spaces"
aws_ok "ls dir" s3 ls "$S/tree/" >"$TMP/ls"
grep -q 'PRE sub/$' "$TMP/ls" || fail "ls tree/ does not show PRE sub/: $(cat "$TMP/ls")"
grep -q 'PRE with space/$' "$TMP/ls" || fail "ls tree/ does not show PRE 'with space/': $(cat "$TMP/ls")"
grep -q ' hello.txt$' "$TMP/ls" || fail "ls tree/ does not show hello.txt: $(cat "$TMP/ls")"
aws_ok "ls partial prefix" s3 ls "$S/tree/su" >"$TMP/ls"
assert_eq "$(tr -s ' ' <"$TMP/ls")" " PRE sub/" "ls of a partial prefix"
log "  ok"

# ---------------------------------------------------------------- presign
log "6. presigned URLs"
url=$(awsc s3 presign "$S/small.bin" --expires-in 600)
code=$(curl -sS -o "$TMP/presigned.out" -w '%{http_code}' "$url")
assert_eq "$code" 200 "presigned GET"
assert_same_file "$TMP/presigned.out" "$TMP/small" "presigned download"
sig=${url##*X-Amz-Signature=}
sig=${sig%%&*}
last=${sig: -1}
[[ "$last" == 0 ]] && repl=1 || repl=0
bad=${url/X-Amz-Signature=$sig/X-Amz-Signature=${sig%?}$repl}
code=$(curl -sS -o "$TMP/presigned.err" -w '%{http_code}' "$bad")
assert_eq "$code" 403 "presigned URL with a tampered signature"
grep -q SignatureDoesNotMatch "$TMP/presigned.err" || fail "tampered URL: $(cat "$TMP/presigned.err")"
other=${url/small.bin/stdin.bin}
code=$(curl -sS -o "$TMP/presigned.err" -w '%{http_code}' "$other")
assert_eq "$code" 403 "presigned URL pointed at another key"
# A key with + % ~ (the canonical URI encodes them once, as S3 does).
url=$(awsc s3 presign "$S/tree/sub/plus+sign%percent~tilde.dat")
code=$(curl -sS -o "$TMP/presigned.out" -w '%{http_code}' "$url")
assert_eq "$code" 200 "presigned GET of a key with + % ~"
assert_same_file "$TMP/presigned.out" "$TMP/tree/sub/plus+sign%percent~tilde.dat" "presigned download of a key with + % ~"
url=$(awsc s3 presign "$S/small.bin" --expires-in 1)
sleep 2.2
code=$(curl -sS -o "$TMP/presigned.err" -w '%{http_code}' "$url")
assert_eq "$code" 403 "expired presigned URL"
grep -q AccessDenied "$TMP/presigned.err" || fail "expired URL: $(cat "$TMP/presigned.err")"
log "  ok"

# ---------------------------------------------------------------- s3api with metadata
log "7. s3api put-object / head-object / get-object with metadata"
K='meta/an object+1 %~ ü.txt'
chacha awscli/meta 5000 >"$TMP/meta"
aws_ok "put-object" s3api put-object --bucket "$B" --key "$K" --body "$TMP/meta" \
  --metadata 'color=blue,mtime=1700000000' --content-type text/plain \
  --cache-control max-age=60 --content-disposition 'attachment; filename="x.txt"' \
  --content-language de --query ETag --output text >"$TMP/etag"
assert_eq "$(cat "$TMP/etag")" "\"$(md5_of "$TMP/meta")\"" "put-object ETag"
awsc s3api head-object --bucket "$B" --key "$K" --output json >"$TMP/head.json" ||
  fail "head-object"
field() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for p in sys.argv[2].split("."): d=d.get(p, "") if isinstance(d, dict) else ""
print(d)' "$@"; }
assert_eq "$(field "$TMP/head.json" Metadata.color)" blue "x-amz-meta-color"
assert_eq "$(field "$TMP/head.json" Metadata.mtime)" 1700000000 "x-amz-meta-mtime"
assert_eq "$(field "$TMP/head.json" ContentType)" text/plain "Content-Type"
assert_eq "$(field "$TMP/head.json" CacheControl)" max-age=60 "Cache-Control"
assert_eq "$(field "$TMP/head.json" ContentDisposition)" 'attachment; filename="x.txt"' "Content-Disposition"
assert_eq "$(field "$TMP/head.json" ContentLanguage)" de "Content-Language"
assert_eq "$(field "$TMP/head.json" ContentLength)" 5000 "ContentLength"
cid=$(field "$TMP/head.json" Metadata.ipfs-cid)
is_cid "$cid" || fail "x-amz-meta-ipfs-cid on HEAD is not a CID: '$cid'"
awsc s3api get-object --bucket "$B" --key "$K" "$TMP/meta.out" >"$TMP/get.json" || fail "get-object"
assert_same_file "$TMP/meta.out" "$TMP/meta" "get-object body"
assert_eq "$(field "$TMP/get.json" Metadata.color)" blue "get-object metadata"
assert_eq "$(field "$TMP/get.json" Metadata.ipfs-cid)" "$cid" "x-amz-meta-ipfs-cid on GET"
awsc s3api get-object --bucket "$B" --key "$K" --range bytes=100-199 "$TMP/range.out" >/dev/null ||
  fail "get-object --range"
cmp -s "$TMP/range.out" <(tail -c +101 "$TMP/meta" | head -c 100) || fail "ranged get-object"
aws_ok "s3 cp (server-side copy)" s3 cp "$S/$K" "$S/meta/copy" >/dev/null
awsc s3api get-object --bucket "$B" --key meta/copy "$TMP/copy.out" >"$TMP/get2.json" || fail "get copy"
assert_same_file "$TMP/copy.out" "$TMP/meta" "server-side copy"
assert_eq "$(field "$TMP/get2.json" Metadata.color)" blue "server-side copy keeps metadata"
aws_fail "head of a missing key" "(404)" s3api head-object --bucket "$B" --key nope
log "  ok (cid $cid)"

# ---------------------------------------------------------------- rm / rb
log "8. rm --recursive, rb"
aws_fail "rb of a non-empty bucket" BucketNotEmpty s3 rb "$S"
aws_ok "rm --recursive tree/" s3 rm --recursive "$S/tree/" >"$TMP/rm"
assert_eq "$(tr '\r' '\n' <"$TMP/rm" | grep -c '^delete:')" "$files" "rm --recursive deletes every file"
aws_ok "list after rm" s3api list-objects-v2 --no-paginate --bucket "$B" --prefix tree/ --query KeyCount \
  --output text >"$TMP/n"
assert_eq "$(cat "$TMP/n")" 0 "objects left under tree/ after rm --recursive"
aws_ok "rm the rest" s3 rm --recursive "$S" >/dev/null
aws_ok "rb" s3 rb "$S" >/dev/null
aws_ok "ls buckets" s3 ls >"$TMP/ls"
if grep -q " $B\$" "$TMP/ls"; then fail "bucket still listed after rb"; fi
log "  ok"

log "PASS ($(elapsed) s)"
