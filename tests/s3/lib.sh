# shellcheck shell=bash
# Shared helpers for the S3 client-matrix tests (tests/s3/*.sh): each test runs a real client
# (rclone, s3cmd, s3fs-fuse, restic, aws cli, boto3, ...) against a real `s3xfs serve` listener.
#
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   source "$here/lib.sh"
#   s3_init "$@"                  # S3XFS = $1 (or $S3XFS); TMP (removed at exit); log/fail/...
#   require_cmd rclone            # exit 77 (meson SKIP) when a client is not installed
#   s3_start [SERVE_ARGS...]      # a fresh server on a free port with a temp data dir
#   ... "$S3_ENDPOINT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" ...
#
# s3_start sets:
#   S3_ENDPOINT     http://127.0.0.1:PORT         S3_PORT, S3_HOST (127.0.0.1:PORT)
#   S3_ACCESS_KEY   S3_SECRET_KEY                 the first key pair of the keys file
#   S3_ACCESS_KEY2  S3_SECRET_KEY2                a second pair (owns nothing, no grants)
#   S3_DATA_DIR     the server's data directory    S3_KEYS  the keys file
#   S3_LOG          the server's stderr            S3_PID   the server's pid
#   S3_REGION       us-east-1
# The server listens on 127.0.0.1:0 and the port is read from its "S3 listening on" line, so
# there is no race for a port. Extra arguments go to `s3xfs serve` (e.g. --s3-domain DOMAIN).
# s3_stop stops it (SIGTERM, then waits); s3_start again restarts it on the same data dir
# (S3_KEEP_DATA=1) or on a new one (default).
#
# At exit (any exit), the commands registered with `at_exit CMD...` run last-registered first
# (unmounts, ...), then the server is stopped, then TMP is removed (kept when the test failed
# and S3XFS_KEEP_TMP=1, or always with S3XFS_KEEP_TMP=1). On failure the tail of the server log
# is printed.
#
# Also from tests/cli/lib.sh: log, fail, skip, assert_eq, assert_same_file, chacha, run_ok.
# Helpers here: s3_curl CURL_ARGS... (SigV4-signed curl), md5_of FILE, make_tree DIR (a mixed
# tree of deterministic files), tree_md5s DIR (sorted "md5  relpath" lines), elapsed (seconds
# since s3_init).
#
# AWS SDK clients (aws cli, boto3, @aws-sdk/client-s3):
#   require_exe PATH...           exit 77 when PATH is not an executable file (Debian's /usr/bin/aws
#                                 and /usr/bin/python3: a pyenv or pip shim earlier in PATH is not
#                                 what setup.sh installs, so tests name Debian's binaries)
#   s3_aws_env [KEY SECRET]       exports AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
#                                 AWS_DEFAULT_REGION, AWS_CONFIG_FILE (a temp file: path-style
#                                 addressing, no retries beyond 2), AWS_SHARED_CREDENTIALS_FILE
#                                 (empty), no IMDS, no pager; default: the first key pair
#   md5_etag FILE PART_SIZE       the multipart ETag a client uploading FILE in PART_SIZE parts
#                                 gets: md5(concat(part md5s))-N (no quotes)

S3_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cli/lib.sh
source "$S3_LIB_DIR/../cli/lib.sh"

S3_REGION=us-east-1
S3_PID=
S3_AT_EXIT=()

at_exit() { S3_AT_EXIT+=("$(printf '%q ' "$@")"); }

