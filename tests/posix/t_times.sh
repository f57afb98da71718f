#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# Timestamps: which operations mark st_mtime / st_ctime for update (POSIX), and which must
# not. atime is not checked (relatime/noatime differ).
#
# Method: `mark PATH` sets PATH's atime/mtime to a fixed past time (POSIX_PAST_NS) and records
# its ctime (which that utimensat set to "now"). After POSIX_TIME_DELAY seconds (so that even
# a filesystem with 1-second timestamps shows a change) the operation runs, and
#   mtime_updated PATH: mtime > the recorded ctime;   ctime_updated PATH: ctime > it;
#   mtime_kept PATH: mtime still the past time;       ctime_kept PATH: ctime unchanged.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category times "${1:-}"

declare -A C0
mark() {
  local p c
  for p in "$@"; do
    set_past "$p"
    stv c ctime "$p"
    C0[$p]=$c
  done
}
mtime_updated() { local v; stv v mtime "$1"; gt "$v" "${C0[$1]}" "mtime of $1 after $2 (vs its ctime before)"; }
ctime_updated() { local v; stv v ctime "$1"; gt "$v" "${C0[$1]}" "ctime of $1 after $2 (vs its ctime before)"; }
mtime_kept() { local v; stv v mtime "$1"; eq "$v" "$POSIX_PAST_NS" "mtime of $1 after $2"; }
ctime_kept() { local v; stv v ctime "$1"; eq "$v" "${C0[$1]}" "ctime of $1 after $2"; }

c_new_file() {
  local t0 t1 a m c
  t0=$(now_ns)
  mkfile f "x"
  t1=$(now_ns)
  stv a atime f; stv m mtime f; stv c ctime f
  eq "$m" "$c" "mtime of a new file (vs its ctime)"
  ge "$m" $((t0 - 1000000000)) "mtime of a new file (vs the clock before, less 1 s)"
  ge $((t1 + 1000000000)) "$m" "the clock after creating plus 1 s (vs mtime)"
  ge "$a" $((t0 - 1000000000)) "atime of a new file (vs the clock before, less 1 s)"
}
tcase new_file "a new file's mtime and ctime are equal and current"

c_create_parent() {
  mkdir d
  mark d
  tdelay
  mkfile d/f
  mtime_updated d "creating d/f"
  ctime_updated d "creating d/f"
}
tcase create_parent "creating a file updates the directory's mtime and ctime"

c_write() {
  mkfile f "old"
  mark f
  tdelay
  printf 'new' >>f
  mtime_updated f "a write"
  ctime_updated f "a write"
}
tcase write "write updates the file's mtime and ctime"

c_pwrite_same_size() {
  mkfile f "0123456789"
  mark f
  tdelay
  expect OK pwrite f 2 ab
  mtime_updated f "a pwrite inside the file"
  ctime_updated f "a pwrite inside the file"
}
tcase pwrite_same_size "an overwrite that keeps the size updates mtime and ctime"

c_read_no_change() {
  mkfile f "data"
  mark f
  tdelay
  cat f >/dev/null
  expect data read f
  mtime_kept f "reads"
  ctime_kept f "reads"
}
tcase read_no_change "reading changes neither mtime nor ctime"

c_write_no_parent_change() {
  mkdir d
  mkfile d/f "x"
  mark d
  printf 'y' >>d/f
  mtime_kept d "writing an existing entry"
}
tcase write_no_parent_change "writing an existing file leaves its directory's mtime alone"

c_chmod() {
  mkfile f
  mark f
  tdelay
  chmod 0600 f
  ctime_updated f chmod
  mtime_kept f chmod
}
tcase chmod "chmod updates ctime and not mtime"

c_chown() {
  mkfile f
  mark f
  tdelay
  chown "$POSIX_NOBODY_UID:$POSIX_NOBODY_GID" f
  ctime_updated f chown
  mtime_kept f chown
}
tcase chown "chown updates ctime and not mtime"

c_utimens_ctime() {
  mkfile f
  mark f
  tdelay
  expect OK utimens f 2000000000000000000 2000000000000000000
  ctime_updated f "utimensat"
}
tcase utimens_ctime "setting atime/mtime updates ctime"

c_truncate() {
  mkfile f "0123456789"
  mark f
  tdelay
  expect OK truncate f 3
  mtime_updated f truncate
  ctime_updated f truncate
}
tcase truncate "truncate updates mtime and ctime"

