#!/usr/bin/env bash
# admin: the admin socket of a running daemon, end to end. A mount with --ipfs temporalx://
# against a real `s3xfs node`: the socket is 0600, owned by the daemon's user, and answers
# nothing but its protocol; `s3xfs status --json` (through the socket) shows dirty bytes, the
# pending uploads while the node is stopped and none once it is back, and falls back to the
# ledger when no daemon runs; flush (with --wait-upload), gc, fsck and keys act on the running
# daemon (a key added is accepted by the S3 listener at once, a removed one gets 403); a second
# daemon on the directory does not steal the socket, a SIGKILLed one leaves a socket the next
# start replaces; progress lines appear on a terminal only (a pty from script(1)).
#
# usage: admin.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
[ -e /dev/fuse ] || skip "no /dev/fuse"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "python3 missing"
command -v curl >/dev/null || skip "curl missing"
command -v script >/dev/null || skip "script (util-linux) missing"

nport=$(free_port)
sport=$(free_port)
NODE=temporalx://127.0.0.1:$nport
mnt=$TMP/mnt
data=$TMP/data
sock=$data/admin.sock
mkdir -p "$mnt" "$TMP/files"
node_pid=
serve_pid=
holder_pid=
start_node() {
  "$S3XFS" node --data-dir "$TMP/node" --listen "127.0.0.1:$nport" 2>>"$TMP/node.log" &
  node_pid=$!
  wait_port "$nport"
}
kill_node() { kill -9 "$node_pid"; wait "$node_pid" 2>/dev/null || true; node_pid=; }
cleanup_all() {
  local rc=$?
  if [ -n "$holder_pid" ]; then touch "$TMP/release"; kill "$holder_pid" 2>/dev/null || true; fi
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; fi
  if [ -n "$serve_pid" ]; then kill -9 "$serve_pid" 2>/dev/null || true; fi
  (exit "$rc")
  cleanup_tmp
}
trap cleanup_all EXIT
printf '# test keys\nADMKEY adm-secret-key-1\n' > "$TMP/keys"
chmod 600 "$TMP/keys"
mount_it() {
  "$S3XFS" mount --data-dir "$data" --ipfs "$NODE" --s3-listen "127.0.0.1:$sport" \
    --s3-keys "$TMP/keys" "$mnt" 2>>"$TMP/mount.log" || fail "mount failed: $(tail -3 "$TMP/mount.log")"
}
# http_code of a signed request: s3code ACCESS SECRET CURL_ARGS...
s3code() {
  local ak=$1 sk=$2; shift 2
  curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 --user "$ak:$sk" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
# jget JSON_FILE EXPR: a Python expression over the object j, printed.
jget() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
status_json() { "$S3XFS" status --data-dir "$data" --json > "$TMP/st.json" || fail "status --json failed"; }
st() { status_json; jget "$TMP/st.json" "$1"; }
# Sends raw bytes to the admin socket and prints the reply (as another user with RUN_AS).
raw_admin() {
  ${RUN_AS:-} "$PY" - "$sock" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror); sys.exit(0)
try:
    s.sendall(sys.argv[2].encode()); s.shutdown(socket.SHUT_WR)
except BrokenPipeError:
    pass  # refused before reading: the reply says why
out = b""
while not out.endswith(b"\n"):  # one reply line (a refusal may reset the connection after it)
    b = s.recv(65536)
    if not b: break
    out += b
sys.stdout.write(out.decode())
EOF
}

log "a mount on temporalx:// serves its admin socket, owner-only"
start_node
mount_it
[ -S "$sock" ] || fail "no socket at $sock"
assert_eq "$(stat -c '%a %U' "$sock")" "600 $(id -un)" "socket mode and owner"
assert_eq "$(st 'j["source"]')" "daemon" "status comes from the daemon"
assert_eq "$(jget "$TMP/st.json" 'j["daemon"]["mountpoint"]')" "$mnt" "mount point"
assert_eq "$(jget "$TMP/st.json" 'j["daemon"]["s3_listen"]')" "127.0.0.1:$sport" "S3 address"
assert_eq "$(jget "$TMP/st.json" 'j["remote"]')" "$NODE" "remote"
assert_eq "$(jget "$TMP/st.json" 'j["remote_healthy"]')" "True" "remote health"
assert_eq "$(jget "$TMP/st.json" 'j["daemon"]["pid"]')" "$(head -1 "$sock.lock")" "pid in the lock file"
"$S3XFS" status --data-dir "$data" > "$TMP/st.txt"
grep -q "^daemon: *mount, pid" "$TMP/st.txt" || fail "text status: $(cat "$TMP/st.txt")"
grep -q "^back end: *$NODE (healthy)" "$TMP/st.txt" || fail "text status back end: $(cat "$TMP/st.txt")"

