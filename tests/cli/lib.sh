# shellcheck shell=bash
# Shared helpers for the s3xfs CLI tests. Source it from a test script:
#
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   source "$here/lib.sh"
#   s3xfs_init "$@"      # sets S3XFS, REPO_ROOT, REF_ADD, IPFS_CAR, TMP (cleaned up on exit)
#
# Conventions: every check prints what it checks; any failure prints one clear
# "FAIL: ..." line and exits 1. Exit 77 (meson's SKIP) is used only when a test
# prerequisite other than s3xfs itself (node, the npm packages, GNU time) is missing.
# Set S3XFS_KEEP_TMP=1 to keep the temporary directory for inspection.

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LIB_DIR/../.." && pwd)
JS_DIR="$REPO_ROOT/tools/js"
REF_ADD=(node "$JS_DIR/ref-add.mjs")
IPFS_CAR=(node "$JS_DIR/node_modules/ipfs-car/bin.js")

TEST_NAME=$(basename "$0" .sh)

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
fail() { printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
skip() { printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*" >&2; exit 77; }

# assert_eq ACTUAL EXPECTED MSG
assert_eq() {
  if [[ "$1" != "$2" ]]; then
    fail "$3: got '$1', expected '$2'"
  fi
}

# assert_same_file ACTUAL_FILE EXPECTED_FILE MSG  (byte comparison)
assert_same_file() {
  local out
  if ! out=$(cmp -- "$1" "$2" 2>&1); then
    fail "$3: contents differ ($out; sizes $(stat -c %s -- "$1" 2>/dev/null || echo '?') vs $(stat -c %s -- "$2"))"
  fi
}

# chacha SEED N: writes N deterministic bytes (ChaCha20 keystream, key = sha256(SEED),
# zero nonce and counter) to stdout — the recipe Kubo's fixtures use.
chacha() {
  local key
  key=$(printf %s "$1" | sha256sum | cut -c1-64)
  head -c "$2" /dev/zero | openssl enc -chacha20 -K "$key" -iv 00000000000000000000000000000000
}

# make_tmpdir: creates $TMP under ${TMPDIR:-/tmp} and removes it on exit.
cleanup_tmp() {
  local rc=$?
  # Reap background jobs we started (fifo readers etc.), by pid only.
  local p
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  if [[ -n "${TMP:-}" && -d "$TMP" ]]; then
    if [[ "${S3XFS_KEEP_TMP:-0}" == 1 ]]; then
      printf '[%s] keeping %s\n' "$TEST_NAME" "$TMP" >&2
    else
      rm -rf -- "$TMP"
    fi
  fi
  return "$rc"
}
make_tmpdir() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-$TEST_NAME.XXXXXX")
  trap cleanup_tmp EXIT
  trap 'exit 130' INT TERM
}

# s3xfs_init "$@": S3XFS = first argument, else $S3XFS; must be an executable file.
s3xfs_init() {
  local bin="${1:-${S3XFS:-}}"
  [[ -n "$bin" ]] || fail "usage: $0 /path/to/s3xfs (or set S3XFS)"
  [[ -f "$bin" && -x "$bin" ]] || fail "s3xfs binary not found or not executable: $bin"
  S3XFS=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
  export S3XFS
  command -v openssl >/dev/null || fail "openssl not found (needed for the ChaCha20 test data)"
  make_tmpdir
  log "s3xfs = $S3XFS"
}

# require_node: the reference importer and ipfs-car need node and tools/js/node_modules.
require_node() {
  command -v node >/dev/null || skip "node not found (run tools/setup.sh)"
  [[ -d "$JS_DIR/node_modules/ipfs-unixfs-importer" ]] ||
    skip "$JS_DIR/node_modules missing (run tools/setup.sh)"
}

# ref_add ARGS...: the reference importer (prints the root CID).
ref_add() { "${REF_ADD[@]}" "$@"; }
ipfs_car() { "${IPFS_CAR[@]}" "$@"; }

# run_ok DESC CMD...: runs CMD, stdout to the caller; fails with its stderr if it exits non-zero.
run_ok() {
  local desc=$1; shift
  local errf="$TMP/.run_ok.err" rc=0
  "$@" 2>"$errf" || rc=$?
  if ((rc != 0)); then
    fail "$desc: command failed (exit $rc): $* :: $(head -c 2000 "$errf" | tr '\n' ' ')"
  fi
}

# expect_fail DESC CMD...: CMD must exit non-zero (but not die from a signal) and print
# exactly one line on stderr. Sets FAIL_STDERR and FAIL_STDOUT for further checks.
# EXPECT_FAIL_ANY_LINES=1 accepts more than one stderr line (usage errors may print usage).
expect_fail() {
  local desc=$1; shift
  local errf="$TMP/.expect_fail.err" outf="$TMP/.expect_fail.out" rc=0 lines
  "$@" >"$outf" 2>"$errf" </dev/null || rc=$?
  FAIL_STDERR=$(cat "$errf")
  # shellcheck disable=SC2034  # read by the callers
  FAIL_STDOUT=$(head -c 1000 "$outf" | tr -d '\000')
  if ((rc == 0)); then
    fail "$desc: expected a non-zero exit, got 0: $*"
  fi
  if ((rc >= 128)); then
    fail "$desc: killed by signal $((rc - 128)) (crash?) instead of a clean error: $* :: $FAIL_STDERR"
  fi
  lines=$(wc -l <"$errf")
  if [[ ! -s "$errf" ]]; then
    fail "$desc: exit $rc but nothing on stderr: $*"
  fi
  # One line = one newline-terminated line (or one unterminated line).
  if [[ "${EXPECT_FAIL_ANY_LINES:-0}" == 1 ]]; then
    log "  ok: $desc (exit $rc: $(head -n 1 "$errf"))"
    return 0
  fi
  if ((lines > 1)) || { ((lines == 0)) && [[ -n "$FAIL_STDERR" && "$FAIL_STDERR" == *$'\n'* ]]; }; then
    fail "$desc: expected exactly one line on stderr, got $lines: $FAIL_STDERR"
  fi
  log "  ok: $desc (exit $rc: $FAIL_STDERR)"
}

# is_cid STRING: plausibility check of a printed CID (v0 base58 or v1 base32).
is_cid() {
  [[ "$1" =~ ^Qm[1-9A-HJ-NP-Za-km-z]{44}$ || "$1" =~ ^b[a-z2-7]{58,}$ ]]
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT (default 10 s), else fail.
wait_port() {
  local i
  for ((i = 0; i < ${2:-10} * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nothing listens on port $1 after ${2:-10} s"
}

# now_ns: monotonic-enough wall clock in nanoseconds.
now_ns() { date +%s%N; }
