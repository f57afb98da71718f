#!/usr/bin/env bash
# s3cmd (Debian 12: 2.3) against a real `s3xfs serve --s3-domain s3x.test`, in both addressing
# styles:
#  - path style:         host_base = host_bucket = 127.0.0.1:PORT
#  - virtual-host style: host_base = s3x.test:PORT, host_bucket = %(bucket)s.s3x.test:PORT.
#    Nothing resolves *.s3x.test on a CI machine and /etc/hosts is not ours to edit, so s3cmd
#    runs under a tiny Python wrapper that maps s3x.test and *.s3x.test to 127.0.0.1 in
#    socket.getaddrinfo; s3cmd itself is unchanged and sends "Host: BUCKET.s3x.test:PORT"
#    (checked in its debug output).
# Each style: mb (and BucketAlreadyOwnedByYou on a second mb), put (single and multipart with
# 5 MiB chunks), info (MD5), ls / la / du, get with MD5 verification, cp and mv (CopyObject),
# modify (CopyObject REPLACE), sync up with --check-md5 (change, add, --delete-removed), sync
# down, del, del --recursive (DeleteObjects), rb on a non-empty bucket fails, rb.
#
# Usage: tests/s3/s3cmd.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
require_cmd s3cmd md5sum
DOMAIN=s3x.test
s3_start --s3-domain "$DOMAIN"

S3CMD_BIN=$(command -v s3cmd)
# s3cmd's own interpreter (its shebang: Debian's python3 with the S3 package), not whatever
# python3 comes first in PATH.
S3CMD_PY=$(sed -n '1s/^#! *//p' "$S3CMD_BIN")
[[ -x "${S3CMD_PY%% *}" ]] || skip "cannot find s3cmd's interpreter ($S3CMD_PY)"
cat >"$TMP/s3cmd-resolve.py" <<EOF
# Runs s3cmd with $DOMAIN and *.$DOMAIN resolving to 127.0.0.1 (no /etc/hosts edits).
import runpy, socket, sys
_orig = socket.getaddrinfo
def _gai(host, *a, **k):
    if isinstance(host, str) and (host == "$DOMAIN" or host.endswith(".$DOMAIN")):
        host = "127.0.0.1"
    return _orig(host, *a, **k)
socket.getaddrinfo = _gai
sys.argv[0] = "$S3CMD_BIN"
runpy.run_path("$S3CMD_BIN", run_name="__main__")
EOF

write_cfg() { # FILE HOST_BASE HOST_BUCKET BUCKET_LOCATION ("": s3cmd's default, "US")
  cat >"$1" <<EOF
[default]
access_key = $S3_ACCESS_KEY
secret_key = $S3_SECRET_KEY
host_base = $2
host_bucket = $3
${4:+bucket_location = $4}
use_https = False
signature_v2 = False
check_ssl_certificate = False
multipart_chunk_size_mb = 5
progress_meter = False
EOF
}
# Path style keeps s3cmd's default region "US" (what `s3cmd --configure` writes): s3cmd signs
# for "US", gets AuthorizationHeaderMalformed with <Region>us-east-1</Region> and re-signs.
write_cfg "$TMP/path.cfg" "$S3_HOST" "$S3_HOST" ""
write_cfg "$TMP/vhost.cfg" "$DOMAIN:$S3_PORT" "%(bucket)s.$DOMAIN:$S3_PORT" "$S3_REGION"

CFG=
S3C=()
# (never pipe s3c into `grep -q`: s3cmd exits 74 when its stdout closes early)
s3c() { run_ok "s3cmd $*" "${S3C[@]}" "$@"; }

SRC="$TMP/src"
make_tree "$SRC"
BIG="$TMP/big.bin" SMALL="$TMP/small.bin"
chacha s3cmd/big $((12 * 1024 * 1024 + 777)) >"$BIG"
chacha s3cmd/small 5000 >"$SMALL"