c_open_trunc() {
  mkfile f "0123456789"
  mark f
  tdelay
  expect OK open f "O_WRONLY|O_TRUNC"
  mtime_updated f "open O_TRUNC"
  ctime_updated f "open O_TRUNC"
}
tcase open_trunc "open with O_TRUNC of a non-empty file updates mtime and ctime"

c_same_size_truncate() {
  mkfile f "0123456789"
  mkfile e ""
  mark f e
  tdelay
  expect OK truncate f 10
  mtime_updated f "truncate to the same size"
  ctime_updated f "truncate to the same size"
  expect OK open e "O_WRONLY|O_TRUNC"
  mtime_updated e "open O_TRUNC of an empty file"
  ctime_updated e "open O_TRUNC of an empty file"
  is_content f "0123456789"
}
tcase same_size_truncate "truncate to the same size and O_TRUNC of an empty file update mtime and ctime (as ext4)"

c_rename_parents() {
  mkdir d1 d2
  mkfile d1/f
  mark d1 d2
  tdelay
  expect OK rename d1/f d2/f
  mtime_updated d1 "renaming d1/f away"
  ctime_updated d1 "renaming d1/f away"
  mtime_updated d2 "renaming d1/f into it"
  ctime_updated d2 "renaming d1/f into it"
}
tcase rename_parents "rename updates mtime and ctime of both parent directories"

c_rename_same_dir() {
  mkdir d
  mkfile d/a
  mark d
  tdelay
  expect OK rename d/a d/b
  mtime_updated d "rename within it"
  ctime_updated d "rename within it"
}
tcase rename_same_dir "rename within a directory updates its mtime and ctime"

c_rename_keeps_mtime() {
  mkfile f "x"
  mark f
  expect OK rename f g
  C0[g]=${C0[f]}
  mtime_kept g rename
}
tcase rename_keeps_mtime "rename leaves the renamed file's mtime alone"

c_rename_file_ctime() {
  mkfile f "x"
  mark f
  tdelay
  expect OK rename f g
  C0[g]=${C0[f]}
  ctime_updated g rename
}
tcase rename_file_ctime "rename updates the renamed file's ctime (Linux local filesystems do)"

c_link() {
  mkdir d
  mkfile f
  mark d f
  tdelay
  expect OK link f d/g
  ctime_updated f link
  mtime_kept f link
  mtime_updated d "link into it"
  ctime_updated d "link into it"
}
tcase link "link updates the file's ctime (not mtime) and the directory's mtime and ctime"

c_unlink() {
  mkdir d
  mkfile f
  ln f d/g
  mark d f
  tdelay
  expect OK unlink d/g
  ctime_updated f "unlink of another link"
  mtime_kept f "unlink of another link"
  mtime_updated d "unlink in it"
  ctime_updated d "unlink in it"
}
tcase unlink "unlink updates the directory's mtime/ctime and the remaining file's ctime"

c_mkdir_parent() {
  mkdir d
  mark d
  tdelay
  expect OK mkdir d/sub
  mtime_updated d "mkdir in it"
  ctime_updated d "mkdir in it"
}
tcase mkdir_parent "mkdir updates the parent's mtime and ctime"

c_rmdir_parent() {
  mkdir -p d/sub
  mark d
  tdelay
  expect OK rmdir d/sub
  mtime_updated d "rmdir in it"
  ctime_updated d "rmdir in it"
}
tcase rmdir_parent "rmdir updates the parent's mtime and ctime"

c_symlink_parent() {
  mkdir d
  mark d
  tdelay
  expect OK symlink t d/l
  mtime_updated d "symlink in it"
  ctime_updated d "symlink in it"
}
tcase symlink_parent "symlink updates the parent's mtime and ctime"

c_setxattr_ctime() {
  mkfile f
  mark f
  tdelay
  expect OK setxattr f user.t v
  ctime_updated f setxattr
  mtime_kept f setxattr
}
tcase setxattr_ctime "setting a user.* xattr updates ctime and not mtime"

c_failed_ops_no_change() {
  mkdir d
  mkfile d/f
  mark d
  expect EEXIST mkdir d/f
  expect ENOENT unlink d/missing
  expect ENOTEMPTY rmdir d
  expect EEXIST open d/f "O_WRONLY|O_CREAT|O_EXCL"
  mtime_kept d "failed mkdir/unlink/rmdir/open"
}
tcase failed_ops_no_change "failed operations leave the directory's mtime alone"

c_noop_no_mtime() {
  mkfile f "x"
  mark f
  expect OK open f O_WRONLY
  expect OK open f O_RDWR
  mtime_kept f "open for writing without a write"
}
tcase noop_no_mtime "opening for writing without writing leaves mtime alone"

posix_done