log "the socket answers nothing but its protocol"
for junk in 'GET / HTTP/1.1' 'hello' '[1,2,3]' '{"nocmd":1}'; do
  reply=$(raw_admin "$junk"$'\n')
  [[ "$reply" == *'"ok":false'*'"code":"invalid_argument"'* ]] || fail "reply to '$junk': $reply"
done
reply=$(raw_admin '{"cmd":"reboot"}'$'\n')
[[ "$reply" == *'unknown command'* ]] || fail "unknown command reply: $reply"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  # Let the other user reach the directory, so that only the socket's own mode stops it.
  tmp_mode=$(stat -c %a "$TMP"); data_mode=$(stat -c %a "$data")
  chmod 755 "$TMP" "$data"
  reply=$(RUN_AS="${nobody[*]}" raw_admin '{"cmd":"status"}'$'\n')
  [[ "$reply" == "connect: Permission denied" ]] || fail "another user reached the socket: $reply"
  # Even with the mode opened up by mistake, the daemon checks its peer's user id.
  chmod 666 "$sock"
  reply=$(RUN_AS="${nobody[*]}" raw_admin '{"cmd":"status"}'$'\n')
  chmod 600 "$sock"; chmod "$tmp_mode" "$TMP"; chmod "$data_mode" "$data"
  [[ "$reply" == *'"ok":false'*'permission denied'* ]] || fail "peer check: $reply"
  [[ "$reply" != *pending_uploads* ]] || fail "status leaked to another user: $reply"
  log "  another user: refused by mode and by peer credentials"
else
  log "  (not root: the other-user checks are skipped)"
fi

log "dirty data of an open file shows in status; flush commits it"
chacha 1 3000000 > "$TMP/files/held"
mkdir "$mnt/bkt"
"$PY" - "$mnt/bkt/held" "$TMP/files/held" "$TMP/written" "$TMP/release" <<'EOF' &
import os, sys, time
f = open(sys.argv[1], "wb")
f.write(open(sys.argv[2], "rb").read())
f.flush()                      # to the daemon; still open, so not committed
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[4]):
    time.sleep(0.05)
f.close()
EOF
holder_pid=$!
for _ in $(seq 1 100); do [ -e "$TMP/written" ] && break; sleep 0.05; done
[ -e "$TMP/written" ] || fail "writer did not start"
dirty=$(st 'j["dirty_bytes"]')
[ "$dirty" -ge 3000000 ] || fail "dirty_bytes $dirty while a 3 MB write is unflushed"
assert_eq "$(jget "$TMP/st.json" 'j["dirty_files"]')" 1 "dirty files"
assert_eq "$(s3code ADMKEY adm-secret-key-1 "http://127.0.0.1:$sport/bkt/held" -o /dev/null)" 200 "GET before flush"
"$S3XFS" flush --data-dir "$data" > "$TMP/flush.out" 2>"$TMP/flush.err" || fail "flush: $(cat "$TMP/flush.err")"
grep -q "^flushed 2.9 MiB in 1 files" "$TMP/flush.out" || fail "flush output: $(cat "$TMP/flush.out")"
[ ! -s "$TMP/flush.err" ] || fail "flush wrote to stderr off a terminal: $(cat "$TMP/flush.err")"
assert_eq "$(st 'j["dirty_bytes"]')" 0 "dirty bytes after flush"
[ "$(jget "$TMP/st.json" 'j["last_flush_unix"]')" != None ] || fail "no last flush time"
curl -sS --aws-sigv4 aws:amz:us-east-1:s3 --user ADMKEY:adm-secret-key-1 \
  "http://127.0.0.1:$sport/bkt/held" -o "$TMP/held.get"