s3_cleanup() {
  local rc=$?
  local i
  for ((i = ${#S3_AT_EXIT[@]} - 1; i >= 0; i--)); do
    eval "${S3_AT_EXIT[$i]}" >/dev/null 2>&1 || true
  done
  if ((rc != 0)) && [[ -n "${S3_LOG:-}" && -f "$S3_LOG" ]]; then
    printf '[%s] server log (tail):\n' "$TEST_NAME" >&2
    tail -n 30 "$S3_LOG" >&2 || true
  fi
  s3_stop || true
  (exit "$rc")
  cleanup_tmp
}

s3_init() {
  s3xfs_init "$@"
  trap s3_cleanup EXIT
  # A command that makes `set -e` end the script names itself (not in functions: no set -E).
  trap 'printf "[%s] FAIL: line %s: command failed (exit %s): %s\n" "$TEST_NAME" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR
  S3_T0=$(date +%s)
}

elapsed() { echo $(($(date +%s) - S3_T0)); }

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || skip "$c not found (run tools/setup.sh)"
  done
}

s3_start() {
  if [[ -z "${S3_DATA_DIR:-}" || "${S3_KEEP_DATA:-0}" != 1 ]]; then
    S3_DATA_DIR=$(mktemp -d "$TMP/data.XXXX")
  fi
  S3_KEYS="$TMP/s3-keys"
  S3_ACCESS_KEY=${S3_ACCESS_KEY:-s3xtestkey}
  S3_SECRET_KEY=${S3_SECRET_KEY:-s3xtestsecret0123456789}
  S3_ACCESS_KEY2=${S3_ACCESS_KEY2:-s3xotherkey}
  S3_SECRET_KEY2=${S3_SECRET_KEY2:-s3xothersecret987654321}
  printf '%s %s\n%s %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$S3_ACCESS_KEY2" "$S3_SECRET_KEY2" >"$S3_KEYS"
  chmod 600 "$S3_KEYS"
  S3_LOG="$TMP/server.$(date +%s%N).log"
  "$S3XFS" serve --data-dir "$S3_DATA_DIR" --s3-listen 127.0.0.1:0 --s3-keys "$S3_KEYS" "$@" \
    >>"$S3_LOG" 2>&1 &
  S3_PID=$!
  local i addr=
  for ((i = 0; i < 200; i++)); do
    addr=$(sed -n 's|^s3xfs: S3 listening on http://||p' "$S3_LOG" | tail -n 1)
    [[ -n "$addr" ]] && break
    kill -0 "$S3_PID" 2>/dev/null || { S3_PID=; fail "s3xfs serve exited: $(tail -n 5 "$S3_LOG")"; }
    sleep 0.05
  done
  [[ -n "$addr" ]] || fail "s3xfs serve did not print its address within 10 s: $(tail -n 5 "$S3_LOG")"
  S3_HOST=$addr
  S3_PORT=${addr##*:}
  S3_ENDPOINT="http://$addr"
  export S3_ENDPOINT S3_HOST S3_PORT S3_ACCESS_KEY S3_SECRET_KEY S3_REGION
  log "server pid $S3_PID on $S3_ENDPOINT (data $S3_DATA_DIR${*:+, $*})"
}

s3_stop() {
  [[ -n "${S3_PID:-}" ]] || return 0
  local pid=$S3_PID i
  S3_PID=
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "server $pid did not stop within 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# s3_curl CURL_ARGS...: curl signing with SigV4 as $S3_ACCESS_KEY (UNSIGNED-PAYLOAD), e.g.
#   s3_curl -o out "$S3_ENDPOINT/bucket/key";  s3_curl -X PUT "$S3_ENDPOINT/bucket"
# Write valueless sub-resources with '=' (?uploads=, ?location=): curl 7.88 signs "?uploads" as
# "uploads" instead of "uploads=" (a curl bug; S3 and s3xfs then answer SignatureDoesNotMatch).
s3_curl() {
  curl -sS --fail-with-body --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

md5_of() { md5sum <"$1" | cut -c1-32; }

# make_tree DIR: deterministic mixed files: empty, tiny, odd sizes around 64 KiB / 1 MiB,
# nested directories, names with spaces, '+', '%', '~', unicode.
make_tree() {
  local d=$1
  mkdir -p "$d/sub/deeper" "$d/with space" "$d/ünï"
  : >"$d/empty.txt"
  printf 'hello s3xfs\n' >"$d/hello.txt"
  chacha tree/a 65537 >"$d/sub/a.bin"
  chacha tree/b 1048577 >"$d/sub/deeper/b.bin"
  chacha tree/c 3000 >"$d/with space/c d.txt"
  chacha tree/plus 100 >"$d/sub/plus+sign%percent~tilde.dat"
  chacha tree/uni 777 >"$d/ünï/ファイル.txt"
  chacha tree/big 2500000 >"$d/sub/medium.bin"
}

# tree_md5s DIR: "md5  relpath" for every regular file, sorted by path.
tree_md5s() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum)
}

require_exe() {
  local c
  for c in "$@"; do
    [[ -x "$c" ]] || skip "$c not found (run tools/setup.sh)"
  done
}

s3_aws_env() {
  local key=${1:-$S3_ACCESS_KEY} secret=${2:-$S3_SECRET_KEY}
  [[ -n "$key" && -n "$secret" ]] || fail "s3_aws_env: call s3_start first"
  export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret
  export AWS_REGION=$S3_REGION AWS_DEFAULT_REGION=$S3_REGION
  export AWS_CONFIG_FILE="$TMP/aws-config" AWS_SHARED_CREDENTIALS_FILE="$TMP/aws-credentials"
  export AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_MAX_ATTEMPTS=2
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
  printf '[default]\nregion = %s\nmax_attempts = 2\ns3 =\n  addressing_style = path\n' \
    "$S3_REGION" >"$AWS_CONFIG_FILE"
  : >"$AWS_SHARED_CREDENTIALS_FILE"
}

md5_etag() {
  local file=$1 part=$2 size n i
  size=$(stat -c %s "$file")
  n=$(((size + part - 1) / part))
  ((n > 0)) || n=1
  for ((i = 0; i < n; i++)); do
    dd if="$file" bs="$part" skip="$i" count=1 status=none | md5sum | cut -c1-32
  done | perl -ne 'chomp; print pack("H*", $_)' | md5sum | cut -c1-32 | tr -d '\n'
  printf -- '-%d\n' "$n"
}
