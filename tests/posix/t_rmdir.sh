#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# rmdir(2): removal of empty directories, link counts; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category rmdir "${1:-}"

c_basic() {
  mkdir d
  expect OK rmdir d
  absent d
  eq "$(ph listdir .)" "" "directory entries after rmdir"
}
tcase basic "rmdir removes an empty directory"

c_trailing_slash() {
  mkdir d
  expect OK rmdir d/
  absent d
}
tcase trailing_slash "rmdir with a trailing slash works"

c_enotempty_file() {
  mkdir d
  mkfile d/f
  expect ENOTEMPTY rmdir d
  exists d/f
}
tcase enotempty_file "rmdir of a directory holding a file is ENOTEMPTY"

c_enotempty_hidden() {
  mkdir d
  mkfile d/.hidden
  expect ENOTEMPTY rmdir d
}
tcase enotempty_hidden "rmdir of a directory holding only a dot-file is ENOTEMPTY"

c_enotempty_subdir() {
  mkdir -p d/sub
  expect ENOTEMPTY rmdir d
}
tcase enotempty_subdir "rmdir of a directory holding an empty subdirectory is ENOTEMPTY"

c_enotempty_symlink_fifo() {
  mkdir d e
  ln -s nowhere d/l
  mkfifo e/p
  expect ENOTEMPTY rmdir d
  expect ENOTEMPTY rmdir e
}
tcase enotempty_symlink_fifo "rmdir of a directory holding a symlink or a fifo is ENOTEMPTY"

c_after_emptying() {
  mkdir d
  mkfile d/f
  rm d/f
  expect OK rmdir d
  absent d
}
tcase after_emptying "rmdir works once the last entry is removed"

c_enotdir() {
  mkfile f
  expect ENOTDIR rmdir f
  expect ENOTDIR rmdir f/x
  exists f
}
tcase enotdir "rmdir of a file, or with a file as path prefix, is ENOTDIR"

c_symlink_enotdir() {
  mkdir d
  ln -s d l
  expect ENOTDIR rmdir l
  exists d
  exists l
}
tcase symlink_enotdir "rmdir of a symlink to a directory is ENOTDIR"

c_enoent() {
  expect ENOENT rmdir missing
  expect ENOENT rmdir nodir/d
}
tcase enoent "rmdir of a missing path is ENOENT"

c_enametoolong() {
  expect ENAMETOOLONG rmdir "$(mkname 256)"
}
tcase enametoolong "rmdir of a 256-byte name is ENAMETOOLONG"

c_dot_einval() {
  mkdir d
  expect EINVAL rmdir d/.
  exists d
}
tcase dot_einval "rmdir of d/. is EINVAL"

c_dotdot_enotempty() {
  mkdir -p d/e
  expect ENOTEMPTY rmdir d/e/..
  exists d/e
}
tcase dotdot_enotempty "rmdir of d/e/.. is ENOTEMPTY"

c_name_reusable() {
  mkdir d
  rmdir d
  mkfile d "now a file"
  is_stat type d reg
  rm d
  expect OK mkdir d
  is_stat type d dir
}
tcase name_reusable "the name of a removed directory can be reused for a file and a directory"

c_dirnlink_parent() {
  mkdir -p p/a p/b
  is_stat nlink p 4
  expect OK rmdir p/a
  is_stat nlink p 3
  expect OK rmdir p/b
  is_stat nlink p 2
}
tcase dirnlink_parent "dir-nlink: rmdir drops the parent's nlink by one"

posix_done
