#!/usr/bin/env bash
# `meson install` into a DESTDIR: lists what lands where and checks it — the binary, the mount
# helpers (mount_helper_dir, /sbin by default), the systemd units (systemd_unit_dir) with the
# installed binary's path, the man pages, the example config. Then the units pass
# `systemd-analyze verify` (with no output at all), the man pages render with
# `man --warnings` without a warning, and the example config is accepted by s3xfs.
# usage: install.sh /path/to/s3xfs BUILD_DIR SOURCE_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
build=${2:?usage: install.sh S3XFS BUILD_DIR SOURCE_DIR}
s3xfs_init "$1"
command -v meson >/dev/null || skip "meson missing"
command -v systemd-analyze >/dev/null || skip "systemd-analyze missing (tools/setup.sh installs systemd)"
command -v man >/dev/null || skip "man missing (tools/setup.sh installs man-db)"

dest=$TMP/root
log "meson install --destdir $dest"
run_ok "meson install" meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >/dev/null
# Where each kind of file should land, from the build's options (relative: under the prefix).
eval "$(meson introspect "$build" --buildoptions | python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = lambda v: os.path.join(o["prefix"], v)
for var, path in [("bin", p(o["bindir"])), ("helpers", p(o["mount_helper_dir"])),
                  ("units", p(o["systemd_unit_dir"])), ("man", p(o["mandir"])),
                  ("doc", p(os.path.join(o["datadir"], "doc", "s3xfs")))]:
    print(f"{var}_dir={path!r}")
')"
log "installed files:"
(cd "$dest" && find . \( -type f -o -type l \) | sort | sed "s|^\.|    |")

expect_file() {  # PATH [exec|link TARGET]
  local f=$dest$1
  [[ -e "$f" || -L "$f" ]] || fail "not installed: $1"
  case ${2:-} in
    exec) [[ -x "$f" ]] || fail "not executable: $1" ;;
    link) [[ -L "$f" && "$(readlink "$f")" == "$3" ]] || fail "$1 should be a link to $3" ;;
  esac
}
s3xfs_path=$bin_dir/s3xfs
expect_file "$s3xfs_path" exec
expect_file "$helpers_dir/mount.s3xfs" exec
expect_file "$helpers_dir/mount.fuse.s3xfs" link mount.s3xfs
for u in s3xfs@.service s3xfs-serve@.service s3xfs-node@.service; do expect_file "$units_dir/$u"; done
expect_file "$man_dir/man1/s3xfs.1"
expect_file "$man_dir/man5/s3xfs.conf.5"
expect_file "$man_dir/man8/mount.s3xfs.8"
expect_file "$man_dir/man8/mount.fuse.s3xfs.8" link mount.s3xfs.8
expect_file "$doc_dir/s3xfs.conf.example"
"$dest$s3xfs_path" --version >/dev/null || fail "the installed binary does not run"
log "  ok: binary in $bin_dir, helpers in $helpers_dir, units in $units_dir, man pages in $man_dir"

log "the helper and the units run the installed binary ($s3xfs_path)"
grep -q "^bin=\${S3XFS_BIN:-$s3xfs_path}\$" "$dest$helpers_dir/mount.s3xfs" ||
  fail "mount.s3xfs does not default to $s3xfs_path"
for u in s3xfs@.service s3xfs-serve@.service s3xfs-node@.service; do
  grep -q "^ExecStart=$s3xfs_path " "$dest$units_dir/$u" || fail "$u: ExecStart is not $s3xfs_path"
done
grep -q '^ExecStart=.* mount --foreground --config /etc/s3xfs/%i.conf$' "$dest$units_dir/s3xfs@.service" ||
  fail "s3xfs@.service must run mount --foreground with /etc/s3xfs/%i.conf"

log "systemd-analyze verify: no output"
# verify needs ExecStart's binary to exist: point the copies at the DESTDIR one (the path was
# checked above). MANPATH lets it find the Documentation= pages in the DESTDIR.
mkdir -p "$TMP/units"
for u in s3xfs@.service s3xfs-serve@.service s3xfs-node@.service; do
  sed "s|^ExecStart=$s3xfs_path |ExecStart=$dest$s3xfs_path |" "$dest$units_dir/$u" > "$TMP/units/$u"
  out=$(MANPATH=$dest$man_dir SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$TMP/units/$u" 2>&1) ||
    fail "systemd-analyze verify $u failed: $out"
  [[ -z "$out" ]] || fail "systemd-analyze verify $u is not clean: $out"
  log "  ok: $u"
done

log "man pages render without warnings (MANWIDTH=80 man --warnings -l)"
for page in "$dest$man_dir"/man*/*; do
  [[ -L "$page" ]] && continue
  out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l ${page##*/} failed: $out"
  [[ -z "$out" ]] || fail "${page##*/}: $out"
  log "  ok: ${page##*/}"
done

log "the example config is accepted (its keys and sections are s3xfs's)"
set +e
"$S3XFS" status --config "$dest$doc_dir/s3xfs.conf.example" --data-dir "$TMP/none" >/dev/null 2>"$TMP/err"
set -e
if grep -q "s3xfs.conf.example" "$TMP/err"; then fail "example config rejected: $(cat "$TMP/err")"; fi
log "PASS"
