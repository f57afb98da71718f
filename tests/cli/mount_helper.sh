#!/usr/bin/env bash
# The mount(8) helper (src/cli/mount.s3xfs.in, see mount.s3xfs(8)): -o options mapped to
# `s3xfs mount` flags, FUSE options and dropped generic options, clear errors for unknown ones;
# then for real: `mount -t fuse.s3xfs` and `mount -t s3xfs` with options that visibly take
# effect, `mount -a` seeing the mount as mounted, and an /etc/fstab entry mounted with
# `mount MOUNTPOINT` and `umount MOUNTPOINT`.
# Installs the helper as /sbin/mount.s3xfs and /sbin/mount.fuse.s3xfs and adds a line to
# /etc/fstab for the duration (both restored on exit; one run per machine at a time).
# usage: mount_helper.sh /path/to/s3xfs /path/to/built/mount.s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
built_helper=${2:?usage: mount_helper.sh S3XFS MOUNT_HELPER}
s3xfs_init "$1"
[[ $(id -u) == 0 ]] || skip "needs root (installs /sbin/mount.s3xfs, edits /etc/fstab)"
[[ -e /dev/fuse ]] || skip "no /dev/fuse"
command -v curl >/dev/null || skip "curl missing"
command -v flock >/dev/null || skip "flock missing"
[[ -f "$built_helper" ]] || fail "mount helper not found: $built_helper"
# mount(8) passes its environment to the helper: run the s3xfs under test.
export S3XFS_BIN=$S3XFS

HELPERS=(/sbin/mount.s3xfs /sbin/mount.fuse.s3xfs)
FSTAB_SAVED=
cleanup() {
  local m h
  for m in "$TMP"/mnt*; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" 2>/dev/null || umount -l "$m" || true; fi
  done
  if [[ -n "$FSTAB_SAVED" ]]; then cat "$FSTAB_SAVED" > /etc/fstab; fi
  for h in "${HELPERS[@]}"; do
    if [[ -e "$TMP/saved.${h##*/}" || -L "$TMP/saved.${h##*/}" ]]; then
      mv -f "$TMP/saved.${h##*/}" "$h"
    elif [[ -f "$TMP/installed" ]]; then
      rm -f "$h"
    fi
  done
  cleanup_tmp
}
trap cleanup EXIT

# One run at a time: /sbin and /etc/fstab are the machine's.
lockdir=/run/lock; [[ -d $lockdir ]] || lockdir=/tmp
exec 9>"$lockdir/s3xfs-mount-helper-test.lock"
flock -w 600 9 || fail "another mount_helper test holds $lockdir/s3xfs-mount-helper-test.lock"

# Install as `meson install` does (mount.fuse.s3xfs -> mount.s3xfs), keeping what was there.
for h in "${HELPERS[@]}"; do
  if [[ -e "$h" || -L "$h" ]]; then mv "$h" "$TMP/saved.${h##*/}"; fi
