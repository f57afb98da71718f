#!/usr/bin/env bash
# Crash test for the mount: a writer creates files and rewrites ranges, fsyncs, and logs (outside
# the mount) what each fsync made durable; the daemon is SIGKILLed mid-write, the stale mount is
# recovered by the next `s3xfs mount`, and every fsynced byte must be intact, with fsck clean
# after --repair (blocks written by the killed flush may be orphans). Repeated ROUNDS times.
# Usage: mount_crash.sh /path/to/s3xfs [rounds]
set -euo pipefail
S3XFS=${1:?usage: mount_crash.sh S3XFS [rounds]}
ROUNDS=${2:-${S3XFS_CRASH_ROUNDS:-8}}
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-crash.XXXXXX")
mnt=$tmp/mnt data=$tmp/data log=$tmp/durable.log
: >"$log"
mkdir -p "$mnt"
daemon=
cleanup() {
  [ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null || true
  # Every mount left on the mount point (one per killed daemon if any stayed), not just the top.
  for _ in $(seq 1 200); do
    findmnt "$mnt" >/dev/null 2>&1 || break
    fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || break
  done
  rm -rf -- "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start() {  # foreground daemon in the background, so we know its pid
  "$S3XFS" mount --foreground --data-dir "$data" "$mnt" 2>>"$tmp/daemon.log" &
  daemon=$!
  for _ in $(seq 100); do findmnt "$mnt" >/dev/null 2>&1 && ls "$mnt" >/dev/null 2>&1 && return 0; sleep 0.05; done
  fail "mount did not come up"
}

writer=$tmp/writer.py
cat > "$writer" <<'PY'
# Log protocol (the log is fsynced after every line): "P path hash" before a change that may
# become durable, "D path hash" once an fsync made that state durable.
import hashlib, os, random, sys
root, log, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
logf = open(log, "a")
def note(kind, name, data):
    logf.write("%s %s %s\n" % (kind, name, hashlib.sha256(data).hexdigest()))
    logf.flush(); os.fsync(logf.fileno())
i = 0
while True:
    i += 1
    name = os.path.join(root, "r%d-f%d" % (seed, i))
    size = rnd.choice([0, 1, 4096, 262143, 262144, 262145, 700000, 1500000])
    data = bytearray(rnd.randbytes(size))
    note("P", name, data)
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    note("D", name, data)
    if size > 10:  # rewrite a range and fdatasync
        off = rnd.randrange(size); patch = rnd.randbytes(min(5000, size - off))
        data[off:off + len(patch)] = patch
        note("P", name, data)
        os.pwrite(fd, patch, off)
        os.fdatasync(fd)
        note("D", name, data)
        junk = b"unsynced" * 100  # never fsynced; close() may commit it
        alt = bytearray(data); alt[0:len(junk)] = junk
        note("P", name, alt)
        os.pwrite(fd, junk, 0)
    os.close(fd)
PY

start
mkdir "$mnt/crash"
for round in $(seq 1 "$ROUNDS"); do
  python3 "$writer" "$mnt/crash" "$log" "$round" 2>>"$tmp/writer.log" &
  wpid=$!
  before=$(wc -l <"$log" 2>/dev/null || echo 0)
  for _ in $(seq 200); do  # wait for this round's first durable state, then kill at random
    [ "$(wc -l <"$log" 2>/dev/null || echo 0)" -gt "$before" ] && break
    sleep 0.025
  done
  sleep "0.$((RANDOM % 6 + 1))"
  kill -9 "$daemon"
  wait "$daemon" 2>/dev/null || true
  daemon=
  wait "$wpid" 2>/dev/null || true  # the writer dies with ENOTCONN
  start  # must recover the stale mount point
  # Every file must hold its last durable state or one of the states pending after it.
  python3 - "$log" <<'PY' || fail "round $round: durable data lost"
import hashlib, sys
durable, pending = {}, {}
for line in open(sys.argv[1]):
    kind, p, h = line.split()
    if kind == "D":
        durable[p] = h
        pending[p] = []
    else:
        pending.setdefault(p, []).append(h)
bad = 0
for p, h in durable.items():
    ok = {h, *pending.get(p, [])}
    try:
        d = open(p, "rb").read()
    except OSError as e:
        print("missing", p, e); bad += 1; continue
    if hashlib.sha256(d).hexdigest() not in ok:
        print("changed", p, len(d)); bad += 1
sys.exit(1 if bad else 0)
PY
  echo "round $round: $(grep -c '^D' "$log") durable states checked"
  [ -s "$log" ] || { cat "$tmp/writer.log" "$tmp/daemon.log" >&2; fail "the writer made no progress"; }
done
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
"$S3XFS" fsck --data-dir "$data" --repair >/dev/null || true
"$S3XFS" fsck --data-dir "$data" || fail "fsck not clean after repair"
echo PASS
