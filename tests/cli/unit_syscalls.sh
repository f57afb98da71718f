#!/usr/bin/env bash
# The units' SystemCallFilter= allow what the daemons call: a mount (s3xfs@.service) and an S3
# listener (s3xfs-serve@.service) run under strace with file, directory, xattr, fsync, S3 and
# shutdown traffic, and every system call they make must be in the filter's groups as
# `systemd-analyze syscall-filter` expands them. (A call outside would fail with EPERM under
# systemd, which this machine cannot run.)
# usage: unit_syscalls.sh /path/to/s3xfs BUILD_DIR SOURCE_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
build=${2:?usage: unit_syscalls.sh S3XFS BUILD_DIR SOURCE_DIR}
s3xfs_init "$1"
[[ -e /dev/fuse ]] || skip "no /dev/fuse"
command -v strace >/dev/null || skip "strace missing (tools/setup.sh installs it)"
command -v systemd-analyze >/dev/null || skip "systemd-analyze missing (tools/setup.sh installs systemd)"
command -v curl >/dev/null || skip "curl missing"
command -v setfattr >/dev/null || skip "attr missing"

# allowed UNIT: the system calls its SystemCallFilter= allows, one a line (groups expanded).
allowed() {
  local groups
  groups=$(sed -n 's/^SystemCallFilter=//p' "$build/systemd/$1")
  [[ -n "$groups" && "$groups" != "~"* ]] || fail "$1: no allow-list SystemCallFilter="
  python3 - "$groups" <<'PY'
import subprocess, sys
seen, out = set(), set()
def expand(name):
    if name in seen:
        return
    seen.add(name)
    if not name.startswith("@"):
        out.add(name)
        return
    text = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                          check=True, capture_output=True, text=True).stdout
    for line in text.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            expand(line)
for g in sys.argv[1].split():
    expand(g)
print("\n".join(sorted(out)))
PY
}

# traced_calls SUMMARY: the system call names in an `strace -c` summary.
traced_calls() {
  awk '/^-+/ {sep++; next} sep == 1 && NF >= 5 {print $NF}' "$1" | sort -u
}

# check UNIT SUMMARY
check() {
  local bad
  allowed "$1" > "$TMP/allowed.$1"
  traced_calls "$2" > "$TMP/called.$1"
  [[ -s "$TMP/called.$1" ]] || fail "no system calls in the strace summary $2"
  bad=$(comm -23 "$TMP/called.$1" "$TMP/allowed.$1")
  [[ -z "$bad" ]] || fail "$1: SystemCallFilter= lacks what the daemon calls: $(echo $bad)"
  log "  ok: all $(wc -l < "$TMP/called.$1") system calls made are allowed by $1"
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'SCKEY syscall-secret-key-1\n' > "$TMP/keys"
s3() {
  curl -sS --fail --aws-sigv4 aws:amz:us-east-1:s3 --user SCKEY:syscall-secret-key-1 \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
# stop_traced STRACE_PID: SIGTERM to the traced daemon (strace's child), then wait for both.
stop_traced() {
  local child
  child=$(pgrep -P "$1" | head -n 1)
  [[ -n "$child" ]] || fail "the traced daemon is gone"
  kill -TERM "$child"
  wait "$1" || fail "the traced daemon did not exit cleanly"
}

log "a mount under strace, as s3xfs@.service runs it"
mnt=$TMP/mnt
mkdir -p "$mnt"
strace -f -qq -c -o "$TMP/mount.strace" -- "$S3XFS" mount --foreground --data-dir "$TMP/data" \
  --s3-listen "127.0.0.1:$port" --s3-keys "$TMP/keys" "$mnt" 2>"$TMP/mount.err" &
tracer=$!
wait_port "$port" 30
mkdir "$mnt/bucket"
chacha syscalls $((5 << 20)) > "$TMP/f"
cp "$TMP/f" "$mnt/bucket/f"
dd if="$TMP/f" of="$mnt/bucket/g" bs=1M conv=fsync status=none
cmp "$TMP/f" "$mnt/bucket/g"
mv "$mnt/bucket/g" "$mnt/bucket/h"
ln -s f "$mnt/bucket/link"
ln "$mnt/bucket/f" "$mnt/bucket/hard" 2>/dev/null || true
setfattr -n user.color -v blue "$mnt/bucket/f"
getfattr -d "$mnt/bucket/f" >/dev/null
truncate -s 1000 "$mnt/bucket/h"
ls -la "$mnt/bucket" >/dev/null
df "$mnt" >/dev/null
s3 -T "$TMP/f" "http://127.0.0.1:$port/bucket/put" >/dev/null
s3 "http://127.0.0.1:$port/bucket/put" -o "$TMP/put.back"
cmp "$TMP/f" "$TMP/put.back"
s3 "http://127.0.0.1:$port/bucket?list-type=2" >/dev/null
rm -r "$mnt/bucket"
mkdir "$mnt/bucket2"
exec 7>"$mnt/bucket2/open-at-exit"   # a dirty file still open at SIGTERM: the exit flush
echo "dirty" >&7
stop_traced "$tracer"
exec 7>&- || true
mountpoint -q "$mnt" && fail "still mounted"
check s3xfs@.service "$TMP/mount.strace"

log "an S3 listener under strace, as s3xfs-serve@.service runs it"
strace -f -qq -c -o "$TMP/serve.strace" -- "$S3XFS" serve --data-dir "$TMP/data" \
  --s3-listen "127.0.0.1:$port" --s3-keys "$TMP/keys" 2>"$TMP/serve.err" &
tracer=$!
wait_port "$port" 30
s3 -X PUT "http://127.0.0.1:$port/other" >/dev/null
s3 -T "$TMP/f" "http://127.0.0.1:$port/other/obj" >/dev/null
s3 "http://127.0.0.1:$port/other/obj" -o "$TMP/obj.back"
cmp "$TMP/f" "$TMP/obj.back"
s3 -X DELETE "http://127.0.0.1:$port/other/obj" >/dev/null
stop_traced "$tracer"
check s3xfs-serve@.service "$TMP/serve.strace"
log "PASS"