done
touch "$TMP/installed"
install -m 755 "$built_helper" /sbin/mount.s3xfs
ln -s mount.s3xfs /sbin/mount.fuse.s3xfs

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_closed PORT: the daemon behind the listener has exited (it closes it last, after the flush).
wait_closed() {
  local i
  for ((i = 0; i < 300; i++)); do port_open "$1" || return 0; sleep 0.1; done
  fail "the daemon on port $1 is still there 30 s after umount"
}
s3() {
  curl -sS --fail --aws-sigv4 aws:amz:us-east-1:s3 --user HELPERKEY:helper-secret-key-1 \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
mounts_at() { awk -v m="$1" '$2 == m' /proc/self/mounts | wc -l; }

data=$TMP/data
mkdir -p "$TMP/mnt" "$TMP/mnt-ro" "$TMP/mnt-fstab"
printf '# test keys\nHELPERKEY helper-secret-key-1\n' > "$TMP/keys"

log "option mapping (-f: print the command, mount nothing)"
map() { /sbin/mount.fuse.s3xfs "$data" "$TMP/mnt" -f "$@" 2>&1; }
got=$(map -o cache_size=1048576,s3_listen=127.0.0.1:1,ipfs-tls-ca=/ca.pem,defaults,_netdev,noauto,nofail,user,x-systemd.automount,comment=hi,relatime,allow_other,noatime,debug)
want="mount.fuse.s3xfs: $S3XFS mount $TMP/mnt --cache-size=1048576 --s3-listen=127.0.0.1:1 --ipfs-tls-ca=/ca.pem --debug --data-dir=$data -o allow_other,noatime,fsname=$data"
assert_eq "$got" "$want" "mapped command"
got=$(cd "$TMP" && /sbin/mount.s3xfs data mnt -f -r -o config=/etc/s3xfs/x.conf 2>&1)
assert_eq "$got" "mount.s3xfs: $S3XFS mount mnt --config=/etc/s3xfs/x.conf --data-dir=$data -o ro,fsname=$data" \
  "relative source made absolute, -r, config"
got=$(/sbin/mount.s3xfs none "$TMP/mnt" -f -o data_dir=/srv/d 2>&1)
assert_eq "$got" "mount.s3xfs: $S3XFS mount $TMP/mnt --data-dir=/srv/d -o fsname=none" \
  "source none: data_dir used, fsname none (as in fstab, for mount -a)"
got=$(map -o data_dir=/elsewhere)
[[ "$got" == *"ignoring data_dir=/elsewhere"* && "$got" == *"--data-dir=$data "* ]] ||
  fail "data_dir beside a source directory must be ignored with a warning: $got"
log "  ok: s3xfs keys with _ or -, FUSE options passed on, generic options dropped"

expect_fail "a misspelt s3xfs key" /sbin/mount.fuse.s3xfs "$data" "$TMP/mnt" -o cache_sise=1
[[ "$FAIL_STDERR" == *"unknown option 'cache_sise=1'"* ]] || fail "unclear error: $FAIL_STDERR"
expect_fail "an unknown FUSE-looking option" /sbin/mount.fuse.s3xfs "$data" "$TMP/mnt" -o allow_others
expect_fail "a value for a switch" /sbin/mount.fuse.s3xfs "$data" "$TMP/mnt" -o foreground=1
expect_fail "no value for cache_size" /sbin/mount.fuse.s3xfs "$data" "$TMP/mnt" -o cache_size
expect_fail "mountpoint as an option" /sbin/mount.fuse.s3xfs "$data" "$TMP/mnt" -o mountpoint=/x
expect_fail "a missing mount point argument" /sbin/mount.fuse.s3xfs "$data"
EXPECT_FAIL_ANY_LINES=1 expect_fail "mount(8) passes the helper's error on" \
  mount -t fuse.s3xfs "$data" "$TMP/mnt" -o cache_sise=1
[[ "$FAIL_STDERR" == *"unknown option 'cache_sise=1'"* ]] || fail "mount(8) hid the error: $FAIL_STDERR"
(($(mounts_at "$TMP/mnt") == 0)) || fail "a rejected option left a mount behind"

log "mount -t fuse.s3xfs with s3_listen, s3_keys, cache_size and noatime"
port=$(free_port)
run_ok "mount -t fuse.s3xfs" mount -t fuse.s3xfs "$data" "$TMP/mnt" \
  -o "s3_listen=127.0.0.1:$port,s3_keys=$TMP/keys,cache_size=1048576,noatime,_netdev,defaults,x-systemd.automount,comment=test"
read -r src fstype opts < <(findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint "$TMP/mnt")
assert_eq "$src" "$data" "findmnt source"
assert_eq "$fstype" "fuse.s3xfs" "findmnt type"
[[ ",$opts," == *,noatime,* ]] || fail "noatime not applied: $opts"
s3 "http://127.0.0.1:$port/" > /dev/null || fail "S3 on the s3_listen port with the s3_keys key"
mkdir "$TMP/mnt/photos"
chacha helper $((3 << 20)) > "$TMP/file"
cp "$TMP/file" "$TMP/mnt/photos/file"
s3 "http://127.0.0.1:$port/photos/file" -o "$TMP/file.s3"
assert_same_file "$TMP/file.s3" "$TMP/file" "written in the mount, read over S3"
assert_same_file "$TMP/mnt/photos/file" "$TMP/file" "read back from the mount"
log "  ok: mounted with source $src, noatime; S3 answers on port $port with the given keys"

log "mount -a sees the entry as mounted (the source is the fsname): no second mount"
printf '%s %s fuse.s3xfs s3_listen=127.0.0.1:%s 0 0\n' "$data" "$TMP/mnt" "$(free_port)" > "$TMP/alt.fstab"
run_ok "mount -a --fstab" mount -a --fstab "$TMP/alt.fstab"
assert_eq "$(mounts_at "$TMP/mnt")" 1 "mounts at $TMP/mnt after mount -a"

log "umount: the daemon flushes and exits"
run_ok "umount" umount "$TMP/mnt"
wait_closed "$port"
(($(mounts_at "$TMP/mnt") == 0)) || fail "still mounted after umount"

log "mount -t s3xfs (mount.s3xfs) -o ro"
port=$(free_port)
run_ok "mount -t s3xfs" mount -t s3xfs "$data" "$TMP/mnt-ro" -o "ro,s3_listen=127.0.0.1:$port,s3_keys=$TMP/keys"
assert_same_file "$TMP/mnt-ro/photos/file" "$TMP/file" "read on the ro mount"
if { echo x > "$TMP/mnt-ro/photos/new"; } 2>"$TMP/ro.err"; then fail "wrote to a ro mount"; fi
grep -q "Read-only file system" "$TMP/ro.err" || fail "write on ro mount: $(cat "$TMP/ro.err")"
run_ok "umount ro" umount "$TMP/mnt-ro"
wait_closed "$port"
log "  ok: ro applied, file intact"

log "/etc/fstab: mount MOUNTPOINT / umount MOUNTPOINT (options from config=FILE)"
port=$(free_port)
printf '[mount]\ns3-listen = 127.0.0.1:%s\ns3-keys = %s\n' "$port" "$TMP/keys" > "$TMP/fstab.conf"
cp -p /etc/fstab "$TMP/fstab.orig"
FSTAB_SAVED=$TMP/fstab.orig
printf '%s %s fuse.s3xfs defaults,_netdev,noauto,config=%s 0 0\n' \
  "$data" "$TMP/mnt-fstab" "$TMP/fstab.conf" >> /etc/fstab
run_ok "mount $TMP/mnt-fstab" mount "$TMP/mnt-fstab"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$TMP/mnt-fstab")" "$data" "fstab mount source"
s3 "http://127.0.0.1:$port/photos/file" -o "$TMP/file.fstab"
assert_same_file "$TMP/file.fstab" "$TMP/file" "GET on the port from the config file"
assert_same_file "$TMP/mnt-fstab/photos/file" "$TMP/file" "read on the fstab mount"
echo "from fstab" > "$TMP/mnt-fstab/photos/note"
run_ok "umount $TMP/mnt-fstab" umount "$TMP/mnt-fstab"
wait_closed "$port"
cat "$FSTAB_SAVED" > /etc/fstab
FSTAB_SAVED=
cmp -s /etc/fstab "$TMP/fstab.orig" || fail "/etc/fstab not restored"
log "  ok: mounted from /etc/fstab, config file honoured, unmounted; /etc/fstab restored"

log "what was written survives: read it with a plain s3xfs mount"
run_ok "s3xfs mount" "$S3XFS" mount --data-dir "$data" --s3-listen none "$TMP/mnt"
assert_eq "$(cat "$TMP/mnt/photos/note")" "from fstab" "file written on the fstab mount"
run_ok "fusermount3 -u" fusermount3 -u "$TMP/mnt"
log "PASS"
