#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# unlink(2): removal of files, fifos, symlinks, link counts; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category unlink "${1:-}"

c_basic() {
  mkfile f "x"
  expect OK unlink f
  absent f
  eq "$(ph listdir .)" "" "directory entries after unlink"
}
tcase basic "unlink removes a file and its directory entry"

c_nlink() {
  mkfile a "shared"
  ln a b
  ln a c
  is_stat nlink a 3
  expect OK unlink c
  is_stat nlink a 2
  expect OK unlink a
  is_stat nlink b 1
  is_content b shared
}
tcase nlink "unlink of one hard link drops nlink; the data stays with the other names"

c_fifo() {
  mkfifo p
  expect OK unlink p
  absent p
}
tcase fifo "unlink removes a fifo"

c_symlink() {
  mkfile f "t"
  ln -s f l
  expect OK unlink l
  absent l
  is_content f t
  ln -s missing dangling
  expect OK unlink dangling
  absent dangling
}
tcase symlink "unlink removes a symlink (dangling or not), never its target"

c_readonly_file() {
  mkfile f
  chmod 0000 f
  expect OK unlink f
  absent f
}
tcase readonly_file "unlink does not need permission on the file itself (mode 0000)"

c_eisdir() {
  mkdir d
  expect EISDIR unlink d
  is_stat type d dir
}
tcase eisdir "unlink of a directory is EISDIR"

c_enoent() {
  expect ENOENT unlink missing
  expect ENOENT unlink nodir/f
}
tcase enoent "unlink of a missing path is ENOENT"

c_enotdir() {
  mkfile f
  expect ENOTDIR unlink f/x
}
tcase enotdir "unlink with a file as path prefix is ENOTDIR"

c_trailing_slash() {
  mkfile f
  expect ENOTDIR unlink f/
  exists f
}
tcase trailing_slash "unlink of a file named with a trailing slash is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG unlink "$(mkname 256)"
  mkfile "$(mkname 255)"
  expect OK unlink "$(mkname 255)"
}
tcase enametoolong "unlink of a 256-byte name is ENAMETOOLONG; a 255-byte name works"

c_twice() {
  mkfile f
  expect OK unlink f
  expect ENOENT unlink f
}
tcase twice "a second unlink of the same name is ENOENT"

c_name_reuse() {
  mkfile f "old"
  expect OK unlink f
  mkfile f "new"
  is_content f new
  is_stat nlink f 1
}
tcase name_reuse "a new file can take an unlinked name"

c_many() {
  local i
  for ((i = 0; i < 200; i++)); do : >"f$i"; done
  for ((i = 0; i < 200; i += 2)); do rm "f$i"; done
  eq "$(find . -mindepth 1 | wc -l)" 100 "entries left after removing every second one of 200"
  absent f0
  exists f199
}
tcase many "removing every second file of 200 leaves exactly the other 100"

posix_done