suite() { # STYLE BUCKET
  local style=$1 b=$2
  CFG="$TMP/$style.cfg"
  S3C=("$S3CMD_PY" "$TMP/s3cmd-resolve.py" -c "$CFG")
  local W="$TMP/work-$style"
  mkdir -p "$W"
  TMP=$W  # run_ok/expect_fail keep their scratch files in $TMP: one per parallel suite
  log "[$style] mb s3://$b"
  s3c mb "s3://$b"
  if [[ $style == vhost ]]; then
    "${S3C[@]}" -d ls "s3://$b" >/dev/null 2>"$W/debug.log" || fail "[$style] ls -d"
    grep -q "$b.$DOMAIN" "$W/debug.log" || fail "[$style] s3cmd did not use virtual-host addressing"
  fi
  EXPECT_FAIL_ANY_LINES=1 expect_fail "[$style] second mb is refused" "${S3C[@]}" mb "s3://$b"
  grep -q 'BucketAlreadyOwnedByYou\|already' <<<"$FAIL_STDERR" || fail "[$style] second mb: $FAIL_STDERR"
  grep -q "s3://$b\$" <<<"$(s3c ls)" || fail "[$style] ls does not show s3://$b"
  s3c info "s3://$b" >"$W/info"
  grep -Eq "Location: +$S3_REGION" "$W/info" || fail "[$style] info s3://$b: $(cat "$W/info")"

  log "[$style] put (single, multipart), info"
  s3c put "$SMALL" "s3://$b/dir/small.bin"
  s3c put "$BIG" "s3://$b/dir/big.bin"
  s3c put --mime-type=text/plain --add-header=x-amz-meta-color:blue "$SRC/hello.txt" "s3://$b/hello.txt"
  s3c info "s3://$b/dir/small.bin" >"$W/info"
  grep -Eq "MD5 sum: +$(md5_of "$SMALL")" "$W/info" || fail "[$style] info MD5: $(cat "$W/info")"
  s3c info "s3://$b/dir/big.bin" >"$W/info"
  grep -Eq "MD5 sum: +$(md5_of "$BIG")" "$W/info" || fail "[$style] info MD5 (multipart): $(cat "$W/info")"
  s3c info "s3://$b/hello.txt" >"$W/info"
  grep -qi 'text/plain' "$W/info" || fail "[$style] info: MIME type not kept: $(cat "$W/info")"
  grep -qi 'color: *blue' "$W/info" || fail "[$style] info: x-amz-meta-color not kept: $(cat "$W/info")"

  log "[$style] multipart / listmp / abortmp of an upload left open (started with curl)"
  s3_curl -X POST "$S3_ENDPOINT/$b/open%20upload?uploads=" >/dev/null || fail "[$style] CreateMultipartUpload"
  local up
  up=$(s3c multipart "s3://$b" | awk '/open upload/ {print $NF}')
  [[ -n "$up" ]] || fail "[$style] s3cmd multipart does not list the open upload"
  s3_curl -X PUT --data-binary @"$SMALL" \
    "$S3_ENDPOINT/$b/open%20upload?partNumber=1&uploadId=$up" >/dev/null || fail "[$style] UploadPart"
  grep -q "\"$(md5_of "$SMALL")\"[[:space:]]*5000\$" <<<"$(s3c listmp "s3://$b/open upload" "$up")" ||
    fail "[$style] listmp: $(s3c listmp "s3://$b/open upload" "$up")"
  s3c abortmp "s3://$b/open upload" "$up" >/dev/null
  if grep -q 'open upload' <<<"$(s3c multipart "s3://$b")"; then fail "[$style] abortmp left the upload"; fi

  log "[$style] ls / la / du"
  s3c ls "s3://$b" >"$W/ls"
  grep -q "DIR  *s3://$b/dir/\$" "$W/ls" || fail "[$style] ls: no dir/ prefix: $(cat "$W/ls")"
  grep -q "s3://$b/hello.txt\$" "$W/ls" || fail "[$style] ls: no hello.txt: $(cat "$W/ls")"
  s3c ls --recursive "s3://$b" | grep -c "s3://$b/" >"$W/n"
  assert_eq "$(cat "$W/n")" 3 "[$style] ls --recursive count"
  grep -q "s3://$b/hello.txt\$" <<<"$(s3c la)" || fail "[$style] la does not show hello.txt"
  s3c du "s3://$b" >"$W/du"
  exp=$(($(stat -c %s "$SMALL") + $(stat -c %s "$BIG") + $(stat -c %s "$SRC/hello.txt")))
  [[ "$(awk '{print $1}' "$W/du")" == "$exp" ]] || fail "[$style] du: $(cat "$W/du"), expected $exp"

  log "[$style] get (MD5-verified)"
  s3c get --force "s3://$b/dir/big.bin" "$W/big.out"
  assert_same_file "$W/big.out" "$BIG" "[$style] get big.bin"
  s3c get --force "s3://$b/dir/small.bin" "$W/small.out"
  assert_same_file "$W/small.out" "$SMALL" "[$style] get small.bin"

  log "[$style] cp / mv (CopyObject), modify (CopyObject REPLACE)"
  s3c cp "s3://$b/dir/small.bin" "s3://$b/copy/small copy+.bin"
  s3c mv "s3://$b/dir/big.bin" "s3://$b/moved/big.bin"
  s3c get --force "s3://$b/copy/small copy+.bin" "$W/c.out"
  assert_same_file "$W/c.out" "$SMALL" "[$style] copied object"
  s3c get --force "s3://$b/moved/big.bin" "$W/m.out"
  assert_same_file "$W/m.out" "$BIG" "[$style] moved object"
  if "${S3C[@]}" info "s3://$b/dir/big.bin" >/dev/null 2>&1; then fail "[$style] mv left the source"; fi
  s3c modify --add-header=x-amz-meta-flavour:mint "s3://$b/hello.txt"
  s3c info "s3://$b/hello.txt" >"$W/info"
  grep -qi 'flavour: *mint' "$W/info" || fail "[$style] modify: header not set: $(cat "$W/info")"
  s3c get --force "s3://$b/hello.txt" "$W/h.out"
  assert_same_file "$W/h.out" "$SRC/hello.txt" "[$style] content after modify"

  log "[$style] sync up (--check-md5), change/add/delete, sync down"
  local T="$W/tree"
  cp -a "$SRC" "$T"
  s3c sync --check-md5 "$T/" "s3://$b/tree/"
  chacha "s3cmd/$style/changed" 65537 >"$T/sub/a.bin"  # same size, new content
  printf 'added\n' >"$T/added.txt"
  rm "$T/hello.txt"
  s3c sync --check-md5 --delete-removed "$T/" "s3://$b/tree/" >"$W/sync.out"
  grep -q "sub/a.bin" "$W/sync.out" || fail "[$style] sync --check-md5 did not upload the changed same-size file: $(cat "$W/sync.out")"
  s3c sync --check-md5 "s3://$b/tree/" "$W/down/"
  diff -r "$T" "$W/down" >&2 || fail "[$style] sync down differs from the tree"
  [[ "$(tree_md5s "$T")" == "$(tree_md5s "$W/down")" ]] || fail "[$style] MD5s differ after sync down"

  log "[$style] del, rb (BucketNotEmpty), del --recursive, rb"
  s3c del "s3://$b/hello.txt"
  if "${S3C[@]}" info "s3://$b/hello.txt" >/dev/null 2>&1; then fail "[$style] del left the object"; fi
  EXPECT_FAIL_ANY_LINES=1 expect_fail "[$style] rb on a non-empty bucket" "${S3C[@]}" rb "s3://$b"
  grep -q 'BucketNotEmpty\|not empty' <<<"$FAIL_STDERR" || fail "[$style] rb non-empty: $FAIL_STDERR"
  s3c del --recursive --force "s3://$b/"
  assert_eq "$(s3c ls --recursive "s3://$b" | wc -l)" 0 "[$style] objects left after del --recursive"
  s3c rb "s3://$b"
  if grep -q "s3://$b\$" <<<"$(s3c ls)"; then fail "[$style] bucket still listed after rb"; fi
}

# Both styles at once (separate buckets; s3cmd's start-up dominates the run time). Each runs
# in a subshell (no EXIT trap there: the server and TMP are the parent's).
pids=()
for style in path vhost; do
  (suite "$style" "$style-bkt") >"$TMP/suite-$style.log" 2>&1 &
  pids+=($!)
done
rcs=()
for p in "${pids[@]}"; do
  rc=0
  wait "$p" || rc=$?
  rcs+=("$rc")
done
cat "$TMP/suite-path.log" "$TMP/suite-vhost.log"
[[ "${rcs[*]}" == "0 0" ]] || fail "s3cmd suites failed (exit codes path/vhost: ${rcs[*]})"

log "PASS ($(elapsed) s)"