assert_same_file "$TMP/held.get" "$TMP/files/held" "object visible over S3 after flush, file still open"
touch "$TMP/release"; wait "$holder_pid"; holder_pid=

log "node stopped: status shows pending uploads through the socket; flush --wait-upload times out"
kill_node
chacha 2 2500000 > "$TMP/files/w1"
cp "$TMP/files/w1" "$mnt/bkt/w1"
p=$(st 'j["pending_uploads"]')
[ "$p" -gt 0 ] || fail "no pending uploads while the node is down"
assert_eq "$(jget "$TMP/st.json" 'j["source"]')" daemon "status source with the node down"
for _ in $(seq 1 100); do
  [ "$(st 'j["remote_healthy"]')" = False ] && break
  sleep 0.1
done
assert_eq "$(jget "$TMP/st.json" 'j["remote_healthy"]')" False "remote health with the node down"
[ "$(jget "$TMP/st.json" 'j["remote_last_error"]')" != None ] || fail "no last error"
log "  $p blocks pending; last error: $(jget "$TMP/st.json" 'j["remote_last_error"][:120]')"
EXPECT_FAIL_ANY_LINES=0 expect_fail "flush --wait-upload with the node down" \
  "$S3XFS" flush --data-dir "$data" --wait-upload 2
[[ "$FAIL_STDERR" == *"not yet uploaded"* ]] || fail "unclear flush timeout: $FAIL_STDERR"

log "node back: flush --wait-upload drains the queue; status shows none pending"
start_node
"$S3XFS" flush --data-dir "$data" --wait-upload 60 > "$TMP/flush.out" || fail "flush --wait-upload 60"
grep -q "; 0 blocks (0 B) pending upload" "$TMP/flush.out" || fail "after waiting: $(cat "$TMP/flush.out")"
assert_eq "$(st 'j["pending_uploads"]')" 0 "pending uploads after the node returned"
assert_eq "$(jget "$TMP/st.json" 'j["remote_healthy"]')" True "remote health after the node returned"
[ "$(jget "$TMP/st.json" 'j["uploaded_blocks"]')" -gt 0 ] || fail "uploaded_blocks"

log "gc runs in the daemon and status remembers it"
rm "$mnt/bkt/w1"
"$S3XFS" gc --data-dir "$data" --grace 0 --json > "$TMP/gc.json" || fail "gc"
[ "$(jget "$TMP/gc.json" 'j["blocks_deleted"]')" -ge 10 ] || fail "gc deleted too little: $(cat "$TMP/gc.json")"
assert_eq "$(st 'j["last_gc"]["ok"]')" True "last GC ok"
assert_eq "$(jget "$TMP/st.json" 'j["last_gc"]["blocks_deleted"]')" "$(jget "$TMP/gc.json" 'j["blocks_deleted"]')" "last GC figures"

log "fsck runs inside the daemon"
"$S3XFS" fsck --data-dir "$data" > "$TMP/fsck.out" 2>"$TMP/fsck.err" || fail "fsck: $(cat "$TMP/fsck.out" "$TMP/fsck.err")"
assert_eq "$(tail -1 "$TMP/fsck.out")" clean "fsck result"
grep -q "checked by the daemon running on $data" "$TMP/fsck.err" || fail "fsck did not go to the daemon: $(cat "$TMP/fsck.err")"

