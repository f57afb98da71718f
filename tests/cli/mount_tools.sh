#!/usr/bin/env bash
# Real tools on a real s3xfs mount: cp -a + diff -r, tar round trip, rsync -a, git
# init/add/commit/clone/fsck, sqlite3 through many transactions + integrity_check, fio verify,
# xattrs (user.* and the read-only user.ipfs.cid), persistence across remount, and a clean
# unmount. Usage: mount_tools.sh /path/to/s3xfs
set -euo pipefail
S3XFS=${1:?usage: mount_tools.sh S3XFS}
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-mount.XXXXXX")
mnt=$tmp/mnt
data=$tmp/data
mkdir -p "$mnt"
cleanup() {
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  rm -rf -- "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

"$S3XFS" mount --data-dir "$data" "$mnt" || fail "mount failed"
findmnt "$mnt" >/dev/null || fail "mount returned but $mnt is not mounted"
step "mkdir at the root makes a bucket"
mkdir "$mnt/work"
B=$mnt/work
src=$(cd "$(dirname "$0")/../.." && pwd)

step "cp -a and diff -r of the source tree"
cp -a "$src/src" "$B/tree"
diff -r "$src/src" "$B/tree" || fail "diff -r after cp -a"

step "tar create/extract round trip"
(cd "$B" && tar cf "$tmp/t.tar" tree && mkdir untar && cd untar && tar xf "$tmp/t.tar")
diff -r "$src/src" "$B/untar/tree" || fail "tar round trip"

if command -v rsync >/dev/null; then
  step "rsync -a"
  rsync -a "$src/include/" "$B/rs/"
  rsync -a "$src/include/" "$B/rs/"  # second run: nothing to do
  diff -r "$src/include" "$B/rs" || fail "rsync -a"
fi

step "git init/add/commit/clone/fsck"
(cd "$B" && git init -q repo && cp -r "$src/src" repo/ && cd repo && git add . &&
  git -c user.email=t@t -c user.name=t commit -qm one && git fsck --strict >/dev/null) || fail "git on the mount"
git clone -q "$B/repo" "$tmp/clone" || fail "git clone from the mount"
diff -r "$tmp/clone/src" "$src/src" || fail "git clone content"

step "sqlite3: 200 transactions, then integrity_check"
db=$B/db.sqlite
sqlite3 "$db" "create table t(a integer primary key, b text);"
for i in $(seq 1 40); do
  sqlite3 "$db" "begin; insert into t(b) select hex(randomblob(500)) from (select 1 union all select 2 union all select 3 union all select 4 union all select 5); update t set b = b || 'x' where a % 7 = $((i % 7)); delete from t where a % 11 = $((i % 11)) and a < $((i * 3)); commit;"
done
[ "$(sqlite3 "$db" 'pragma integrity_check;')" = ok ] || fail "sqlite integrity_check"

if command -v fio >/dev/null; then
  step "fio random write + crc32c verify"
  (cd "$tmp" && fio --name=verify --directory="$B" --rw=randwrite --bs=4k --size=16m --verify=crc32c \
      --do_verify=1 --ioengine=psync --end_fsync=1 --output="$tmp/fio.txt" >/dev/null) ||
    { cat "$tmp/fio.txt"; fail "fio verify"; }
  grep -q "err= 0" "$tmp/fio.txt" || { cat "$tmp/fio.txt"; fail "fio reported errors"; }
fi

step "xattrs: user.* round trip, user.ipfs.cid equals s3xfs add"
printf 'hello world' > "$B/hw.txt"
want=$("$S3XFS" add --only-hash "$B/hw.txt")
got=$(getfattr --absolute-names --only-values -n user.ipfs.cid "$B/hw.txt")
[ "$got" = "$want" ] || fail "user.ipfs.cid $got, expected $want"
setfattr -n user.color -v blue "$B/hw.txt"
[ "$(getfattr --absolute-names --only-values -n user.color "$B/hw.txt")" = blue ] || fail "user.color"
if setfattr -n user.ipfs.cid -v x "$B/hw.txt" 2>/dev/null; then fail "user.ipfs.cid was writable"; fi

step "remount: everything persists"
fusermount3 -u "$mnt"
"$S3XFS" mount --data-dir "$data" "$mnt"
diff -r "$src/src" "$B/tree" || fail "content after remount"
[ "$(sqlite3 "$db" 'pragma integrity_check;')" = ok ] || fail "sqlite after remount"
[ "$(getfattr --absolute-names --only-values -n user.color "$B/hw.txt")" = blue ] || fail "xattr after remount"

step "unmount, fsck clean"
fusermount3 -u "$mnt"
"$S3XFS" fsck --data-dir "$data" || fail "fsck after the tool runs"
echo "PASS"
