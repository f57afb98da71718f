#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# open(2): O_CREAT modes, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOFOLLOW, symlinks; errors; flock.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category open "${1:-}"

c_creat() {
  expect OK open f "O_WRONLY|O_CREAT" 0640
  is_stat type f reg
  is_stat mode f 0640
  is_stat size f 0
  is_stat nlink f 1
  is_stat uid f 0
  is_stat gid f 0
}
tcase creat "O_CREAT makes an empty regular file with the requested mode, owned by root"

c_creat_umask() {
  expect OK open f "O_WRONLY|O_CREAT" 0777
  is_stat mode f 0755
  posix_umask 077
  expect OK open g "O_WRONLY|O_CREAT" 0666
  is_stat mode g 0600
}
tcase creat_umask "O_CREAT applies the umask (0777 -> 0755 under 022, 0666 -> 0600 under 077)"

c_creat_readonly_mode() {
  # The mode only applies to later opens: the creating open may write even with 0444.
  expect OK write f "data" "O_RDWR|O_CREAT|O_EXCL" 0444
  is_stat mode f 0444
  is_content f data
}
tcase creat_readonly_mode "O_CREAT with mode 0444 still returns a writable descriptor"

c_excl_eexist() {
  mkfile f "keep"
  expect EEXIST open f "O_WRONLY|O_CREAT|O_EXCL"
  mkdir d
  expect EEXIST open d "O_RDONLY|O_CREAT|O_EXCL"
  is_content f keep
}
tcase excl_eexist "O_CREAT|O_EXCL on an existing file or directory is EEXIST"

c_excl_symlink() {
  ln -s target l
  expect EEXIST open l "O_WRONLY|O_CREAT|O_EXCL"
  absent target
}
tcase excl_symlink "O_CREAT|O_EXCL on a dangling symlink is EEXIST and creates nothing"

c_creat_existing() {
  mkfile f "keep"
  chmod 0600 f
  expect OK open f "O_WRONLY|O_CREAT" 0777
  is_content f keep
  is_stat mode f 0600
}
tcase creat_existing "O_CREAT on an existing file keeps its content and mode"

c_creat_via_symlink() {
  ln -s target l
  expect OK open l "O_WRONLY|O_CREAT" 0600
  is_stat type target reg
  is_stat mode target 0600
  is_stat type l lnk
}
tcase creat_via_symlink "O_CREAT through a dangling symlink creates its target"

c_trunc() {
  mkfile f "some content"
  expect OK open f "O_WRONLY|O_TRUNC"
  is_stat size f 0
  is_content f ""
}
tcase trunc "O_TRUNC empties an existing file"

c_rdonly_read() {
  mkfile f "hello"
  eq "$(ph read f)" hello "content read with O_RDONLY"
  expect OK open f O_RDONLY
}
tcase rdonly_read "O_RDONLY opens and reads an existing file"

c_enoent() {
  expect ENOENT open missing O_RDONLY
  expect ENOENT open nodir/f "O_WRONLY|O_CREAT"
  absent missing
  ln -s missing l
  expect ENOENT open l O_RDONLY
}
tcase enoent "open of a missing file, in a missing directory, or via a dangling symlink is ENOENT"

c_eisdir() {
  mkdir d
  expect EISDIR open d O_WRONLY
  expect EISDIR open d O_RDWR
  expect EISDIR open d "O_WRONLY|O_TRUNC"
  expect EISDIR open d "O_RDONLY|O_CREAT"
  expect OK open d O_RDONLY
}
tcase eisdir "open of a directory for writing, or with O_CREAT, is EISDIR; O_RDONLY works"

c_enotdir() {
  mkfile f
  expect ENOTDIR open f/x O_RDONLY
  expect ENOTDIR open f/x "O_WRONLY|O_CREAT"
  expect ENOTDIR open f "O_RDONLY|O_DIRECTORY"
  mkdir d
  expect OK open d "O_RDONLY|O_DIRECTORY"
}
tcase enotdir "a file as path prefix, or O_DIRECTORY on a file, is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG open "$(mkname 256)" "O_WRONLY|O_CREAT"
  expect OK open "$(mkname 255)" "O_WRONLY|O_CREAT"
  is_stat type "$(mkname 255)" reg
}
tcase enametoolong "O_CREAT of a 256-byte name is ENAMETOOLONG, a 255-byte name works"

c_nofollow() {
  mkfile f
  ln -s f l
  expect ELOOP open l "O_RDONLY|O_NOFOLLOW"
  expect OK open f "O_RDONLY|O_NOFOLLOW"
}
tcase nofollow "O_NOFOLLOW on a symlink is ELOOP"

c_follow() {
  mkfile f "via link"
  ln -s f l
  eq "$(ph read l)" "via link" "content read through the symlink"
}
tcase follow "open follows a symlink to its target"

c_flock_exclusive() {
  mkfile f
  local fd
  exec {fd}<f
  flock -n "$fd" || fail "flock -n on an unlocked file failed"
  if flock -n f true; then fail "second exclusive flock -n succeeded while the first is held"; fi
  if flock -n -s f true; then fail "shared flock -n succeeded while an exclusive lock is held"; fi
  flock -u "$fd"
  flock -n f true || fail "flock -n failed after the first lock was released"
  exec {fd}<&-
}
tcase flock_exclusive "flock: an exclusive lock makes another flock -n fail until released"

c_flock_shared() {
  mkfile f
  local fd
  exec {fd}<f
  flock -n -s "$fd" || fail "shared flock -n failed"
  flock -n -s f true || fail "a second shared flock -n failed"
  if flock -n -x f true; then fail "exclusive flock -n succeeded while a shared lock is held"; fi
  exec {fd}<&-
  flock -n -x f true || fail "exclusive flock -n failed after the shared lock was closed"
}
tcase flock_shared "flock: shared locks coexist and exclude an exclusive one"

posix_done