log "keys: added pairs work at once, removed ones get 403"
assert_eq "$("$S3XFS" keys --data-dir "$data" list)" ADMKEY "keys list (the daemon's --s3-keys file)"
read -r ak sk < <("$S3XFS" keys --data-dir "$data" add 2>"$TMP/keys.err") || fail "keys add: $(cat "$TMP/keys.err")"
[[ "$ak" =~ ^[A-Z0-9]{20}$ && ${#sk} -eq 40 ]] || fail "generated pair: '$ak' '$sk'"
grep -q "now uses 2 key pairs" "$TMP/keys.err" || fail "no reload: $(cat "$TMP/keys.err")"
assert_eq "$(stat -c %a "$TMP/keys")" 600 "keys file mode after add"
assert_eq "$(s3code "$ak" "$sk" "http://127.0.0.1:$sport/")" 200 "new key accepted at once"
assert_eq "$(s3code "$ak" "$sk" -X PUT "http://127.0.0.1:$sport/newkeybkt")" 200 "new key creates a bucket"
"$S3XFS" keys --data-dir "$data" add GIVENKEY given-secret-123 2>/dev/null || fail "keys add ACCESS SECRET"
assert_eq "$(s3code GIVENKEY given-secret-123 "http://127.0.0.1:$sport/")" 200 "given key accepted at once"
"$S3XFS" keys --data-dir "$data" list > "$TMP/list"
assert_eq "$(tr '\n' ' ' < "$TMP/list")" "ADMKEY $ak GIVENKEY " "keys list"
! grep -q "$sk" "$TMP/list" || fail "keys list shows a secret"
grep -qx "$ak $sk" <("$S3XFS" keys --data-dir "$data" list --show-secrets) || fail "--show-secrets"
"$S3XFS" keys --data-dir "$data" remove "$ak" 2>/dev/null || fail "keys remove"
assert_eq "$(s3code "$ak" "$sk" "http://127.0.0.1:$sport/")" 403 "removed key refused at once"
assert_eq "$(s3code ADMKEY adm-secret-key-1 "http://127.0.0.1:$sport/")" 200 "other keys still work"
expect_fail "removing the first pair without --force" "$S3XFS" keys --data-dir "$data" remove ADMKEY
[[ "$FAIL_STDERR" == *"--force"* ]] || fail "no hint: $FAIL_STDERR"
expect_fail "adding a listed key" "$S3XFS" keys --data-dir "$data" add GIVENKEY other-secret-1
expect_fail "a malformed secret" "$S3XFS" keys --data-dir "$data" add NEWKEY2 short
assert_eq "$(stat -c %a "$TMP/keys")" 600 "keys file mode after the edits"

log "a second daemon on the directory does not take the socket"
sport2=$(free_port)
"$S3XFS" serve --data-dir "$data" --ipfs "$NODE" --s3-listen "127.0.0.1:$sport2" \
  --s3-keys "$TMP/keys" 2>"$TMP/serve.log" &
serve_pid=$!
wait_port "$sport2"
grep -q "no admin socket.*served by another daemon (pid $(head -1 "$sock.lock"))" "$TMP/serve.log" ||
  fail "second daemon: $(cat "$TMP/serve.log")"
assert_eq "$(st 'j["daemon"]["mode"]')" mount "the socket still belongs to the mount"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
[ -S "$sock" ] || fail "the second daemon removed the first's socket on exit"
assert_eq "$(st 'j["daemon"]["mode"]')" mount "the mount still answers after the second daemon left"

log "no daemon: status reads the ledger and says so; the socket is gone"
fusermount3 -u "$mnt"
for _ in $(seq 1 50); do [ -e "$sock" ] || break; sleep 0.1; done
[ ! -e "$sock" ] || fail "socket left after a clean unmount"
assert_eq "$(st 'j["source"]')" ledger "status source without a daemon"
assert_eq "$(jget "$TMP/st.json" 'j["daemon"]')" None "no daemon in status"
assert_eq "$(jget "$TMP/st.json" 'j["pending_uploads"]')" 0 "pending uploads from the ledger"
"$S3XFS" status --data-dir "$data" | grep -q "none running (figures from the ledger)" || fail "text status without daemon"
"$S3XFS" flush --data-dir "$data" 2>"$TMP/flush.err" || fail "flush without a daemon"
grep -q "no daemon runs on $data; nothing to flush" "$TMP/flush.err" || fail "flush without daemon: $(cat "$TMP/flush.err")"
"$S3XFS" fsck --data-dir "$data" > "$TMP/fsck.out" 2>"$TMP/fsck.err" || fail "local fsck"
! grep -q "checked by the daemon" "$TMP/fsck.err" || fail "fsck claims a daemon that is not there"
"$S3XFS" keys --data-dir "$data" --s3-keys "$TMP/keys" add OFFLINEKEY offline-secret-1 || fail "keys add offline"
grep -q "^OFFLINEKEY offline-secret-1$" "$TMP/keys" || fail "offline add not in the file"

log "a SIGKILLed daemon leaves a stale socket; the next start replaces it"
mount_it
dpid=$(st 'j["daemon"]["pid"]')
kill -9 "$dpid"
for _ in $(seq 1 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
[ -S "$sock" ] || fail "expected a stale socket after SIGKILL"
assert_eq "$(st 'j["source"]')" ledger "status after SIGKILL (stale socket)"
fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
mount_it
assert_eq "$(st 'j["source"]')" daemon "status after the restart"
[ "$(jget "$TMP/st.json" 'j["daemon"]["pid"]')" != "$dpid" ] || fail "old pid in status"

log "progress lines: on a terminal only"
chacha 3 40000000 > "$TMP/files/big"
adir=$TMP/adata
cid=$("$S3XFS" add --data-dir "$adir" "$TMP/files/big" 2>"$TMP/add.err")
[ ! -s "$TMP/add.err" ] || fail "add printed progress off a terminal: $(head -c 200 "$TMP/add.err")"
"$S3XFS" export-car --data-dir "$adir" "$cid" > "$TMP/big.car" 2>"$TMP/exp.err"
[ ! -s "$TMP/exp.err" ] || fail "export-car printed progress off a terminal"
"$S3XFS" import-car --data-dir "$TMP/bdata" "$TMP/big.car" > /dev/null 2>"$TMP/imp.err"
[ ! -s "$TMP/imp.err" ] || fail "import-car printed progress off a terminal"
"$S3XFS" fsck --data-dir "$adir" > /dev/null 2>"$TMP/fsck.err"
[ ! -s "$TMP/fsck.err" ] || fail "fsck printed progress off a terminal"
pty() { script -qefc "$1" /dev/null > "$2" || fail "under a pty: $1 :: $(tr '\r' '\n' < "$2" | tail -3)"; }
pty "'$S3XFS' import-car --data-dir '$TMP/cdata' '$TMP/big.car'" "$TMP/imp.tty"
grep -q $'\r''import-car  .*/ .*100%' "$TMP/imp.tty" || fail "no import-car progress on a pty: $(tr '\r' '\n' < "$TMP/imp.tty" | head -5)"
grep -q "$cid" "$TMP/imp.tty" || fail "import-car output on a pty"
pty "'$S3XFS' add --data-dir '$TMP/ddata' '$TMP/files/big'" "$TMP/add.tty"
grep -q $'\r''add  38.1 MiB / 38.1 MiB  100%' "$TMP/add.tty" || fail "no add progress on a pty: $(tr '\r' '\n' < "$TMP/add.tty" | head -5)"
pty "'$S3XFS' export-car --data-dir '$adir' '$cid' > '$TMP/big2.car'" "$TMP/exp.tty"
grep -q $'\r''export-car  ' "$TMP/exp.tty" || fail "no export-car progress on a pty"
cmp "$TMP/big.car" "$TMP/big2.car" || fail "export-car under a pty wrote a different CAR"
pty "'$S3XFS' fsck --data-dir '$data'" "$TMP/fsck.tty"
grep -q $'\r''fsck  .*100%' "$TMP/fsck.tty" || fail "no fsck progress on a pty: $(tr '\r' '\n' < "$TMP/fsck.tty" | head -5)"
pty "'$S3XFS' flush --data-dir '$data' --wait-upload 30" "$TMP/flush.tty"
grep -q $'\r''\(flushing\|uploading\)  ' "$TMP/flush.tty" || fail "no flush progress on a pty: $(tr '\r' '\n' < "$TMP/flush.tty" | head -5)"
# Small adds stay quiet even on a terminal.
printf 'tiny\n' > "$TMP/files/tiny"
pty "'$S3XFS' add --data-dir '$TMP/ddata' '$TMP/files/tiny'" "$TMP/tiny.tty"
! grep -q "add  " "$TMP/tiny.tty" || fail "progress for a tiny add: $(tr '\r' '\n' < "$TMP/tiny.tty")"
fusermount3 -u "$mnt"
log "PASS"
